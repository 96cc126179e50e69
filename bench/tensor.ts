// Tensor-engine benchmark: op overhead, matmul, 3×3 conv and ResNet-18 forward+backward,
// here and in PyTorch on the same libtorch (default and tuned malloc). Prints JSON.
//   node dist/bench/tensor.js [--no-torch]
import { F, getNumThreads, info, ones, randn, tidy } from '../src/index.js';
import { resnet } from '../src/models/resnet.js';
import { best, runTorch, sysSeconds, TUNED_MALLOC } from './common.js';

const threads = getNumThreads();

function addOverheadMicros(): number {
  const a = ones([1]);
  const b = ones([1]);
  const n = 100_000;
  let perOp = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) a.add(b).dispose();
    perOp = Math.min(perOp, Number(process.hrtime.bigint() - t) / n / 1e3);
  }
  return perOp;
}

function matmulMillis(): number {
  return tidy(() => {
    const m = randn([512, 512]);
    return best(() => tidy(() => void m.matmul(m)), 20) * 1e3;
  });
}

function convMillis(): Record<string, number> {
  const configs: Record<string, [number, number, number]> = {
    imagenet_layer1_n16_c64_56: [16, 64, 56],
    cifar_w025_layer1_n512_c16_32: [512, 16, 32],
  };
  const out: Record<string, number> = {};
  for (const [name, [n, c, s]] of Object.entries(configs)) {
    out[name] = tidy(() => {
      const x = randn([n, c, s, s]).requiresGrad_(true);
      const w = randn([c, c, 3, 3]).requiresGrad_(true);
      return best(() => tidy(() => F.conv2d(x, w, null, { padding: 1 }).sum().backward()), 3) * 1e3;
    });
  }
  return out;
}

function resnetViews(): { viewsPerSecond: number; sysSecondsPerStep: number } {
  const model = resnet(18, { cifarStem: true, widthMultiplier: 0.25 });
  const x = randn([512, 3, 32, 32]);
  const step = () => tidy(() => model.forward(x).sum().backward());
  step();
  const sys0 = sysSeconds();
  const seconds = best(step, 5);
  const sysPerStep = (sysSeconds() - sys0) / 6;
  model.dispose();
  x.dispose();
  return { viewsPerSecond: 512 / seconds, sysSecondsPerStep: sysPerStep };
}

const resnetResult = resnetViews();
const ours = {
  add_overhead_us: addOverheadMicros(),
  matmul512_ms: matmulMillis(),
  conv3x3_fwd_bwd_ms: convMillis(),
  resnet18_cifar_w025_512_views_per_s: resnetResult.viewsPerSecond,
  resnet18_sys_s_per_step: resnetResult.sysSecondsPerStep,
};

const withTorch = !process.argv.includes('--no-torch');
const result = {
  bench: 'tensor',
  threads,
  torch_version: info().torchVersion,
  blas: info().blas,
  simclr: ours,
  pytorch_default_malloc: withTorch ? runTorch('torch_tensor.py', [String(threads)]) : null,
  pytorch_tuned_malloc: withTorch ? runTorch('torch_tensor.py', [String(threads)], TUNED_MALLOC) : null,
};
console.log(JSON.stringify(result, null, 2));

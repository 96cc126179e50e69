// The fused training-mode BatchNorm + ReLU (native/batch_norm_relu.cc) against BatchNorm and ReLU
// as separate libtorch ops (BatchNorm.fuseRelu = false), in one process, so that this machine's
// drift from run to run does not decide a difference of a few percent:
//   layers: one BatchNorm + ReLU of each size the default encoder has (batch 512 views,
//           channels-last), forward and backward, the caches flushed before each (as in a step,
//           where the convolutions between them evict the activations);
//   step:   whole training steps of the default recipe (bench/default-step.ts), blocks of steps
//           fused and separate in turn.
// `--dtype bfloat16`: the layers with bfloat16 activations, as under bf16 autocast (no step: on a
// CPU without bf16 instructions its convolutions take seconds).
// Prints JSON: ms per layer and per step, median over the rounds.
//   node dist/bench/batch-norm-relu.js [--rounds 6] [--threads 2] [--dtype float32|bfloat16]
import { cpuFlags } from '../src/info.js';
import { BatchNorm, BatchNorm2d } from '../src/nn/layers.js';
import { empty, manualSeed, randn, setNumThreads, tidy } from '../src/index.js';
import { median, option } from './common.js';
import { defaultStep } from './default-step.js';

const rounds = Number(option('--rounds', '6'));
const threads = Number(option('--threads', '2'));
const dtype = option('--dtype', 'float32');
if (dtype !== 'float32' && dtype !== 'bfloat16') throw new Error(`--dtype: ${dtype} is not float32 or bfloat16`);
setNumThreads(threads);
manualSeed(0);
const modes = [true, false] as const;
const name = (fused: boolean) => (fused ? 'fused' : 'separate');

const flush = empty([(64 << 20) / 4]); // larger than the last-level cache
const layers = [16, 32, 64, 128].map((channels, i) => {
  const side = [28, 14, 7, 4][i]!;
  const shape = [512, channels, side, side];
  const bn = new BatchNorm2d(channels);
  const times = { fused: { forward: [] as number[], backward: [] as number[] }, separate: { forward: [] as number[], backward: [] as number[] } };
  tidy(() => {
    const x = randn(shape).to(dtype).contiguous('channels_last').requiresGrad_(true);
    const upstream = randn(shape).to(dtype).contiguous('channels_last');
    for (let r = 0; r < rounds + 1; r++) {
      for (const fused of modes) {
        BatchNorm.fuseRelu = fused;
        tidy(() => {
          flush.fill_(r);
          const t0 = performance.now();
          const y = bn.forwardRelu(x);
          const t1 = performance.now();
          flush.fill_(r);
          const t2 = performance.now();
          y.backward(upstream);
          const t3 = performance.now();
          if (r > 0) {
            times[name(fused)].forward.push(t1 - t0);
            times[name(fused)].backward.push(t3 - t2);
          }
        });
      }
    }
  });
  bn.dispose();
  const summary = (t: { forward: number[]; backward: number[] }) => ({ forward_ms: median(t.forward), backward_ms: median(t.backward) });
  return { shape, fused: summary(times.fused), separate: summary(times.separate) };
});
flush.dispose();

const stepMs = { fused: [] as number[], separate: [] as number[] };
const step = dtype === 'float32' ? defaultStep() : null;
for (let r = 0; step !== null && r < rounds + 1; r++) {
  for (const fused of modes) {
    BatchNorm.fuseRelu = fused;
    step();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) step();
    if (r > 0) stepMs[name(fused)].push((performance.now() - t0) / 3);
  }
}
BatchNorm.fuseRelu = true;
const stepSummary = (fused: number, separate: number) => ({ fused_ms: fused, separate_ms: separate, separate_over_fused: separate / fused, fused_rounds_ms: stepMs.fused, separate_rounds_ms: stepMs.separate });
console.log(
  JSON.stringify(
    {
      bench: 'batch-norm-relu',
      cpu: cpuFlags(),
      threads,
      rounds,
      dtype,
      layers,
      step: step === null ? null : stepSummary(median(stepMs.fused), median(stepMs.separate)),
    },
    null,
    2,
  ),
);

// ResNet-18 (CIFAR stem) forward+backward views/s at batch 256, 32×32: float32 and bf16 autocast,
// contiguous and channels-last, here and in PyTorch (tuned malloc) on the same machine. Prints JSON.
//   node dist/bench/resnet.js [--reps N] [--no-torch]
import { autocast, getNumThreads, manualSeed, randn, resnet, tidy, type MemoryFormat } from '../src/index.js';
import { best, option, runTorch, TUNED_MALLOC } from './common.js';

const reps = Number(option('--reps', '2'));
const threads = getNumThreads();

const ours: Record<string, number> = {};
manualSeed(0);
for (const format of ['contiguous', 'channels_last'] as MemoryFormat[]) {
  for (const precision of ['float32', 'bf16_autocast']) {
    const model = resnet(18, { cifarStem: true }).to({ memoryFormat: format });
    const x = tidy(() => randn([256, 3, 32, 32]).contiguous(format));
    const step = () =>
      tidy(() => {
        const h = precision === 'float32' ? model.forward(x) : autocast(() => model.forward(x));
        h.float().sum().backward();
      });
    ours[`${format}_${precision}_views_per_s`] = 256 / best(step, reps);
    model.dispose();
    x.dispose();
  }
}

const result = {
  bench: 'resnet18_cifar_batch256',
  threads,
  simclr: ours,
  pytorch_tuned_malloc: process.argv.includes('--no-torch') ? null : runTorch('torch_resnet.py', [String(threads), String(reps)], TUNED_MALLOC),
};
console.log(JSON.stringify(result, null, 2));

// Augmentation throughput: images/s (two views each) of T at 32, 96 and 224 px from images already
// decoded in memory (the decode cache), beside torchvision's per-image PIL pipeline in one process
// (bench/torch_augment.py). Same recipes: 32 px → s 0.5, no blur; larger → s 1, blur p 0.5. Prints JSON.
//   node dist/bench/augment.js [--no-torch]
import { getNumThreads, manualSeed, rand, tidy } from '../src/index.js';
import { Random } from '../src/random.js';
import { augmentationPresets, SimCLRAugmentation } from '../src/augment/simclr-augmentation.js';
import { best, runTorch } from './common.js';

const sizes = [32, 96, 224];
const batch = 256;
const threads = getNumThreads();
manualSeed(0);
const ours: Record<string, number> = {};
for (const size of sizes) {
  const t = new SimCLRAugmentation(size <= 32 ? augmentationPresets.cifar(size) : augmentationPresets.imagenet(size));
  const images = tidy(() => rand([batch, 3, size, size]).mul(255).to('uint8'));
  const rng = new Random(0);
  const seconds = best(() => tidy(() => void t.pair(images, rng)), 3);
  ours[`${size}px_images_per_s`] = batch / seconds;
  images.dispose();
}
const torch = process.argv.includes('--no-torch') ? null : (runTorch('torch_augment.py', [String(threads), ...sizes.map(String)]) as Record<string, number> | null);
const speedup = torch === null ? null : Object.fromEntries(Object.entries(ours).map(([k, v]) => [k, v / torch[k]!]));
console.log(JSON.stringify({ bench: 'augment', threads, batch, simclr: ours, torchvision_single_process: torch, speedup }, null, 2));

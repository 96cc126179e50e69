// Gradient caching: peak RSS and time of one step at batch 4096 (8192 views of 32×32×3, ResNet-18
// CIFAR stem width 0.25), computed directly versus in chunks of 256 views. Each mode runs in its
// own process so that its peak RSS is its own. Prints JSON.
//   node dist/bench/chunked.js [--batch 4096] [--chunk 256]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Adam } from '../src/optim/adam.js';
import { buildModel } from '../src/simclr/model.js';
import { contrastiveStep } from '../src/simclr/step.js';
import { manualSeed, rand, tidy } from '../src/index.js';
import { option } from './common.js';

const batch = Number(option('--batch', '4096'));
const chunk = Number(option('--chunk', '256'));
const mode = process.argv.includes('--mode') ? option('--mode', '') : null;

if (mode !== null) {
  manualSeed(0);
  const model = buildModel({ depth: 18, cifarStem: true, width: 0.25, inChannels: 3, head: 'v1', headLayers: 3, hiddenDim: 0, projectionDim: 128 });
  const optimizer = new Adam(model.parameters());
  const views = rand([2 * batch, 3, 32, 32]);
  const before = process.resourceUsage().maxRSS;
  const t = performance.now();
  const loss = tidy(() => {
    optimizer.zeroGrad();
    const r = contrastiveStep(model, views, 0.5, mode === 'chunked' ? chunk : 0, false);
    optimizer.step();
    return r.loss;
  });
  console.log(JSON.stringify({ mode, seconds: (performance.now() - t) / 1000, loss, peak_rss_mb: process.resourceUsage().maxRSS / 1024, rss_before_step_mb: before / 1024 }));
} else {
  const self = fileURLToPath(import.meta.url);
  const run = (m: string) => JSON.parse(execFileSync(process.execPath, [self, '--mode', m, '--batch', String(batch), '--chunk', String(chunk)], { encoding: 'utf8' }).trim());
  console.log(JSON.stringify({ bench: 'gradient-caching', batch, views: 2 * batch, chunk, direct: run('direct'), chunked: run('chunked') }, null, 2));
}

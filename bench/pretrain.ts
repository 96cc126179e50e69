// End-to-end pretraining throughput on the default recipe (Fashion-MNIST, ResNet-18 CIFAR stem
// width 0.25, batch 256): views/s and peak RSS here, the compute-only limit (forward, backward and
// step on one pre-augmented batch), and PyTorch's implementation of the same recipe
// (bench/torch_simclr.py) with its DataLoader at 0 and 2 workers, default and tuned malloc. JSON.
//   node dist/bench/pretrain.js [--steps 40] [--no-torch]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Adam } from '../src/optim/adam.js';
import { Random } from '../src/data/random.js';
import { fashionMnist } from '../src/data/idx.js';
import { SimCLRAugmentation } from '../src/augment/simclr-augmentation.js';
import { buildModel } from '../src/simclr/model.js';
import { contrastiveStep } from '../src/simclr/pretrain.js';
import { getNumThreads, manualSeed, tidy } from '../src/index.js';
import { best, repoRoot, torchPython, TUNED_MALLOC } from './common.js';

const stepsArg = process.argv.indexOf('--steps');
const steps = stepsArg > 0 ? Number(process.argv[stepsArg + 1]) : 40;
const batch = 256;
const threads = getNumThreads();

function ours(): { views_per_s: number; peak_rss_mb: number } {
  const out = mkdtempSync(join(tmpdir(), 'simclr-bench-'));
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const summary = JSON.parse(
    execFileSync(process.execPath, [cli, 'pretrain', '--subset', String(steps * batch), '--epochs', '1', '--knn-every', '0', '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
  );
  const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step');
  const timed = records.slice(3); // without the warm-up steps
  const seconds = timed.reduce((s, r) => s + (2 * batch) / r.viewsPerSecond, 0);
  return { views_per_s: (timed.length * 2 * batch) / seconds, peak_rss_mb: summary.peakRssMb };
}

function computeOnly(): number {
  manualSeed(0);
  const source = fashionMnist('train');
  const model = buildModel({ depth: 18, cifarStem: true, width: 0.25, inChannels: 1, head: 'v1', headLayers: 3, hiddenDim: 0, projectionDim: 128 });
  const optimizer = new Adam(model.parameters(), { lr: 1e-3, weightDecay: 1e-6 });
  const images = source.loadSync(Int32Array.from({ length: batch }, (_, i) => i));
  const views = new SimCLRAugmentation({ size: 28, strength: 1, blurP: 0 }).pair(images, new Random(0));
  const seconds = best(
    () =>
      tidy(() => {
        optimizer.zeroGrad();
        contrastiveStep(model, views, 0.5, 0, false);
        optimizer.step();
      }),
    5,
  );
  return (2 * batch) / seconds;
}

function pytorch(workers: number, tuned: boolean): unknown {
  const py = torchPython();
  if (py === null) return null;
  const out = execFileSync(py, [join(repoRoot, 'bench', 'torch_simclr.py'), '--steps', String(steps), '--workers', String(workers), '--threads', String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, ...(tuned ? TUNED_MALLOC : {}) },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

const result: Record<string, unknown> = { bench: 'pretrain', threads, batch, steps, simclr: ours(), simclr_compute_only_views_per_s: computeOnly() };
if (!process.argv.includes('--no-torch')) {
  result.pytorch = {
    default_malloc_workers0: pytorch(0, false),
    default_malloc_workers2: pytorch(2, false),
    tuned_malloc_workers0: pytorch(0, true),
    tuned_malloc_workers2: pytorch(2, true),
  };
}
console.log(JSON.stringify(result, null, 2));

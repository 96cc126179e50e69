// Fidelity: the default recipe (Fashion-MNIST, 5 epochs, ResNet-18 CIFAR stem width 0.25, batch 256,
// τ 0.5, Adam 1e-3, warm-up + cosine, s = 1, no blur) trained here and by a PyTorch implementation of
// the same recipe (bench/torch_simclr.py), both encoders then scored by the same linear probe and
// kNN, beside the randomly initialised encoder. Prints JSON. Takes about half an hour on 2 cores.
//   node dist/bench/fidelity.js [--ours runs/fidelity] [--skip-train]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { torchPython, repoRoot } from './common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const ours = arg('--ours', join(repoRoot, 'runs', 'fidelity'));
const theirs = arg('--torch', join(repoRoot, 'runs', 'fidelity-pytorch'));
const skipTrain = process.argv.includes('--skip-train');
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const run = (args: string[]) => execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!;

if (!skipTrain || !existsSync(join(ours, 'encoder.safetensors'))) run(['pretrain', '--out', ours, '--knn-every', '0']);
const py = torchPython();
let pytorch: unknown = null;
if (py !== null) {
  mkdirSync(theirs, { recursive: true });
  const encoder = join(theirs, 'encoder.safetensors');
  if (!skipTrain || !existsSync(encoder)) {
    const out = execFileSync(py, [join(repoRoot, 'bench', 'torch_simclr.py'), '--epochs', '5', '--workers', '2', '--out', encoder], {
      encoding: 'utf8',
      env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '2147483647', MALLOC_TRIM_THRESHOLD_: '4294967295' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    pytorch = JSON.parse(out.trim().split('\n').at(-1)!);
  }
}
const evaluate = (checkpoint: string, protocol: string, extra: string[] = []) => JSON.parse(run(['eval', '--checkpoint', checkpoint, '--data', 'fashion-mnist', '--protocol', protocol, '--out', '/dev/null', ...extra])).accuracy as number;
const encoderOf = (dir: string) => join(dir, 'encoder.safetensors');
const result = {
  bench: 'fidelity',
  recipe: 'fashion-mnist, 5 epochs, resnet18 cifar-stem width 0.25, batch 256, tau 0.5, adam 1e-3 wd 1e-6, warmup 10% + cosine, s 1, no blur',
  simclr: { linear: evaluate(encoderOf(ours), 'linear'), knn: evaluate(encoderOf(ours), 'knn') },
  pytorch: py === null ? null : { linear: evaluate(encoderOf(theirs), 'linear'), knn: evaluate(encoderOf(theirs), 'knn'), run: pytorch },
  randomInit: { linear: evaluate(encoderOf(ours), 'linear', ['--baseline', 'random']), knn: evaluate(encoderOf(ours), 'knn', ['--baseline', 'random']) },
};
console.log(JSON.stringify(result, null, 2));

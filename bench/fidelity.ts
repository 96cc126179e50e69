// Fidelity: the default recipe (Fashion-MNIST, 5 epochs, ResNet-18 CIFAR stem width 0.25, batch 256,
// τ 0.5, Adam 1e-3, warm-up + cosine, s = 1, no blur) trained here and by a PyTorch implementation of
// the same recipe (bench/torch_simclr.py) for several seeds, every encoder then scored by the same
// linear probe and kNN, beside the randomly initialised encoder. Prints JSON. About 35 minutes per
// seed on 2 cores.
//   node dist/bench/fidelity.js [--seeds 0,1,2] [--dir runs/fidelity] [--skip-train]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { torchPython, repoRoot, TUNED_MALLOC } from './common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const seeds = arg('--seeds', '0,1,2').split(',').map(Number);
const dir = arg('--dir', join(repoRoot, 'runs', 'fidelity'));
const skipTrain = process.argv.includes('--skip-train');
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const py = torchPython();

/** Runs a command to completion (output to stderr); rejects on failure. */
function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

const evaluate = (encoder: string, protocol: 'linear' | 'knn', extra: string[] = []) =>
  JSON.parse(execFileSync(process.execPath, [cli, 'eval', '--checkpoint', encoder, '--data', 'fashion-mnist', '--protocol', protocol, '--out', '/dev/null', ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!).accuracy as number;

// Every training first, two at a time (one thread each: the most work out of 2 cores), the longest
// (PyTorch's) first; then every encoder scored.
const pytorchTrainings: (() => Promise<void>)[] = [];
const simclrTrainings: (() => Promise<void>)[] = [];
const encoders = seeds.map((seed) => ({
  seed,
  ours: join(dir, `seed-${seed}`, 'simclr'),
  theirs: join(dir, `seed-${seed}`, 'pytorch', 'encoder.safetensors'),
}));
for (const { seed, ours, theirs } of encoders) {
  mkdirSync(join(dir, `seed-${seed}`, 'pytorch'), { recursive: true });
  if (!skipTrain || !existsSync(join(ours, 'encoder.safetensors'))) {
    simclrTrainings.push(() => start(process.execPath, [cli, 'pretrain', '--out', ours, '--seed', String(seed), '--threads', '1', '--knn-every', '0']));
  }
  if (py !== null && (!skipTrain || !existsSync(theirs))) {
    const args = [join(repoRoot, 'bench', 'torch_simclr.py'), '--epochs', '5', '--workers', '0', '--threads', '1', '--seed', String(seed), '--out', theirs];
    pytorchTrainings.push(() => start(py, args, { ...process.env, ...TUNED_MALLOC }));
  }
}
const queue = [...pytorchTrainings, ...simclrTrainings];
await Promise.all([0, 1].map(async () => {
  for (let job = queue.shift(); job !== undefined; job = queue.shift()) await job();
}));
const runs = encoders.map(({ seed, ours, theirs }) => {
  const encoder = join(ours, 'encoder.safetensors');
  return {
    seed,
    simclr: { linear: evaluate(encoder, 'linear'), knn: evaluate(encoder, 'knn') },
    pytorch: py === null ? null : { linear: evaluate(theirs, 'linear'), knn: evaluate(theirs, 'knn') },
  };
});
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const firstEncoder = join(encoders[0]!.ours, 'encoder.safetensors');
const result = {
  bench: 'fidelity',
  recipe: 'fashion-mnist, 5 epochs, resnet18 cifar-stem width 0.25, batch 256, tau 0.5, adam 1e-3 wd 1e-6, warmup 10% + cosine, s 1, no blur',
  runs,
  mean: {
    simclr: { linear: mean(runs.map((r) => r.simclr.linear)), knn: mean(runs.map((r) => r.simclr.knn)) },
    pytorch: py === null ? null : { linear: mean(runs.map((r) => r.pytorch!.linear)), knn: mean(runs.map((r) => r.pytorch!.knn)) },
  },
  randomInit: { linear: evaluate(firstEncoder, 'linear', ['--baseline', 'random']), knn: evaluate(firstEncoder, 'knn', ['--baseline', 'random']) },
};
console.log(JSON.stringify(result, null, 2));

// The README's transfer table: does starting from an encoder pretrained elsewhere pay? A = CIFAR-10
// (50,000 colour images, 32 px, 5 epochs); B = Imagenette's photos at 32 px (9,469, the same recipe)
// and Fashion-MNIST (60,000 gray images, 28 px). On each B: A alone (transferred, no training on B),
// A continued on B (pretrain --init A), and scratch on B for the same epochs — the same steps on the
// same data, so the same wall time — at 5 epochs and, on the photos, at 25 as well. Every encoder is scored by `simclr transfer` (kNN
// and linear, all labels and 1% of them over 3 draws, beside the random-init and raw-pixel baselines).
//   node dist/bench/transfer.js --cifar data/cifar10 --photos data/imagenette [--out runs/transfer]
// A run folder already holding an encoder is reused, not trained again (delete it to retrain).
// Prints one JSON object: each run's pretraining wall time (from its metrics.jsonl) and the tables.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuFlags } from '../src/info.js';
import type { TransferResult } from '../src/eval/transfer.js';
import { option, repoRoot } from './common.js';

const cifar = option('--cifar', 'data/cifar10');
const photos = option('--photos', 'data/imagenette');
const out = option('--out', 'runs/transfer');
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
mkdirSync(out, { recursive: true });

const common = ['--knn-every', '0', '--no-report', '--quiet'];
const a = join(out, 't-cifar10-e5');
const runs: [string, string[]][] = [
  [a, ['--data', cifar, '--recipe', 'cifar10', '--epochs', '5']],
  [join(out, 't-inet32-scratch-e5'), ['--data', photos, '--recipe', 'cifar10', '--epochs', '5']],
  [join(out, 't-inet32-cont-e5'), ['--data', photos, '--recipe', 'cifar10', '--epochs', '5', '--init', a]],
  [join(out, 't-fmnist-scratch-e2'), ['--data', 'fashion-mnist', '--epochs', '2']],
  [join(out, 't-fmnist-cont-e2'), ['--data', 'fashion-mnist', '--epochs', '2', '--init', a]],
  [join(out, 't-inet32-scratch-e25'), ['--data', photos, '--recipe', 'cifar10', '--epochs', '25']],
  [join(out, 't-inet32-cont-e25'), ['--data', photos, '--recipe', 'cifar10', '--epochs', '25', '--init', a]],
];

function simclr(args: string[]): string {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`simclr ${args.join(' ')}: exit ${r.status}`);
  return r.stdout;
}

/** Pretraining wall time of a run: its metrics.jsonl from the first record to the last. */
function trainSeconds(run: string): number {
  const times = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { time?: number }).time).filter((t): t is number => typeof t === 'number');
  return times[times.length - 1]! - times[0]!;
}

const trained: Record<string, { seconds: number; reused: boolean; command: string }> = {};
for (const [run, args] of runs) {
  const reused = existsSync(join(run, 'encoder.safetensors'));
  if (!reused) simclr(['pretrain', ...args, ...common, '--out', run]);
  trained[run] = { seconds: Number(trainSeconds(run).toFixed(1)), reused, command: `simclr pretrain ${[...args, ...common, '--out', run].join(' ')}` };
}

const tables: Record<string, TransferResult> = {};
for (const [data, encoders] of [
  [photos, [a, join(out, 't-inet32-cont-e5'), join(out, 't-inet32-scratch-e5'), join(out, 't-inet32-cont-e25'), join(out, 't-inet32-scratch-e25')]],
  ['fashion-mnist', [a, join(out, 't-fmnist-cont-e2'), join(out, 't-fmnist-scratch-e2')]],
] as const) {
  const folder = join(out, `transfer-${data === photos ? 'photos' : 'fashion-mnist'}`);
  simclr(['transfer', ...encoders, '--data', data, '--out', folder, '--quiet']);
  tables[data] = JSON.parse(readFileSync(join(folder, 'transfer.json'), 'utf8')) as TransferResult;
}

const { model, flags } = cpuFlags();
console.log(JSON.stringify({ date: new Date().toISOString(), cpu: model, flags, trained, tables }, null, 1));

// Data-parallel pretraining on this machine: 1 process × 2 threads against 2 processes × 1 thread
// (c10d/gloo on loopback, gather and global BN on), on the default recipe (Fashion-MNIST,
// ResNet-18 CIFAR stem width 0.25, global batch 256). Prints JSON: views/s of each, and for the
// 2-process run the share of rank 0's step time spent in collectives (which includes waiting for
// the slower worker).
//   node dist/bench/distributed.js [--steps 40]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { option, repoRoot } from './common.js';

const steps = Number(option('--steps', '40'));
const batch = 256;
const warmup = 3;

function run(nproc: number, threads: number) {
  const out = mkdtempSync(join(tmpdir(), 'simclr-bench-dist-'));
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const args = ['pretrain', '--subset', String(steps * batch), '--epochs', '1', '--knn-every', '0', '--precision', 'fp32', '--nproc', String(nproc), '--threads', String(threads), '--overwrite', '--out', out];
  const summary = JSON.parse(execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').at(-1)!);
  const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step').slice(warmup);
  const seconds = records.reduce((s, r) => s + (2 * batch) / r.viewsPerSecond, 0);
  const comm = records.reduce((s, r) => s + (r.commSeconds ?? 0), 0);
  return {
    processes: nproc,
    threads_per_process: threads,
    views_per_s: (records.length * 2 * batch) / seconds,
    ...(nproc > 1 ? { comm_share: comm / seconds, comm_ms_per_step: (1000 * comm) / records.length } : {}),
    peak_rss_mb_rank0: summary.peakRssMb,
  };
}

const one = run(1, 2);
const two = run(2, 1);
console.log(JSON.stringify({ bench: 'distributed', batch, steps, one_process: one, two_processes: two, speedup: two.views_per_s / one.views_per_s }, null, 2));

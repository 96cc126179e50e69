// Shared benchmark plumbing: timing, and running the PyTorch comparison scripts when torch is installed.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { tensor } from '../src/tensor/create.js';
import { tidy, type Tensor } from '../src/tensor/tensor.js';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..');

/** The value after `name` on the command line, or the fallback. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

/** The best wall time (seconds) of `reps` runs after one warm-up run. */
export function best(fn: () => void, reps: number): number {
  fn();
  let min = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return min;
}

/** The middle value (the upper of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** System (kernel) CPU seconds used by this process so far. */
export function sysSeconds(): number {
  return process.cpuUsage().system / 1e6;
}

export const TUNED_MALLOC = { MALLOC_MMAP_THRESHOLD_: '2147483647', MALLOC_TRIM_THRESHOLD_: '4294967295' };

/** Python with torch (Debian's python3-torch lives under /usr/bin/python3), or null. */
export function torchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (py.startsWith('/') && !existsSync(py)) continue;
    try {
      execFileSync(py, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
      return py;
    } catch {
      // try the next one
    }
  }
  return null;
}

/** Runs a bench/*.py script and parses the JSON it prints; null when torch is not installed. */
export function runTorch(script: string, args: string[], env: Record<string, string> = {}): unknown {
  const py = torchPython();
  if (py === null) return null;
  const out = execFileSync(py, [join(repoRoot, 'bench', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 1 << 24,
  });
  const last = out.trim().split('\n').at(-1)!;
  return JSON.parse(last);
}

/** Runs a command to completion, its output to stderr; rejects on failure. */
export function runToEnd(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

/** Runs the jobs two at a time, in order (trainings with one thread each: the most work out of 2 cores). */
export async function twoAtATime(jobs: (() => Promise<void>)[]): Promise<void> {
  const queue = [...jobs];
  await Promise.all([0, 1].map(async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) await job();
  }));
}

/** The shape of a views file (bench/swap-views.ts): steps of `rows` views [channels, size, size]. */
export interface ViewsShape {
  steps: number;
  rows: number;
  channels: number;
  size: number;
}

/** A views file opened for reading: its shape (from <file>.json) and each step's views, float [rows, C, size, size] in [0, 1]. */
export function openViewsFile(file: string): { shape: ViewsShape; step(at: number): Tensor; close(): void } {
  const shape = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as ViewsShape;
  const bytes = shape.rows * shape.channels * shape.size * shape.size;
  const fd = openSync(file, 'r');
  const buffer = new Uint8Array(bytes);
  return {
    shape,
    step(at) {
      if (!(at >= 0 && at < shape.steps)) throw new RangeError(`${file}: holds ${shape.steps} steps; asked for step ${at}`);
      if (readSync(fd, buffer, 0, bytes, at * bytes) !== bytes) throw new Error(`${file}: truncated at step ${at}`);
      return tidy(() => tensor(buffer, { shape: [shape.rows, shape.channels, shape.size, shape.size] }).float().div(255));
    },
    close: () => closeSync(fd),
  };
}

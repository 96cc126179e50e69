// Shared benchmark plumbing: timing, and running the PyTorch comparison scripts when torch is installed.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..');

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

// A pretraining run folder (checkpoints/, config.json, split.json, metrics.jsonl, encoder.safetensors)
// belongs to one run at a time: a lock file names the owner's PID and host and is taken over once
// that process is gone, so a crashed run never leaves the folder stuck. A fresh run refuses a folder
// that already holds a run unless told to start over; temporary files a killed writer left behind
// are removed when a run takes the folder.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { Position } from './checkpoint.js';

export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

const LOCK = 'run.lock';
/** What a run writes into its folder, and so what starting over removes. */
const RUN_FILES = /^(checkpoints|config\.json|split\.json|metrics\.jsonl|encoder\.safetensors|summary\.json|eval-.*\.json)$/;
/** writeFileAtomic's temporaries: `.<name>.<pid>.<time>.tmp`. */
const TEMPORARY = /^\..+\.tmp$/;

/**
 * `mkdir -p` that fails with a message: Node's recursive mkdirSync spins forever on paths under
 * /proc, so each missing folder is created on its own.
 */
export function makeFolder(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      throw new RunFolderError(`cannot create the folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} on ${d}`);
    }
  }
  if (!statSync(dir).isDirectory()) throw new RunFolderError(`${dir} exists and is not a folder`);
}

interface Owner {
  pid: number;
  host: string;
  started: string;
}

function readOwner(file: string): Owner | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Owner;
  } catch {
    return null;
  }
}

/** Whether the lock's owner may still run: a process on this host is asked; another host's is assumed alive. */
function alive(owner: Owner): boolean {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RunFolderLock {
  release(): void;
}

function lock(dir: string): RunFolderLock {
  const file = join(dir, LOCK);
  const me: Owner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: 'wx' });
      const release = () => {
        const owner = readOwner(file);
        if (owner?.pid === me.pid && owner.started === me.started) rmSync(file, { force: true });
      };
      process.once('exit', release);
      return {
        release() {
          process.off('exit', release);
          release();
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunFolderError(`cannot lock the run folder ${dir}: ${(e as Error).message}`);
    }
    const owner = readOwner(file);
    if (owner !== null && alive(owner)) {
      throw new RunFolderError(
        `${dir} is in use by another run (process ${owner.pid} on ${owner.host}, since ${owner.started}): wait for it to finish or give another --out` +
          (owner.host === hostname() ? '' : ` (if that run is gone, delete ${file})`),
      );
    }
    // The owner is gone (or the file is half-written by a dying one): take the lock over.
    rmSync(file, { force: true });
  }
  throw new RunFolderError(`cannot lock the run folder ${dir}: ${file} keeps reappearing`);
}

/**
 * Takes a run folder for a run: creates and locks it, refuses (fresh runs) or clears (`overwrite`)
 * a run already in it, and removes stale temporary files. Release the lock when the run ends.
 */
export function takeRunFolder(dir: string, { resume = false, overwrite = false } = {}): RunFolderLock {
  makeFolder(dir);
  const held = lock(dir);
  try {
    for (const folder of [dir, join(dir, 'checkpoints')]) {
      if (!existsSync(folder)) continue;
      for (const f of readdirSync(folder)) if (TEMPORARY.test(f)) unlinkSync(join(folder, f));
    }
    const previous = readdirSync(dir).filter((f) => RUN_FILES.test(f) && !(f === 'checkpoints' && readdirSync(join(dir, f)).length === 0));
    if (!resume && previous.length > 0) {
      if (!overwrite) {
        throw new RunFolderError(`${dir} already holds a run (${previous.join(', ')}): --resume continues it, --overwrite starts over (removing those)`);
      }
      for (const f of previous) rmSync(join(dir, f), { recursive: true, force: true });
    }
  } catch (e) {
    held.release();
    throw e;
  }
  return held;
}

/**
 * Cuts metrics.jsonl back to a checkpoint's position: a resumed run replays the steps after it, and
 * their records would otherwise appear twice. Records of other kinds stay.
 */
export function truncateMetrics(file: string, position: Position): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        const r = JSON.parse(line) as { type?: string; globalStep?: number; epoch?: number };
        if (r.type === 'step') return r.globalStep! <= position.globalStep;
        if (r.type === 'epoch') return r.epoch! <= position.epoch;
        return true;
      } catch {
        return false; // a line cut short by a kill
      }
    });
  writeFileAtomic(file, [Buffer.from(kept.map((l) => `${l}\n`).join(''))]);
}

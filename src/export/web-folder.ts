// The browser demo's folder as one thing: written whole or not at all (built in a temporary folder
// beside it, then put in place by renames, so a kill leaves the previous demo or none, and two
// writers at once leave one of their demos, complete), never over a folder holding anything else,
// and checked before it is served.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DataError } from '../data/source.js';
import { removeDeadTemporaries } from '../io/atomic.js';

/** The files of a demo folder (writeWebDemo's; ort/ holds onnxruntime-web's wasm build). */
export const DEMO_FILES = ['index.html', 'encoder.onnx', 'index.json', 'vectors.bin', 'thumbnails.jpg', 'ort/ort.wasm.min.mjs', 'ort/ort-wasm-simd-threaded.mjs', 'ort/ort-wasm-simd-threaded.wasm'];
const DEMO_ENTRIES = new Set(DEMO_FILES.map((f) => f.split('/')[0]!));

/**
 * Refuses `dir` as the folder of a demo to write unless it is new, empty, or a demo already (which
 * is replaced): a file, or a folder holding anything else (a user's images), is not overwritten.
 */
export function checkDemoTarget(dir: string): void {
  if (!existsSync(dir)) {
    const parent = dirname(resolve(dir));
    if (!existsSync(parent) || !statSync(parent).isDirectory()) throw new DataError(dir, `cannot write the demo there: ${dirname(dir)} is not a folder`);
    return;
  }
  if (!statSync(dir).isDirectory()) throw new DataError(dir, 'a file, not a folder: give --web a new folder for the demo');
  const foreign = readdirSync(dir).filter((f) => !DEMO_ENTRIES.has(f));
  if (foreign.length > 0) throw new DataError(dir, `holds files that are not a demo's (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}): give --web a new or empty folder (a demo there is replaced)`);
}

/**
 * Writes the folder `dir` whole: `write` fills a temporary folder beside it, which then takes its
 * place (a folder there is replaced). Temporary folders of killed writers (their process gone) are removed.
 */
export async function writeFolderWhole(dir: string, write: (temp: string) => Promise<void>): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  removeDeadTemporaries(parent, basename(target), '(\\.old)?');
  const temp = join(parent, `.${basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const old = `${temp}.old`;
  try {
    await write(temp);
    // rename(2) puts a folder onto nothing or onto an empty folder; a folder there is moved aside
    // first (another writer may move it, or put its own, in between: then again).
    for (let attempt = 0; ; attempt++) {
      try {
        renameSync(temp, target);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt >= 20) throw e;
      }
      rmSync(old, { recursive: true, force: true });
      try {
        renameSync(target, old);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}

/**
 * What is wrong with a demo folder to serve: a folder that does not exist or has no index.html is
 * refused (a DataError); the problems of one that has (a file missing, index.json unreadable,
 * vectors.bin not the size index.json states) are returned, for a warning: its page cannot work.
 */
export function demoFolderProblems(dir: string): string[] {
  if (!existsSync(dir)) throw new DataError(dir, 'no such folder (simclr export --web writes the demo)');
  if (!statSync(dir).isDirectory()) throw new DataError(dir, 'a file, not a demo folder (simclr export --web writes one)');
  if (!existsSync(join(dir, 'index.html'))) throw new DataError(dir, 'not a demo folder: it has no index.html (simclr export --web writes one)');
  const problems: string[] = [];
  const missing = DEMO_FILES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) problems.push(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing`);
  if (existsSync(join(dir, 'index.json'))) {
    let meta: { count?: unknown; dim?: unknown } | null = null;
    try {
      meta = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { count?: unknown; dim?: unknown };
    } catch {
      problems.push('index.json is not valid JSON');
    }
    if (meta !== null && existsSync(join(dir, 'vectors.bin'))) {
      const bytes = statSync(join(dir, 'vectors.bin')).size;
      if (typeof meta.count !== 'number' || typeof meta.dim !== 'number' || bytes !== meta.count * meta.dim * 4) {
        problems.push(`vectors.bin has ${bytes} bytes, not the ${String(meta.count)} × ${String(meta.dim)} float32 values index.json states`);
      }
    }
  }
  return problems;
}

// Atomic file writes: a crash or kill mid-write leaves the previous file intact.
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The project's words for a failed write: the file, and what to do about the usual causes. */
function writeError(path: string, e: unknown): Error {
  const code = (e as { code?: string }).code;
  const why =
    code === 'ENOSPC' ? 'no space left on the device'
    : code === 'EFBIG' ? 'file too large for this process: its file-size limit, ulimit -f'
    : code === 'EDQUOT' ? 'disk quota exceeded'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOENT' ? 'its folder does not exist'
    : code === 'EROFS' ? 'read-only file system'
    : e instanceof Error ? e.message : String(e);
  return new Error(`${path}: cannot write it (${why}); the previous file, if any, is unchanged`, { cause: e });
}

/** Whether process `pid` may still run (signal 0; EPERM: it runs, as another user). */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `name`'s temporaries in `dir` (`.<name>.<pid>.<time>.tmp`, `suffix` after) whose writer is gone, removed. */
export function removeDeadTemporaries(dir: string, name: string, suffix = ''): void {
  const pattern = new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.[0-9a-z]+\\.tmp${suffix}$`);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of entries) {
    const pid = pattern.exec(f)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !processRunning(Number(pid))) rmSync(join(dir, f), { recursive: true, force: true });
  }
}

/**
 * Writes `chunks` (made as they are written, when an iterator) to a temporary file beside `path`,
 * fsyncs it, renames it over `path`, fsyncs the folder (killed writers' temporaries of `path` are removed first). A failed write (a full disk, a file-size
 * limit) removes the temporary and throws an error naming `path`; the previous file stays.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  const dir = dirname(path);
  // (temporaries of this file left by killed writers go first: they would otherwise pile up)
  removeDeadTemporaries(dir, basename(path));
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, 'w', 0o644);
  } catch (e) {
    throw writeError(path, e);
  }
  try {
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.byteLength) written += writeSync(fd, chunk, written, chunk.byteLength - written);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(temp);
    // (errors of the chunks' own making, e.g. a tensor that cannot be serialised, pass as they are)
    throw (e as { code?: string }).code === undefined ? e : writeError(path, e);
  }
  closeSync(fd);
  renameSync(temp, path);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

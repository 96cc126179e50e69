// Writers against a full disk, simulated by a file-size limit (ulimit -f: the write fails with EFBIG as it would
// with ENOSPC): each command ends with one message naming the file, and the previous file stays intact and usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { colourFolder, repoRoot } from './helpers.js';

const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
/** Runs simclr with the file-size limit `limitKb` (none: unlimited). */
function simclr(limitKb: number | null, ...args: string[]) {
  const command = [process.execPath, cli, ...args, '--quiet'].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return spawnSync('bash', ['-c', `${limitKb === null ? '' : `ulimit -f ${limitKb}; `}exec ${command}`], { encoding: 'utf8' });
}
const noTemporaries = (dir: string) => assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], `temporaries left in ${dir}`);

test('a full disk during a checkpoint, an index, a report, an embedding and an ONNX export: a clear error, the previous file intact', { timeout: 300_000 }, async () => {
  const base = mkdtempSync(join(tmpdir(), 'simclr-full-disk-'));
  const data = join(base, 'images');
  await colourFolder(data, 8, 32);
  const run = join(base, 'run');
  const first = simclr(null, 'pretrain', '--data', data, '--out', run, '--epochs', '2', '--stop-epoch', '1', '--batch-size', '8', '--precision', 'fp32', '--no-report');
  assert.equal(first.status, 0, first.stderr);
  const checkpoints = join(run, 'checkpoints');
  const [saved] = readdirSync(checkpoints);
  const savedBytes = readFileSync(join(checkpoints, saved!));

  // The next epoch's checkpoint does not fit: the run stops naming it, and resumes from the one before.
  const full = simclr(Math.floor(savedBytes.length / 1024 / 2), 'pretrain', '--resume', '--out', run, '--epochs', '2');
  assert.equal(full.status, 1);
  assert.match(full.stderr, /^simclr: .*checkpoints\/step-\d+\.safetensors: cannot write it \(file too large[^)]*\); the previous file, if any, is unchanged\n$/);
  assert.deepEqual(readFileSync(join(checkpoints, saved!)), savedBytes);
  noTemporaries(checkpoints);
  const resumed = simclr(null, 'pretrain', '--resume', '--out', run, '--epochs', '2', '--no-report');
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout.trim().split('\n').at(-1)!).stopped, 'completed');

  // Each other writer: a first write without a limit, a second under one too small for it.
  const writers: [string, string[]][] = [
    ['index.safetensors', ['index', '--checkpoint', run, '--out']],
    ['report.html', ['report', run, '--out']],
    ['features.safetensors', ['embed', '--checkpoint', run, '--out']],
    ['encoder.onnx', ['export', '--checkpoint', run, '--out']],
  ];
  for (const [name, args] of writers) {
    const file = join(base, name);
    const made = simclr(null, ...args, file);
    assert.equal(made.status, 0, `${name}: ${made.stderr}`);
    const before = readFileSync(file);
    const failed = simclr(Math.floor(before.length / 1024 / 2), ...args, file);
    assert.equal(failed.status, 1, name);
    assert.equal(failed.stderr, `simclr: ${file}: cannot write it (file too large for this process: its file-size limit, ulimit -f); the previous file, if any, is unchanged\n`);
    assert.deepEqual(readFileSync(file), before, `${name} changed`);
    assert.ok(statSync(file).size > 0);
  }
  noTemporaries(base);
  // The index that survived still answers a query.
  const similar = simclr(null, 'similar', '--index', join(base, 'index.safetensors'), '--query', join(data, 'a', '0.png'), '-k', '1', '--json');
  assert.equal(similar.status, 0, similar.stderr);
});

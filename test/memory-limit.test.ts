// A memory limit too small for the batch (ulimit -v): one message naming the batch, its views and the limit, with
// what to change; no hang, no crash, no checkpoint torn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './helpers.js';

test('pretraining under an address-space limit too small for its batch stops with a message naming the batch and the limit', { timeout: 300_000 }, () => {
  const out = join(mkdtempSync(join(tmpdir(), 'simclr-memory-')), 'run');
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  // 4,096 views of 28×28 need several GiB of activations at this width; the limit allows 2.9.
  const r = spawnSync('bash', ['-c', `ulimit -v 3000000; exec '${process.execPath}' '${cli}' pretrain --subset 2048 --batch-size 2048 --epochs 1 --precision fp32 --knn-every 0 --no-report --quiet --out '${out}'`], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.signal, null, `killed by ${r.signal}`);
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /^simclr: out of memory training with --batch-size 2048 \(4096 views of 1×28×28 a step\): .+\. This process may use 2\.9 GiB \(its address-space limit \(ulimit -v\)\): lower --batch-size, or compute each step in chunks of views with --chunk/,
  );
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
  const checkpoints = join(out, 'checkpoints');
  assert.deepEqual(existsSync(checkpoints) ? readdirSync(checkpoints) : [], []);
});

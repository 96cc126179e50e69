// The programs in examples/ run as a user runs them, on tiny data: a change to the API that breaks one fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { colourFolder, repoRoot } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'simclr-examples-'));
const folder = join(work, 'images');
const run = join(work, 'run');
const example = (name: string, ...args: string[]): string[] =>
  execFileSync(process.execPath, [join(repoRoot, 'dist', 'examples', `${name}.js`), ...args], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    .trim()
    .split('\n');

test.before(async () => {
  await colourFolder(folder, 12, 40);
});

test('custom-training-loop: a Module of its own, T and NT-Xent train for a few steps', () => {
  const lines = example('custom-training-loop', folder, '3');
  const losses = lines.filter((l) => l.startsWith('step ')).map((l) => Number(l.split('NT-Xent ')[1]));
  assert.equal(losses.length, 2); // steps 0 and 2
  // NT-Xent of 2N = 64 views starts near log(2N − 1) = 4.14 and stays finite.
  for (const l of losses) assert.ok(Number.isFinite(l) && l > 2 && l < 6, String(l));
  assert.match(lines.at(-1)!, /^cosine similarity of the first two images' h: -?[01]\.\d{3}$/);
});

test('pretrain-folder, then search-images and onnx-runtime on the encoder it trained', () => {
  const result = JSON.parse(example('pretrain-folder', folder, run, '1').at(-1)!);
  assert.equal(result.stopped, 'completed');
  assert.equal(result.imageSize, 40);
  assert.ok(Number.isFinite(result.lastLoss));
  assert.ok(existsSync(result.encoder));

  const query = join(folder, 'b', '3.png');
  const hits = example('search-images', run, folder, query, '3');
  assert.equal(hits.length, 3);
  // The query is in the folder: its own h is its nearest neighbour, at similarity 1.
  assert.match(hits[0]!, /^1\.0000 {2}.*b\/3\.png {2}\(b\)$/);

  const onnx = join(work, 'encoder.onnx');
  execFileSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'export', '--checkpoint', run, '--out', onnx, '--quiet'], { stdio: 'ignore' });
  const out = example('onnx-runtime', onnx, query, join(folder, 'a', '0.png'));
  assert.equal(out[0], 'h of 2 image(s): [2, 128]');
  assert.match(out[1]!, /^1\.0000 {2}.*b\/3\.png$/);
  const other = Number(out[2]!.split(' ')[0]);
  assert.ok(other > -1 && other < 0.99999, String(other));
});

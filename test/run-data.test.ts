// Every command that reopens a run's data reads the images its pretraining read: the run's --skip-bad,
// its recorded split and its source scale (runDataOptions), whether it is given the run folder or its encoder file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { colourFolder, repoRoot } from './helpers.js';

const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const simclr = (...args: string[]) => spawnSync(process.execPath, [cli, ...args, '--quiet'], { encoding: 'utf8' });

test('a run pretrained with --skip-bad: its report, eval (run folder and encoder file), embed and index skip the same files', { timeout: 300_000 }, async () => {
  const base = mkdtempSync(join(tmpdir(), 'simclr-skip-bad-'));
  const data = join(base, 'photos');
  await colourFolder(data, 10, 32); // 30 images, 3 classes
  writeFileSync(join(data, 'a', 'zero.jpg'), '');
  writeFileSync(join(data, 'b', 'not-an-image.png'), 'garbage');
  const run = join(base, 'run');
  const pretrained = simclr('pretrain', '--data', data, '--skip-bad', '--out', run, '--epochs', '1', '--batch-size', '16', '--precision', 'fp32');
  assert.equal(pretrained.status, 0, pretrained.stderr);
  assert.match(pretrained.stderr, /skipped 2 unreadable file\(s\) of 32/);
  assert.ok(existsSync(join(run, 'report.html')), 'pretrain wrote no report');
  // 30 readable images, a tenth of each class held out: 27 to train on.
  const trainImages = JSON.parse(pretrained.stdout.trim().split('\n').at(-1)!).split.trainImages;
  assert.equal(trainImages, 27);

  const report = simclr('report', run, '--out', join(base, 'report.html'));
  assert.equal(report.status, 0, report.stderr);
  for (const checkpoint of [run, join(run, 'encoder.safetensors')]) {
    const evaluated = simclr('eval', '--checkpoint', checkpoint, '--protocol', 'knn');
    assert.equal(evaluated.status, 0, `eval --checkpoint ${checkpoint}: ${evaluated.stderr}`);
    const result = JSON.parse(evaluated.stdout.trim().split('\n').at(-1)!);
    assert.equal(result.trainImages, trainImages);
    assert.equal(result.split.kind, 'held-out');
  }
  const embedded = simclr('embed', '--checkpoint', run, '--out', join(base, 'features.safetensors'));
  assert.equal(embedded.status, 0, embedded.stderr);
  assert.equal(JSON.parse(embedded.stdout.trim()).images, trainImages);
  const indexed = simclr('index', '--checkpoint', run, '--split', 'test', '--out', join(base, 'index.safetensors'));
  assert.equal(indexed.status, 0, indexed.stderr);
  assert.equal(JSON.parse(indexed.stdout.trim()).images, 3);

  // The folder given to an encoder trained on other data: unreadable files are refused, unless --skip-bad is given.
  const clean = join(base, 'clean');
  await colourFolder(clean, 10, 32);
  const other = join(base, 'other');
  assert.equal(simclr('pretrain', '--data', clean, '--out', other, '--epochs', '1', '--batch-size', '16', '--precision', 'fp32', '--no-report').status, 0);
  const refused = simclr('embed', '--checkpoint', other, '--data', data, '--out', join(base, 'refused.safetensors'));
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^simclr: .*(zero\.jpg|not-an-image\.png): /m);
  const skipped = simclr('embed', '--checkpoint', other, '--data', data, '--skip-bad', '--out', join(base, 'skipped.safetensors'));
  assert.equal(skipped.status, 0, skipped.stderr);
  assert.equal(JSON.parse(skipped.stdout.trim()).images, 27);
});

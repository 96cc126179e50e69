// Splits that never leak: held-out test splits of data without one, stratified and stable; class
// names matched across given splits; a run's recorded split reused by eval; the kNN monitor's
// queries outside its bank; the label-fraction sampler of few-label evaluation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { openSplits, type SplitRecord } from '../src/data/open.js';
import { heldOutSplit, labelFraction } from '../src/data/split.js';
import { DataError } from '../src/data/source.js';
import { tidy, type Tensor } from '../src/index.js';
import { Module } from '../src/nn/module.js';
import { knnMonitor } from '../src/simclr/monitor.js';
import { repoRoot } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-split-'));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const env = { ...process.env, XDG_CACHE_HOME: join(base, 'xdg') };

/** A tiny PNG whose grey level encodes (class, index), so that the decoded pixels name the file. */
async function writeImage(file: string, level: number): Promise<void> {
  await sharp({ create: { width: 6, height: 6, channels: 3, background: { r: level, g: level, b: level } } }).png().toFile(file);
}

/** root/<class>/<i>.png for the given class sizes; image level = 10·class + i. */
async function labelledFolder(root: string, sizes: Record<string, number>): Promise<void> {
  let c = 0;
  for (const [name, count] of Object.entries(sizes)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < count; i++) await writeImage(join(root, name, `${i}.png`), 10 * c + i);
    c++;
  }
}

const classOf = (file: string) => file.split('/')[0]!;

test('a labelled folder without splits gets a stratified, seeded, stable held-out split, disjoint by file', async () => {
  const root = join(base, 'plain');
  await labelledFolder(root, { ant: 20, bee: 10, cat: 7, dog: 1 });
  const open = (o = {}) => openSplits(root, { size: 6, cacheDir: null, ...o });
  const a = await open();
  assert.equal(a.record.kind, 'held-out');
  const trainFiles = a.train.files!;
  const testFiles = a.test!.files!;
  // disjoint and complete, by file
  assert.equal(trainFiles.filter((f) => testFiles.includes(f)).length, 0);
  assert.equal(trainFiles.length + testFiles.length, 38);
  // round(10% of each class): 2 ants, 1 bee, 1 cat, no dog (a class of one stays in training)
  const perClass = (files: readonly string[]) => Object.fromEntries(['ant', 'bee', 'cat', 'dog'].map((c) => [c, files.filter((f) => classOf(f) === c).length]));
  assert.deepEqual(perClass(testFiles), { ant: 2, bee: 1, cat: 1, dog: 0 });
  // labels and pixels follow the files: image level 10·class + index
  tidy(() => {
    const images = a.test!.loadSync!(Array.from(testFiles.keys()));
    testFiles.forEach((f, k) => {
      const c = ['ant', 'bee', 'cat', 'dog'].indexOf(classOf(f));
      assert.equal(a.test!.labels![k], c, f);
      assert.equal(images.select(0, k).select(0, 0).select(0, 0).select(0, 0).item(), 10 * c + Number(f.split('/')[1]!.split('.')[0]), f);
    });
  });
  assert.deepEqual(a.record.test, [...testFiles]);
  a.dispose();
  // the same split on every opening; another seed draws another
  const again = await open();
  assert.deepEqual(again.test!.files, testFiles);
  again.dispose();
  const other = await open({ splitSeed: 5 });
  assert.notDeepEqual(other.test!.files, testFiles);
  other.dispose();
  // adding images keeps a recorded split exactly (new files train), and a drawn one mostly
  const record = a.record;
  for (let i = 20; i < 30; i++) await writeImage(join(root, 'ant', `${i}.png`), 200 + i);
  const recorded = await open({ recorded: record });
  assert.deepEqual(recorded.test!.files, testFiles);
  assert.equal(recorded.train.size, 48 - testFiles.length);
  recorded.dispose();
  const redrawn = await open();
  assert.equal(perClass(redrawn.test!.files!).ant, 3);
  assert.ok(testFiles.filter((f) => redrawn.test!.files!.includes(f)).length >= testFiles.length - 1);
  redrawn.dispose();
});

test('the held-out split alone: class-stratified counts, seeded, by name', () => {
  const names = Array.from({ length: 1000 }, (_, i) => `img-${i}.jpg`);
  const labels = Int32Array.from(names, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
  const { train, test: held } = heldOutSplit(names, labels, 0.1, 3);
  const counts = [0, 0, 0];
  held.forEach((i) => counts[labels[i]!]!++);
  assert.deepEqual(counts, [60, 30, 10]);
  assert.equal(train.length + held.length, 1000);
  assert.equal(new Set([...train, ...held]).size, 1000);
  assert.deepEqual(heldOutSplit(names, labels, 0.1, 3).test, held);
  // the rank is by name, not by position: the same names in another order hold out the same images
  const reversed = [...names].reverse();
  const back = heldOutSplit(reversed, Int32Array.from(labels).reverse(), 0.1, 3).test;
  assert.deepEqual(Array.from(back, (i) => reversed[i]).sort(), Array.from(held, (i) => names[i]).sort());
  assert.throws(() => heldOutSplit(names, labels, 1, 0), RangeError);
});

test('given splits: test labels follow the training split\'s class names; an unknown test class is an error', async () => {
  const root = join(base, 'given');
  await labelledFolder(join(root, 'train'), { apple: 3, banana: 3, cherry: 3 });
  await labelledFolder(join(root, 'test'), { apple: 2, cherry: 2 }); // no banana: cherry is class 2, not 1
  const s = await openSplits(root, { size: 6, cacheDir: null });
  assert.equal(s.record.kind, 'given');
  assert.deepEqual(s.test!.classNames, ['apple', 'banana', 'cherry']);
  assert.deepEqual(Array.from(s.test!.labels!), [0, 0, 2, 2]);
  s.dispose();
  await labelledFolder(join(root, 'test'), { apple: 2, cherry: 2, durian: 2 });
  await assert.rejects(openSplits(root, { size: 6, cacheDir: null }), (e: unknown) => e instanceof DataError && e.message.includes(join(root, 'test')) && e.message.includes("'durian'"));
});

/** An IDX pair of random-noise images with random labels: nothing to learn, so kNN finds only itself. */
function noiseIdx(dir: string, n: number, side: number, classes: number): string {
  mkdirSync(dir, { recursive: true });
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  const header = (magic: number, dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  const images = join(dir, 'train-images-idx3-ubyte');
  writeFileSync(images, Buffer.concat([header(0x803, [n, side, side]), Buffer.from(Array.from({ length: n * side * side }, next))]));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), Buffer.concat([header(0x801, [n]), Buffer.from(Array.from({ length: n }, () => next() % classes))]));
  return images;
}

/** Features that tell every noise image apart: its centred pixels (distinct images are near-orthogonal). */
class CentredPixels extends Module {
  forward(x: Tensor): Tensor {
    return x.flatten(1).sub(0.5);
  }
}

test('the kNN monitor scores held-out queries: none of them is in its bank', async () => {
  // Random images with random labels: a query that is also in the bank finds itself (similarity 1,
  // weight e^10 against about e^0 for the others) and takes its own label, so scoring training images
  // gives about 100%; held-out ones, chance (25%).
  const images = noiseIdx(join(base, 'noise-monitor'), 400, 8, 4);
  const splits = await openSplits(images, { testFraction: 0.25 });
  const encoder = new CentredPixels();
  const heldOut = await knnMonitor(encoder, splits.train, splits.test!, 8);
  assert.ok(heldOut! < 0.45, `monitor kNN ${heldOut}`);
  const self = await knnMonitor(encoder, splits.train, splits.train, 8); // what a query in the bank does
  assert.ok(self! > 0.95, `self-matching kNN ${self}`);
  splits.dispose();
});

test('an IDX file without a test pair: pretraining holds images out, eval scores only those', () => {
  const images = noiseIdx(join(base, 'noise'), 400, 8, 4);
  const out = join(base, 'noise-run');
  const trained = spawnSync(process.execPath, [cli, 'pretrain', '--data', images, '--batch-size', '32', '--epochs', '1', '--width', '0.125', '--test-fraction', '0.25', '--out', out, '--quiet'], { encoding: 'utf8', env });
  assert.equal(trained.status, 0, trained.stderr);
  const record = JSON.parse(readFileSync(join(out, 'split.json'), 'utf8')) as SplitRecord;
  assert.equal(record.kind, 'held-out');
  assert.equal(record.trainImages + record.testImages, 400);
  assert.ok(Math.abs(record.testImages - 100) <= 2, `${record.testImages} held out`);
  const epoch = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((r) => r.type === 'epoch');
  assert.equal(typeof epoch.knnAccuracy, 'number');
  const evaluated = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', out, '--protocol', 'knn', '--quiet'], { encoding: 'utf8', env });
  assert.equal(evaluated.status, 0, evaluated.stderr);
  const r = JSON.parse(evaluated.stdout);
  assert.deepEqual(r.split, { kind: 'held-out', testFraction: 0.25, seed: 0, trainImages: record.trainImages, testImages: record.testImages });
  assert.equal(r.test, record.testImages); // not the 400 training images
  // asking the run's encoder for another split is an error (its other images were trained on)
  const other = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', out, '--protocol', 'knn', '--test-fraction', '0.5'], { encoding: 'utf8', env });
  assert.equal(other.status, 2);
  assert.match(other.stderr, /--test-fraction 0\.5 differs from the split/);
});

test('label fractions: class-balanced counts, seeded, disjoint draws', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 900 ? i % 3 : 3)); // classes of 300, 300, 300, 100
  const counts = (subset: Int32Array) => {
    const c = [0, 0, 0, 0];
    subset.forEach((i) => c[labels[i]!]!++);
    return c;
  };
  const draws = [0, 1, 2].map((d) => labelFraction(labels, 0.1, 7, d));
  for (const subset of draws) {
    assert.deepEqual(counts(subset), [30, 30, 30, 10]);
    assert.equal(new Set(subset).size, subset.length);
  }
  assert.deepEqual(labelFraction(labels, 0.1, 7, 1), draws[1]);
  assert.notDeepEqual(labelFraction(labels, 0.1, 8, 0), draws[0]);
  // the draws of a seed share no image
  assert.equal(new Set([...draws[0]!, ...draws[1]!, ...draws[2]!]).size, 3 * draws[0]!.length);
  // more draws than fit: still balanced, and different from each other
  const late = labelFraction(labels, 0.4, 7, 3);
  assert.deepEqual(counts(late), [120, 120, 120, 40]);
  assert.notDeepEqual(late, labelFraction(labels, 0.4, 7, 4));
  assert.equal(labelFraction(labels, 0.001, 1).length, 4); // at least one per class
  assert.throws(() => labelFraction(labels, 0, 1), RangeError);
});

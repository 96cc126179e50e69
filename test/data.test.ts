// Data sources on files the test writes: image folders made with sharp (every format and oddity),
// IDX and CIFAR files, bad input, the decode cache and the loader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFileSync, spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { tidy, type Tensor } from '../src/index.js';
import { imageFolder } from '../src/data/folder.js';
import { idxSource, readIdx } from '../src/data/idx.js';
import { cifarFolder, cifarSource } from '../src/data/cifar.js';
import { openSource, openSplits } from '../src/data/open.js';
import { Loader } from '../src/data/loader.js';
import { DataError } from '../src/data/source.js';
import { repoRoot } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-data-'));

function solid(width: number, height: number, rgb: [number, number, number]) {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
}

/** Left half `left`, right half `right`, as raw RGB. */
function halves(width: number, height: number, left: number[], right: number[]) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.set(x < width / 2 ? left : right, (y * width + x) * 3);
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

/** The RGB of pixel (x, y) of image i. */
function rgbAt(images: Tensor, i: number, x: number, y: number): number[] {
  return tidy(() => images.select(0, i).select(2, x).select(1, y).toNumbers());
}

const near = (a: number[], b: number[], tol = 12) => a.every((v, k) => Math.abs(v - b[k]!) <= tol);

test('image folders: every format, colour model, depth, EXIF orientation and size', async () => {
  const root = join(base, 'folder');
  mkdirSync(join(root, 'cat'), { recursive: true });
  mkdirSync(join(root, 'dog', 'nested'), { recursive: true });
  await solid(40, 30, [255, 0, 0]).jpeg({ quality: 95 }).toFile(join(root, 'cat', 'a-red.jpg'));
  await sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 0, g: 255, b: 0, alpha: 0.2 } } }).png().toFile(join(root, 'cat', 'b-rgba.png'));
  await solid(25, 50, [0, 0, 255]).webp({ lossless: true }).toFile(join(root, 'cat', 'c-blue.webp'));
  await solid(16, 16, [128, 128, 128]).grayscale().png().toFile(join(root, 'dog', 'd-gray.png'));
  await solid(30, 30, [255, 0, 0]).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(join(root, 'dog', 'e-cmyk.jpg'));
  await solid(24, 24, [0, 255, 0]).toColourspace('rgb16').png().toFile(join(root, 'dog', 'f-16bit.png'));
  await halves(40, 20, [255, 0, 0], [0, 0, 255]).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(join(root, 'dog', 'g-exif.jpg'));
  await halves(40, 20, [255, 0, 0], [0, 0, 255]).tiff().toFile(join(root, 'dog', 'nested', 'h.tiff'));
  await solid(10, 10, [255, 255, 0]).gif().toFile(join(root, 'dog', 'nested', 'i.gif'));
  writeFileSync(join(root, 'dog', 'notes.txt'), 'not an image');

  const src = await imageFolder(root, { size: 16, cacheDir: null });
  assert.deepEqual(src.classNames, ['cat', 'dog']);
  assert.deepEqual(Array.from(src.labels!), [0, 0, 0, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(src.imageShape, [3, 16, 16]);
  const x = await src.load(Array.from({ length: src.size }, (_, i) => i));
  assert.equal(x.dtype, 'uint8');
  assert.ok(near(rgbAt(x, 0, 8, 8), [255, 0, 0]), 'jpeg red');
  assert.ok(near(rgbAt(x, 1, 8, 8), [0, 255, 0]), 'rgba: alpha dropped, colour kept');
  assert.ok(near(rgbAt(x, 2, 8, 8), [0, 0, 255]), 'webp blue');
  assert.ok(near(rgbAt(x, 3, 8, 8), [128, 128, 128], 2), 'grayscale to 3 equal channels');
  assert.ok(near(rgbAt(x, 4, 8, 8), [255, 0, 0], 40), `cmyk to rgb: ${rgbAt(x, 4, 8, 8)}`);
  assert.ok(near(rgbAt(x, 5, 8, 8), [0, 255, 0], 2), '16-bit to 8-bit');
  // EXIF orientation 6 turns the red left half to the top
  assert.ok(near(rgbAt(x, 6, 8, 1), [255, 0, 0], 40) && near(rgbAt(x, 6, 8, 14), [0, 0, 255], 40), 'exif rotated');
  // the same picture without orientation: red left, blue right (centre crop of the wide image)
  assert.ok(near(rgbAt(x, 7, 1, 8), [255, 0, 0], 40) && near(rgbAt(x, 7, 14, 8), [0, 0, 255], 40), 'tiff, non-square');
  assert.ok(near(rgbAt(x, 8, 8, 8), [255, 255, 0], 8), 'gif');

  const flat = join(base, 'flat');
  mkdirSync(flat);
  await solid(8, 8, [1, 2, 3]).png().toFile(join(flat, 'one.png'));
  await solid(9, 7, [4, 5, 6]).png().toFile(join(flat, 'two.png'));
  const unlabelled = await imageFolder(flat, { size: 8, cacheDir: null });
  assert.equal(unlabelled.labels, null);
  assert.equal(unlabelled.size, 2);
});

test('the decode cache is written once and read instead of decoding', async () => {
  const root = join(base, 'cached');
  const cacheDir = join(base, 'cache');
  mkdirSync(join(root, 'a'), { recursive: true });
  await solid(12, 12, [10, 200, 30]).png().toFile(join(root, 'a', 'x.png'));
  await solid(12, 12, [200, 10, 30]).png().toFile(join(root, 'a', 'y.png'));
  // whole-second times, so that restoring them below is exact
  for (const f of ['x.png', 'y.png']) utimesSync(join(root, 'a', f), 1_700_000_000, 1_700_000_000);
  const first = await imageFolder(root, { size: 12, cacheDir });
  assert.equal(readdirSync(cacheDir).filter((f) => f.endsWith('.safetensors')).length, 1);
  // Same size and mtime but unreadable content: only the cache can give the images now.
  const file = join(root, 'a', 'x.png');
  writeFileSync(file, Buffer.alloc(statSync(file).size, 7));
  utimesSync(file, 1_700_000_000, 1_700_000_000);
  const second = await imageFolder(root, { size: 12, cacheDir });
  assert.deepEqual((await second.load([0, 1])).toArray(), (await first.load([0, 1])).toArray());
  assert.deepEqual(Array.from(second.labels!), [0, 0]);
  assert.deepEqual(second.classNames, ['a']);
});

test('bad images: a clear error naming the file, or with skipBad a warning and a count', async () => {
  const root = join(base, 'bad');
  mkdirSync(root);
  await solid(8, 8, [9, 9, 9]).png().toFile(join(root, 'good.png'));
  const jpeg = await solid(64, 64, [1, 100, 200]).jpeg().toBuffer();
  writeFileSync(join(root, 'truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  writeFileSync(join(root, 'text.png'), 'this is not a png');
  writeFileSync(join(root, 'zero.webp'), '');
  symlinkSync(join(root, 'gone.png'), join(root, 'link.png'));
  for (const [name, message] of [['truncated.jpg', /cannot decode/], ['text.png', /cannot decode/], ['zero.webp', /empty file/]] as const) {
    const single = join(base, `bad-${name}`);
    mkdirSync(single);
    writeFileSync(join(single, name), readFileSync(join(root, name)));
    await assert.rejects(imageFolder(single, { size: 8, cacheDir: null }), (e: unknown) => e instanceof DataError && e.message.includes(name) && message.test(e.message));
  }
  await assert.rejects(imageFolder(root, { size: 8, cacheDir: null }), (e: unknown) => e instanceof DataError && /link\.png: cannot read the file \(ENOENT\)|cannot decode|empty file/.test(e.message));
  // In memory (decoded once) and streamed (a memory limit below the data set): the same files skipped, counted.
  for (const memoryLimit of [undefined, 1]) {
    const warnings: string[] = [];
    const src = await imageFolder(root, { size: 8, cacheDir: join(base, `bad-cache-${memoryLimit}`), skipBad: true, memoryLimit, warn: (m) => warnings.push(m) });
    assert.equal(src.size, 1, `memoryLimit ${memoryLimit}`);
    assert.equal(src.skipped, 4);
    assert.deepEqual(src.files, ['good.png']);
    assert.ok(warnings.some((w) => w.includes('truncated.jpg')) && warnings.some((w) => w.includes('link.png: cannot read the file (ENOENT)')) && warnings.some((w) => /skipped 4/.test(w)), warnings.join('\n'));
    const batch = await src.load([0]);
    assert.deepEqual(batch.shape, [1, 3, 8, 8]);
    assert.equal(tidy(() => batch.float().mean().item()), 9, 'good.png, solid 9');
    batch.dispose();
  }
  // The streamed folder's list of unreadable files is cached: a second open decodes nothing.
  const again = await imageFolder(root, { size: 8, cacheDir: join(base, 'bad-cache-1'), skipBad: true, memoryLimit: 1, warn: () => assert.fail('decoded again') });
  assert.equal(again.skipped, 4);
  const empty = join(base, 'empty');
  mkdirSync(empty);
  await assert.rejects(imageFolder(empty, { size: 8, cacheDir: null }), /empty: no images found/);
});

test('the CLI reports a bad image and goes on with --skip-bad', () => {
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const root = join(base, 'bad');
  const out = join(base, 'preview.png');
  const failed = spawnSync(process.execPath, [cli, 'augment', '--data', root, '--size', '8', '--out', out], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: join(base, 'xdg') } });
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, /(truncated\.jpg|text\.png|zero\.webp|link\.png): /);
  const ok = execFileSync(process.execPath, [cli, 'augment', '--data', root, '--size', '8', '--out', out, '--skip-bad'], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: join(base, 'xdg') }, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(JSON.parse(ok).skipped, 4);
  assert.ok(statSync(out).size > 0);
});

function idxFile(dims: number[], data: number[], claim = dims): Buffer {
  const head = Buffer.alloc(4 + 4 * claim.length);
  head.writeUInt8(0x08, 2);
  head.writeUInt8(claim.length, 3);
  claim.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

test('IDX files, gzipped or not, and a header that promises too much', () => {
  const images = join(base, 'x-images-idx3-ubyte.gz');
  const labels = join(base, 'x-labels-idx1-ubyte');
  writeFileSync(images, gzipSync(idxFile([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])));
  writeFileSync(labels, idxFile([2], [7, 3]));
  tidy(() => {
    const src = idxSource(images, labels);
    assert.deepEqual(src.imageShape, [1, 2, 3]);
    assert.deepEqual(src.images.select(0, 1).toNumbers(), [6, 7, 8, 9, 10, 11]);
    assert.deepEqual(Array.from(src.labels!), [7, 3]);
    src.dispose();
  });
  const short = join(base, 'short-idx3-ubyte');
  writeFileSync(short, idxFile([2, 2, 3], [1, 2, 3], [2, 2, 3]));
  assert.throws(() => readIdx(short), (e: unknown) => e instanceof DataError && e.message.includes(short) && /promises 2×2×3 = 12 bytes of data but the file holds 3/.test(e.message));
});

test('fashion-mnist resolves to the Debian package', async () => {
  const src = await openSource('fashion-mnist', { split: 'test' });
  assert.equal(src.size, 10_000);
  assert.deepEqual(src.imageShape, [1, 28, 28]);
  assert.equal(src.classNames!.length, 10);
});

test('CIFAR-10 and CIFAR-100 binary files; a size that is not whole records', () => {
  const c10 = join(base, 'cifar10');
  mkdirSync(c10);
  const record = (label: number[], value: number) => Buffer.concat([Buffer.from(label), Buffer.alloc(3072, value)]);
  for (let b = 1; b <= 5; b++) writeFileSync(join(c10, `data_batch_${b}.bin`), Buffer.concat([record([b], b), record([9], 100 + b)]));
  writeFileSync(join(c10, 'test_batch.bin'), record([4], 44));
  writeFileSync(join(c10, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  tidy(() => {
    const train = cifarFolder(c10, 'train');
    assert.equal(train.size, 10);
    assert.deepEqual(Array.from(train.labels!), [1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    assert.deepEqual(train.imageShape, [3, 32, 32]);
    assert.equal(train.images.select(0, 3).amax().item(), 102);
    assert.equal(train.classNames![9], 'truck');
    assert.equal(cifarFolder(c10, 'test').size, 1);
  });
  const c100 = join(base, 'cifar100');
  mkdirSync(c100);
  writeFileSync(join(c100, 'train.bin'), Buffer.concat([record([3, 71], 1), record([5, 12], 2)]));
  tidy(() => {
    assert.deepEqual(Array.from(cifarFolder(c100, 'train').labels!), [71, 12]);
    assert.deepEqual(Array.from(cifarFolder(c100, 'train', 'coarse').labels!), [3, 5]);
  });
  // A label outside the data set's classes names the file and the record.
  writeFileSync(join(c10, 'test_batch.bin'), Buffer.concat([record([4], 44), record([200], 45)]));
  assert.throws(() => cifarFolder(c10, 'test'), /test_batch\.bin: record 1 has label 200, outside CIFAR-10's 10 classes \(0–9\)/);
  writeFileSync(join(c100, 'bad.bin'), Buffer.concat([record([3, 71], 1), record([25, 12], 2)]));
  assert.throws(() => cifarSource([join(c100, 'bad.bin')], 'cifar100', { label: 'coarse' }), /bad\.bin: record 1 has label 25, outside CIFAR-100 \(coarse labels\)'s 20 classes/);
  writeFileSync(join(c100, 'test.bin'), Buffer.alloc(3074 + 5));
  assert.throws(() => cifarFolder(c100, 'test'), /test\.bin: 3079 bytes is not a whole number of CIFAR-100 records \(3074 bytes each\)/);
});

test('IDX labels outside the classes: named classes, and a test split with a class the training split lacks', async () => {
  const dir = join(base, 'idx-labels');
  mkdirSync(dir);
  const images = (n: number) => gzipSync(idxFile([n, 2, 2], Array.from({ length: 4 * n }, (_, i) => i % 256)));
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), images(3));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxFile([3], [0, 1, 2])));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), images(2));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxFile([2], [1, 200])));
  await assert.rejects(openSplits(join(dir, 'train-images-idx3-ubyte.gz')), /t10k-images-idx3-ubyte\.gz: record 1 has label 200, a class the training split does not have \(its labels are 0–2\)/);
  assert.throws(() => idxSource(join(dir, 't10k-images-idx3-ubyte.gz'), join(dir, 't10k-labels-idx1-ubyte.gz'), ['a', 'b', 'c']), /t10k-labels-idx1-ubyte\.gz: record 1 has label 200, outside the 3 classes \(0–2\)/);
});

test('loader: seeded per-epoch order, drop_last, exact resume from (epoch, step)', async () => {
  const src = await openSource('fashion-mnist', { split: 'test' });
  const loader = new Loader(src, { batchSize: 3000, seed: 5 });
  assert.equal(loader.stepsPerEpoch, 3);
  assert.deepEqual(loader.order(1), new Loader(src, { batchSize: 7, seed: 5 }).order(1));
  assert.notDeepEqual(loader.order(1), loader.order(2));
  assert.deepEqual([...loader.order(0)].sort((a, b) => a - b), Array.from({ length: 10_000 }, (_, i) => i));
  const full: number[][] = [];
  for await (const b of loader.epoch(1)) {
    assert.deepEqual(b.frames.data.shape, [3000, 1, 28, 28]);
    assert.equal(b.labels![0], src.labels![b.indices[0]!]);
    full.push(Array.from(b.indices));
    b.frames.dispose();
  }
  assert.equal(full.length, 3);
  const resumed: number[][] = [];
  for await (const b of loader.epoch(1, 2)) {
    resumed.push(Array.from(b.indices));
    b.frames.dispose();
  }
  assert.deepEqual(resumed, full.slice(2));
  assert.equal(new Loader(src, { batchSize: 3000, dropLast: false }).stepsPerEpoch, 4);
  assert.throws(() => new Loader(src, { batchSize: 20_000 }), /larger than the data set/);
});

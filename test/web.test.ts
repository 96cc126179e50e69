// The browser demo in a real browser (Debian's Chromium through playwright-core): served on loopback,
// fed a fixed image, the page's embedding (ONNX in onnxruntime-web) equals the library's h, its top
// 5 are the files `simclr similar` returns, and an image it cannot decode shows an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { serveStatic, writeWebDemo } from '../src/export/web.js';
import { demoFolderProblems } from '../src/export/web-folder.js';
import { BatchNorm } from '../src/nn/layers.js';
import { resnet } from '../src/models/resnet.js';
import { architectureMetadata, loadEncoder } from '../src/simclr/encoder-file.js';
import { decodeQueries, embedQueries, loadIndex, type ImageIndex } from '../src/search/image-index.js';
import { openSource } from '../src/data/open.js';
import { extractFeatures } from '../src/eval/features.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import sharp from 'sharp';
import { manualSeed, noGrad, rand, tidy, zeros } from '../src/index.js';
import { colourFolder, repoRoot } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-web-'));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const simclr = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args, '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

test('the browser demo: the page\'s h equals the library\'s, its neighbours equal simclr similar\'s; a bad image shows an error', { timeout: 300_000 }, async () => {
  const folder = join(base, 'images');
  const files = await colourFolder(folder);
  // an encoder with non-trivial BatchNorm statistics (a fresh one's are the identity)
  manualSeed(3);
  const encoder = resnet(18, { cifarStem: true, widthMultiplier: 0.25, inChannels: 3 });
  encoder.apply((b) => {
    if (b instanceof BatchNorm) noGrad(() => tidy(() => (b.runningMean!.copy_(rand([b.numFeatures]).sub(0.5)), b.runningVar!.copy_(rand([b.numFeatures]).add(0.5)))));
  });
  const encoderFile = join(base, 'encoder.safetensors');
  encoder.save(encoderFile, architectureMetadata({ depth: 18, cifarStem: true, width: 0.25, inChannels: 3, imageSize: 32 }));
  const indexFile = join(base, 'index.safetensors');
  simclr('index', '--checkpoint', encoderFile, '--data', folder, '--test-fraction', '0', '--out', indexFile);
  const web = join(base, 'web');
  simclr('export', '--checkpoint', encoderFile, '--web', web, '--index', indexFile);
  const query = files[10]!;
  const similar = JSON.parse(simclr('similar', '--index', indexFile, '--query', query, '-k', '5', '--json')) as { results: { neighbours: { file: string }[] }[] };
  const { encoder: loaded } = loadEncoder(encoderFile);
  const expected = Array.from(embedQueries(loaded, await decodeQueries([query], 32, 3), 32).toArray() as Float32Array);

  const broken = join(base, 'broken.png');
  writeFileSync(broken, Buffer.from('not a png at all'));
  const { url, server } = await serveStatic(web);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(url);
    // (page-side expressions as strings: this file is compiled without the DOM's types)
    await page.waitForFunction("document.getElementById('status').textContent.startsWith('ready') || window.simclrDemo?.error", null, { timeout: 120_000 });
    await page.setInputFiles('#file', query);
    await page.waitForFunction('window.simclrDemo.last || window.simclrDemo.error', null, { timeout: 60_000 });
    const result = (await page.evaluate('window.simclrDemo.last')) as { h: number[]; neighbours: { file: string }[] } | null;
    assert.ok(result !== null, String(await page.evaluate('window.simclrDemo.error')));
    const scale = Math.max(...expected.map(Math.abs));
    const worst = Math.max(...expected.map((v, i) => Math.abs(v - result.h[i]!)));
    assert.equal(result.h.length, expected.length);
    assert.ok(worst <= 1e-4 * scale, `page h differs from the library's by ${worst} (max |h| ${scale})`);
    assert.deepEqual(result.neighbours.slice(0, 5).map((n) => n.file), similar.results[0]!.neighbours.map((n) => n.file));
    assert.deepEqual(problems, []);

    await page.setInputFiles('#file', broken);
    await page.waitForFunction('window.simclrDemo.error !== null', null, { timeout: 30_000 });
    const status = await page.locator('#status');
    assert.match((await status.textContent())!, /cannot decode broken\.png/);
    assert.equal(await status.getAttribute('class'), 'error');
  } finally {
    await browser.close();
    server.close();
  }
});

test('one non-square photo, every path, one h: eval\'s features, embed, index, similar\'s query and the browser demo prepare it alike', { timeout: 300_000 }, async () => {
  const folder = join(base, 'photos');
  await colourFolder(folder, 4);
  // 150 × 100, below the frames' cap for 32-px views (112 px): every path starts from the same pixels
  const photo = join(folder, 'a', 'photo.png');
  const raw = Buffer.alloc(150 * 100 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + Math.floor(i / 450) * 11) % 256;
  await sharp(raw, { raw: { width: 150, height: 100, channels: 3 } }).png().toFile(photo);
  manualSeed(5);
  const encoder = resnet(18, { cifarStem: true, widthMultiplier: 0.25, inChannels: 3 });
  encoder.apply((b) => {
    if (b instanceof BatchNorm) noGrad(() => tidy(() => (b.runningMean!.copy_(rand([b.numFeatures]).sub(0.5)), b.runningVar!.copy_(rand([b.numFeatures]).add(0.5)))));
  });
  const encoderFile = join(base, 'photo-encoder.safetensors');
  encoder.save(encoderFile, architectureMetadata({ depth: 18, cifarStem: true, width: 0.25, inChannels: 3, imageSize: 32 }));
  const { encoder: loaded } = loadEncoder(encoderFile);

  const similarQuery = Array.from(embedQueries(loaded, await decodeQueries([photo], 32, 3), 32).toArray() as Float32Array);
  const source = await openSource(folder, { size: 32, testFraction: 0 });
  const row = source.files!.indexOf(join('a', 'photo.png'));
  const { features } = await extractFeatures(loaded, source, { size: 32, label: null });
  const evalFeatures = tidy(() => Array.from(features.select(0, row).toArray() as Float32Array));
  features.dispose();
  source.dispose?.();
  const embedFile = join(base, 'photo-h.safetensors');
  simclr('embed', '--checkpoint', encoderFile, '--data', folder, '--test-fraction', '0', '--out', embedFile);
  const embedded = loadSafetensors(embedFile).tensors;
  const embedRow = Array.from(embedded.get('index')!.toArray() as BigInt64Array, Number).indexOf(row);
  const embed = tidy(() => Array.from(embedded.get('h')!.select(0, embedRow).toArray() as Float32Array));
  const indexFile = join(base, 'photo-index.safetensors');
  simclr('index', '--checkpoint', encoderFile, '--data', folder, '--test-fraction', '0', '--out', indexFile);
  const index = loadIndex(indexFile);
  const indexed = tidy(() => Array.from(index.vectors.select(0, index.files.indexOf(photo)).toArray() as Float32Array));
  const web = join(base, 'photo-web');
  simclr('export', '--checkpoint', encoderFile, '--web', web, '--index', indexFile);

  const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
  const worst = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / Math.max(...b.map(Math.abs));
  for (const [name, h] of [['eval', evalFeatures], ['embed', embed]] as const) assert.ok(worst(h, similarQuery) < 1e-5, `${name}'s h differs from similar's query by ${worst(h, similarQuery)}`);
  assert.ok(worst(indexed, unit(similarQuery)) < 1e-5, `the index's vector differs by ${worst(indexed, unit(similarQuery))}`);

  const { url, server } = await serveStatic(web);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction("document.getElementById('status').textContent.startsWith('ready') || window.simclrDemo?.error", null, { timeout: 120_000 });
    await page.setInputFiles('#file', photo);
    await page.waitForFunction('window.simclrDemo.last || window.simclrDemo.error', null, { timeout: 60_000 });
    const result = (await page.evaluate('window.simclrDemo.last')) as { h: number[] } | null;
    assert.ok(result !== null, String(await page.evaluate('window.simclrDemo.error')));
    assert.ok(worst(result.h, similarQuery) < 1e-4, `the page's h differs by ${worst(result.h, similarQuery)}`);
  } finally {
    await browser.close();
    server.close();
  }
});

test('the demo folder is written whole: a folder of other files refused, a demo replaced, a killed writer\'s temporary folder removed; a missing file named', async () => {
  const index: ImageIndex = {
    vectors: rand([4, 8]),
    files: ['a.png', 'b.png', 'c.png', 'd.png'],
    labels: null,
    classNames: null,
    thumbnails: zeros([4, 3, 8, 8], { dtype: 'uint8' }),
    fingerprint: 'f00d',
    imageSize: 8,
    inChannels: 3,
    checkpoint: '',
    data: '',
  };
  const parent = join(base, 'whole');
  mkdirSync(parent);
  const dir = join(parent, 'demo');
  await writeWebDemo(dir, Uint8Array.of(1, 2, 3), index);
  assert.deepEqual(demoFolderProblems(dir), []);
  // (a temporary folder of a writer killed mid-write: its process is gone)
  mkdirSync(join(parent, '.demo.999999999.abc.tmp'));
  await writeWebDemo(dir, Uint8Array.of(4, 5), index);
  assert.deepEqual([...readFileSync(join(dir, 'encoder.onnx'))], [4, 5]);
  assert.deepEqual(readdirSync(parent), ['demo']);
  const mine = join(base, 'mine');
  mkdirSync(mine);
  writeFileSync(join(mine, 'cat.jpg'), 'a photo');
  await assert.rejects(writeWebDemo(mine, Uint8Array.of(1), index), /mine: holds files that are not a demo's \(cat\.jpg\)/);
  assert.deepEqual(readdirSync(mine), ['cat.jpg']);
  await assert.rejects(writeWebDemo(join(mine, 'cat.jpg'), Uint8Array.of(1), index), /cat\.jpg: a file, not a folder/);
  assert.throws(() => demoFolderProblems(mine), /mine: not a demo folder: it has no index\.html/);
  rmSync(join(dir, 'vectors.bin'));
  writeFileSync(join(dir, 'index.json'), '{"count": 4');
  assert.deepEqual(demoFolderProblems(dir), ['vectors.bin is missing', 'index.json is not valid JSON']);
  assert.ok(!existsSync(join(mine, 'index.html')));
  index.vectors.dispose();
  index.thumbnails.dispose();
});

// The run report: the parts computed in TypeScript against hand-made cases, and the page itself
// opened in a real browser (Debian's Chromium through playwright-core).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor, tidy } from '../src/index.js';
import { confusionMatrix } from '../src/eval/evaluate.js';
import { pca2d } from '../src/report/analysis.js';
import { nearestNeighbours } from '../src/search/image-index.js';
import { buildReport, readCurves, reproduceCommand, writeReport } from '../src/report/report.js';
import { pretrain } from '../src/simclr/pretrain.js';
import { pretrainDefaults } from '../src/simclr/config.js';
import { openInChromium } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-report-'));

test('confusion matrix: counts by true and predicted class; labels outside the classes are refused', () => {
  assert.deepEqual(confusionMatrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3), [
    [1, 1, 0],
    [0, 1, 0],
    [1, 0, 2],
  ]);
  assert.throws(() => confusionMatrix([0, 3], [0, 0], 3), /label 3 or prediction 0 of item 1 is not a class/);
});

test('nearest neighbours by cosine similarity, most similar first', () => {
  tidy(() => {
    // bank: unit x, unit y, 45° between them, and -x; cosine ignores length
    const bank = tensor([[1, 0], [0, 1], [1, 1], [-3, 0]]);
    const [a, b] = nearestNeighbours(tensor([[2, 0.1], [0, -1]]), bank, 3);
    assert.deepEqual(a!.index, [0, 2, 1]);
    assert.ok(Math.abs(a!.similarity[0]! - 2 / Math.hypot(2, 0.1)) < 1e-6);
    assert.ok(Math.abs(a!.similarity[1]! - (2.1 / Math.hypot(2, 0.1)) / Math.SQRT2) < 1e-6);
    // (0, -1) is orthogonal to x and -x alike: either may come second, after... nothing similar; y is the least similar
    assert.equal(b!.index.includes(1), false);
  });
});

test('PCA: points on a line map onto the first axis', () => {
  tidy(() => {
    // x = t·(3, 4, 0) + tiny noise on the third axis: the first component carries everything
    const rows = [-2, -1, 0, 1, 2].map((t, i) => [3 * t, 4 * t, 0.001 * (i % 2)]);
    const xy = pca2d(tensor(rows));
    const first = [0, 1, 2, 3, 4].map((i) => xy[2 * i]!);
    const sign = Math.sign(first[4]!);
    first.forEach((v, i) => assert.ok(Math.abs(sign * v - 5 * (i - 2)) < 1e-3, `${v}`));
    [0, 1, 2, 3, 4].forEach((i) => assert.ok(Math.abs(xy[2 * i + 1]!) < 1e-2));
  });
});

test('the command that reproduces a run names every option that differs from the defaults', () => {
  const command = reproduceCommand({ ...pretrainDefaults, epochs: 7, lr: 0.01, channelsLast: false, out: 'runs/x', inChannels: 1 });
  assert.equal(command, 'simclr pretrain --epochs 7 --lr 0.01 --no-channels-last --out runs/x');
});

test('a run\'s metrics.jsonl with a line cut short: the line counted and skipped; a corrupt config.json or summary.json named', async () => {
  const run = join(base, 'cut');
  mkdirSync(run);
  writeFileSync(join(run, 'metrics.jsonl'), '{"type":"epoch","epoch":1,"loss":2}\n{"type":"step","globalSt');
  const curves = readCurves(run, 8);
  assert.equal(curves.epochRecords, 1);
  assert.equal(curves.skippedLines, 1);
  writeFileSync(join(run, 'summary.json'), '{"accuracy": {');
  await assert.rejects(buildReport([run]), /cut\/summary\.json: not valid JSON/);
  writeFileSync(join(run, 'config.json'), '{"data": "x');
  await assert.rejects(buildReport([run]), /cut\/config\.json: not valid JSON/);
  await assert.rejects(buildReport([join(base, 'no-run')]), /no-run: no such run folder/);
});

test('the report of a run, opened in headless Chromium: no errors, no network, every point and image there', async (t) => {
  const run = join(base, 'run');
  const result = await pretrain({ ...pretrainDefaults, subset: 512, batchSize: 128, epochs: 2, width: 0.125, knnEvery: 1, threads: 2, out: run }, { log: null, handleSignals: false });
  result.model.dispose();
  const out = await writeReport([run, run], join(base, 'report.html'), { bank: 2000 });
  assert.ok(statSync(out).size < 20 * 2 ** 20);
  const records = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  const stepRecords = records.filter((r) => r.type === 'step').length;
  const epochRecords = records.filter((r) => r.type === 'epoch').length;
  const { page, errors, requests, close } = await openInChromium(out, '"simclrReport" in window');
  try {
    const report = (await page.evaluate('window.simclrReport')) as { charts: { title: string; points: number[] }[]; mapPoints: number; mapClassCounts: number[]; galleryImages: number };
    assert.deepEqual(errors, []);
    assert.deepEqual(requests.filter((u) => !u.startsWith('data:') && u !== `file://${out}`), [], 'nothing fetched');
    assert.equal(report.charts.length, 9, report.charts.map((c) => c.title).join(', '));
    for (const c of report.charts) assert.deepEqual(c.points, [1, 1].map(() => (c.title.startsWith('epoch') || c.title.startsWith('kNN') ? epochRecords : stepRecords)), c.title);
    // 10,000 test images, above --umap-limit (3,000): UMAP of a class-balanced sample of 3,000.
    assert.equal(report.mapPoints, 3000);
    assert.deepEqual(report.mapClassCounts, new Array(10).fill(300));
    assert.match(await page.evaluate("document.getElementById('map-note').textContent"), /^3000 held-out images \(a seeded, class-balanced sample of 10,000\), UMAP of h/);
    // Axis ticks with the digits they need (uPlot's default printed 0.0005 as 0.001).
    assert.deepEqual(await page.evaluate('[0, 0.0005, 0.001, 0.004, 1500, 0.00002].map(simclrReport.tick)'), ['0', '0.0005', '0.001', '0.004', '1,500', '2.0e−5']);
    assert.equal(report.galleryImages, 12 * 9);
    const broken = await page.evaluate('[...document.images].filter((img) => !(img.complete && img.naturalWidth > 0)).length');
    assert.equal(broken, 0);
    const screenshot = join(base, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(statSync(screenshot).size > 10_000);
    t.diagnostic(`screenshot: ${screenshot}`);
  } finally {
    await close();
  }
});

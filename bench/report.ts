// The report on a large run: a 100-epoch metrics.jsonl with a record per step (234 steps an
// epoch, Fashion-MNIST at batch 256) beside a trained encoder, mapped on all 10,000 test images.
// Prints JSON: build time, file size, and the time until the page is interactive in Chromium
// (from navigation to the charts, map and gallery drawn).
//   node dist/bench/report.js [--encoder runs/quickstart] [--dir runs/bench-report]
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { writeReport } from '../src/report/report.js';
import { option, repoRoot } from './common.js';

const source = option('--encoder', join(repoRoot, 'runs', 'quickstart'));
const dir = option('--dir', join(repoRoot, 'runs', 'bench-report'));
if (!existsSync(join(source, 'encoder.safetensors'))) throw new Error(`${source}: no encoder.safetensors (run simclr quickstart first, or give --encoder <run folder>)`);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
for (const f of ['encoder.safetensors', 'split.json', 'summary.json']) if (existsSync(join(source, f))) copyFileSync(join(source, f), join(dir, f));
const epochs = 100;
const stepsPerEpoch = 234;
const config = { ...JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')), epochs, out: dir };
writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
// Plausible curves: a decaying loss with noise, a warm-up + cosine learning rate.
const lines: string[] = [];
let seed = 1;
const noise = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.05;
for (let e = 0; e < epochs; e++) {
  for (let s = 0; s < stepsPerEpoch; s++) {
    const g = e * stepsPerEpoch + s + 1;
    const p = g / (epochs * stepsPerEpoch);
    lines.push(JSON.stringify({ type: 'step', epoch: e + 1, step: s + 1, globalStep: g, loss: 3.5 + 2 * Math.exp(-8 * p) + noise(), accuracy: 0.9 - 0.5 * Math.exp(-8 * p), positiveSimilarity: 0.9, negativeSimilarity: 0.1, lr: p < 0.1 ? (4e-3 * p) / 0.1 : 2e-3 * (1 + Math.cos(Math.PI * p)), viewsPerSecond: 500, dataSeconds: 0.02, time: g }));
  }
  lines.push(JSON.stringify({ type: 'epoch', epoch: e + 1, loss: 3.5 + 2 * Math.exp((-8 * (e + 1)) / epochs), accuracy: 0.8, knnAccuracy: 0.7 + 0.15 * (1 - Math.exp((-5 * (e + 1)) / epochs)) }));
}
writeFileSync(join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n`);

const t0 = performance.now();
const out = await writeReport([dir], join(dir, 'report.html'));
const buildSeconds = (performance.now() - t0) / 1000;

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const t1 = performance.now();
await page.goto(`file://${out}`);
await page.waitForFunction('"simclrReport" in window');
const interactiveSeconds = (performance.now() - t1) / 1000;
const drawn = (await page.evaluate('window.simclrReport')) as { charts: { points: number[] }[]; mapPoints: number };
await browser.close();

console.log(
  JSON.stringify(
    {
      bench: 'report',
      stepRecords: epochs * stepsPerEpoch,
      mapPoints: drawn.mapPoints,
      charts: drawn.charts.length,
      buildSeconds: Math.round(buildSeconds * 10) / 10,
      fileMb: Math.round((statSync(out).size / 2 ** 20) * 10) / 10,
      interactiveSeconds: Math.round(interactiveSeconds * 100) / 100,
      targets: { buildSeconds: 30, fileMb: 20, interactiveSeconds: 2 },
    },
    null,
    2,
  ),
);

// The run report: one self-contained HTML file (scripts, styles, images inline; nothing fetched
// when opened) with the training curves of one or more runs (uPlot), the augmentation grid, a 2-D
// map of the held-out features (of the training images, for unlabelled data), a nearest-neighbour gallery, the evaluation table with the linear
// probe's confusion matrix, the config, the environment and the command that reproduces the run.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { previewGrid } from '../augment/preview.js';
import { classCount, loadFrames, type DataSource } from '../data/source.js';
import { evenlySpaced, labelFraction } from '../data/split.js';
import { openSplits } from '../data/open.js';
import { extractFeatures } from '../eval/features.js';
import { cpuFlags, info } from '../info.js';
import { Random } from '../random.js';
import { loadEncoder, runDataOptions } from '../simclr/encoder-file.js';
import { configAugmentation, pretrainDefaults, type PretrainConfig } from '../simclr/config.js';
import { describeInit } from '../simclr/init.js';
import { cat, tensor } from '../tensor/create.js';
import { centreSquares } from '../augment/geometry.js';
import { Frames } from '../data/frames.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { Task, warning } from '../progress.js';
import { DataError } from '../data/source.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { featureMap } from './analysis.js';
import { escapeHtml } from './chart.js';
import { nearestNeighbours } from '../search/image-index.js';
import { spriteSheet } from '../io/sprite.js';
import { readTransfer, TRANSFER_STYLE, transferTablesHtml } from './transfer-report.js';

export interface ReportOptions {
  /** Map points: the held-out images (all of them up to this many, evenly spaced beyond). */
  mapLimit?: number;
  /** UMAP of at most this many map points: a larger split is mapped by a seeded, class-balanced sample of this size (0: PCA of all). */
  umapLimit?: number;
  /** Training images in the neighbour bank (evenly spaced). */
  bank?: number;
  /** Gallery queries and neighbours per query. */
  queries?: number;
  k?: number;
  seed?: number;
}

interface RunCurves {
  name: string;
  steps: Record<string, number[]>;
  epochs: Record<string, (number | null)[]>;
  stepRecords: number;
  epochRecords: number;
  /** Lines of metrics.jsonl that did not parse (one cut short by a kill), skipped. */
  skippedLines: number;
}

const STEP_SERIES = ['globalStep', 'loss', 'accuracy', 'positiveSimilarity', 'negativeSimilarity', 'lr', 'viewsPerSecond', 'dataShare'] as const;

/** A run's metrics.jsonl as columns (step records and epoch records); `batch` turns views/s into step time. */
export function readCurves(runDir: string, batch: number): RunCurves {
  const file = join(runDir, 'metrics.jsonl');
  const steps: Record<string, number[]> = Object.fromEntries(STEP_SERIES.map((k) => [k, []]));
  const epochs: Record<string, (number | null)[]> = { epoch: [], loss: [], knnAccuracy: [] };
  let stepRecords = 0;
  let epochRecords = 0;
  let skippedLines = 0;
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let r: Record<string, number | string>;
      try {
        r = JSON.parse(line);
      } catch {
        skippedLines++; // (a line cut short by a kill)
        continue;
      }
      if (r.type === 'step') {
        stepRecords++;
        const views = r.viewsPerSecond as number;
        // the step's compute time is 2B / (views/s); the data share is the wait for data over both
        const stepSeconds = views > 0 ? (2 * batch) / views : 0;
        for (const k of STEP_SERIES) {
          if (k === 'dataShare') {
            const data = Number(r.dataSeconds ?? 0);
            steps[k]!.push(data + stepSeconds > 0 ? data / (data + stepSeconds) : 0);
          } else steps[k]!.push(Number(r[k] ?? NaN));
        }
      } else if (r.type === 'epoch') {
        epochRecords++;
        epochs.epoch!.push(Number(r.epoch));
        epochs.loss!.push(Number(r.loss));
        epochs.knnAccuracy!.push(typeof r.knnAccuracy === 'number' ? r.knnAccuracy : null);
      }
    }
  }
  return { name: basename(resolve(runDir)), steps, epochs, stepRecords, epochRecords, skippedLines };
}

/** The flags that rerun a config: every option that differs from the defaults. */
export function reproduceCommand(config: PretrainConfig): string {
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const flags: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (key === 'inChannels' || key === 'out' || !(key in pretrainDefaults)) continue;
    if (value === (pretrainDefaults as unknown as Record<string, unknown>)[key]) continue;
    if (typeof value === 'boolean') flags.push(value ? `--${kebab(key)}` : `--no-${kebab(key)}`);
    else flags.push(`--${kebab(key)} ${/^[\w.\/-]+$/.test(String(value)) ? value : JSON.stringify(value)}`);
  }
  return ['simclr pretrain', ...flags, `--out ${config.out}`].join(' ');
}

const dataUri = (mime: string, bytes: Buffer) => `data:${mime};base64,${bytes.toString('base64')}`;

/** One uint8 image [C, H, W] as a PNG data URI. */
async function imageUri(image: Tensor): Promise<string> {
  const [c, h, w] = image.shape as [number, number, number];
  const hwc = noGrad(() => tidy(() => image.permute([1, 2, 0]).contiguous().toArray() as Uint8Array));
  return dataUri('image/png', await sharp(Buffer.from(hwc.buffer, hwc.byteOffset, hwc.byteLength), { raw: { width: w, height: h, channels: c as 1 | 3 } }).png().toBuffer());
}


interface Gallery {
  query: string;
  label: string;
  neighbours: { image: string; label: string; similarity: number; correct: boolean | null }[];
}

/** The map's hover tiles are at most this many pixels (the tooltip draws them at 84): a sheet of 10,000 224-px images would not fit in a string. */
const MAP_TILE = 64;

/** The mapped images as hover tiles, loaded and shrunk a chunk at a time (uint8 [N, C, tile, tile]). */
async function mapTiles(source: DataSource, indices: Int32Array, size: number): Promise<Tensor> {
  const tile = Math.min(size, MAP_TILE);
  const parts: Tensor[] = [];
  for (let i = 0; i < indices.length; i += 500) {
    const images = await source.load(indices.subarray(i, i + 500));
    if (tile === size) parts.push(images);
    else {
      parts.push(centreSquares(Frames.of(images), tile));
      images.dispose();
    }
  }
  const tiles = cat(parts, 0);
  for (const p of parts) p.dispose();
  return tiles;
}

/** The map, the gallery and the augmentation grid of the first run (what needs its encoder and data). */
async function encoderViews(runDir: string, o: Required<ReportOptions>) {
  const loaded = loadEncoder(runDir);
  const config = loaded.config;
  if (config === null) {
    loaded.encoder.dispose();
    return null;
  }
  const size = loaded.architecture.imageSize || 32;
  const data = await openSplits(config.data, { size, ...runDataOptions(loaded, config.data) });
  try {
    const augmentation = configAugmentation(config, size);
    const sample = await loadFrames(data.train, evenlySpaced(data.train.size, 6));
    const grid = await previewGrid(sample, augmentation, new Random(o.seed), { pairs: 3, zoom: Math.max(1, Math.ceil(96 / size)) });
    sample.dispose();
    const result: { augmentation: string; map: unknown; gallery: Gallery[] | null; heldOut: boolean } = { augmentation: dataUri('image/png', grid), map: null, gallery: null, heldOut: false };
    // The map and the gallery's queries: the labelled held-out images, or else (unlabelled data, no
    // test split) the training images themselves, each query's own image left out of its neighbours.
    const labelled = data.test !== null && data.test.labels !== null && data.train.labels !== null;
    const mapped: DataSource = labelled ? data.test! : data.train;
    result.heldOut = labelled;
    const names = labelled ? (mapped.classNames ?? Array.from({ length: classCount(mapped.labels!, data.train.labels!) }, (_, i) => String(i))) : [];
    // Above --umap-limit, UMAP of a seeded, class-balanced sample of that size (PCA of every image
    // is a blob in which the classes barely separate); --umap-limit 0: PCA of them all.
    const sampled = o.umapLimit > 0 && Math.min(mapped.size, o.mapLimit) > o.umapLimit;
    const mapIndices = !sampled ? evenlySpaced(mapped.size, o.mapLimit) : labelled ? labelFraction(mapped.labels!, o.umapLimit / mapped.size, o.seed) : evenlySpaced(mapped.size, o.umapLimit);
    const held = await extractFeatures(loaded.encoder, mapped, { size, indices: mapIndices, label: `report: ${labelled ? 'held-out' : 'training'} features` });
    const task = new Task('report: the feature map', { unit: 'UMAP epochs' });
    const map = await featureMap(held.features, { umapLimit: sampled ? Infinity : o.umapLimit, seed: o.seed, onEpoch: (e) => task.update(e) });
    task.end(`${map.method}, ${mapIndices.length} points${sampled ? ` (a sample of ${mapped.size})` : ''}`);
    const thumbnails = await mapTiles(mapped, mapIndices, size);
    const sheet = await spriteSheet(thumbnails, Math.ceil(Math.sqrt(mapIndices.length)));
    thumbnails.dispose();
    const queryRows = evenlySpaced(mapIndices.length, o.queries);
    const queryImages = await mapped.load(Int32Array.from(queryRows, (r) => mapIndices[r]!));
    const sprite = { uri: dataUri('image/jpeg', sheet.jpeg), tile: sheet.tile, columns: sheet.columns };
    const bankIndices = evenlySpaced(data.train.size, o.bank);
    const bank = await extractFeatures(loaded.encoder, data.train, { size, indices: bankIndices, label: 'report: neighbour bank' });
    const queries = noGrad(() => tidy(() => held.features.indexSelect(0, tensor(queryRows, { dtype: 'int64' }))));
    const lists = nearestNeighbours(queries, bank.features, labelled ? o.k : o.k + 1);
    queries.dispose();
    const labelOf = (l: number) => names[l] ?? String(l);
    const gallery: Gallery[] = [];
    for (let q = 0; q < queryRows.length; q++) {
      const row = queryRows[q]!;
      const list = lists[q]!.index.map((j, r) => ({ bankRow: j, similarity: lists[q]!.similarity[r]! })).filter((n) => labelled || bankIndices[n.bankRow] !== mapIndices[row]).slice(0, o.k);
      const neighbourImages = await data.train.load(Int32Array.from(list, (n) => bankIndices[n.bankRow]!));
      const neighbours = [];
      for (let j = 0; j < list.length; j++) {
        const bankLabel = labelled ? bank.labels![list[j]!.bankRow]! : null;
        neighbours.push({ image: await imageUri(tidy(() => neighbourImages.select(0, j))), label: bankLabel === null ? '' : labelOf(bankLabel), similarity: list[j]!.similarity, correct: bankLabel === null ? null : bankLabel === held.labels![row] });
      }
      neighbourImages.dispose();
      gallery.push({ query: await imageUri(tidy(() => queryImages.select(0, q))), label: labelled ? labelOf(held.labels![row]!) : '', neighbours });
    }
    queryImages.dispose();
    result.map = {
      method: map.method,
      xy: Array.from(map.xy, (v) => Math.round(v * 1000) / 1000),
      labels: labelled ? Array.from(held.labels!) : new Array<number>(mapIndices.length).fill(0),
      classNames: names,
      heldOut: labelled,
      sampledFrom: sampled ? mapped.size : null,
      sprite,
    };
    result.gallery = gallery;
    held.features.dispose();
    bank.features.dispose();
    return result;
  } finally {
    data.dispose();
    loaded.encoder.dispose();
  }
}

/** A file of the uPlot package, to inline into a page. */
function asset(relative: string): string {
  const root = resolve(createRequire(import.meta.url).resolve('uplot'), '..', '..');
  return readFileSync(join(root, relative), 'utf8');
}

/**
 * A self-contained page (the run's report, the sweep's): the shared styles and uPlot inline, the
 * page's own styles and body, its data as embedded JSON (element `data.id`) and its glue script.
 */
export function htmlPage(p: { title: string; style: string; body: string; data: { id: string; value: unknown }; glue: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(p.title)}</title>
<style>${asset('dist/uPlot.min.css')}
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:16px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}h3{font-size:15px}
table{border-collapse:collapse}td,th{padding:3px 8px;border:1px solid #ddd;text-align:right}th{text-align:left}
${p.style}
</style></head><body>
${p.body}
<script type="application/json" id="${p.data.id}">${JSON.stringify(p.data.value).replace(/</g, '\\u003c')}</script>
<script>${asset('dist/uPlot.iife.min.js')}</script>
<script>${p.glue}</script>
</body></html>
`;
}

interface Summary {
  accuracy?: Record<string, Record<string, number | { mean: number; std: number }>> | null;
  /** Why a run that was not scored has no accuracies (unlabelled data). */
  noAccuracy?: string;
  verdict?: { lines?: string[] };
  confusion?: { classNames: string[]; counts: number[][] };
  pretrainSeconds?: number;
  evalSeconds?: number;
  labelFraction?: number;
}

function evaluationHtml(summary: Summary | null): string {
  if (summary?.noAccuracy !== undefined) return `<p class="none">No accuracy table: ${escapeHtml(summary.noAccuracy)}.</p>`;
  if (summary?.accuracy === undefined || summary.accuracy === null) return '<p class="none">No evaluation in this run folder (simclr quickstart writes one; simclr eval adds eval-*.json).</p>';
  const cell = (v: number | { mean: number; std: number } | undefined) =>
    v === undefined ? '–' : typeof v === 'number' ? `${(100 * v).toFixed(2)}%` : `${(100 * v.mean).toFixed(2)} ± ${(100 * v.std).toFixed(2)}%`;
  const fraction = `${100 * (summary.labelFraction ?? 0.01)}%`;
  const rows = Object.entries(summary.accuracy)
    .map(([name, a]) => `<tr><th>${escapeHtml(name)}</th><td>${cell(a.knn)}</td><td>${cell(a.linear)}</td><td>${cell(a.fewLabelKnn)}</td><td>${cell(a.fewLabelLinear)}</td></tr>`)
    .join('');
  const verdict = summary.verdict?.lines ? `<pre class="verdict">${escapeHtml(summary.verdict.lines.join('\n'))}</pre>` : '';
  let confusion = '';
  if (summary.confusion) {
    const { classNames, counts } = summary.confusion;
    const top = Math.max(1, ...counts.flat());
    const head = `<tr><th>true \\ predicted</th>${classNames.map((n) => `<th class="rot">${escapeHtml(n)}</th>`).join('')}</tr>`;
    const body = counts
      .map((row, t) => `<tr><th>${escapeHtml(classNames[t] ?? String(t))}</th>${row.map((c, p) => `<td class="cm" style="background:rgba(${p === t ? '30,120,60' : '190,40,40'},${(0.08 + (0.92 * c) / top).toFixed(3)})" title="${c}">${c}</td>`).join('')}</tr>`)
      .join('');
    confusion = `<h3>Linear probe (all labels): confusion matrix on the test split</h3><table class="confusion">${head}${body}</table>`;
  }
  return `<table class="eval"><tr><th>features</th><th>kNN, all labels</th><th>linear, all labels</th><th>kNN, ${fraction} of the labels</th><th>linear, ${fraction} of the labels</th></tr>${rows}</table>${verdict}${confusion}`;
}

/** The report of one or more runs (the first run's encoder gives the map, gallery and augmentation grid). */
export async function buildReport(runDirs: readonly string[], options: ReportOptions = {}): Promise<string> {
  if (runDirs.length === 0) throw new Error('report: no run folder given');
  const o: Required<ReportOptions> = { mapLimit: 10_000, umapLimit: 3000, bank: 10_000, queries: 12, k: 8, seed: 0, ...options };
  for (const dir of runDirs) {
    if (!existsSync(dir)) throw new DataError(dir, 'no such run folder');
    if (!existsSync(join(dir, 'metrics.jsonl')) && !existsSync(join(dir, 'config.json'))) throw new DataError(dir, 'not a run folder (no metrics.jsonl or config.json)');
  }
  const runs = runDirs.map((dir) => {
    const config = readJsonFile(join(dir, 'config.json')) as PretrainConfig | null;
    return { dir, curves: readCurves(dir, config?.batchSize ?? pretrainDefaults.batchSize), config, summary: readJsonFile(join(dir, 'summary.json')) as Summary | null };
  });
  for (const r of runs) if (r.curves.skippedLines > 0) warning(`simclr: ${join(r.dir, 'metrics.jsonl')}: skipped ${r.curves.skippedLines} unreadable line(s) (one cut short when a run was killed)`);
  const first = runs[0]!;
  const hasEncoder = existsSync(join(first.dir, 'encoder.safetensors')) || existsSync(join(first.dir, 'checkpoints'));
  const views = hasEncoder ? await encoderViews(first.dir, o) : null;
  const environment = { ...info(), node: process.version, cpu: cpuFlags() };
  const payload = {
    runs: runs.map((r) => ({ name: r.curves.name, steps: r.curves.steps, epochs: r.curves.epochs, stepRecords: r.curves.stepRecords, epochRecords: r.curves.epochRecords })),
    map: views?.map ?? null,
  };
  const configs = runs
    .map((r) => `<h3>${escapeHtml(r.curves.name)}</h3>${r.config ? `<p>Reproduce: <code>${escapeHtml(reproduceCommand(r.config))}</code></p>${r.config.initFrom ? `<p>Continued pretraining: ${escapeHtml(describeInit(r.config.initFrom))}</p>` : ''}<pre>${escapeHtml(JSON.stringify(r.config, null, 2))}</pre>` : '<p class="none">no config.json</p>'}`)
    .join('');
  const timings = first.summary?.pretrainSeconds !== undefined ? `<p>Pretraining ${first.summary.pretrainSeconds} s, evaluation ${first.summary.evalSeconds ?? '–'} s.</p>` : '';
  const gallery = views?.gallery
    ? views.gallery
        .map((g) => `<div class="row"><figure class="query"><img src="${g.query}" alt="query"><figcaption>${escapeHtml(g.label)}</figcaption></figure>${g.neighbours.map((n) => `<figure class="${n.correct === null ? 'plain' : n.correct ? 'ok' : 'bad'}"><img src="${n.image}" alt="neighbour"><figcaption>${escapeHtml(n.label)} ${n.similarity.toFixed(3)}</figcaption></figure>`).join('')}</div>`)
        .join('')
    : '<p class="none">No encoder: no gallery.</p>';
  // (simclr transfer's default folder in the first run: its tables join the report)
  let transfer = null;
  try {
    transfer = readTransfer(join(first.dir, 'transfer'));
  } catch (e) {
    warning(`simclr: ${e instanceof Error ? e.message : String(e)}: the report leaves it out`);
  }
  const title = `SimCLR report: ${runs.map((r) => r.curves.name).join(', ')}`;
  return htmlPage({
    title,
    style: `.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(370px,1fr));gap:12px}
table.confusion td{width:42px;text-align:center}th.rot{font-weight:normal;font-size:12px}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}code{font-size:12px}
.none{color:#777}.gallery .row{display:flex;gap:6px;margin-bottom:6px;align-items:flex-start}
figure{margin:0;text-align:center;font-size:11px}figure img{width:56px;height:56px;image-rendering:pixelated;border:3px solid transparent}
figure.query img{border-color:#333}figure.ok img{border-color:#2a8a3e}figure.bad img{border-color:#c0392b}
#map{border:1px solid #ddd;cursor:crosshair}#tip{position:fixed;pointer-events:none;display:none;background:#fff;border:1px solid #999;padding:4px;font-size:12px}
#tip div{width:84px;height:84px;image-rendering:pixelated}.legend span{display:inline-block;margin-right:12px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
@media print{.charts{grid-template-columns:1fr 1fr}}
${TRANSFER_STYLE}`,
    body: `<h1>${escapeHtml(title)}</h1>
<h2>Evaluation</h2>${evaluationHtml(first.summary)}
${transfer === null ? '' : `<h2>Transfer (simclr transfer, ${escapeHtml(transfer.date.slice(0, 10))})</h2>${transferTablesHtml(transfer, 3)}`}
<h2>Training curves</h2><div class="charts" id="charts"></div>
<h2>Augmentation (T): originals and pairs of views</h2>${views ? `<img src="${views.augmentation}" alt="augmentation grid" style="max-width:100%">` : '<p class="none">No encoder or config: no grid.</p>'}
<h2>Map of the ${views?.heldOut === false ? 'training images\' features h (unlabelled data)' : 'held-out features h'}</h2>${views?.map ? `<p id="map-note"></p><canvas id="map" width="900" height="640"></canvas><div class="legend" id="legend"></div><div id="tip"><div></div><span></span></div>` : '<p class="none">No encoder: no map.</p>'}
<h2>Nearest neighbours (cosine on h): ${views?.heldOut === false ? 'training images as queries, each one\'s own image left out' : 'held-out queries, training images'}</h2><div class="gallery">${gallery}</div>
<h2>Config and environment</h2>${configs}${timings}<pre>${escapeHtml(JSON.stringify(environment, null, 2))}</pre>`,
    data: { id: 'report-data', value: payload },
    glue: GLUE,
  });
}

// The page's glue: charts from the embedded columns (uPlot), the map on a canvas with hover
// thumbnails from the sprite sheet, and window.simclrReport for tests (points per chart and map).
const GLUE = `
(() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const report = { charts: [], mapPoints: 0, galleryImages: document.querySelectorAll('.gallery img').length };
  const charts = document.getElementById('charts');
  function tick(v) {
    if (v === null || v === undefined) return '';
    if (v === 0) return '0';
    const a = Math.abs(v);
    return a >= 1e5 || a < 1e-4 ? v.toExponential(1).replace('e-', 'e−') : a >= 1000 ? v.toLocaleString('en') : String(Number(v.toPrecision(4)));
  }
  function chart(title, kind, field) {
    const runs = data.runs.filter((r) => (kind === 'step' ? r.stepRecords : r.epochRecords) > 0);
    if (runs.length === 0) return;
    const tables = runs.map((r) => kind === 'step' ? [r.steps.globalStep, r.steps[field]] : [r.epochs.epoch, r.epochs[field]]);
    const joined = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const el = document.createElement('div');
    charts.appendChild(el);
    new uPlot({
      title, width: Math.max(300, el.clientWidth), height: 220,
      scales: { x: { time: false } },
      // (uPlot's default rounds to the increment's decimals: 0.0005 showed as 0.001; four significant digits)
      axes: [{ label: kind === 'step' ? 'step' : 'epoch' }, { values: (u, splits) => splits.map(tick), size: 60 }],
      cursor: { drag: { x: true, y: false } },
      series: [{ label: kind }, ...runs.map((r, i) => ({ label: r.name, stroke: colours[i % colours.length], width: 1.5, points: { show: kind === 'epoch' } }))],
    }, joined, el);
    report.charts.push({ title, points: runs.map((r) => (kind === 'step' ? r.steps[field] : r.epochs[field]).length) });
  }
  chart('loss (NT-Xent)', 'step', 'loss');
  chart('contrastive accuracy', 'step', 'accuracy');
  chart('mean positive similarity', 'step', 'positiveSimilarity');
  chart('mean negative similarity', 'step', 'negativeSimilarity');
  chart('learning rate', 'step', 'lr');
  chart('views / s', 'step', 'viewsPerSecond');
  chart('data share of the step time', 'step', 'dataShare');
  chart('epoch loss', 'epoch', 'loss');
  if (data.runs.some((r) => r.epochs.knnAccuracy.some((v) => v !== null))) chart('kNN monitor accuracy', 'epoch', 'knnAccuracy');
  const map = data.map;
  if (map) {
    const canvas = document.getElementById('map');
    const ctx = canvas.getContext('2d');
    const n = map.labels.length;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < n; i++) { const x = map.xy[2 * i], y = map.xy[2 * i + 1]; x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    const pad = 12;
    const px = (i) => pad + ((map.xy[2 * i] - x0) / (x1 - x0 || 1)) * (canvas.width - 2 * pad);
    const py = (i) => pad + ((map.xy[2 * i + 1] - y0) / (y1 - y0 || 1)) * (canvas.height - 2 * pad);
    for (let i = 0; i < n; i++) { ctx.fillStyle = colours[map.labels[i] % colours.length]; ctx.globalAlpha = 0.7; ctx.fillRect(px(i) - 1.5, py(i) - 1.5, 3, 3); }
    report.mapPoints = n;
    report.mapClassCounts = map.classNames.map((_, c) => map.labels.filter((l) => l === c).length);
    const sample = map.sampledFrom ? ' (a seeded' + (map.heldOut ? ', class-balanced' : '') + ' sample of ' + map.sampledFrom.toLocaleString('en') + ')' : '';
    document.getElementById('map-note').textContent = n + (map.heldOut ? ' held-out images' : ' training images (unlabelled)') + sample + ', ' + (map.method === 'umap' ? 'UMAP' : 'PCA (first two components)') + ' of h; hover for the image.';
    document.getElementById('legend').innerHTML = map.classNames.map((c, i) => '<span><i style="background:' + colours[i % colours.length] + '"></i>' + c.replace(/</g, '&lt;') + '</span>').join('');
    const tip = document.getElementById('tip');
    const tile = tip.querySelector('div');
    const scale = 84 / map.sprite.tile;
    tile.style.backgroundImage = 'url(' + map.sprite.uri + ')';
    canvas.addEventListener('mousemove', (e) => {
      const r = canvas.getBoundingClientRect();
      const mx = (e.clientX - r.left) * (canvas.width / r.width), my = (e.clientY - r.top) * (canvas.height / r.height);
      let best = -1, bestD = 64;
      for (let i = 0; i < n; i++) { const d = (px(i) - mx) ** 2 + (py(i) - my) ** 2; if (d < bestD) { bestD = d; best = i; } }
      if (best < 0) { tip.style.display = 'none'; return; }
      const col = best % map.sprite.columns, row = Math.floor(best / map.sprite.columns);
      tile.style.backgroundSize = (map.sprite.columns * 84) + 'px auto';
      tile.style.backgroundPosition = (-col * map.sprite.tile * scale) + 'px ' + (-row * map.sprite.tile * scale) + 'px';
      tip.querySelector('span').textContent = map.classNames[map.labels[best]];
      tip.style.left = (e.clientX + 14) + 'px'; tip.style.top = (e.clientY + 14) + 'px'; tip.style.display = 'block';
    });
    canvas.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
  }
  report.tick = tick;
  window.simclrReport = report;
})();
`;

/** Builds the report of the runs and writes it (default: report.html in the first run folder); returns its path. */
export async function writeReport(runDirs: readonly string[], out = join(runDirs[0] ?? '.', 'report.html'), options: ReportOptions = {}): Promise<string> {
  const task = new Task(`report of ${runDirs.join(', ')}`, {});
  const html = await buildReport(runDirs, options);
  writeFileAtomic(out, [Buffer.from(html)]);
  task.end(`${out}, ${(Buffer.byteLength(html) / 2 ** 20).toFixed(1)} MB`);
  return out;
}

// The sweep's report: one self-contained HTML page from a sweep folder's summary.json — every run's
// settings and scores in a sortable table, the score against the setting (a line chart for one
// axis, a heatmap for two; mean ± spread over seeds), the best setting with its margin to the next
// and whether that margin exceeds the seeds' spread, and the loss curves of all runs overlaid.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../data/source.js';
import { pct } from '../eval/compare.js';
import { meanStd } from '../eval/evaluate.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { Task } from '../progress.js';
import { escapeHtml, settingChart, type ChartSeries } from './chart.js';
import { htmlPage, readCurves } from './report.js';

/** A feature set's columns as a sweep records them (summaryColumns in eval/compare.ts). */
export interface SweepColumns {
  knn: number;
  linear: number;
  fewLabelKnn: { mean: number; std: number };
  fewLabelLinear: { mean: number; std: number };
}

/** A sweep folder's summary.json. */
export interface SweepSummary {
  sweep: string;
  axes: string[];
  labelFraction: number;
  runs: { folder: string; settings: Record<string, unknown>; scores: SweepColumns; zScores?: SweepColumns; baselines: string }[];
  baselines: Record<string, Record<string, SweepColumns>>;
}

/** The columns a sweep reports, each a number per run. */
export const SWEEP_METRICS = {
  linear: (c: SweepColumns) => c.linear,
  knn: (c: SweepColumns) => c.knn,
  fewLabelLinear: (c: SweepColumns) => c.fewLabelLinear.mean,
  fewLabelKnn: (c: SweepColumns) => c.fewLabelKnn.mean,
};
/** One of {@link SWEEP_METRICS}. */
export type SweepMetric = keyof typeof SWEEP_METRICS;

/** The runs of one setting (every axis but the seed): each metric's mean and spread over its seeds, on h, on z and for the baselines. */
export interface SettingScores {
  /** The setting's values, without the seed. */
  settings: Record<string, unknown>;
  label: string;
  seeds: number;
  h: Record<SweepMetric, { mean: number; std: number }>;
  z: Record<SweepMetric, { mean: number; std: number }> | null;
  baselines: Record<string, Record<SweepMetric, { mean: number; std: number }>>;
}

const over = (columns: SweepColumns[]) =>
  Object.fromEntries(Object.entries(SWEEP_METRICS).map(([name, read]) => [name, meanStd(columns.map(read))])) as Record<SweepMetric, { mean: number; std: number }>;

/** Groups a sweep's runs by setting (seeds pooled), in the order of the grid. */
export function settingScores(summary: SweepSummary): SettingScores[] {
  const groups = new Map<string, SweepSummary['runs']>();
  for (const run of summary.runs) {
    const { seed: _seed, ...settings } = run.settings;
    const key = JSON.stringify(settings);
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups.values()].map((runs) => {
    const { seed: _seed, ...settings } = runs[0]!.settings;
    const baselineNames = Object.keys(summary.baselines[runs[0]!.baselines] ?? {});
    return {
      settings,
      label: Object.values(settings).map(String).join(', ') || '(base)',
      seeds: runs.length,
      h: over(runs.map((r) => r.scores)),
      z: runs.every((r) => r.zScores) ? over(runs.map((r) => r.zScores!)) : null,
      baselines: Object.fromEntries(baselineNames.map((name) => [name, over(runs.flatMap((r) => summary.baselines[r.baselines]?.[name] ?? []))])),
    };
  });
}

/** The best setting by `metric` on h, the next one, the margin between them and whether it exceeds the seeds' spread (the sum of the two standard deviations). */
export function bestSetting(settings: readonly SettingScores[], metric: SweepMetric = 'linear') {
  const ranked = [...settings].sort((a, b) => b.h[metric].mean - a.h[metric].mean);
  const [best, next] = [ranked[0]!, ranked[1]];
  if (next === undefined) return { best, next: null, margin: null, spread: null, exceeds: null };
  const margin = best.h[metric].mean - next.h[metric].mean;
  const spread = best.h[metric].std + next.h[metric].std;
  return { best, next, margin, spread, exceeds: best.seeds > 1 && next.seeds > 1 ? margin > spread : null };
}

/** A mean over seeds in percent, with its standard deviation when there was more than one seed. */
export const pm = (s: { mean: number; std: number }, seeds: number) => (seeds > 1 ? `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}` : (100 * s.mean).toFixed(2));

/** The charts of a one-axis sweep: each protocol's score on h (and z) against the setting, the baselines dashed. */
export function sweepCharts(summary: SweepSummary, groups = settingScores(summary)): string[] {
  const axis = summary.axes.filter((a) => a !== 'seed');
  const few = `${100 * summary.labelFraction}% of the labels`;
  const protocols: [SweepMetric, string][] = [['linear', 'linear probe, all labels'], ['knn', 'kNN, all labels'], ['fewLabelLinear', `linear probe, ${few}`], ['fewLabelKnn', `kNN, ${few}`]];
  return protocols.map(([metric, title]) => {
    const series: ChartSeries[] = [{ name: 'h', mean: groups.map((g) => g.h[metric].mean), spread: groups.map((g) => g.h[metric].std) }];
    if (groups.every((g) => g.z)) series.push({ name: 'z', mean: groups.map((g) => g.z![metric].mean), spread: groups.map((g) => g.z![metric].std) });
    for (const name of Object.keys(groups[0]?.baselines ?? {})) series.push({ name, mean: groups.map((g) => g.baselines[name]?.[metric].mean ?? NaN), spread: groups.map(() => 0), dashed: true });
    return settingChart({ title, xLabel: axis.join(', ') || 'setting', categories: groups.map((g) => g.label), series });
  });
}

/** A two-axis sweep's heatmap: the first axis down, the second across, each cell the mean ± spread of `metric` on h. */
function heatmap(summary: SweepSummary, groups: SettingScores[], metric: SweepMetric): string {
  const [rowAxis, colAxis] = summary.axes.filter((a) => a !== 'seed') as [string, string];
  const distinct = (axis: string) => [...new Map(groups.map((g) => [JSON.stringify(g.settings[axis]), g.settings[axis]])).values()];
  const [rows, cols] = [distinct(rowAxis), distinct(colAxis)];
  const values = groups.map((g) => g.h[metric].mean);
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const cell = (r: unknown, c: unknown) => {
    const g = groups.find((x) => x.settings[rowAxis] === r && x.settings[colAxis] === c);
    if (!g) return '<td>–</td>';
    const t = hi > lo ? (g.h[metric].mean - lo) / (hi - lo) : 1;
    return `<td class="heat" style="background:rgba(30,120,200,${(0.08 + 0.72 * t).toFixed(3)})">${pm(g.h[metric], g.seeds)}</td>`;
  };
  return `<table class="heatmap"><tr><th>${escapeHtml(rowAxis)} \\ ${escapeHtml(colAxis)}</th>${cols.map((c) => `<th>${escapeHtml(String(c))}</th>`).join('')}</tr>${rows.map((r) => `<tr><th>${escapeHtml(String(r))}</th>${cols.map((c) => cell(r, c)).join('')}</tr>`).join('')}</table>`;
}

/** The report page of the sweep in `folder` (its summary.json and run folders). */
export function buildSweepReport(folder: string): string {
  const file = join(folder, 'summary.json');
  const summary = readJsonFile(file) as SweepSummary | null;
  if (summary === null || !Array.isArray(summary.runs) || !Array.isArray(summary.axes)) throw new DataError(file, 'not a sweep\'s summary (simclr sweep writes it)');
  const groups = settingScores(summary);
  const axes = summary.axes.filter((a) => a !== 'seed');
  const few = `${100 * summary.labelFraction}%`;
  const hasZ = summary.runs.every((r) => r.zScores);
  const columns = (c: SweepColumns) => [pct(c.knn), pct(c.linear), pct(c.fewLabelKnn.mean), pct(c.fewLabelLinear.mean)].map((v) => `<td>${v}</td>`).join('');
  const scoreHeads = (on: string) => ['kNN', 'linear', `kNN ${few}`, `linear ${few}`].map((h) => `<th>${h} (${on})</th>`).join('');
  const table = `<table class="runs sortable"><thead><tr><th>run</th>${summary.axes.map((a) => `<th>${escapeHtml(a)}</th>`).join('')}${scoreHeads('h')}${hasZ ? scoreHeads('z') : ''}</tr></thead><tbody>${summary.runs
    .map((r) => `<tr><td class="name">${escapeHtml(r.folder)}</td>${summary.axes.map((a) => `<td>${escapeHtml(String(r.settings[a]))}</td>`).join('')}${columns(r.scores)}${hasZ ? columns(r.zScores!) : ''}</tr>`)
    .join('')}</tbody></table>`;
  const b = bestSetting(groups);
  const best =
    b.next === null
      ? `<p>One setting: ${escapeHtml(b.best.label)}, linear probe ${pm(b.best.h.linear, b.best.seeds)}%.</p>`
      : `<p class="best">Best setting by the linear probe on h (all labels): <b>${escapeHtml(b.best.label)}</b>, ${pm(b.best.h.linear, b.best.seeds)}%; the next, ${escapeHtml(b.next.label)}, ${pm(b.next.h.linear, b.next.seeds)}%. Margin ${(100 * b.margin!).toFixed(2)} points, ${
          b.exceeds === null ? 'with one seed per setting: no spread to compare it with (add seeds: to the sweep file)' : b.exceeds ? `beyond the seeds' spread (${(100 * b.spread!).toFixed(2)} points, the two standard deviations summed)` : `within the seeds' spread (${(100 * b.spread!).toFixed(2)} points, the two standard deviations summed): not resolved`
        }.</p>`;
  const settingTable = `<table class="settings"><tr><th>setting (${escapeHtml(axes.join(', ') || 'base')})</th><th>seeds</th>${['kNN', 'linear', `kNN ${few}`, `linear ${few}`].map((h) => `<th>${h} (h)</th>`).join('')}${hasZ ? '<th>kNN (z)</th><th>linear (z)</th>' : ''}</tr>${groups
    .map((g) => `<tr><th>${escapeHtml(g.label)}</th><td>${g.seeds}</td>${(['knn', 'linear', 'fewLabelKnn', 'fewLabelLinear'] as const).map((m) => `<td>${pm(g.h[m], g.seeds)}</td>`).join('')}${g.z ? `<td>${pm(g.z.knn, g.seeds)}</td><td>${pm(g.z.linear, g.seeds)}</td>` : ''}</tr>`)
    .join('')}</table>`;
  const charts =
    axes.length === 1
      ? `<div class="charts">${sweepCharts(summary, groups).join('')}</div>`
      : axes.length === 2
        ? `<h3>Linear probe on h, all labels</h3>${heatmap(summary, groups, 'linear')}<h3>kNN on h, all labels</h3>${heatmap(summary, groups, 'knn')}`
        : `<p class="none">A grid of ${axes.length} axes: no chart (one axis gives a line chart, two a heatmap); the tables hold every score.</p>`;
  const curves = summary.runs.filter((r) => existsSync(join(folder, r.folder, 'metrics.jsonl'))).map((r) => {
    const c = readCurves(join(folder, r.folder), 0);
    return { name: r.folder, step: c.steps.globalStep, loss: c.steps.loss };
  });
  const title = `SimCLR sweep: ${summary.sweep}`;
  return htmlPage({
    title,
    style: `table{margin-bottom:12px}td.name{text-align:left}
table.sortable th{cursor:pointer;user-select:none}table.sortable th.asc::after{content:' ▲'}table.sortable th.desc::after{content:' ▼'}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}.charts svg{max-width:100%;height:auto}.none{color:#777}.best{font-size:15px}`,
    body: `<h1>${escapeHtml(title)}</h1>
<h2>Best setting</h2>${best}
<h2>Score against the setting (mean ± standard deviation over seeds)</h2>${charts}${settingTable}
<h2>Every run (click a column to sort)</h2>${table}
<h2>Loss curves of every run</h2><div id="curves"></div>`,
    data: { id: 'sweep-data', value: { curves } },
    glue: GLUE,
  });
}

// The page's glue: sorting the runs table by a clicked column, the overlaid loss curves (uPlot),
// and window.simclrSweep for tests (rows, charts drawn, curves).
const GLUE = `
(() => {
  const data = JSON.parse(document.getElementById('sweep-data').textContent);
  const table = document.querySelector('table.runs');
  table.querySelectorAll('th').forEach((th, column) => th.addEventListener('click', () => {
    const ascending = !th.classList.contains('asc');
    table.querySelectorAll('th').forEach((h) => h.classList.remove('asc', 'desc'));
    th.classList.add(ascending ? 'asc' : 'desc');
    const key = (row) => { const t = row.children[column].textContent; const v = parseFloat(t); return Number.isNaN(v) ? t : v; };
    const rows = [...table.tBodies[0].rows].sort((a, b) => { const [x, y] = [key(a), key(b)]; return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1); });
    for (const row of rows) table.tBodies[0].appendChild(row);
  }));
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const el = document.getElementById('curves');
  const runs = data.curves.filter((c) => c.step.length > 0);
  if (runs.length > 0) {
    new uPlot({
      title: 'loss (NT-Xent) per step', width: Math.max(400, el.clientWidth), height: 360, scales: { x: { time: false } },
      axes: [{ label: 'step' }, { size: 60 }],
      series: [{ label: 'step' }, ...runs.map((r, i) => ({ label: r.name, stroke: colours[i % colours.length], width: 1.2 }))],
    }, runs.length === 1 ? [runs[0].step, runs[0].loss] : uPlot.join(runs.map((r) => [r.step, r.loss])), el);
  }
  window.simclrSweep = {
    rows: table.tBodies[0].rows.length,
    charts: document.querySelectorAll('svg.setting-chart').length,
    chartPoints: [...document.querySelectorAll('svg.setting-chart')].map((s) => s.querySelectorAll('circle').length),
    heatmapCells: document.querySelectorAll('td.heat').length,
    curves: runs.length,
  };
})();
`;

/** Whether `folder` holds a sweep (simclr sweep's summary.json, with its axes) rather than one run. */
export function isSweepFolder(folder: string): boolean {
  const file = join(folder, 'summary.json');
  return existsSync(file) && !existsSync(join(folder, 'config.json')) && Array.isArray((readJsonFile(file) as { axes?: unknown } | null)?.axes);
}

/** Writes the sweep's report (atomically; default: report.html in its folder) and returns its path. */
export function writeSweepReport(folder: string, out = join(folder, 'report.html')): string {
  const task = new Task(`report of the sweep ${folder}`, {});
  const html = buildSweepReport(folder);
  writeFileAtomic(out, [Buffer.from(html)]);
  task.end(`${out}, ${(Buffer.byteLength(html) / 2 ** 20).toFixed(1)} MB`);
  return out;
}

// A score against a setting, as a self-contained SVG line chart: one line per series, each point a
// mean with a bar of ± its spread (over seeds), dashed lines for baselines. Drawn on the server so
// that the sweep report and the README's charts (bench/ablations.ts) are the same picture.

/** One line of a {@link settingChart}: a value per category, with its spread. */
export interface ChartSeries {
  name: string;
  mean: number[];
  /** ± this around each mean (0: no bar). */
  spread: number[];
  /** Drawn dashed, without bars (a baseline). */
  dashed?: boolean;
}

/** What {@link settingChart} draws. */
export interface SettingChart {
  title: string;
  /** The setting's name (x axis) and its values, evenly spaced in order. */
  xLabel: string;
  categories: string[];
  series: ChartSeries[];
  /** Values are fractions shown as percentages (default true). */
  percent?: boolean;
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f'];
/** Text made safe inside HTML or SVG markup and attributes. */
export const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Tick values at a round step covering [lo, hi]: about five of them. */
function ticks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5 || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** The chart as an SVG element (a string that stands alone as an .svg file too). */
export function settingChart(c: SettingChart): string {
  const left = 56, right = 150, top = 28, bottom = 44;
  // (room for each category's label; a line joins the points only where the setting is a number, an order)
  const { width = Math.max(560, left + right + 100 * c.categories.length), height = 300, percent = true } = c;
  const ordered = c.categories.every((v) => v.trim() !== '' && Number.isFinite(Number(v)));
  const values = c.series.flatMap((s) => s.mean.flatMap((m, i) => (Number.isFinite(m) ? [m - s.spread[i]!, m + s.spread[i]!] : [])));
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!(hi > lo)) [lo, hi] = [lo - 0.01, hi + 0.01];
  const pad = (hi - lo) * 0.08;
  [lo, hi] = [lo - pad, hi + pad];
  const plotW = width - left - right, plotH = height - top - bottom;
  const x = (i: number) => left + ((i + 0.5) / c.categories.length) * plotW;
  const y = (v: number) => top + (1 - (v - lo) / (hi - lo)) * plotH;
  const label = (v: number) => (percent ? `${Number((100 * v).toPrecision(4))}%` : String(Number(v.toPrecision(4))));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui,sans-serif" font-size="11" class="setting-chart">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="16" font-size="13" font-weight="600">${escapeHtml(c.title)}</text>`,
  ];
  for (const t of ticks(lo, hi)) {
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#555">${label(t)}</text>`);
  }
  c.categories.forEach((name, i) => parts.push(`<text x="${x(i).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" fill="#333">${escapeHtml(name)}</text>`));
  parts.push(`<text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle" fill="#333">${escapeHtml(c.xLabel)}</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  c.series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length]!;
    const points = s.mean.map((m, i) => [i, m] as const).filter(([, m]) => Number.isFinite(m));
    const path = points.map(([i, m], j) => `${j === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(m).toFixed(1)}`).join('');
    if (ordered || s.dashed) parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="${s.dashed ? 1.2 : 2}"${s.dashed ? ' stroke-dasharray="5 4"' : ''} class="series"/>`);
    for (const [i, m] of points) {
      const e = s.spread[i]!;
      if (!s.dashed && e > 0) parts.push(`<path d="M${x(i).toFixed(1)},${y(m - e).toFixed(1)}V${y(m + e).toFixed(1)}M${(x(i) - 4).toFixed(1)},${y(m - e).toFixed(1)}h8M${(x(i) - 4).toFixed(1)},${y(m + e).toFixed(1)}h8" stroke="${colour}"/>`);
      if (!s.dashed) parts.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(m).toFixed(1)}" r="${ordered ? 3 : 4}" fill="${colour}"><title>${escapeHtml(`${s.name}, ${c.categories[i]}: ${label(m)}${e > 0 ? ` ± ${label(e)}` : ''}`)}</title></circle>`);
    }
    const ly = top + 8 + 16 * k;
    parts.push(`<line x1="${left + plotW + 10}" x2="${left + plotW + 28}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    parts.push(`<text x="${left + plotW + 32}" y="${ly + 4}" fill="#333">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

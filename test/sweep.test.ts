// simclr sweep: every combination once, each in its own folder with its settings; stopped and started again it
// finishes with the same table and trains no run twice; a malformed file is refused, naming its line, before anything runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { colourFolder, openInChromium, repoRoot } from './helpers.js';

const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const base = mkdtempSync(join(tmpdir(), 'simclr-sweep-'));
const data = join(base, 'images');
const sweepFile = join(base, 'grid.yaml');
const grid = (extra = '') => `base:\n  data: ${data}\n  epochs: 2\n  batchSize: 8\n  precision: fp32\n  knnEvery: 0\n  threads: 1\n${extra}grid:\n  temperature: [0.2, 0.5]\n  lr: [0.002, 0.008]\n`;
const sweep = (file: string, out: string) => spawnSync(process.execPath, [cli, 'sweep', file, '--out', out, '--draws', '1', '--quiet'], { encoding: 'utf8' });
interface Summary {
  runs: { folder: string; settings: Record<string, unknown>; scores: unknown }[];
}

test.before(async () => {
  await colourFolder(data, 8, 32);
  writeFileSync(sweepFile, grid());
});

test('a malformed sweep file is refused before anything runs, naming the file and the line', () => {
  const cases: [string, RegExp][] = [
    [grid().replace('temperature:', 'tempreature:'), /line 9: unknown option 'tempreature'/],
    [grid().replace('[0.2, 0.5]', '[0.2, -1]'), /line 9: 'temperature' must be positive \(got -1\)/],
    [grid().replace('lr: [0.002, 0.008]', 'lr: []'), /line 10: 'lr' needs a non-empty list of values/],
    [grid().replace('  epochs: 2', '  epochs: two'), /line 3: 'epochs' must be an integer/],
    [grid().replace('grid:\n  temperature: [0.2, 0.5]\n  lr: [0.002, 0.008]\n', ''), /grid: must map at least one option/],
    [`${grid()}sedds: [1, 2]\n`, /line 11: unknown section 'sedds'/],
  ];
  for (const [text, message] of cases) {
    const file = join(base, 'bad.yaml');
    writeFileSync(file, text);
    const out = join(base, 'refused');
    const r = sweep(file, out);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^simclr: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${message.source}`), r.stderr);
    assert.equal(existsSync(out), false, 'nothing may run');
  }
});

test('a two-axis sweep runs every combination once, in its own folder with its settings; killed and restarted, it ends with the same table', { timeout: 600_000 }, async () => {
  const whole = join(base, 'whole');
  const r = sweep(sweepFile, whole);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(readFileSync(join(whole, 'summary.json'), 'utf8')) as Summary;
  const expected = [0.2, 0.5].flatMap((temperature) => [0.002, 0.008].map((lr) => ({ temperature, lr })));
  assert.deepEqual(summary.runs.map((run) => run.settings), expected);
  for (const [i, run] of summary.runs.entries()) {
    const config = JSON.parse(readFileSync(join(whole, run.folder, 'config.json'), 'utf8'));
    assert.equal(config.temperature, expected[i]!.temperature);
    assert.equal(config.lr, expected[i]!.lr);
  }
  assert.equal(new Set(summary.runs.map((run) => JSON.stringify(run.scores))).size > 1, true, 'the settings change the scores');

  // The same sweep, killed once its second run has begun, then started again.
  const cut = join(base, 'cut');
  const child = spawn(process.execPath, [cli, 'sweep', sweepFile, '--out', cut, '--draws', '1', '--quiet'], { stdio: 'ignore' });
  const first = join(cut, summary.runs[0]!.folder, 'summary.json');
  const second = join(cut, summary.runs[1]!.folder, 'metrics.jsonl');
  while (!(existsSync(first) && existsSync(second))) {
    assert.equal(child.exitCode, null, 'the sweep ended before it was killed');
    await new Promise((ok) => setTimeout(ok, 100));
  }
  child.kill('SIGKILL');
  await new Promise((ok) => child.once('exit', ok));
  const firstTime = statSync(first).mtimeMs;
  const again = sweep(sweepFile, cut);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /^sweep: 4 runs \(3 trained now\)/);
  assert.equal(statSync(first).mtimeMs, firstTime, 'the finished run was not trained again');
  const resumed = JSON.parse(readFileSync(join(cut, 'summary.json'), 'utf8')) as Summary;
  assert.deepEqual(resumed.runs, summary.runs);
  assert.deepEqual(readdirSync(cut).sort(), [...summary.runs.map((run) => run.folder), 'baselines.json', 'report.html', 'summary.json'].sort());
});

test('--parallel 2 runs two combinations at once, each in its own process, and gives the table of one at a time; --probe-z scores z beside h', { timeout: 600_000 }, async () => {
  const file = join(base, 'heads.yaml');
  writeFileSync(file, grid().replace(/grid:[^]*$/, 'grid:\n  head: [none, v1]\n  temperature: [0.2, 0.5]\n'));
  const run = (out: string, ...extra: string[]) => spawnSync(process.execPath, [cli, 'sweep', file, '--out', out, '--draws', '1', '--probe-z', ...extra], { encoding: 'utf8' });
  const together = run(join(base, 'parallel'), '--parallel', '2');
  assert.equal(together.status, 0, together.stderr);
  assert.match(together.stderr, /sweep: run 4 of 4/);
  const alone = run(join(base, 'sequential'));
  assert.equal(alone.status, 0, alone.stderr);
  const read = (out: string) => JSON.parse(readFileSync(join(base, out, 'summary.json'), 'utf8')) as Summary & { runs: { zScores: unknown }[] };
  const [a, b] = [read('parallel'), read('sequential')];
  assert.deepEqual(a.runs, b.runs);
  const page = await openReport(join(base, 'parallel', 'report.html'));
  assert.deepEqual(page, { rows: 4, charts: 0, chartPoints: [], heatmapCells: 8, curves: 4, best: page.best }, 'a two-axis grid: two heatmaps of 2 × 2');
  for (const r of a.runs) {
    // (head none: z is h, so its scores are h's; the v1 head's z is another space)
    if (r.settings.head === 'none') assert.deepEqual(r.zScores, r.scores);
    else assert.notDeepEqual(r.zScores, r.scores);
  }
});

test('a one-axis sweep over seeds: its report charts each protocol against the setting, mean ± spread, and names the best setting', { timeout: 600_000 }, async () => {
  const file = join(base, 'seeds.yaml');
  writeFileSync(file, grid().replace(/grid:[^]*$/, 'grid:\n  temperature: [0.2, 0.5]\nseeds: [1, 2]\n'));
  const out = join(base, 'seeds');
  const r = spawnSync(process.execPath, [cli, 'sweep', file, '--out', out, '--draws', '1', '--parallel', '2', '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { runs: { settings: { temperature: number }; scores: { linear: number } }[] };
  const page = await openReport(join(out, 'report.html'));
  // 4 charts (linear, kNN, both few-label), each with 2 points of h (the baselines are dashed lines without points)
  assert.deepEqual({ ...page, best: '' }, { rows: 4, charts: 4, chartPoints: [2, 2, 2, 2], heatmapCells: 0, curves: 4, best: '' });
  // The best setting by hand: the higher mean of the linear probe over the two seeds.
  const mean = (t: number) => summary.runs.filter((x) => x.settings.temperature === t).reduce((a, x) => a + x.scores.linear / 2, 0);
  const best = mean(0.2) >= mean(0.5) ? 0.2 : 0.5;
  assert.match(page.best, new RegExp(`^Best setting by the linear probe on h \\(all labels\\): ${best}, ${(100 * mean(best)).toFixed(2)} ± `));
  assert.match(page.best, /Margin \d+\.\d\d points, (beyond|within) the seeds' spread/);
});

/** Opens a sweep report in headless Chromium: no console error, nothing fetched; what it drew, and its best-setting line. */
async function openReport(file: string) {
  const { page, errors, requests, close } = await openInChromium(file, '"simclrSweep" in window');
  try {
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [`file://${file}`], 'nothing fetched beyond the file');
    // (sorting by a score column puts the rows in that column's order)
    await page.click('table.runs th:nth-child(5)');
    const sorted = (await page.evaluate("[...document.querySelectorAll('table.runs tbody tr')].map((r) => parseFloat(r.children[4].textContent))")) as number[];
    assert.deepEqual(sorted, [...sorted].sort((x, y) => x - y));
    const drawn = (await page.evaluate('window.simclrSweep')) as { rows: number; charts: number; chartPoints: number[]; heatmapCells: number; curves: number };
    const best = (await page.evaluate("document.querySelector('.best')?.textContent ?? ''")) as string;
    return { ...drawn, best };
  } finally {
    await close();
  }
}

// simclr sweep: every combination once, each in its own folder with its settings; stopped and started again it
// finishes with the same table and trains no run twice; a malformed file is refused, naming its line, before anything runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { colourFolder, repoRoot } from './helpers.js';

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
  assert.deepEqual(readdirSync(cut).sort(), [...summary.runs.map((run) => run.folder), 'baselines.json', 'summary.json'].sort());
});

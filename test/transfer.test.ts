// simclr transfer: three encoders (one pretrained on a colour folder, one from scratch on a gray IDX
// set, one continued there from the first) scored on both data sets. Each row must be what `simclr
// eval` gives for that encoder on that data (the colour encoder on gray images: eval of a 1-channel
// encoder file whose conv1 this test sums by hand), each row must say what it is to the data set,
// and the baselines must be eval's --baseline ones. A missing data set is refused before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSafetensors, saveSafetensors, tidy } from '../src/index.js';
import { pretrainFlags, resolveConfig } from '../src/cli/pretrain-flags.js';
import type { PretrainConfig } from '../src/simclr/config.js';
import { pretrain } from '../src/simclr/pretrain.js';
import { architectureMetadata } from '../src/simclr/encoder-file.js';
import { transferLines, type TransferResult, type TransferRow } from '../src/eval/transfer.js';
import { colourFolder, repoRoot } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-transfer-'));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const env = { ...process.env, XDG_CACHE_HOME: join(base, 'cache') };

/** An IDX file: its header (unsigned bytes, `dims`) and data. */
function idxFile(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt8(0x08, 2);
  head.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/** A gray labelled IDX set with a t10k test pair: three classes, a faint square near a class-given corner in noise. */
function grayIdx(dir: string): string {
  mkdirSync(dir, { recursive: true });
  let seed = 11;
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const write = (prefix: string, n: number) => {
    const side = 16;
    const pixels = new Uint8Array(n * side * side);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3;
      // (a faint square, jittered, in heavy noise: a task no feature set solves perfectly)
      const [x0, y0] = [[0, 0], [8, 0], [4, 8]][i % 3]!.map((v) => v + Math.floor(next() * 4)) as [number, number];
      for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) pixels[i * side * side + y * side + x] = Math.floor(next() * 200) + (x >= x0 && x < x0 + 6 && y >= y0 && y < y0 + 6 ? 55 : 0);
    }
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzipSync(idxFile([n, side, side], pixels)));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idxFile([n], labels)));
  };
  write('train', 60);
  write('t10k', 30);
  return join(dir, 'train-images-idx3-ubyte.gz');
}

function config(data: string, out: string, overrides: Partial<PretrainConfig> = {}): PretrainConfig {
  const defaults = resolveConfig(Object.fromEntries(Object.entries(pretrainFlags).map(([k, v]) => [k, v.default])), new Set());
  return { ...defaults, data, imageSize: 16, batchSize: 24, epochs: 1, width: 0.0625, cifarStem: true, blur: 0, knnEvery: 0, threads: 2, precision: 'fp32', out, ...overrides };
}

// (libtorch computes every feature: auto's measurement of both engines would only add time here)
const simclr = (...args: string[]) => spawnSync(process.execPath, [cli, ...args, '--quiet'], { encoding: 'utf8', env });
/** `simclr eval`'s result (with a baseline cache of its own: its baselines are computed, not the ones transfer cached). */
function evaluate(...args: string[]): { accuracy: number; accuracies?: number[] } {
  const r = spawnSync(process.execPath, [cli, 'eval', ...args, '--engine', 'libtorch', '--out', join(base, 'eval.json'), '--quiet'], { encoding: 'utf8', env: { ...env, XDG_CACHE_HOME: join(base, 'eval-cache') } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('transfer: every row is eval\'s score of that encoder on that data, says what it is there, with eval\'s baselines; a colour encoder summed to gray', async () => {
  const colour = join(base, 'colour');
  await colourFolder(colour, 20, 16);
  const gray = grayIdx(join(base, 'gray'));
  const [a, scratch, continued] = [join(base, 'a'), join(base, 'scratch'), join(base, 'continued')];
  for (const [data, out, extra] of [[colour, a, {}], [gray, scratch, {}], [gray, continued, { init: a }]] as const) {
    (await pretrain(config(data, out, extra), { log: null, handleSignals: false })).model.dispose();
  }
  const out = join(base, 'transfer');
  const r = simclr('transfer', a, continued, scratch, '--data', `${colour}/,${gray}`, '--label-fraction', '0.2', '--draws', '2', '--engine', 'libtorch', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(readFileSync(join(out, 'transfer.json'), 'utf8')) as TransferResult;
  // (the colour folder spelled with a trailing slash: still the data `a` was pretrained on)
  assert.deepEqual(result.tables.map((t) => [t.data, t.channels]), [[`${colour}/`, 3], [gray, 1]]);
  const [onColour, onGray] = result.tables as [TransferResult['tables'][0], TransferResult['tables'][0]];
  assert.deepEqual(onColour.rows.map((row) => [row.name, row.role]), [[a, 'from scratch'], [continued, 'transferred'], [scratch, 'transferred'], ['random-init encoder', 'random-init encoder'], ['raw pixels', 'raw pixels']]);
  assert.deepEqual(onGray.rows.map((row) => [row.name, row.role]), [[a, 'transferred'], [continued, 'continued'], [scratch, 'from scratch'], ['random-init encoder', 'random-init encoder'], ['raw pixels', 'raw pixels']]);
  assert.equal(onGray.rows[1]!.initFrom, a);
  assert.match(onGray.rows[0]!.adapted!, /from 3 input channels to 1: its weights summed/);
  assert.match(onColour.rows[1]!.adapted!, /from 1 input channel to 3/);

  // The colour encoder on gray images: eval of a 1-channel copy whose conv1 is summed over its input channels here.
  const { tensors } = loadSafetensors(join(a, 'encoder.safetensors'));
  const summed = join(base, 'a-gray.safetensors');
  const conv1 = tensors.get('conv1.weight')!;
  tensors.set('conv1.weight', tidy(() => conv1.sum(1, true).contiguous()));
  conv1.dispose();
  saveSafetensors(summed, tensors, architectureMetadata({ depth: 18, cifarStem: true, width: 0.0625, inChannels: 1, imageSize: 16 }));
  for (const t of tensors.values()) t.dispose();
  const row = (t: typeof onGray, i: number) => t.rows[i]!.scores;
  assert.equal(row(onGray, 0).knn.accuracy, evaluate('--checkpoint', summed, '--data', gray).accuracy);
  assert.equal(row(onGray, 0).linear.accuracy, evaluate('--checkpoint', summed, '--data', gray, '--protocol', 'linear').accuracy);
  // Rows without adaptation, the few-label draws and the baselines.
  assert.equal(row(onGray, 1).knn.accuracy, evaluate('--checkpoint', continued, '--data', gray).accuracy);
  const few = evaluate('--checkpoint', a, '--data', colour, '--protocol', 'linear', '--fraction', '0.2', '--draws', '2');
  assert.deepEqual([row(onColour, 0).fewLinear.accuracy, row(onColour, 0).fewLinear.accuracies], [few.accuracy, few.accuracies]);
  assert.equal(row(onGray, 3).knn.accuracy, evaluate('--checkpoint', scratch, '--data', gray, '--baseline', 'random').accuracy);
  assert.equal(row(onColour, 4).linear.accuracy, evaluate('--checkpoint', a, '--data', colour, '--baseline', 'pixels', '--protocol', 'linear').accuracy);

  // The table, the lines and the report; `simclr report` on the folder writes it again.
  const markdown = readFileSync(join(out, 'transfer.md'), 'utf8');
  assert.match(markdown, new RegExp(`\\| ${continued} \\| continued here from ${a}, 1 epoch \\|`));
  assert.ok(onGray.lines.some((l) => l.startsWith(`${continued} (continued): vs from scratch (${scratch}, 1 epoch): kNN `)), onGray.lines.join('\n'));
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.equal(html.match(/<tr class="/g)?.length, 10);
  const again = simclr('report', out, '--out', join(base, 'again.html'));
  assert.equal(again.status, 0, again.stderr);
  assert.equal(readFileSync(join(base, 'again.html'), 'utf8'), html);
});

test('transfer: a missing data set or encoder is refused by name before any work; no --data is a usage error', () => {
  const out = join(base, 'refused');
  const missing = simclr('transfer', join(base, 'a'), '--data', `${join(base, 'colour')},/nonexistent/data`, '--out', out);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /\/nonexistent\/data: no such data/);
  assert.ok(!existsSync(out));
  const noEncoder = simclr('transfer', join(base, 'nothing'), '--data', join(base, 'colour'), '--out', out);
  assert.match(noEncoder.stderr, /nothing: no such run folder, checkpoint or encoder file/);
  const noData = simclr('transfer', join(base, 'a'));
  assert.equal(noData.status, 2);
  assert.match(noData.stderr, /--data names the labelled data sets/);
});

test('transfer: each encoder is set against the from-scratch encoder of as many epochs, and the stronger baseline, paired over the draws', () => {
  const result = (protocol: 'knn' | 'linear', accuracies: number[]) => ({ protocol, accuracy: accuracies.reduce((a, b) => a + b) / accuracies.length, std: 0, accuracies, fraction: 1, trainImages: 100 });
  const scores = (all: number, few: [number, number]) => ({ knn: result('knn', [all]), linear: result('linear', [all]), fewKnn: result('knn', few), fewLinear: result('linear', few) });
  const row = (name: string, role: TransferRow['role'], epochs: number | null, all: number, few: [number, number]): TransferRow => ({ name, role, pretrainedOn: null, initFrom: null, epochs, size: 32, adapted: null, scores: scores(all, few), cached: false });
  const lines = transferLines(
    [
      row('continued', 'continued', 5, 0.5, [0.4, 0.3]),
      row('scratch-5', 'from scratch', 5, 0.4, [0.35, 0.3]),
      row('scratch-25', 'from scratch', 25, 0.6, [0.5, 0.5]),
      row('random-init encoder', 'random-init encoder', null, 0.3, [0.2, 0.2]),
      row('raw pixels', 'raw pixels', null, 0.35, [0.1, 0.3]),
    ],
    0.01,
  );
  // against scratch-5: +10 points with all labels; the draws' differences 0.05 and 0: +2.50 ± 3.54 (√((0.025² · 2) / 1))
  assert.equal(lines[0], 'continued (continued): vs from scratch (scratch-5, 5 epochs): kNN +10.00, linear +10.00, kNN 1% +2.50 ± 3.54 (within the spread), linear 1% +2.50 ± 3.54 (within the spread); vs the stronger baseline: kNN +15.00, linear +15.00, kNN 1% +15.00 ± 7.07, linear 1% +15.00 ± 7.07 points');
  assert.equal(lines.length, 3);
});

// The photo recipe chosen by measurement: on a labelled photo folder, SimCLR at several view sizes
// and stems (32 px with the CIFAR stem; 64, 96 and 128 px with the ImageNet stem) trained for equal
// wall-clock budgets on this machine, each scored on the held-out photos as the main job scores —
// kNN and the linear probe, all labels and 1% of them (3 draws) — and by what a user of `simclr
// similar` sees: the share of each held-out photo's 8 nearest training photos that show its class.
// A budget becomes epochs through each recipe's measured time per epoch (a two-epoch calibration
// run, its steps after the third timed, data pipeline included; kept in calibration.json), so the
// trainings themselves can run on a busy machine. Each training is a full warm-up + cosine schedule
// of that many epochs, one at a time with the machine's threads, --precision auto.
// --epochs N trains every recipe for N epochs instead (no calibration): with --source-scale, what the
// frames' resolution gives at equal training.
//   node dist/bench/photo-curve.js --data <folder> [--recipes cifar32,in64,in96,in128] [--budgets 10,30 | --epochs N]
//        [--dir runs/photo-curve] [--seed 0] [--source-scale 3.5] [--skip-train]
// Prints JSON (every run's settings and scores, the baselines per recipe) and a Markdown table.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openEvalData } from '../src/eval/evaluate.js';
import { openSource } from '../src/data/open.js';
import { FrameSource } from '../src/data/source.js';
import { baselineScores, encoderFeatures, scoreFeatures } from '../src/eval/compare.js';
import { extractFeatures } from '../src/eval/features.js';
import type { Column, Scores } from '../src/eval/verdict.js';
import { nearestNeighbours } from '../src/search/image-index.js';
import { loadEncoder, randomEncoder } from '../src/simclr/encoder-file.js';
import type { Module } from '../src/nn/module.js';
import { setProgressOutput, streamOutput } from '../src/progress.js';
import { cpuFlags } from '../src/info.js';
import { option, repoRoot, runToEnd } from './common.js';

const RECIPES: Record<string, string[]> = {
  cifar32: ['--image-size', '32', '--cifar-stem', 'true'],
  in64: ['--image-size', '64', '--cifar-stem', 'false'],
  in96: ['--image-size', '96', '--cifar-stem', 'false'],
  in128: ['--image-size', '128', '--cifar-stem', 'false'],
};
const data = option('--data', '');
if (!data) throw new Error('photo-curve: --data <a labelled photo folder> is required');
const recipes = option('--recipes', 'cifar32,in64,in96,in128').split(',');
for (const r of recipes) if (!(r in RECIPES)) throw new Error(`photo-curve: unknown recipe ${r} (${Object.keys(RECIPES).join(', ')})`);
const fixedEpochs = Number(option('--epochs', '0'));
// (with --epochs, one "budget" that is no budget: the runs are named by their epochs)
const budgets = fixedEpochs > 0 ? [0] : option('--budgets', '10,30').split(',').map(Number);
const dir = option('--dir', join(repoRoot, 'runs', 'photo-curve'));
const seed = Number(option('--seed', '0'));
const sourceScale = option('--source-scale', '3.5');
const skipTrain = process.argv.includes('--skip-train');
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const fraction = 0.01;
const draws = 3;
const K = 8;
setProgressOutput(streamOutput(process.stderr), { plainIntervalSeconds: 60 });
mkdirSync(dir, { recursive: true });

const suffix = sourceScale === '3.5' ? '' : `-source${sourceScale}`;
const pretrain = (recipe: string, epochs: number, out: string) =>
  runToEnd(process.execPath, [cli, 'pretrain', '--data', data, ...RECIPES[recipe]!, '--source-scale', sourceScale, '--epochs', String(epochs), '--seed', String(seed), '--knn-every', '0', '--no-report', '--quiet', '--overwrite', '--out', out]);

/** The steps' records of a run. */
function steps(runDir: string): { time: number; viewsPerSecond: number; globalStep: number }[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step');
}
/** Wall-clock seconds of a run's steps: from the start of the first to the end of the last. */
const wallSeconds = (runDir: string) => {
  const s = steps(runDir);
  return s.at(-1)!.time - s[0]!.time + (2 * 256) / s[0]!.viewsPerSecond;
};

// 1. Seconds per epoch of each recipe, from a short run's steady steps.
const calibrationFile = join(dir, `calibration${suffix}.json`);
const calibration: Record<string, { secondsPerEpoch: number; stepsPerEpoch: number }> = existsSync(calibrationFile) ? JSON.parse(readFileSync(calibrationFile, 'utf8')) : {};
for (const recipe of recipes) {
  if (calibration[recipe] || skipTrain || fixedEpochs > 0) continue;
  const out = join(dir, `calibrate-${recipe}${suffix}`);
  await pretrain(recipe, 2, out);
  const s = steps(out);
  const stepsPerEpoch = s.length / 2;
  const perStep = (s.at(-1)!.time - s[2]!.time) / (s.length - 3);
  calibration[recipe] = { secondsPerEpoch: perStep * stepsPerEpoch, stepsPerEpoch };
  writeFileSync(calibrationFile, `${JSON.stringify(calibration, null, 2)}\n`);
}

// 2. The budgets' trainings, shortest first.
const runDir = (recipe: string, budget: number) => join(dir, fixedEpochs > 0 ? `${recipe}-e${fixedEpochs}${suffix}` : `${recipe}-${budget}min${suffix}`);
const epochsFor = (recipe: string, budget: number) => (fixedEpochs > 0 ? fixedEpochs : Math.max(1, Math.round((budget * 60) / calibration[recipe]!.secondsPerEpoch)));
for (const budget of [...budgets].sort((a, b) => a - b)) {
  for (const recipe of recipes) {
    if (skipTrain || existsSync(join(runDir(recipe, budget), 'encoder.safetensors'))) continue;
    await pretrain(recipe, epochsFor(recipe, budget), runDir(recipe, budget));
  }
}

// 3. Scores on the held-out photos, and the baselines of each view size and stem.
/** The share of each test image's K nearest training images (cosine on h) that have its label. */
async function neighbourPrecision(encoder: Module, split: Awaited<ReturnType<typeof openEvalData>>, size: number): Promise<number> {
  const bank = await extractFeatures(encoder, split.train, { size, label: null });
  const queries = await extractFeatures(encoder, split.test, { size, label: null });
  let same = 0;
  const lists = nearestNeighbours(queries.features, bank.features, K);
  lists.forEach((l, q) => l.index.forEach((i) => (same += bank.labels![i] === queries.labels![q] ? 1 : 0)));
  bank.features.dispose();
  queries.features.dispose();
  return same / (K * lists.length);
}

type Row = { recipe: string; budget: number | null; epochs: number | null; wallMinutes: number | null; scores: Record<Column, { mean: number; std: number }>; neighbourPrecision: number; framesMb?: number };
const rows: Row[] = [];
const columns: Column[] = ['knn', 'linear', 'fewKnn', 'fewLinear'];
const summarise = (s: Scores[keyof Scores]) => Object.fromEntries(columns.map((c) => [c, { mean: s[c].accuracy, std: s[c].std }])) as Row['scores'];
for (const recipe of recipes) {
  const first = loadEncoder(runDir(recipe, budgets[0]!));
  const size = first.architecture.imageSize;
  const split = await openEvalData(data, size, { recorded: first.split });
  const options = { size, fraction, draws, seed };
  const random = randomEncoder(first.architecture, seed);
  const baselines = await baselineScores(random, split, options);
  rows.push({ recipe: `${recipe} random-init`, budget: null, epochs: null, wallMinutes: null, scores: summarise(baselines['random-init encoder']), neighbourPrecision: await neighbourPrecision(random, split, size) });
  if (recipe === recipes[0]) rows.push({ recipe: 'raw pixels (32 px)', budget: null, epochs: null, wallMinutes: null, scores: summarise(baselines['raw pixels']), neighbourPrecision: NaN });
  random.dispose();
  first.encoder.dispose();
  // the training frames' memory at the runs' source scale (what the decode cache holds)
  const frames = await openSource(data, { split: 'train', size, sourceScale: Number(sourceScale) });
  const framesMb = frames instanceof FrameSource ? frames.frames.data.numel / 2 ** 20 : NaN;
  frames.dispose?.();
  for (const budget of budgets) {
    const loaded = loadEncoder(runDir(recipe, budget));
    const scores = await scoreFeatures(`${recipe}, ${budget} min`, encoderFeatures(loaded.encoder, `${recipe}, ${budget} min`, split, size), options);
    rows.push({ recipe, budget: fixedEpochs > 0 ? null : budget, epochs: loaded.config!.epochs, wallMinutes: wallSeconds(runDir(recipe, budget)) / 60, scores: summarise(scores), neighbourPrecision: await neighbourPrecision(loaded.encoder, split, size), framesMb });
    loaded.encoder.dispose();
  }
  split.dispose();
}

const pct = (v: { mean: number; std: number }) => `${(100 * v.mean).toFixed(2)}${v.std > 0 ? ` ± ${(100 * v.std).toFixed(2)}` : ''}`;
const table = [
  `| recipe | budget | epochs | minutes | kNN | linear | kNN, ${100 * fraction}% | linear, ${100 * fraction}% | neighbours of the class (8 nearest) | frames, MB |`,
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.recipe} | ${r.budget ?? ''} | ${r.epochs ?? ''} | ${r.wallMinutes === null ? '' : r.wallMinutes.toFixed(1)} | ${columns.map((c) => pct(r.scores[c])).join(' | ')} | ${Number.isNaN(r.neighbourPrecision) ? '' : (100 * r.neighbourPrecision).toFixed(2)} | ${r.framesMb === undefined ? '' : r.framesMb.toFixed(0)} |`),
].join('\n');
const result = { bench: 'photo-curve', data, cpu: cpuFlags(), sourceScale: Number(sourceScale), seed, calibration, rows, table };
writeFileSync(join(dir, `result${fixedEpochs > 0 ? `-e${fixedEpochs}` : ''}${suffix}.json`), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));

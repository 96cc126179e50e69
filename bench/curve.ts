// The learning curve of the main job's recipe: SimCLR's encoder after 1, 2, 5, 10, 20 … epochs of
// pretraining (one run per length, each with its full warm-up + cosine schedule, as `simclr
// quickstart --epochs N` would train it), scored like the main job — kNN and the linear probe with
// all the labels and with 1% of them (3 draws) — against the two baselines, which do not depend on
// the pretraining. Prints JSON with, per column, the first length at which SimCLR passes raw pixels
// (null when it does not within the lengths tried), and a Markdown table for the README. The
// trainings run two at a time with one thread each, the longest first.
// --data trains on another data source with the recipe pretrain chooses for it (a photo folder: the
// photo recipe).
//   node dist/bench/curve.js [--epochs 1,2,5,10,20] [--data fashion-mnist] [--dir runs/curve] [--seed 0] [--skip-train]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openEvalData } from '../src/eval/evaluate.js';
import { baselineScores, encoderFeatures, scoreFeatures } from '../src/eval/compare.js';
import { pairedGain, verdict, type Column, type Scores } from '../src/eval/verdict.js';
import { loadEncoder, randomEncoder } from '../src/simclr/encoder-file.js';
import { setProgressOutput, streamOutput } from '../src/progress.js';
import { option, repoRoot, runToEnd, twoAtATime } from './common.js';

const lengths = option('--epochs', '1,2,5,10,20').split(',').map(Number);
const data = option('--data', 'fashion-mnist');
const dir = option('--dir', join(repoRoot, 'runs', 'curve'));
const seed = Number(option('--seed', '0'));
const skipTrain = process.argv.includes('--skip-train');
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const fraction = 0.01;
const draws = 3;
setProgressOutput(streamOutput(process.stderr), { plainIntervalSeconds: 30 });

const runDir = (epochs: number) => join(dir, `epochs-${epochs}`);
const untrained = [...lengths].sort((a, b) => b - a).filter((epochs) => !skipTrain || !existsSync(join(runDir(epochs), 'encoder.safetensors')));
await twoAtATime(
  untrained.map((epochs) => () => runToEnd(process.execPath, [cli, 'pretrain', '--data', data, '--epochs', String(epochs), '--seed', String(seed), '--precision', 'fp32', '--threads', '1', '--knn-every', '0', '--quiet', '--overwrite', '--out', runDir(epochs)])),
);

const first = loadEncoder(runDir(lengths[0]!));
const split = await openEvalData(first.config!.data, first.architecture.imageSize, { recorded: first.split });
const options = { size: first.architecture.imageSize, fraction, draws, seed };
const random = randomEncoder(first.architecture, seed);
const baselines = await baselineScores(random, split, options);
random.dispose();
first.encoder.dispose();
const points: { epochs: number; scores: Scores }[] = [];
for (const epochs of lengths) {
  const loaded = loadEncoder(runDir(epochs));
  points.push({ epochs, scores: { simclr: await scoreFeatures(`simclr, ${epochs} epochs`, encoderFeatures(loaded.encoder, `simclr, ${epochs} epochs`, split, options.size), options), ...baselines } });
  loaded.encoder.dispose();
}
split.dispose();

const columns: Column[] = ['knn', 'linear', 'fewKnn', 'fewLinear'];
const passes = Object.fromEntries(columns.map((c) => [c, points.find((p) => pairedGain(p.scores.simclr[c], baselines['raw pixels'][c]).wins)?.epochs ?? null]));
const cell = (s: Scores[keyof Scores], c: Column) => `${(100 * s[c].accuracy).toFixed(2)}${s[c].accuracies.length > 1 ? ` ± ${(100 * s[c].std).toFixed(2)}` : ''}`;
const table = [
  `| features | kNN, all labels | linear, all labels | kNN, ${100 * fraction}% labels | linear, ${100 * fraction}% labels |`,
  '|---|---|---|---|---|',
  ...points.map((p) => `| SimCLR, ${p.epochs} epoch${p.epochs > 1 ? 's' : ''} | ${columns.map((c) => cell(p.scores.simclr, c)).join(' | ')} |`),
  `| random-init encoder | ${columns.map((c) => cell(baselines['random-init encoder'], c)).join(' | ')} |`,
  `| raw pixels | ${columns.map((c) => cell(baselines['raw pixels'], c)).join(' | ')} |`,
].join('\n');
const accuracy = (s: Scores[keyof Scores]) => Object.fromEntries(columns.map((c) => [c, { mean: s[c].accuracy, std: s[c].std }]));
console.log(
  JSON.stringify(
    {
      bench: 'curve',
      data: first.config!.data,
      seed,
      labelFraction: fraction,
      draws,
      points: points.map((p) => ({ epochs: p.epochs, simclr: accuracy(p.scores.simclr), verdict: verdict(p.scores, { fraction, epochs: p.epochs }).lines })),
      baselines: { 'random-init encoder': accuracy(baselines['random-init encoder']), 'raw pixels': accuracy(baselines['raw pixels']) },
      passesRawPixelsAt: passes,
      table,
    },
    null,
    2,
  ),
);

// simclr quickstart — the main job behind the README's first command: pretrain on Fashion-MNIST
// with the quickstart recipe, then score the encoder beside two baselines (the same encoder randomly
// initialised, and raw pixels) by kNN and the linear probe, with all the training labels and with
// 1% of them (the semi-supervised setting, several label draws), and say what the numbers show.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baselineScores, encoderFeatures, FEATURE_SETS, plusMinus, scoreFeatures } from '../eval/compare.js';
import { openEvalData, splitSummary, type EvalResult } from '../eval/evaluate.js';
import { pretrainFlags, resolveConfig } from './pretrain-flags.js';
import { randomEncoder } from '../simclr/encoder-file.js';
import { pretrain } from '../simclr/pretrain.js';
import type { ResNet } from '../models/resnet.js';
import { note } from '../progress.js';
import { writeReport } from '../report/report.js';
import type { Flags, Parsed } from './args.js';
import { verdict, type Scores } from '../eval/verdict.js';

export const quickstartFlags = {
  ...pretrainFlags,
  out: { ...pretrainFlags.out, default: 'runs/quickstart' },
  epochs: { ...pretrainFlags.epochs, default: 3 },
  overwrite: { ...pretrainFlags.overwrite, default: true, help: 'start over in --out when it holds a run (the main job replaces its previous run; --no-overwrite refuses instead)' },
  'label-fraction': { type: 'number', default: 0.01, check: (v) => (v > 0 && v < 1 ? null : 'must be in (0, 1)'), help: 'the few-label columns: share of the training labels (class-balanced)' },
  draws: { type: 'int', default: 3, check: (v) => (v > 1 ? null : 'must be at least 2 (for a spread)'), help: 'label draws averaged in the few-label columns' },
} satisfies Flags;

export async function quickstartCommand(parsed: Parsed<typeof quickstartFlags>, given: Set<string>): Promise<number> {
  const { 'label-fraction': fraction, draws, ...pretrainOptions } = parsed;
  const config = resolveConfig(pretrainOptions, given, quickstartFlags);
  const t0 = performance.now();
  const run = await pretrain(config, { resume: parsed.resume, overwrite: parsed.overwrite });
  const pretrainSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const size = config.imageSize;
  const encoder = run.model.encoder as ResNet;
  const architecture = { depth: config.depth, cifarStem: config.cifarStem, width: config.width, inChannels: encoder.options.inChannels, imageSize: size };
  note(`evaluating the encoder, a random-init encoder and raw pixels: kNN and linear probe, all labels and ${100 * fraction}% of them (${draws} draws)`);
  const data = await openEvalData(config.data, size || 32, { recorded: run.split });
  const options = { size: size || data.train.imageShape[1], fraction, draws, seed: config.seed };
  const simclr = await scoreFeatures('simclr', encoderFeatures(encoder, 'simclr', data, options.size), options);
  const random = randomEncoder(architecture, config.seed);
  const scores: Scores = { simclr, ...(await baselineScores(random, data, options)) };
  random.dispose();
  const trainImages = data.train.size;
  const classNames = data.train.classNames ?? null;
  const split = splitSummary(data.split);
  data.dispose();
  run.model.dispose();
  const evalSeconds = (performance.now() - t1) / 1000;
  const conclusion = verdict(scores, { fraction, epochs: config.epochs });
  const summary = {
    run: run.runDir,
    data: config.data,
    split,
    epochs: config.epochs,
    precision: run.precision,
    pretrainSeconds: Math.round(pretrainSeconds),
    evalSeconds: Math.round(evalSeconds),
    finalLoss: run.lastLoss,
    labelFraction: fraction,
    draws,
    accuracy: Object.fromEntries(
      FEATURE_SETS.map((name) => {
        const s = scores[name];
        const few = (r: EvalResult) => ({ mean: r.accuracy, std: r.std, draws: r.accuracies });
        return [name, { knn: s.knn.accuracy, linear: s.linear.accuracy, fewLabelKnn: few(s.fewKnn), fewLabelLinear: few(s.fewLinear) }];
      }),
    ),
    verdict: conclusion,
    confusion: { classNames, counts: scores.simclr.linear.confusion },
  };
  writeFileSync(join(run.runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const report = parsed.report ? await writeReport([run.runDir]) : null;
  const fewImages = scores.simclr.fewLinear.trainImages;
  const lines = [
    '',
    `SimCLR on ${config.data}: ${config.epochs} epochs of ResNet-${config.depth} (width ${config.width}, ${run.precision}) in ${Math.round(pretrainSeconds)} s; evaluated in ${Math.round(evalSeconds)} s`,
    `scored on the ${split.testImages as number} test images${data.split.kind === 'held-out' ? ' held out from pretraining' : ''}`,
    '',
    `                          all ${trainImages.toLocaleString('en')} labels      ${100 * fraction}% of the labels (${fewImages}; mean ± std of ${draws} draws)`,
    `  features                kNN       linear        kNN               linear`,
    ...FEATURE_SETS.map((name) => {
      const s = scores[name];
      return `  ${name.padEnd(22)}  ${pct(s.knn.accuracy).padStart(7)}   ${pct(s.linear.accuracy).padStart(7)}       ${plusMinus(s.fewKnn).padEnd(16)}  ${plusMinus(s.fewLinear)}`;
    }),
    '',
    ...conclusion.lines,
    '',
    `run folder: ${run.runDir} (encoder.safetensors, checkpoints/, metrics.jsonl, split.json, summary.json)`,
    ...(report === null ? [] : [`report: ${report} (open it in a browser)`]),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  return 0;
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

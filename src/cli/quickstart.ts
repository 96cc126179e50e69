// simclr quickstart — the main job behind the README's first command: pretrain on Fashion-MNIST
// (or the user's data: --data, with the recipe chosen for its images) for about as many steps as
// the main job, then score the encoder beside two baselines (the same encoder randomly
// initialised, and raw pixels) by kNN and the linear probe, with all the training labels and with
// 1% of them (the semi-supervised setting, several label draws), and say what the numbers show.
// Unlabelled data gets the pretraining and the report's map and neighbours, and says why no table.
import { writeFileAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { describeEngine } from '../eval/engine.js';
import { baselineScores, encoderFeatures, FEATURE_SETS, type EngineRecords, pct, plusMinus, scoreFeatures, summaryColumns } from '../eval/compare.js';
import { openEvalData, PIXEL_SIDE, splitSummary} from '../eval/evaluate.js';
import { imageFolderListing, openSplits } from '../data/open.js';
import { describeRecipe } from '../simclr/recipe.js';
import { engineFlag, fewLabelFlags, pretrainFlags, resolveConfig } from './pretrain-flags.js';
import { randomEncoder, runDataOptions } from '../simclr/encoder-file.js';
import { pretrain } from '../simclr/pretrain.js';
import type { ResNet } from '../models/resnet.js';
import { note } from '../progress.js';
import { writeReport } from '../report/report.js';
import type { Flags, Parsed } from './args.js';
import { verdict, type Scores } from '../eval/verdict.js';

/** The main job's length: 3 epochs of Fashion-MNIST's 60,000 images at batch 256. */
export const MAIN_JOB_STEPS = 3 * Math.floor(60_000 / 256);

/** Epochs for about MAIN_JOB_STEPS steps over `images` training images (at least 3). */
export function quickstartEpochs(images: number, batchSize: number): number {
  return Math.max(3, Math.round(MAIN_JOB_STEPS / Math.max(1, Math.floor(images / batchSize))));
}

export const quickstartFlags = {
  ...pretrainFlags,
  out: { ...pretrainFlags.out, default: 'runs/quickstart' },
  epochs: { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), defaultText: `as many as make about ${MAIN_JOB_STEPS} steps (3 on fashion-mnist), at least 3`, help: 'epochs of the schedule' },
  overwrite: { ...pretrainFlags.overwrite, default: true, help: 'start over in --out when it holds a run (the main job replaces its previous run; --no-overwrite refuses instead)' },
  ...fewLabelFlags,
  ...engineFlag,
} satisfies Flags;

export async function quickstartCommand(parsed: Parsed<typeof quickstartFlags>, given: Set<string>): Promise<number> {
  const { 'label-fraction': fraction, draws, ...pretrainOptions } = parsed;
  const config = resolveConfig(pretrainOptions, given, quickstartFlags);
  if (config.epochs === 0) {
    const images = await trainingImages(config.data, config.testFraction);
    config.epochs = quickstartEpochs(config.subset > 0 ? Math.min(config.subset, images) : images, config.batchSize);
    note(`${config.epochs} epochs: about ${MAIN_JOB_STEPS} steps, the main job's length, over ${images.toLocaleString('en')} training images`);
  }
  const t0 = performance.now();
  const run = await pretrain(config, { resume: parsed.resume, overwrite: parsed.overwrite });
  const pretrainSeconds = (performance.now() - t0) / 1000;
  const trained = run.config;
  const recipe = trained.recipeChoice ? describeRecipe(trained.recipeChoice) : null;
  const unlabelled = run.split.kind === 'none' ? await noLabelsReason(config.data) : null;
  if (unlabelled !== null) {
    // Nothing to score: the encoder, the report's map and neighbours, and why there is no table.
    run.model.dispose();
    const summary = { run: run.runDir, data: config.data, split: splitSummary(run.split), epochs: config.epochs, precision: run.precision, recipe, pretrainSeconds: Math.round(pretrainSeconds), finalLoss: run.lastLoss, accuracy: null, noAccuracy: unlabelled };
    writeFileAtomic(join(run.runDir, 'summary.json'), [Buffer.from(`${JSON.stringify(summary, null, 2)}\n`)]);
    const report = parsed.report ? await writeReport([run.runDir]) : null;
    process.stdout.write(
      [
        '',
        `SimCLR on ${config.data}: ${config.epochs} epochs of ResNet-${trained.depth} (width ${trained.width}, ${run.precision}) in ${Math.round(pretrainSeconds)} s`,
        ...(recipe === null ? [] : [recipe]),
        '',
        `no accuracy table: ${unlabelled}`,
        '',
        `run folder: ${run.runDir} (encoder.safetensors, checkpoints/, metrics.jsonl, summary.json)`,
        ...(report === null ? [] : [`report: ${report} (open it in a browser: the map of the features and each image's nearest neighbours)`]),
        '',
      ].join('\n'),
    );
    return 0;
  }
  const t1 = performance.now();
  const size = trained.imageSize;
  const encoder = run.model.encoder as ResNet;
  const architecture = { depth: trained.depth, cifarStem: trained.cifarStem, width: trained.width, inChannels: encoder.options.inChannels, imageSize: size };
  note(`evaluating the encoder, a random-init encoder and raw pixels: kNN and linear probe, all labels and ${100 * fraction}% of them (${draws} draws)`);
  const data = await openEvalData(config.data, size, runDataOptions({ config: trained, split: run.split }, config.data));
  const options = { size, fraction, draws, seed: config.seed };
  const engines: EngineRecords = {};
  const simclr = await scoreFeatures('simclr', encoderFeatures(encoder, 'simclr', data, options.size, engines), options);
  const random = randomEncoder(architecture, config.seed);
  const cached: Record<string, string[]> = {};
  const scores: Scores = { simclr, ...(await baselineScores(random, data, options, { engines, cached })) };
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
    recipe,
    pretrainSeconds: Math.round(pretrainSeconds),
    evalSeconds: Math.round(evalSeconds),
    engines,
    baselinesCached: cached,
    finalLoss: run.lastLoss,
    labelFraction: fraction,
    draws,
    accuracy: Object.fromEntries(
      FEATURE_SETS.map((name) => [name, summaryColumns(scores[name])]),
    ),
    verdict: conclusion,
    confusion: { classNames, counts: scores.simclr.linear.confusion },
  };
  writeFileAtomic(join(run.runDir, 'summary.json'), [Buffer.from(`${JSON.stringify(summary, null, 2)}\n`)]);
  const report = parsed.report ? await writeReport([run.runDir]) : null;
  const fewImages = scores.simclr.fewLinear.trainImages;
  const lines = [
    '',
    `SimCLR on ${config.data}: ${config.epochs} epochs of ResNet-${config.depth} (width ${config.width}, ${run.precision}) in ${Math.round(pretrainSeconds)} s; evaluated in ${Math.round(evalSeconds)} s`,
    ...(recipe === null ? [] : [recipe]),
    `scored on the ${split.testImages as number} test images${data.split.kind === 'held-out' ? ' held out from pretraining' : ''}`,
    ...(engines.simclr === undefined ? [] : [`features computed by ${describeEngine(engines.simclr)}`]),
    ...(Object.keys(cached).length === 0 ? [] : [`baselines from the cache (computed by an earlier run on the same data, split, architecture and seed): ${Object.keys(cached).join(', ')}`]),
    ...(size > PIXEL_SIDE ? [`raw pixels: the images at ${PIXEL_SIDE}×${PIXEL_SIDE} (a ${size}-px view's ${(encoder.options.inChannels * size * size).toLocaleString('en')} values are beyond the linear probe)`] : []),
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


/** The number of training images of a data source, without decoding it (image folders are listed). */
async function trainingImages(data: string, testFraction: number): Promise<number> {
  const folder = imageFolderListing(data);
  if (folder !== null) return folder.heldOut && folder.labelled ? Math.round(folder.images * (1 - testFraction)) : folder.images;
  const splits = await openSplits(data, { testFraction });
  const n = splits.train.size;
  splits.dispose();
  return n;
}

/** Why data without a test split cannot be scored. */
async function noLabelsReason(data: string): Promise<string> {
  const folder = imageFolderListing(data);
  return folder !== null && !folder.labelled
    ? `${data} has no class subfolders, so no labels to score the encoder with (put each class's images in a folder of its own for the kNN and linear evaluation)`
    : 'the data has no test split (--test-fraction 0): nothing to score the encoder on';
}

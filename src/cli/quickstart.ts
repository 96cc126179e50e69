// simclr quickstart — the main job behind the README's first command: pretrain on Fashion-MNIST
// with the default recipe, then kNN and linear evaluation of the encoder and of two baselines
// (the same encoder randomly initialised, and raw pixels), and a short summary.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractFeatures } from '../eval/features.js';
import { disposeEvalData, openEvalData, pixelFeatures, runProtocol } from '../eval/evaluate.js';
import type { Features } from '../eval/features.js';
import { pretrainFlags, resolveConfig } from '../simclr/config.js';
import { randomEncoder } from '../simclr/encoder-file.js';
import { pretrain } from '../simclr/pretrain.js';
import type { ResNet } from '../models/resnet.js';
import type { Parsed } from './args.js';

export const quickstartFlags = {
  ...pretrainFlags,
  out: { ...pretrainFlags.out, default: 'runs/quickstart' },
  epochs: { ...pretrainFlags.epochs, default: 3 },
} as const;

export async function quickstartCommand(parsed: Parsed<typeof quickstartFlags>, given: Set<string>): Promise<number> {
  const config = resolveConfig(parsed, given, quickstartFlags);
  const t0 = performance.now();
  const run = await pretrain(config, { resume: parsed.resume });
  const pretrainSeconds = (performance.now() - t0) / 1000;
  const size = config.imageSize;
  const encoder = run.model.encoder as ResNet;
  const architecture = { depth: config.depth, cifarStem: config.cifarStem, width: config.width, inChannels: encoder.options.inChannels, imageSize: size };
  process.stderr.write('evaluating: kNN and linear probe of the encoder, a random-init encoder and raw pixels\n');
  const data = await openEvalData(config.data, size || 32);
  const viewSize = size || data.train.imageShape[1];
  const results: Record<string, { knn: number; linear: number }> = {};
  const evaluate = async (name: string, features: (split: 'train' | 'test') => Promise<Features>) => {
    const train = await features('train');
    const test = await features('test');
    results[name] = { knn: runProtocol('knn', train, test).accuracy, linear: runProtocol('linear', train, test).accuracy };
    train.features.dispose();
    test.features.dispose();
  };
  await evaluate('simclr', (s) => extractFeatures(encoder, data[s], { size: viewSize }));
  const random = randomEncoder(architecture, config.seed);
  await evaluate('random-init encoder', (s) => extractFeatures(random, data[s], { size: viewSize }));
  random.dispose();
  await evaluate('raw pixels', (s) => pixelFeatures(data[s], viewSize));
  disposeEvalData(data);
  run.model.dispose();
  const summary = { run: run.runDir, data: config.data, epochs: config.epochs, pretrainSeconds: Math.round(pretrainSeconds), finalLoss: run.lastLoss, accuracy: results };
  writeFileSync(join(run.runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`.padStart(8);
  const lines = [
    '',
    `SimCLR on ${config.data}: ${config.epochs} epochs of ResNet-${config.depth} (width ${config.width}) in ${Math.round(pretrainSeconds)} s`,
    '',
    `  features                  kNN (k=200)   linear probe`,
    ...Object.entries(results).map(([name, r]) => `  ${name.padEnd(24)}  ${pct(r.knn)}      ${pct(r.linear)}`),
    '',
    `run folder: ${run.runDir} (encoder.safetensors, checkpoints/, metrics.jsonl, summary.json)`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  return 0;
}

// The comparison the main job and the learning curve print: SimCLR's encoder beside two baselines
// (the same architecture randomly initialised, and raw pixels), each scored by kNN and the linear
// probe with all the training labels and with a class-balanced fraction of them (several draws).
import type { Module } from '../nn/module.js';
import { note } from '../progress.js';
import { extractFeatures, type Features } from './features.js';
import { pixelFeatures, runProtocol, type EvalData, type EvalResult } from './evaluate.js';
import type { Column, FeatureSet, Scores } from './verdict.js';

export interface CompareOptions {
  /** Input size of the encoders (and of the pixel baseline). */
  size: number;
  /** The few-label columns' share of the training labels, and its draws. */
  fraction: number;
  draws: number;
  seed: number;
}

/** An accuracy (0–1) as a percentage with two decimals. */
export const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
export const plusMinus = (r: EvalResult) => `${(100 * r.accuracy).toFixed(2)} ± ${(100 * r.std).toFixed(2)}%`;

/** One feature set's four columns as summary.json records them (quickstart, sweep): accuracies, the few-label ones with their spread and draws. */
export function summaryColumns(s: Record<Column, EvalResult>) {
  const few = (r: EvalResult) => ({ mean: r.accuracy, std: r.std, draws: r.accuracies });
  return { knn: s.knn.accuracy, linear: s.linear.accuracy, fewLabelKnn: few(s.fewKnn), fewLabelLinear: few(s.fewLinear) };
}

/** The four columns for one set of features. */
export async function scoreFeatures(name: string, features: (split: 'train' | 'test') => Promise<Features>, o: CompareOptions): Promise<Record<Column, EvalResult>> {
  const train = await features('train');
  const test = await features('test');
  try {
    const run = (protocol: 'knn' | 'linear', fraction: number) =>
      runProtocol(protocol, train, test, { fraction, draws: o.draws, seed: o.seed, label: `${name}: ${protocol === 'knn' ? 'kNN' : 'linear probe'}${fraction < 1 ? `, ${100 * fraction}% of the labels` : ''}` });
    const s = { knn: run('knn', 1), linear: run('linear', 1), fewKnn: run('knn', o.fraction), fewLinear: run('linear', o.fraction) };
    note(`${name}: kNN ${pct(s.knn.accuracy)}, linear ${pct(s.linear.accuracy)}; ${100 * o.fraction}% of the labels: kNN ${plusMinus(s.fewKnn)}, linear ${plusMinus(s.fewLinear)}`);
    return s;
  } finally {
    train.features.dispose();
    test.features.dispose();
  }
}

/** Features of an encoder on one split of the data, with progress. */
export function encoderFeatures(encoder: Module, name: string, data: EvalData, size: number): (split: 'train' | 'test') => Promise<Features> {
  return (s) => extractFeatures(encoder, data[s], { size, label: `${name}: features of the ${s === 'train' ? 'training' : 'test'} split` });
}

/** The two baselines' rows (computed once; they do not depend on the pretraining). */
export async function baselineScores(random: Module, data: EvalData, o: CompareOptions): Promise<Pick<Scores, 'random-init encoder' | 'raw pixels'>> {
  return {
    'random-init encoder': await scoreFeatures('random-init encoder', encoderFeatures(random, 'random-init encoder', data, o.size), o),
    'raw pixels': await scoreFeatures('raw pixels', (s) => pixelFeatures(data[s], o.size), o),
  };
}

export const FEATURE_SETS: readonly FeatureSet[] = ['simclr', 'random-init encoder', 'raw pixels'];

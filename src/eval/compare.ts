// The comparison the main job and the learning curve print: SimCLR's encoder beside two baselines
// (the same architecture randomly initialised, and raw pixels), each scored by kNN and the linear
// probe with all the training labels and with a class-balanced fraction of them (several draws).
import type { Module } from '../nn/module.js';
import { note } from '../progress.js';
import { extractFeatures, type Features } from './features.js';
import type { EngineRecord } from './engine.js';
import { pixelFeatures, runProtocol, type EvalData, type EvalResult, type Protocol } from './evaluate.js';
import { BaselineCache, baselineKey } from './baseline-cache.js';
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

/** The columns' protocols and label fractions. */
export const COLUMNS: [Column, Protocol, (o: CompareOptions) => number][] = [
  ['knn', 'knn', () => 1],
  ['linear', 'linear', () => 1],
  ['fewKnn', 'knn', (o) => o.fraction],
  ['fewLinear', 'linear', (o) => o.fraction],
];

/** The four columns for one set of features. */
export async function scoreFeatures(name: string, features: (split: 'train' | 'test') => Promise<Features>, o: CompareOptions): Promise<Record<Column, EvalResult>> {
  const train = await features('train');
  const test = await features('test');
  try {
    const run = (protocol: 'knn' | 'linear', fraction: number) =>
      runProtocol(protocol, train, test, { fraction, draws: o.draws, seed: o.seed, label: `${name}: ${protocol === 'knn' ? 'kNN' : 'linear probe'}${fraction < 1 ? `, ${100 * fraction}% of the labels` : ''}` });
    const s = Object.fromEntries(COLUMNS.map(([column, protocol, fraction]) => [column, run(protocol, fraction(o))])) as Record<Column, EvalResult>;
    note(`${name}: kNN ${pct(s.knn.accuracy)}, linear ${pct(s.linear.accuracy)}; ${100 * o.fraction}% of the labels: kNN ${plusMinus(s.fewKnn)}, linear ${plusMinus(s.fewLinear)}`);
    return s;
  } finally {
    train.features.dispose();
    test.features.dispose();
  }
}

/** Which engine computed each encoder's features (the first split's record: the one that measured, under auto), by name. */
export type EngineRecords = Record<string, EngineRecord>;

/** Features of an encoder on one split of the data, with progress (the engine recorded in `engines` under `name`). */
export function encoderFeatures(encoder: Module, name: string, data: EvalData, size: number, engines?: EngineRecords): (split: 'train' | 'test') => Promise<Features> {
  return async (s) => {
    const f = await extractFeatures(encoder, data[s], { size, label: `${name}: features of the ${s === 'train' ? 'training' : 'test'} split` });
    if (engines !== undefined && f.engine !== undefined) engines[name] ??= f.engine;
    return f;
  };
}

/**
 * The two baselines' rows. They do not depend on the pretraining: each column comes from the
 * baseline cache when it holds it (`cached` gets the baseline's entry files; null: no cache), and is
 * computed and cached otherwise.
 */
export async function baselineScores(
  random: Module,
  data: EvalData,
  o: CompareOptions,
  { engines, cache = new BaselineCache(), cached }: { engines?: EngineRecords; cache?: BaselineCache | null; cached?: Record<string, string[]> } = {},
): Promise<Pick<Scores, 'random-init encoder' | 'raw pixels'>> {
  const row = async (name: 'random-init encoder' | 'raw pixels', features: (split: 'train' | 'test') => Promise<Features>) => {
    const keys = cache === null ? null : await Promise.all(COLUMNS.map(([, protocol, fraction]) => baselineKey(name, random, data, { size: o.size, protocol, fraction: fraction(o), draws: o.draws, seed: o.seed })));
    const hits = keys?.map((k) => (k === null ? null : cache!.get(k))) ?? [];
    if (hits.length > 0 && hits.every((h) => h !== null)) {
      if (cached !== undefined) cached[name] = keys!.map((k) => cache!.file(k!));
      note(`${name}: from the baseline cache (${cache!.dir})`);
      return Object.fromEntries(COLUMNS.map(([column], i) => [column, hits[i]!])) as Record<Column, EvalResult>;
    }
    const scores = await scoreFeatures(name, features, o);
    keys?.forEach((k, i) => k !== null && cache!.put(k, scores[COLUMNS[i]![0]]));
    return scores;
  };
  return {
    'random-init encoder': await row('random-init encoder', encoderFeatures(random, 'random-init encoder', data, o.size, engines)),
    'raw pixels': await row('raw pixels', (s) => pixelFeatures(data[s], o.size)),
  };
}

export const FEATURE_SETS: readonly FeatureSet[] = ['simclr', 'random-init encoder', 'raw pixels'];

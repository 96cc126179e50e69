// The kNN monitor of pretraining: how well the encoder's features separate the classes, without training anything.
import type { DataSource } from '../data/source.js';
import { evenlySpaced } from '../data/split.js';
import { extractFeatures } from '../eval/features.js';
import { knnAccuracy } from '../eval/knn.js';
import type { Module } from '../nn/module.js';

/**
 * The kNN monitor: test-split queries against a bank of training-split features (evenly spaced
 * subsets of both). The splits are disjoint, so no query finds itself in the bank.
 */
export async function knnMonitor(encoder: Module, train: DataSource, test: DataSource, size: number): Promise<number | null> {
  if (train.labels === null || test.labels === null) return null;
  const bank = await extractFeatures(encoder, train, { size, indices: evenlySpaced(train.size, 10_000), label: 'kNN monitor: bank' });
  const queries = await extractFeatures(encoder, test, { size, indices: evenlySpaced(test.size, 2_000), label: 'kNN monitor: queries' });
  try {
    return knnAccuracy(bank.features, bank.labels!, queries.features, queries.labels!);
  } finally {
    bank.features.dispose();
    queries.features.dispose();
  }
}

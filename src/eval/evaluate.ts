// The evaluation protocols on a labelled train/test pair: kNN and linear probe, on the features of
// an encoder or on raw pixels (a baseline), with all the training labels or with a class-balanced
// fraction of them (the paper's semi-supervised setting), averaged over several label draws.
import { openSplits, type OpenOptions, type SplitRecord } from '../data/open.js';
import { classCount, type DataSource } from '../data/source.js';
import { labelFraction } from '../data/split.js';
import { cat, tensor } from '../tensor/create.js';
import { keep, tidy, type Tensor } from '../tensor/tensor.js';
import * as F from '../tensor/functional.js';
import { prepareImages, type Features } from './features.js';
import { knnAccuracy } from './knn.js';
import { linearProbe } from './linear.js';

/** An evaluation protocol: weighted kNN or the linear probe. */
export type Protocol = 'knn' | 'linear';

/** A labelled train/test pair for evaluation, from {@link openEvalData}. */
export interface EvalData {
  /** The labelled training split (the kNN bank, the probe's training rows). */
  train: DataSource;
  /** The labelled test split that is scored. */
  test: DataSource;
  /** How the data was split. */
  split: SplitRecord;
  /** Frees both splits. */
  dispose(): void;
}

/** The train and test splits of a labelled data source (a run's recorded split when given). */
export async function openEvalData(data: string, size: number, options: Pick<OpenOptions, 'recorded' | 'testFraction' | 'splitSeed' | 'skipBad' | 'sourceScale'> = {}): Promise<EvalData> {
  const splits = await openSplits(data, { size, ...options });
  const fail = (message: string) => {
    splits.dispose();
    return new Error(`${data}: ${message}`);
  };
  if (splits.train.labels === null) throw fail('evaluation needs labels (class folders, CIFAR or IDX labels)');
  if (splits.test === null || splits.test.labels === null) throw fail('evaluation needs a labelled test split (this data has none: --test-fraction is 0)');
  return { train: splits.train, test: splits.test, split: splits.record, dispose: splits.dispose };
}

/** What an evaluation scored, for its JSON output: the kind of split and the image counts. */
export function splitSummary(split: SplitRecord): Record<string, unknown> {
  const { kind, testFraction, seed, trainImages, testImages } = split;
  return kind === 'held-out' ? { kind, testFraction, seed, trainImages, testImages } : { kind, trainImages, testImages };
}

/**
 * The raw-pixel baseline sees images of at most this side: a 96-px colour view has 27,648 values,
 * whose covariance the linear probe could not decompose; 32 × 32 (3,072) keeps the colours and
 * layout that pixels carry (docs/photos.md: kNN on 32-px pixels against 96-px ones).
 */
export const PIXEL_SIDE = 32;

/** Raw pixels (scaled to [0, 1], at most PIXEL_SIDE on a side, flattened) as features, in batches of the source. */
export async function pixelFeatures(source: DataSource, size: number): Promise<Features> {
  const side = Math.min(size, PIXEL_SIDE);
  const indices = Int32Array.from({ length: source.size }, (_, i) => i);
  const parts: Tensor[] = [];
  try {
    for (let start = 0; start < indices.length; start += 2000) {
      const batch = indices.subarray(start, start + 2000);
      const images = source.loadSync ? source.loadSync(batch) : await source.load(batch);
      parts.push(
        keep(
          tidy(() => {
            const x = prepareImages(images, size);
            return (side === size ? x : F.interpolate(x, { size: side, mode: 'bilinear', antialias: true }).clamp(0, 1)).flatten(1);
          }),
        ),
      );
      images.dispose();
    }
    return { features: keep(tidy(() => cat(parts, 0))), labels: source.labels, indices };
  } finally {
    for (const p of parts) p.dispose();
  }
}

/** Options of {@link runProtocol}. */
export interface ProtocolOptions {
  /** kNN: neighbours that vote (default 200). */
  k?: number;
  /** kNN: temperature of the similarity weights (default 0.1). */
  temperature?: number;
  /** Seed of the label draws and of the linear probe (default 0). */
  seed?: number;
  /** Share of the training labels used (class-balanced; 1: all). */
  fraction?: number;
  /** Label draws averaged when fraction < 1. */
  draws?: number;
  /** The linear probe's L-BFGS iterations (its default when absent). */
  maxIterations?: number;
  /** Progress label (null: none). */
  label?: string | null;
}

/** An evaluation's scores, with protocol-specific details (k, λ, confusion matrix…) as extra keys. */
export interface EvalResult {
  /** The protocol that was run. */
  protocol: Protocol;
  /** The mean over the label draws. */
  accuracy: number;
  /** Sample standard deviation over the draws (0 for one). */
  std: number;
  /** Test accuracy (0–1) of each label draw. */
  accuracies: number[];
  /** Share of the training labels used (1: all). */
  fraction: number;
  /** Labelled training images per draw. */
  trainImages: number;
  [key: string]: unknown;
}

/** counts[t][p]: how many images of true class t were predicted as p. */
export function confusionMatrix(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number[][] {
  if (truth.length !== predicted.length) throw new RangeError(`confusionMatrix: ${truth.length} labels but ${predicted.length} predictions`);
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const [t, p] = [truth[i]!, predicted[i]!];
    if (!(t >= 0 && t < classes && p >= 0 && p < classes)) throw new RangeError(`confusionMatrix: label ${t} or prediction ${p} of item ${i} is not a class (0–${classes - 1})`);
    counts[t]![p]!++;
  }
  return counts;
}

export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return { mean, std };
}

/**
 * Scores features by kNN or a linear probe trained on `train` and tested on `test`, with all the
 * training labels or a class-balanced fraction of them (averaged over several label draws).
 */
export function runProtocol(protocol: Protocol, train: Features, test: Features, { k = 200, temperature = 0.1, seed = 0, fraction = 1, draws = 3, maxIterations, label }: ProtocolOptions = {}): EvalResult {
  if (train.labels === null || test.labels === null) throw new Error('evaluation needs labels');
  const trainLabels = train.labels;
  const rounds = fraction < 1 ? draws : 1;
  const accuracies: number[] = [];
  const details: Record<string, unknown>[] = [];
  let trainImages = 0;
  for (let d = 0; d < rounds; d++) {
    const subset = fraction < 1 ? labelFraction(trainLabels, fraction, seed, d) : null;
    const x = subset === null ? train.features : tidy(() => train.features.indexSelect(0, tensor(subset, { dtype: 'int64' })));
    const y = subset === null ? trainLabels : Int32Array.from(subset, (i) => trainLabels[i]!);
    trainImages = y.length;
    try {
      if (protocol === 'knn') {
        accuracies.push(knnAccuracy(x, y, test.features, test.labels, { k, temperature, label: label === null ? null : `${label ?? 'kNN'}${rounds > 1 ? ` (label draw ${d + 1}/${rounds})` : ''}` }));
      } else {
        const probeLabel = label === null ? null : `${label ?? 'linear probe'}${rounds > 1 ? ` (label draw ${d + 1}/${rounds})` : ''}`;
        const r = linearProbe({ features: x, labels: y }, { features: test.features, labels: test.labels }, { seed: seed + d, maxIterations, label: probeLabel });
        accuracies.push(r.accuracy);
        details.push({ l2: r.l2, heldOutAccuracy: r.heldOutAccuracy, iterations: r.iterations, ...(rounds === 1 ? { confusion: confusionMatrix(test.labels, r.predictions, classCount(y, test.labels)) } : {}) });
      }
    } finally {
      if (x !== train.features) x.dispose();
    }
  }
  const { mean, std } = meanStd(accuracies);
  const extra = protocol === 'knn' ? { k, temperature } : rounds === 1 ? details[0]! : { fits: details };
  return { protocol, accuracy: mean, std, accuracies, fraction, draws: rounds, trainImages, ...extra };
}

// The evaluation protocols on a labelled train/test pair: kNN and linear probe, on the features of
// an encoder or on raw pixels (a baseline).
import { openSource } from '../data/open.js';
import { MemorySource, type DataSource } from '../data/source.js';
import { tidy } from '../tensor/tensor.js';
import { prepareImages, type Features } from './features.js';
import { knnAccuracy } from './knn.js';
import { linearProbe } from './linear.js';

export type Protocol = 'knn' | 'linear';

export interface EvalData {
  train: DataSource;
  test: DataSource;
}

/** The train and test splits of a labelled data source. */
export async function openEvalData(data: string, size: number): Promise<EvalData> {
  const train = await openSource(data, { split: 'train', size });
  if (train.labels === null) throw new Error(`${data}: evaluation needs labels (class folders, CIFAR or IDX labels)`);
  let test: DataSource;
  try {
    test = await openSource(data, { split: 'test', size });
  } catch {
    test = train;
  }
  if (test === train) throw new Error(`${data}: evaluation needs a test split (fashion-mnist, CIFAR test_batch.bin / test.bin)`);
  return { train, test };
}

/** Raw pixels (scaled to [0, 1], flattened) as features. */
export async function pixelFeatures(source: DataSource, size: number): Promise<Features> {
  const indices = Int32Array.from({ length: source.size }, (_, i) => i);
  const images = source.loadSync ? source.loadSync(indices) : await source.load(indices);
  const features = tidy(() => prepareImages(images, size).flatten(1));
  images.dispose();
  return { features, labels: source.labels, indices };
}

export interface EvalResult {
  protocol: Protocol;
  accuracy: number;
  [key: string]: unknown;
}

export function runProtocol(protocol: Protocol, train: Features, test: Features, { k = 200, temperature = 0.1, seed = 0 } = {}): EvalResult {
  if (train.labels === null || test.labels === null) throw new Error('evaluation needs labels');
  if (protocol === 'knn') {
    return { protocol, accuracy: knnAccuracy(train.features, train.labels, test.features, test.labels, { k, temperature }), k, temperature };
  }
  const r = linearProbe({ features: train.features, labels: train.labels }, { features: test.features, labels: test.labels }, { seed });
  return { protocol, accuracy: r.accuracy, l2: r.l2, heldOutAccuracy: r.heldOutAccuracy, iterations: r.iterations };
}

export function disposeEvalData(d: EvalData): void {
  for (const s of [d.train, d.test]) if (s instanceof MemorySource) s.dispose();
}

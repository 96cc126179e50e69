// Batches from a data source: seeded per-epoch shuffling, drop_last, the next batch prefetched
// while the current one is used, and a resumable position (epoch, step) for exact resume.
import type { Tensor } from '../tensor/tensor.js';
import { Random } from './random.js';
import type { DataSource } from './source.js';

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  dropLast?: boolean;
  seed?: number;
}

export interface Batch {
  /** uint8 images [n, C, H, W], owned by the receiver. */
  images: Tensor;
  /** Labels of the images (null for unlabelled data). */
  labels: Int32Array | null;
  /** Indices into the source. */
  indices: Int32Array;
  epoch: number;
  /** The step within the epoch (0-based). */
  step: number;
}

export class Loader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number;

  constructor(
    readonly source: DataSource,
    { batchSize, shuffle = true, dropLast = true, seed = 0 }: LoaderOptions,
  ) {
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batch size must be a positive integer (got ${batchSize})`);
    if (dropLast && batchSize > source.size) {
      throw new RangeError(`batch size ${batchSize} is larger than the data set (${source.size} images) and the last partial batch is dropped`);
    }
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
  }

  get stepsPerEpoch(): number {
    return this.dropLast ? Math.floor(this.source.size / this.batchSize) : Math.ceil(this.source.size / this.batchSize);
  }

  /** The order of the data in an epoch: a permutation that depends only on (seed, epoch). */
  order(epoch: number): Int32Array {
    if (!this.shuffle) return Int32Array.from({ length: this.source.size }, (_, i) => i);
    return new Random(this.seed, epoch, 0x10ade5).permutation(this.source.size);
  }

  indices(epoch: number, step: number): Int32Array {
    const start = step * this.batchSize;
    return this.order(epoch).subarray(start, Math.min(start + this.batchSize, this.source.size));
  }

  /**
   * The batches of one epoch from `fromStep` on; the next batch is requested before the current
   * one is handed out, so on-the-fly decoding overlaps the caller's work.
   */
  async *epoch(epoch: number, fromStep = 0): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const steps = this.stepsPerEpoch;
    const slice = (step: number) => order.slice(step * this.batchSize, Math.min((step + 1) * this.batchSize, order.length));
    const request = (step: number) => {
      const indices = slice(step);
      return { indices, images: this.source.loadSync ? Promise.resolve(this.source.loadSync(indices)) : this.source.load(indices) };
    };
    let pending = fromStep < steps ? request(fromStep) : null;
    for (let step = fromStep; step < steps && pending !== null; step++) {
      const current = pending;
      pending = step + 1 < steps ? request(step + 1) : null;
      const images = await current.images;
      const labels = this.source.labels === null ? null : Int32Array.from(current.indices, (i) => this.source.labels![i]!);
      yield { images, labels, indices: current.indices, epoch, step };
    }
  }
}

// Batches from a data source: seeded per-epoch shuffling, drop_last, the next batch prefetched
// while the current one is used, and a resumable position (epoch, step) for exact resume.
// Data-parallel workers each take their share of every global batch (torch's DistributedSampler:
// disjoint, seeded per epoch), cut per batch rather than per epoch so that the global batches do
// not depend on the number of workers, and a run can resume with another number of them.
import type { Frames } from './frames.js';
import { Random } from '../random.js';
import { loadFrames, type DataSource } from './source.js';

/** Options of {@link Loader}. */
export interface LoaderOptions {
  /** Images per (global) batch. */
  batchSize: number;
  /** Shuffle the order every epoch (default true). */
  shuffle?: boolean;
  /** Drop the last partial batch (default true; required when sharded). */
  dropLast?: boolean;
  /** Seed of the shuffling; each epoch's order depends only on (seed, epoch) (default 0). */
  seed?: number;
  /** This worker's share of each batch of `batchSize` (the global batch) when data-parallel. */
  shard?: {
    /** This worker's index, 0 … count - 1. */
    rank: number;
    /** The number of workers. */
    count: number;
  };
}

/** One batch from {@link Loader.epoch}. */
export interface Batch {
  /** The images' frames (an image folder's whole photos; other sources' images as they are), owned by the receiver. */
  frames: Frames;
  /** Data-parallel, with frames of differing sizes: every frame's size in the global batch (the crops are drawn for all of it). */
  batchSizes: {
    /** Frame widths, in pixels. */
    widths: Int32Array;
    /** Frame heights, in pixels. */
    heights: Int32Array;
  } | null;
  /** Labels of the images (null for unlabelled data). */
  labels: Int32Array | null;
  /** Indices into the source. */
  indices: Int32Array;
  /** The epoch (0-based). */
  epoch: number;
  /** The step within the epoch (0-based). */
  step: number;
}

/**
 * Batches from a data source: seeded per-epoch shuffling, dropLast, the next batch prefetched while
 * the current one is used, resumable at any (epoch, step), and sharding among data-parallel workers.
 */
export class Loader {
  /** Images per global batch (all workers together). */
  readonly batchSize: number;
  /** Whether each epoch's order is shuffled. */
  readonly shuffle: boolean;
  /** Whether the last partial batch is dropped. */
  readonly dropLast: boolean;
  /** Seed of the shuffling. */
  readonly seed: number;
  /** This worker's share of each global batch ({ rank: 0, count: 1 } when alone). */
  readonly shard: {
    /** This worker's index, 0 … count - 1. */
    rank: number;
    /** The number of workers. */
    count: number;
  };

  /** @param source The data the batches come from. */
  constructor(
    readonly source: DataSource,
    { batchSize, shuffle = true, dropLast = true, seed = 0, shard = { rank: 0, count: 1 } }: LoaderOptions,
  ) {
    if (!(shard.rank >= 0 && shard.rank < shard.count) || (shard.count > 1 && (batchSize % shard.count !== 0 || !dropLast))) {
      throw new RangeError(`a batch of ${batchSize} cannot be split evenly among ${shard.count} workers (it must be a multiple, with the last partial batch dropped)`);
    }
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batch size must be a positive integer (got ${batchSize})`);
    if (dropLast && batchSize > source.size) {
      throw new RangeError(`batch size ${batchSize} is larger than the data set (${source.size} images) and the last partial batch is dropped`);
    }
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
    this.shard = shard;
  }

  /** The number of batches in an epoch. */
  get stepsPerEpoch(): number {
    return this.dropLast ? Math.floor(this.source.size / this.batchSize) : Math.ceil(this.source.size / this.batchSize);
  }

  /** The order of the data in an epoch: a permutation that depends only on (seed, epoch). */
  order(epoch: number): Int32Array {
    if (!this.shuffle) return Int32Array.from({ length: this.source.size }, (_, i) => i);
    return new Random(this.seed, epoch, 0x10ade5).permutation(this.source.size);
  }

  /** This worker's images of a batch: its slice of the global batch. */
  indices(epoch: number, step: number): Int32Array {
    return this.#slice(this.order(epoch), step);
  }

  #slice(order: Int32Array, step: number): Int32Array {
    const share = this.batchSize / this.shard.count;
    const start = step * this.batchSize + this.shard.rank * share;
    return order.slice(start, Math.min(start + share, order.length));
  }

  /**
   * The batches of one epoch from `fromStep` on; the next batch is requested before the current
   * one is handed out, so on-the-fly decoding overlaps the caller's work.
   */
  async *epoch(epoch: number, fromStep = 0): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const steps = this.stepsPerEpoch;
    const source = this.source;
    const request = (step: number) => {
      const indices = this.#slice(order, step);
      const frames = loadFrames(source, indices);
      const global = order.subarray(step * this.batchSize, (step + 1) * this.batchSize);
      const batchSizes = this.shard.count > 1 && source.frameSizes ? source.frameSizes(global) : Promise.resolve(null);
      return { indices, frames, batchSizes };
    };
    let pending = fromStep < steps ? request(fromStep) : null;
    for (let step = fromStep; step < steps && pending !== null; step++) {
      const current = pending;
      pending = step + 1 < steps ? request(step + 1) : null;
      const frames = await current.frames;
      const labels = source.labels === null ? null : Int32Array.from(current.indices, (i) => source.labels![i]!);
      yield { frames, batchSizes: await current.batchSizes, labels, indices: current.indices, epoch, step };
    }
  }
}

// Data sources behind one interface: a size, uint8 images [N, C, H, W], optional labels and class names.
import { tensor } from '../tensor/create.js';
import { keep, Tensor, tidy } from '../tensor/tensor.js';

export interface DataSource {
  /** What the data is, for logs and errors (a path or a name). */
  readonly description: string;
  readonly size: number;
  /** [C, H, W] of every image. */
  readonly imageShape: readonly [number, number, number];
  readonly classNames: readonly string[] | null;
  /** The label of each image, or null for unlabelled data. */
  readonly labels: Int32Array | null;
  /** Files or records skipped as unreadable (only with skipBad). */
  readonly skipped: number;
  /** uint8 images [n, C, H, W] at the given indices (owned by the caller). */
  load(indices: ArrayLike<number>): Promise<Tensor>;
  /** The same, synchronously, for sources held in memory. */
  loadSync?(indices: ArrayLike<number>): Tensor;
}

/** A data set held in memory as one uint8 tensor [N, C, H, W]. */
export class MemorySource implements DataSource {
  readonly size: number;
  readonly imageShape: readonly [number, number, number];

  constructor(
    readonly images: Tensor,
    readonly labels: Int32Array | null,
    readonly classNames: readonly string[] | null,
    readonly description: string,
    readonly skipped = 0,
  ) {
    const [n, c, h, w] = images.shape;
    if (images.ndim !== 4 || images.dtype !== 'uint8') {
      throw new TypeError(`${description}: images must be uint8 [N, C, H, W], got ${images.dtype} [${images.shape.join(', ')}]`);
    }
    if (labels !== null && labels.length !== n) throw new RangeError(`${description}: ${labels.length} labels for ${n} images`);
    keep(images);
    this.size = n!;
    this.imageShape = [c!, h!, w!];
  }

  loadSync(indices: ArrayLike<number>): Tensor {
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      if (!(k >= 0 && k < this.size)) throw new RangeError(`${this.description}: index ${k} out of range (size ${this.size})`);
    }
    return tidy(() => this.images.indexSelect(0, tensor(Int32Array.from(indices), { dtype: 'int64' })));
  }

  async load(indices: ArrayLike<number>): Promise<Tensor> {
    return this.loadSync(indices);
  }

  /** The first n images (or a chosen subset) as a new source sharing nothing with this one. */
  subset(indices: ArrayLike<number>): MemorySource {
    const labels = this.labels === null ? null : Int32Array.from(indices, (i) => this.labels![i]!);
    return new MemorySource(this.loadSync(indices), labels, this.classNames, `${this.description} (subset of ${indices.length})`);
  }

  dispose(): void {
    this.images.dispose();
  }
}

/** An error about a specific input file, with its path in the message. */
export class DataError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'DataError';
  }
}

// Data sources behind one interface: a size, uint8 images [N, C, H, W], optional labels and class names.
import { resolve } from 'node:path';
import { tensor } from '../tensor/create.js';
import { keep, Tensor, tidy } from '../tensor/tensor.js';
import { Frames } from './frames.js';
import { centreSquares } from '../augment/geometry.js';

/** A data set behind one interface: a size, uint8 images [N, C, H, W], optional labels and class names. */
export interface DataSource {
  /** What the data is, for logs and errors (a path or a name). */
  readonly description: string;
  /** The number of images. */
  readonly size: number;
  /** [C, H, W] of every image. */
  readonly imageShape: readonly [number, number, number];
  /** The name of each class, indexed by label (null when unknown or unlabelled). */
  readonly classNames: readonly string[] | null;
  /** The label of each image, or null for unlabelled data. */
  readonly labels: Int32Array | null;
  /** Files or records skipped as unreadable (only with skipBad). */
  readonly skipped: number;
  /** Each image's file, relative to the data's root (image folders only). */
  readonly files?: readonly string[];
  /** uint8 images [n, C, H, W] at the given indices (owned by the caller): an image folder's prepared images (centre squares at the view size). */
  load(indices: ArrayLike<number>): Promise<Tensor>;
  /**
   * The whole frames the random resized crop cuts from (image folders: each photo at its source
   * resolution, any aspect; owned by the caller). Sources without it: their images are their frames.
   */
  loadFrames?(indices: ArrayLike<number>): Promise<Frames>;
  /** The sizes of those frames, without their pixels (data-parallel workers draw the crops of a whole global batch). */
  frameSizes?(indices: ArrayLike<number>): Promise<{
    /** Frame widths, in pixels. */
    widths: Int32Array;
    /** Frame heights, in pixels. */
    heights: Int32Array;
  }>;
  /** The same, synchronously, for sources held in memory. */
  loadSync?(indices: ArrayLike<number>): Tensor;
  /** Frees what the source holds (its images, when in memory). */
  dispose?(): void;
}

/** A data set held in memory as one uint8 tensor [N, C, H, W]. */
export class MemorySource implements DataSource {
  /** The number of images, N. */
  readonly size: number;
  readonly imageShape: readonly [number, number, number];

  /**
   * @param images All the images, uint8 [N, C, H, W]; the source keeps them (dispose() frees them).
   * @param labels The label of each image, or null.
   * @param classNames The name of each class, indexed by label, or null.
   * @param description What the data is, for logs and errors.
   */
  constructor(
    readonly images: Tensor,
    readonly labels: Int32Array | null,
    readonly classNames: readonly string[] | null,
    readonly description: string,
    readonly skipped = 0,
    readonly files?: readonly string[],
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

  dispose(): void {
    this.images.dispose();
  }
}

/**
 * Frames held in memory (an image folder's photos at their source resolution): `load` gives each
 * one's centre square at the view size, `loadFrames` the frames themselves, without a copy.
 */
export class FrameSource implements DataSource {
  readonly size: number;
  readonly imageShape: readonly [number, number, number];

  constructor(
    readonly frames: Frames,
    viewSize: number,
    readonly labels: Int32Array | null,
    readonly classNames: readonly string[] | null,
    readonly description: string,
    readonly skipped = 0,
    readonly files?: readonly string[],
  ) {
    if (labels !== null && labels.length !== frames.count) throw new RangeError(`${description}: ${labels.length} labels for ${frames.count} images`);
    frames.keep();
    this.size = frames.count;
    this.imageShape = [frames.channels, viewSize, viewSize];
  }

  #check(indices: ArrayLike<number>): void {
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      if (!(k >= 0 && k < this.size)) throw new RangeError(`${this.description}: index ${k} out of range (size ${this.size})`);
    }
  }

  async frameSizes(indices: ArrayLike<number>): Promise<{ widths: Int32Array; heights: Int32Array }> {
    this.#check(indices);
    return { widths: Int32Array.from(indices, (i) => this.frames.widths[i]!), heights: Int32Array.from(indices, (i) => this.frames.heights[i]!) };
  }

  /**
   * The chosen frames: a table over the same pixels, which it borrows (no copy, and no second
   * handle whose bytes V8 would count again each batch): valid while the source is.
   */
  framesAt(indices: ArrayLike<number>): Frames {
    this.#check(indices);
    const f = this.frames;
    return new Frames(f.data, f.channels, f.layout, Float64Array.from(indices, (i) => f.offsets[i]!), Int32Array.from(indices, (i) => f.heights[i]!), Int32Array.from(indices, (i) => f.widths[i]!), false);
  }

  async loadFrames(indices: ArrayLike<number>): Promise<Frames> {
    return this.framesAt(indices);
  }

  loadSync(indices: ArrayLike<number>): Tensor {
    const frames = this.framesAt(indices);
    try {
      return centreSquares(frames, this.imageShape[1]);
    } finally {
      frames.dispose();
    }
  }

  async load(indices: ArrayLike<number>): Promise<Tensor> {
    return this.loadSync(indices);
  }

  dispose(): void {
    this.frames.dispose();
  }
}

/**
 * Some of another source's images (a split, a subset), optionally with its labels renumbered; no
 * copy. The views of one base share it: the last one disposed disposes the base.
 */
export class SourceView implements DataSource {
  /** The number of images in the view. */
  readonly size: number;
  readonly labels: Int32Array | null;
  /** The name of each class, indexed by (possibly renumbered) label. */
  readonly classNames: readonly string[] | null;
  readonly files?: readonly string[];
  readonly loadSync?: (indices: ArrayLike<number>) => Tensor;
  readonly #owner: { refs: number; base: DataSource };
  #disposed = false;

  /**
   * @param base The source the images come from.
   * @param indices The base's index of each image of the view.
   */
  constructor(
    readonly base: DataSource,
    readonly indices: Int32Array,
    readonly description: string,
    relabel?: { labels: Int32Array; classNames: readonly string[] },
    owner?: { refs: number; base: DataSource },
  ) {
    for (const i of indices) if (!(i >= 0 && i < base.size)) throw new RangeError(`${description}: index ${i} out of range (size ${base.size})`);
    this.size = indices.length;
    const labels = relabel?.labels ?? base.labels;
    this.labels = labels === null ? null : Int32Array.from(indices, (i) => labels[i]!);
    this.classNames = relabel?.classNames ?? base.classNames;
    if (base.files) this.files = Array.from(indices, (i) => base.files![i]!);
    if (base.loadSync) this.loadSync = (idx) => base.loadSync!(this.#map(idx));
    this.#owner = owner ?? { refs: 0, base };
    this.#owner.refs++;
  }

  /** Views of one base that dispose it together (each view's dispose() releases its share). */
  static split(base: DataSource, parts: { indices: Int32Array; description: string; relabel?: { labels: Int32Array; classNames: readonly string[] } }[]): SourceView[] {
    const owner = { refs: 0, base };
    return parts.map((p) => new SourceView(base, p.indices, p.description, p.relabel, owner));
  }

  get imageShape(): readonly [number, number, number] {
    return this.base.imageShape;
  }

  get skipped(): number {
    return this.base.skipped;
  }

  #map(indices: ArrayLike<number>): Int32Array {
    return Int32Array.from(indices, (k) => {
      if (!(k >= 0 && k < this.size)) throw new RangeError(`${this.description}: index ${k} out of range (size ${this.size})`);
      return this.indices[k]!;
    });
  }

  load(indices: ArrayLike<number>): Promise<Tensor> {
    return this.base.load(this.#map(indices));
  }

  get loadFrames(): ((indices: ArrayLike<number>) => Promise<Frames>) | undefined {
    const base = this.base;
    return base.loadFrames && ((indices) => base.loadFrames!(this.#map(indices)));
  }

  get frameSizes(): ((indices: ArrayLike<number>) => Promise<{
    /** Frame widths, in pixels. */
    widths: Int32Array;
    /** Frame heights, in pixels. */
    heights: Int32Array;
  }>) | undefined {
    const base = this.base;
    return base.frameSizes && ((indices) => base.frameSizes!(this.#map(indices)));
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (--this.#owner.refs === 0) this.#owner.base.dispose?.();
  }
}

/** The number of classes the labels imply (the largest label + 1), by a loop: spreading a large label array into Math.max overflows the call stack. */
export function classCount(...labelSets: ArrayLike<number>[]): number {
  let top = -1;
  for (const labels of labelSets) for (let i = 0; i < labels.length; i++) if (labels[i]! > top) top = labels[i]!;
  return top + 1;
}

/** An error about a specific input file, with its path in the message. */
export class DataError extends Error {
  /** @param file The file at fault. */
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'DataError';
  }
}

/** The frames of a source's images at the given indices (its images themselves when it keeps no larger frames), owned by the caller. */
export async function loadFrames(source: DataSource, indices: ArrayLike<number>): Promise<Frames> {
  return source.loadFrames ? source.loadFrames(indices) : Frames.of(source.loadSync ? source.loadSync(indices) : await source.load(indices));
}

/** The paths of a source's files (image folders): its `files` joined to the folder they are relative to. */
export function filePaths(source: DataSource): string[] | null {
  let root: DataSource = source;
  while (root instanceof SourceView) root = root.base;
  return source.files ? source.files.map((f) => resolve(root.description, f)) : null;
}

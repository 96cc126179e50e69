// Frames: a batch of images that may differ in size, the input of the random resized crop. A photo
// is kept whole (its full frame, at a resolution that leaves the smallest crops their pixels) and
// every view is cut from it, as torchvision cuts from the decoded photo; images of one size (IDX,
// CIFAR) are frames too, without a copy. The pixels of all frames lie end to end in one tensor,
// each frame planar (C×H×W) or interleaved (H×W×C, as images decode), found by its offset.
import { tensor } from '../tensor/create.js';
import { keep, type Tensor } from '../tensor/tensor.js';

/** How a frame's pixels lie: planar C×H×W, or interleaved H×W×C (as images decode). */
export type FrameLayout = 'planar' | 'interleaved';

/**
 * A batch of images that may differ in size (the input of the random resized crop): the pixels of
 * all frames end to end in one tensor, each frame found by its offset, height and width.
 */
export class Frames {
  constructor(
    /** The pixels (uint8, or float), owned by the frames unless `owned` is false. */
    readonly data: Tensor,
    /** Channels per pixel, C. */
    readonly channels: number,
    /** Planar or interleaved pixels. */
    readonly layout: FrameLayout,
    /** Where each frame starts in `data` (elements). */
    readonly offsets: Float64Array,
    /** Each frame's height, in pixels. */
    readonly heights: Int32Array,
    /** Each frame's width, in pixels. */
    readonly widths: Int32Array,
    /** false: `data` is borrowed (another owner's, e.g. a source's store of every frame) and outlives these frames. */
    readonly owned = true,
  ) {
    if (offsets.length !== heights.length || offsets.length !== widths.length) throw new RangeError('frames: one offset, height and width per frame');
  }

  /** Images of one size [N, C, H, W] as frames: the tensor itself, not a copy (disposing the frames disposes it). */
  static of(images: Tensor): Frames {
    if (images.ndim !== 4) throw new RangeError(`frames: images must be [N, C, H, W] (got [${images.shape.join(', ')}])`);
    const [n, c, h, w] = images.shape as [number, number, number, number];
    // (offsets of the row-major layout: the native kernels read a contiguous copy of a tensor that is not)
    return new Frames(images, c, 'planar', Float64Array.from({ length: n }, (_, i) => i * c * h * w), new Int32Array(n).fill(h), new Int32Array(n).fill(w));
  }

  /** The number of frames. */
  get count(): number {
    return this.offsets.length;
  }

  /** [N, 3] int64 (offset, height, width): the native kernels' table. */
  table(): Tensor {
    const t = new Float64Array(3 * this.count);
    for (let i = 0; i < this.count; i++) t.set([this.offsets[i]!, this.heights[i]!, this.widths[i]!], 3 * i);
    return tensor(t, { shape: [this.count, 3], dtype: 'int64' });
  }

  /** Keeps the frames' tensor beyond the enclosing tidy() scope. */
  keep(): this {
    if (this.owned) keep(this.data);
    return this;
  }

  /** Frees the pixels when the frames own them. */
  dispose(): void {
    if (this.owned) this.data.dispose();
  }
}

/** The centred square of a width × height frame (the box every evaluation path resizes to the view). */
export function centreSquare(width: number, height: number): { x: number; y: number; width: number; height: number } {
  const side = Math.min(width, height);
  return { x: Math.floor((width - side) / 2), y: Math.floor((height - side) / 2), width: side, height: side };
}

// Random resized crop and horizontal flip for a whole batch: the crop boxes are drawn per image as
// torchvision's RandomResizedCrop.get_params does, then every crop is cut, resampled bilinearly to
// the output size and flipped in one native pass (native/augment.cc, resizedCrops).
import { native } from '../native.js';
import { tensor } from '../tensor/create.js';
import { fromHandle, noGrad, Tensor, tidy } from '../tensor/tensor.js';
import type { Random } from '../random.js';
import { centreSquare, Frames } from '../data/frames.js';

/** A crop box in pixels: top-left corner (x, y), width and height. */
export interface Box {
  /** Left edge, in pixels from the frame's left. */
  x: number;
  /** Top edge, in pixels from the frame's top. */
  y: number;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of an area fraction uniform in
 * `scale` and a log-uniform aspect ratio in `ratio`; then the centre-crop fallback.
 */
export function sampleCropBox(rng: Random, width: number, height: number, scale: readonly [number, number], ratio: readonly [number, number]): Box {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = rng.int(0, height - h + 1);
      const x = rng.int(0, width - w + 1);
      return { x, y, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  // (at least one pixel: where the frame narrowed to the allowed aspect is under half a pixel across, torchvision rounds to an empty box)
  if (inRatio < Math.min(...ratio)) h = Math.max(1, Math.round(w / Math.min(...ratio)));
  else if (inRatio > Math.max(...ratio)) w = Math.max(1, Math.round(h * Math.max(...ratio)));
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * Crops `boxes` out of the frames (or images [N, C, H, W], uint8 or float), flips those marked, and
 * resamples each crop to size × size: float views [M, C, size, size], in [0, 1] for uint8 input.
 * Enlarged crops are bilinear (as upsample_bilinear2d, align_corners false); shrunk ones are
 * antialiased (the triangle filter stretched by the scale, as PIL's resize and ATen's
 * _upsample_bilinear2d_aa). View i is cut from frame source[i] (default: frame i). A box covering
 * the whole image at the same size returns it.
 */
export function resizedCrops(input: Tensor | Frames, boxes: readonly Box[], flips: readonly boolean[], size: number, source?: ArrayLike<number>): Tensor {
  const m = boxes.length;
  if (flips.length !== m) throw new RangeError(`need one flip flag per box (${m})`);
  const from = source ?? Int32Array.from({ length: m }, (_, i) => i);
  if (from.length !== m) throw new RangeError(`need one source index per box (${m})`);
  const flat = new Int32Array(m * 4);
  boxes.forEach((b, i) => flat.set([b.x, b.y, b.width, b.height], i * 4));
  return tidy(() => {
    const frames = input instanceof Frames ? input : Frames.of(input);
    return fromHandle(
      native.resizedCrops(
        frames.data.handle,
        frames.table().handle,
        frames.channels,
        frames.layout === 'interleaved',
        tensor(Int32Array.from(from), { dtype: 'int64' }).handle,
        tensor(flat, { shape: [m, 4], dtype: 'int64' }).handle,
        tensor(Uint8Array.from(flips, (f) => (f ? 1 : 0))).handle,
        size,
      ),
    );
  });
}

/**
 * The prepared images of frames: each one's centre square resampled to size × size, rounded to
 * uint8 [N, C, size, size]. The one preprocessing of every path that encodes an image (eval,
 * embed, index and similar, the report; the web demo computes the same in the browser).
 */
export function centreSquares(frames: Frames, size: number): Tensor {
  const boxes = Array.from({ length: frames.count }, (_, i) => centreSquare(frames.widths[i]!, frames.heights[i]!));
  return noGrad(() => tidy(() => resizedCrops(frames, boxes, new Array<boolean>(frames.count).fill(false), size).mul(255).round().to('uint8')));
}

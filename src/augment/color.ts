// Colour transforms on batches of float images in [0, 1], [N, C, H, W], with one factor per image,
// following torchvision's definitions so results match it:
//   brightness: blend with black; contrast: blend with the mean of the grayscale image;
//   saturation: blend with the grayscale image; hue: rotate H in HSV (torchvision's formulas);
//   grayscale: ITU-R 601-2 luma (0.299, 0.587, 0.114). Every blend is clamped to [0, 1].
// The pixels are computed by one fused native pass per image (native/augment.cc, colorOps_), which
// also runs whole per-image programs (T's jitter in a random order per image) in one call.
import { native } from '../native.js';
import { tensor } from '../tensor/create.js';
import { Tensor, tidy } from '../tensor/tensor.js';

export const ColorOp = { brightness: 0, contrast: 1, saturation: 2, hue: 3, grayscale: 4, solarize: 5, skip: -1 } as const;

/**
 * Runs per-image programs in place on float images x [M, C, H, W]: image i gets ops[i·K + j]
 * (ColorOp codes) with factors[i·K + j], j = 0 … K−1 in order.
 */
export function colorOps_(x: Tensor, ops: Int32Array, factors: Float32Array): Tensor {
  const m = x.size(0);
  const k = m === 0 ? 0 : ops.length / m;
  tidy(() => {
    native.colorOps_(x.handle, tensor(ops, { shape: [m, k] }).handle, tensor(factors, { shape: [m, k] }).handle);
  });
  return x;
}

/** One op on every image of a copy of x, with per-image factors. */
function single(x: Tensor, op: number, factors: Tensor | number): Tensor {
  const m = x.size(0);
  const f = typeof factors === 'number' ? new Float32Array(m).fill(factors) : Float32Array.from(factors.to('float32').toArray() as Float32Array);
  return colorOps_(x.float().contiguous().clone(), new Int32Array(m).fill(op), f);
}

export const adjustBrightness = (x: Tensor, factor: Tensor): Tensor => single(x, ColorOp.brightness, factor);
export const adjustContrast = (x: Tensor, factor: Tensor): Tensor => single(x, ColorOp.contrast, factor);
/** 1-channel images are unchanged. */
export const adjustSaturation = (x: Tensor, factor: Tensor): Tensor => single(x, ColorOp.saturation, factor);
/** Rotates the hue by `shift` turns (in [-0.5, 0.5]); 1-channel images are unchanged. */
export const adjustHue = (x: Tensor, shift: Tensor): Tensor => single(x, ColorOp.hue, shift);
/** Inverts pixels at or above the threshold (BYOL / SimCLR v2's solarize). */
export const solarize = (x: Tensor, threshold = 0.5): Tensor => single(x, ColorOp.solarize, threshold);

/** Luma L = 0.299 R + 0.587 G + 0.114 B, [N, 1, H, W]; a 1-channel image is its own luma. */
export function grayscale(x: Tensor): Tensor {
  if (x.size(1) === 1) return x.clone();
  return tidy(() => single(x, ColorOp.grayscale, 0).narrow(1, 0, 1).contiguous());
}

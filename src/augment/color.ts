// Colour transforms on batches of float images in [0, 1], [N, C, H, W], with one factor per image
// ([N] tensors), following torchvision's definitions so results match it:
//   brightness: blend with black; contrast: blend with the mean of the grayscale image;
//   saturation: blend with the grayscale image; hue: rotate H in HSV (torchvision's formulas);
//   grayscale: ITU-R 601-2 luma. Every blend is clamped to [0, 1].
import * as ops from '../tensor/generated/ops.js';
import { stack } from '../tensor/create.js';
import { Tensor, tidy } from '../tensor/tensor.js';

/** [N] → [N, 1, 1, 1] for broadcasting over an image. */
function perImage(f: Tensor): Tensor {
  return f.reshape([-1, 1, 1, 1]);
}

/** f·a + (1 − f)·b, clamped to [0, 1]. */
function blend(a: Tensor, b: Tensor, f: Tensor): Tensor {
  return tidy(() => {
    const w = perImage(f);
    return a.mul(w).add_(b.mul(w.neg().add_(1))).clamp_(0, 1);
  });
}

/** Luma L = 0.299 R + 0.587 G + 0.114 B, [N, 1, H, W]; a 1-channel image is its own luma. */
export function grayscale(x: Tensor): Tensor {
  if (x.size(1) === 1) return x.clone();
  return tidy(() => {
    const [r, g, b] = x.unbind(1);
    return r!.mul(0.299).add_(g!, 0.587).add_(b!, 0.114).unsqueeze(1);
  });
}

export function adjustBrightness(x: Tensor, factor: Tensor): Tensor {
  return tidy(() => x.mul(perImage(factor)).clamp_(0, 1));
}

export function adjustContrast(x: Tensor, factor: Tensor): Tensor {
  return tidy(() => blend(x, grayscale(x).mean([1, 2, 3], true), factor));
}

export function adjustSaturation(x: Tensor, factor: Tensor): Tensor {
  if (x.size(1) === 1) return x.clone();
  return tidy(() => blend(x, grayscale(x), factor));
}

/** RGB → HSV, all in [0, 1] (torchvision's _rgb2hsv). */
export function rgbToHsv(x: Tensor): Tensor {
  return tidy(() => {
    const [r, g, b] = x.unbind(1) as [Tensor, Tensor, Tensor];
    const maxc = x.amax(1);
    const minc = x.amin(1);
    const flat = maxc.eq(minc);
    const cr = maxc.sub(minc);
    const s = cr.div(ops.where$ScalarSelf(flat, 1, maxc));
    const divisor = ops.where$ScalarSelf(flat, 1, cr);
    const rc = maxc.sub(r).div(divisor);
    const gc = maxc.sub(g).div(divisor);
    const bc = maxc.sub(b).div(divisor);
    const isR = maxc.eq(r);
    const isG = maxc.eq(g).logicalAnd(isR.logicalNot());
    const isB = maxc.ne(g).logicalAnd(isR.logicalNot());
    const h = bc.sub(gc).mul(isR).add_(rc.sub(bc).add_(2).mul(isG)).add_(gc.sub(rc).add_(4).mul(isB));
    const hue = ops.fmod$Scalar(h.div(6).add_(1), 1);
    return stack([hue, s, maxc], 1);
  });
}

/** HSV → RGB (torchvision's _hsv2rgb, with a gather instead of its einsum). */
export function hsvToRgb(x: Tensor): Tensor {
  return tidy(() => {
    const [h, s, v] = x.unbind(1) as [Tensor, Tensor, Tensor];
    const i = h.mul(6).floor();
    const f = h.mul(6).sub(i);
    const p = v.mul(s.neg().add(1)).clamp_(0, 1);
    const q = v.mul(s.mul(f).neg_().add_(1)).clamp_(0, 1);
    const t = v.mul(s.mul(f.neg().add(1)).neg_().add_(1)).clamp_(0, 1);
    const sector = ops.remainder$Scalar(i.long(), 6).unsqueeze(1);
    const pick = (choices: Tensor[]) => stack(choices, 1).gather(1, sector);
    return ops.cat([pick([v, q, p, p, t, v]), pick([t, v, v, q, p, p]), pick([p, p, t, v, v, q])], 1);
  });
}

/** Rotates the hue by `shift` turns (in [-0.5, 0.5]); 1-channel images are unchanged. */
export function adjustHue(x: Tensor, shift: Tensor): Tensor {
  if (x.size(1) === 1) return x.clone();
  return tidy(() => {
    const hsv = rgbToHsv(x);
    const [h, s, v] = hsv.unbind(1) as [Tensor, Tensor, Tensor];
    const rotated = ops.remainder$Scalar(h.add(shift.reshape([-1, 1, 1])), 1);
    return hsvToRgb(stack([rotated, s, v], 1));
  });
}

/** Inverts pixels at or above the threshold (BYOL / SimCLR v2's solarize). */
export function solarize(x: Tensor, threshold = 0.5): Tensor {
  return tidy(() => ops.where$self(x.ge(threshold), x.neg().add_(1), x));
}

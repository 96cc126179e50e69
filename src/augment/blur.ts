// Gaussian blur with one σ per image, as torchvision's GaussianBlur (reflect padding, kernel
// exp(-x²/2σ²) normalised), applied as two separable grouped convolutions over the whole batch.
import * as ops from '../tensor/generated/ops.js';
import * as F from '../tensor/functional.js';
import { arange } from '../tensor/create.js';
import { Tensor, tidy } from '../tensor/tensor.js';

/** The odd kernel size closest to 10% of the image side (at least 3). */
export function blurKernelSize(side: number): number {
  const k = Math.max(3, Math.round(side * 0.1));
  return k % 2 === 1 ? k : k + 1;
}

/** Blurs images [N, C, H, W] with σ per image (sigma: [N]) and an odd kernel size. */
export function gaussianBlur(images: Tensor, sigma: Tensor, kernelSize: number): Tensor {
  if (kernelSize % 2 !== 1) throw new RangeError(`the blur kernel size must be odd (got ${kernelSize})`);
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const half = (kernelSize - 1) / 2;
  return tidy(() => {
    const x = arange(-half, half + 1, 1, { dtype: images.dtype }).reshape([1, -1]);
    const pdf = x.div(sigma.reshape([-1, 1])).square().mul_(-0.5).exp();
    const kernel = pdf.div(pdf.sum(1, true)); // [N, K]
    const perChannel = ops.repeat_interleave$self_int(kernel, c, 0); // [N·C, K]
    const padded = ops.reflection_pad2d(images.reshape([1, n * c, h, w]), [half, half, half, half]);
    const horizontal = F.conv2d(padded, perChannel.reshape([n * c, 1, 1, kernelSize]), null, { groups: n * c });
    const vertical = F.conv2d(horizontal, perChannel.reshape([n * c, 1, kernelSize, 1]), null, { groups: n * c });
    return vertical.reshape([n, c, h, w]);
  });
}

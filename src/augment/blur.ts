// Gaussian blur with one σ per image, as torchvision's GaussianBlur (reflect padding, kernel
// exp(-x²/2σ²) normalised), as a separable native pass (native/augment.cc, gaussianBlur_).
import { native } from '../native.js';
import { tensor } from '../tensor/create.js';
import { Tensor, tidy } from '../tensor/tensor.js';

/** The odd kernel size closest to 10% of the image side (at least 3). */
export function blurKernelSize(side: number): number {
  const k = Math.max(3, Math.round(side * 0.1));
  return k % 2 === 1 ? k : k + 1;
}

/** Blurs float images x [M, C, H, W] in place: image rows[i] with σ = sigma[i]. */
export function gaussianBlur_(x: Tensor, rows: ArrayLike<number>, sigma: ArrayLike<number>, kernelSize: number): Tensor {
  tidy(() => {
    native.gaussianBlur_(x.handle, tensor(Int32Array.from(rows), { dtype: 'int64' }).handle, tensor(Float32Array.from(sigma)).handle, kernelSize);
  });
  return x;
}

/** A blurred copy of float images [N, C, H, W], σ per image (sigma: [N]). */
export function gaussianBlur(images: Tensor, sigma: Tensor, kernelSize: number): Tensor {
  const n = images.size(0);
  const copy = images.float().contiguous().clone();
  return gaussianBlur_(copy, Int32Array.from({ length: n }, (_, i) => i), sigma.to('float32').toArray() as Float32Array, kernelSize);
}

// Random resized crop and horizontal flip for a whole batch: the crop boxes are drawn per image as
// torchvision's RandomResizedCrop.get_params does, then every crop is resampled bilinearly to the
// output size in one affine_grid + grid_sample call (a flip is a negative x scale).
import * as F from '../tensor/functional.js';
import { tensor } from '../tensor/create.js';
import { Tensor, tidy } from '../tensor/tensor.js';
import type { Random } from '../data/random.js';

/** A crop box in pixels: top-left corner (x, y), width and height. */
export interface Box {
  x: number;
  y: number;
  width: number;
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
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * Crops `boxes` out of the images [N, C, H, W] (float), flips those marked, and resamples each
 * crop bilinearly to size × size. A box covering the whole image at the same size returns it.
 */
export function resizedCrops(images: Tensor, boxes: readonly Box[], flips: readonly boolean[], size: number): Tensor {
  const [n, c, height, width] = images.shape as [number, number, number, number];
  if (boxes.length !== n || flips.length !== n) throw new RangeError(`need one box and one flip flag per image (${n})`);
  // Output pixel centres at normalised u ∈ (-1, 1) sample the input at a·u + t (align_corners false).
  const theta = new Float32Array(n * 6);
  boxes.forEach((b, i) => {
    const sx = (b.width / width) * (flips[i] ? -1 : 1);
    theta.set([sx, 0, (2 * b.x + b.width) / width - 1, 0, b.height / height, (2 * b.y + b.height) / height - 1], i * 6);
  });
  return tidy(() => {
    const grid = F.affineGrid(tensor(theta, { shape: [n, 2, 3] }), [n, c, size, size], { alignCorners: false });
    return F.gridSample(images, grid, { mode: 'bilinear', paddingMode: 'border', alignCorners: false });
  });
}

// A picture of what T does: for a few images, the original and several pairs of views, in a grid.
import sharp from 'sharp';
import * as F from '../tensor/functional.js';
import { cat } from '../tensor/create.js';
import { noGrad, Tensor, tidy } from '../tensor/tensor.js';
import type { Random } from '../random.js';
import type { SimCLRAugmentation } from './simclr-augmentation.js';
import { Frames } from '../data/frames.js';
import { centreSquares } from './geometry.js';

/** Renders rows of [original (its prepared centre square), view 1a, view 1b, view 2a, …] of frames (or images) as an RGB PNG (white gutters). */
export async function previewGrid(images: Tensor | Frames, augmentation: SimCLRAugmentation, rng: Random, { pairs = 3, zoom = 1 } = {}): Promise<Buffer> {
  const size = augmentation.options.size;
  const { data, width, height } = noGrad(() =>
    tidy(() => {
      const frames = images instanceof Frames ? images : Frames.of(images);
      const n = frames.count;
      const original = centreSquares(frames, size).float().div(255);
      const columns: Tensor[] = [original];
      for (let k = 0; k < pairs; k++) {
        const [a, b] = augmentation.pair(frames, rng).split(n, 0) as [Tensor, Tensor];
        columns.push(a, b);
      }
      const gutter = 2;
      const cell = (t: Tensor) => {
        const rgb = t.size(1) === 1 ? t.expand([t.size(0), 3, size, size]) : t;
        const big = zoom > 1 ? F.interpolate(rgb, { size: size * zoom, mode: 'nearest' }) : rgb;
        return F.pad(big, [gutter, gutter, gutter, gutter], { value: 1 });
      };
      // rows: images; columns: original and views → [3, rows·cellH, cols·cellW]
      const rows = Array.from({ length: n }, (_, i) => cat(columns.map((c) => cell(c.narrow(0, i, 1)).squeeze(0)), 2));
      const grid = cat(rows, 1);
      const framed = F.pad(grid.unsqueeze(0), [gutter, gutter, gutter, gutter], { value: 1 }).squeeze(0);
      const bytes = framed.mul(255).round().clamp(0, 255).to('uint8').permute([1, 2, 0]).contiguous();
      return { data: bytes.toArray() as Uint8Array, width: framed.size(2), height: framed.size(1) };
    }),
  );
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

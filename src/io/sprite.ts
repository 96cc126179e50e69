// Many small images as one picture: a sprite sheet that a page cuts into tiles (the report's map,
// the browser demo's neighbours).
import sharp from 'sharp';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';

/** uint8 images [N, C, H, W] as one JPEG sprite sheet (a row of `columns` tiles per line). */
export async function spriteSheet(images: Tensor, columns: number): Promise<{ jpeg: Buffer; tile: number; columns: number }> {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const rows = Math.ceil(n / columns);
  const bytes = noGrad(() =>
    tidy(() => {
      const sheet = new Uint8Array(rows * h * columns * w * c);
      const hwc = images.permute([0, 2, 3, 1]).contiguous().toArray() as Uint8Array;
      for (let i = 0; i < n; i++) {
        const [r, col] = [Math.floor(i / columns), i % columns];
        for (let y = 0; y < h; y++) sheet.set(hwc.subarray((i * h + y) * w * c, (i * h + y + 1) * w * c), ((r * h + y) * columns * w + col * w) * c);
      }
      return sheet;
    }),
  );
  const jpeg = await sharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { raw: { width: columns * w, height: rows * h, channels: c as 1 | 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
  return { jpeg, tile: w, columns };
}

// Images through the decode path every command shares (folder.ts, sharp): the header read
// (imageDims), then the file decoded to its frame and prepared as the encoder sees it
// (prepareFiles: the centre square at the view size). The input is the file; its first byte
// picks grey or RGB and the view size (8 to 64 px).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageDims, prepareFiles } from '../../src/data/folder.js';
import { check, refuseOnlyAsync, scratch } from '../contract.js';

const dir = scratch('image');
const file = join(dir, 'image.jpg');

export async function fuzz(data: Buffer): Promise<void> {
  const mode = data[0] ?? 0;
  const channels = mode & 1 ? 1 : 3;
  const size = 8 * (1 + ((mode >> 1) & 7));
  writeFileSync(file, data.subarray(1));
  const dims = await refuseOnlyAsync(dir, () => imageDims(file));
  if (dims !== undefined) check(Number.isSafeInteger(dims.width) && dims.width > 0 && Number.isSafeInteger(dims.height) && dims.height > 0, `imageDims gave ${dims.width}×${dims.height}`);
  const images = await refuseOnlyAsync(dir, () => prepareFiles([file], size, channels));
  if (images === undefined) return;
  try {
    check(images.dtype === 'uint8' && images.shape.join() === [1, channels, size, size].join(), `prepared ${images.dtype} [${images.shape.join(', ')}], not uint8 [1, ${channels}, ${size}, ${size}]`);
  } finally {
    images.dispose();
  }
}

// IDX files (MNIST, Fashion-MNIST), gzipped or not: the input is the file, read as images
// [N, H, W] and as the labels [2] of two fixed images.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES, idxSource, readIdx } from '../../src/data/idx.js';
import { check, refuseOnly, scratch } from '../contract.js';
import { checkSource } from '../sources.js';

const dir = scratch('idx');
const file = join(dir, 'train-images-idx3-ubyte');
const images = join(dir, 'two-images-idx3-ubyte');
writeFileSync(images, Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]));

export function fuzz(data: Buffer): void {
  writeFileSync(file, data);
  const idx = refuseOnly(dir, () => readIdx(file));
  if (idx !== undefined) check(idx.data.length === idx.dims.reduce((a, b) => a * b, 1), `readIdx gave ${idx.data.length} bytes for dimensions ${idx.dims.join('×')}`);
  const asImages = refuseOnly(dir, () => idxSource(file, null));
  if (asImages !== undefined) {
    check(idx !== undefined, 'idxSource accepted a file readIdx refused');
    checkSource(asImages);
  }
  const asLabels = refuseOnly(dir, () => idxSource(images, file, FASHION_MNIST_CLASSES));
  if (asLabels !== undefined) checkSource(asLabels);
}

// A search index (simclr index's safetensors file: vectors, thumbnails, labels, and its metadata:
// files, class names, fingerprint, image size, channels). The input is the whole file. What is
// accepted must be an index that simclr similar and export --web can use.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadIndex, nearestNeighbours } from '../../src/search/image-index.js';
import { check, refuseOnly, scratch } from '../contract.js';

const dir = scratch('search-index');
const file = join(dir, 'index.safetensors');

export function fuzz(data: Buffer): void {
  writeFileSync(file, data);
  const index = refuseOnly(dir, () => loadIndex(file));
  if (index === undefined) return;
  try {
    const { vectors, thumbnails, files, labels, classNames } = index;
    const n = files.length;
    check(vectors.dtype === 'float32' && vectors.ndim === 2 && vectors.size(0) === n && vectors.size(1) > 0, `vectors ${vectors.dtype} [${vectors.shape.join(', ')}] for ${n} files`);
    check(files.every((f) => typeof f === 'string'), 'a file name is not a string');
    check(thumbnails.dtype === 'uint8' && thumbnails.ndim === 4 && thumbnails.size(0) === n && thumbnails.size(1) === index.inChannels && thumbnails.size(2) === thumbnails.size(3) && thumbnails.size(2) > 0, `thumbnails ${thumbnails.dtype} [${thumbnails.shape.join(', ')}] for ${n} images of ${index.inChannels} channels`);
    check(index.inChannels === 1 || index.inChannels === 3, `inChannels ${index.inChannels}`);
    check(Number.isSafeInteger(index.imageSize) && index.imageSize > 0, `imageSize ${index.imageSize}`);
    check(classNames === null || (Array.isArray(classNames) && classNames.every((c) => typeof c === 'string')), 'a class name is not a string');
    check(labels === null || (labels.length === n && labels.every((l) => l >= 0 && (classNames === null || l < classNames.length))), 'the labels do not match the files and classes');
    check(typeof index.fingerprint === 'string' && typeof index.checkpoint === 'string' && typeof index.data === 'string', 'fingerprint, checkpoint or data is not a string');
    if (n > 0) nearestNeighbours(vectors.narrow(0, 0, 1), vectors, 3, { normalisedBank: true });
  } finally {
    index.vectors.dispose();
    index.thumbnails.dispose();
  }
}

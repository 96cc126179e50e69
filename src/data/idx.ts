// IDX files (MNIST, Fashion-MNIST), gzipped or not. The name `fashion-mnist` resolves to the files
// of Debian's dataset-fashion-mnist package.
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { tensor } from '../tensor/create.js';
import { DataError, MemorySource } from './source.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** The contents of an IDX file. */
export interface IdxArray {
  /** The size of each dimension (e.g. [N, H, W] for images). */
  dims: number[];
  /** The elements, row-major (a view of the file's bytes). */
  data: Uint8Array;
}

/** Reads an unsigned-byte IDX file (magic 0x00000803 for images, 0x00000801 for labels). */
export function readIdx(file: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DataError(file, `cannot read (${(e as Error).message})`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new DataError(file, `corrupt gzip data (${(e as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new DataError(file, `not an IDX file: ${bytes.length} bytes is shorter than the header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) throw new DataError(file, 'not an IDX file: the magic number does not start with two zero bytes');
  const type = bytes[2]!;
  const ndims = bytes[3]!;
  if (type !== 0x08) throw new DataError(file, `IDX element type 0x${type.toString(16)} is not supported (only unsigned bytes, 0x08)`);
  if (ndims < 1 || bytes.length < 4 + 4 * ndims) throw new DataError(file, `IDX header with ${ndims} dimensions is truncated`);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndims;
  if (bytes.length - start < count) {
    throw new DataError(file, `the header promises ${dims.join('×')} = ${count} bytes of data but the file holds ${bytes.length - start}`);
  }
  return { dims, data: bytes.subarray(start, start + count) };
}

/** Images [N, H, W] and optional labels [N] as a source of 1-channel images. */
export function idxSource(imagesFile: string, labelsFile: string | null, classNames: readonly string[] | null = null): MemorySource {
  const images = readIdx(imagesFile);
  if (images.dims.length !== 3) throw new DataError(imagesFile, `expected images [N, H, W], got dimensions ${images.dims.join('×')}`);
  const [n, h, w] = images.dims as [number, number, number];
  if (n === 0 || h === 0 || w === 0) throw new DataError(imagesFile, n === 0 ? 'holds no images (dimensions 0×' + `${h}×${w})` : `its ${n} images are ${h}×${w} pixels: an image needs at least one`);
  let labels: Int32Array | null = null;
  if (labelsFile !== null) {
    const l = readIdx(labelsFile);
    if (l.dims.length !== 1 || l.dims[0] !== n) throw new DataError(labelsFile, `expected ${n} labels, got dimensions ${l.dims.join('×')}`);
    labels = Int32Array.from(l.data);
    const bad = classNames === null ? -1 : labels.findIndex((v) => v >= classNames.length);
    if (bad >= 0) throw new DataError(labelsFile, `record ${bad} has label ${labels[bad]}, outside the ${classNames!.length} classes (0–${classNames!.length - 1})`);
  }
  const t = tensor(images.data, { shape: [n, 1, h, w] });
  return new MemorySource(t, labels, labels ? classNames : null, imagesFile);
}

/** Fashion-MNIST from Debian's dataset-fashion-mnist package. */
export function fashionMnist(split: 'train' | 'test' = 'train', dir = FASHION_MNIST_DIR): MemorySource {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = join(dir, `${prefix}-images-idx3-ubyte.gz`);
  if (!existsSync(images)) {
    throw new DataError(images, 'Fashion-MNIST is not installed: apt-get install -y dataset-fashion-mnist (or run ./setup.sh)');
  }
  return idxSource(images, join(dir, `${prefix}-labels-idx1-ubyte.gz`), FASHION_MNIST_CLASSES);
}

// A colour image folder of 32×32 JPEGs for the benchmarks, made deterministically from
// Fashion-MNIST (no CIFAR is available offline): each 28×28 image colourised with a per-image
// foreground and background colour from a seeded PRNG, resized to 32×32 by sharp and saved as a JPEG
// (quality 90) under <dir>/train/<class>/ and <dir>/test/<class>/, the layout that
// `simclr pretrain --data <dir>` and torchvision's ImageFolder read. Written once per image count into
// os.tmpdir()/simclr-bench-colour32-<count> and reused after.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, readIdx } from '../src/data/idx.js';
import { Random } from '../src/random.js';

/** Class folder names that sort in label order: 0-t-shirt-top, 1-trouser, … */
const classFolders = FASHION_MNIST_CLASSES.map((name, c) => `${c}-${name.toLowerCase().replace(/[^a-z]+/g, '-')}`);

async function writeSplit(root: string, split: 'train' | 'test', count: number): Promise<void> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = readIdx(join(FASHION_MNIST_DIR, `${prefix}-images-idx3-ubyte.gz`));
  const labels = readIdx(join(FASHION_MNIST_DIR, `${prefix}-labels-idx1-ubyte.gz`)).data;
  const [n, h, w] = images.dims as [number, number, number];
  if (count > n) throw new RangeError(`the colour set's ${split} split can hold at most ${n} images (asked for ${count})`);
  for (const folder of classFolders) mkdirSync(join(root, split, folder), { recursive: true });
  const write = async (i: number) => {
    const rng = new Random(0xc0102, split === 'train' ? 0 : 1, i);
    const fg = [0, 1, 2].map(() => rng.uniform(0, 256));
    const bg = [0, 1, 2].map(() => rng.uniform(0, 256));
    const rgb = Buffer.alloc(h * w * 3);
    for (let p = 0; p < h * w; p++) {
      const a = images.data[i * h * w + p]! / 255;
      for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round(bg[c]! + (fg[c]! - bg[c]!) * a);
    }
    const file = join(root, split, classFolders[labels[i]!]!, `${String(i).padStart(5, '0')}.jpg`);
    await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).resize(32, 32).jpeg({ quality: 90 }).toFile(file);
  };
  let next = 0;
  const worker = async () => {
    while (next < count) await write(next++);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** The folder with `count` training images (and `testCount`, by default min(count, 2000), test images), made if missing. */
export async function colourFolder(count: number, { testCount = Math.min(count, 2000), dir }: { testCount?: number; dir?: string } = {}): Promise<string> {
  dir ??= join(tmpdir(), `simclr-bench-colour32-${count}${testCount === Math.min(count, 2000) ? '' : `-${testCount}`}`);
  if (existsSync(dir)) return dir;
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  await writeSplit(partial, 'train', count);
  await writeSplit(partial, 'test', testCount);
  try {
    renameSync(partial, dir);
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(dir)) throw e; // else another process made it first
  }
  return dir;
}

// An image folder's decode cache (~/.cache/simclr/<key>.safetensors: the decoded frames, their
// sizes and which files they are), which later runs read instead of decoding. The input replaces
// the cache of a fixed folder of three images in two classes. A cache that cannot be used must be
// ignored (the folder is decoded again, with a warning), never give a source that breaks its
// promises, and never throw.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { imageFolder } from '../../src/data/folder.js';
import { scratch } from '../contract.js';
import { checkSourceAsync } from '../sources.js';

const dir = scratch('decode-cache');
const root = join(dir, 'photos');
const cacheDir = join(dir, 'cache');
const options = { size: 8, cacheDir, warn: () => {} };
let cacheFile: string | undefined;

/** Makes the folder and its decode cache (once); the cache's path. */
export async function preparedCache(): Promise<string> {
  cacheFile ??= await prepare();
  return cacheFile;
}

async function prepare(): Promise<string> {
  for (const [name, w, h, colour] of [['a/1.png', 12, 9, '#c04020'], ['a/2.png', 9, 12, '#20c040'], ['b/3.png', 10, 10, '#2040c0']] as const) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    await sharp({ create: { width: w, height: h, channels: 3, background: colour } }).png().toFile(join(root, name));
  }
  (await imageFolder(root, options)).dispose?.();
  const made = readdirSync(cacheDir).filter((f) => f.endsWith('.safetensors'));
  if (made.length !== 1) throw new Error(`expected one decode cache in ${cacheDir}, found ${made.length}`);
  return join(cacheDir, made[0]!);
}

export async function fuzz(data: Buffer): Promise<void> {
  writeFileSync(await preparedCache(), data);
  await checkSourceAsync(await imageFolder(root, options));
}

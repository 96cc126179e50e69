// Image folders decoded by sharp: root/<class>/… (labels from the folder names) or a flat,
// unlabelled folder, recursive. JPEG, PNG, WebP, GIF and TIFF; EXIF orientation applied, alpha
// dropped, grayscale / CMYK / 16-bit converted to 8-bit RGB, other sizes resized (shorter side)
// and centre-cropped. A data set that fits in memory is decoded once into a uint8 tensor and
// cached in a safetensors file that later runs read instead of decoding; a larger one is decoded
// on the fly by sharp's thread pool.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { tensor } from '../tensor/create.js';
import { Tensor, tidy } from '../tensor/tensor.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { Task, warning } from '../progress.js';
import { DataError, MemorySource, type DataSource } from './source.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff']);

export interface FolderOptions {
  /** Images are resized and centre-cropped to size × size. */
  size: number;
  channels?: 1 | 3;
  /** Skip unreadable files with a warning (counted in `skipped`) instead of failing. */
  skipBad?: boolean;
  /** Where decoded data sets are cached (default ~/.cache/simclr); null turns the cache off. */
  cacheDir?: string | null;
  /** Data sets larger than this (bytes, decoded) are decoded on the fly instead (default 4 GiB). */
  memoryLimit?: number;
  warn?: (message: string) => void;
}

interface Listing {
  files: string[];
  labels: Int32Array | null;
  classNames: string[] | null;
  /** Size and modification time of each file (size −1 when it cannot be read: a bad file, found at decoding). */
  stamps: { size: number; mtimeMs: number }[];
}

function stamp(file: string): { size: number; mtimeMs: number } {
  try {
    const { size, mtimeMs } = statSync(file);
    return { size, mtimeMs };
  } catch {
    return { size: -1, mtimeMs: 0 };
  }
}

function isImage(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot >= 0 && IMAGE_EXTENSIONS.has(name.slice(dot).toLowerCase());
}

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if ((entry.isFile() || entry.isSymbolicLink()) && isImage(entry.name)) out.push(path);
  }
}

/** Lists the images: class folders when the root holds only folders, otherwise a flat unlabelled set. */
export function listImageFolder(root: string): Listing {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new DataError(root, 'not a folder');
  const top = readdirSync(root, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
  const flat = top.some((e) => !e.isDirectory() && isImage(e.name));
  let files: string[] = [];
  let labels: Int32Array | null = null;
  let classNames: string[] | null = null;
  if (flat) {
    walk(root, files);
  } else {
    classNames = [];
    const perClass: number[] = [];
    for (const dir of top.filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
      const found: string[] = [];
      walk(join(root, dir), found);
      if (found.length === 0) continue;
      perClass.push(found.length);
      classNames.push(dir);
      files = files.concat(found);
    }
    labels = new Int32Array(files.length);
    let at = 0;
    perClass.forEach((count, c) => labels!.fill(c, at, (at += count)));
  }
  if (files.length === 0) throw new DataError(root, 'no images found (JPEG, PNG, WebP, GIF or TIFF files, in the folder or in class subfolders)');
  return { files, labels, classNames, stamps: files.map(stamp) };
}

/** Decodes one image to size × size × channels bytes (HWC). */
export async function decodeImage(file: string, size: number, channels: 1 | 3): Promise<Buffer> {
  let bytes: number;
  try {
    bytes = statSync(file).size;
  } catch (e) {
    // e.g. a symbolic link to nothing: a bad file like any other
    throw new DataError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (bytes === 0) throw new DataError(file, 'empty file (0 bytes)');
  try {
    let image = sharp(file, { failOn: 'warning' })
      .rotate()
      .resize(size, size, { fit: 'cover', position: 'centre' });
    image = channels === 1 ? image.grayscale() : image.toColourspace('srgb');
    const { data, info } = await image.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== channels || info.width !== size || info.height !== size) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels} instead of ${size}×${size}×${channels}`);
    }
    return data;
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(file, `cannot decode the image (${(e as Error).message})`);
  }
}

/** Decodes files concurrently (sharp's thread pool does the work); failed ones are null with skipBad. */
async function decodeAll(files: readonly string[], size: number, channels: 1 | 3, skipBad: boolean, warn: (m: string) => void, onDecoded?: () => void): Promise<(Buffer | null)[]> {
  const out: (Buffer | null)[] = new Array(files.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      try {
        out[i] = await decodeImage(files[i]!, size, channels);
      } catch (e) {
        if (!skipBad || !(e instanceof DataError)) throw e;
        warn(`skipping ${(e as Error).message}`);
      }
      onDecoded?.();
    }
  };
  await Promise.all(Array.from({ length: Math.max(2, availableParallelism() * 2) }, worker));
  return out;
}

/** HWC buffers of equal size into a uint8 tensor [N, C, H, W]. */
export function toTensor(buffers: readonly Buffer[], size: number, channels: number): Tensor {
  const all = new Uint8Array(buffers.length * size * size * channels);
  buffers.forEach((b, i) => all.set(b, i * b.length));
  return tidy(() => tensor(all, { shape: [buffers.length, size, size, channels] }).permute([0, 3, 1, 2]).contiguous());
}

function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'simclr');
}

function cacheKey(root: string, listing: Listing, size: number, channels: number, skipBad: boolean): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ v: 2, root: resolve(root), size, channels, skipBad }));
  listing.files.forEach((f, i) => hash.update(`${relative(root, f)}\0${listing.stamps[i]!.size}\0${Math.round(listing.stamps[i]!.mtimeMs)}\n`));
  return hash.digest('hex').slice(0, 32);
}

/** A folder too large for memory: each batch is decoded when asked for. */
class StreamingFolderSource implements DataSource {
  readonly size: number;
  readonly imageShape: readonly [number, number, number];
  readonly files: readonly string[];
  constructor(
    readonly description: string,
    private readonly listing: Listing,
    private readonly imageSize: number,
    private readonly channels: 1 | 3,
    readonly skipped: number,
  ) {
    this.size = listing.files.length;
    this.imageShape = [channels, imageSize, imageSize];
    this.files = listing.files.map((f) => relative(description, f));
  }
  get labels(): Int32Array | null {
    return this.listing.labels;
  }
  get classNames(): readonly string[] | null {
    return this.listing.classNames;
  }
  async load(indices: ArrayLike<number>): Promise<Tensor> {
    const files = Array.from(indices, (i) => this.listing.files[i]!);
    const buffers = await decodeAll(files, this.imageSize, this.channels, false, () => {});
    return toTensor(buffers as Buffer[], this.imageSize, this.channels);
  }
}

/**
 * The files of a folder too large for memory that cannot be decoded (for skipBad, which must leave
 * them out before any batch is drawn): one decoding pass in chunks, its result cached as a list.
 */
async function unreadableFiles(root: string, listing: Listing, size: number, channels: 1 | 3, listFile: string | null, warn: (m: string) => void): Promise<Set<number>> {
  const position = new Map(listing.files.map((f, i) => [relative(root, f), i]));
  if (listFile !== null && existsSync(listFile)) {
    try {
      return new Set((JSON.parse(readFileSync(listFile, 'utf8')) as { skipped: string[] }).skipped.map((f) => position.get(f)!));
    } catch (e) {
      warn(`ignoring the unreadable list ${listFile} (${(e as Error).message})`);
    }
  }
  const task = new Task(`checking ${root} for unreadable images`, { total: listing.files.length, unit: 'images' });
  const bad = new Set<number>();
  let done = 0;
  const chunk = 1024;
  for (let start = 0; start < listing.files.length; start += chunk) {
    const decoded = await decodeAll(listing.files.slice(start, start + chunk), size, channels, true, warn, () => task.update(++done));
    decoded.forEach((b, i) => b === null && bad.add(start + i));
  }
  if (bad.size === listing.files.length) {
    task.end('failed');
    throw new DataError(root, `none of the ${listing.files.length} images could be decoded`);
  }
  if (bad.size > 0) warn(`${root}: skipped ${bad.size} unreadable file(s) of ${listing.files.length}`);
  if (listFile !== null) {
    mkdirSync(dirname(listFile), { recursive: true });
    writeFileAtomic(listFile, [Buffer.from(JSON.stringify({ skipped: [...bad].map((i) => relative(root, listing.files[i]!)) }))]);
  }
  task.end(`${listing.files.length - bad.size} readable${bad.size > 0 ? `, ${bad.size} skipped` : ''}`);
  return bad;
}

/** Opens an image folder: from the decode cache when possible, decoding (and caching) otherwise. */
export async function imageFolder(root: string, options: FolderOptions): Promise<DataSource> {
  const { size, channels = 3, skipBad = false, cacheDir = defaultCacheDir(), memoryLimit = 4 * 2 ** 30, warn = (m) => warning(`simclr: ${m}`) } = options;
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`image size must be a positive integer (got ${size})`);
  const listing = listImageFolder(root);
  const key = cacheKey(root, listing, size, channels, skipBad);
  const bytes = listing.files.length * size * size * channels;
  if (bytes > memoryLimit) {
    if (!skipBad) return new StreamingFolderSource(root, listing, size, channels, 0);
    const bad = await unreadableFiles(root, listing, size, channels, cacheDir === null ? null : join(cacheDir, `${key}.skipped.json`), warn);
    const keep = listing.files.map((_, i) => i).filter((i) => !bad.has(i));
    const kept: Listing = { files: keep.map((i) => listing.files[i]!), labels: listing.labels && Int32Array.from(keep, (i) => listing.labels![i]!), classNames: listing.classNames, stamps: keep.map((i) => listing.stamps[i]!) };
    return new StreamingFolderSource(root, kept, size, channels, bad.size);
  }

  const cacheFile = cacheDir === null ? null : join(cacheDir, `${key}.safetensors`);
  const relativeFiles = (kept: ArrayLike<number>) => Array.from(kept, (i) => relative(root, listing.files[i]!));
  if (cacheFile !== null && existsSync(cacheFile)) {
    try {
      const { tensors, metadata } = loadSafetensors(cacheFile);
      const images = tensors.get('images')!;
      const kept = tensors.get('kept')!;
      const keptIndices = kept.toArray() as Int32Array;
      kept.dispose();
      const meta = JSON.parse(metadata.simclr ?? '{}') as { skipped: number };
      const labels = listing.labels === null ? null : Int32Array.from(keptIndices, (i) => listing.labels![i]!);
      return new MemorySource(images, labels, listing.classNames, root, meta.skipped, relativeFiles(keptIndices));
    } catch (e) {
      warn(`ignoring the unreadable decode cache ${cacheFile} (${(e as Error).message})`);
    }
  }

  const task = new Task(`decoding ${root}`, { total: listing.files.length, unit: 'images' });
  let decoded: (Buffer | null)[];
  try {
    let done = 0;
    decoded = await decodeAll(listing.files, size, channels, skipBad, warn, () => task.update(++done));
  } catch (e) {
    task.end('failed');
    throw e;
  }
  const keep = decoded.map((b, i) => (b === null ? -1 : i)).filter((i) => i >= 0);
  const skipped = decoded.length - keep.length;
  if (keep.length === 0) {
    task.end('failed');
    throw new DataError(root, `none of the ${decoded.length} images could be decoded`);
  }
  if (skipped > 0) warn(`${root}: skipped ${skipped} unreadable file(s) of ${decoded.length}`);
  const images = toTensor(keep.map((i) => decoded[i]!), size, channels);
  const labels = listing.labels === null ? null : Int32Array.from(keep, (i) => listing.labels![i]!);
  if (cacheFile !== null) {
    mkdirSync(cacheDir!, { recursive: true });
    const kept = tensor(Int32Array.from(keep));
    saveSafetensors(cacheFile, { images, kept }, { simclr: JSON.stringify({ skipped, root: resolve(root) }) });
    kept.dispose();
  }
  task.end(`${keep.length} images${skipped > 0 ? `, ${skipped} skipped` : ''}${cacheFile !== null ? ', cached' : ''}`);
  return new MemorySource(images, labels, listing.classNames, root, skipped, relativeFiles(keep));
}

// Image folders decoded by sharp: root/<class>/… (labels from the folder names) or a flat,
// unlabelled folder, recursive. JPEG, PNG, WebP, GIF and TIFF; EXIF orientation applied, alpha
// dropped, grayscale / CMYK / 16-bit converted to 8-bit RGB.
// Each image is kept whole as a frame: its full frame, any aspect, shrunk (JPEG shrink-on-load,
// then Lanczos) to a shorter side of at most SOURCE_SCALE × the view size when it is larger, so
// that the random resized crop is cut from the photo, not from a thumbnail. Everything else (eval,
// embed, index, the report) sees the one prepared image: the frame's centre square resampled to
// the view (geometry.ts, centreSquares). A data set whose frames fit in memory is decoded once and
// cached in a safetensors file that later runs read instead of decoding; a larger one is decoded
// batch by batch by sharp's thread pool (the loader asks for the next batch while the step runs).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { cat, empty, tensor } from '../tensor/create.js';
import { Tensor, tidy } from '../tensor/tensor.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { Task, warning } from '../progress.js';
import { DataError, FrameSource, type DataSource } from './source.js';
import { Frames } from './frames.js';
import { evenlySpaced } from './split.js';
import { centreSquares } from '../augment/geometry.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff']);

/**
 * Frames are kept at a shorter side of at most this many times the view size (never above the
 * image's own): a crop of 8% of the area, the random resized crop's smallest, spans √0.08 ≈ 0.28
 * of the frame's side, so at 3.5× it still has about the view's pixels (docs/photos.md).
 */
export const SOURCE_SCALE = 3.5;

/** The longest shorter side a frame keeps for views of `size` pixels. */
export function frameCap(size: number, sourceScale = SOURCE_SCALE): number {
  return Math.max(size, Math.ceil(sourceScale * size));
}

/** The frame of a width × height image (upright) under a shorter-side cap: the image's own size when it is no larger. */
export function frameDims(width: number, height: number, cap: number): { width: number; height: number } {
  const shorter = Math.min(width, height);
  if (shorter <= cap) return { width, height };
  const f = cap / shorter;
  return width <= height ? { width: cap, height: Math.max(cap, Math.round(height * f)) } : { width: Math.max(cap, Math.round(width * f)), height: cap };
}

/** Options of {@link imageFolder}. */
export interface FolderOptions {
  /** The view size: each image is prepared as its centre square resampled to size × size. */
  size: number;
  /** Frames keep a shorter side of at most sourceScale × size (default SOURCE_SCALE; 1: thumbnails of the whole frame). */
  sourceScale?: number;
  /** Channels to decode to: 1 (grey) or 3 (RGB). */
  channels?: 1 | 3;
  /** Skip unreadable files with a warning (counted in `skipped`) instead of failing. */
  skipBad?: boolean;
  /** Where decoded data sets are cached (default ~/.cache/simclr); null turns the cache off. */
  cacheDir?: string | null;
  /** Data sets whose frames take more than this (bytes, decoded) are decoded batch by batch instead (default 4 GiB). */
  memoryLimit?: number;
  /** Receives warnings (such as skipped files). */
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

/**
 * Images up to this many pixels are decoded (sharp's default stops at 268 million): a 20,000 ×
 * 20,000 photo decodes, JPEGs shrunk on load, the rest streamed through the resize by libvips.
 */
const PIXEL_LIMIT = 2 ** 30;

/**
 * Decompression bombs: an image may claim at most this many pixels per byte of its file (past the
 * first 2^24 pixels): a file of a few bytes whose header claims half a billion pixels would
 * otherwise make the decoder allocate gigabytes before it finds the data missing. Real images stay
 * far below it (a 20,000 × 20,000 photo is megabytes, and needs 98 KB here).
 */
const PIXELS_PER_BYTE = 4096;

/** Refuses a header claiming more pixels than a file of `bytes` bytes can hold (see PIXELS_PER_BYTE). */
function checkPixels(file: string, bytes: number, width: number, height: number): void {
  if (width * height > 2 ** 24 + PIXELS_PER_BYTE * bytes) {
    throw new DataError(file, `its header claims ${width}×${height} pixels in a file of ${bytes} bytes, more than an image of that size compresses to (a corrupt header or a decompression bomb)`);
  }
}

/** One decoded frame: height × width × channels bytes (interleaved, as sharp gives them). */
export interface DecodedFrame {
  data: Buffer;
  width: number;
  height: number;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch (e) {
    // e.g. a symbolic link to nothing: a bad file like any other
    throw new DataError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** The upright size of an image from its header (EXIF orientation applied), without decoding it. */
export async function imageDims(file: string): Promise<{ width: number; height: number }> {
  const bytes = fileSize(file);
  if (bytes === 0) throw new DataError(file, 'empty file (0 bytes)');
  let dims: { width: number; height: number };
  try {
    const m = await sharp(file, { limitInputPixels: PIXEL_LIMIT }).metadata();
    const { width, height } = m.autoOrient ?? m;
    if (!(width! > 0 && height! > 0)) throw new Error('no size in the header');
    dims = { width: width!, height: height! };
  } catch (e) {
    throw new DataError(file, `cannot decode the image (its header: ${(e as Error).message})`);
  }
  checkPixels(file, bytes, dims.width, dims.height);
  return dims;
}

/** Decodes one image to its frame under a shorter-side cap (see frameDims). */
export async function decodeFrame(file: string, cap: number, channels: 1 | 3): Promise<DecodedFrame> {
  const bytes = fileSize(file);
  if (bytes === 0) throw new DataError(file, 'empty file (0 bytes)');
  try {
    let image = sharp(file, { failOn: 'warning', limitInputPixels: PIXEL_LIMIT }).rotate();
    const m = await image.metadata();
    const upright = m.autoOrient ?? m;
    checkPixels(file, bytes, upright.width!, upright.height!);
    const target = frameDims(upright.width!, upright.height!, cap);
    if (target.width !== upright.width || target.height !== upright.height) image = image.resize(target.width, target.height, { fit: 'fill' });
    image = channels === 1 ? image.grayscale() : image.toColourspace('srgb');
    const { data, info } = await image.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== channels || info.width !== target.width || info.height !== target.height) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels} instead of ${target.width}×${target.height}×${channels}`);
    }
    return { data, width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(file, `cannot decode the image (${(e as Error).message})`);
  }
}

/** Runs `work` on every file with sharp's thread pool kept busy; a DataError leaves null with skipBad (warned). */
async function decodeAll<T>(files: readonly string[], work: (file: string, i: number) => Promise<T>, skipBad: boolean, warn: (m: string) => void, onDecoded?: () => void): Promise<(T | null)[]> {
  const out: (T | null)[] = new Array(files.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      try {
        out[i] = await work(files[i]!, i);
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

/** Image files prepared as every path that encodes an image prepares them: uint8 [N, C, size, size] (see centreSquares). */
export async function prepareFiles(files: readonly string[], size: number, channels: 1 | 3, sourceScale = SOURCE_SCALE): Promise<Tensor> {
  const decoded = await decodeAll(files, (f) => decodeFrame(f, frameCap(size, sourceScale), channels), false, () => {});
  const frames = packFrames(decoded as DecodedFrame[], channels);
  try {
    return centreSquares(frames, size);
  } finally {
    frames.dispose();
  }
}

/** Decoded frames into one Frames (their bytes end to end, interleaved). */
export function packFrames(decoded: readonly DecodedFrame[], channels: number): Frames {
  const offsets = new Float64Array(decoded.length);
  let total = 0;
  decoded.forEach((d, i) => {
    offsets[i] = total;
    total += d.data.length;
  });
  const all = new Uint8Array(total);
  decoded.forEach((d, i) => all.set(d.data, offsets[i]!));
  return new Frames(tensor(all), channels, 'interleaved', offsets, Int32Array.from(decoded, (d) => d.height), Int32Array.from(decoded, (d) => d.width));
}

/** The folder of the decode cache (and of the baseline cache): $XDG_CACHE_HOME/simclr or ~/.cache/simclr. */
export function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'simclr');
}

function cacheKey(root: string, listing: Listing, cap: number, channels: number, skipBad: boolean): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ v: 3, root: resolve(root), cap, channels, skipBad }));
  listing.files.forEach((f, i) => hash.update(`${relative(root, f)}\0${listing.stamps[i]!.size}\0${Math.round(listing.stamps[i]!.mtimeMs)}\n`));
  return hash.digest('hex').slice(0, 32);
}

/** Headers of up to `count` evenly spaced images of a listing (unreadable ones left out): their upright sizes. */
export async function sampleDims(files: readonly string[], count = 64): Promise<{ width: number; height: number }[]> {
  const picked = Array.from(evenlySpaced(files.length, count), (i) => files[i]!);
  return (await decodeAll(picked, imageDims, true, () => {})).filter((d) => d !== null);
}

/** The bytes the frames of a listing take, estimated from a sample of headers. */
async function estimatedBytes(listing: Listing, cap: number, channels: number): Promise<number> {
  const dims = await sampleDims(listing.files);
  if (dims.length === 0) return 0;
  const mean = dims.reduce((sum, d) => {
    const f = frameDims(d.width, d.height, cap);
    return sum + f.width * f.height;
  }, 0) / dims.length;
  return mean * channels * listing.files.length;
}

/** A folder too large for memory: each batch is decoded when asked for. */
class StreamingFolderSource implements DataSource {
  readonly size: number;
  readonly imageShape: readonly [number, number, number];
  readonly files: readonly string[];
  constructor(
    readonly description: string,
    private readonly listing: Listing,
    private readonly viewSize: number,
    private readonly cap: number,
    private readonly channels: 1 | 3,
    readonly skipped: number,
  ) {
    this.size = listing.files.length;
    this.imageShape = [channels, viewSize, viewSize];
    this.files = listing.files.map((f) => relative(description, f));
  }
  get labels(): Int32Array | null {
    return this.listing.labels;
  }
  get classNames(): readonly string[] | null {
    return this.listing.classNames;
  }
  async loadFrames(indices: ArrayLike<number>): Promise<Frames> {
    const files = Array.from(indices, (i) => this.listing.files[i]!);
    const decoded = await decodeAll(files, (f) => decodeFrame(f, this.cap, this.channels), false, () => {});
    return packFrames(decoded as DecodedFrame[], this.channels);
  }
  async load(indices: ArrayLike<number>): Promise<Tensor> {
    const frames = await this.loadFrames(indices);
    try {
      return centreSquares(frames, this.viewSize);
    } finally {
      frames.dispose();
    }
  }
  async frameSizes(indices: ArrayLike<number>): Promise<{ widths: Int32Array; heights: Int32Array }> {
    const dims = (await decodeAll(Array.from(indices, (i) => this.listing.files[i]!), imageDims, false, () => {})).map((d) => frameDims(d!.width, d!.height, this.cap));
    return { widths: Int32Array.from(dims, (d) => d.width), heights: Int32Array.from(dims, (d) => d.height) };
  }
}

/**
 * The files of a folder too large for memory that cannot be decoded (for skipBad, which must leave
 * them out before any batch is drawn): one decoding pass in chunks, its result cached as a list.
 */
async function unreadableFiles(root: string, listing: Listing, cap: number, channels: 1 | 3, listFile: string | null, warn: (m: string) => void): Promise<Set<number>> {
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
    // (the frames are dropped as they come: only whether each one decodes is kept)
    const decoded = await decodeAll(listing.files.slice(start, start + chunk), async (f) => void (await decodeFrame(f, cap, channels)), true, warn, () => task.update(++done));
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
  const { size, sourceScale = SOURCE_SCALE, channels = 3, skipBad = false, cacheDir = defaultCacheDir(), memoryLimit = 4 * 2 ** 30, warn = (m) => warning(`simclr: ${m}`) } = options;
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`image size must be a positive integer (got ${size})`);
  if (!(sourceScale >= 1)) throw new RangeError(`the source scale must be at least 1 (got ${sourceScale})`);
  const cap = frameCap(size, sourceScale);
  const listing = listImageFolder(root);
  const key = cacheKey(root, listing, cap, channels, skipBad);
  const cacheFile = cacheDir === null ? null : join(cacheDir, `${key}.safetensors`);
  const relativeFiles = (kept: ArrayLike<number>) => Array.from(kept, (i) => relative(root, listing.files[i]!));
  if (cacheFile !== null && existsSync(cacheFile)) {
    try {
      const { tensors, metadata } = loadSafetensors(cacheFile);
      const data = tensors.get('frames')!;
      const sizes = tensors.get('sizes')!.toArray() as Int32Array;
      const keptIndices = tensors.get('kept')!.toArray() as Int32Array;
      for (const [name, t] of tensors) if (name !== 'frames') t.dispose();
      const meta = JSON.parse(metadata.simclr ?? '{}') as { skipped: number };
      const labels = listing.labels === null ? null : Int32Array.from(keptIndices, (i) => listing.labels![i]!);
      return new FrameSource(framesOf(data, sizes, channels), size, labels, listing.classNames, root, meta.skipped, relativeFiles(keptIndices));
    } catch (e) {
      warn(`ignoring the unreadable decode cache ${cacheFile} (${(e as Error).message})`);
    }
  }
  if ((await estimatedBytes(listing, cap, channels)) > memoryLimit) {
    if (!skipBad) return new StreamingFolderSource(root, listing, size, cap, channels, 0);
    const bad = await unreadableFiles(root, listing, cap, channels, cacheDir === null ? null : join(cacheDir, `${key}.skipped.json`), warn);
    const keep = listing.files.map((_, i) => i).filter((i) => !bad.has(i));
    const kept: Listing = { files: keep.map((i) => listing.files[i]!), labels: listing.labels && Int32Array.from(keep, (i) => listing.labels![i]!), classNames: listing.classNames, stamps: keep.map((i) => listing.stamps[i]!) };
    return new StreamingFolderSource(root, kept, size, cap, channels, bad.size);
  }

  const task = new Task(`decoding ${root}`, { total: listing.files.length, unit: 'images' });
  let decoded: { frames: Frames; kept: number[] };
  try {
    let done = 0;
    decoded = await decodeFrames(root, listing.files, cap, channels, skipBad, warn, () => task.update(++done));
  } catch (e) {
    task.end('failed');
    throw e;
  }
  const { frames, kept: keep } = decoded;
  const skipped = listing.files.length - keep.length;
  if (skipped > 0) warn(`${root}: skipped ${skipped} unreadable file(s) of ${listing.files.length}`);
  const labels = listing.labels === null ? null : Int32Array.from(keep, (i) => listing.labels![i]!);
  if (cacheFile !== null) {
    mkdirSync(cacheDir!, { recursive: true });
    tidy(() => {
      const sizes = tensor(Int32Array.from({ length: 2 * frames.count }, (_, k) => (k % 2 === 0 ? frames.heights : frames.widths)[k >> 1]!), { shape: [frames.count, 2] });
      saveSafetensors(cacheFile, { frames: frames.data, sizes, kept: tensor(Int32Array.from(keep)) }, { simclr: JSON.stringify({ skipped, root: resolve(root), cap }) });
    });
  }
  task.end(`${keep.length} images${skipped > 0 ? `, ${skipped} skipped` : ''}${cacheFile !== null ? ', cached' : ''}`);
  return new FrameSource(frames, size, labels, listing.classNames, root, skipped, relativeFiles(keep));
}

/**
 * Decodes files into one tensor of frames allocated once from their headers' sizes: decoding takes
 * the frames' memory and a few images more (not a second copy of every decoded image). The frames
 * of the files that decode, and which those are (files that do not: skipped with skipBad).
 */
async function decodeFrames(root: string, files: readonly string[], cap: number, channels: 1 | 3, skipBad: boolean, warn: (m: string) => void, onDecoded: () => void): Promise<{ frames: Frames; kept: number[] }> {
  const dims = (await decodeAll(files, imageDims, skipBad, warn)).map((d) => d && frameDims(d.width, d.height, cap));
  const offsets = new Float64Array(files.length);
  let total = 0;
  dims.forEach((d, i) => {
    offsets[i] = total;
    total += d === null ? 0 : channels * d.width * d.height;
  });
  const store = empty([total], { dtype: 'uint8' });
  try {
    const decoded = await decodeAll(
      files,
      async (file, i) => {
        if (dims[i] === null) return null;
        const frame = await decodeFrame(file, cap, channels);
        if (frame.width !== dims[i]!.width || frame.height !== dims[i]!.height) throw new DataError(file, `decoded to ${frame.width}×${frame.height}, its header said ${dims[i]!.width}×${dims[i]!.height}`);
        tidy(() => void store.narrow(0, offsets[i]!, frame.data.length).copy_(tensor(frame.data)));
        return true;
      },
      skipBad,
      warn,
      onDecoded,
    );
    const kept = decoded.flatMap((ok, i) => (ok ? [i] : []));
    if (kept.length === 0) throw new DataError(root, `none of the ${files.length} images could be decoded`);
    const heights = Int32Array.from(kept, (i) => dims[i]!.height);
    const widths = Int32Array.from(kept, (i) => dims[i]!.width);
    const size = (i: number) => channels * dims[i]!.width * dims[i]!.height;
    if (kept.length === dims.filter((d) => d !== null).length) return { frames: new Frames(store, channels, 'interleaved', Float64Array.from(kept, (i) => offsets[i]!), heights, widths), kept };
    // A file whose header read but whose pixels did not left a hole: the kept frames, end to end.
    const packed = tidy(() => cat(kept.map((i) => store.narrow(0, offsets[i]!, size(i))), 0));
    store.dispose();
    const packedOffsets = new Float64Array(kept.length);
    for (let k = 1; k < kept.length; k++) packedOffsets[k] = packedOffsets[k - 1]! + size(kept[k - 1]!);
    return { frames: new Frames(packed, channels, 'interleaved', packedOffsets, heights, widths), kept };
  } catch (e) {
    store.dispose();
    throw e;
  }
}

/** Interleaved frames of the given (height, width) pairs, end to end in `data`. */
function framesOf(data: Tensor, sizes: Int32Array, channels: number): Frames {
  const n = sizes.length / 2;
  const heights = Int32Array.from({ length: n }, (_, i) => sizes[2 * i]!);
  const widths = Int32Array.from({ length: n }, (_, i) => sizes[2 * i + 1]!);
  const offsets = new Float64Array(n);
  for (let i = 1; i < n; i++) offsets[i] = offsets[i - 1]! + channels * heights[i - 1]! * widths[i - 1]!;
  if (n > 0 && offsets[n - 1]! + channels * heights[n - 1]! * widths[n - 1]! !== data.numel) throw new Error('the frames do not add up to the data');
  return new Frames(data, channels, 'interleaved', offsets, heights, widths);
}

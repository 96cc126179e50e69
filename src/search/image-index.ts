// Image search with a trained encoder: an index of the normalised features h of a data set (with
// the files, labels and thumbnails) and the k images nearest a query by cosine similarity. The search
// is exact, one matmul over the bank (bench/search.js: 100,000 × 128 vectors); an approximate
// nearest-neighbour library (faiss, hnswlib) pays off from a few million vectors on.
// The index records its encoder's fingerprint: queries embedded by another encoder are refused.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { prepareFiles } from '../data/folder.js';
import { DataError, filePaths, type DataSource } from '../data/source.js';
import { extractFeatures, prepareImages } from '../eval/features.js';
import { int8Ranges, setInt8Ranges, withFeatureEngine, type EngineRecord } from '../eval/engine.js';
import type { Range } from '../export/quantize.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import * as F from '../tensor/functional.js';
import * as ops from '../tensor/generated/ops.js';
import { cat, tensor } from '../tensor/create.js';
import { keep, noGrad, tidy, type Tensor } from '../tensor/tensor.js';

/** The largest thumbnail side kept in an index (larger inputs are scaled down). */
const THUMBNAIL_MAX = 64;

/** An image-search index: the encoder's normalised features of a data set, with its files, labels and thumbnails. */
export interface ImageIndex {
  /** Unit-norm h, [N, D] float32. */
  vectors: Tensor;
  /** The indexed images: file paths (or "<data>#<row>" for data sets without files). */
  files: string[];
  /** The label of each image (null for unlabelled data). */
  labels: Int32Array | null;
  /** The name of each class, indexed by label (null when unknown). */
  classNames: string[] | null;
  /** The images as the encoder saw them (at most THUMBNAIL_MAX px), uint8 [N, C, t, t]. */
  thumbnails: Tensor;
  /** encoderFingerprint() of the encoder that made the vectors. */
  fingerprint: string;
  /** The encoder's input size, in pixels. */
  imageSize: number;
  /** The encoder's input channels. */
  inChannels: number;
  /** Where the encoder came from (its checkpoint or encoder file). */
  checkpoint: string;
  /** Where the images came from (the data source's description). */
  data: string;
  /** The engine that computed the vectors (an index just built; not saved). */
  engine?: EngineRecord;
  /** The int8 engine's activation ranges, when it made the vectors (saved: queries are quantised alike). */
  int8?: ReadonlyMap<string, Range> | null;
}

/** A short hash of an encoder's weights (names, shapes and values): which encoder made a vector. */
export function encoderFingerprint(encoder: Module): string {
  const hash = createHash('sha256');
  for (const [name, t] of encoder.stateDict()) {
    const bytes = noGrad(() => tidy(() => t.contiguous().toArray()));
    hash.update(`${name}:${t.dtype}:${t.shape.join('x')};`);
    hash.update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Scales uint8 images [N, C, s, s] down to at most THUMBNAIL_MAX px (antialiased). */
function thumbnailsOf(images: Tensor): Tensor {
  if (images.size(2) <= THUMBNAIL_MAX) return images.clone();
  return tidy(() => F.interpolate(images.float(), { size: THUMBNAIL_MAX, mode: 'bilinear', antialias: true }).round().clamp(0, 255).to('uint8'));
}

/** Embeds every image of `source` with `encoder` at `imageSize`. */
export async function buildIndex(
  encoder: Module,
  source: DataSource,
  { imageSize, inChannels, checkpoint }: { imageSize: number; inChannels: number; checkpoint: string },
): Promise<ImageIndex> {
  // (the thumbnails come from the same decoded batches as the features)
  const parts: Tensor[] = [];
  const { features, labels, engine } = await extractFeatures(encoder, source, { size: imageSize, label: 'index: features', onImages: (images) => parts.push(keep(noGrad(() => thumbnailsOf(images)))) });
  const vectors = keep(noGrad(() => tidy(() => F.normalize(features, { dim: 1 }))));
  features.dispose();
  const thumbnails = keep(tidy(() => cat(parts, 0)));
  for (const p of parts) p.dispose();
  const files = filePaths(source) ?? Array.from({ length: source.size }, (_, i) => `${source.description}#${i}`);
  const int8 = engine?.engine === 'int8' ? int8Ranges(encoder, imageSize) : null;
  return { vectors, files, labels, classNames: source.classNames ? [...source.classNames] : null, thumbnails, fingerprint: encoderFingerprint(encoder), imageSize, inChannels, checkpoint, data: source.description, engine, int8 };
}

/** Writes an index as one safetensors file (vectors, thumbnails, labels; the rest in its metadata). */
export function saveIndex(path: string, index: ImageIndex): void {
  const tensors: Record<string, Tensor> = { vectors: index.vectors, thumbnails: index.thumbnails };
  const labels = index.labels === null ? null : tensor(index.labels, { dtype: 'int64' });
  if (labels !== null) tensors.labels = labels;
  saveSafetensors(path, tensors, {
    format: 'simclr-index/1',
    files: JSON.stringify(index.files),
    classNames: JSON.stringify(index.classNames),
    fingerprint: index.fingerprint,
    imageSize: String(index.imageSize),
    inChannels: String(index.inChannels),
    checkpoint: index.checkpoint,
    data: index.data,
    ...(!index.int8 ? {} : { int8Ranges: JSON.stringify([...index.int8]) }),
  });
  labels?.dispose();
}

/** Reads an index written by {@link saveIndex}; a file that is not one is refused (a DataError naming it). */
export function loadIndex(path: string): ImageIndex {
  if (!existsSync(path)) throw new DataError(path, 'no such index file; build one with simclr index');
  if (statSync(path).isDirectory()) throw new DataError(path, 'a folder, not an index file (simclr index writes one)');
  const { tensors, metadata } = loadSafetensors(path);
  const problem = (why: string) => {
    for (const t of tensors.values()) t.dispose();
    return new DataError(path, `not a simclr index (${why}); build one with simclr index`);
  };
  if (metadata.format !== 'simclr-index/1') throw problem(`its format is ${metadata.format ?? 'not stated'}`);
  const vectors = tensors.get('vectors');
  const thumbnails = tensors.get('thumbnails');
  if (vectors === undefined || thumbnails === undefined) throw problem('vectors or thumbnails missing');
  let files: unknown;
  let classNames: unknown;
  try {
    files = JSON.parse(metadata.files ?? '');
    classNames = JSON.parse(metadata.classNames ?? 'null');
  } catch {
    throw problem('its file list is not JSON');
  }
  // Everything similar and export --web take from it, checked here, before they use it.
  const [n, dim] = vectors.shape;
  if (vectors.ndim !== 2 || dim === 0 || !['float32', 'float64', 'float16', 'bfloat16'].includes(vectors.dtype)) throw problem(`its vectors are ${vectors.dtype} [${vectors.shape.join(', ')}], not floats [N, D]`);
  if (!Array.isArray(files) || files.length !== n || !files.every((f) => typeof f === 'string')) throw problem(`its file list does not name the ${n} images of its vectors`);
  const inChannels = Number(metadata.inChannels);
  const imageSize = Number(metadata.imageSize);
  if (inChannels !== 1 && inChannels !== 3) throw problem(`its inChannels ${metadata.inChannels ?? '(missing)'} is not 1 or 3`);
  if (!(Number.isSafeInteger(imageSize) && imageSize > 0 && imageSize <= 8192)) throw problem(`its imageSize ${metadata.imageSize ?? '(missing)'} is not 1 to 8192`);
  const [tn, tc, th, tw] = thumbnails.shape;
  if (thumbnails.dtype !== 'uint8' || thumbnails.ndim !== 4 || tn !== n || tc !== inChannels || th !== tw || th === 0 || th! > THUMBNAIL_MAX) {
    throw problem(`its thumbnails are ${thumbnails.dtype} [${thumbnails.shape.join(', ')}], not uint8 [${n}, ${inChannels}, t, t] (t at most ${THUMBNAIL_MAX})`);
  }
  if (classNames !== null && !(Array.isArray(classNames) && classNames.every((c) => typeof c === 'string'))) throw problem('its class names are not a list of names');
  let int8: Map<string, Range> | null = null;
  if (metadata.int8Ranges !== undefined) {
    let entries: unknown;
    try {
      entries = JSON.parse(metadata.int8Ranges);
    } catch {
      entries = null;
    }
    const isRange = (r: unknown) => Array.isArray(r) && r.length === 2 && r.every((v) => typeof v === 'number' && Number.isFinite(v)) && r[0] <= r[1];
    if (!Array.isArray(entries) || !entries.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && isRange(e[1]))) throw problem('its int8 ranges are not [activation, [min, max]] pairs');
    int8 = new Map(entries as [string, Range][]);
  }
  const labelTensor = tensors.get('labels');
  let labels: Int32Array | null = null;
  if (labelTensor !== undefined) {
    const classes = classNames === null ? 2 ** 31 : (classNames as string[]).length;
    const values = labelTensor.ndim === 1 && ['int64', 'int32', 'int16', 'int8', 'uint8'].includes(labelTensor.dtype) ? Array.from(labelTensor.toArray() as unknown as ArrayLike<number | bigint>, Number) : null;
    if (values === null || values.length !== n || !values.every((l) => Number.isInteger(l) && l >= 0 && l < classes)) {
      throw problem(`its labels (${labelTensor.dtype} [${labelTensor.shape.join(', ')}]) are not one class of ${classNames === null ? 'the index' : `its ${classes} class names`} for each of its ${n} images`);
    }
    labels = Int32Array.from(values);
    labelTensor.dispose();
  }
  const floats = vectors.float();
  vectors.dispose();
  return {
    vectors: floats,
    files: files as string[],
    labels,
    classNames: classNames as string[] | null,
    thumbnails,
    fingerprint: metadata.fingerprint ?? '',
    imageSize,
    inChannels,
    checkpoint: metadata.checkpoint ?? '',
    data: metadata.data ?? '',
    int8,
  };
}

/** One query's nearest bank rows, from {@link nearestNeighbours}. */
export interface Neighbours {
  /** Bank rows, most similar first. */
  index: number[];
  /** Their cosine similarities to the query (−1–1), in the same order. */
  similarity: number[];
}

/** The k bank rows most similar to each query by cosine similarity (a bank already of unit rows: `normalisedBank`). */
export function nearestNeighbours(queries: Tensor, bank: Tensor, k: number, { normalisedBank = false } = {}): Neighbours[] {
  return noGrad(() =>
    tidy(() => {
      const b = normalisedBank ? bank : F.normalize(bank.float(), { dim: 1 });
      const sims = F.normalize(queries.float(), { dim: 1 }).matmul(b.t());
      const [values, indices] = ops.topk(sims, Math.min(k, bank.size(0)), 1, true, true) as [Tensor, Tensor];
      const v = values.toArray() as Float32Array;
      const ix = indices.toArray() as BigInt64Array;
      const kk = values.size(1);
      return Array.from({ length: queries.size(0) }, (_, q) => ({
        index: Array.from(ix.subarray(q * kk, (q + 1) * kk), Number),
        similarity: Array.from(v.subarray(q * kk, (q + 1) * kk)),
      }));
    }),
  );
}

/** Query images prepared as the folder's images are (centre square of the frame, resampled, converted), uint8 [M, C, size, size]. */
export async function decodeQueries(files: readonly string[], size: number, channels: 1 | 3): Promise<Tensor> {
  return prepareFiles(files, size, channels);
}

/** h of query images as `index`'s vectors were made: by the int8 engine with the index's ranges when it made them, else embedQueries. */
export async function embedQueriesAsIndexed(encoder: Module, images: Tensor, index: Pick<ImageIndex, 'imageSize' | 'int8'>): Promise<Tensor> {
  if (!index.int8) return embedQueries(encoder, images, index.imageSize);
  setInt8Ranges(encoder, index.imageSize, index.int8);
  const x = prepareImages(images, index.imageSize);
  const wasTraining = encoder.training;
  encoder.eval();
  try {
    return await withFeatureEngine(encoder, { size: index.imageSize, choice: 'int8', first: x, batches: 1 }, (engine) => engine.forward(x));
  } finally {
    x.dispose();
    encoder.train(wasTraining);
  }
}

/** h of query images, as a float index's vectors were made (libtorch). */
export function embedQueries(encoder: Module, images: Tensor, size: number): Tensor {
  const wasTraining = encoder.training;
  encoder.eval();
  try {
    return noGrad(() => tidy(() => encoder.forward(prepareImages(images, size).contiguous('channels_last'))));
  } finally {
    encoder.train(wasTraining);
  }
}

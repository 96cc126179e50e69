// The baselines' scores, computed once: a random-init encoder's and raw pixels' accuracies depend
// only on the data (its images and labels, split as they are), the architecture, the seed and the
// protocol — not on any pretraining — so each column is kept in a file under the decode cache's
// folder, keyed by all of that and by the version of the evaluation code, and reused by the main
// job, `eval --baseline` and sweeps. An entry whose key, checksum or shape is not what it should
// be is not trusted: it is recomputed and rewritten.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { defaultCacheDir } from '../data/folder.js';
import type { DataSource } from '../data/source.js';
import { writeFileAtomic } from '../io/atomic.js';
import { ResNet } from '../models/resnet.js';
import type { Module } from '../nn/module.js';
import { warning } from '../progress.js';
import { tidy } from '../tensor/tensor.js';
import type { EvalData, EvalResult, Protocol } from './evaluate.js';

/** Bump when the kNN, the linear probe, the label draws, the pixel features or the random initialisation change what they compute. */
export const BASELINE_CACHE_VERSION = 1;

/** Everything a baseline's score in one column depends on. */
export interface BaselineKey {
  version: number;
  baseline: 'random-init encoder' | 'raw pixels';
  /** The data as opened, and a checksum of its images and labels (both splits). */
  data: string;
  fingerprint: string;
  split: { kind: string; testFraction: number; seed: number; trainImages: number; testImages: number };
  /** The random-init encoder's architecture (null for raw pixels). */
  architecture: { depth: number; width: number; cifarStem: boolean; inChannels: number } | null;
  size: number;
  protocol: Protocol;
  fraction: number;
  draws: number;
  seed: number;
  /** kNN's neighbours and temperature (null for the probe). */
  k: number | null;
  temperature: number | null;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const fingerprints = new WeakMap<EvalData, string>();

/** A checksum of both splits' images (as the evaluation sees them) and labels; computed once per opened data. */
export async function dataFingerprint(data: EvalData): Promise<string> {
  const known = fingerprints.get(data);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  const add = async (source: DataSource) => {
    hash.update(JSON.stringify({ size: source.size, shape: source.imageShape }));
    if (source.labels !== null) hash.update(new Uint8Array(source.labels.buffer, source.labels.byteOffset, source.labels.byteLength));
    for (let start = 0; start < source.size; start += 2000) {
      const batch = Int32Array.from({ length: Math.min(2000, source.size - start) }, (_, i) => start + i);
      const images = source.loadSync ? source.loadSync(batch) : await source.load(batch);
      hash.update(tidy(() => images.contiguous().toArray()) as Uint8Array);
      images.dispose();
    }
  };
  await add(data.train);
  await add(data.test);
  const fingerprint = hash.digest('hex').slice(0, 32);
  fingerprints.set(data, fingerprint);
  return fingerprint;
}

/** The key of one baseline column; null when the baseline cannot be cached (an encoder other than a ResNet). */
export async function baselineKey(
  baseline: BaselineKey['baseline'],
  encoder: Module | null,
  data: EvalData,
  o: { size: number; protocol: Protocol; fraction: number; draws: number; seed: number; k?: number; temperature?: number },
): Promise<BaselineKey | null> {
  if (baseline === 'random-init encoder' && !(encoder instanceof ResNet)) return null;
  const r = encoder instanceof ResNet && baseline === 'random-init encoder' ? encoder.options : null;
  const { kind, testFraction, seed, trainImages, testImages } = data.split;
  return {
    version: BASELINE_CACHE_VERSION,
    baseline,
    data: data.split.data,
    fingerprint: await dataFingerprint(data),
    split: { kind, testFraction, seed, trainImages, testImages },
    architecture: r === null ? null : { depth: r.depth, width: r.widthMultiplier, cifarStem: r.cifarStem, inChannels: r.inChannels },
    size: o.size,
    protocol: o.protocol,
    fraction: o.fraction,
    draws: o.fraction < 1 ? o.draws : 1,
    seed: o.seed,
    k: o.protocol === 'knn' ? o.k ?? 200 : null,
    temperature: o.protocol === 'knn' ? o.temperature ?? 0.1 : null,
  };
}

const isResult = (r: unknown): r is EvalResult => {
  const e = r as Partial<EvalResult> | null;
  const unit = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
  return typeof e === 'object' && e !== null && unit(e.accuracy) && Array.isArray(e.accuracies) && e.accuracies.length > 0 && e.accuracies.every(unit) && typeof e.std === 'number';
};

/** Baseline columns on disk: one JSON file per key. */
export class BaselineCache {
  /** @param dir The cache's folder (default: `baselines/` in the decode cache's folder, $XDG_CACHE_HOME/simclr). */
  constructor(readonly dir: string = join(defaultCacheDir(), 'baselines')) {}

  file(key: BaselineKey): string {
    return join(this.dir, `${sha256(JSON.stringify(key)).slice(0, 32)}.json`);
  }

  /** The cached result for `key`, or null (missing, or not trusted: a warning names the file). */
  get(key: BaselineKey): EvalResult | null {
    const file = this.file(key);
    if (!existsSync(file)) return null;
    try {
      const entry = JSON.parse(readFileSync(file, 'utf8')) as { key?: unknown; result?: unknown; checksum?: unknown };
      if (!isDeepStrictEqual(entry.key, key)) throw new Error('its key is not this one');
      if (entry.checksum !== sha256(JSON.stringify({ key: entry.key, result: entry.result }))) throw new Error('its checksum does not match its contents');
      if (!isResult(entry.result)) throw new Error('its result is not an evaluation result');
      return entry.result;
    } catch (e) {
      warning(`simclr: ignoring the baseline cache entry ${file} (${e instanceof SyntaxError ? 'not JSON' : (e as Error).message}): computing it again`);
      return null;
    }
  }

  put(key: BaselineKey, result: EvalResult): void {
    mkdirSync(this.dir, { recursive: true });
    const entry = { key, result, checksum: sha256(JSON.stringify({ key, result })) };
    writeFileAtomic(this.file(key), [Buffer.from(`${JSON.stringify(entry)}\n`)]);
  }
}

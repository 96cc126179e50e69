// Finding and loading a trained encoder: from a run folder (its encoder.safetensors, else its
// newest checkpoint), a pretraining checkpoint, or an encoder file with its architecture in the
// metadata. Also builds the same architecture randomly initialised, as a baseline.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { resnet, resnetStemChannels, type ResNet, type ResNetDepth } from '../models/resnet.js';
import { manualSeed } from '../tensor/create.js';
import { listCheckpoints, readCheckpoint } from './checkpoint.js';
import type { PretrainConfig } from './config.js';
import { buildModel, modelConfig, type SimCLRModel } from './model.js';
import { readSplitRecord, type OpenOptions, type SplitRecord } from '../data/open.js';
import { DataError } from '../data/source.js';

/** A ResNet encoder's architecture, as an encoder file's metadata records it. */
export interface Architecture {
  /** ResNet depth. */
  depth: ResNetDepth;
  /** Whether it uses the CIFAR stem (3×3 stride-1 conv, no max-pool). */
  cifarStem: boolean;
  /** Width multiplier. */
  width: number;
  /** Channels of the input images. */
  inChannels: number;
  /** The view size the encoder was trained on (0: unknown). */
  imageSize: number;
}

/** A trained encoder and what is known about it, from {@link loadEncoder}. */
export interface LoadedEncoder {
  /** The encoder f (channels-last), owned by the caller. */
  encoder: ResNet;
  /** Its architecture. */
  architecture: Architecture;
  /** The whole SimCLR model, when loaded from a checkpoint (for z). */
  model: SimCLRModel | null;
  /** The run folder the encoder came from (for writing results), or null. */
  runDir: string | null;
  /** The run's config (a checkpoint's, or its run folder's config.json); null for a lone encoder file. */
  config: PretrainConfig | null;
  /** How the run split its data (its split.json), when loaded from a run folder that has one. */
  split: SplitRecord | null;
}

export function architectureMetadata(a: Architecture): Record<string, string> {
  return { format: 'simclr-encoder/1', depth: String(a.depth), cifarStem: String(a.cifarStem), width: String(a.width), inChannels: String(a.inChannels), imageSize: String(a.imageSize) };
}

/** Loads a trained encoder from a run folder (its newest checkpoint, else its encoder.safetensors), a pretraining checkpoint, or an encoder file. */
export function loadEncoder(path: string): LoadedEncoder {
  if (!existsSync(path)) throw new DataError(path, 'no such run folder, checkpoint or encoder file');
  let runDir: string | null = null;
  let file = path;
  if (statSync(path).isDirectory()) {
    runDir = path;
    const checkpoints = listCheckpoints(path);
    if (checkpoints.length > 0) file = checkpoints[0]!;
    else if (existsSync(join(path, 'encoder.safetensors'))) file = join(path, 'encoder.safetensors');
    else throw new DataError(path, 'no checkpoints/ or encoder.safetensors in this folder');
  } else if (existsSync(join(dirname(path), 'config.json'))) {
    // (an encoder.safetensors named directly, in its run folder: the run's config and split still apply)
    runDir = dirname(path);
  }
  const header = readSafetensorsHeader(file);
  const { metadata } = header;
  if (metadata.format === 'simclr-checkpoint/1') {
    const checkpoint = readCheckpoint(file);
    const c = checkpoint.config;
    const inChannels = c.inChannels ?? header.tensors.get('model.encoder.conv1.weight')?.shape[1] ?? 3;
    const dir = runDir ?? c.out;
    const problem = typeof dir !== 'string' ? `its config names no run folder (out: ${JSON.stringify(dir)})` : dataOptionsProblem(c as unknown as Record<string, unknown>);
    if (problem !== null) {
      checkpoint.dispose();
      throw new DataError(file, `not a usable checkpoint: ${problem}`);
    }
    // (everything read and checked before the model is built: a refusal leaves nothing allocated)
    let split: SplitRecord | null;
    try {
      checkArchitecture(file, { depth: c.depth, cifarStem: c.cifarStem, width: c.width, inChannels, imageSize: c.imageSize ?? 0 }, header.tensors, 'model.encoder.', c);
      split = readSplitRecord(dir!);
    } catch (e) {
      checkpoint.dispose();
      throw e;
    }
    const model = buildModel(modelConfig(c, inChannels));
    try {
      checkpoint.load(model, null);
    } catch (e) {
      model.dispose();
      throw e;
    }
    model.to({ memoryFormat: 'channels_last' });
    const encoder = model.encoder as ResNet;
    return { encoder, model, runDir: dir!, config: c, split, architecture: { depth: c.depth, cifarStem: c.cifarStem, width: c.width, inChannels, imageSize: c.imageSize } };
  }
  if (metadata.format !== 'simclr-encoder/1') throw new DataError(file, 'not a simclr checkpoint or encoder file (no architecture in its metadata)');
  const architecture: Architecture = {
    depth: Number(metadata.depth) as ResNetDepth,
    cifarStem: metadata.cifarStem === 'true',
    width: Number(metadata.width),
    inChannels: Number(metadata.inChannels),
    imageSize: Number(metadata.imageSize ?? 0),
  };
  checkArchitecture(file, architecture, header.tensors, '');
  const config = runDir === null ? null : readRunConfig(runDir);
  const split = runDir === null ? null : readSplitRecord(runDir);
  const encoder = randomEncoder(architecture, 0);
  try {
    encoder.load(file);
  } catch (e) {
    encoder.dispose();
    if (e instanceof DataError) throw e;
    // (Module.load names the file itself)
    throw new DataError(file, (e as Error).message.replace(`${file}: `, ''));
  }
  return { encoder, model: null, runDir, config, split, architecture };
}

/** A run folder's config.json (null when it has none); a file that is not a config is an error naming it. */
function readRunConfig(runDir: string): PretrainConfig | null {
  const path = join(runDir, 'config.json');
  if (!existsSync(path)) return null;
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DataError(path, `not a run's config (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof config !== 'object' || config === null || typeof (config as { data?: unknown }).data !== 'string') throw new DataError(path, "not a run's config (no data named)");
  const problem = dataOptionsProblem(config as Record<string, unknown>);
  if (problem !== null) throw new DataError(path, `not a run's config (${problem})`);
  return config as PretrainConfig;
}

/** What is wrong with the options a run's config gives for reopening its data (see runDataOptions), or null. */
function dataOptionsProblem(c: Record<string, unknown>): string | null {
  if (c.skipBad !== undefined && typeof c.skipBad !== 'boolean') return `its skipBad ${JSON.stringify(c.skipBad)} is not true or false`;
  if (c.sourceScale !== undefined && !(typeof c.sourceScale === 'number' && c.sourceScale >= 1)) return `its sourceScale ${JSON.stringify(c.sourceScale)} is not a number ≥ 1`;
  return null;
}

/**
 * How to open `data` again for a loaded encoder. When it is the data the encoder's run trained on,
 * the run's own options: its recorded split (split.json), --skip-bad and source scale, so that
 * every command that reopens a run's data (eval, embed, index, the report, the quickstart's
 * evaluation) reads the images its pretraining read. `skipBad` asks for skipping on any data.
 */
export function runDataOptions(run: Pick<LoadedEncoder, 'config' | 'split'>, data: string, skipBad = false): Pick<OpenOptions, 'recorded' | 'skipBad' | 'sourceScale'> {
  const own = run.config?.data === data;
  return {
    recorded: run.split?.data === data ? run.split : null,
    skipBad: skipBad || (own && run.config!.skipBad === true),
    ...(own && run.config!.sourceScale ? { sourceScale: run.config!.sourceScale } : {}),
  };
}

/** Weights (parameters and buffers) of each ResNet at width 1; at width w a ResNet has about w² times as many. */
const RESNET_WEIGHTS: Record<number, number> = { 18: 11_186_132, 34: 21_301_732, 50: 23_561_205, 101: 42_605_608, 152: 58_295_387 };

/** Weights a file stores under `prefix`. */
function storedWeights(tensors: Map<string, { shape: number[] }>, prefix: string): number {
  let n = 0;
  for (const [name, t] of tensors) if (name.startsWith(prefix)) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * Checks an architecture read from a file before anything is built from it: each field in range,
 * the first convolution's stored shape as the architecture implies, and the model no larger than
 * the weights the file holds for it (a tampered width, depth or head would otherwise allocate
 * whatever it asks for). `head`: a checkpoint's config, whose projection head is built too.
 */
function checkArchitecture(file: string, a: Architecture, tensors: Map<string, { shape: number[] }>, prefix: string, head?: Pick<PretrainConfig, 'head' | 'headLayers' | 'hiddenDim' | 'projectionDim'>): void {
  const problems: string[] = [];
  if (![18, 34, 50, 101, 152].includes(a.depth)) problems.push(`depth ${a.depth} is not 18, 34, 50, 101 or 152`);
  if (!(typeof a.width === 'number' && a.width > 0 && a.width <= 16)) problems.push(`width ${a.width} is not in (0, 16]`);
  if (typeof a.cifarStem !== 'boolean') problems.push(`cifarStem ${JSON.stringify(a.cifarStem)} is not true or false`);
  if (!(Number.isInteger(a.inChannels) && a.inChannels >= 1 && a.inChannels <= 4)) problems.push(`inChannels ${a.inChannels} is not 1 to 4`);
  if (!(Number.isInteger(a.imageSize) && a.imageSize >= 0 && a.imageSize <= 8192)) problems.push(`imageSize ${a.imageSize} is not 0 to 8192`);
  if (head !== undefined) {
    if (head.head !== 'v1' && head.head !== 'v2') problems.push(`head ${JSON.stringify(head.head)} is not v1 or v2`);
    if (head.head === 'v2' && !(Number.isSafeInteger(head.headLayers) && head.headLayers >= 1)) problems.push(`headLayers ${JSON.stringify(head.headLayers)} is not a positive integer`);
    if (!(Number.isSafeInteger(head.hiddenDim) && head.hiddenDim >= 0)) problems.push(`hiddenDim ${JSON.stringify(head.hiddenDim)} is not an integer ≥ 0`);
    if (!(Number.isSafeInteger(head.projectionDim) && head.projectionDim >= 1)) problems.push(`projectionDim ${JSON.stringify(head.projectionDim)} is not a positive integer`);
  }
  const conv1 = tensors.get(`${prefix}conv1.weight`)?.shape;
  const expected = problems.length === 0 ? [resnetStemChannels(a.width), a.inChannels, a.cifarStem ? 3 : 7, a.cifarStem ? 3 : 7] : [];
  if (problems.length === 0 && (conv1 === undefined || conv1.join() !== expected.join())) {
    problems.push(`its ${prefix}conv1.weight is ${conv1 === undefined ? 'missing' : `[${conv1.join(', ')}]`}, but the architecture it states needs [${expected.join(', ')}]`);
  }
  if (problems.length === 0) {
    // (a loose bound, 4× and a million weights over the estimate: the exact shapes are checked as the weights load)
    const bound = (estimate: number, what: string, stored: number) => {
      if (estimate > 4 * stored + 2 ** 20) problems.push(`${what} has about ${Math.round(estimate).toLocaleString('en')} weights, but the file holds ${stored.toLocaleString('en')} for it`);
    };
    bound(RESNET_WEIGHTS[a.depth]! * a.width ** 2, `a ResNet-${a.depth} of width ${a.width}`, storedWeights(tensors, prefix));
    if (head !== undefined) {
      const features = Math.max(1, Math.round(512 * a.width)) * (a.depth >= 50 ? 4 : 1);
      const hidden = head.hiddenDim || features;
      const layers = head.head === 'v2' ? head.headLayers : 2;
      bound(features * hidden + Math.max(0, layers - 2) * hidden * hidden + hidden * head.projectionDim, `its projection head (${head.head}, ${layers} layers of ${hidden} → ${head.projectionDim})`, storedWeights(tensors, prefix.replace(/encoder\.$/, 'head.')));
    }
  }
  if (problems.length > 0) throw new DataError(file, `the encoder's architecture does not hold: ${problems.join('; ')}`);
}

/**
 * The architecture with fresh (seeded) weights: the random-init baseline. Encoders made or loaded
 * here are channels-last, as in training: oneDNN's convolutions are faster with weights in that
 * layout (feature extraction +17%, bench/eval.js).
 */
export function randomEncoder(a: Architecture, seed: number): ResNet {
  manualSeed(seed);
  return resnet(a.depth, { cifarStem: a.cifarStem, widthMultiplier: a.width, inChannels: a.inChannels }).to({ memoryFormat: 'channels_last' });
}

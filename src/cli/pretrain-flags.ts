// simclr pretrain's flags (and a JSON or YAML config file): every option of the library's
// PretrainConfig as a kebab-case flag over its default, plus the flags that steer a run.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { AUGMENT_CHOICES, pretrainDefaults, type PretrainConfig } from '../simclr/config.js';
import { HEAD_KINDS } from '../simclr/model.js';
import { ENGINE_CHOICES, ENGINE_CHOICES_INT8 } from '../eval/engine.js';
import type { Flag, Flags } from './args.js';
import { DataError } from '../data/source.js';

const positive = (v: number) => (v > 0 ? null : 'must be positive');
const nonNegative = (v: number) => (v >= 0 ? null : 'must be ≥ 0');
export const testFraction = (v: number) => (v >= 0 && v < 1 ? null : 'must be in [0, 1)');

/** --engine, for the commands that compute features of a frozen encoder (main.ts applies it). */
export const engineFlag = {
  engine: { type: 'string', default: 'auto', choices: ENGINE_CHOICES, help: 'what runs the frozen encoder for its features: libtorch, onnxruntime (ONNX Runtime on the exported graph), or auto: time both on the first batch and keep onnxruntime where it is faster by more than 5% (recorded in the output)' },
} satisfies Flags;

/** The few-label columns of the main job's protocol (quickstart, transfer). */
export const fewLabelFlags = {
  'label-fraction': { type: 'number', default: 0.01, check: (v) => (v > 0 && v < 1 ? null : 'must be in (0, 1)'), help: 'the few-label columns: share of the training labels (class-balanced)' },
  draws: { type: 'int', default: 3, check: (v) => (v > 1 ? null : 'must be at least 2 (for a spread)'), help: 'label draws averaged in the few-label columns' },
} satisfies Flags;

/** --engine for the commands whose features may be 8-bit (embed, index): int8 too. */
export const engineFlagInt8 = {
  engine: { ...engineFlag.engine, choices: ENGINE_CHOICES_INT8, help: `${engineFlag.engine.help}; int8: ONNX Runtime on the encoder quantised to 8 bits, calibrated on up to 1,000 of the images (about 1.5–2× faster; h moves by a few percent)` },
} satisfies Flags;

/** Every option as a CLI flag (kebab-case), with its default and help. */
export const pretrainFlags = {
  config: { type: 'string', default: '', help: 'JSON or YAML file with any of these options (camelCase keys); flags override it' },
  resume: { type: 'boolean', default: false, help: 'continue from the newest checkpoint in --out exactly where it stopped' },
  overwrite: { type: 'boolean', default: false, help: 'start over in an --out folder that already holds a run, removing its checkpoints, metrics, encoder and evaluations (without it such a folder is refused)' },
  report: { type: 'boolean', default: true, help: 'write report.html (curves, augmentations, feature map, neighbours) into the run folder when the run completes' },
  data: { type: 'string', default: pretrainDefaults.data, help: 'data source: fashion-mnist, an image folder, a CIFAR folder or an IDX file' },
  subset: { type: 'int', default: pretrainDefaults.subset, check: nonNegative, help: 'use only the first N images (0: all)' },
  recipe: { type: 'string', default: pretrainDefaults.recipe, choices: ['auto', 'cifar10', 'stl10', 'imagenet'], help: 'what fills --image-size, --cifar-stem, --blur and --strength when they are not given: auto looks at the images (photos, shorter side 64 px or more: 96-px views cut from the whole photo, the ImageNet stem, blur p 0.5; smaller images: their own size, the CIFAR stem); cifar10: 32 px, CIFAR stem, s 0.5, no blur; stl10: 96 px, ImageNet stem, s 1, blur p 0.5; imagenet: the same at 224 px' },
  'image-size': { type: 'int', default: pretrainDefaults.imageSize, check: nonNegative, defaultText: 'from the recipe', help: 'view size in pixels' },
  'source-scale': { type: 'number', default: pretrainDefaults.sourceScale, check: (v) => (v >= 1 ? null : 'must be at least 1'), help: 'image folders: each photo is kept at a shorter side of at most this many times the view size (never enlarged), and the random resized crop is cut from it; 1: from a thumbnail of the whole photo' },
  'batch-size': { type: 'int', default: pretrainDefaults.batchSize, check: positive, help: 'images per step over all workers (2 views each), split evenly among them; the last partial batch is dropped' },
  epochs: { type: 'int', default: pretrainDefaults.epochs, check: positive, help: 'epochs of the schedule' },
  'stop-epoch': { type: 'int', default: pretrainDefaults.stopEpoch, check: nonNegative, help: 'stop (with a checkpoint) after this many epochs; the schedule still spans --epochs' },
  depth: { type: 'int', default: pretrainDefaults.depth, check: (v) => ([18, 34, 50, 101, 152].includes(v) ? null : 'must be 18, 34, 50, 101 or 152'), help: 'ResNet depth of the encoder' },
  'cifar-stem': { type: 'boolean', default: pretrainDefaults.cifarStem, defaultText: 'from the recipe', help: '3×3 stride-1 first conv, no max-pool (for small images); false: the ImageNet stem (7×7 stride-2 conv, 3×3 stride-2 max-pool)' },
  width: { type: 'number', default: pretrainDefaults.width, check: positive, help: 'width multiplier of the encoder (0.25: 16/32/64/128 channels for ResNet-18)' },
  head: { type: 'string', default: pretrainDefaults.head, choices: HEAD_KINDS, help: 'projection head: v1 Linear-ReLU-Linear, v2 deeper with BatchNorm, linear (one Linear layer), none (the loss on h itself)' },
  'head-layers': { type: 'int', default: pretrainDefaults.headLayers, check: positive, help: 'Linear layers of a v2 head' },
  'hidden-dim': { type: 'int', default: pretrainDefaults.hiddenDim, check: nonNegative, help: 'hidden width of the head (0: the width of h)' },
  'projection-dim': { type: 'int', default: pretrainDefaults.projectionDim, check: positive, help: 'dimension of z' },
  temperature: { type: 'number', default: pretrainDefaults.temperature, check: positive, help: 'τ of NT-Xent (the paper: 0.5 for CIFAR-10, 0.1 for ImageNet; 0.2 is best for the quickstart, see docs/results.md "Choosing the recipe")' },
  strength: { type: 'number', default: pretrainDefaults.strength, check: nonNegative, defaultText: 'from the recipe (1; 0.5 with --recipe cifar10)', help: 'colour distortion strength s: ColorJitter(0.8s, 0.8s, 0.8s, 0.2s)' },
  'min-scale': { type: 'number', default: pretrainDefaults.minScale, check: (v) => (v > 0 && v <= 1 ? null : 'must be in (0, 1]'), help: 'smallest area fraction of the random resized crop (the paper: 0.08; crops cover 0.08–1 of the image)' },
  augment: { type: 'string', default: pretrainDefaults.augment, choices: AUGMENT_CHOICES, help: 'the transforms of T that are on (the paper\'s Figure 5): crop (random resized crop and flip), color (colour jitter and grayscale), blur (at --blur\'s probability); a transform left out is not applied (none: both views are the image)' },
  blur: { type: 'number', default: pretrainDefaults.blur, check: (v) => (v >= 0 && v <= 1 ? null : 'must be a probability'), defaultText: 'from the recipe (0.5 above 32 px, else 0)', help: 'Gaussian blur probability' },
  optimizer: { type: 'string', default: pretrainDefaults.optimizer, choices: ['lars', 'sgd', 'adam', 'adamw'], help: 'optimizer (the paper: lars)' },
  lr: { type: 'number', default: pretrainDefaults.lr, check: positive, help: 'base learning rate (scaled by --lr-scaling; 4e-3 suits Adam at batch 256, see docs/results.md "Choosing the recipe")' },
  'lr-scaling': { type: 'string', default: pretrainDefaults.lrScaling, choices: ['none', 'linear', 'sqrt'], help: 'peak LR: base (none), base·B/256 (linear; paper base 0.3), base·√B (sqrt; paper base 0.075)' },
  'warmup-epochs': { type: 'number', default: pretrainDefaults.warmupEpochs, check: nonNegative, help: 'linear warm-up, then cosine decay to 0' },
  'weight-decay': { type: 'number', default: pretrainDefaults.weightDecay, check: nonNegative, help: 'weight decay (LARS: not on biases and BN)' },
  momentum: { type: 'number', default: pretrainDefaults.momentum, check: nonNegative, help: 'momentum of SGD and LARS' },
  chunk: { type: 'int', default: pretrainDefaults.chunk, check: nonNegative, help: 'gradient caching: compute each step in chunks of this many views, with the gradient of the whole batch (0: off). BatchNorm statistics are then per chunk' },
  precision: { type: 'string', default: pretrainDefaults.precision, choices: ['auto', 'fp32', 'bf16'], help: 'arithmetic of the step: fp32, bf16 (bfloat16 autocast: convolutions and matrix products in bf16), or auto: time a few steps of each on this model and CPU at the start and keep the faster (recorded in config.json and metrics.jsonl; a resumed run keeps it)' },
  'channels-last': { type: 'boolean', default: pretrainDefaults.channelsLast, help: 'channels-last (NHWC) layout for the model and the views: oneDNN\'s faster convolutions on CPU (bench/pretrain.js)' },
  seed: { type: 'int', default: pretrainDefaults.seed, help: 'seed of initialisation, data order and augmentation' },
  threads: { type: 'int', default: pretrainDefaults.threads, check: nonNegative, help: 'libtorch threads per worker (0: the cores shared among the local workers)' },
  out: { type: 'string', default: pretrainDefaults.out, help: 'run folder: checkpoints, metrics.jsonl, encoder.safetensors' },
  'checkpoint-every': { type: 'int', default: pretrainDefaults.checkpointEvery, check: positive, help: 'write a checkpoint every N epochs (and at the end)' },
  'keep-checkpoints': { type: 'int', default: pretrainDefaults.keepCheckpoints, check: positive, help: 'how many checkpoints to keep' },
  'knn-every': { type: 'int', default: pretrainDefaults.knnEvery, check: nonNegative, help: 'kNN monitor every N epochs when the data has labels (0: off)' },
  'skip-bad': { type: 'boolean', default: pretrainDefaults.skipBad, help: 'skip unreadable images with a warning instead of stopping' },
  'test-fraction': { type: 'number', default: pretrainDefaults.testFraction, check: testFraction, help: 'labelled data without a test split (an image folder without train/ and test/, an IDX file without its t10k pair): share of each class held out as the test split, never trained on (recorded in split.json; 0: none)' },
  'split-seed': { type: 'int', default: pretrainDefaults.splitSeed, help: 'seed of the held-out test split' },
  nproc: { type: 'int', default: pretrainDefaults.nproc, check: positive, help: 'data-parallel workers on this machine (processes joined by c10d/gloo; torchrun\'s WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT also work)' },
  nnodes: { type: 'int', default: pretrainDefaults.nnodes, check: positive, help: 'machines in the job (each runs --nproc workers)' },
  'node-rank': { type: 'int', default: pretrainDefaults.nodeRank, check: nonNegative, help: 'this machine\'s index in the job (0 hosts the rendezvous)' },
  'master-addr': { type: 'string', default: pretrainDefaults.masterAddr, help: 'address of node 0 (loopback: collectives bind to loopback)' },
  'master-port': { type: 'int', default: pretrainDefaults.masterPort, check: (v) => (v >= 0 && v < 65536 ? null : 'must be a TCP port'), help: 'rendezvous port on node 0 (0: a free one; multi-machine jobs must name one)' },
  'sync-bn': { type: 'boolean', default: pretrainDefaults.syncBn, help: 'global BatchNorm: statistics over every worker\'s batch, as in the paper (with more than one worker)' },
  gather: { type: 'boolean', default: pretrainDefaults.gather, help: 'gather every worker\'s z so that the NT-Xent negatives span the global batch (off: each worker\'s own views)' },
  init: { type: 'string', default: pretrainDefaults.init, help: 'start the encoder from these weights: a run folder, a pretraining checkpoint, an encoder file, or a torchvision ResNet state_dict saved as safetensors (the head, optimizer and schedule start fresh; depth, width and stem from the file when it records them and they are not given)' },
  'init-head': { type: 'boolean', default: pretrainDefaults.initHead, help: 'with --init: also start the projection head from the checkpoint\'s' },
  'init-partial': { type: 'boolean', default: pretrainDefaults.initPartial, help: 'with --init: load the tensors that fit and list the others (a file with other keys or shapes is refused otherwise)' },
} satisfies Flags;

/** Flags that steer a run rather than define it: not part of its config. */
const RUN_CONTROL = new Set(['config', 'resume', 'overwrite', 'report']);
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A config value as an error message shows it: JSON, cut short; a YAML alias may make it circular. */
function shown(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}…` : text;
  } catch {
    return Array.isArray(value) ? 'a list' : 'a map';
  }
}

/**
 * What is wrong with `value` for the pretraining option `key` (camelCase, as in config files), or
 * null when it may be used: an option that exists and is not run control, of its type, finite, in range.
 */
export function optionProblem(key: string, value: unknown): string | null {
  const flag = Object.keys(pretrainFlags).find((f) => camel(f) === key);
  if (flag === undefined || RUN_CONTROL.has(flag)) return `unknown option '${key}'`;
  const spec = pretrainFlags[flag as keyof typeof pretrainFlags] as Flag;
  // (YAML's .inf and .nan, JSON's 1e999; below: an integer past 2^53 is not exact, and native code takes int64)
  if (typeof value === 'number' && !Number.isFinite(value)) return `'${key}' must be finite (got ${value})`;
  const kinds = { boolean: 'true or false', string: 'a string', number: 'a number', int: 'an integer' };
  const ok =
    spec.type === 'boolean'
      ? typeof value === 'boolean'
      : spec.type === 'string'
        ? typeof value === 'string' && (!spec.choices || spec.choices.includes(value))
        : typeof value === 'number' && (spec.type === 'number' || Number.isInteger(value));
  if (!ok) return `'${key}' must be ${spec.choices ? `one of ${spec.choices.join(', ')}` : kinds[spec.type]} (got ${shown(value)})`;
  if (spec.type === 'int' && !Number.isSafeInteger(value)) return `'${key}' must be an integer of at most 2^53 in size (got ${value})`;
  const problem = typeof value === 'number' ? spec.check?.(value) : null;
  return problem ? `'${key}' ${problem} (got ${value})` : null;
}

/** Defaults ← config file ← flags given on the command line. */
export function resolveConfig(parsed: Record<string, unknown>, given: ReadonlySet<string>, flags: Flags = pretrainFlags): PretrainConfig {
  const config: Record<string, unknown> = {};
  // (flags beyond the pretraining options, such as the quickstart's own, are not part of the config)
  const isOption = (flag: string) => flag in pretrainFlags && !RUN_CONTROL.has(flag);
  for (const [flag, spec] of Object.entries(flags)) {
    if (isOption(flag)) config[camel(flag)] = spec.default;
  }
  const file = parsed.config as string;
  if (file) {
    let loaded: unknown;
    try {
      const text = readFileSync(file, 'utf8');
      loaded = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
    } catch (e) {
      // (the first line: YAML's messages go on with a snippet of the file)
      throw new DataError(file, `cannot read the config (${(e as Error).message.split('\n')[0]!.trim()})`);
    }
    if (loaded === null || typeof loaded !== 'object' || Array.isArray(loaded)) throw new DataError(file, 'the config must be an object');
    for (const [key, value] of Object.entries(loaded as Record<string, unknown>)) {
      const problem = optionProblem(key, value);
      if (problem !== null) throw new DataError(file, problem);
      config[key] = value;
    }
  }
  for (const flag of given) if (isOption(flag)) config[camel(flag)] = parsed[flag];
  return config as unknown as PretrainConfig;
}

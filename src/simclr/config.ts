// The pretraining configuration: its fields and defaults (the Fashion-MNIST recipe that the
// README's first command runs). The CLI's flags and config files over it are in cli/pretrain-flags.ts.
import { augmentationPresets, SimCLRAugmentation } from '../augment/simclr-augmentation.js';
import type { ResNetDepth } from '../models/resnet.js';
import { SOURCE_SCALE } from '../data/folder.js';
import type { RecipeChoice, RecipeName } from './recipe.js';

/** Arithmetic of a training step (see precision.ts). */
export type Precision = 'auto' | 'fp32' | 'bf16';

export interface PretrainConfig {
  data: string;
  /** Use only the first N images (0: all). */
  subset: number;
  /** The recipe that fills the options left at "from the recipe" (image size 0, stem null, blur and strength −1): auto chooses by the data (recipe.ts). */
  recipe: RecipeName;
  /** View size (0: from the recipe). */
  imageSize: number;
  /** Image folders keep each photo at a shorter side of at most sourceScale × the view (see data/folder.ts). */
  sourceScale: number;
  batchSize: number;
  epochs: number;
  /** Stop after this many epochs although the schedule spans `epochs` (0: don't). */
  stopEpoch: number;
  depth: ResNetDepth;
  /** 3×3 stride-1 stem without max-pool (null: from the recipe). */
  cifarStem: boolean | null;
  width: number;
  head: 'v1' | 'v2';
  headLayers: number;
  hiddenDim: number;
  projectionDim: number;
  temperature: number;
  /** Colour distortion strength s (−1: from the recipe). */
  strength: number;
  /** Smallest area fraction of the random resized crop (the paper: 0.08). */
  minScale: number;
  /** Gaussian blur probability (-1: from the recipe). */
  blur: number;
  optimizer: 'lars' | 'sgd' | 'adam' | 'adamw';
  lr: number;
  lrScaling: 'none' | 'linear' | 'sqrt';
  warmupEpochs: number;
  weightDecay: number;
  momentum: number;
  /** Views per chunk for gradient caching (0: the whole batch at once). */
  chunk: number;
  /** Arithmetic of the step (auto: the faster on this CPU, measured at the start; see precision.ts). */
  precision: Precision;
  /** Channels-last (NHWC) layout of the model and the views. */
  channelsLast: boolean;
  seed: number;
  threads: number;
  out: string;
  checkpointEvery: number;
  keepCheckpoints: number;
  knnEvery: number;
  skipBad: boolean;
  /** Share of labelled data without a test split held out (never trained on), and its seed. */
  testFraction: number;
  splitSeed: number;
  /** Local data-parallel workers (this machine), and the multi-machine job they are part of. */
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  /** 0: a free port (single machine only). */
  masterPort: number;
  /** Global BatchNorm over all workers (with more than one). */
  syncBn: boolean;
  /** NT-Xent negatives gathered from all workers. */
  gather: boolean;
  /** Set by the run from the data (recorded in checkpoints). */
  inChannels?: number;
  /** Set by the run: the recipe it chose and why, and the time per epoch it expected (recorded in config.json). */
  recipeChoice?: RecipeChoice & { expectedEpochSeconds: number | null };
}

/** A config whose recipe the run has applied: what config.json and checkpoints record. */
export type ResolvedConfig = PretrainConfig & { cifarStem: boolean };

/** The defaults of every option. */
export const pretrainDefaults: PretrainConfig = {
  data: 'fashion-mnist',
  subset: 0,
  recipe: 'auto',
  imageSize: 0,
  sourceScale: SOURCE_SCALE,
  batchSize: 256,
  epochs: 5,
  stopEpoch: 0,
  depth: 18,
  cifarStem: null,
  width: 0.25,
  head: 'v1',
  headLayers: 3,
  hiddenDim: 0,
  projectionDim: 128,
  temperature: 0.2,
  strength: -1,
  minScale: 0.08,
  blur: -1,
  optimizer: 'adam',
  lr: 4e-3,
  lrScaling: 'none',
  warmupEpochs: 0.5,
  weightDecay: 1e-6,
  momentum: 0.9,
  chunk: 0,
  precision: 'auto',
  channelsLast: true,
  seed: 0,
  threads: 0,
  out: 'runs/fashion-mnist',
  checkpointEvery: 1,
  keepCheckpoints: 2,
  knnEvery: 1,
  skipBad: false,
  testFraction: 0.1,
  splitSeed: 0,
  nproc: 1,
  nnodes: 1,
  nodeRank: 0,
  masterAddr: '127.0.0.1',
  masterPort: 0,
  syncBn: true,
  gather: true,
};

/** The config's augmentation T for views of `size` pixels (a strength or blur left to the recipe: 1, and p 0.5 above 32 px). */
export function configAugmentation(c: PretrainConfig, size: number): SimCLRAugmentation {
  return new SimCLRAugmentation({
    ...(size > 32 ? augmentationPresets.imagenet(size) : augmentationPresets.cifar(size)),
    strength: c.strength >= 0 ? c.strength : 1,
    scale: [c.minScale ?? 0.08, 1],
    ...(c.blur >= 0 ? { blurP: c.blur } : {}),
  });
}

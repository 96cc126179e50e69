// The pretraining configuration: its fields and defaults (the Fashion-MNIST recipe that the
// README's first command runs). The CLI's flags and config files over it are in cli/pretrain-flags.ts.
import { augmentationPresets, SimCLRAugmentation } from '../augment/simclr-augmentation.js';
import type { ResNetDepth } from '../models/resnet.js';
import type { HeadKind } from './model.js';
import { SOURCE_SCALE } from '../data/folder.js';
import type { RecipeChoice, RecipeName } from './recipe.js';
import type { InitRecord } from './init.js';

/** Arithmetic of a training step (see precision.ts). */
export type Precision = 'auto' | 'fp32' | 'bf16';

/** The options of a pretraining run ({@link pretrain}); {@link pretrainDefaults} has every default. */
export interface PretrainConfig {
  /** Data source spec: fashion-mnist, an image folder, a CIFAR folder or an IDX file. */
  data: string;
  /** Use only the first N images (0: all). */
  subset: number;
  /** The recipe that fills the options left at "from the recipe" (image size 0, stem null, blur and strength −1): auto chooses by the data (recipe.ts). */
  recipe: RecipeName;
  /** View size (0: from the recipe). */
  imageSize: number;
  /** Image folders keep each photo at a shorter side of at most sourceScale × the view (see data/folder.ts). */
  sourceScale: number;
  /** Images per step over all workers (2 views each), split evenly among them. */
  batchSize: number;
  /** Epochs of the schedule. */
  epochs: number;
  /** Stop after this many epochs although the schedule spans `epochs` (0: don't). */
  stopEpoch: number;
  /** ResNet depth of the encoder. */
  depth: ResNetDepth;
  /** 3×3 stride-1 stem without max-pool (null: from the recipe). */
  cifarStem: boolean | null;
  /** Width multiplier of the encoder (0.25: 16/32/64/128 channels for ResNet-18). */
  width: number;
  /** Projection head: v1 Linear-ReLU-Linear, v2 deeper with BatchNorm; linear (one Linear) and none (z = h) for the paper's Figure 8. */
  head: HeadKind;
  /** Linear layers of a v2 head. */
  headLayers: number;
  /** Hidden width of the head (0: the width of h). */
  hiddenDim: number;
  /** Dimension of z. */
  projectionDim: number;
  /** τ of the NT-Xent loss. */
  temperature: number;
  /** Colour distortion strength s (−1: from the recipe). */
  strength: number;
  /** Smallest area fraction of the random resized crop (the paper: 0.08). */
  minScale: number;
  /** The transforms of T that are on (the paper's Figure 5): crop (random resized crop and flip), color (jitter and grayscale), blur (at `blur`'s probability). */
  augment: AugmentChoice;
  /** Gaussian blur probability (-1: from the recipe). */
  blur: number;
  /** The optimizer (the paper: lars). */
  optimizer: 'lars' | 'sgd' | 'adam' | 'adamw';
  /** Base learning rate, scaled by `lrScaling`. */
  lr: number;
  /** Peak learning rate: the base (none), base·B/256 (linear) or base·√B (sqrt), B the batch size. */
  lrScaling: 'none' | 'linear' | 'sqrt';
  /** Epochs of linear warm-up (may be fractional), then cosine decay to 0. */
  warmupEpochs: number;
  /** Weight decay (LARS: not on biases and BatchNorm). */
  weightDecay: number;
  /** Momentum of SGD and LARS. */
  momentum: number;
  /** Views per chunk for gradient caching (0: the whole batch at once). */
  chunk: number;
  /** Arithmetic of the step (auto: the faster on this CPU, measured at the start; see precision.ts). */
  precision: Precision;
  /** Channels-last (NHWC) layout of the model and the views. */
  channelsLast: boolean;
  /** Seed of initialisation, data order and augmentation. */
  seed: number;
  /** libtorch threads per worker (0: the cores shared among the local workers). */
  threads: number;
  /** The run folder: checkpoints, metrics.jsonl, encoder.safetensors. */
  out: string;
  /** Write a checkpoint every N epochs (and at the end). */
  checkpointEvery: number;
  /** How many checkpoints to keep. */
  keepCheckpoints: number;
  /** Run the kNN monitor every N epochs when the data has labels (0: off). */
  knnEvery: number;
  /** Skip unreadable images with a warning instead of stopping. */
  skipBad: boolean;
  /** Share (0–1) of labelled data without a test split held out as its test split (never trained on). */
  testFraction: number;
  /** Seed of the held-out test split. */
  splitSeed: number;
  /** Data-parallel workers on this machine. */
  nproc: number;
  /** Machines in the job (each runs `nproc` workers). */
  nnodes: number;
  /** This machine's index in the job (0 hosts the rendezvous). */
  nodeRank: number;
  /** Address of node 0. */
  masterAddr: string;
  /** Rendezvous port on node 0 (0: a free one; single machine only). */
  masterPort: number;
  /** Global BatchNorm over all workers (with more than one). */
  syncBn: boolean;
  /** NT-Xent negatives gathered from all workers. */
  gather: boolean;
  /** Start the encoder from these weights (a run folder, a checkpoint, an encoder file or torchvision-named safetensors; '': a fresh encoder). */
  init: string;
  /** With init: also start the projection head from the checkpoint's. */
  initHead: boolean;
  /** With init: load the tensors that fit and list the others, instead of refusing a file that does not fit exactly. */
  initPartial: boolean;
  /** Set by the run: where its weights came from (with init). */
  initFrom?: InitRecord;
  /** Set by the run from the data (recorded in checkpoints). */
  inChannels?: number;
  /** Set by the run: the recipe it chose and why, and the time per epoch it expected (recorded in config.json). */
  recipeChoice?: RecipeChoice & {
    /** The expected time per epoch in seconds, or null when unknown. */
    expectedEpochSeconds: number | null;
  };
}

/** A config whose recipe the run has applied: what config.json and checkpoints record. */
export type ResolvedConfig = PretrainConfig & {
  /** The stem the recipe chose (no longer null). */
  cifarStem: boolean;
};

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
  augment: 'crop+color+blur',
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
  init: '',
  initHead: false,
  initPartial: false,
};

/** Which of T's transforms are on: every non-empty combination of crop, color and blur, and none. */
export const AUGMENT_CHOICES = ['crop+color+blur', 'crop+color', 'crop+blur', 'color+blur', 'crop', 'color', 'blur', 'none'] as const;
/** One of {@link AUGMENT_CHOICES}. */
export type AugmentChoice = (typeof AUGMENT_CHOICES)[number];

/** The config's augmentation T for views of `size` pixels (a strength or blur left to the recipe: 1, and p 0.5 above 32 px). */
export function configAugmentation(c: PretrainConfig, size: number): SimCLRAugmentation {
  const on = new Set((c.augment ?? 'crop+color+blur').split('+'));
  return new SimCLRAugmentation({
    ...(size > 32 ? augmentationPresets.imagenet(size) : augmentationPresets.cifar(size)),
    strength: c.strength >= 0 ? c.strength : 1,
    scale: [c.minScale ?? 0.08, 1],
    ...(c.blur >= 0 ? { blurP: c.blur } : {}),
    // (a transform that is off: the whole image, unflipped; no jitter or grayscale; no blur)
    ...(on.has('crop') ? {} : { scale: [1, 1], ratio: [1, 1], flipP: 0 }),
    ...(on.has('color') ? {} : { jitterP: 0, grayscaleP: 0 }),
    ...(on.has('blur') ? {} : { blurP: 0 }),
  });
}

// The pretraining configuration: its fields and defaults (the Fashion-MNIST recipe that the
// README's first command runs). The CLI's flags and config files over it are in cli/pretrain-flags.ts.
import { augmentationPresets, SimCLRAugmentation } from '../augment/simclr-augmentation.js';
import type { ResNetDepth } from '../models/resnet.js';

/** Arithmetic of a training step (see precision.ts). */
export type Precision = 'auto' | 'fp32' | 'bf16';

export interface PretrainConfig {
  data: string;
  /** Use only the first N images (0: all). */
  subset: number;
  /** View size, and decode size of image folders (0: the data set's own, 32 for folders). */
  imageSize: number;
  batchSize: number;
  epochs: number;
  /** Stop after this many epochs although the schedule spans `epochs` (0: don't). */
  stopEpoch: number;
  depth: ResNetDepth;
  cifarStem: boolean;
  width: number;
  head: 'v1' | 'v2';
  headLayers: number;
  hiddenDim: number;
  projectionDim: number;
  temperature: number;
  strength: number;
  /** Smallest area fraction of the random resized crop (the paper: 0.08). */
  minScale: number;
  /** Gaussian blur probability (-1: 0.5 above 32 px, else 0). */
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
}

/** The defaults of every option. */
export const pretrainDefaults: PretrainConfig = {
  data: 'fashion-mnist',
  subset: 0,
  imageSize: 0,
  batchSize: 256,
  epochs: 5,
  stopEpoch: 0,
  depth: 18,
  cifarStem: true,
  width: 0.25,
  head: 'v1',
  headLayers: 3,
  hiddenDim: 0,
  projectionDim: 128,
  temperature: 0.2,
  strength: 1,
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

/** The config's augmentation T for views of `size` pixels. */
export function configAugmentation(c: PretrainConfig, size: number): SimCLRAugmentation {
  return new SimCLRAugmentation({
    ...(size > 32 ? augmentationPresets.imagenet(size) : augmentationPresets.cifar(size)),
    strength: c.strength,
    scale: [c.minScale ?? 0.08, 1],
    ...(c.blur >= 0 ? { blurP: c.blur } : {}),
  });
}

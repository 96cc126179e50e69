// SimCLR's network: the encoder f (any module mapping images to vectors h) and the projection
// head g (h → z, where the contrastive loss is applied). After pretraining, f is what is kept.
import { Module } from '../nn/module.js';
import { ProjectionHead, type ProjectionHeadOptions } from '../models/projection-head.js';
import { resnet, type ResNetDepth } from '../models/resnet.js';
import type { Tensor } from '../tensor/tensor.js';

/** SimCLR's network: the encoder f (images → h) and the projection head g (h → z); forward gives z. */
export class SimCLRModel extends Module {
  /**
   * @param encoder The encoder f, mapping images [N, C, H, W] to h [N, D]; what is kept after pretraining.
   * @param head The projection head g, mapping h to z.
   */
  constructor(
    readonly encoder: Module,
    readonly head: ProjectionHead,
  ) {
    super();
    this.registerModule('encoder', encoder);
    this.registerModule('head', head);
  }

  /** z = g(f(x)). */
  forward(x: Tensor): Tensor {
    return this.head.forward(this.encoder.forward(x));
  }
}

/** The projection heads a run can train: the paper's Figure 8 compares none, linear and v1 (non-linear). */
export const HEAD_KINDS = ['v1', 'v2', 'linear', 'none'] as const;
/** One of {@link HEAD_KINDS}. */
export type HeadKind = (typeof HEAD_KINDS)[number];

/** The architecture of a {@link SimCLRModel}: the ResNet encoder's and the projection head's options. */
export interface ModelConfig {
  /** ResNet depth of the encoder. */
  depth: ResNetDepth;
  /** Whether the encoder uses the CIFAR stem (3×3 stride-1 conv, no max-pool). */
  cifarStem: boolean;
  /** Width multiplier of the encoder. */
  width: number;
  /** Channels of the input images. */
  inChannels: number;
  /** Projection head: v1 Linear-ReLU-Linear, v2 deeper with BatchNorm, linear (one Linear), none (z = h). */
  head: HeadKind;
  /** Linear layers of a v2 head. */
  headLayers: number;
  /** Hidden width of the head (0: the width of h). */
  hiddenDim: number;
  /** Dimension of z. */
  projectionDim: number;
}

/** The model's part of a training configuration (PretrainConfig, a checkpoint's), for images of `inChannels` channels. */
export function modelConfig(c: Omit<ModelConfig, 'inChannels'>, inChannels: number): ModelConfig {
  return { depth: c.depth, cifarStem: c.cifarStem, width: c.width, inChannels, head: c.head, headLayers: c.headLayers, hiddenDim: c.hiddenDim, projectionDim: c.projectionDim };
}

/** A ResNet encoder and a projection head as configured (hiddenDim 0: the width of h). */
export function buildModel(c: ModelConfig): SimCLRModel {
  const encoder = resnet(c.depth, { cifarStem: c.cifarStem, widthMultiplier: c.width, inChannels: c.inChannels });
  const head: ProjectionHeadOptions = {
    version: c.head === 'v2' ? 2 : 1,
    inputDim: encoder.featureDim,
    hiddenDim: c.hiddenDim || encoder.featureDim,
    outputDim: c.head === 'none' ? encoder.featureDim : c.projectionDim,
  };
  if (c.head !== 'v1') head.layers = { none: 0, linear: 1, v2: c.headLayers }[c.head];
  return new SimCLRModel(encoder, new ProjectionHead(head));
}

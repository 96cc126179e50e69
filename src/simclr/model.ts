// SimCLR's network: the encoder f (any module mapping images to vectors h) and the projection
// head g (h → z, where the contrastive loss is applied). After pretraining, f is what is kept.
import { Module } from '../nn/module.js';
import { ProjectionHead, type ProjectionHeadOptions } from '../models/projection-head.js';
import { resnet, type ResNetDepth } from '../models/resnet.js';
import type { Tensor } from '../tensor/tensor.js';

export class SimCLRModel extends Module {
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

export interface ModelConfig {
  depth: ResNetDepth;
  cifarStem: boolean;
  width: number;
  inChannels: number;
  head: 'v1' | 'v2';
  headLayers: number;
  hiddenDim: number;
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
    outputDim: c.projectionDim,
  };
  if (c.head === 'v2') head.layers = c.headLayers;
  return new SimCLRModel(encoder, new ProjectionHead(head));
}

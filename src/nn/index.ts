// torch.nn's counterpart: Module, the layers, and initialisation.
export { Module, type StateDict, type LoadResult } from './module.js';
export {
  Linear,
  Conv2d,
  BatchNorm1d,
  BatchNorm2d,
  ReLU,
  Identity,
  Flatten,
  MaxPool2d,
  AdaptiveAvgPool2d,
  Dropout,
  Sequential,
  type BatchNorm,
  type Pair,
} from './layers.js';
export * as init from './init.js';
export { withBatchNormsFolded, type ConvBatchNormPairs } from './fold.js';

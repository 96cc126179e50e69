// The public API of simclr.
export {
  Tensor,
  tidy,
  keep,
  dispose,
  memory,
  emptyCache,
  noGrad,
  enableGrad,
  isGradEnabled,
  autocast,
  grad,
  backward,
} from './tensor/tensor.js';
export {
  tensor,
  zeros,
  ones,
  full,
  empty,
  zerosLike,
  onesLike,
  arange,
  linspace,
  eye,
  rand,
  randn,
  randint,
  randperm,
  cat,
  stack,
  where,
  manualSeed,
  setNumThreads,
  getNumThreads,
  type CreateOptions,
  type Nested,
} from './tensor/create.js';
export type { Handle } from './native.js';
export type { DType, Device, MemoryFormat, Scalar } from './tensor/types.js';
export * as F from './tensor/functional.js';
export * as ops from './tensor/generated/ops.js';
export {
  loadSafetensors,
  saveSafetensors,
  parseSafetensors,
  readSafetensorsHeader,
  serializeSafetensors,
  SafetensorsError,
  type Safetensors,
} from './io/safetensors.js';
export { writeFileAtomic } from './io/atomic.js';
export { info, type RuntimeInfo } from './info.js';
export * as nn from './nn/index.js';
export { resnet, ResNet, BasicBlock, Bottleneck, type ResNetOptions, type ResNetDepth } from './models/resnet.js';
export * as optim from './optim/index.js';
export { ProjectionHead, type ProjectionHeadOptions } from './models/projection-head.js';
export { openSource, openSplits, readSplitRecord, type OpenOptions, type Splits, type SplitRecord } from './data/open.js';
export { heldOutSplit, labelFraction } from './data/split.js';
export { imageFolder, type FolderOptions } from './data/folder.js';
export { fashionMnist, idxSource, readIdx, type IdxArray } from './data/idx.js';
export { cifarFolder, cifarSource, type CifarKind } from './data/cifar.js';
export { MemorySource, SourceView, DataError, type DataSource } from './data/source.js';
export type { Frames, FrameLayout } from './data/frames.js';
export { Loader, type Batch, type LoaderOptions } from './data/loader.js';
export { Random, type RandomState } from './random.js';
export { SimCLRAugmentation, augmentationPresets, type AugmentationOptions, type ViewParams, type JitterOp, type PairPart } from './augment/simclr-augmentation.js';
export type { Box } from './augment/geometry.js';
export { ntXentLoss, ntXentMetrics, type NTXentOptions, type NTXentMetrics } from './simclr/nt-xent.js';
export { pretrain, configViews, NonFiniteLossError, type PretrainResult, type PretrainOptions, type ViewsOf } from './simclr/pretrain.js';
export { contrastiveStep, type DataParallel } from './simclr/step.js';
export type { ProcessGroup } from './distributed/process-group.js';
export { knnMonitor } from './simclr/monitor.js';
export { SimCLRModel, buildModel, type ModelConfig } from './simclr/model.js';
export { pretrainDefaults, configAugmentation, type PretrainConfig, type Precision, type ResolvedConfig } from './simclr/config.js';
export { initialiseFrom, initArchitecture, initFile, describeInit, withInputChannels, type AdaptedEncoder, type InitRecord, type InitOptions } from './simclr/init.js';
export type { RecipeName, RecipeChoice } from './simclr/recipe.js';
export type { Position } from './simclr/checkpoint.js';
export { knnPredict, knnAccuracy, type KnnOptions } from './eval/knn.js';
export {
  linearProbe,
  lbfgs,
  lbfgsRuns,
  autogradObjective,
  type LinearProbeOptions,
  type LinearProbeResult,
  type LbfgsOptions,
  type LbfgsResult,
  type Objective,
  type Evaluation,
} from './eval/linear.js';
export { extractFeatures, type Features } from './eval/features.js';
export { ENGINE_CHOICES, ENGINE_CHOICES_INT8, CALIBRATION_IMAGES, getEngine, setEngine, int8Ranges, setInt8Ranges, type Engine, type EngineChoice, type EngineRecord } from './eval/engine.js';
export { runProtocol, openEvalData, type EvalResult, type ProtocolOptions, type Protocol, type EvalData } from './eval/evaluate.js';
export { verdict, type Verdict, type ColumnVerdict, type Scores, type FeatureSet, type Column } from './eval/verdict.js';
export { transferTables, transferMarkdown, transferLines, transferRole, transferScore, transferHeads, type TransferResult, type TransferTable, type TransferRow, type TransferRole, type TransferOptions } from './eval/transfer.js';
export { buildIndex, saveIndex, loadIndex, nearestNeighbours, encoderFingerprint, decodeQueries, embedQueries, embedQueriesAsIndexed, type ImageIndex, type Neighbours } from './search/image-index.js';
export { exportOnnx, type OnnxExportOptions } from './export/onnx.js';
export { quantizeOnnx, quantizedActivations, withActivationOutputs, type Range } from './export/quantize.js';
export { writeWebDemo, serveStatic } from './export/web.js';
export { setProgressOutput, streamOutput, Task, type ProgressOutput } from './progress.js';
export { loadEncoder, type LoadedEncoder, type Architecture } from './simclr/encoder-file.js';

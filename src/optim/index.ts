// torch.optim's counterpart: SGD, Adam, AdamW, LARS and SimCLR's learning-rate rules.
export { Optimizer, type GroupOptions, type ParamGroup, type ParamsInput, type OptimizerState, type ParamState } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { LARS, larsGroups, type LARSOptions } from './lars.js';
export { scaledLearningRate, warmupCosine, type LrScaling, type WarmupCosine } from './schedule.js';

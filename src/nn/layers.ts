// The layers SimCLR needs, with PyTorch's parameter names, defaults and initialisation.
import * as F from '../tensor/functional.js';
import * as ops from '../tensor/generated/ops.js';
import { empty, ones, zeros, tensor } from '../tensor/create.js';
import { isGradEnabled, noGrad, Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';
import { kaimingUniform, uniform } from './init.js';

/** A 2-d size, stride or padding: one number for both dims, or [height, width]. */
export type Pair = number | readonly [number, number];

function pair(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** y = x Wᵀ + b. Initialised as torch.nn.Linear: U(-1/√in, 1/√in) for both. */
export class Linear extends Module {
  constructor(
    /** Size of each input's last dim. */
    readonly inFeatures: number,
    /** Size of each output's last dim. */
    readonly outFeatures: number,
    { bias = true }: { bias?: boolean } = {},
  ) {
    super();
    this.registerParameter('weight', kaimingUniform(empty([outFeatures, inFeatures]), Math.sqrt(5)));
    this.registerParameter('bias', bias ? uniform(empty([outFeatures]), 1 / Math.sqrt(inFeatures)) : null);
  }
  /** The weight W, [outFeatures, inFeatures]. */
  get weight(): Tensor {
    return this.param('weight')!;
  }
  /** The bias b, [outFeatures] (null when built without bias). */
  get bias(): Tensor | null {
    return this.param('bias');
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

/** 2-d convolution; torch.nn.Conv2d's default initialisation (models may re-initialise). */
export class Conv2d extends Module {
  /** Kernel [height, width]. */
  readonly kernelSize: [number, number];
  /** Stride [vertical, horizontal]. */
  readonly stride: [number, number];
  /** Zero padding [top/bottom, left/right], in pixels. */
  readonly padding: [number, number];
  /** Spacing between kernel elements [vertical, horizontal]. */
  readonly dilation: [number, number];
  /** Channel groups: each output channel sees inChannels / groups input channels. */
  readonly groups: number;

  constructor(
    /** Channels of the input, C_in. */
    readonly inChannels: number,
    /** Channels of the output, C_out. */
    readonly outChannels: number,
    kernelSize: Pair,
    {
      stride = 1,
      padding = 0,
      dilation = 1,
      groups = 1,
      bias = true,
    }: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean } = {},
  ) {
    super();
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new RangeError(`Conv2d: channels (${inChannels} in, ${outChannels} out) must be divisible by groups (${groups})`);
    }
    this.kernelSize = pair(kernelSize);
    this.stride = pair(stride);
    this.padding = pair(padding);
    this.dilation = pair(dilation);
    this.groups = groups;
    const fanIn = (inChannels / groups) * this.kernelSize[0] * this.kernelSize[1];
    this.registerParameter('weight', kaimingUniform(empty([outChannels, inChannels / groups, ...this.kernelSize]), Math.sqrt(5)));
    this.registerParameter('bias', bias ? uniform(empty([outChannels]), 1 / Math.sqrt(fanIn)) : null);
  }
  /** Weight and bias with the next BatchNorm folded in (nn/fold.ts), used instead of the parameters while set. */
  folded: {
    /** The folded weight, [outChannels, inChannels / groups, kH, kW]. */
    weight: Tensor;
    /** The folded bias, [outChannels]. */
    bias: Tensor;
  } | null = null;
  /** The kernel, [outChannels, inChannels / groups, kH, kW]. */
  get weight(): Tensor {
    return this.param('weight')!;
  }
  /** The bias, [outChannels] (null when built without bias). */
  get bias(): Tensor | null {
    return this.param('bias');
  }
  forward(x: Tensor): Tensor {
    const { weight, bias } = this.folded ?? this;
    return F.conv2d(x, weight, bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

/**
 * Batch normalisation over dim 1 with PyTorch's buffers: running_mean, running_var and
 * num_batches_tracked. Training mode normalises with the batch statistics and updates the
 * running ones (unbiased variance, `momentum`); eval mode uses the running statistics.
 */
export class BatchNorm extends Module {
  constructor(
    /** The number of channels (size of dim 1), C. */
    readonly numFeatures: number,
    /** The input ranks accepted (e.g. [4] for BatchNorm2d). */
    readonly expectedDims: readonly number[],
    {
      eps = 1e-5,
      momentum = 0.1,
      affine = true,
      center = true,
      trackRunningStats = true,
    }: {
      eps?: number;
      momentum?: number;
      affine?: boolean;
      /** With affine: learn the shift β too (false: scale only, TF's center=False). */
      center?: boolean;
      trackRunningStats?: boolean;
    } = {},
  ) {
    super();
    this.eps = eps;
    this.momentum = momentum;
    this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.registerParameter('bias', affine && center ? zeros([numFeatures]) : null);
    this.registerBuffer('running_mean', trackRunningStats ? zeros([numFeatures]) : null);
    this.registerBuffer('running_var', trackRunningStats ? ones([numFeatures]) : null);
    this.registerBuffer('num_batches_tracked', trackRunningStats ? tensor(0, { dtype: 'int64' }) : null);
  }
  /** Added to the variance for numerical stability. */
  readonly eps: number;
  /** Weight of the new batch in the running statistics' update (PyTorch's convention; 0.1 by default). */
  readonly momentum: number;
  /** false: forwardRelu runs BatchNorm and ReLU as separate ops (what bench/batch-norm-relu compares the fused kernels with). */
  static fuseRelu = true;
  /** Replaces the training-mode computation (set by convertSyncBatchNorm for global statistics). */
  trainingForward: ((x: Tensor) => Tensor) | null = null;
  /** Folded into the convolution before it (nn/fold.ts): the identity, in eval mode only. */
  foldedIntoConv = false;

  /** The learned scale γ, [C] (null without affine). */
  get weight(): Tensor | null {
    return this.param('weight');
  }
  /** The learned shift β, [C] (null without affine or center). */
  get bias(): Tensor | null {
    return this.param('bias');
  }
  /** The running mean [C] used in eval mode (null without trackRunningStats). */
  get runningMean(): Tensor | null {
    return this.buffer('running_mean');
  }
  /** The running (unbiased) variance [C] used in eval mode (null without trackRunningStats). */
  get runningVar(): Tensor | null {
    return this.buffer('running_var');
  }

  forward(x: Tensor): Tensor {
    if (this.isIdentityFor(x)) return x;
    this.countBatch();
    if (this.training && this.trainingForward !== null) return this.trainingForward(x);
    const useBatchStats = this.training || this.runningMean === null;
    return F.batchNorm(x, this.runningMean, this.runningVar, {
      weight: this.weight,
      bias: this.bias,
      training: useBatchStats,
      momentum: this.momentum,
      eps: this.eps,
    });
  }

  /**
   * relu(forward(x) [+ residual]); in training with the batch's own statistics, fused where the
   * input allows (F.batchNormReluTraining). Without gradients the residual's add and ReLU are one
   * pass (ATen's fused add-relu, which has no backward).
   */
  forwardRelu(x: Tensor, residual: Tensor | null = null): Tensor {
    if (BatchNorm.fuseRelu && this.training && this.trainingForward === null && !this.isIdentityFor(x)) {
      const y = F.batchNormReluTraining(x, this.runningMean, this.runningVar, { weight: this.weight, bias: this.bias, momentum: this.momentum, eps: this.eps, residual });
      if (y !== null) {
        this.countBatch();
        return y;
      }
    }
    const y = this.forward(x);
    if (residual === null) return ops.relu_(y);
    return isGradEnabled() ? ops.relu_(y.add_(residual)) : ops._add_relu_$Tensor(y, residual, 1);
  }

  /** True when folded into its convolution (the layer is then the identity); throws for a wrong rank or for training while folded. */
  private isIdentityFor(x: Tensor): boolean {
    if (!this.expectedDims.includes(x.ndim)) {
      throw new RangeError(`${this.constructor.name}: expected a ${this.expectedDims.join('-d or ')}-d input, got shape [${x.shape.join(', ')}]`);
    }
    if (!this.foldedIntoConv) return false;
    if (this.training) throw new Error(`${this.constructor.name}: folded into its convolution for inference; it cannot train until unfolded`);
    return true;
  }

  private countBatch(): void {
    const tracked = this.buffer('num_batches_tracked');
    if (this.training && tracked !== null) noGrad(() => tracked.add_(1));
  }
}

/** Batch normalisation of [N, C] or [N, C, L] input, as torch.nn.BatchNorm1d. */
export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, options: ConstructorParameters<typeof BatchNorm>[2] = {}) {
    super(numFeatures, [2, 3], options);
  }
}

/** Batch normalisation of [N, C, H, W] input, as torch.nn.BatchNorm2d. */
export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, options: ConstructorParameters<typeof BatchNorm>[2] = {}) {
    super(numFeatures, [4], options);
  }
}

/** With inplace (as torchvision's ResNet uses it) the input is overwritten and returned. */
export class ReLU extends Module {
  /** @param inplace Overwrite the input rather than allocate the output. */
  constructor(readonly inplace = false) {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.inplace ? ops.relu_(x) : ops.relu(x);
  }
}

/** Returns its input unchanged (an alias of the same data). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return ops.alias(x);
  }
}

/** Merges dims startDim..endDim into one; by default everything but the batch dim. */
export class Flatten extends Module {
  /**
   * @param startDim First dim merged.
   * @param endDim Last dim merged (inclusive; negative counts from the end).
   */
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}

/** 2-d max pooling of [N, C, H, W], as torch.nn.MaxPool2d. */
export class MaxPool2d extends Module {
  constructor(
    /** Window size. */
    readonly kernelSize: Pair,
    /** Stride, padding, dilation and ceil mode. */
    readonly options: {
      /** Step between windows (default: the kernel size). */
      stride?: Pair;
      /** Implicit -∞ padding on each side, in pixels (default 0). */
      padding?: Pair;
      /** Spacing between kernel elements (default 1). */
      dilation?: Pair;
      /** Round the output size up rather than down (default false). */
      ceilMode?: boolean;
    } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.options);
  }
}

/** Average pooling of [N, C, H, W] to a fixed output size, as torch.nn.AdaptiveAvgPool2d. */
export class AdaptiveAvgPool2d extends Module {
  /** @param outputSize The output's [height, width]. */
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** Zeroes each element with probability `p` in training (scaling the rest by 1 / (1 - p)); the identity in eval mode. */
export class Dropout extends Module {
  /** @param p Probability (0–1) that an element is zeroed. */
  constructor(readonly p = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

/** Runs its children in order; they are named '0', '1', … as in PyTorch. */
export class Sequential extends Module {
  readonly #layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.#layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  /** The number of layers. */
  get length(): number {
    return this.#layers.length;
  }
  /** The layer at `index` (negative counts from the end); throws when out of range. */
  at(index: number): Module {
    const m = this.#layers.at(index);
    if (m === undefined) throw new RangeError(`Sequential has ${this.#layers.length} layers, no index ${index}`);
    return m;
  }
  forward(x: Tensor): Tensor {
    let out = x;
    for (const layer of this.#layers) out = layer.forward(out);
    return out;
  }
}

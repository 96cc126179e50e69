// Typed functional ops with PyTorch's names and defaults (torch.nn.functional), on top of
// the generated ATen wrappers. Intermediate tensors are disposed here, not left to the caller.
import { native } from '../native.js';
import * as ops from './generated/ops.js';
import { fromHandle, Tensor, tidy } from './tensor.js';

/** A 2-d size, stride or padding: one number for both dims, or [height, width]. */
export type Pair = number | readonly [number, number];

/** 2-d convolution of input [N, C_in, H, W] with weight [C_out, C_in / groups, kH, kW], as torch.nn.functional.conv2d. */
export function conv2d(
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  { stride = 1, padding = 0, dilation = 1, groups = 1 }: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number } = {},
): Tensor {
  return ops.conv2d(input, weight, bias, stride, padding, dilation, groups);
}

/** input · weightᵀ + bias, with weight [out, in] and input [..., in], as torch.nn.functional.linear. */
export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return ops.linear(input, weight, bias);
}

/**
 * Batch normalisation over dim 1. In training mode the batch statistics are used and the
 * running statistics (when given) are updated in place with `momentum`, as torch.nn.functional.batch_norm.
 */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  {
    weight = null,
    bias = null,
    training = false,
    momentum = 0.1,
    eps = 1e-5,
  }: { weight?: Tensor | null; bias?: Tensor | null; training?: boolean; momentum?: number; eps?: number } = {},
): Tensor {
  return ops.batch_norm(input, weight, bias, runningMean, runningVar, training, momentum, eps, true);
}

/**
 * relu(batchNorm(input) [+ residual]) in training mode (the batch's statistics; the running ones,
 * when given, updated) as one native autograd function (native/batch_norm_relu.cc): fewer memory
 * passes than the separate ops, and no pre-ReLU tensor kept. For float32 or bfloat16 input (and
 * residual, of the same shape and type) in channels-last [N, C, H, W] or [N, C], with float32
 * per-channel tensors; null for any other input: the caller takes the separate ops.
 */
export function batchNormReluTraining(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  {
    weight = null,
    bias = null,
    momentum = 0.1,
    eps = 1e-5,
    residual = null,
  }: { weight?: Tensor | null; bias?: Tensor | null; momentum?: number; eps?: number; residual?: Tensor | null } = {},
): Tensor | null {
  const out = native.batchNormRelu(input.handle, residual?.handle ?? null, weight?.handle ?? null, bias?.handle ?? null, runningMean?.handle ?? null, runningVar?.handle ?? null, momentum, eps);
  return out === null ? null : fromHandle(out);
}

/** 2-d max pooling of [N, C, H, W]; the stride defaults to the kernel size. */
export function maxPool2d(
  input: Tensor,
  kernelSize: Pair,
  { stride, padding = 0, dilation = 1, ceilMode = false }: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
): Tensor {
  return ops.max_pool2d(input, kernelSize, stride ?? kernelSize, padding, dilation, ceilMode);
}

/** Average pooling of [N, C, H, W] to a fixed output size [N, C, outH, outW]. */
export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return ops.adaptive_avg_pool2d(input, outputSize);
}

/** Elementwise max(x, 0). */
export function relu(input: Tensor): Tensor {
  return ops.relu(input);
}

/** Softmax along `dim` (values 0–1 summing to 1). */
export function softmax(input: Tensor, dim: number): Tensor {
  return ops.softmax$int(input, dim);
}

/** log(softmax(x)) along `dim`, computed stably. */
export function logSoftmax(input: Tensor, dim: number): Tensor {
  return ops.log_softmax$int(input, dim);
}

/** log Σ exp(x) over `dim`, computed stably. */
export function logsumexp(input: Tensor, dim: number | readonly number[], keepdim = false): Tensor {
  return ops.logsumexp(input, dim, keepdim);
}

/** Zeroes each element with probability `p` and scales the rest by 1 / (1 - p) when `training`; identity otherwise. */
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  return ops.dropout(input, p, training);
}

const reductions = { none: 0, mean: 1, sum: 2 } as const;

/** Cross-entropy of logits [N, C] against class indices [N] (int64), or class probabilities [N, C]. */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  {
    weight = null,
    reduction = 'mean',
    ignoreIndex = -100,
    labelSmoothing = 0,
  }: { weight?: Tensor | null; reduction?: keyof typeof reductions; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  return ops.cross_entropy_loss(logits, target, weight, reductions[reduction], ignoreIndex, labelSmoothing);
}

/** x / max(‖x‖_p, eps) along `dim`, as torch.nn.functional.normalize. */
export function normalize(input: Tensor, { p = 2, dim = 1, eps = 1e-12 }: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  return tidy(() => input.div(ops.clamp_min(input.norm(p, dim, true), eps)));
}

/** Resampling filter of {@link interpolate}. */
export type InterpolateMode = 'nearest' | 'bilinear' | 'bicubic';

/** Resizes N×C×H×W images to `size` or by `scaleFactor`, as torch.nn.functional.interpolate. */
export function interpolate(
  input: Tensor,
  {
    size,
    scaleFactor,
    mode = 'nearest',
    alignCorners = false,
    antialias = false,
  }: { size?: Pair; scaleFactor?: number | readonly [number, number]; mode?: InterpolateMode; alignCorners?: boolean; antialias?: boolean },
): Tensor {
  if ((size === undefined) === (scaleFactor === undefined)) throw new TypeError('interpolate: give exactly one of size and scaleFactor');
  const outSize = size === undefined ? null : typeof size === 'number' ? [size, size] : size;
  const scales = scaleFactor === undefined ? null : typeof scaleFactor === 'number' ? [scaleFactor, scaleFactor] : scaleFactor;
  if (mode === 'nearest') {
    if (antialias) throw new TypeError("interpolate: antialias needs mode 'bilinear' or 'bicubic'");
    return ops.upsample_nearest2d$vec(input, outSize, scales);
  }
  if (mode === 'bilinear') {
    return antialias
      ? ops._upsample_bilinear2d_aa$vec(input, outSize, alignCorners, scales)
      : ops.upsample_bilinear2d$vec(input, outSize, alignCorners, scales);
  }
  if (mode === 'bicubic') {
    return antialias
      ? ops._upsample_bicubic2d_aa$vec(input, outSize, alignCorners, scales)
      : ops.upsample_bicubic2d$vec(input, outSize, alignCorners, scales);
  }
  throw new TypeError(`interpolate: unknown mode '${String(mode)}'`);
}

const sampleModes = { bilinear: 0, nearest: 1, bicubic: 2 } as const;
const paddingModes = { zeros: 0, border: 1, reflection: 2 } as const;

/** Samples `input` (N×C×H×W) at the normalised [-1, 1] (x, y) positions of `grid` (N×H'×W'×2). */
export function gridSample(
  input: Tensor,
  grid: Tensor,
  {
    mode = 'bilinear',
    paddingMode = 'zeros',
    alignCorners = false,
  }: { mode?: keyof typeof sampleModes; paddingMode?: keyof typeof paddingModes; alignCorners?: boolean } = {},
): Tensor {
  return ops.grid_sampler(input, grid, sampleModes[mode], paddingModes[paddingMode], alignCorners);
}

/** The sampling grid (N×H×W×2) of the affine maps `theta` (N×2×3) for an output of `size` [N, C, H, W]. */
export function affineGrid(theta: Tensor, size: readonly number[], { alignCorners = false } = {}): Tensor {
  return ops.affine_grid_generator(theta, size, alignCorners);
}

/** Pads the last dims by `pad` = [left, right, top, bottom, ...], as torch.nn.functional.pad. */
export function pad(
  input: Tensor,
  padding: readonly number[],
  { mode = 'constant', value = 0 }: { mode?: 'constant' | 'reflect' | 'replicate' | 'circular'; value?: number } = {},
): Tensor {
  return ops.pad(input, padding, mode, mode === 'constant' ? value : null);
}

// Inference with each eval-mode BatchNorm folded into the convolution before it, as PyTorch's
// fuse_conv_bn_eval does: BN(conv(x; W, b)) = conv(x; W·s, (b − μ)·s + β) with s = γ/√(σ² + ε) per
// output channel. The same outputs up to rounding, one pass over every activation fewer per BN
// layer. The folded weights live beside the parameters (Conv2d.folded), which stay untouched: an
// optimizer, a state dict or a checkpoint sees nothing of it, and unfolding drops them.
import { keep, noGrad, tidy } from '../tensor/tensor.js';
import { zeros } from '../tensor/create.js';
import type { BatchNorm, Conv2d } from './layers.js';
import type { Module } from './module.js';

/** A model that names its (convolution, the BatchNorm applied right after it) pairs. */
export interface ConvBatchNormPairs {
  /** Each convolution with the BatchNorm that directly follows it. */
  convBatchNormPairs(): [Conv2d, BatchNorm][];
}

const hasPairs = (m: Module): m is Module & ConvBatchNormPairs => typeof (m as Partial<ConvBatchNormPairs>).convBatchNormPairs === 'function';

function fold(conv: Conv2d, bn: BatchNorm): void {
  const [mean, variance] = [bn.runningMean, bn.runningVar];
  if (mean === null || variance === null) throw new Error(`${bn.constructor.name} without running statistics cannot be folded`);
  conv.folded = noGrad(() =>
    tidy(() => {
      const scale = variance.add(bn.eps).rsqrt();
      const gamma = bn.weight === null ? scale : scale.mul(bn.weight);
      const shifted = (conv.bias ?? zeros([conv.outChannels])).sub(mean).mul(gamma);
      const bias = bn.bias === null ? shifted : shifted.add(bn.bias);
      // (an elementwise product keeps the weight's memory format)
      return { weight: keep(conv.weight.mul(gamma.view([-1, 1, 1, 1]))), bias: keep(bias) };
    }),
  );
  bn.foldedIntoConv = true;
}

function unfold(conv: Conv2d, bn: BatchNorm): void {
  conv.folded?.weight.dispose();
  conv.folded?.bias.dispose();
  conv.folded = null;
  bn.foldedIntoConv = false;
}

/**
 * Runs fn with the model's BatchNorms folded into their convolutions (a model in eval mode that
 * names its pairs; any other model runs as it is), unfolded afterwards whatever happens.
 */
export async function withBatchNormsFolded<T>(model: Module, fn: () => Promise<T>): Promise<T> {
  if (model.training) throw new Error('withBatchNormsFolded: the model must be in eval mode (folding uses the running statistics)');
  const pairs = hasPairs(model) ? model.convBatchNormPairs() : [];
  try {
    for (const [conv, bn] of pairs) fold(conv, bn);
    return await fn();
  } finally {
    for (const [conv, bn] of pairs) unfold(conv, bn);
  }
}

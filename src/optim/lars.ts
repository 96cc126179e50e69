// LARS (You et al. 2017) as google-research/simclr's lars_optimizer.py does it, the optimizer of
// SimCLR's large-batch training. With classic momentum (their default):
//   g ← g + wd·w                                   (unless the parameter is excluded from weight decay)
//   trust = η‖w‖/‖g‖ if ‖w‖ > 0 and ‖g‖ > 0 else 1  (1 when excluded from layer adaptation)
//   v ← m·v + lr·trust·g ;  w ← w − v              (Nesterov: w ← w − (m·v + lr·trust·g))
// Biases and BatchNorm parameters are excluded from both, as in SimCLR: see larsGroups().
import type { Tensor } from '../tensor/tensor.js';
import { where, zerosLike } from '../tensor/create.js';
import type { Module } from '../nn/module.js';
import { Optimizer, type GroupOptions, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

/** LARS's hyper-parameters; `weightDecay` is added to the gradient before the trust ratio. */
export interface LARSOptions extends GroupOptions {
  /** Momentum factor (default 0.9). */
  momentum: number;
  /** Trust coefficient η. */
  eta: number;
  /** Nesterov momentum (default false). */
  nesterov: boolean;
  /** Scale the step by the trust ratio (false for biases and BN parameters). */
  layerAdaptation: boolean;
}

/** Layer-wise adaptive rate scaling (You et al. 2017) as google-research/simclr implements it: SimCLR's large-batch optimizer. */
export class LARS extends Optimizer<LARSOptions> {
  constructor(params: ParamsInput<LARSOptions>, options: Partial<LARSOptions> & { lr: number }) {
    super(params, { momentum: 0.9, eta: 0.001, nesterov: false, weightDecay: 0, layerAdaptation: true, ...options });
  }

  protected update(w: Tensor, grad: Tensor, g: ParamGroup<LARSOptions>, state: ParamState): void {
    const d = g.weightDecay !== 0 ? grad.add(w, g.weightDecay) : grad;
    // The trust ratio stays a tensor, so no device synchronisation happens here.
    let scaled: Tensor;
    if (g.layerAdaptation) {
      const wNorm = w.norm();
      const dNorm = d.norm();
      const one = zerosLike(wNorm).add_(1);
      const ratio = where(wNorm.gt(0), where(dNorm.gt(0), wNorm.mul(g.eta).div(dNorm), one), one);
      scaled = d.mul(ratio.mul(g.lr));
    } else {
      scaled = d.mul(g.lr);
    }
    const v = state.get('momentum') ?? this.setState(state, 'momentum', zerosLike(w));
    v.mul_(g.momentum).add_(scaled);
    w.sub_(g.nesterov ? v.mul(g.momentum).add_(scaled) : v);
  }
}

/**
 * SimCLR's parameter groups: weights get weight decay and layer adaptation; biases and
 * BatchNorm parameters (every parameter with fewer than 2 dims) get neither.
 */
export function larsGroups(model: Module, weightDecay: number): (Partial<LARSOptions> & {
  /** The trainable parameters of the group. */
  params: Tensor[];
})[] {
  const params = model.parameters().filter((p) => p.requiresGrad);
  return [
    { params: params.filter((p) => p.ndim >= 2), weightDecay },
    { params: params.filter((p) => p.ndim < 2), weightDecay: 0, layerAdaptation: false },
  ];
}

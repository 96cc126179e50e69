// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD.
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type GroupOptions, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

/** SGD's hyper-parameters; `weightDecay` is L2, added to the gradient. */
export interface SGDOptions extends GroupOptions {
  /** Momentum factor (default 0: plain SGD). */
  momentum: number;
  /** Dampening of the gradient's share in the momentum (default 0). */
  dampening: number;
  /** Nesterov momentum (default false; needs momentum and zero dampening). */
  nesterov: boolean;
}

/** Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD. */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, options: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...options });
    if (this.paramGroups.some((g) => g.nesterov && (g.momentum <= 0 || g.dampening !== 0))) {
      throw new Error('Nesterov momentum requires a momentum and zero dampening');
    }
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDOptions>, state: ParamState): void {
    let d = g.weightDecay !== 0 ? grad.add(p, g.weightDecay) : grad;
    if (g.momentum !== 0) {
      let buf = state.get('momentum_buffer');
      if (buf === undefined) buf = this.setState(state, 'momentum_buffer', d.clone());
      else buf.mul_(g.momentum).add_(d, 1 - g.dampening);
      d = g.nesterov ? d.add(buf, g.momentum) : buf;
    }
    p.add_(d, -g.lr);
  }
}

// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), as torch.optim.
import type { Tensor } from '../tensor/tensor.js';
import { tensor, zerosLike } from '../tensor/create.js';
import { Optimizer, type GroupOptions, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

/** Adam's hyper-parameters; `weightDecay` is L2 for Adam, decoupled for AdamW. */
export interface AdamOptions extends GroupOptions {
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps: number;
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamOptions>, state: ParamState): void {
    const [beta1, beta2] = g.betas;
    const step = (state.get('step')?.item() ?? 0) + 1;
    const m = state.get('exp_avg') ?? this.setState(state, 'exp_avg', zerosLike(p));
    const v = state.get('exp_avg_sq') ?? this.setState(state, 'exp_avg_sq', zerosLike(p));
    this.setState(state, 'step', tensor(step, { dtype: 'float64' }));
    if (this.decoupled) p.mul_(1 - g.lr * g.weightDecay);
    const d = !this.decoupled && g.weightDecay !== 0 ? grad.add(p, g.weightDecay) : grad;
    m.mul_(beta1).add_(d, 1 - beta1);
    v.mul_(beta2).addcmul_(d, d, 1 - beta2);
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const denom = v.sqrt().div_(Math.sqrt(biasCorrection2)).add_(g.eps);
    p.addcdiv_(m, denom, -g.lr / biasCorrection1);
  }
}

/** Adam with L2 weight decay added to the gradient, as torch.optim.Adam (lr 1e-3, weight decay 0 by default). */
export class Adam extends AdamBase {
  /** false: weight decay is added to the gradient. */
  protected readonly decoupled = false;
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, ...options });
  }
}

/** Adam with decoupled weight decay, as torch.optim.AdamW (lr 1e-3, weight decay 1e-2 by default). */
export class AdamW extends AdamBase {
  /** true: the weights shrink by lr·weightDecay each step, apart from the gradient. */
  protected readonly decoupled = true;
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...options });
  }
}

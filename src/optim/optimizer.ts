// The optimizer base, as torch.optim.Optimizer: parameter groups with their own hyper-parameters,
// per-parameter state (tensors kept out of tidy scopes), zeroGrad, and a state dict for checkpoints.
import { keep, noGrad, Tensor, tidy } from '../tensor/tensor.js';

/** A group's hyper-parameters; every optimizer adds its own. `lr` is set per step by schedules. */
export interface GroupOptions {
  /** Learning rate. */
  lr: number;
  /** Weight-decay coefficient (0: none); how it is applied depends on the optimizer. */
  weightDecay: number;
}

/** A parameter group: its hyper-parameters and the tensors they apply to. */
export type ParamGroup<O extends GroupOptions> = O & {
  /** The parameters this group updates. */
  params: Tensor[];
};

/** What a caller passes: a list of tensors, or groups each overriding some options. */
export type ParamsInput<O extends GroupOptions> = Tensor[] | (Partial<O> & {
  /** The parameters of this group. */
  params: Tensor[];
})[];

/** One parameter's optimizer state: named tensors such as `momentum_buffer` or `exp_avg`. */
export type ParamState = Map<string, Tensor>;

/** Optimizer state for a checkpoint: tensors named `${paramIndex}.${key}`, and JSON-able hyper-parameters and counters. */
export interface OptimizerState {
  /** State tensors named `${paramIndex}.${key}`, the index counting parameters across all groups. */
  tensors: Map<string, Tensor>;
  /** The JSON-able part. */
  meta: {
    /** Each group's hyper-parameters, with `size`: its number of parameters. */
    groups: Record<string, unknown>[];
    /** Completed step() calls. */
    steps: number;
  };
}

/**
 * Base class of the optimizers, as torch.optim.Optimizer: parameter groups with their own
 * hyper-parameters, per-parameter state, zeroGrad, and a state dict for checkpoints.
 */
export abstract class Optimizer<O extends GroupOptions> {
  /** The parameter groups, each with its hyper-parameters (defaults filled in). */
  readonly paramGroups: ParamGroup<O>[];
  /** Each parameter's state, created at its first update. */
  protected readonly state = new Map<Tensor, ParamState>();
  /** Completed step() calls. */
  steps = 0;

  constructor(params: ParamsInput<O>, defaults: O) {
    const groups = params.length > 0 && params[0] instanceof Tensor ? [{ params: params as Tensor[] }] : (params as (Partial<O> & { params: Tensor[] })[]);
    this.paramGroups = groups.map((g) => ({ ...defaults, ...g, params: [...g.params] }) as ParamGroup<O>);
    const seen = new Set<Tensor>();
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error('a parameter appears in more than one group');
        seen.add(p);
      }
    }
  }

  /** Updates one parameter in place (called under noGrad, inside a scope) with its gradient. */
  protected abstract update(param: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState): void;

  /** One optimisation step for every parameter that has a gradient. */
  step(): void {
    try {
      this.#updateAll();
    } catch (e) {
      // (checked only on failure: the step's hot path stays as it was)
      if (this.paramGroups.some((g) => g.params.some((p) => p.isDisposed))) {
        throw new Error(
          'optimizer: one of its parameters was disposed. Module.to() and Module.dispose() replace or free the tensors an optimizer holds: build the optimizer after moving the model (model.to(...) first, then new Adam(model.parameters()))',
        );
      }
      throw e;
    }
    this.steps++;
  }

  #updateAll(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          tidy(() => {
            const g = p.grad;
            if (g === null) return;
            let state = this.state.get(p);
            if (state === undefined) {
              state = new Map();
              this.state.set(p, state);
            }
            this.update(p, g, group, state);
          });
        }
      }
    });
  }

  /** Keeps a state tensor (momentum buffer, moments) alive across steps. */
  protected setState(state: ParamState, key: string, value: Tensor): Tensor {
    state.get(key)?.dispose();
    state.set(key, keep(value));
    return value;
  }

  /** Drops the gradients (set to null, as PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = null;
  }

  /** The state for a checkpoint; the tensors are the optimizer's own (do not dispose them). */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    let index = 0;
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        for (const [key, t] of this.state.get(p) ?? []) tensors.set(`${index}.${key}`, t);
        index++;
      }
    }
    const groups = this.paramGroups.map(({ params, ...options }) => ({ ...options, size: params.length }));
    return { tensors, meta: { groups, steps: this.steps } };
  }

  /** Restores state saved by stateDict() from an optimizer over the same parameters. */
  loadStateDict({ tensors, meta }: OptimizerState): void {
    if (meta.groups.length !== this.paramGroups.length || meta.groups.some((g, i) => g.size !== this.paramGroups[i]!.params.length)) {
      throw new Error('optimizer state does not match the parameter groups (different model or grouping)');
    }
    const params = this.paramGroups.flatMap((g) => g.params);
    for (const [name, t] of tensors) {
      const dot = name.indexOf('.');
      const p = params[Number(name.slice(0, dot))];
      if (p === undefined || dot < 0) throw new Error(`optimizer state has an unknown entry '${name}'`);
      let state = this.state.get(p);
      if (state === undefined) {
        state = new Map();
        this.state.set(p, state);
      }
      this.setState(state, name.slice(dot + 1), tidy(() => t.clone()));
    }
    meta.groups.forEach(({ size: _size, ...options }, i) => Object.assign(this.paramGroups[i]!, options));
    this.steps = meta.steps;
  }

  /** Sets every group's learning rate (schedules call it before each step). */
  setLearningRate(lr: number): void {
    for (const g of this.paramGroups) g.lr = lr;
  }

  /** Frees the state tensors. */
  dispose(): void {
    for (const s of this.state.values()) for (const t of s.values()) t.dispose();
    this.state.clear();
  }
}

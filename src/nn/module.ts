// nn.Module as in PyTorch: named parameters and buffers with dotted names, children,
// train/eval, freezing, state dicts and safetensors checkpoints with PyTorch's key names.
import { keep, noGrad, Tensor, tidy } from '../tensor/tensor.js';
import type { Device, DType, MemoryFormat } from '../tensor/types.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';

/** Tensors keyed by PyTorch-style dotted names (e.g. `layer1.0.conv1.weight`). */
export type StateDict = Map<string, Tensor>;

/** What {@link Module.loadStateDict} matched: keys the module has but the source lacked, and the reverse. */
export interface LoadResult {
  /** The module's keys that the source did not contain (left unchanged). */
  missingKeys: string[];
  /** The source's keys that the module has no tensor for (ignored). */
  unexpectedKeys: string[];
}

/**
 * Base class of layers and models, as PyTorch's nn.Module: named parameters and buffers with
 * dotted names, child modules, train/eval mode, freezing, state dicts and safetensors checkpoints.
 */
export abstract class Module {
  /** Whether the module is in training mode (set by {@link Module.train} / {@link Module.eval}); affects BatchNorm and Dropout. */
  training = true;
  readonly #parameters = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #children = new Map<string, Module>();

  /** Computes the module's output for one input tensor. */
  abstract forward(input: Tensor): Tensor;

  /** Registers a trainable tensor (it is kept out of tidy scopes and requires grad). */
  protected registerParameter(name: string, value: Tensor | null): Tensor | null {
    if (value !== null) keep(value).requiresGrad_(true);
    this.#parameters.set(name, value);
    return value;
  }

  /** Registers a persistent, non-trainable tensor (running statistics). */
  protected registerBuffer(name: string, value: Tensor | null): Tensor | null {
    if (value !== null) keep(value);
    this.#buffers.set(name, value);
    return value;
  }

  /** Registers a child module under `name` and returns it. */
  registerModule<M extends Module>(name: string, module: M): M {
    this.#children.set(name, module);
    return module;
  }

  /** A registered parameter by its own (undotted) name. */
  protected param(name: string): Tensor | null {
    return this.#parameters.get(name) ?? null;
  }
  /** A registered buffer by its own (undotted) name. */
  protected buffer(name: string): Tensor | null {
    return this.#buffers.get(name) ?? null;
  }

  /** The direct child modules as `[name, module]` pairs, in registration order. */
  children(): IterableIterator<[string, Module]> {
    return this.#children.entries();
  }

  /** The direct child module registered as `name`, if any. */
  child(name: string): Module | undefined {
    return this.#children.get(name);
  }

  /** This module and every descendant, with dotted names ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.#children) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  /** Every parameter of this module and its descendants, with dotted names (prefixed by `prefix`). */
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, p] of m.#parameters) if (p !== null) yield [path ? `${path}.${name}` : name, p];
    }
  }

  /** Every parameter of this module and its descendants. */
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  /** Every buffer of this module and its descendants, with dotted names (prefixed by `prefix`). */
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, b] of m.#buffers) if (b !== null) yield [path ? `${path}.${name}` : name, b];
    }
  }

  /** Calls fn on this module and every descendant (children first, as PyTorch's apply). */
  apply(fn: (m: Module) => void): this {
    for (const [, child] of this.#children) child.apply(fn);
    fn(this);
    return this;
  }

  /** Sets training mode (or eval mode with `false`) on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Switches this module and every descendant to eval mode; same as `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes (true) every parameter. */
  requiresGrad_(value: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = value;
    return this;
  }

  /** Clears (sets to null) the gradient of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** The total number of parameter elements. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  /**
   * Parameters then buffers of each module, depth first, with PyTorch's dotted names.
   * The tensors are the module's own: read or copy them, do not dispose them.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [path, m] of this.namedModules()) {
      const at = (name: string) => (path ? `${path}.${name}` : name);
      for (const [name, p] of m.#parameters) if (p !== null) out.set(at(name), p);
      for (const [name, b] of m.#buffers) if (b !== null) out.set(at(name), b);
    }
    return out;
  }

  /** Copies values into the module's tensors. Shapes must match; strict also rejects missing or extra keys. */
  loadStateDict(dict: StateDict | Record<string, Tensor>, { strict = true } = {}): LoadResult {
    const source = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
      throw new Error(`loadStateDict: ${parts.join('; ')}`);
    }
    for (const [key, target] of own) {
      const value = source.get(key);
      if (value === undefined) continue;
      const [want, got] = [target.shape, value.shape];
      if (want.length !== got.length || want.some((d, i) => d !== got[i])) {
        throw new Error(`loadStateDict: '${key}' has shape [${got.join(', ')}] but the module expects [${want.join(', ')}]`);
      }
    }
    noGrad(() => {
      for (const [key, target] of own) {
        const value = source.get(key);
        if (value !== undefined) target.copy_(value);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Writes the state dict as safetensors (atomically). */
  save(path: string, metadata: Record<string, string> = {}): void {
    saveSafetensors(path, this.stateDict(), metadata);
  }

  /** Loads a safetensors state dict written here or by PyTorch. */
  load(path: string, { strict = true } = {}): LoadResult {
    const { tensors } = loadSafetensors(path);
    try {
      return this.loadStateDict(tensors, { strict });
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }

  /** Replaces every parameter and buffer by fn(tensor): dtype, device or memory-format moves. */
  protected applyToTensors(fn: (t: Tensor) => Tensor): this {
    for (const [, m] of this.namedModules()) {
      for (const table of [m.#parameters, m.#buffers]) {
        for (const [name, t] of table) {
          if (t === null) continue;
          const moved = keep(tidy(() => noGrad(() => fn(t).detach().clone())));
          if (t.requiresGrad) moved.requiresGrad_(true);
          t.dispose();
          table.set(name, moved);
        }
      }
    }
    return this;
  }

  /** Moves parameters and buffers (floating ones for dtype; 4-d ones for memoryFormat), as PyTorch's Module.to. */
  to(target: { dtype?: DType; device?: Device; memoryFormat?: MemoryFormat }): this {
    return this.applyToTensors((t) => {
      const floating = t.dtype.startsWith('float') || t.dtype === 'bfloat16';
      return t.to({
        dtype: floating ? target.dtype : undefined,
        device: target.device,
        memoryFormat: t.ndim === 4 ? target.memoryFormat : undefined,
      });
    });
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const [, t] of this.stateDict()) t.dispose();
  }
}

// The Tensor class: an owned reference to a libtorch tensor, with the everyday methods. Its
// ownership scopes (tidy / keep) are in scope.ts, the autograd entry points in autograd.ts (both
// re-exported here). Every operator of the installed libtorch is also reachable, typed, through
// `ops` (src/tensor/generated/ops.ts).
import { native, type Handle } from '../native.js';
import { currentScope, scopeOf, type Scope } from './scope.js';
import * as ops from './generated/ops.js';
import type { DType, Device, MemoryFormat, Scalar } from './types.js';

/**
 * An owned reference to a libtorch tensor with the everyday methods (every other operator is in `ops`).
 * Memory is freed by {@link Tensor.dispose}, by the enclosing {@link tidy} scope, or (outside any scope) by the GC.
 * Methods return new tensors; those ending in `_` work in place and return `this`.
 */
export class Tensor {
  readonly #handle: Handle;
  /**
   * The tidy() scope that owns this tensor (undefined when none does).
   * @hidden
   */
  [scopeOf]: Scope | undefined;

  /** Takes ownership of a native handle; library users create tensors with tensor(), zeros(), ops. */
  constructor(handle: Handle) {
    this.#handle = handle;
    const scope = currentScope();
    if (scope !== undefined) {
      scope.add(this);
      this[scopeOf] = scope;
    } else {
      native.reportToGc(handle);
    }
  }

  /** The native handle, for the generated operator wrappers. */
  get handle(): Handle {
    return this.#handle;
  }

  /** Frees the native memory now. Any later use throws. Disposing twice is harmless. */
  dispose(): void {
    native.dispose(this.#handle);
    this[scopeOf]?.delete(this);
    this[scopeOf] = undefined;
  }

  /** Same as {@link Tensor.dispose}, for `using` declarations. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Whether the native memory has been freed (any use but dispose then throws). */
  get isDisposed(): boolean {
    return native.isDisposed(this.#handle);
  }

  // ---- metadata ----

  /** The size of each dimension (a new array). */
  get shape(): number[] {
    return native.shape(this.#handle);
  }
  /** The number of dimensions (0 for a scalar). */
  get ndim(): number {
    return native.shape(this.#handle).length;
  }
  /** The number of elements (the product of the shape). */
  get numel(): number {
    return native.shape(this.#handle).reduce((a, b) => a * b, 1);
  }
  /** The stride of each dimension, in elements. */
  get strides(): number[] {
    return native.strides(this.#handle);
  }
  /** The element type. */
  get dtype(): DType {
    return native.dtype(this.#handle) as DType;
  }
  /** Where the data lives, e.g. 'cpu' or 'cuda:0'. */
  get device(): Device {
    return native.device(this.#handle);
  }
  /** Size of one dimension; negative dims count from the end. */
  size(dim: number): number {
    const shape = this.shape;
    const d = dim < 0 ? dim + shape.length : dim;
    if (d < 0 || d >= shape.length) throw new RangeError(`dimension ${dim} out of range for a ${shape.length}-d tensor`);
    return shape[d]!;
  }
  /** A short description with shape and dtype (not the values). */
  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype})`;
  }

  // ---- data ----

  /**
   * A copy of the elements in row-major order: Float32Array for float32, Float64Array for float64,
   * BigInt64Array for int64, Int32Array, Int16Array, Int8Array, Uint8Array for uint8 and bool,
   * Uint16Array with the raw bits for float16 and bfloat16. With `into` (an array of that type and
   * of the tensor's length) the elements are copied there and `into` is returned: a buffer reused
   * from batch to batch is neither allocated nor zeroed again.
   */
  toArray<T extends ArrayBufferView = ArrayBufferView>(into?: T): T {
    return native.toArray(this.#handle, into) as T;
  }
  /** The elements as plain numbers (int64 beyond 2^53 loses precision). */
  toNumbers(): number[] {
    const a = this.toArray() as unknown as ArrayLike<number | bigint>;
    return Array.from(a, (v) => Number(v));
  }
  /** The value of a one-element tensor. */
  item(): number {
    return ops.item(this);
  }

  // ---- arithmetic (broadcasting) ----

  /** this + alpha * other (alpha defaults to 1), broadcasting. */
  add(other: Tensor | Scalar, alpha?: Scalar): Tensor {
    return other instanceof Tensor ? ops.add$Tensor(this, other, alpha) : ops.add$Scalar(this, other, alpha);
  }
  /** this - alpha * other (alpha defaults to 1), broadcasting. */
  sub(other: Tensor | Scalar, alpha?: Scalar): Tensor {
    return other instanceof Tensor ? ops.sub$Tensor(this, other, alpha) : ops.sub$Scalar(this, other, alpha);
  }
  /** Elementwise product, broadcasting. */
  mul(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.mul$Tensor(this, other) : ops.mul$Scalar(this, other);
  }
  /** Elementwise true division, broadcasting. */
  div(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.div$Tensor(this, other) : ops.div$Scalar(this, other);
  }
  /** Elementwise power. */
  pow(exponent: Tensor | Scalar): Tensor {
    return exponent instanceof Tensor ? ops.pow$Tensor_Tensor(this, exponent) : ops.pow$Tensor_Scalar(this, exponent);
  }
  /** Elementwise maximum of two tensors (NaN propagates). */
  maximum(other: Tensor): Tensor {
    return ops.maximum(this, other);
  }
  /** Elementwise minimum of two tensors (NaN propagates). */
  minimum(other: Tensor): Tensor {
    return ops.minimum(this, other);
  }
  /** -this. */
  neg(): Tensor {
    return ops.neg(this);
  }
  /** Negates in place. */
  neg_(): this {
    ops.neg_(this);
    return this;
  }
  /** Elementwise absolute value. */
  abs(): Tensor {
    return ops.abs(this);
  }
  /** Elementwise sign: -1, 0 or 1. */
  sign(): Tensor {
    return ops.sign(this);
  }
  /** Elementwise square root. */
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  /** Elementwise 1 / sqrt(x). */
  rsqrt(): Tensor {
    return ops.rsqrt(this);
  }
  /** Elementwise square. */
  square(): Tensor {
    return ops.square(this);
  }
  /** Elementwise 1 / x. */
  reciprocal(): Tensor {
    return ops.reciprocal(this);
  }
  /** Elementwise e^x. */
  exp(): Tensor {
    return ops.exp(this);
  }
  /** Elementwise natural logarithm. */
  log(): Tensor {
    return ops.log(this);
  }
  /** Elementwise sine (radians). */
  sin(): Tensor {
    return ops.sin(this);
  }
  /** Elementwise cosine (radians). */
  cos(): Tensor {
    return ops.cos(this);
  }
  /** Elementwise hyperbolic tangent. */
  tanh(): Tensor {
    return ops.tanh(this);
  }
  /** Elementwise logistic function 1 / (1 + e^-x). */
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  /** Elementwise max(x, 0). */
  relu(): Tensor {
    return ops.relu(this);
  }
  /** Elementwise round down. */
  floor(): Tensor {
    return ops.floor(this);
  }
  /** Elementwise round to nearest, half to even (as torch.round). */
  round(): Tensor {
    return ops.round(this);
  }
  /** Clamps every element into [min, max]; a null or omitted bound is open. */
  clamp(min?: Scalar | null, max?: Scalar | null): Tensor {
    return ops.clamp(this, min ?? null, max ?? null);
  }
  /** Softmax along `dim` (values 0–1 summing to 1). */
  softmax(dim: number): Tensor {
    return ops.softmax$int(this, dim);
  }
  /** log(softmax(x)) along `dim`, computed stably. */
  logSoftmax(dim: number): Tensor {
    return ops.log_softmax$int(this, dim);
  }

  // ---- comparisons and selection ----

  /** Elementwise ==, as a bool tensor. */
  eq(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.eq$Tensor(this, other) : ops.eq$Scalar(this, other);
  }
  /** Elementwise !=, as a bool tensor. */
  ne(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.ne$Tensor(this, other) : ops.ne$Scalar(this, other);
  }
  /** Elementwise <, as a bool tensor. */
  lt(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.lt$Tensor(this, other) : ops.lt$Scalar(this, other);
  }
  /** Elementwise <=, as a bool tensor. */
  le(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.le$Tensor(this, other) : ops.le$Scalar(this, other);
  }
  /** Elementwise >, as a bool tensor. */
  gt(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.gt$Tensor(this, other) : ops.gt$Scalar(this, other);
  }
  /** Elementwise >=, as a bool tensor. */
  ge(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.ge$Tensor(this, other) : ops.ge$Scalar(this, other);
  }
  /** Elementwise logical NOT, as a bool tensor. */
  logicalNot(): Tensor {
    return ops.logical_not(this);
  }
  /** Elementwise logical AND, as a bool tensor. */
  logicalAnd(other: Tensor): Tensor {
    return ops.logical_and(this, other);
  }
  /** A copy with `value` where the (broadcast) bool `mask` is true. */
  maskedFill(mask: Tensor, value: Scalar): Tensor {
    return ops.masked_fill$Scalar(this, mask, value);
  }

  // ---- reductions (dim omitted: over all elements) ----

  /** Sum over `dim` (all elements when omitted). */
  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? ops.sum(this) : ops.sum$dim_IntList(this, dim, keepdim);
  }
  /** Mean over `dim` (all elements when omitted). */
  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? ops.mean(this) : ops.mean$dim(this, dim, keepdim);
  }
  /** Unbiased (correction 1) by default, as torch.std. */
  std(dim?: number | readonly number[], { correction = 1, keepdim = false } = {}): Tensor {
    return ops.std$correction(this, dim ?? null, correction, keepdim);
  }
  /** Variance over `dim` (all elements when omitted); unbiased (correction 1) by default, as torch.var. */
  var(dim?: number | readonly number[], { correction = 1, keepdim = false } = {}): Tensor {
    return ops.var$correction(this, dim ?? null, correction, keepdim);
  }
  /** Maximum values over `dim` (all elements when empty); no indices. */
  amax(dim: number | readonly number[] = [], keepdim = false): Tensor {
    return ops.amax(this, dim, keepdim);
  }
  /** Minimum values over `dim` (all elements when empty); no indices. */
  amin(dim: number | readonly number[] = [], keepdim = false): Tensor {
    return ops.amin(this, dim, keepdim);
  }
  /** Maximum over one dimension: [values, indices]. */
  maxDim(dim: number, keepdim = false): [Tensor, Tensor] {
    return ops.max$dim(this, dim, keepdim);
  }
  /** Indices (int64) of the maxima along `dim`, or into the flattened tensor when omitted. */
  argmax(dim?: number, keepdim = false): Tensor {
    return ops.argmax(this, dim ?? null, keepdim);
  }
  /** Indices (int64) of the minima along `dim`, or into the flattened tensor when omitted. */
  argmin(dim?: number, keepdim = false): Tensor {
    return ops.argmin(this, dim ?? null, keepdim);
  }
  /** Vector p-norm over dims (all when omitted). */
  norm(p: number = 2, dim?: number | readonly number[], keepdim = false): Tensor {
    return ops.linalg_vector_norm(this, p, dim ?? null, keepdim);
  }
  /** log(sum(exp(x))) over `dim`, computed stably. */
  logsumexp(dim: number | readonly number[], keepdim = false): Tensor {
    return ops.logsumexp(this, dim, keepdim);
  }
  /** Product of all elements (a 0-d tensor). */
  prod(): Tensor {
    return ops.prod(this);
  }
  /** Cumulative sum along `dim`. */
  cumsum(dim: number): Tensor {
    return ops.cumsum(this, dim);
  }
  /** Whether every element is true/non-zero (a 0-d bool tensor). */
  all(): Tensor {
    return ops.all(this);
  }
  /** Whether any element is true/non-zero (a 0-d bool tensor). */
  any(): Tensor {
    return ops.any(this);
  }

  // ---- linear algebra ----

  /** Matrix product with broadcasting over batch dims, as torch.matmul. */
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }
  /** Product of two 2-d matrices: [n, m] × [m, p] → [n, p]. */
  mm(other: Tensor): Tensor {
    return ops.mm(this, other);
  }
  /** Batched matrix product: [b, n, m] × [b, m, p] → [b, n, p]. */
  bmm(other: Tensor): Tensor {
    return ops.bmm(this, other);
  }
  /** Transpose of a 2-d tensor. */
  t(): Tensor {
    return ops.t(this);
  }

  // ---- shape ----

  /** The same elements in a new shape (one size may be -1); a view when possible, else a copy. */
  reshape(shape: readonly number[]): Tensor {
    return ops.reshape(this, shape);
  }
  /** A view with a new shape (one size may be -1); the strides must allow it. */
  view(shape: readonly number[]): Tensor {
    return ops.view(this, shape);
  }
  /** A view with the dimensions reordered. */
  permute(dims: readonly number[]): Tensor {
    return ops.permute(this, dims);
  }
  /** A view with two dimensions swapped. */
  transpose(dim0: number, dim1: number): Tensor {
    return ops.transpose$int(this, dim0, dim1);
  }
  /** Merges dims startDim..endDim (inclusive) into one. */
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten$using_ints(this, startDim, endDim);
  }
  /** Removes size-1 dims (only `dim` when given). */
  squeeze(dim?: number): Tensor {
    return dim === undefined ? ops.squeeze(this) : ops.squeeze$dim(this, dim);
  }
  /** Inserts a size-1 dim at `dim`. */
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }
  /** A broadcast view to `shape` (-1 keeps a size); no copy. */
  expand(shape: readonly number[]): Tensor {
    return ops.expand(this, shape);
  }
  /** A broadcast view to `other`'s shape. */
  expandAs(other: Tensor): Tensor {
    return ops.expand_as(this, other);
  }
  /** Tiles the data `repeats[i]` times along each dim (a copy). */
  repeat(repeats: readonly number[]): Tensor {
    return ops.repeat(this, repeats);
  }
  /** A copy with the order of elements reversed along `dims`. */
  flip(dims: readonly number[]): Tensor {
    return ops.flip(this, dims);
  }
  /** The tensor laid out densely in `memoryFormat`; the same data (no copy) when it already is. */
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return ops.contiguous(this, memoryFormat);
  }
  /** Splits into at most `chunks` equal views along `dim` (the last may be smaller). */
  chunk(chunks: number, dim = 0): Tensor[] {
    return ops.chunk(this, chunks, dim);
  }
  /** Splits into views of `size` along `dim` (the last may be smaller). */
  split(size: number, dim = 0): Tensor[] {
    return ops.split$Tensor(this, size, dim);
  }
  /** The slices along `dim`, each with that dim removed. */
  unbind(dim = 0): Tensor[] {
    return ops.unbind$int(this, dim);
  }

  // ---- indexing ----

  /** The slice at `index` along `dim` (dimension removed). */
  select(dim: number, index: number): Tensor {
    return ops.select$int(this, dim, index);
  }
  /** A view of `length` elements from `start` along `dim`. */
  narrow(dim: number, start: number, length: number): Tensor {
    return ops.narrow(this, dim, start, length);
  }
  /** Python's t[..., start:end:step, ...] along one dim; a view. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return ops.slice$Tensor(this, dim, start ?? null, end ?? null, step);
  }
  /** Advanced indexing, as t[i0, i1, ...] with index tensors (null keeps a dim whole). */
  index(indices: readonly (Tensor | null)[]): Tensor {
    return ops.index$Tensor(this, indices);
  }
  /** The entries at the int64 `index` along `dim` (a copy). */
  indexSelect(dim: number, index: Tensor): Tensor {
    return ops.index_select(this, dim, index);
  }
  /** Values picked along `dim` by an int64 `index` of the output's shape, as torch.gather. */
  gather(dim: number, index: Tensor): Tensor {
    return ops.gather(this, dim, index);
  }

  // ---- conversions ----

  /** A tensor of another dtype and/or device; when nothing changes, a new reference to the same data (as PyTorch). */
  to(target: DType | Device | { dtype?: DType; device?: Device; memoryFormat?: MemoryFormat; copy?: boolean }): Tensor {
    if (typeof target === 'string' && !isDType(target) && !/^(cpu|cuda|mps|meta|xpu)(:\d+)?$/.test(target)) {
      throw new TypeError(`to('${target}'): neither a dtype (${[...dtypes].join(', ')}) nor a device (cpu, cuda, cuda:N)`);
    }
    const o = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    return ops.to$dtype_layout(this, o.dtype ?? null, null, o.device ?? null, null, false, o.copy ?? false, o.memoryFormat ?? null);
  }
  /** As float32 (see {@link Tensor.to}). */
  float(): Tensor {
    return this.to('float32');
  }
  /** As float64 (see {@link Tensor.to}). */
  double(): Tensor {
    return this.to('float64');
  }
  /** As int64 (see {@link Tensor.to}). */
  long(): Tensor {
    return this.to('int64');
  }
  /** A copy of the data (kept in the autograd graph); the layout is preserved unless `memoryFormat` is given. */
  clone(memoryFormat?: MemoryFormat): Tensor {
    return ops.clone(this, memoryFormat ?? null);
  }
  /** The same data cut from the autograd graph. */
  detach(): Tensor {
    return ops.detach(this);
  }

  // ---- in place (for optimizers; run them under noGrad on parameters) ----

  /** In place: this += alpha * other (alpha defaults to 1). */
  add_(other: Tensor | Scalar, alpha?: Scalar): this {
    if (other instanceof Tensor) ops.add_$Tensor(this, other, alpha);
    else ops.add_$Scalar(this, other, alpha);
    return this;
  }
  /** In place: this -= alpha * other (alpha defaults to 1). */
  sub_(other: Tensor | Scalar, alpha?: Scalar): this {
    if (other instanceof Tensor) ops.sub_$Tensor(this, other, alpha);
    else ops.sub_$Scalar(this, other, alpha);
    return this;
  }
  /** In place: this *= other. */
  mul_(other: Tensor | Scalar): this {
    if (other instanceof Tensor) ops.mul_$Tensor(this, other);
    else ops.mul_$Scalar(this, other);
    return this;
  }
  /** In place: this /= other. */
  div_(other: Tensor | Scalar): this {
    if (other instanceof Tensor) ops.div_$Tensor(this, other);
    else ops.div_$Scalar(this, other);
    return this;
  }
  /** this += value * t1 * t2 */
  addcmul_(t1: Tensor, t2: Tensor, value: Scalar = 1): this {
    ops.addcmul_(this, t1, t2, value);
    return this;
  }
  /** this += value * t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, value: Scalar = 1): this {
    ops.addcdiv_(this, t1, t2, value);
    return this;
  }
  /** In place: this += weight * (end - this). */
  lerp_(end: Tensor, weight: Scalar): this {
    ops.lerp_$Scalar(this, end, weight);
    return this;
  }
  /** In place: clamps into [min, max]; a null or omitted bound is open. */
  clamp_(min?: Scalar | null, max?: Scalar | null): this {
    ops.clamp_(this, min ?? null, max ?? null);
    return this;
  }
  /** In place: elementwise square root. */
  sqrt_(): this {
    ops.sqrt_(this);
    return this;
  }
  /** In place: sets every element to 0. */
  zero_(): this {
    ops.zero_(this);
    return this;
  }
  /** In place: sets every element to `value`. */
  fill_(value: Scalar): this {
    ops.fill_$Scalar(this, value);
    return this;
  }
  /** Copies the rows of `source` into this tensor at `index` along `dim`. */
  indexCopy_(dim: number, index: Tensor, source: Tensor): this {
    ops.index_copy_(this, dim, index, source);
    return this;
  }
  /** In place: copies `src` (broadcast, converted to this dtype and device) into this tensor. */
  copy_(src: Tensor): this {
    ops.copy_(this, src);
    return this;
  }
  /** In place: fills with samples uniform on [from, to). */
  uniform_(from = 0, to = 1): this {
    ops.uniform_(this, from, to);
    return this;
  }
  /** In place: fills with samples from N(mean, std²). */
  normal_(mean = 0, std = 1): this {
    ops.normal_(this, mean, std);
    return this;
  }

  // ---- autograd ----

  /** Whether autograd records operations on this tensor (and a leaf accumulates .grad); settable. */
  get requiresGrad(): boolean {
    return native.requiresGrad(this.#handle);
  }
  /** Turns gradient recording on or off for this (leaf) tensor. */
  set requiresGrad(value: boolean) {
    native.setRequiresGrad(this.#handle, value);
  }
  /** Sets {@link Tensor.requiresGrad} and returns this tensor. */
  requiresGrad_(value = true): this {
    native.setRequiresGrad(this.#handle, value);
    return this;
  }
  /** Whether the tensor is a leaf of the autograd graph (not the result of a recorded operation); only leaves accumulate .grad. */
  get isLeaf(): boolean {
    return native.isLeaf(this.#handle);
  }
  /** The accumulated gradient (a new reference, owned by the current scope), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.#handle);
    return g === null ? null : new Tensor(g);
  }
  /** Replaces the accumulated gradient (null clears it). */
  set grad(value: Tensor | null) {
    native.setGrad(this.#handle, value === null ? null : value.handle);
  }
  /** Back-propagates from this tensor (a scalar unless `gradient` is given) into the leaves' .grad. */
  backward(gradient?: Tensor, { retainGraph = false, createGraph = false } = {}): void {
    native.backward([this.#handle], [gradient?.handle ?? null], retainGraph, createGraph);
  }
}

const dtypes = new Set<string>([
  'float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool', 'complex64', 'complex128',
]);
function isDType(s: string): s is DType {
  return dtypes.has(s);
}

// ---- helpers for the generated wrappers -----------------------------------------------

/** Wraps a native result that is one tensor. */
export function fromHandle(h: Handle): Tensor {
  return new Tensor(h);
}

/** Wraps any native result: handles become tensors, arrays are mapped, the rest passes through. */
export function fromResult(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromResult);
  if (value !== null && typeof value === 'object') return new Tensor(value as Handle);
  return value;
}

export function optionalHandle(t: Tensor | null | undefined): Handle | null | undefined {
  return t == null ? t : (t.handle ?? t);
}

export function handles(ts: readonly Tensor[]): Handle[] {
  return ts.map((t) => t?.handle ?? t);
}

export function optionalHandles(ts: readonly (Tensor | null)[]): (Handle | null)[] {
  return ts.map((t) => (t === null ? null : (t?.handle ?? t)));
}

export { tidy, keep, dispose, memory, emptyCache } from './scope.js';
export { noGrad, enableGrad, autocast, isGradEnabled, grad, backward } from './autograd.js';
export type { DType, Device, MemoryFormat, Scalar };

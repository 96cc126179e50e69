// The Tensor class: an owned reference to a libtorch tensor, with the everyday methods. Its
// ownership scopes (tidy / keep) are in scope.ts, the autograd entry points in autograd.ts (both
// re-exported here). Every operator of the installed libtorch is also reachable, typed, through
// `ops` (src/tensor/generated/ops.ts).
import { native, type Handle } from '../native.js';
import { currentScope, scopeOf, type Scope } from './scope.js';
import * as ops from './generated/ops.js';
import type { DType, Device, MemoryFormat, Scalar } from './types.js';

export class Tensor {
  readonly #handle: Handle;
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

  [Symbol.dispose](): void {
    this.dispose();
  }

  get isDisposed(): boolean {
    return native.isDisposed(this.#handle);
  }

  // ---- metadata ----

  get shape(): number[] {
    return native.shape(this.#handle);
  }
  get ndim(): number {
    return native.shape(this.#handle).length;
  }
  get numel(): number {
    return native.shape(this.#handle).reduce((a, b) => a * b, 1);
  }
  get strides(): number[] {
    return native.strides(this.#handle);
  }
  get dtype(): DType {
    return native.dtype(this.#handle) as DType;
  }
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
  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype})`;
  }

  // ---- data ----

  /**
   * A copy of the elements in row-major order: Float32Array for float32, Float64Array for float64,
   * BigInt64Array for int64, Int32Array, Int16Array, Int8Array, Uint8Array for uint8 and bool,
   * Uint16Array with the raw bits for float16 and bfloat16.
   */
  toArray(): ArrayBufferView {
    return native.toArray(this.#handle);
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

  add(other: Tensor | Scalar, alpha?: Scalar): Tensor {
    return other instanceof Tensor ? ops.add$Tensor(this, other, alpha) : ops.add$Scalar(this, other, alpha);
  }
  sub(other: Tensor | Scalar, alpha?: Scalar): Tensor {
    return other instanceof Tensor ? ops.sub$Tensor(this, other, alpha) : ops.sub$Scalar(this, other, alpha);
  }
  mul(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.mul$Tensor(this, other) : ops.mul$Scalar(this, other);
  }
  div(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.div$Tensor(this, other) : ops.div$Scalar(this, other);
  }
  pow(exponent: Tensor | Scalar): Tensor {
    return exponent instanceof Tensor ? ops.pow$Tensor_Tensor(this, exponent) : ops.pow$Tensor_Scalar(this, exponent);
  }
  maximum(other: Tensor): Tensor {
    return ops.maximum(this, other);
  }
  minimum(other: Tensor): Tensor {
    return ops.minimum(this, other);
  }
  neg(): Tensor {
    return ops.neg(this);
  }
  neg_(): this {
    ops.neg_(this);
    return this;
  }
  abs(): Tensor {
    return ops.abs(this);
  }
  sign(): Tensor {
    return ops.sign(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  rsqrt(): Tensor {
    return ops.rsqrt(this);
  }
  square(): Tensor {
    return ops.square(this);
  }
  reciprocal(): Tensor {
    return ops.reciprocal(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  sin(): Tensor {
    return ops.sin(this);
  }
  cos(): Tensor {
    return ops.cos(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  floor(): Tensor {
    return ops.floor(this);
  }
  round(): Tensor {
    return ops.round(this);
  }
  clamp(min?: Scalar | null, max?: Scalar | null): Tensor {
    return ops.clamp(this, min ?? null, max ?? null);
  }
  softmax(dim: number): Tensor {
    return ops.softmax$int(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return ops.log_softmax$int(this, dim);
  }

  // ---- comparisons and selection ----

  eq(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.eq$Tensor(this, other) : ops.eq$Scalar(this, other);
  }
  ne(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.ne$Tensor(this, other) : ops.ne$Scalar(this, other);
  }
  lt(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.lt$Tensor(this, other) : ops.lt$Scalar(this, other);
  }
  le(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.le$Tensor(this, other) : ops.le$Scalar(this, other);
  }
  gt(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.gt$Tensor(this, other) : ops.gt$Scalar(this, other);
  }
  ge(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? ops.ge$Tensor(this, other) : ops.ge$Scalar(this, other);
  }
  logicalNot(): Tensor {
    return ops.logical_not(this);
  }
  logicalAnd(other: Tensor): Tensor {
    return ops.logical_and(this, other);
  }
  maskedFill(mask: Tensor, value: Scalar): Tensor {
    return ops.masked_fill$Scalar(this, mask, value);
  }

  // ---- reductions (dim omitted: over all elements) ----

  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? ops.sum(this) : ops.sum$dim_IntList(this, dim, keepdim);
  }
  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? ops.mean(this) : ops.mean$dim(this, dim, keepdim);
  }
  /** Unbiased (correction 1) by default, as torch.std. */
  std(dim?: number | readonly number[], { correction = 1, keepdim = false } = {}): Tensor {
    return ops.std$correction(this, dim ?? null, correction, keepdim);
  }
  var(dim?: number | readonly number[], { correction = 1, keepdim = false } = {}): Tensor {
    return ops.var$correction(this, dim ?? null, correction, keepdim);
  }
  amax(dim: number | readonly number[] = [], keepdim = false): Tensor {
    return ops.amax(this, dim, keepdim);
  }
  amin(dim: number | readonly number[] = [], keepdim = false): Tensor {
    return ops.amin(this, dim, keepdim);
  }
  /** Maximum over one dimension: [values, indices]. */
  maxDim(dim: number, keepdim = false): [Tensor, Tensor] {
    return ops.max$dim(this, dim, keepdim);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return ops.argmax(this, dim ?? null, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return ops.argmin(this, dim ?? null, keepdim);
  }
  /** Vector p-norm over dims (all when omitted). */
  norm(p: number = 2, dim?: number | readonly number[], keepdim = false): Tensor {
    return ops.linalg_vector_norm(this, p, dim ?? null, keepdim);
  }
  logsumexp(dim: number | readonly number[], keepdim = false): Tensor {
    return ops.logsumexp(this, dim, keepdim);
  }
  prod(): Tensor {
    return ops.prod(this);
  }
  cumsum(dim: number): Tensor {
    return ops.cumsum(this, dim);
  }
  all(): Tensor {
    return ops.all(this);
  }
  any(): Tensor {
    return ops.any(this);
  }

  // ---- linear algebra ----

  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }
  mm(other: Tensor): Tensor {
    return ops.mm(this, other);
  }
  bmm(other: Tensor): Tensor {
    return ops.bmm(this, other);
  }
  /** Transpose of a 2-d tensor. */
  t(): Tensor {
    return ops.t(this);
  }

  // ---- shape ----

  reshape(shape: readonly number[]): Tensor {
    return ops.reshape(this, shape);
  }
  view(shape: readonly number[]): Tensor {
    return ops.view(this, shape);
  }
  permute(dims: readonly number[]): Tensor {
    return ops.permute(this, dims);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return ops.transpose$int(this, dim0, dim1);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten$using_ints(this, startDim, endDim);
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? ops.squeeze(this) : ops.squeeze$dim(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }
  expand(shape: readonly number[]): Tensor {
    return ops.expand(this, shape);
  }
  expandAs(other: Tensor): Tensor {
    return ops.expand_as(this, other);
  }
  repeat(repeats: readonly number[]): Tensor {
    return ops.repeat(this, repeats);
  }
  flip(dims: readonly number[]): Tensor {
    return ops.flip(this, dims);
  }
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return ops.contiguous(this, memoryFormat);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return ops.chunk(this, chunks, dim);
  }
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
  indexSelect(dim: number, index: Tensor): Tensor {
    return ops.index_select(this, dim, index);
  }
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
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  clone(memoryFormat?: MemoryFormat): Tensor {
    return ops.clone(this, memoryFormat ?? null);
  }
  /** The same data cut from the autograd graph. */
  detach(): Tensor {
    return ops.detach(this);
  }

  // ---- in place (for optimizers; run them under noGrad on parameters) ----

  add_(other: Tensor | Scalar, alpha?: Scalar): this {
    if (other instanceof Tensor) ops.add_$Tensor(this, other, alpha);
    else ops.add_$Scalar(this, other, alpha);
    return this;
  }
  sub_(other: Tensor | Scalar, alpha?: Scalar): this {
    if (other instanceof Tensor) ops.sub_$Tensor(this, other, alpha);
    else ops.sub_$Scalar(this, other, alpha);
    return this;
  }
  mul_(other: Tensor | Scalar): this {
    if (other instanceof Tensor) ops.mul_$Tensor(this, other);
    else ops.mul_$Scalar(this, other);
    return this;
  }
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
  lerp_(end: Tensor, weight: Scalar): this {
    ops.lerp_$Scalar(this, end, weight);
    return this;
  }
  clamp_(min?: Scalar | null, max?: Scalar | null): this {
    ops.clamp_(this, min ?? null, max ?? null);
    return this;
  }
  sqrt_(): this {
    ops.sqrt_(this);
    return this;
  }
  zero_(): this {
    ops.zero_(this);
    return this;
  }
  fill_(value: Scalar): this {
    ops.fill_$Scalar(this, value);
    return this;
  }
  /** Copies the rows of `source` into this tensor at `index` along `dim`. */
  indexCopy_(dim: number, index: Tensor, source: Tensor): this {
    ops.index_copy_(this, dim, index, source);
    return this;
  }
  copy_(src: Tensor): this {
    ops.copy_(this, src);
    return this;
  }
  uniform_(from = 0, to = 1): this {
    ops.uniform_(this, from, to);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    ops.normal_(this, mean, std);
    return this;
  }

  // ---- autograd ----

  get requiresGrad(): boolean {
    return native.requiresGrad(this.#handle);
  }
  set requiresGrad(value: boolean) {
    native.setRequiresGrad(this.#handle, value);
  }
  requiresGrad_(value = true): this {
    native.setRequiresGrad(this.#handle, value);
    return this;
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.#handle);
  }
  /** The accumulated gradient (a new reference, owned by the current scope), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.#handle);
    return g === null ? null : new Tensor(g);
  }
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

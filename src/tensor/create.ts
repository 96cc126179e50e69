// Creating tensors, and the process-wide settings (seed, threads).
import { native } from '../native.js';
import * as ops from './generated/ops.js';
import { Tensor } from './tensor.js';
import type { DType, Device, Scalar } from './types.js';

/** Options of the tensor factories. */
export interface CreateOptions {
  /** Element type; each factory says its default (mostly float32). */
  dtype?: DType;
  /** Where to allocate (default 'cpu'). */
  device?: Device;
  /** Whether autograd tracks the new tensor as a leaf (default false). */
  requiresGrad?: boolean;
}

/** Data for {@link tensor}: a number or boolean, or arrays of them nested to any depth (not ragged). */
export type Nested = number | boolean | readonly Nested[];

const typedArrayDtypes: [new (n: number) => ArrayBufferView, DType][] = [
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [BigInt64Array, 'int64'],
  [Int32Array, 'int32'],
  [Int16Array, 'int16'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'], // Buffer too
];

function finish(t: Tensor, o: CreateOptions): Tensor {
  if (o.requiresGrad) t.requiresGrad = true;
  return t;
}

function place(t: Tensor, o: CreateOptions): Tensor {
  if (o.device === undefined || o.device === 'cpu') return t;
  const moved = t.to(o.device);
  t.dispose();
  return moved;
}

function shapeOf(data: Nested): number[] {
  const shape: number[] = [];
  let level: Nested = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = (level as readonly Nested[])[0] as Nested;
  }
  return shape;
}

function flatten(data: Nested, shape: number[], dim: number, out: number[]): void {
  if (dim === shape.length) {
    if (typeof data !== 'number' && typeof data !== 'boolean') {
      throw new TypeError(`tensor(): ${Array.isArray(data) ? 'ragged nested array (an array where a number belongs)' : `expected numbers or booleans, got ${typeof data} ${JSON.stringify(data)}`}`);
    }
    out.push(Number(data));
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) throw new TypeError(`tensor(): ragged nested array (at depth ${dim}: ${Array.isArray(data) ? `${data.length} items where the first row has ${shape[dim]}` : `${JSON.stringify(data)} where an array belongs`})`);
  for (const item of data as readonly Nested[]) flatten(item, shape, dim + 1, out);
}

/**
 * A tensor from a number, nested arrays or a TypedArray (optionally with `shape`).
 * Numbers default to float32 (JS cannot tell 1 from 1.0), booleans to bool, TypedArrays to their own dtype.
 */
export function tensor(data: Nested | ArrayBufferView, options: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const own = typedArrayDtypes.find(([type]) => data instanceof type)?.[1];
    if (own === undefined) throw new TypeError(`tensor(): unsupported array type ${data.constructor.name}`);
    const length = (data as unknown as { length: number }).length;
    const t = new Tensor(native.fromArray(data, options.shape ?? [length], own));
    if (options.dtype === undefined || options.dtype === own) return finish(place(t, options), options);
    const cast = t.to(options.dtype);
    t.dispose();
    return finish(place(cast, options), options);
  }
  const shape = shapeOf(data as Nested);
  const flat: number[] = [];
  flatten(data as Nested, shape, 0, flat);
  const isBool = typeof (shape.length === 0 ? data : flat.length > 0 ? firstLeaf(data as Nested) : 0) === 'boolean';
  const dtype = options.dtype ?? (isBool ? 'bool' : 'float32');
  const f64 = new Tensor(native.fromArray(Float64Array.from(flat), options.shape ?? shape, 'float64'));
  if (dtype === 'float64') return finish(place(f64, options), options);
  const t = f64.to(dtype);
  f64.dispose();
  return finish(place(t, options), options);
}

function firstLeaf(data: Nested): number | boolean {
  let level: Nested = data;
  while (Array.isArray(level)) level = (level as readonly Nested[])[0] as Nested;
  return level as number | boolean;
}

/** A tensor of `shape` filled with 0 (float32 by default). */
export function zeros(shape: readonly number[], o: CreateOptions = {}): Tensor {
  return finish(ops.zeros(shape, o.dtype ?? 'float32', null, o.device ?? null), o);
}
/** A tensor of `shape` filled with 1 (float32 by default). */
export function ones(shape: readonly number[], o: CreateOptions = {}): Tensor {
  return finish(ops.ones(shape, o.dtype ?? 'float32', null, o.device ?? null), o);
}
/** A tensor of `shape` filled with `value` (float32 by default). */
export function full(shape: readonly number[], value: Scalar, o: CreateOptions = {}): Tensor {
  return finish(ops.full(shape, value, o.dtype ?? 'float32', null, o.device ?? null), o);
}
/** Uninitialised memory. */
export function empty(shape: readonly number[], o: CreateOptions = {}): Tensor {
  return finish(ops.empty$memory_format(shape, o.dtype ?? 'float32', null, o.device ?? null), o);
}
/** Zeros with the shape of `t`, and its dtype and device unless given. */
export function zerosLike(t: Tensor, o: CreateOptions = {}): Tensor {
  return finish(ops.zeros_like(t, o.dtype ?? null, null, o.device ?? null), o);
}
/** Ones with the shape of `t`, and its dtype and device unless given. */
export function onesLike(t: Tensor, o: CreateOptions = {}): Tensor {
  return finish(ops.ones_like(t, o.dtype ?? null, null, o.device ?? null), o);
}
/** [start, end) in steps; int64 unless a dtype is given. */
export function arange(start: number, end?: number, step = 1, o: CreateOptions = {}): Tensor {
  const [from, to] = end === undefined ? [0, start] : [start, end];
  return finish(ops.arange$start_step(from, to, step, o.dtype ?? 'int64', null, o.device ?? null), o);
}
/** `steps` evenly spaced values from `start` to `end`, both included (float32 by default). */
export function linspace(start: number, end: number, steps: number, o: CreateOptions = {}): Tensor {
  return finish(ops.linspace(start, end, steps, o.dtype ?? 'float32', null, o.device ?? null), o);
}
/** The n × n identity matrix (float32 by default). */
export function eye(n: number, o: CreateOptions = {}): Tensor {
  return finish(ops.eye(n, o.dtype ?? 'float32', null, o.device ?? null), o);
}
/** Uniform on [0, 1), from the generator seeded by manualSeed. */
export function rand(shape: readonly number[], o: CreateOptions = {}): Tensor {
  return finish(ops.rand(shape, o.dtype ?? 'float32', null, o.device ?? null), o);
}
/** Standard normal. */
export function randn(shape: readonly number[], o: CreateOptions = {}): Tensor {
  return finish(ops.randn(shape, o.dtype ?? 'float32', null, o.device ?? null), o);
}
/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], o: CreateOptions = {}): Tensor {
  return finish(ops.randint$low(low, high, shape, o.dtype ?? 'int64', null, o.device ?? null), o);
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, o: CreateOptions = {}): Tensor {
  return finish(ops.randperm(n, o.dtype ?? 'int64', null, o.device ?? null), o);
}

/** Joins tensors along an existing dim; the other dims must match. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return ops.cat(tensors, dim);
}
/** Joins same-shaped tensors along a new dim inserted at `dim`. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return ops.stack(tensors, dim);
}
/** Elementwise condition ? a : b. */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return ops.where$self(condition, a, b);
}

/** Seeds libtorch's default generators (CPU and CUDA). */
export function manualSeed(seed: number | bigint): void {
  native.manualSeed(seed);
}
/** Sets the number of threads libtorch uses for intra-op parallelism (defaults to SIMCLR_THREADS or every core). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
/** The number of threads libtorch uses for intra-op parallelism. */
export function getNumThreads(): number {
  return native.getNumThreads();
}

// Loads the libtorch addon (native/) and gives it a type. Everything else goes through src/tensor.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

/** An opaque reference to one native tensor (a Node-API External). */
export type Handle = object & {
  /** A type-only brand: no such property exists at run time. */
  readonly __handle: unique symbol;
};

export interface NativeInfo {
  torchVersion: string;
  cuda: boolean;
  cudaDevices: number;
  threads: number;
  hardwareThreads: number;
  allocatorTuned: boolean;
  config: string;
  parallel: string;
}

export interface Native {
  fromArray(data: ArrayBufferView, shape: readonly number[], dtype: string): Handle;
  /** The elements, copied into a new TypedArray or into `into` (of that type and length). */
  toArray(h: Handle, into?: ArrayBufferView): ArrayBufferView;
  shape(h: Handle): number[];
  strides(h: Handle): number[];
  dtype(h: Handle): string;
  device(h: Handle): string;
  dispose(h: Handle): void;
  isDisposed(h: Handle): boolean;
  memory(): { tensors: number; bytes: number };
  /** Frees the caching allocator's idle blocks. */
  trimCache(): void;
  /** Bytes of idle blocks the caching allocator keeps for reuse. */
  cachedBytes(): number;
  cacheLimit(): number;
  /** Reports the tensor's bytes to V8 as external memory, once: for tensors only the GC will free. */
  reportToGc(h: Handle): void;
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, value: boolean): void;
  isLeaf(h: Handle): boolean;
  grad(h: Handle): Handle | null;
  setGrad(h: Handle, g: Handle | null): void;
  backward(outputs: Handle[], gradients: (Handle | null)[], retainGraph: boolean, createGraph: boolean): void;
  gradients(
    outputs: Handle[],
    inputs: Handle[],
    gradOutputs: (Handle | null)[],
    retainGraph: boolean,
    createGraph: boolean,
    allowUnused: boolean,
  ): (Handle | null)[];
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  call(op: number, ...args: unknown[]): any;
  resolve(names: string[]): Int32Array;
  schemas(): unknown[];
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number | bigint): void;
  info(): NativeInfo;
  setAutocast(enabled: boolean, dtype?: string): boolean;
  /** Fused crop + resize (bilinear, antialiased when shrinking) + flip of views from frames of any sizes (native/augment.cc). */
  resizedCrops(data: Handle, frames: Handle, channels: number, interleaved: boolean, source: Handle, boxes: Handle, flips: Handle, size: number): Handle;
  /** Fused per-image colour programs, in place (native/augment.cc). */
  colorOps_(images: Handle, ops: Handle, factors: Handle): Handle;
  /** The crops, colour programs, blur and final ops of a batch of views in a worker thread (native/augment.cc). */
  augmentAsync(o: {
    data: Handle;
    frames: Handle;
    channels: number;
    interleaved: boolean;
    source: Handle;
    boxes: Handle;
    flips: Handle;
    size: number;
    ops: Handle;
    factors: Handle;
    blurRows: Handle;
    blurSigma: Handle;
    blurTaps: number;
    finalOps: Handle | null;
    finalFactors: Handle | null;
    channelsLast: boolean;
  }): Promise<Handle>;
  /** Separable Gaussian blur of chosen images, in place (native/augment.cc). */
  gaussianBlur_(images: Handle, rows: Handle, sigma: Handle, taps: number): Handle;
  /** relu(batch_norm(x) [+ residual]) in training mode, one autograd function (native/batch_norm_relu.cc); null for input it does not take. */
  batchNormRelu(x: Handle, residual: Handle | null, weight: Handle | null, bias: Handle | null, runningMean: Handle | null, runningVar: Handle | null, momentum: number, eps: number): Handle | null;
  /** Joins a c10d process group (TCPStore rendezvous, gloo); blocks until all workers joined. Returns its id. */
  distInit(o: { host: string; port: number; rank: number; size: number; bind: string; timeoutMs: number; heartbeatMs: number; staleMs: number }): number;
  distDestroy(group: number, orderly: boolean): void;
  distAllReduce(group: number, t: Handle): Handle;
  distBroadcast(group: number, t: Handle, root: number): Handle;
  distAllGather(group: number, t: Handle): Handle;
  distAllReduceGrad(group: number, t: Handle): Handle;
  distAllGatherGrad(group: number, t: Handle): Handle;
  distBarrier(group: number): void;
  distStats(group: number): { collectives: number; commSeconds: number; lostRank: number };
  profilerStart(): void;
  profilerStop(): { names: string[]; kinds: string[]; threads: number[]; times: Float64Array };
  profilerRangeStart(name: string): number;
  profilerRangeEnd(id: number): void;
}

function load(): Native {
  // fileURLToPath, not URL.pathname: the latter keeps %20 and %C3%BC, so folders with spaces or non-ASCII names break.
  const path = fileURLToPath(new URL('../../build/Release/simclr.node', import.meta.url));
  try {
    return createRequire(import.meta.url)(path) as Native;
  } catch (e) {
    // A missing or unloadable file wants a build; anything else (the addon refusing a second JS thread) speaks for itself.
    const code = (e as { code?: string }).code;
    if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_DLOPEN_FAILED') throw e;
    const reason = e instanceof Error ? e.message : String(e);
    throw new Error(`simclr: cannot load the native addon ${path} (${reason}). Build it with ./setup.sh or npm run build.`);
  }
}

export const native: Native = load();

// libtorch here starts with one thread; use every core unless told otherwise.
const requested = Number(process.env.SIMCLR_THREADS);
native.setNumThreads(Number.isInteger(requested) && requested > 0 ? requested : availableParallelism());

// The engine that runs a frozen encoder's forward pass for feature extraction: libtorch (BatchNorms
// folded, channels-last input) or ONNX Runtime's CPU provider on the graph the exporter writes
// (src/export/onnx.ts, BatchNorms folded, built in memory), which fuses Conv with ReLU and Add and
// computes in its blocked NCHWc layout. Which is faster depends on the CPU, the architecture, the
// image size and the threads, so `auto` times both on the first batch and keeps the faster (ONNX
// Runtime by a margin: libtorch needs no second runtime in memory). The
// choice is remembered for the rest of the process for that architecture, input and thread count
// (it does not depend on the weights), and recorded with the features.
import { ResNet } from '../models/resnet.js';
import type { Module } from '../nn/module.js';
import { withBatchNormsFolded } from '../nn/fold.js';
import { exportOnnx } from '../export/onnx.js';
import { getNumThreads, setNumThreads, tensor } from '../tensor/create.js';
import { keep, noGrad, tidy, type Tensor } from '../tensor/tensor.js';

/** The values of --engine. */
export const ENGINE_CHOICES = ['auto', 'libtorch', 'onnxruntime'] as const;
/** An engine, or `auto`: the faster of the two, measured. */
export type EngineChoice = (typeof ENGINE_CHOICES)[number];
/** An engine that computes features. */
export type Engine = Exclude<EngineChoice, 'auto'>;

/** Which engine computed a set of features, and why (recorded in the commands' JSON output). */
export interface EngineRecord {
  /** The engine that computed them. */
  engine: Engine;
  /** What was asked for. */
  requested: EngineChoice;
  /** auto: each engine's images per second on the timed batch; absent when the choice was remembered or not measured. */
  imagesPerSecond?: Record<Engine, number>;
  /** Why auto kept libtorch without measuring (an encoder with no ONNX form, too few images…). */
  reason?: string;
}

/** ONNX Runtime must be faster by this share to be chosen: close timings would make the choice (and the last digits of the features) flip between runs. */
export const ENGINE_MARGIN = 0.05;

/** auto measures only when there are at least this many batches: below it the measurement would cost more than it could save. */
export const MEASURED_BATCHES = 4;

let defaultChoice: EngineChoice = 'auto';

/** The engine extractFeatures uses when not told (the commands' --engine). */
export function setEngine(choice: EngineChoice): void {
  defaultChoice = choice;
}

/** The engine extractFeatures uses when not told. */
export function getEngine(): EngineChoice {
  return defaultChoice;
}

/** The record in words, e.g. "onnxruntime (auto: 2,990 images/s against libtorch's 2,230)". */
export function describeEngine(r: EngineRecord): string {
  const rates = r.imagesPerSecond;
  const how = rates !== undefined ? `auto: ${rates[r.engine].toLocaleString('en')} images/s against ${r.engine === 'libtorch' ? 'onnxruntime' : 'libtorch'}'s ${rates[r.engine === 'libtorch' ? 'onnxruntime' : 'libtorch'].toLocaleString('en')}` : r.reason ?? (r.requested === 'auto' ? 'auto: the choice made earlier for this architecture' : 'asked for');
  return `${r.engine} (${how})`;
}

/** A frozen encoder's forward pass: float images [B, C, S, S] in [0, 1] → h [B, D], owned by the caller. */
export interface FeatureEngine {
  /** Which engine this is, and why. */
  readonly record: EngineRecord;
  /** h of a batch (owned by the caller). */
  forward(images: Tensor): Promise<Tensor>;
}

/** Architecture, input and threads: what the engines' relative speed depends on. */
function speedKey(encoder: ResNet, size: number, batch: number): string {
  const { depth, widthMultiplier, cifarStem, inChannels } = encoder.options;
  return JSON.stringify([depth, widthMultiplier, cifarStem, inChannels, encoder.fc === null, size, batch, getNumThreads()]);
}
const remembered = new Map<string, Engine>();

type Ort = typeof import('onnxruntime-node');
let ort: Promise<Ort | null> | null = null;
/** onnxruntime-node, or null where it is not installed (an optional dependency: its install may have failed). */
const loadOrt = (): Promise<Ort | null> => (ort ??= import('onnxruntime-node').catch(() => null));

/** An ONNX Runtime session of the encoder's graph (BatchNorms folded), on libtorch's thread count. */
async function onnxSession(encoder: ResNet, size: number, runtime: Ort) {
  const { InferenceSession, Tensor: OrtTensor } = runtime;
  const graph = exportOnnx(encoder, { imageSize: size, foldBatchNorm: true });
  const threads = getNumThreads();
  const session = await InferenceSession.create(graph, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const forward = async (images: Tensor): Promise<Tensor> => {
    const input = noGrad(() => tidy(() => images.float().contiguous().toArray())) as Float32Array;
    const { h } = await session.run({ images: new OrtTensor('float32', input, images.shape) });
    return tensor(h!.data as Float32Array, { shape: h!.dims as number[] });
  };
  return { forward, release: () => session.release() };
}

/** libtorch's forward of an eval-mode encoder, on channels-last input (oneDNN's faster layout). */
const libtorchForward = (encoder: Module) => async (images: Tensor) => keep(noGrad(() => tidy(() => encoder.forward(images.contiguous('channels_last')))));

/** forward's output on x and its seconds, after `warmUps` untimed passes (whose outputs are dropped). */
async function timed(forward: (x: Tensor) => Promise<Tensor>, x: Tensor, warmUps: number): Promise<{ seconds: number; output: Tensor }> {
  for (let i = 0; i < warmUps; i++) (await forward(x)).dispose();
  const t0 = performance.now();
  const output = await forward(x);
  return { seconds: (performance.now() - t0) / 1000, output };
}

/**
 * Runs `body` with libtorch on one thread: beside ONNX Runtime, whose threads spin a while after each
 * run, libtorch's own small work between runs (loading, scaling the images) would wait for a core
 * for its second thread (1.4–2 s of a 60,000-image embed).
 */
async function onOneLibtorchThread<T>(body: () => Promise<T>): Promise<T> {
  const threads = getNumThreads();
  setNumThreads(1);
  try {
    return await body();
  } finally {
    setNumThreads(threads);
  }
}

/**
 * Runs `body` with a feature engine for the eval-mode encoder (the encoder's mode is the caller's to
 * set): `choice` forces one, or auto picks the faster on `first` (a batch of the images to come,
 * whose features are returned as `firstFeatures` so that its forward passes are not wasted) when
 * there are at least MEASURED_BATCHES batches of `images`.
 */
export async function withFeatureEngine<T>(
  encoder: Module,
  { size, choice = defaultChoice, first, batches }: { size: number; choice?: EngineChoice; first: Tensor | null; batches: number },
  body: (engine: FeatureEngine, firstFeatures: Tensor | null) => Promise<T>,
): Promise<T> {
  return withBatchNormsFolded(encoder, async () => {
    const libtorch = libtorchForward(encoder);
    const onLibtorch = (record: EngineRecord) => body({ record, forward: libtorch }, null);
    if (choice === 'libtorch') return onLibtorch({ engine: 'libtorch', requested: choice });
    const runtime = encoder instanceof ResNet ? await loadOrt() : null;
    if (!(encoder instanceof ResNet) || runtime === null) {
      const unavailable = runtime === null && encoder instanceof ResNet ? 'onnxruntime-node is not installed (an optional dependency: ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install onnxruntime-node)' : `the encoder (${encoder.constructor.name}) has no ONNX form`;
      if (choice === 'onnxruntime') throw new Error(`--engine onnxruntime: ${unavailable}; use --engine libtorch`);
      return onLibtorch({ engine: 'libtorch', requested: choice, reason: unavailable });
    }
    const key = speedKey(encoder, size, first?.size(0) ?? 0);
    const known = remembered.get(key);
    if (choice === 'auto' && known === undefined && (first === null || batches < MEASURED_BATCHES)) {
      return onLibtorch({ engine: 'libtorch', requested: choice, reason: `fewer than ${MEASURED_BATCHES} batches: not measured` });
    }
    if (choice === 'auto' && known === 'libtorch') return onLibtorch({ engine: 'libtorch', requested: choice });
    let session: Awaited<ReturnType<typeof onnxSession>> | null = await onnxSession(encoder, size, runtime);
    try {
      const onnx = (record: EngineRecord): FeatureEngine => ({ record, forward: session!.forward });
      if (choice === 'onnxruntime' || known === 'onnxruntime') return await onOneLibtorchThread(() => body(onnx({ engine: 'onnxruntime', requested: choice }), null));
      // libtorch's first pass creates oneDNN's kernels (slower by a third); ONNX Runtime's first
      // plans its memory (a few percent), and is timed as it is: the measurement costs two passes
      // beyond the features it keeps.
      const a = await timed(libtorch, first!, 1);
      const b = await timed(session.forward, first!, 0);
      const n = first!.size(0);
      const record: EngineRecord = { engine: b.seconds * (1 + ENGINE_MARGIN) < a.seconds ? 'onnxruntime' : 'libtorch', requested: choice, imagesPerSecond: { libtorch: Math.round(n / a.seconds), onnxruntime: Math.round(n / b.seconds) } };
      remembered.set(key, record.engine);
      if (record.engine === 'onnxruntime') {
        a.output.dispose();
        return await onOneLibtorchThread(() => body(onnx(record), b.output));
      }
      b.output.dispose();
      await session.release();
      session = null;
      return await body({ record, forward: libtorch }, a.output);
    } finally {
      await session?.release();
    }
  });
}

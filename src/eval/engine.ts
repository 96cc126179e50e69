// The engine that runs a frozen encoder's forward pass for feature extraction: libtorch (BatchNorms
// folded, channels-last input) or ONNX Runtime's CPU provider on the graph the exporter writes
// (src/export/onnx.ts, BatchNorms folded, built in memory), which fuses Conv with ReLU and Add and
// computes in its blocked NCHWc layout. Which is faster depends on the CPU, the architecture, the
// image size and the threads, so `auto` times both on the first batch and keeps the faster (ONNX
// Runtime by a margin: libtorch needs no second runtime in memory). The
// choice is remembered for the rest of the process for that architecture, input and thread count
// (it does not depend on the weights), and recorded with the features. `int8` (asked for, never
// auto: it moves h by a few percent) runs ONNX Runtime on the graph quantised to 8 bits
// (src/export/quantize.ts), its activation ranges calibrated on the data's own images.
import { ResNet } from '../models/resnet.js';
import type { Module } from '../nn/module.js';
import { withBatchNormsFolded } from '../nn/fold.js';
import { exportOnnx } from '../export/onnx.js';
import { quantizedActivations, quantizeOnnx, withActivationOutputs, type Range } from '../export/quantize.js';
import { getNumThreads, setNumThreads, tensor } from '../tensor/create.js';
import { keep, noGrad, tidy, type Tensor } from '../tensor/tensor.js';

/** The values of --engine where the features are the float encoder's (evaluation). */
export const ENGINE_CHOICES = ['auto', 'libtorch', 'onnxruntime'] as const;
/** The values of --engine where 8-bit features serve (embed, index): int8 too. */
export const ENGINE_CHOICES_INT8 = [...ENGINE_CHOICES, 'int8'] as const;
/** An engine, or `auto`: the faster float engine, measured. */
export type EngineChoice = (typeof ENGINE_CHOICES_INT8)[number];
/** An engine that computes features. */
export type Engine = Exclude<EngineChoice, 'auto'>;
/** The float engines auto chooses between. */
type FloatEngine = (typeof ENGINE_CHOICES)[number] & Engine;

/** Which engine computed a set of features, and why (recorded in the commands' JSON output). */
export interface EngineRecord {
  /** The engine that computed them. */
  engine: Engine;
  /** What was asked for. */
  requested: EngineChoice;
  /** auto: each engine's images per second on the timed batch; absent when the choice was remembered or not measured. */
  imagesPerSecond?: Record<FloatEngine, number>;
  /** int8: the images its activation ranges were calibrated on (0: ranges given, e.g. by an index). */
  calibrationImages?: number;
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
  const [chosen, other] = r.engine === 'libtorch' ? (['libtorch', 'onnxruntime'] as const) : (['onnxruntime', 'libtorch'] as const);
  const how =
    rates !== undefined
      ? `auto: ${rates[chosen].toLocaleString('en')} images/s against ${other}'s ${rates[other].toLocaleString('en')}`
      : r.calibrationImages !== undefined
        ? r.calibrationImages > 0
          ? `8-bit, calibrated on ${r.calibrationImages} images`
          : '8-bit, with the ranges given'
        : r.reason ?? (r.requested === 'auto' ? 'auto: the choice made earlier for this architecture' : 'asked for');
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
const remembered = new Map<string, FloatEngine>();

type Ort = typeof import('onnxruntime-node');
let ort: Promise<Ort | null> | null = null;
/** onnxruntime-node, or null where it is not installed (an optional dependency: its install may have failed). */
const loadOrt = (): Promise<Ort | null> => (ort ??= import('onnxruntime-node').catch(() => null));

/** An ONNX Runtime session of a graph, on libtorch's thread count: `run` gives its outputs as float arrays. */
async function ortSession(graph: Uint8Array, runtime: Ort) {
  const session = await runtime.InferenceSession.create(graph, { intraOpNumThreads: getNumThreads(), interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  // Input buffers reused from batch to batch (a 96-px batch of 500 is 55 MB: allocating and zeroing
  // it anew cost more than the copy); one per run in flight.
  const idle: Float32Array[] = [];
  const run = async (images: Tensor) => {
    const size = images.numel;
    let input = idle.pop();
    if (input?.length !== size) input = new Float32Array(size);
    try {
      noGrad(() => tidy(() => void images.float().toArray(input)));
      return await session.run({ images: new runtime.Tensor('float32', input, images.shape) });
    } finally {
      idle.push(input);
    }
  };
  return { run, release: () => session.release() };
}

/** The encoder's graph for ONNX Runtime: BatchNorms folded. */
const encoderGraph = (encoder: ResNet, size: number) => exportOnnx(encoder, { imageSize: size, foldBatchNorm: true });

/** A feature engine's session of an encoder graph (quantised to 8 bits with `ranges`). */
async function onnxSession(graph: Uint8Array, runtime: Ort, ranges?: ReadonlyMap<string, Range>) {
  const session = await ortSession(ranges === undefined ? graph : quantizeOnnx(graph, ranges, { weightBits: INT8_WEIGHT_BITS }), runtime);
  const forward = async (images: Tensor): Promise<Tensor> => {
    const { h } = await session.run(images);
    return tensor(h!.data as Float32Array, { shape: h!.dims as number[] });
  };
  return { forward, release: session.release };
}

/**
 * The int8 graph's weights keep 7 bits (ONNX Runtime's reduce_range): CPUs without VNNI multiply
 * uint8 by int8 in 16-bit pairs that 8-bit weights could saturate; 7 cannot, on any CPU.
 */
const INT8_WEIGHT_BITS = 7;

/** int8's calibration: at most this many images, evenly spaced over the data. */
export const CALIBRATION_IMAGES = 1000;

// Each encoder's calibrated ranges per input size: the bank and the queries of a search (or the two
// splits of a kNN) must be quantised alike. (Weights do not change under a frozen encoder's engine.)
const calibrations = new WeakMap<Module, Map<number, ReadonlyMap<string, Range>>>();

/** The activation ranges int8 uses for this encoder at this size (null before it has been calibrated or given them). */
export function int8Ranges(encoder: Module, size: number): ReadonlyMap<string, Range> | null {
  return calibrations.get(encoder)?.get(size) ?? null;
}

/** Gives int8 the ranges an earlier calibration found (an index's), so that new images are quantised as its were. */
export function setInt8Ranges(encoder: Module, size: number, ranges: ReadonlyMap<string, Range>): void {
  calibrations.set(encoder, (calibrations.get(encoder) ?? new Map()).set(size, ranges));
}

/** Each quantised activation's range over the calibration images (the float graph run on them in batches of 100). */
async function calibrate(graph: Uint8Array, runtime: Ort, images: Tensor): Promise<Map<string, Range>> {
  const names = quantizedActivations(graph);
  const session = await ortSession(withActivationOutputs(graph, names), runtime);
  const ranges = new Map<string, Range>(names.map((n) => [n, [Infinity, -Infinity]]));
  try {
    for (let start = 0; start < images.size(0); start += 100) {
      const batch = images.narrow(0, start, Math.min(100, images.size(0) - start));
      const outputs = await session.run(batch);
      batch.dispose();
      for (const name of names) {
        let [lo, hi] = ranges.get(name)!;
        for (const v of outputs[name]!.data as Float32Array) [lo, hi] = [v < lo ? v : lo, v > hi ? v : hi];
        ranges.set(name, [lo, hi]);
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
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
  {
    size,
    choice = defaultChoice,
    first,
    batches,
    calibration,
  }: {
    size: number;
    choice?: EngineChoice;
    first: Tensor | null;
    batches: number;
    /** int8: the calibration images (float, prepared), when the encoder has no ranges yet (default: `first`). */
    calibration?: () => Promise<Tensor>;
  },
  body: (engine: FeatureEngine, firstFeatures: Tensor | null) => Promise<T>,
): Promise<T> {
  return withBatchNormsFolded(encoder, async () => {
    const libtorch = libtorchForward(encoder);
    const onLibtorch = (record: EngineRecord) => body({ record, forward: libtorch }, null);
    if (choice === 'libtorch') return onLibtorch({ engine: 'libtorch', requested: choice });
    const runtime = encoder instanceof ResNet ? await loadOrt() : null;
    if (!(encoder instanceof ResNet) || runtime === null) {
      const unavailable = runtime === null && encoder instanceof ResNet ? 'onnxruntime-node is not installed (an optional dependency: ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install onnxruntime-node)' : `the encoder (${encoder.constructor.name}) has no ONNX form`;
      if (choice === 'onnxruntime' || choice === 'int8') throw new Error(`--engine ${choice}: ${unavailable}; use --engine libtorch`);
      return onLibtorch({ engine: 'libtorch', requested: choice, reason: unavailable });
    }
    if (choice === 'int8') {
      const graph = encoderGraph(encoder, size);
      let ranges = int8Ranges(encoder, size);
      let calibrationImages = 0;
      if (ranges === null) {
        const images = calibration === undefined ? first?.clone() : await calibration();
        if (images === undefined) throw new Error('--engine int8: no images to calibrate on');
        calibrationImages = images.size(0);
        ranges = await calibrate(graph, runtime, images).finally(() => images.dispose());
        setInt8Ranges(encoder, size, ranges);
      }
      const session = await onnxSession(graph, runtime, ranges);
      try {
        return await onOneLibtorchThread(() => body({ record: { engine: 'int8', requested: choice, calibrationImages }, forward: session.forward }, null));
      } finally {
        await session.release();
      }
    }
    const key = speedKey(encoder, size, first?.size(0) ?? 0);
    const known = remembered.get(key);
    if (choice === 'auto' && known === undefined && (first === null || batches < MEASURED_BATCHES)) {
      return onLibtorch({ engine: 'libtorch', requested: choice, reason: `fewer than ${MEASURED_BATCHES} batches: not measured` });
    }
    if (choice === 'auto' && known === 'libtorch') return onLibtorch({ engine: 'libtorch', requested: choice });
    let session: Awaited<ReturnType<typeof onnxSession>> | null = await onnxSession(encoderGraph(encoder, size), runtime);
    try {
      const onnx = (record: EngineRecord): FeatureEngine => ({ record, forward: session!.forward });
      if (choice === 'onnxruntime' || known === 'onnxruntime') return await onOneLibtorchThread(() => body(onnx({ engine: 'onnxruntime', requested: choice }), null));
      // libtorch's first pass creates oneDNN's kernels (slower by a third); ONNX Runtime's first
      // plans its memory (a few percent), and is timed as it is: the measurement costs two passes
      // beyond the features it keeps.
      const a = await timed(libtorch, first!, 1);
      const b = await timed(session.forward, first!, 0);
      const n = first!.size(0);
      const faster: FloatEngine = b.seconds * (1 + ENGINE_MARGIN) < a.seconds ? 'onnxruntime' : 'libtorch';
      const record: EngineRecord = { engine: faster, requested: choice, imagesPerSecond: { libtorch: Math.round(n / a.seconds), onnxruntime: Math.round(n / b.seconds) } };
      remembered.set(key, faster);
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

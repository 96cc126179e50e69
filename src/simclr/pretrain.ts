// SimCLR pretraining: for each batch, two views per image (T), z = g(f(x)), NT-Xent, an optimizer
// step on a warm-up + cosine schedule. Logs progress, writes metrics.jsonl, runs a kNN monitor,
// checkpoints atomically (and on SIGINT / SIGTERM), resumes exactly, stops on a NaN loss.
import { appendFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { memoryLimit } from '../info.js';
import { join } from 'node:path';
import { Loader, type Batch } from '../data/loader.js';
import type { PairPart } from '../augment/simclr-augmentation.js';
import { imageFolderSides, openSplits, readSplitRecord, type SplitRecord, type Splits } from '../data/open.js';
import { Random } from '../random.js';
import { SourceView } from '../data/source.js';
import { scaledLearningRate, warmupCosine } from '../optim/schedule.js';
import { manualSeed, setNumThreads } from '../tensor/create.js';
import { allReduceGradients, broadcastModule, convertSyncBatchNorm } from '../distributed/data-parallel.js';
import type { ProcessGroup } from '../distributed/process-group.js';
import { emptyCache, tidy, type MemoryFormat, type Tensor } from '../tensor/tensor.js';
import type { Frames } from '../data/frames.js';
import { availableParallelism } from 'node:os';
import { formatDuration, progressOutput } from '../progress.js';
import { listCheckpoints, readCheckpoint, saveCheckpoint, type Position } from './checkpoint.js';
import { configAugmentation, type PretrainConfig, type ResolvedConfig } from './config.js';
import { chooseRecipe, describeRecipe, type RecipeChoice } from './recipe.js';
import { SOURCE_SCALE } from '../data/folder.js';
import { buildModel, modelConfig, type SimCLRModel } from './model.js';
import { architectureMetadata } from './encoder-file.js';
import { ntXentMetrics } from './nt-xent.js';
import { knnMonitor } from './monitor.js';
import { describeInit, initFile, initialiseFrom } from './init.js';
import { buildOptimizer, contrastiveStep } from './step.js';
import { measurePrecision, type PrecisionChoice } from './precision.js';
import { takeRunFolder, truncateMetrics } from './run-folder.js';

export interface StepRecord {
  type: 'step';
  epoch: number;
  step: number;
  globalStep: number;
  loss: number;
  accuracy: number;
  positiveSimilarity: number;
  negativeSimilarity: number;
  lr: number;
  viewsPerSecond: number;
  /** Seconds of the step spent waiting for the batch and augmenting it (the data pipeline's cost). */
  dataSeconds: number;
  /** Wall-clock time at the end of the step, Unix seconds. */
  time: number;
  /** Data-parallel: seconds of the step spent in collectives. */
  commSeconds?: number;
}

/** What {@link pretrain} returns when a run ends. */
export interface PretrainResult {
  /** The run folder. */
  runDir: string;
  /** Why the run ended: all epochs done, the stop epoch reached, or a signal. */
  stopped: 'completed' | 'stop-epoch' | 'signal';
  /** Where the run stopped: the next step it would run. */
  position: Position;
  /** The loss of the last step run (null when no step ran). */
  lastLoss: number | null;
  /** The last kNN monitor accuracy, 0–1 (null when the monitor did not run). */
  knnAccuracy: number | null;
  /** The encoder's safetensors file (rank 0, completed runs only; otherwise null). */
  encoderFile: string | null;
  /** The trained model (encoder and projection head), owned by the caller. */
  model: SimCLRModel;
  /** How the data was split (the run's split.json). */
  split: SplitRecord;
  /** The step's arithmetic (what auto chose, when asked). */
  precision: PrecisionChoice['precision'];
  /** The run's config as recorded in config.json: the recipe applied, precision chosen. */
  config: ResolvedConfig;
}

/** Thrown when the loss becomes NaN or infinite; the message says which checkpoint to resume from. */
export class NonFiniteLossError extends Error {}

/**
 * The run's data and its recipe: the training split (its first `subset` images when asked) and the
 * test split the kNN monitor queries. A fresh run chooses its recipe by the images (an image
 * folder's from a sample of headers, before decoding at the chosen view size); a resumed run keeps
 * its recorded config and split.
 */
async function openRunData(c: PretrainConfig | ResolvedConfig, runDir: string, resumed: ResolvedConfig | null): Promise<{ splits: Splits; config: ResolvedConfig }> {
  const recorded = resumed !== null ? readSplitRecord(runDir) : null;
  // (a resumed run reads its own data, as it recorded it, whatever the flags' defaults say)
  const d = resumed ?? c;
  const open = (size: number) => openSplits(d.data, { size, sourceScale: d.sourceScale ?? SOURCE_SCALE, skipBad: d.skipBad, testFraction: d.testFraction, splitSeed: d.splitSeed, recorded });
  let splits: Splits;
  let config: ResolvedConfig;
  if (resumed !== null) {
    splits = await open(resumed.imageSize);
    config = resumed;
  } else {
    const folder = await imageFolderSides(c.data);
    let recipe: RecipeChoice;
    if (folder !== null) {
      recipe = chooseRecipe(c, folder.side, folder.sampled);
      splits = await open(recipe.imageSize);
    } else {
      splits = await open(c.imageSize || 32);
      const [, h, w] = splits.train.imageShape;
      recipe = chooseRecipe(c, Math.min(h, w), `${h}×${w} images`);
    }
    config = { ...c, imageSize: recipe.imageSize, cifarStem: recipe.cifarStem, blur: recipe.blur, strength: recipe.strength, recipeChoice: { ...recipe, expectedEpochSeconds: null } };
  }
  if (config.subset > 0 && config.subset < splits.train.size) {
    const train = new SourceView(splits.train, Int32Array.from({ length: config.subset }, (_, i) => i), `${splits.train.description} (first ${config.subset})`);
    splits = { ...splits, train, dispose: () => (train.dispose(), splits.test?.dispose?.()) };
  }
  return { splits, config };
}

/**
 * An allocation that failed during training, said as what to change: the batch and its views, and
 * the limit this process runs under (other errors pass unchanged).
 */
function trainingMemoryError(e: unknown, batchSize: number, views: string): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (!/out of memory|not enough memory|can't allocate|bad_alloc/i.test(message)) return e;
  const limit = memoryLimit();
  return new Error(
    `out of memory training with --batch-size ${batchSize} (${views}): ${message}. This process may use ${(limit.bytes / 2 ** 30).toFixed(1)} GiB (${limit.source}): ` +
      'lower --batch-size, or compute each step in chunks of views with --chunk (e.g. --chunk 256: the same gradient, less memory)',
    { cause: e },
  );
}

/** How {@link pretrain} runs (beyond its config). */
export interface PretrainOptions {
  /** Continue from the newest checkpoint in the run folder exactly where it stopped (default false). */
  resume?: boolean;
  /** Progress output (by default the progress module's: stderr in the CLI, nothing in a library); null for silence. */
  log?: ((line: string, live: boolean) => void) | null;
  /** Start over in a run folder that already holds a run, removing it (default false: refuse). */
  overwrite?: boolean;
  /** Handle SIGINT / SIGTERM by checkpointing and stopping (default true). */
  handleSignals?: boolean;
  /** Train data-parallel with the workers of this group; rank 0 logs and writes the run folder. */
  group?: ProcessGroup | null;
  /**
   * Replaces T: the two views of a batch's uint8 images, float [2n, C, size, size] with rows i and
   * i + n from image i (one process only). bench/swap-views.ts trains on another implementation's views.
   */
  views?: ViewsOf | null;
}

/**
 * The two views of each frame of the batch at (epoch, step); `batchSizes`: data-parallel, the
 * sizes of every frame of the global batch when they differ.
 */
export type ViewsOf = (frames: Frames | Tensor, at: { epoch: number; step: number; batchSizes?: { widths: Int32Array; heights: Int32Array } | null }) => Tensor | Promise<Tensor>;

/**
 * The run's views: the config's T drawn from a stream that depends only on (seed, epoch, step), for
 * this worker's share of the global batch.
 */
export function configViews(c: PretrainConfig, size: number, share = { rank: 0, workers: 1 }): (frames: Frames | Tensor, at: Parameters<ViewsOf>[1]) => Tensor {
  const augmentation = configAugmentation(c, size);
  return (frames, at) => augmentation.pair(frames, viewStream(c, at), viewPart(c, share, at));
}

/** configViews computed off the main thread (pairAsync), laid out for the model: what a run trains on. */
function configViewsAsync(c: PretrainConfig, size: number, share: { rank: number; workers: number }, memoryFormat: MemoryFormat): ViewsOf {
  const augmentation = configAugmentation(c, size);
  return (frames, at) => augmentation.pairAsync(frames, viewStream(c, at), viewPart(c, share, at), memoryFormat);
}

/** The random stream of the views at (epoch, step): the same whatever computes them and in whatever order. */
const viewStream = (c: PretrainConfig, { epoch, step }: { epoch: number; step: number }) => new Random(c.seed, epoch, step, 0x5e1f);

/** This worker's part of the global batch. */
function viewPart(c: PretrainConfig, share: { rank: number; workers: number }, { batchSizes }: Parameters<ViewsOf>[1]): PairPart {
  return { offset: (share.rank * c.batchSize) / share.workers, total: c.batchSize, ...(batchSizes ? { sizes: batchSizes } : {}) };
}

/**
 * The batches, each with its views asked for as it arrives: one batch ahead of the step that uses
 * them, so that views computed off the main thread overlap the step before. Views asked for but
 * never handed out (a signal, an error) are freed with their frames.
 */
async function* withViewsAhead(batches: AsyncGenerator<Batch>, viewsOf: (batch: Batch) => Tensor | Promise<Tensor>): AsyncGenerator<{ batch: Batch; views: Promise<Tensor> }> {
  let ahead: { batch: Batch; views: Promise<Tensor> } | null = null;
  try {
    for await (const batch of batches) {
      const next = { batch, views: Promise.resolve().then(() => viewsOf(batch)) };
      const ready = ahead;
      ahead = next;
      if (ready !== null) yield ready;
    }
    const last = ahead;
    ahead = null;
    if (last !== null) yield last;
  } finally {
    if (ahead !== null) {
      const { batch, views } = ahead;
      views.then((v) => v.dispose(), () => {});
      batch.frames.dispose();
    }
  }
}

/** Pretrains into the run folder `config.out`, which the run locks (rank 0) while it owns it. */
export async function pretrain(config: PretrainConfig, options: PretrainOptions = {}): Promise<PretrainResult> {
  const folder = (options.group?.rank ?? 0) === 0 ? takeRunFolder(config.out, { resume: options.resume, overwrite: options.overwrite }) : null;
  try {
    return await train(config, options);
  } finally {
    folder?.release();
  }
}

async function train(config: PretrainConfig, { resume = false, log, handleSignals = true, group = null, views = null }: PretrainOptions): Promise<PretrainResult> {
  const rank = group?.rank ?? 0;
  const workers = group?.size ?? 1;
  const leader = rank === 0;
  if (!config.init && (config.initHead || config.initPartial)) throw new Error('pretrain: --init-head and --init-partial go with --init');
  if (config.init && !resume) initFile(config.init, config.initHead);
  const runDir = config.out;
  let resumed: ResolvedConfig | null = null;
  let start: Position = { epoch: 0, step: 0, globalStep: 0 };
  let checkpoint: ReturnType<typeof readCheckpoint> | null = null;
  if (resume) {
    const files = listCheckpoints(runDir);
    if (files.length === 0) throw new Error(`${runDir}: no checkpoint to resume from`);
    checkpoint = readCheckpoint(files[0]!);
    // The saved run's settings, except what may change on resume: how long, where to stop, and
    // how many workers share the (same) global batch.
    const { epochs, stopEpoch, threads, out, nproc, nnodes, nodeRank, masterAddr, masterPort } = config;
    resumed = { ...checkpoint.config, epochs, stopEpoch, threads, out, nproc, nnodes, nodeRank, masterAddr, masterPort };
    // (checkpoints from before --precision said bf16 true or false)
    resumed.precision ??= (checkpoint.config as { bf16?: boolean }).bf16 ? 'bf16' : 'fp32';
    start = checkpoint.position;
    // The steps after the checkpoint are run again: their records go.
    if (leader) truncateMetrics(join(runDir, 'metrics.jsonl'), start);
  }
  const stream = log === undefined ? progressOutput() : null;
  const out = !leader ? null : log === undefined ? (stream === null ? null : (line: string, live: boolean) => stream.write(live ? `\r${line}\x1b[K` : `${line}\n`)) : log;
  const isTTY = stream?.live === true;

  setNumThreads(config.threads > 0 ? config.threads : availableParallelism());
  manualSeed(config.seed);
  const opened = await openRunData(config, runDir, resumed);
  const data = opened.splits;
  let c = opened.config;
  const source = data.train;
  const channels = source.imageShape[0];
  const size = c.imageSize;
  const architecture = modelConfig(c, channels);
  const memoryFormat = (c.channelsLast ?? true) ? 'channels_last' : 'contiguous';
  const rate = (v: number) => `${Math.round(v)} views/s`;
  const probeViews = { count: (2 * c.batchSize) / workers, size, temperature: c.temperature, chunk: c.chunk, memoryFormat } as const;
  let precisionChoice: PrecisionChoice | null = null;
  if (c.precision === 'auto') {
    precisionChoice = measurePrecision(architecture, probeViews, { group });
    c = { ...c, precision: precisionChoice.precision };
    out?.(`precision: ${c.precision} (auto: ${rate(precisionChoice.fp32ViewsPerSecond)} in fp32, ${rate(precisionChoice.bf16ViewsPerSecond)} in bf16 on this CPU)`, false);
  }
  if (c.recipeChoice !== undefined && c.recipeChoice.expectedEpochSeconds === null && resumed === null) {
    // The recipe's line, with the time an epoch of the model's steps takes here (the precision probe's rate).
    const measured = precisionChoice ?? measurePrecision(architecture, probeViews, { group, rounds: 1, only: c.precision as 'fp32' | 'bf16' });
    const viewsPerSecond = c.precision === 'bf16' ? measured.bf16ViewsPerSecond : measured.fp32ViewsPerSecond;
    const epochSeconds = (Math.floor(source.size / c.batchSize) * 2 * c.batchSize) / viewsPerSecond;
    c = { ...c, recipeChoice: { ...c.recipeChoice, expectedEpochSeconds: Math.round(epochSeconds) } };
    out?.(`${describeRecipe(c.recipeChoice!)}; an epoch of ${source.size.toLocaleString('en')} images: about ${formatDuration(epochSeconds)} of model steps here (${rate(viewsPerSecond)} measured)`, false);
  }
  manualSeed(c.seed); // (the measurements drew from the generator)
  const model = buildModel(architecture);
  model.to({ memoryFormat });
  if (resumed === null && c.init && leader) {
    // (continued pretraining: the weights a user has; other workers get them by the broadcast below)
    const initFrom = initialiseFrom(model, c.init, { head: c.initHead, partial: c.initPartial });
    c = { ...c, initFrom };
    out?.(describeInit(initFrom), false);
  }
  const loader = new Loader(source, { batchSize: c.batchSize, seed: c.seed, dropLast: true, shard: { rank, count: workers } });
  const stepsPerEpoch = loader.stepsPerEpoch;
  const totalSteps = c.epochs * stepsPerEpoch;
  const peakLr = c.lrScaling === 'none' ? c.lr : scaledLearningRate(c.lr, c.batchSize, c.lrScaling);
  const schedule = { peak: peakLr, warmupSteps: Math.round(c.warmupEpochs * stepsPerEpoch), totalSteps };
  const optimizer = buildOptimizer(model, c, peakLr);
  if (checkpoint !== null) checkpoint.load(model, optimizer);
  const dp = group === null ? null : { group, gather: c.gather ?? true };
  if (group !== null) {
    broadcastModule(group, model);
    if (workers > 1 && (c.syncBn ?? true)) convertSyncBatchNorm(model, group);
  }
  // Reading and decoding the data left freed buffers in the C heap, which the allocator policy keeps.
  emptyCache();
  if (views !== null && group !== null) throw new Error('pretrain: replacing the views (options.views) works in one process only');
  const viewsOf = views ?? configViewsAsync(c, size, { rank, workers }, memoryFormat);

  c = { ...c, inChannels: channels };
  if (leader) {
    writeFileAtomic(join(runDir, 'config.json'), [Buffer.from(`${JSON.stringify(c, null, 2)}\n`)]);
    writeFileAtomic(join(runDir, 'split.json'), [Buffer.from(`${JSON.stringify(data.record)}\n`)]);
  }
  const monitor = c.knnEvery > 0 && data.test !== null && data.test.labels !== null && source.labels !== null;
  if (leader && c.knnEvery > 0 && !monitor && out !== null) {
    out(`kNN monitor off: ${source.labels === null ? 'the data is unlabelled' : 'the data has no test split (--test-fraction 0)'}`, false);
  }
  const metricsFile = join(runDir, 'metrics.jsonl');
  const record = (r: object) => leader && appendFileSync(metricsFile, `${JSON.stringify(r)}\n`);
  if (precisionChoice !== null) record({ type: 'precision', requested: 'auto', ...precisionChoice, time: Date.now() / 1000 });

  let stopSignal: string | null = null;
  /** Data-parallel: whether the workers' flags, summed with this step's gradients, say stop. */
  let stopsAgreed = false;
  const onSignal = (signal: string) => {
    stopSignal = signal;
  };
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const lastEpoch = c.stopEpoch > 0 ? Math.min(c.stopEpoch, c.epochs) : c.epochs;
  let position = start;
  let lastLoss: number | null = null;
  let lastKnn: number | null = null;
  let stopped: PretrainResult['stopped'] = 'completed';
  const save = () => leader && saveCheckpoint(runDir, model, optimizer, c, position, c.keepCheckpoints);
  const began = performance.now();
  let stepsDone = 0;
  try {
    model.train();
    outer: for (let epoch = start.epoch; epoch < lastEpoch; epoch++) {
      // A run resumed mid-epoch carries the epoch's running sums in its checkpoint.
      const carried = epoch === start.epoch ? start.epochTotals : undefined;
      let epochLoss = carried?.loss ?? 0;
      let epochAccuracy = carried?.accuracy ?? 0;
      let epochSteps = carried?.steps ?? 0;
      const fromStep = epoch === start.epoch ? start.step : 0;
      let lastStepEnd = performance.now();
      const batches = withViewsAhead(loader.epoch(epoch, fromStep), (b) => viewsOf(b.frames, { epoch, step: b.step, batchSizes: b.batchSizes }));
      for await (const { batch, views: ready } of batches) {
        const t0 = performance.now();
        const computed = await ready;
        const dataSeconds = (performance.now() - lastStepEnd) / 1000;
        const comm0 = group?.stats().commSeconds ?? 0;
        const globalStep = epoch * stepsPerEpoch + batch.step;
        const lr = warmupCosine(schedule, globalStep);
        optimizer.setLearningRate(lr);
        const stats = tidy(() => {
          const views = computed.contiguous(memoryFormat);
          optimizer.zeroGrad();
          let { loss, z } = contrastiveStep(model, views, c.temperature, c.chunk, c.precision === 'bf16', dp);
          if (dp !== null) {
            // With the gather each worker's gradient and loss are its shares of the global ones: summed.
            // Without, each worker's own: averaged. The stop flag rides along: workers stop together,
            // after the step that follows any one's signal.
            const [global, stops] = allReduceGradients(dp.group, model.parameters(), { scale: dp.gather ? 1 : 1 / workers, carry: [loss, stopSignal === null ? 0 : 1] });
            loss = global!;
            stopsAgreed = stops! > 0;
            if (stopsAgreed) stopSignal ??= 'a signal to another worker';
          }
          if (!Number.isFinite(loss)) return { loss, metrics: null };
          optimizer.step();
          return { loss, metrics: ntXentMetrics(z, { temperature: c.temperature }) };
        });
        computed.dispose();
        batch.frames.dispose();
        if (stats.metrics === null) {
          const kept = listCheckpoints(runDir)[0];
          throw new NonFiniteLossError(
            `the loss became ${stats.loss} at epoch ${epoch + 1}, step ${batch.step + 1}; stopping. ` +
              (kept === undefined
                ? `No checkpoint was written yet (the first comes after epoch ${Math.min(c.checkpointEvery, lastEpoch)}): lower the learning rate and start over with --overwrite.`
                : `The last good checkpoint is ${kept}: lower the learning rate and --resume.`),
          );
        }
        const seconds = (performance.now() - t0) / 1000;
        stepsDone++;
        lastLoss = stats.loss;
        epochLoss += stats.loss;
        epochAccuracy += stats.metrics.accuracy;
        epochSteps++;
        position = { epoch, step: batch.step + 1, globalStep: globalStep + 1, epochTotals: { loss: epochLoss, accuracy: epochAccuracy, steps: epochSteps } };
        if (position.step === stepsPerEpoch) position = { epoch: epoch + 1, step: 0, globalStep: globalStep + 1 };
        const r: StepRecord = { type: 'step', epoch: epoch + 1, step: batch.step + 1, globalStep: globalStep + 1, loss: stats.loss, ...stats.metrics, lr, viewsPerSecond: (2 * c.batchSize) / seconds, dataSeconds, time: Date.now() / 1000 };
        if (group !== null) r.commSeconds = group.stats().commSeconds - comm0;
        record(r);
        if (out !== null) {
          const elapsed = (performance.now() - began) / 1000;
          const eta = (elapsed / stepsDone) * (lastEpoch * stepsPerEpoch - (globalStep + 1));
          const line = `epoch ${epoch + 1}/${c.epochs} step ${batch.step + 1}/${stepsPerEpoch} loss ${stats.loss.toFixed(4)} acc ${stats.metrics.accuracy.toFixed(3)} lr ${lr.toExponential(2)} ${r.viewsPerSecond.toFixed(0)} views/s ETA ${formatDuration(eta)}`;
          if (isTTY) out(line, true);
          else if ((batch.step + 1) % Math.max(1, Math.floor(stepsPerEpoch / 10)) === 0 || batch.step + 1 === stepsPerEpoch) out(line, false);
        }
        // Let the event loop deliver signals: the loader's promises are already resolved, and
        // awaiting them alone never leaves the microtask queue.
        await new Promise((resolve) => setImmediate(resolve));
        // (a worker signalled after this step's collective stops with the others, a step later)
        if (group === null ? stopSignal !== null : stopsAgreed) {
          stopped = 'signal';
          break outer;
        }
        lastStepEnd = performance.now();
      }
      const epochRecord: Record<string, unknown> = { type: 'epoch', epoch: epoch + 1, loss: epochLoss / Math.max(1, epochSteps), accuracy: epochAccuracy / Math.max(1, epochSteps) };
      if (leader && monitor && ((epoch + 1) % c.knnEvery === 0 || epoch + 1 === lastEpoch)) {
        lastKnn = await knnMonitor(model.encoder, source, data.test!, size);
        if (lastKnn !== null) epochRecord.knnAccuracy = lastKnn;
        model.train();
      }
      record(epochRecord);
      if (out !== null) {
        if (isTTY) out('', false);
        out(`epoch ${epoch + 1}/${c.epochs}: loss ${(epochRecord.loss as number).toFixed(4)}${lastKnn !== null ? ` kNN ${(100 * lastKnn).toFixed(2)}%` : ''}`, false);
      }
      if ((epoch + 1) % c.checkpointEvery === 0 && epoch + 1 < lastEpoch) save();
    }
    if (stopped === 'completed' && lastEpoch < c.epochs) stopped = 'stop-epoch';
    save();
    let encoderFile: string | null = null;
    if (stopped === 'completed' && leader) {
      encoderFile = join(runDir, 'encoder.safetensors');
      model.encoder.save(encoderFile, architectureMetadata({ depth: c.depth, cifarStem: c.cifarStem, width: c.width, inChannels: channels, imageSize: size }));
    }
    return { runDir, stopped, position, lastLoss, knnAccuracy: lastKnn, encoderFile, model, split: data.record, precision: c.precision as PrecisionChoice['precision'], config: c };
  } catch (e) {
    throw trainingMemoryError(e, c.batchSize, `${(2 * c.batchSize) / workers} views of ${channels}×${size}×${size} a step${workers > 1 ? ' on each worker' : ''}`);
  } finally {
    if (handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    optimizer.dispose();
    data.dispose();
  }
}

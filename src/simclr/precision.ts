// The arithmetic of a training step: float32, or bfloat16 autocast (convolutions and matrix products
// in bf16, the rest and the weights in float32). Which is faster depends on the CPU (oneDNN's bf16
// kernels need AVX512-BF16 or AMX to win) and on the model, so `auto` times a few steps of each on
// the run's own model and batch before training and keeps the faster. The choice is written into
// the run's config, so that a resumed run keeps it, and every worker of a job makes the same one.
import type { ProcessGroup } from '../distributed/process-group.js';
import { manualSeed, rand, tensor } from '../tensor/create.js';
import { emptyCache, noGrad, tidy } from '../tensor/tensor.js';
import type { MemoryFormat } from '../tensor/tensor.js';
import { pretrainDefaults, type Precision } from './config.js';
import { buildModel, type ModelConfig } from './model.js';
import { contrastiveStep } from './step.js';

export interface PrecisionChoice {
  precision: Exclude<Precision, 'auto'>;
  /** Views per second of a forward and backward step (the fastest of the timed ones) in each precision. */
  fp32ViewsPerSecond: number;
  bf16ViewsPerSecond: number;
  /** Views in the timed steps: the run's per-worker batch, at most PROBE_VIEWS. */
  views: number;
}

/**
 * The timed steps take at most this many views: a float32 step of the whole batch would set the
 * run's peak memory (1.0 GB against 0.67 GB for a bf16 run of the default recipe), and the two
 * precisions' relative speed is the same on a part of it.
 */
export const PROBE_VIEWS = 128;

/** bf16 must be faster by this share to be chosen: close timings would make the choice (and the run's numbers) flip between runs. */
export const BF16_MARGIN = 0.1;

/** A bf16 step this many times slower than float32's best ends the measurement (the first, untimed step: HOPELESS_FIRST). */
const HOPELESS = 2;
const HOPELESS_FIRST = 8;

/** bf16 when its step is faster than fp32's by more than the margin. */
export function pickPrecision(fp32ViewsPerSecond: number, bf16ViewsPerSecond: number): Exclude<Precision, 'auto'> {
  return bf16ViewsPerSecond * (1 - BF16_MARGIN) > fp32ViewsPerSecond ? 'bf16' : 'fp32';
}

/**
 * Times forward and backward steps of a model like the run's (its own throwaway copy, on random
 * views) in float32, then in bf16, and picks the faster (`only`: times that one alone, for its rate;
 * the other's is then 0). It draws from libtorch's
 * generator: reseed afterwards. In a data-parallel job the workers' rates are summed first.
 */
export function measurePrecision(
  model: ModelConfig,
  views: { count: number; size: number; temperature: number; chunk: number; memoryFormat: MemoryFormat },
  { group = null, rounds = 2, only }: { group?: ProcessGroup | null; rounds?: number; only?: Exclude<Precision, 'auto'> } = {},
): PrecisionChoice {
  manualSeed(0);
  const probe = buildModel(model);
  try {
    probe.to({ memoryFormat: views.memoryFormat });
    probe.train();
    const count = Math.min(views.count, PROBE_VIEWS);
    const x = rand([count, model.inChannels, views.size, views.size]).contiguous(views.memoryFormat);
    const best = { fp32: Infinity, bf16: Infinity };
    try {
      // One untimed step first (oneDNN creates its kernels), then the timed ones; one precision
      // after the other, the cache emptied between them, so that the two precisions' blocks are
      // never held at once (the run's peak memory stays that of its own precision).
      for (const precision of only !== undefined ? [only] : (['fp32', 'bf16'] as const)) {
        for (let round = 0; round <= rounds; round++) {
          const t0 = performance.now();
          tidy(() => contrastiveStep(probe, x, views.temperature, views.chunk, precision === 'bf16'));
          probe.zeroGrad();
          const seconds = (performance.now() - t0) / 1000;
          if (round > 0) best[precision] = Math.min(best[precision], seconds);
          // A CPU without bf16 instructions emulates them, 10–20× slower than float32: a step that
          // far behind (beyond what kernel creation adds to the first) settles it at once.
          if (precision === 'bf16' && seconds > (round === 0 ? HOPELESS_FIRST : HOPELESS) * best.fp32) {
            best.bf16 = Math.min(best.bf16, seconds);
            break;
          }
        }
        emptyCache();
      }
    } finally {
      x.dispose();
    }
    let [fp32, bf16] = [count / best.fp32, count / best.bf16];
    if (group !== null) [fp32, bf16] = Array.from(noGrad(() => group.allReduce_(tensor([fp32, bf16], { dtype: 'float64' })).toArray() as Float64Array)) as [number, number];
    return { precision: only ?? pickPrecision(fp32, bf16), fp32ViewsPerSecond: fp32, bf16ViewsPerSecond: bf16, views: count };
  } finally {
    probe.dispose();
  }
}

/** What auto picks for the default recipe (Fashion-MNIST, batch 256, the CIFAR stem its 28 px get) at the current thread count: for `simclr info`. */
export function defaultRecipePrecision(): PrecisionChoice {
  const c = pretrainDefaults;
  const model = { depth: c.depth, cifarStem: true, width: c.width, inChannels: 1, head: c.head, headLayers: c.headLayers, hiddenDim: c.hiddenDim, projectionDim: c.projectionDim };
  return measurePrecision(model, { count: 2 * c.batchSize, size: 28, temperature: c.temperature, chunk: c.chunk, memoryFormat: 'channels_last' });
}

// Learning-rate rules of SimCLR: base-LR scaling with the batch size, and a per-step linear
// warm-up followed by cosine decay (google-research/simclr's WarmUpAndCosineDecay).

/** How the base learning rate scales with the batch size (see {@link scaledLearningRate}). */
export type LrScaling = 'linear' | 'sqrt';

/** linear: base·B/256 (SimCLR: base 0.3); sqrt: base·√B (SimCLR: base 0.075). */
export function scaledLearningRate(base: number, batchSize: number, scaling: LrScaling): number {
  if (!(batchSize > 0)) throw new RangeError(`batch size must be positive (got ${batchSize})`);
  return scaling === 'linear' ? (base * batchSize) / 256 : base * Math.sqrt(batchSize);
}

/** A linear warm-up to `peak` followed by cosine decay (the schedule of {@link warmupCosine}). */
export interface WarmupCosine {
  /** The learning rate at the end of the warm-up. */
  peak: number;
  /** Steps of linear warm-up from 0. */
  warmupSteps: number;
  /** The step at which the cosine decay ends (warm-up included). */
  totalSteps: number;
  /** The rate the cosine reaches at totalSteps (0 in SimCLR). */
  final?: number;
}

/** The learning rate at `step` (0-based): peak·step/warmup during warm-up, then cosine decay to `final`. */
export function warmupCosine({ peak, warmupSteps, totalSteps, final = 0 }: WarmupCosine, step: number): number {
  if (step < warmupSteps) return (peak * step) / warmupSteps;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  return final + (peak - final) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

// T, SimCLR's data augmentation (Chen et al. 2020, appendix A): for each image, a random resized
// crop (area 0.08–1, aspect 3/4–4/3) resized back, a horizontal flip (p 0.5), colour jitter
// (brightness, contrast, saturation 0.8·s, hue 0.2·s, in a random order, p 0.8), grayscale (p 0.2)
// and Gaussian blur (p 0.5, σ in [0.1, 2], kernel ≈ 10% of the side; off for small images).
// Parameters are drawn per image from a seeded PRNG; the pixels are computed for the whole batch
// at once in libtorch (no per-pixel JavaScript).
import { tensor } from '../tensor/create.js';
import { fromHandle, noGrad, Tensor, tidy, type MemoryFormat } from '../tensor/tensor.js';
import { native, type Handle } from '../native.js';
import type { Random } from '../random.js';
import { gaussianBlur_, blurKernelSize } from './blur.js';
import { ColorOp, colorOps_ } from './color.js';
import { resizedCrops, sampleCropBox, type Box } from './geometry.js';
import { Frames } from '../data/frames.js';

/** Options of {@link SimCLRAugmentation}; each probability is 0–1, and omitted options take SimCLR's defaults. */
export interface AugmentationOptions {
  /** Output side in pixels. */
  size: number;
  /** Range of the crop's area as a fraction of the image (default [0.08, 1]). */
  scale?: [number, number];
  /** Range of the crop's aspect ratio, width / height, drawn log-uniformly (default [3/4, 4/3]). */
  ratio?: [number, number];
  /** Probability of a horizontal flip (default 0.5). */
  flipP?: number;
  /** Colour distortion strength s: brightness, contrast, saturation 0.8·s; hue 0.2·s. */
  strength?: number;
  /** Probability of colour jitter (default 0.8). */
  jitterP?: number;
  /** Brightness jitter b: factor uniform in [max(0, 1 − b), 1 + b] (default 0.8·s). */
  brightness?: number;
  /** Contrast jitter c: factor uniform in [max(0, 1 − c), 1 + c] (default 0.8·s). */
  contrast?: number;
  /** Saturation jitter: factor uniform in [max(0, 1 − v), 1 + v] (default 0.8·s). */
  saturation?: number;
  /** Hue jitter h in [0, 0.5]: shift uniform in [−h, h] of a full turn (default 0.2·s). */
  hue?: number;
  /** Probability of converting to grayscale (default 0.2). */
  grayscaleP?: number;
  /** Probability of Gaussian blur (default 0.5 for sizes above 32, else 0). */
  blurP?: number;
  /** Range of the blur's σ, in pixels (default [0.1, 2]). */
  blurSigma?: [number, number];
  /** Odd blur kernel size (default ≈ 10% of `size`). */
  blurKernel?: number;
  /** Probability of solarization (default 0, as SimCLR; BYOL-style recipes use it). */
  solarizeP?: number;
  /** Pixels at or above this value (0–1) are inverted by solarization (default 0.5). */
  solarizeThreshold?: number;
  /** Per-channel normalisation after T (none by default). */
  mean?: number[] | null;
  /** Per-channel standard deviations to divide by after subtracting `mean` (none by default). */
  std?: number[] | null;
}

/** The paper's recipes: ImageNet (s = 1, blur) and CIFAR (s = 0.5, no blur). */
export const augmentationPresets = {
  /** ImageNet's: colour strength 1, blur p 0.5 (default size 224). */
  imagenet: (size = 224): AugmentationOptions => ({ size, strength: 1, blurP: 0.5 }),
  /** CIFAR's: colour strength 0.5, no blur (default size 32). */
  cifar: (size = 32): AugmentationOptions => ({ size, strength: 0.5, blurP: 0 }),
};

/** One of the colour-jitter operations. */
export type JitterOp = 'brightness' | 'contrast' | 'saturation' | 'hue';
const JITTER_OPS: readonly JitterOp[] = ['brightness', 'contrast', 'saturation', 'hue'];

/** Everything random about one batch of views, drawn on the CPU in JavaScript. */
export interface ViewParams {
  /** Per view: the crop box in its frame. */
  boxes: Box[];
  /** Per view: whether it is flipped horizontally. */
  flips: boolean[];
  /** Per view: whether colour jitter applies. */
  jitter: boolean[];
  /** Per image: the four jitter ops in the order applied. */
  order: JitterOp[][];
  /** Per jitter op, per view: the drawn factor (a hue shift for hue). */
  factors: Record<JitterOp, Float32Array>;
  /** Per view: whether it is converted to grayscale. */
  gray: boolean[];
  /** Per view: whether it is blurred. */
  blur: boolean[];
  /** Per view: the blur's σ in pixels (used only where blurred). */
  sigma: Float32Array;
  /** Per view: whether it is solarized. */
  solarize: boolean[];
}

/**
 * T, SimCLR's data augmentation: random resized crop, flip, colour jitter, grayscale, Gaussian blur
 * (and optionally solarize), drawn per image from a seeded PRNG and computed per batch natively.
 */
export class SimCLRAugmentation {
  /** The options with every default filled in. */
  readonly options: Required<Omit<AugmentationOptions, 'mean' | 'std'>> & {
    /** Per-channel means subtracted after T, or null. */
    mean: number[] | null;
    /** Per-channel standard deviations divided by after T, or null. */
    std: number[] | null;
  };

  constructor(options: AugmentationOptions) {
    const s = options.strength ?? 1;
    const size = options.size;
    if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`augmentation size must be a positive integer (got ${size})`);
    this.options = {
      scale: [0.08, 1],
      ratio: [3 / 4, 4 / 3],
      flipP: 0.5,
      strength: s,
      jitterP: 0.8,
      brightness: 0.8 * s,
      contrast: 0.8 * s,
      saturation: 0.8 * s,
      hue: 0.2 * s,
      grayscaleP: 0.2,
      blurP: size > 32 ? 0.5 : 0,
      blurSigma: [0.1, 2],
      blurKernel: blurKernelSize(size),
      solarizeP: 0,
      solarizeThreshold: 0.5,
      ...options,
      mean: options.mean ?? null,
      std: options.std ?? null,
    };
    if (this.options.hue < 0 || this.options.hue > 0.5) throw new RangeError(`hue must be in [0, 0.5] (got ${this.options.hue})`);
  }

  /** Draws the random parameters of n views; view i is cut from an image of widths[i] × heights[i] pixels. */
  sample(rng: Random, n: number, widths: ArrayLike<number>, heights: ArrayLike<number>): ViewParams {
    const o = this.options;
    const range = (spread: number, centre: number): [number, number] => (centre === 1 ? [Math.max(0, 1 - spread), 1 + spread] : [-spread, spread]);
    const ranges: Record<JitterOp, [number, number]> = {
      brightness: range(o.brightness, 1),
      contrast: range(o.contrast, 1),
      saturation: range(o.saturation, 1),
      hue: range(o.hue, 0),
    };
    const p: ViewParams = {
      boxes: [],
      flips: [],
      jitter: [],
      order: [],
      factors: { brightness: new Float32Array(n), contrast: new Float32Array(n), saturation: new Float32Array(n), hue: new Float32Array(n) },
      gray: [],
      blur: [],
      sigma: new Float32Array(n),
      solarize: [],
    };
    for (let i = 0; i < n; i++) {
      p.boxes.push(sampleCropBox(rng, widths[i]!, heights[i]!, o.scale, o.ratio));
      p.flips.push(rng.bernoulli(o.flipP));
      p.jitter.push(rng.bernoulli(o.jitterP));
      p.order.push(Array.from(rng.permutation(4), (k) => JITTER_OPS[k]!));
      for (const op of JITTER_OPS) p.factors[op][i] = rng.uniform(...ranges[op]);
      p.gray.push(rng.bernoulli(o.grayscaleP));
      p.blur.push(rng.bernoulli(o.blurP));
      p.sigma[i] = rng.uniform(...o.blurSigma);
      p.solarize.push(rng.bernoulli(o.solarizeP));
    }
    return p;
  }

  /**
   * Applies drawn parameters to frames (or uint8 images [N, C, H, W]): float views [M, C, size,
   * size]. View i comes from frame source[i] (default i; pair() uses each frame twice).
   */
  apply(images: Tensor | Frames, p: ViewParams, source?: ArrayLike<number>): Tensor {
    const o = this.options;
    const plan = colourPlan(p, o.solarizeThreshold);
    return noGrad(() =>
      tidy(() => {
        const x = resizedCrops(images, p.boxes, p.flips, o.size, source);
        colorOps_(x, plan.program, plan.factors);
        if (plan.blurRows.length > 0) gaussianBlur_(x, plan.blurRows, plan.blurSigma, o.blurKernel);
        if (plan.solarize !== null) colorOps_(x, plan.solarize.program, plan.solarize.factors);
        return this.#normalise(x);
      }),
    );
  }

  /**
   * apply() off the main thread: the views computed in a worker thread (one view after another),
   * resolved once ready — a training loop asks for the next batch's views before its step and so
   * overlaps them. The same views as apply(), bit for bit; `memoryFormat` lays them out for the model.
   */
  async applyAsync(images: Tensor | Frames, p: ViewParams, source?: ArrayLike<number>, memoryFormat: MemoryFormat = 'contiguous'): Promise<Tensor> {
    const o = this.options;
    const m = p.boxes.length;
    const plan = colourPlan(p, o.solarizeThreshold);
    const frames = images instanceof Frames ? images : Frames.of(images);
    const flat = new Int32Array(m * 4);
    p.boxes.forEach((b, i) => flat.set([b.x, b.y, b.width, b.height], i * 4));
    const normalising = o.mean !== null && o.std !== null;
    // (the worker holds its own references to these tensors: the scope may free its handles at once)
    let pending!: Promise<Handle>;
    tidy(() => {
      pending = native.augmentAsync({
        data: frames.data.handle,
        frames: frames.table().handle,
        channels: frames.channels,
        interleaved: frames.layout === 'interleaved',
        source: tensor(Int32Array.from(source ?? Int32Array.from({ length: m }, (_, i) => i)), { dtype: 'int64' }).handle,
        boxes: tensor(flat, { shape: [m, 4], dtype: 'int64' }).handle,
        flips: tensor(Uint8Array.from(p.flips, (f) => (f ? 1 : 0))).handle,
        size: o.size,
        ops: tensor(plan.program, { shape: [m, 5] }).handle,
        factors: tensor(plan.factors, { shape: [m, 5] }).handle,
        blurRows: tensor(Int32Array.from(plan.blurRows), { dtype: 'int64' }).handle,
        blurSigma: tensor(plan.blurSigma).handle,
        blurTaps: o.blurKernel,
        finalOps: plan.solarize === null ? null : tensor(plan.solarize.program, { shape: [m, 1] }).handle,
        finalFactors: plan.solarize === null ? null : tensor(plan.solarize.factors, { shape: [m, 1] }).handle,
        channelsLast: memoryFormat === 'channels_last' && !normalising,
      });
    });
    const x = fromHandle(await pending);
    if (!normalising) return x;
    const normalised = noGrad(() => tidy(() => this.#normalise(x).contiguous(memoryFormat)));
    x.dispose();
    return normalised;
  }

  #normalise(x: Tensor): Tensor {
    const o = this.options;
    if (o.mean === null || o.std === null) return x;
    return tidy(() => x.sub(tensor(o.mean!).reshape([1, -1, 1, 1])).div(tensor(o.std!).reshape([1, -1, 1, 1])));
  }

  /** One random view of each image. */
  view(images: Tensor | Frames, rng: Random): Tensor {
    const frames = images instanceof Frames ? images : Frames.of(images);
    return this.apply(frames, this.sample(rng, frames.count, frames.widths, frames.heights));
  }

  /**
   * Two views of each of N frames (or images [N, C, H, W]): [2N, C, size, size], rows i and i + N
   * from frame i. With `part`, the frames are frames offset … offset + N − 1 of a global batch of
   * `total` split among data-parallel workers, whose sizes (width, height: every frame's of the
   * global batch) `part.sizes` gives when they differ: the views are drawn for the whole global
   * batch and this part's kept, so that they do not depend on how the batch is split.
   */
  pair(images: Tensor | Frames, rng: Random, part?: PairPart): Tensor {
    const { frames, params, source } = this.#drawPair(images, rng, part);
    return this.apply(frames, params, source);
  }

  /** pair() computed off the main thread (see applyAsync): the same views. */
  pairAsync(images: Tensor | Frames, rng: Random, part?: PairPart, memoryFormat: MemoryFormat = 'contiguous'): Promise<Tensor> {
    const { frames, params, source } = this.#drawPair(images, rng, part);
    return this.applyAsync(frames, params, source, memoryFormat);
  }

  #drawPair(images: Tensor | Frames, rng: Random, part?: PairPart): { frames: Frames; params: ViewParams; source: Int32Array } {
    const frames = images instanceof Frames ? images : Frames.of(images);
    const n = frames.count;
    const { offset, total } = part ?? { offset: 0, total: n };
    if (!(offset >= 0 && offset + n <= total)) throw new RangeError(`images ${offset}…${offset + n - 1} are not in a batch of ${total}`);
    const sizes = part?.sizes ?? (total === n ? frames : uniformSizes(frames, total));
    if (sizes.widths.length !== total || sizes.heights.length !== total) throw new RangeError(`need the sizes of all ${total} images of the batch`);
    const twice = (a: ArrayLike<number>) => Int32Array.from({ length: 2 * total }, (_, i) => a[i % total]!);
    const all = this.sample(rng, 2 * total, twice(sizes.widths), twice(sizes.heights));
    const params = total === n ? all : selectViews(all, [...Array.from({ length: n }, (_, i) => offset + i), ...Array.from({ length: n }, (_, i) => total + offset + i)]);
    return { frames, params, source: Int32Array.from({ length: 2 * n }, (_, i) => i % n) };
  }
}

/** A data-parallel worker's part of a global batch: its offset, the batch's size, and (frames of different sizes) every frame's size. */
export interface PairPart {
  /** Index of this part's first frame in the global batch. */
  offset: number;
  /** The number of frames in the global batch. */
  total: number;
  /** Every frame's size in the global batch, in pixels (needed when the frames' sizes differ). */
  sizes?: {
    /** Frame widths. */
    widths: ArrayLike<number>;
    /** Frame heights. */
    heights: ArrayLike<number>;
  };
}

/** The native colour programs of drawn parameters: one per view (the jitter ops in its order when jittered, then grayscale), the blurred views, and solarize's (null when no view is solarized). */
function colourPlan(p: ViewParams, solarizeThreshold: number) {
  const m = p.boxes.length;
  const program = new Int32Array(m * 5).fill(ColorOp.skip);
  const factors = new Float32Array(m * 5);
  for (let i = 0; i < m; i++) {
    if (p.jitter[i]) {
      p.order[i]!.forEach((op, k) => {
        program[i * 5 + k] = ColorOp[op];
        factors[i * 5 + k] = p.factors[op][i]!;
      });
    }
    if (p.gray[i]) program[i * 5 + 4] = ColorOp.grayscale;
  }
  const blurRows = p.blur.flatMap((on, i) => (on ? [i] : []));
  const solarize = p.solarize.some((on) => on) ? { program: Int32Array.from(p.solarize, (on) => (on ? ColorOp.solarize : ColorOp.skip)), factors: new Float32Array(m).fill(solarizeThreshold) } : null;
  return { program, factors, blurRows, blurSigma: Float32Array.from(blurRows, (i) => p.sigma[i]!), solarize };
}

/** The sizes of a global batch whose frames are all of this part's one size (without it, the batch's sizes must be given). */
function uniformSizes(frames: Frames, total: number): { widths: Int32Array; heights: Int32Array } {
  const [w, h] = [frames.widths[0]!, frames.heights[0]!];
  if (frames.widths.some((v) => v !== w) || frames.heights.some((v) => v !== h)) throw new RangeError('frames of different sizes: pair() needs the sizes of the whole global batch (part.sizes)');
  return { widths: new Int32Array(total).fill(w), heights: new Int32Array(total).fill(h) };
}

/** The parameters of the chosen views, in that order. */
function selectViews(p: ViewParams, rows: readonly number[]): ViewParams {
  const pick = <T>(a: readonly T[]) => rows.map((i) => a[i]!);
  const floats = (a: Float32Array) => Float32Array.from(rows, (i) => a[i]!);
  return {
    boxes: pick(p.boxes),
    flips: pick(p.flips),
    jitter: pick(p.jitter),
    order: pick(p.order),
    factors: { brightness: floats(p.factors.brightness), contrast: floats(p.factors.contrast), saturation: floats(p.factors.saturation), hue: floats(p.factors.hue) },
    gray: pick(p.gray),
    blur: pick(p.blur),
    sigma: floats(p.sigma),
    solarize: pick(p.solarize),
  };
}

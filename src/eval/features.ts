// Features h of a data set from a frozen encoder (eval mode, no gradients), in batches.
import * as F from '../tensor/functional.js';
import { cat, zeros } from '../tensor/create.js';
import { keep, tidy, type Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { CALIBRATION_IMAGES, withFeatureEngine, type EngineChoice, type EngineRecord } from './engine.js';
import { evenlySpaced } from '../data/split.js';
import type { DataSource } from '../data/source.js';
import { Task } from '../progress.js';

/** Features of a data set, from {@link extractFeatures}. */
export interface Features {
  /** [N, D] float32. */
  features: Tensor;
  /** The label of each row (null for unlabelled data). */
  labels: Int32Array | null;
  /** The source's index of each row. */
  indices: Int32Array;
  /** The engine that computed them (encoders; absent for raw pixels). */
  engine?: EngineRecord;
}

/** uint8 images → float [0, 1] at the encoder's input size (bilinear, antialiased, when it differs). */
export function prepareImages(images: Tensor, size: number): Tensor {
  return tidy(() => {
    const x = images.float().div(255);
    return x.size(2) === size && x.size(3) === size ? x : F.interpolate(x, { size, mode: 'bilinear', antialias: true }).clamp(0, 1);
  });
}

/** The encoder's features h [N, D] (float32, owned by the caller) of a source's images (or those at `indices`), in eval mode without gradients, at view size `size`, on the engine `engine` (default: {@link getEngine}). */
export async function extractFeatures(
  encoder: Module,
  source: DataSource,
  {
    size,
    batchSize = 500,
    indices,
    label = 'features',
    engine,
    onImages,
  }: {
    size: number;
    batchSize?: number;
    indices?: Int32Array;
    label?: string | null;
    engine?: EngineChoice;
    /** Sees each batch's uint8 images (still owned by extractFeatures) after they are encoded: other uses of the same decode. */
    onImages?: (images: Tensor) => void;
  },
): Promise<Features> {
  const order = indices ?? Int32Array.from({ length: source.size }, (_, i) => i);
  const wasTraining = encoder.training;
  encoder.eval();
  const parts: Tensor[] = [];
  const task = label === null ? null : new Task(label, { total: order.length, unit: 'images' });
  const load = async (start: number) => {
    const batch = order.subarray(start, Math.min(start + batchSize, order.length));
    const images = source.loadSync ? source.loadSync(batch) : await source.load(batch);
    return { images, x: prepareImages(images, size) };
  };
  let first: Awaited<ReturnType<typeof load>> | null = null;
  try {
    first = order.length === 0 ? null : await load(0);
    const batches = Math.ceil(order.length / batchSize);
    // (int8's calibration images: evenly spaced over the ones to encode)
    const calibration = async () => {
      const picked = Int32Array.from(evenlySpaced(order.length, CALIBRATION_IMAGES), (i) => order[i]!);
      const images = source.loadSync ? source.loadSync(picked) : await source.load(picked);
      try {
        return prepareImages(images, size);
      } finally {
        images.dispose();
      }
    };
    const record = await withFeatureEngine(encoder, { size, choice: engine, first: first?.x ?? null, batches, calibration }, async (engine, firstFeatures) => {
      for (let start = 0; start < order.length; start += batchSize) {
        const { images, x } = start === 0 ? first! : await load(start);
        try {
          parts.push(start === 0 && firstFeatures !== null ? firstFeatures : await engine.forward(x));
          onImages?.(images);
        } finally {
          images.dispose();
          x.dispose();
          if (start === 0) first = null;
        }
        task?.update(Math.min(start + batchSize, order.length));
      }
      return engine.record;
    });
    const features = keep(tidy(() => (parts.length === 0 ? zeros([0, 0]) : cat(parts, 0))));
    const labels = source.labels === null ? null : Int32Array.from(order, (i) => source.labels![i]!);
    task?.end(`${order.length} images (${record.engine})`);
    return { features, labels, indices: order, engine: record };
  } catch (e) {
    task?.end('failed');
    throw e;
  } finally {
    first?.images.dispose();
    first?.x.dispose();
    for (const p of parts) p.dispose();
    encoder.train(wasTraining);
  }
}

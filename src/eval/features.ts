// Features h of a data set from a frozen encoder (eval mode, no gradients), in batches.
import * as F from '../tensor/functional.js';
import { cat } from '../tensor/create.js';
import { keep, noGrad, Tensor, tidy, type MemoryFormat } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { withBatchNormsFolded } from '../nn/fold.js';
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
}

/** uint8 images → float [0, 1] at the encoder's input size (bilinear, antialiased, when it differs). */
export function prepareImages(images: Tensor, size: number): Tensor {
  return tidy(() => {
    const x = images.float().div(255);
    return x.size(2) === size && x.size(3) === size ? x : F.interpolate(x, { size, mode: 'bilinear', antialias: true }).clamp(0, 1);
  });
}

/** The encoder's features h [N, D] (float32, owned by the caller) of a source's images (or those at `indices`), in eval mode without gradients, at view size `size`. */
export async function extractFeatures(
  encoder: Module,
  source: DataSource,
  {
    size,
    batchSize = 500,
    indices,
    label = 'features',
    memoryFormat = 'channels_last',
    onImages,
  }: {
    size: number;
    batchSize?: number;
    indices?: Int32Array;
    label?: string | null;
    memoryFormat?: MemoryFormat;
    /** Sees each batch's uint8 images (still owned by extractFeatures) after they are encoded: other uses of the same decode. */
    onImages?: (images: Tensor) => void;
  },
): Promise<Features> {
  const order = indices ?? Int32Array.from({ length: source.size }, (_, i) => i);
  const wasTraining = encoder.training;
  encoder.eval();
  const parts: Tensor[] = [];
  const task = label === null ? null : new Task(label, { total: order.length, unit: 'images' });
  try {
    // (BatchNorms folded into their convolutions: one pass over the activations fewer per layer)
    await withBatchNormsFolded(encoder, async () => {
      for (let start = 0; start < order.length; start += batchSize) {
        const batch = order.subarray(start, Math.min(start + batchSize, order.length));
        const images = source.loadSync ? source.loadSync(batch) : await source.load(batch);
        // (channels-last input: oneDNN's convolutions are faster in that layout, whatever the model's)
        parts.push(keep(noGrad(() => tidy(() => encoder.forward(prepareImages(images, size).contiguous(memoryFormat))))));
        onImages?.(images);
        images.dispose();
        task?.update(start + batch.length);
      }
    });
    const features = keep(tidy(() => cat(parts, 0)));
    const labels = source.labels === null ? null : Int32Array.from(order, (i) => source.labels![i]!);
    task?.end(`${order.length} images`);
    return { features, labels, indices: order };
  } catch (e) {
    task?.end('failed');
    throw e;
  } finally {
    for (const p of parts) p.dispose();
    encoder.train(wasTraining);
  }
}

// Linear evaluation as in the SimCLR paper (appendix B.6): a linear classifier on the raw frozen
// features h (encoder in eval mode, no gradients into it), trained by SGD with Nesterov momentum
// 0.9, lr 0.1·B/256 decayed to 0 by a per-step cosine, no weight decay by default, 90 epochs, the
// last partial batch of each epoch dropped; either on features extracted once, or (augment) on h of
// a random resized crop + flip of every training image at every step. Scored top-1 on the test split.
import { SimCLRAugmentation } from '../augment/simclr-augmentation.js';
import { Random } from '../random.js';
import type { DataSource } from '../data/source.js';
import * as F from '../tensor/functional.js';
import { tensor } from '../tensor/create.js';
import { keep, noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { SGD } from '../optim/sgd.js';
import { warmupCosine } from '../optim/schedule.js';
import { Task } from '../progress.js';

/** The training set as the classifier sees it. */
export interface TrainingFeatures {
  /** Number of training examples. */
  size: number;
  labels: Int32Array;
  /** Width D of the features. */
  dim: number;
  /** Features [B, D] float32, without gradients, of the examples `indices` at (epoch, step); owned by the caller. */
  batch(indices: Int32Array, epoch: number, step: number): Tensor | Promise<Tensor>;
}

export interface LinearSgdOptions {
  /** Default 90. */
  epochs?: number;
  /** Default 256 (at most the training set size). */
  batchSize?: number;
  /** Peak learning rate (default 0.1·B/256). */
  lr?: number;
  /** L2 weight decay on the weights, not the bias (default 0). */
  weightDecay?: number;
  /** Number of classes (default: the largest training label + 1). */
  classes?: number;
  seed?: number;
}

export interface LinearSgdTraining {
  /** The trained classifier; the caller disposes it. */
  fc: Linear;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  stepsPerEpoch: number;
  /** Mean minibatch cross-entropy of the last epoch. */
  trainLoss: number;
}

export interface LinearSgdResult extends Omit<LinearSgdTraining, 'fc'> {
  accuracy: number;
}

function maxLabel(labels: Int32Array): number {
  let m = -1;
  for (const c of labels) if (c > m) m = c;
  return m;
}

/** The training loop shared by both modes: a zero-initialised Linear(D, classes) trained by SGD. */
export async function trainLinearSgd(train: TrainingFeatures, o: LinearSgdOptions = {}): Promise<LinearSgdTraining> {
  const epochs = o.epochs ?? 90;
  const seed = o.seed ?? 0;
  const weightDecay = o.weightDecay ?? 0;
  if (!(Number.isInteger(epochs) && epochs > 0)) throw new RangeError(`epochs must be a positive integer (got ${epochs})`);
  if (train.size < 1 || train.labels.length !== train.size) throw new RangeError(`${train.labels.length} labels for ${train.size} training examples`);
  const batchSize = Math.min(o.batchSize ?? 256, train.size);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batch size must be a positive integer (got ${o.batchSize})`);
  const lr = o.lr ?? (0.1 * batchSize) / 256;
  const classes = o.classes ?? maxLabel(train.labels) + 1;
  const fc = new Linear(train.dim, classes);
  // zero initialisation (as the L-BFGS probe): the problem is convex, and the run depends on the seed alone
  noGrad(() => {
    fc.weight.zero_();
    fc.bias!.zero_();
  });
  const optimizer = new SGD(
    [
      { params: [fc.weight], weightDecay },
      { params: [fc.bias!], weightDecay: 0 },
    ],
    { lr, momentum: 0.9, nesterov: true },
  );
  const stepsPerEpoch = Math.floor(train.size / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  let trainLoss = NaN;
  const task = new Task('linear classifier (SGD)', { total: epochs, unit: 'epochs' });
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = new Random(seed, epoch, 0x11ea5).permutation(train.size);
      let total = 0;
      for (let step = 0; step < stepsPerEpoch; step++) {
        const indices = order.slice(step * batchSize, (step + 1) * batchSize);
        const h = await train.batch(indices, epoch, step);
        optimizer.setLearningRate(warmupCosine({ peak: lr, warmupSteps: 0, totalSteps }, epoch * stepsPerEpoch + step));
        try {
          total += tidy(() => {
            const y = tensor(Int32Array.from(indices, (i) => train.labels[i]!), { dtype: 'int64' });
            const loss = F.crossEntropy(fc.forward(h.detach()), y);
            optimizer.zeroGrad();
            loss.backward();
            optimizer.step();
            return loss.item();
          });
        } finally {
          h.dispose();
        }
      }
      trainLoss = total / stepsPerEpoch;
      task.update(epoch + 1, `loss ${trainLoss.toFixed(4)}`);
    }
    task.end(`loss ${trainLoss.toFixed(4)}`);
  } catch (e) {
    task.end('failed');
    fc.dispose();
    throw e;
  } finally {
    optimizer.zeroGrad();
    optimizer.dispose();
  }
  return { fc, epochs, batchSize, lr, weightDecay, stepsPerEpoch, trainLoss };
}

/** Top-1 accuracy of a linear classifier on features [N, D]. */
export function linearAccuracy(fc: Linear, features: Tensor, labels: Int32Array): number {
  return noGrad(() =>
    tidy(() => {
      let correct = 0;
      for (let start = 0; start < labels.length; start += 4096) {
        const n = Math.min(4096, labels.length - start);
        const predicted = fc.forward(features.narrow(0, start, n).to('float32')).argmax(1).to('int32').toArray() as Int32Array;
        for (let i = 0; i < n; i++) correct += predicted[i] === labels[start + i] ? 1 : 0;
      }
      return correct / labels.length;
    }),
  );
}

/** Training features computed once ([N, D]); each batch is a selection of rows. */
export function fixedFeatures(features: Tensor, labels: Int32Array): TrainingFeatures {
  if (features.size(0) !== labels.length) throw new RangeError(`${labels.length} labels for ${features.size(0)} feature rows`);
  return {
    size: labels.length,
    labels,
    dim: features.size(1),
    batch: (indices) => keep(noGrad(() => tidy(() => features.indexSelect(0, tensor(indices, { dtype: 'int64' })).to('float32')))),
  };
}

/**
 * Features of a random resized crop + horizontal flip of each training image, new at every step
 * (seeded by seed, epoch and step): h of the encoder in eval mode under noGrad, or the raw pixels
 * (flattened, in [0, 1]) when the encoder is null.
 */
export function augmentedFeatures(source: DataSource, encoder: Module | null, { size, dim, seed = 0 }: { size: number; dim: number; seed?: number }): TrainingFeatures {
  if (source.labels === null) throw new Error(`${source.description}: linear evaluation needs labels`);
  const crop = new SimCLRAugmentation({ size, jitterP: 0, grayscaleP: 0, blurP: 0 });
  return {
    size: source.size,
    labels: source.labels,
    dim,
    batch: async (indices, epoch, step) => {
      const images = source.loadSync ? source.loadSync(indices) : await source.load(indices);
      const wasTraining = encoder?.training ?? false;
      encoder?.eval();
      try {
        return keep(
          noGrad(() =>
            tidy(() => {
              const x = crop.view(images, new Random(seed, epoch, step, 0x11ea6));
              return encoder === null ? x.flatten(1) : encoder.forward(x);
            }),
          ),
        );
      } finally {
        encoder?.train(wasTraining);
        images.dispose();
      }
    },
  };
}

/** Trains on `train` and scores top-1 on the test features (extracted without augmentation). */
export async function linearSgd(train: TrainingFeatures, test: { features: Tensor; labels: Int32Array }, o: LinearSgdOptions = {}): Promise<LinearSgdResult> {
  const classes = o.classes ?? Math.max(maxLabel(train.labels), maxLabel(test.labels)) + 1;
  const { fc, ...training } = await trainLinearSgd(train, { ...o, classes });
  try {
    return { accuracy: linearAccuracy(fc, test.features, test.labels), ...training };
  } finally {
    fc.dispose();
  }
}

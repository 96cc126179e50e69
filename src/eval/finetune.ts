// Fine-tuning with a fraction of the labels (SimCLR paper, §6 and appendix B.5): a class-balanced,
// seeded subset of the training split; the encoder (optionally with head layers 1…k of a v2 head,
// google-research/simclr's ft_proj_selector) and a new linear classifier trained together with SGD
// and Nesterov momentum, lr 0.05·B/256, no weight decay, random crop and flip; scored on the test split.
import { SimCLRAugmentation } from '../augment/simclr-augmentation.js';
import { Random } from '../random.js';
import { labelFraction } from '../data/split.js';
import { classCount, type DataSource } from '../data/source.js';
import * as F from '../tensor/functional.js';
import { tensor } from '../tensor/create.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { SGD } from '../optim/sgd.js';
import { warmupCosine } from '../optim/schedule.js';
import type { ProjectionHead } from '../models/projection-head.js';
import { prepareImages } from './features.js';
import { Task } from '../progress.js';

/** f (and head layers 1…k) followed by a linear classifier. */
class Classifier extends Module {
  constructor(
    readonly encoder: Module,
    readonly head: ProjectionHead | null,
    readonly headLayers: number,
    readonly fc: Linear,
  ) {
    super();
    this.registerModule('encoder', encoder);
    if (head !== null) this.registerModule('head', head);
    this.registerModule('fc', fc);
  }
  forward(x: Tensor): Tensor {
    const h = this.encoder.forward(x);
    return this.fc.forward(this.head === null || this.headLayers === 0 ? h : this.head.features(h, this.headLayers));
  }
}

export interface FinetuneOptions {
  fraction: number;
  epochs: number;
  batchSize?: number;
  /** Input size of the encoder. */
  size: number;
  /** Width of h (or of head layer k). */
  featureDim: number;
  head?: ProjectionHead | null;
  headLayers?: number;
  seed?: number;
  /** Which label draw of the seed (draws are disjoint while the classes have images enough). */
  draw?: number;
}

export async function finetune(encoder: Module, train: DataSource, test: DataSource, o: FinetuneOptions): Promise<{ accuracy: number; trainImages: number }> {
  if (train.labels === null || test.labels === null) throw new Error('fine-tuning needs labels');
  const seed = o.seed ?? 0;
  const subset = labelFraction(train.labels, o.fraction, seed, o.draw ?? 0);
  const classes = classCount(train.labels);
  const batchSize = Math.min(o.batchSize ?? 256, subset.length);
  const model = new Classifier(encoder, o.head ?? null, o.headLayers ?? 0, new Linear(o.featureDim, classes));
  const lr = (0.05 * batchSize) / 256;
  const optimizer = new SGD(model.parameters(), { lr, momentum: 0.9, nesterov: true });
  const crop = new SimCLRAugmentation({ size: o.size, jitterP: 0, grayscaleP: 0, blurP: 0 });
  const steps = Math.floor(subset.length / batchSize);
  model.train();
  const task = new Task(`fine-tuning on ${subset.length} labelled images`, { total: o.epochs, unit: 'epochs' });
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = new Random(seed, epoch, 0xf1e8).permutation(subset.length);
    let total = 0;
    for (let step = 0; step < steps; step++) {
      const indices = Int32Array.from(order.subarray(step * batchSize, (step + 1) * batchSize), (i) => subset[i]!);
      const images = train.loadSync ? train.loadSync(indices) : await train.load(indices);
      optimizer.setLearningRate(warmupCosine({ peak: lr, warmupSteps: 0, totalSteps: o.epochs * steps }, epoch * steps + step));
      total += tidy(() => {
        const x = crop.view(images, new Random(seed, epoch, step, 0xf1e9));
        const loss = F.crossEntropy(model.forward(x), tensor(Int32Array.from(indices, (i) => train.labels![i]!), { dtype: 'int64' }));
        optimizer.zeroGrad();
        loss.backward();
        optimizer.step();
        return loss.item();
      });
      images.dispose();
    }
    task.update(epoch + 1, `loss ${(total / Math.max(1, steps)).toFixed(4)}`);
  }
  task.end();
  model.eval();
  let correct = 0;
  for (let start = 0; start < test.size; start += 500) {
    const indices = Int32Array.from({ length: Math.min(500, test.size - start) }, (_, i) => start + i);
    const images = test.loadSync ? test.loadSync(indices) : await test.load(indices);
    const predicted = noGrad(() => tidy(() => model.forward(prepareImages(images, o.size)).argmax(1).to('int32').toArray() as Int32Array));
    predicted.forEach((p, i) => (correct += p === test.labels![indices[i]!] ? 1 : 0));
    images.dispose();
  }
  optimizer.dispose();
  model.fc.dispose();
  return { accuracy: correct / test.size, trainImages: subset.length };
}

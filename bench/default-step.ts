// One training step of the default recipe (Fashion-MNIST, ResNet-18 CIFAR stem ×0.25, batch 256,
// channels-last, the default optimizer): a new pair of views of one batch of decoded images (T),
// forward, NT-Xent, backward, optimizer — a training loop's step but for reading the images, for
// benches that time the step against something else in the same process.
import { fashionMnist } from '../src/data/idx.js';
import { Random } from '../src/random.js';
import { pretrainDefaults } from '../src/simclr/config.js';
import { applyRecipe } from '../src/simclr/recipe.js';
import { buildModel, modelConfig } from '../src/simclr/model.js';
import { ntXentLoss } from '../src/simclr/nt-xent.js';
import { configViews } from '../src/simclr/pretrain.js';
import { buildOptimizer } from '../src/simclr/step.js';
import { tidy } from '../src/tensor/tensor.js';

/** Builds the model and loads the images; returns the step. */
export function defaultStep(): () => void {
  const c = applyRecipe(pretrainDefaults, 28);
  const model = buildModel(modelConfig(c, 1)).to({ memoryFormat: 'channels_last' });
  model.train();
  const optimizer = buildOptimizer(model, c, c.lr);
  const source = fashionMnist('train');
  const images = source.loadSync!(new Random(0, 1).permutation(source.size).subarray(0, c.batchSize));
  const augment = configViews(c, 28);
  let count = 0;
  return () =>
    tidy(() => {
      const views = augment(images, { epoch: 0, step: count++ }).contiguous('channels_last');
      optimizer.zeroGrad();
      const loss = ntXentLoss(model.forward(views), { temperature: c.temperature });
      loss.backward();
      optimizer.step();
      loss.item();
    });
}

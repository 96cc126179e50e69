// A SimCLR training loop of your own: an encoder you write (any nn.Module), the paper's views T and
// the NT-Xent loss, with an optimizer from optim. What `simclr pretrain` does, in thirty lines.
//   node dist/examples/custom-training-loop.js [data: fashion-mnist | an image folder] [steps]
import { nn, optim, F, tidy, Random, SimCLRAugmentation, ntXentLoss, openSource, type Tensor } from 'simclr';

/** f: a small convolutional encoder. Any Module whose forward maps images [N, C, H, W] to h [N, D] will do. */
class SmallEncoder extends nn.Module {
  readonly body: nn.Sequential;

  constructor(inChannels: number, readonly featureDim = 64) {
    super();
    this.body = this.registerModule('body', new nn.Sequential(
      new nn.Conv2d(inChannels, 32, 3, { padding: 1 }), new nn.BatchNorm2d(32), new nn.ReLU(),
      new nn.Conv2d(32, featureDim, 3, { stride: 2, padding: 1 }), new nn.BatchNorm2d(featureDim), new nn.ReLU(),
      new nn.AdaptiveAvgPool2d(1), new nn.Flatten(),
    ));
  }

  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}

const [data = 'fashion-mnist', stepsArg = '20'] = process.argv.slice(2);
const source = await openSource(data, { size: 32, split: 'train' });
const [channels, size] = [source.imageShape[0], source.imageShape[1]];

const encoder = new SmallEncoder(channels);
// g: Dense → ReLU → Dense, z 128-d.
const head = new nn.Sequential(new nn.Linear(encoder.featureDim, 64), new nn.ReLU(), new nn.Linear(64, 128));
const optimizer = new optim.Adam([...encoder.parameters(), ...head.parameters()], { lr: 1e-3 });
const t = new SimCLRAugmentation({ size, strength: 0.5 });
const rng = new Random(0);
const batchSize = Math.min(64, source.size);

for (let step = 0; step < Number(stepsArg); step++) {
  const images = await source.load(rng.permutation(source.size).subarray(0, batchSize)); // uint8 [N, C, H, W]
  const loss = tidy(() => {
    const views = t.pair(images, rng); // [2N, C, size, size]: rows i and i + N are the two views of image i
    const z = head.forward(encoder.forward(views));
    const l = ntXentLoss(z, { temperature: 0.2 });
    optimizer.zeroGrad();
    l.backward();
    optimizer.step();
    return l.item();
  });
  images.dispose();
  if (step % 5 === 0 || step === Number(stepsArg) - 1) console.log(`step ${step}: NT-Xent ${loss.toFixed(4)}`);
}

// h for downstream use: the encoder alone, in eval mode (BatchNorm uses its running statistics).
encoder.eval();
const two = await source.load([0, 1]);
const similarity = tidy(() => {
  const h = F.normalize(encoder.forward(two.float().div(255)), { dim: 1 }); // unit-norm h [2, 64]
  return h.select(0, 0).mul(h.select(0, 1)).sum().item();
});
console.log(`cosine similarity of the first two images' h: ${similarity.toFixed(3)}`);
two.dispose();
source.dispose?.();

// Feature extraction's forward pass on a run's encoder, with its BatchNorms folded into their
// convolutions (src/nn/fold.ts, what extractFeatures does) and without, alternately, in eval mode
// on batches of 500 training images; and the share of the folded forward spent in convolutions
// (libtorch's profiler). Prints JSON.
//   node dist/bench/features.js [--run runs/quickstart] [--images 20000] [--rounds 3] [--threads 2]
import { availableParallelism } from 'node:os';
import { openEvalData } from '../src/eval/evaluate.js';
import { prepareImages } from '../src/eval/features.js';
import { withBatchNormsFolded } from '../src/nn/fold.js';
import { loadEncoder } from '../src/simclr/encoder-file.js';
import { setNumThreads } from '../src/tensor/create.js';
import { noGrad, tidy, type Tensor } from '../src/tensor/tensor.js';
import { profile } from '../src/profiler.js';
import { cpuFlags } from '../src/info.js';
import { option } from './common.js';

const runDir = option('--run', 'runs/quickstart');
const images = Number(option('--images', '20000'));
const rounds = Number(option('--rounds', '3'));
const threads = Number(option('--threads', String(availableParallelism())));
setNumThreads(threads);

const { encoder, architecture, config, split } = loadEncoder(runDir);
const size = architecture.imageSize || 28;
const data = await openEvalData(config?.data ?? 'fashion-mnist', size, { recorded: split });
const batches: Tensor[] = [];
for (let start = 0; start < images; start += 500) {
  const raw = data.train.loadSync!(Int32Array.from({ length: Math.min(500, images - start) }, (_, i) => start + i));
  batches.push(tidy(() => prepareImages(raw, size).contiguous('channels_last')));
  raw.dispose();
}
encoder.eval();
const forwardAll = () => {
  for (const x of batches) noGrad(() => tidy(() => encoder.forward(x).sum().item()));
};
const imagesPerSecond = () => {
  const t = performance.now();
  forwardAll();
  return Math.round(images / ((performance.now() - t) / 1000));
};
forwardAll(); // (oneDNN creates its kernels)
const plain: number[] = [];
const folded: number[] = [];
for (let r = 0; r < rounds; r++) {
  plain.push(imagesPerSecond());
  folded.push(await withBatchNormsFolded(encoder, async () => imagesPerSecond()));
}
const operators = await withBatchNormsFolded(encoder, async () => profile(() => forwardAll()));
const total = operators.reduce((s, o) => s + o.selfMs, 0);
const convolution = operators.filter((o) => o.kind === 'convolution').reduce((s, o) => s + o.selfMs, 0);
console.log(JSON.stringify({ bench: 'features', run: runDir, images, threads, cpu: cpuFlags(), imagesPerSecond: { plain, folded }, foldedConvolutionShare: Number((convolution / total).toFixed(3)) }));
data.dispose();

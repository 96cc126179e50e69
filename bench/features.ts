// Feature extraction's forward pass on a run's encoder, with its BatchNorms folded into their
// convolutions (src/nn/fold.ts, what extractFeatures does) and without, alternately, in eval mode
// on batches of 500 training images; and the share of the folded forward spent in convolutions
// (libtorch's profiler); in every round also PyTorch's inference paths on the same architecture
// (bench/torch_features.py: eager row-major and channels-last, oneDNN's blocked layout, frozen
// TorchScript). Prints JSON.
//   node dist/bench/features.js [--run runs/quickstart] [--images 20000] [--rounds 3] [--threads 2] [--no-torch]
import { availableParallelism } from 'node:os';
import { openEvalData } from '../src/eval/evaluate.js';
import { prepareImages } from '../src/eval/features.js';
import { withBatchNormsFolded } from '../src/nn/fold.js';
import { loadEncoder } from '../src/simclr/encoder-file.js';
import { setNumThreads } from '../src/tensor/create.js';
import { noGrad, tidy, type Tensor } from '../src/tensor/tensor.js';
import { profile } from '../src/profiler.js';
import { cpuFlags } from '../src/info.js';
import { median, option, runTorch } from './common.js';

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
const torch: { imagesPerSecond: Record<string, number> }[] = [];
const withTorch = !process.argv.includes('--no-torch');
const { depth, width, cifarStem, inChannels } = architecture;
const torchArgs = [threads, images, 1, depth, width, cifarStem ? 1 : 0, inChannels, size].map(String);
for (let r = 0; r < rounds; r++) {
  plain.push(imagesPerSecond());
  folded.push(await withBatchNormsFolded(encoder, async () => imagesPerSecond()));
  const t = withTorch ? (runTorch('torch_features.py', torchArgs) as (typeof torch)[number] | null) : null;
  if (t !== null) torch.push(t);
}
// PyTorch's fastest path in each round against this round's folded forward
const torchBest = torch.map((t) => Math.max(...Object.values(t.imagesPerSecond)));
const operators = await withBatchNormsFolded(encoder, async () => profile(() => forwardAll()));
const total = operators.reduce((s, o) => s + o.selfMs, 0);
const convolution = operators.filter((o) => o.kind === 'convolution').reduce((s, o) => s + o.selfMs, 0);
console.log(JSON.stringify({ bench: 'features', run: runDir, images, threads, cpu: cpuFlags(), imagesPerSecond: { plain, folded }, foldedConvolutionShare: Number((convolution / total).toFixed(3)), pytorch: torch.length === 0 ? null : { rounds: torch, fastest: torchBest, foldedOverFastest: median(folded.map((f, r) => f / torchBest[r]!)) } }));
data.dispose();

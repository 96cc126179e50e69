// Feature extraction's forward pass, engine by engine, in eval mode on batches of 500 images, in
// alternating rounds: libtorch unfolded and with its BatchNorms folded into their convolutions,
// ONNX Runtime as extractFeatures runs it (src/eval/engine.ts: the exported graph, folded, built in
// memory, libtorch's thread count), a plain onnxruntime-node session of the same graph (its
// defaults, all cores) and the int8 engine (the graph quantised, calibrated on the first batch);
// the share of libtorch's folded forward spent in convolutions (its profiler); and in every round PyTorch's inference paths on the same architecture (bench/torch_features.py:
// eager row-major and channels-last, oneDNN's blocked layout, frozen TorchScript). Prints JSON.
//   node dist/bench/features.js [--run runs/quickstart] [--images 20000] [--rounds 3] [--threads 2] [--no-torch]
//   node dist/bench/features.js --channels 3 --size 96 [--depth 18 --width 0.25 --cifar-stem 1]
// (the second form: a random-init encoder of that architecture on random images: the speed does not depend on either)
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { openEvalData } from '../src/eval/evaluate.js';
import { prepareImages } from '../src/eval/features.js';
import { withFeatureEngine } from '../src/eval/engine.js';
import { exportOnnx } from '../src/export/onnx.js';
import { withBatchNormsFolded } from '../src/nn/fold.js';
import { loadEncoder, randomEncoder, type Architecture } from '../src/simclr/encoder-file.js';
import { manualSeed, rand, setNumThreads } from '../src/tensor/create.js';
import { noGrad, tidy, type Tensor } from '../src/tensor/tensor.js';
import { profile } from '../src/profiler.js';
import { cpuFlags } from '../src/info.js';
import { median, option, runTorch } from './common.js';

const synthetic = option('--size', '') !== '';
const runDir = synthetic ? null : option('--run', 'runs/quickstart');
const images = Number(option('--images', '20000'));
const rounds = Number(option('--rounds', '3'));
const threads = Number(option('--threads', String(availableParallelism())));
setNumThreads(threads);

let architecture: Architecture;
let encoder;
const batches: Tensor[] = [];
if (runDir === null) {
  architecture = { depth: Number(option('--depth', '18')) as Architecture['depth'], width: Number(option('--width', '0.25')), cifarStem: option('--cifar-stem', '1') === '1', inChannels: Number(option('--channels', '3')) as 1 | 3, imageSize: Number(option('--size', '32')) };
  encoder = randomEncoder(architecture, 0);
  manualSeed(1);
  for (let start = 0; start < images; start += 500) batches.push(rand([Math.min(500, images - start), architecture.inChannels, architecture.imageSize, architecture.imageSize]));
} else {
  const loaded = loadEncoder(runDir);
  ({ encoder, architecture } = loaded);
  architecture.imageSize ||= 28;
  const data = await openEvalData(loaded.config?.data ?? 'fashion-mnist', architecture.imageSize, { recorded: loaded.split });
  for (let start = 0; start < images; start += 500) {
    const raw = data.train.loadSync!(Int32Array.from({ length: Math.min(500, images - start) }, (_, i) => start + i));
    batches.push(prepareImages(raw, architecture.imageSize));
    raw.dispose();
  }
  data.dispose();
}
const size = architecture.imageSize;
encoder.eval();

const rate = async (forward: (x: Tensor) => Promise<unknown> | unknown) => {
  const t = performance.now();
  for (const x of batches) await forward(x);
  return Math.round(images / ((performance.now() - t) / 1000));
};
// (the images as extractFeatures has them, row-major; each engine takes them in its own layout: channels-last for libtorch)
const libtorchForward = (x: Tensor) => noGrad(() => tidy(() => encoder.forward(x.contiguous('channels_last')).sum().item()));
// ONNX Runtime as extractFeatures uses it (input copied out of libtorch, h copied back in), after one untimed batch (its first run plans its memory)
const engineRate = () =>
  withFeatureEngine(encoder, { size, choice: 'onnxruntime', first: null, batches: batches.length }, async (engine) => {
    (await engine.forward(batches[0]!)).dispose();
    return rate(async (x) => (await engine.forward(x)).dispose());
  });
// the int8 engine (calibrated once, on the first batch), as embed --engine int8 runs it
const int8Rate = () =>
  withFeatureEngine(encoder, { size, choice: 'int8', first: batches[0]!, batches: batches.length }, async (engine) => {
    (await engine.forward(batches[0]!)).dispose();
    return rate(async (x) => (await engine.forward(x)).dispose());
  });
// a plain session of the same graph: onnxruntime-node's defaults but the threads, float32 arrays made once
const plain = await ort.InferenceSession.create(exportOnnx(encoder, { imageSize: size, foldBatchNorm: true }), { intraOpNumThreads: threads });
const feeds = batches.map((x) => ({ images: new ort.Tensor('float32', x.toArray() as Float32Array, x.shape) }));
const plainRate = async () => {
  const t = performance.now();
  for (const f of feeds) await plain.run(f);
  return Math.round(images / ((performance.now() - t) / 1000));
};

// (one untimed pass of each first: oneDNN creates its kernels, ONNX Runtime plans its memory)
await rate(libtorchForward);
await engineRate();
await int8Rate();
await plainRate();
const results = { libtorch: [] as number[], libtorchFolded: [] as number[], onnxruntime: [] as number[], onnxruntimePlain: [] as number[], int8: [] as number[] };
const torch: { imagesPerSecond: Record<string, number> }[] = [];
const withTorch = !process.argv.includes('--no-torch');
const { depth, width, cifarStem, inChannels } = architecture;
const torchArgs = [threads, images, 1, depth, width, cifarStem ? 1 : 0, inChannels, size].map(String);
for (let r = 0; r < rounds; r++) {
  results.libtorch.push(await rate(libtorchForward));
  results.libtorchFolded.push(await withBatchNormsFolded(encoder, () => rate(libtorchForward)));
  results.onnxruntime.push(await engineRate());
  results.onnxruntimePlain.push(await plainRate());
  results.int8.push(await int8Rate());
  const t = withTorch ? (runTorch('torch_features.py', torchArgs) as (typeof torch)[number] | null) : null;
  if (t !== null) torch.push(t);
}
await plain.release();
// PyTorch's fastest path in each round against this round's folded forward
const torchBest = torch.map((t) => Math.max(...Object.values(t.imagesPerSecond)));
const operators = await withBatchNormsFolded(encoder, async () => profile(() => batches.forEach(libtorchForward)));
const total = operators.reduce((s, o) => s + o.selfMs, 0);
const convolution = operators.filter((o) => o.kind === 'convolution').reduce((s, o) => s + o.selfMs, 0);
console.log(
  JSON.stringify({
    bench: 'features',
    encoder: runDir ?? 'random-init',
    architecture,
    images,
    threads,
    cpu: cpuFlags(),
    imagesPerSecond: results,
    onnxruntimeOverLibtorchFolded: median(results.onnxruntime.map((o, r) => o / results.libtorchFolded[r]!)),
    engineOverPlainSession: median(results.onnxruntime.map((o, r) => o / results.onnxruntimePlain[r]!)),
    int8OverOnnxruntime: median(results.int8.map((o, r) => o / results.onnxruntime[r]!)),
    foldedConvolutionShare: Number((convolution / total).toFixed(3)),
    pytorch: torch.length === 0 ? null : { rounds: torch, fastest: torchBest, foldedOverFastest: median(results.libtorchFolded.map((f, r) => f / torchBest[r]!)) },
  }),
);
for (const x of batches) x.dispose();

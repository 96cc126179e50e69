// The int8 engine against the float ones on a run's encoder: the features of its training and test
// splits by libtorch, by ONNX Runtime (float) and by int8 (calibrated on up to 1,000 training images,
// the test split quantised with the same ranges), each engine's images per second on the training
// split, h's relative difference from libtorch's, and the kNN accuracy (k 200, τ 0.1, as eval) of
// each on the test split. Rounds alternate the engines. Prints JSON.
//   node dist/bench/int8.js [--run runs/quickstart] [--rounds 2] [--threads 2]
import { availableParallelism } from 'node:os';
import { openEvalData } from '../src/eval/evaluate.js';
import { extractFeatures, type Features } from '../src/eval/features.js';
import { knnAccuracy } from '../src/eval/knn.js';
import { loadEncoder } from '../src/simclr/encoder-file.js';
import { setNumThreads } from '../src/tensor/create.js';
import { tidy } from '../src/tensor/tensor.js';
import { cpuFlags } from '../src/info.js';
import { median, option } from './common.js';

const runDir = option('--run', 'runs/quickstart');
const rounds = Number(option('--rounds', '2'));
const threads = Number(option('--threads', String(availableParallelism())));
setNumThreads(threads);

const { encoder, architecture, config, split } = loadEncoder(runDir);
const size = architecture.imageSize || 28;
const data = await openEvalData(config?.data ?? 'fashion-mnist', size, { recorded: split });
const engines = ['libtorch', 'onnxruntime', 'int8'] as const;
const rates: Record<string, number[]> = Object.fromEntries(engines.map((e) => [e, []]));
const features: Partial<Record<(typeof engines)[number], { train: Features; test: Features }>> = {};
for (let r = 0; r < rounds; r++) {
  for (const engine of engines) {
    const t = performance.now();
    const train = await extractFeatures(encoder, data.train, { size, engine, label: null });
    rates[engine]!.push(Math.round(data.train.size / ((performance.now() - t) / 1000)));
    if (features[engine] === undefined) features[engine] = { train, test: await extractFeatures(encoder, data.test, { size, engine, label: null }) };
    else train.features.dispose();
  }
}
const reference = features.libtorch!.train.features;
const results = Object.fromEntries(
  engines.map((engine) => {
    const { train, test } = features[engine]!;
    const relative = tidy(() => train.features.sub(reference).norm().item() / reference.norm().item());
    const knn = knnAccuracy(train.features, train.labels!, test.features, test.labels!, { label: null });
    return [engine, { imagesPerSecond: rates[engine], relativeDifference: Number(relative.toPrecision(3)), knn: Number((100 * knn).toFixed(2)), record: train.engine }];
  }),
);
console.log(
  JSON.stringify({
    bench: 'int8',
    run: runDir,
    architecture,
    trainImages: data.train.size,
    testImages: data.test.size,
    threads,
    cpu: cpuFlags(),
    engines: results,
    int8OverOnnxruntime: median(rates.int8!.map((v, i) => v / rates.onnxruntime![i]!)),
    int8OverLibtorch: median(rates.int8!.map((v, i) => v / rates.libtorch![i]!)),
    knnChange: Number((results.int8!.knn - results.libtorch!.knn).toFixed(2)),
  }),
);
for (const f of Object.values(features)) for (const t of [f.train, f.test]) t.features.dispose();
data.dispose();

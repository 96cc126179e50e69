// The main job's evaluation phase, timed piece by piece: the features of the trained encoder, of a
// random-init encoder and raw pixels, each scored by kNN and the linear probe with all labels and
// with 1% of them (3 draws), as `simclr quickstart` does after pretraining.
//   node dist/bench/eval.js [--run runs/quickstart] [--threads 2] [--probe-iterations N]
// (--probe-iterations: the linear probes' L-BFGS iterations instead of their default, e.g. 1000 for
// a reference near the minimum)
import { availableParallelism } from 'node:os';
import { openEvalData, pixelFeatures, runProtocol } from '../src/eval/evaluate.js';
import { encoderFeatures } from '../src/eval/compare.js';
import type { Features } from '../src/eval/features.js';
import { loadEncoder, randomEncoder } from '../src/simclr/encoder-file.js';
import { setNumThreads } from '../src/tensor/create.js';
import { cpuFlags } from '../src/info.js';
import { option } from './common.js';

const runDir = option('--run', 'runs/quickstart');
const threads = Number(option('--threads', String(availableParallelism())));
const probeIterations = option('--probe-iterations', '');
const maxIterations = probeIterations === '' ? undefined : Number(probeIterations);
setNumThreads(threads);

const loaded = loadEncoder(runDir);
const size = loaded.architecture.imageSize || 28;
const data = await openEvalData(loaded.config?.data ?? 'fashion-mnist', size, { recorded: loaded.split });
const seed = loaded.config?.seed ?? 0;
const random = randomEncoder(loaded.architecture, seed);
const sets: [string, (split: 'train' | 'test') => Promise<Features>][] = [
  ['simclr', encoderFeatures(loaded.encoder, 'simclr', data, size)],
  ['random-init encoder', encoderFeatures(random, 'random-init encoder', data, size)],
  ['raw pixels', (s) => pixelFeatures(data[s], size)],
];
const seconds = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(2));

const t0 = performance.now();
const rows = [];
for (const [name, features] of sets) {
  let t = performance.now();
  const train = await features('train');
  const test = await features('test');
  const row: Record<string, unknown> = { features: name, dim: train.features.size(1), extractSeconds: seconds(t) };
  for (const [column, protocol, fraction] of [['knn', 'knn', 1], ['linear', 'linear', 1], ['fewKnn', 'knn', 0.01], ['fewLinear', 'linear', 0.01]] as const) {
    t = performance.now();
    const r = runProtocol(protocol, train, test, { fraction, draws: 3, seed, maxIterations, label: null });
    row[column] = { accuracy: r.accuracy, ...(fraction < 1 ? { accuracies: r.accuracies } : {}), seconds: seconds(t) };
  }
  train.features.dispose();
  test.features.dispose();
  rows.push(row);
  console.error(JSON.stringify(row));
}
console.log(JSON.stringify({ bench: 'eval', run: runDir, threads, probeIterations: maxIterations ?? 'default', cpu: cpuFlags(), totalSeconds: seconds(t0), rows }));
data.dispose();
random.dispose();

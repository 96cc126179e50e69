// simclr eval: kNN or linear evaluation of a trained encoder (or of a baseline); one JSON line.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractFeatures } from '../eval/features.js';
import { disposeEvalData, openEvalData, pixelFeatures, runProtocol, type Protocol } from '../eval/evaluate.js';
import { loadEncoder, randomEncoder } from '../simclr/encoder-file.js';
import { setNumThreads } from '../tensor/create.js';
import { finetune } from '../eval/finetune.js';
import { UsageError, type Flags, type Parsed } from './args.js';

export const evalFlags = {
  checkpoint: { type: 'string', default: '', help: 'run folder, pretraining checkpoint or encoder.safetensors (not needed for --baseline pixels)' },
  data: { type: 'string', default: '', help: 'labelled data with a test split (default: the data the encoder was trained on)' },
  protocol: { type: 'string', default: 'knn', choices: ['knn', 'linear', 'finetune'], help: 'knn: k-NN on h; linear: logistic regression on frozen h; finetune: encoder and classifier trained on a label fraction' },
  fraction: { type: 'number', default: 0.1, check: (v) => (v > 0 && v <= 1 ? null : 'must be in (0, 1]'), help: 'finetune: share of the training labels (class-balanced, seeded; paper: 0.01, 0.1)' },
  epochs: { type: 'int', default: 30, check: (v) => (v > 0 ? null : 'must be positive'), help: 'finetune: epochs (paper: 60 for 1%, 30 for 10%)' },
  'batch-size': { type: 'int', default: 256, check: (v) => (v > 0 ? null : 'must be positive'), help: 'finetune: batch size (lr 0.05·B/256, Nesterov momentum, no weight decay)' },
  'head-layer': { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'finetune: start from head layer k of the projection head (0: from h)' },
  baseline: { type: 'string', default: 'none', choices: ['none', 'random', 'pixels'], help: 'evaluate a baseline instead: the same encoder randomly initialised, or raw pixels' },
  k: { type: 'int', default: 200, check: (v) => (v > 0 ? null : 'must be positive'), help: 'neighbours of kNN' },
  temperature: { type: 'number', default: 0.1, check: (v) => (v > 0 ? null : 'must be positive'), help: 'kNN vote weight exp(sim / temperature)' },
  'image-size': { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'input size (0: the size the encoder was trained on)' },
  out: { type: 'string', default: '', help: 'JSON file for the result (default: eval-<protocol>.json in the run folder)' },
  seed: { type: 'int', default: 0, help: 'seed of the held-out split and of the random baseline' },
  threads: { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'libtorch threads (0: all cores)' },
} satisfies Flags;

export async function evalCommand(o: Parsed<typeof evalFlags>): Promise<number> {
  if (o.threads > 0) setNumThreads(o.threads);
  const protocol = o.protocol as Protocol | 'finetune';
  if (o.baseline !== 'pixels' && !o.checkpoint) throw new UsageError('eval: --checkpoint is required (or --baseline pixels with --data)');
  const loaded = o.checkpoint ? loadEncoder(o.checkpoint) : null;
  const data = o.data || loaded?.config?.data || '';
  if (!data) throw new UsageError('eval: --data is required for this encoder');
  const size = o['image-size'] || loaded?.architecture.imageSize || 32;
  const split = await openEvalData(data, size);
  const encoder = o.baseline === 'random' ? randomEncoder(loaded!.architecture, o.seed) : loaded?.encoder ?? null;
  const features = async (which: 'train' | 'test') =>
    o.baseline === 'pixels' || encoder === null ? pixelFeatures(split[which], size) : extractFeatures(encoder, split[which], { size });
  if (protocol === 'finetune') {
    if (encoder === null) throw new UsageError('eval: --protocol finetune needs an encoder (not --baseline pixels)');
    const head = o['head-layer'] > 0 ? loaded?.model?.head ?? null : null;
    if (o['head-layer'] > 0 && head === null) throw new UsageError('eval: --head-layer needs a pretraining checkpoint, which holds the head');
    if (head !== null && o['head-layer'] > head.blocks.length) throw new UsageError(`eval: --head-layer must be at most ${head.blocks.length}`);
    const featureDim = head === null ? (encoder as unknown as { featureDim: number }).featureDim : o['head-layer'] === head.blocks.length ? head.outputDim : head.hiddenDim;
    const r = await finetune(encoder, split.train, split.test, {
      fraction: o.fraction,
      epochs: o.epochs,
      batchSize: o['batch-size'],
      size,
      featureDim,
      head,
      headLayers: o['head-layer'],
      seed: o.seed,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    disposeEvalData(split);
    const line = JSON.stringify({ protocol, accuracy: r.accuracy, fraction: o.fraction, trainImages: r.trainImages, epochs: o.epochs, headLayer: o['head-layer'], baseline: o.baseline, checkpoint: o.checkpoint || null, data });
    const outFile = o.out || (loaded?.runDir ? join(loaded.runDir, `eval-finetune-${o.fraction}${o.baseline === 'none' ? '' : `-${o.baseline}`}.json`) : '');
    if (outFile) writeFileSync(outFile, `${line}\n`);
    console.log(line);
    return 0;
  }
  const train = await features('train');
  const test = await features('test');
  const result = {
    ...runProtocol(protocol as 'knn' | 'linear', train, test, { k: o.k, temperature: o.temperature, seed: o.seed }),
    baseline: o.baseline,
    checkpoint: o.checkpoint || null,
    data,
    train: train.features.size(0),
    test: test.features.size(0),
    featureDim: train.features.size(1),
  };
  train.features.dispose();
  test.features.dispose();
  disposeEvalData(split);
  const line = JSON.stringify(result);
  const outFile = o.out || (loaded?.runDir ? join(loaded.runDir, `eval-${protocol}${o.baseline === 'none' ? '' : `-${o.baseline}`}.json`) : '');
  if (outFile) writeFileSync(outFile, `${line}\n`);
  console.log(line);
  return 0;
}

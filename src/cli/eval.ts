// simclr eval: kNN, linear evaluation (L-BFGS probe or the paper's SGD protocol) or fine-tuning of a
// trained encoder (or of a baseline); one JSON line.
import { join } from 'node:path';
import { extractFeatures, type Features } from '../eval/features.js';
import type { EngineRecord } from '../eval/engine.js';
import { augmentedFeatures, fixedFeatures, linearSgd } from '../eval/linear-sgd.js';
import { meanStd, openEvalData, PIXEL_SIDE, pixelFeatures, runProtocol, splitSummary, type Protocol } from '../eval/evaluate.js';
import { BaselineCache, baselineKey } from '../eval/baseline-cache.js';
import { engineFlag, testFraction } from './pretrain-flags.js';
import { loadEncoder, randomEncoder, runDataOptions, type LoadedEncoder } from '../simclr/encoder-file.js';
import type { ResNet } from '../models/resnet.js';
import type { ProjectionHead } from '../models/projection-head.js';
import { warning } from '../progress.js';
import { setNumThreads } from '../tensor/create.js';
import { finetune } from '../eval/finetune.js';
import { UsageError, type Flags, type Parsed } from './args.js';
import { checkOutputFile } from './output.js';
import { writeFileAtomic } from '../io/atomic.js';

export const evalFlags = {
  checkpoint: { type: 'string', default: '', help: 'all: run folder, pretraining checkpoint or encoder.safetensors (not needed for --baseline pixels)' },
  data: { type: 'string', default: '', help: 'all: labelled data with a test split (default: the data the encoder was trained on)' },
  protocol: { type: 'string', default: 'knn', choices: ['knn', 'linear', 'finetune'], help: 'knn: k-NN on h; linear: a linear classifier on frozen h (see --solver); finetune: encoder and classifier trained on a label fraction' },
  solver: { type: 'string', default: 'lbfgs', choices: ['lbfgs', 'sgd'], help: 'linear: lbfgs: logistic regression on standardised h, L2 chosen on held-out data (5-fold cross-validation below 10,000 labels), full-batch L-BFGS; sgd: the paper\'s protocol, Linear on raw h, Nesterov SGD, lr 0.1·B/256, cosine decay' },
  augment: { type: 'boolean', default: false, help: 'linear with --solver sgd: random resized crop and flip of every training image at every step (the encoder re-run on each batch)' },
  'weight-decay': { type: 'number', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'linear with --solver sgd: L2 weight decay on the classifier weights' },
  fraction: { type: 'number', default: 0, check: (v) => (v >= 0 && v <= 1 ? null : 'must be in (0, 1], or 0 for the protocol\'s default'), help: 'all: share of the training labels used, class-balanced and seeded, scored on the whole test split (the paper\'s semi-supervised settings: 0.01, 0.1; 0: knn and linear 1, finetune 0.1)' },
  draws: { type: 'int', default: 3, check: (v) => (v > 0 ? null : 'must be positive'), help: 'all: label draws averaged (mean ± std) when --fraction is below 1; disjoint while the classes have images enough' },
  'test-fraction': { type: 'number', default: 0.1, check: testFraction, help: 'all: labelled data without a test split: share of each class held out as the test split (a run folder\'s own split.json wins)' },
  'split-seed': { type: 'int', default: 0, help: 'all: seed of the held-out test split (a run folder\'s own split.json wins)' },
  'skip-bad': { type: 'boolean', default: false, help: 'all: skip unreadable images with a warning (the run\'s own data: as its pretraining did)' },
  epochs: { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'finetune, linear with --solver sgd: epochs (0: the protocol\'s default, finetune 30 (paper: 60 for 1%, 30 for 10%), linear sgd 90)' },
  'batch-size': { type: 'int', default: 256, check: (v) => (v > 0 ? null : 'must be positive'), help: 'finetune (lr 0.05·B/256), linear with --solver sgd (lr 0.1·B/256): batch size' },
  'head-layer': { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'finetune: start from head layer k of the projection head (0: from h)' },
  baseline: { type: 'string', default: 'none', choices: ['none', 'random', 'pixels'], help: 'all: evaluate a baseline instead: the same encoder randomly initialised, or raw pixels' },
  k: { type: 'int', default: 200, check: (v) => (v > 0 ? null : 'must be positive'), help: 'knn: neighbours' },
  temperature: { type: 'number', default: 0.1, check: (v) => (v > 0 ? null : 'must be positive'), help: 'knn: vote weight exp(sim / temperature)' },
  'image-size': { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'all: input size (0: the size the encoder was trained on)' },
  out: { type: 'string', default: '', help: 'all: JSON file for the result (default: eval-<protocol>[-sgd][-<fraction>][-<baseline>].json in the run folder)' },
  seed: { type: 'int', default: 0, help: 'all: seed of the label fraction and its draws, the linear probe\'s validation split (lbfgs), the data order and crops (finetune, linear sgd), the random baseline' },
  threads: { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'all: libtorch threads (0: all cores)' },
  ...engineFlag,
} satisfies Flags;

type EvalOptions = Parsed<typeof evalFlags>;

/** The protocol-specific flags: which protocol (and linear solver) uses each. */
const usedBy: Partial<Record<keyof typeof evalFlags, { what: string; uses: (o: EvalOptions) => boolean }>> = {
  solver: { what: '--protocol linear', uses: (o) => o.protocol === 'linear' },
  augment: { what: '--protocol linear --solver sgd', uses: (o) => o.protocol === 'linear' && o.solver === 'sgd' },
  'weight-decay': { what: '--protocol linear --solver sgd', uses: (o) => o.protocol === 'linear' && o.solver === 'sgd' },
  epochs: { what: '--protocol finetune, or linear with --solver sgd', uses: (o) => o.protocol === 'finetune' || (o.protocol === 'linear' && o.solver === 'sgd') },
  'batch-size': { what: '--protocol finetune, or linear with --solver sgd', uses: (o) => o.protocol === 'finetune' || (o.protocol === 'linear' && o.solver === 'sgd') },
  'head-layer': { what: '--protocol finetune', uses: (o) => o.protocol === 'finetune' },
  k: { what: '--protocol knn', uses: (o) => o.protocol === 'knn' },
  temperature: { what: '--protocol knn', uses: (o) => o.protocol === 'knn' },
};

/** A UsageError for a protocol-specific flag given (or set off its default) where it does not apply. */
function checkCombination(o: EvalOptions, given: ReadonlySet<string>): void {
  for (const [name, rule] of Object.entries(usedBy) as [keyof typeof evalFlags, { what: string; uses: (o: EvalOptions) => boolean }][]) {
    const set = given.has(name) || o[name] !== evalFlags[name].default;
    if (set && !rule.uses(o)) {
      const current = o.protocol === 'linear' ? `--protocol linear --solver ${o.solver}` : `--protocol ${o.protocol}`;
      throw new UsageError(`eval: --${name} applies to ${rule.what} only (not ${current})`);
    }
  }
}

export async function evalCommand(o: EvalOptions, given: ReadonlySet<string> = new Set()): Promise<number> {
  checkCombination(o, given);
  if (o.threads > 0) setNumThreads(o.threads);
  const protocol = o.protocol as Protocol | 'finetune';
  const epochs = o.epochs || (protocol === 'finetune' ? 30 : 90);
  const fraction = o.fraction || (protocol === 'finetune' ? 0.1 : 1);
  const draws = fraction < 1 ? o.draws : 1;
  if (o.baseline !== 'pixels' && !o.checkpoint) throw new UsageError('eval: --checkpoint is required (or --baseline pixels with --data)');
  if (o.out) checkOutputFile('--out', o.out);
  const loaded = o.checkpoint ? loadEncoder(o.checkpoint) : null;
  const data = o.data || loaded?.config?.data || '';
  if (!data) throw new UsageError('eval: --data is required for this encoder');
  const size = o['image-size'] || loaded?.architecture.imageSize || 32;
  const recorded = recordedSplit(loaded, data, o, given);
  const runOptions = loaded === null ? { skipBad: o['skip-bad'] } : runDataOptions(loaded, data, o['skip-bad']);
  const split = await openEvalData(data, size, { testFraction: o['test-fraction'], splitSeed: o['split-seed'], ...runOptions, recorded });
  if (split.split.kind === 'held-out' && loaded?.runDir && recorded === null && loaded.config?.data === data) {
    warning(`simclr: ${loaded.runDir} has no split.json: its pretraining predates held-out splits and saw every image of ${data}, the held-out test images included`);
  }
  const common = { baseline: o.baseline, checkpoint: o.checkpoint || null, data, split: splitSummary(split.split) };
  const encoder = o.baseline === 'random' ? randomEncoder(loaded!.architecture, o.seed) : loaded?.encoder ?? null;
  // (the engine that computed the encoder's first features: the one that measured, under auto)
  let engine: EngineRecord | null = null;
  const features = async (which: 'train' | 'test') => {
    if (o.baseline === 'pixels' || encoder === null) return pixelFeatures(split[which], size);
    const f = await extractFeatures(encoder, split[which], { size, label: `features of the ${which === 'train' ? 'training' : 'test'} split` });
    engine ??= f.engine ?? null;
    return f;
  };
  try {
    if (protocol === 'finetune') {
      if (encoder === null) throw new UsageError('eval: --protocol finetune needs an encoder (not --baseline pixels)');
      const head = o['head-layer'] > 0 ? loaded?.model?.head ?? null : null;
      if (o['head-layer'] > 0 && head === null) throw new UsageError('eval: --head-layer needs a pretraining checkpoint, which holds the head');
      if (head !== null && o['head-layer'] > head.blocks.length) throw new UsageError(`eval: --head-layer must be at most ${head.blocks.length}`);
      const featureDim = head === null ? (encoder as unknown as { featureDim: number }).featureDim : o['head-layer'] === head.blocks.length ? head.outputDim : head.hiddenDim;
      const accuracies: number[] = [];
      let trainImages = 0;
      for (let draw = 0; draw < draws; draw++) {
        // fine-tuning changes the encoder (and head): every draw starts from the saved weights
        const fresh = draw === 0 ? { encoder, head } : freshCopy(o, loaded!);
        const r = await finetune(fresh.encoder, split.train, split.test, { fraction, epochs, batchSize: o['batch-size'], size, featureDim, head: fresh.head, headLayers: o['head-layer'], seed: o.seed, draw });
        accuracies.push(r.accuracy);
        trainImages = r.trainImages;
        if (draw > 0) fresh.encoder.dispose();
      }
      const { mean, std } = meanStd(accuracies);
      const name = `eval-finetune-${fraction}${o.baseline === 'none' ? '' : `-${o.baseline}`}`;
      return finish(name, { protocol, accuracy: mean, std, accuracies, fraction, draws, trainImages, epochs, headLayer: o['head-layer'], ...common });
    }
    if (protocol === 'linear' && o.solver === 'sgd') {
      if (fraction < 1) throw new UsageError('eval: --fraction below 1 applies to knn, linear with --solver lbfgs, and finetune');
      const test = await features('test');
      if (test.labels === null) throw new Error('evaluation needs labels');
      const dim = test.features.size(1);
      let train: Features | null = null;
      try {
        if (!o.augment) train = await features('train');
        const source = o.augment ? augmentedFeatures(split.train, encoder, { size, dim, seed: o.seed }) : fixedFeatures(train!.features, train!.labels!);
        const r = await linearSgd(source, { features: test.features, labels: test.labels }, { epochs, batchSize: o['batch-size'], weightDecay: o['weight-decay'], seed: o.seed });
        return finish(`eval-linear-sgd${o.baseline === 'none' ? '' : `-${o.baseline}`}`, {
          protocol,
          solver: 'sgd',
          accuracy: r.accuracy,
          epochs: r.epochs,
          batchSize: r.batchSize,
          lr: r.lr,
          weightDecay: r.weightDecay,
          augment: o.augment,
          trainLoss: r.trainLoss,
          ...common,
          train: source.size,
          test: test.features.size(0),
          featureDim: dim,
        });
      } finally {
        train?.features.dispose();
        test.features.dispose();
      }
    }
    const name = `eval-${protocol}${fraction < 1 ? `-${fraction}` : ''}${o.baseline === 'none' ? '' : `-${o.baseline}`}`;
    const solver = protocol === 'linear' ? { solver: 'lbfgs' } : {};
    // A baseline's score does not depend on any pretraining: from the baseline cache when it has it.
    const cache = new BaselineCache();
    const key = o.baseline === 'none' ? null : await baselineKey(o.baseline === 'random' ? 'random-init encoder' : 'raw pixels', encoder, split, { size, protocol: protocol as Protocol, fraction, draws, seed: o.seed, k: o.k, temperature: o.temperature });
    const hit = key === null ? null : cache.get(key);
    if (hit !== null) {
      const featureDim = o.baseline === 'random' ? (encoder as ResNet).featureDim : split.train.imageShape[0] * Math.min(size, PIXEL_SIDE) ** 2;
      return finish(name, { ...hit, ...solver, ...common, test: split.test.size, featureDim, cached: cache.file(key!) });
    }
    const train = await features('train');
    const test = await features('test');
    try {
      const result = runProtocol(protocol as 'knn' | 'linear', train, test, { k: o.k, temperature: o.temperature, seed: o.seed, fraction, draws });
      if (key !== null) cache.put(key, result);
      return finish(name, { ...result, ...solver, ...common, test: test.features.size(0), featureDim: train.features.size(1) });
    } finally {
      train.features.dispose();
      test.features.dispose();
    }
  } finally {
    split.dispose();
  }

  function finish(name: string, result: Record<string, unknown>): number {
    const line = JSON.stringify(engine === null ? result : { ...result, engine });
    const outFile = o.out || (loaded?.runDir ? join(loaded.runDir, `${name}.json`) : '');
    if (outFile) writeFileAtomic(outFile, [Buffer.from(`${line}\n`)]);
    console.log(line);
    return 0;
  }
}

/**
 * The split the encoder's run recorded, when evaluating on the run's own data: its held-out test
 * images are exactly the ones its pretraining never saw. Asking for another split is an error.
 */
function recordedSplit(loaded: LoadedEncoder | null, data: string, o: EvalOptions, given: ReadonlySet<string>) {
  const record = loaded?.split ?? null;
  if (record === null || record.data !== data) return null;
  if (record.kind === 'held-out') {
    for (const [flag, value] of [['test-fraction', record.testFraction], ['split-seed', record.seed]] as const) {
      if (given.has(flag) && o[flag] !== value) throw new UsageError(`eval: --${flag} ${o[flag]} differs from the split ${loaded!.runDir} was pretrained with (${value}; split.json): its other images were trained on`);
    }
  }
  return record;
}

/** A new copy of the encoder being evaluated (and of its head), for another fine-tuning draw. */
function freshCopy(o: EvalOptions, loaded: LoadedEncoder): { encoder: ResNet; head: ProjectionHead | null } {
  if (o.baseline === 'random') return { encoder: randomEncoder(loaded.architecture, o.seed), head: null };
  const again = loadEncoder(o.checkpoint);
  return { encoder: again.encoder, head: o['head-layer'] > 0 ? again.model?.head ?? null : null };
}

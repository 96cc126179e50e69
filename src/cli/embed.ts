// simclr embed: features h (and z on request) of a data set, with labels and the data order.
import { openSource } from '../data/open.js';
import { engineFlagInt8, testFraction } from './pretrain-flags.js';
import { extractFeatures } from '../eval/features.js';
import { saveSafetensors } from '../io/safetensors.js';
import { loadEncoder, runDataOptions, type LoadedEncoder } from '../simclr/encoder-file.js';
import type { DataSource } from '../data/source.js';
import { tensor } from '../tensor/create.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { UsageError, type Flags, type Parsed } from './args.js';
import { checkOutputFile } from './output.js';

/** The flags that choose the images an encoder reads (embed, index). */
export const encoderDataFlags = {
  checkpoint: { type: 'string', help: 'run folder, pretraining checkpoint or encoder.safetensors' },
  data: { type: 'string', default: '', help: 'the images (default: the data the encoder was trained on)' },
  split: { type: 'string', default: 'train', choices: ['train', 'test'], help: 'split of data sets that have one' },
  'image-size': { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'input size (0: the size the encoder was trained on)' },
  'test-fraction': { type: 'number', default: 0.1, check: testFraction, help: 'labelled data without a test split: share of each class held out as the test split (a run folder\'s own split.json wins)' },
  'split-seed': { type: 'int', default: 0, help: 'seed of the held-out test split (a run folder\'s own split.json wins)' },
  'skip-bad': { type: 'boolean', default: false, help: 'skip unreadable images with a warning (the run\'s own data: as its pretraining did)' },
  ...engineFlagInt8,
} satisfies Flags;

/** The images the encoder-data flags choose, at the encoder's input size. */
export async function openEncoderData(command: string, loaded: LoadedEncoder, o: Parsed<typeof encoderDataFlags>): Promise<{ source: DataSource; size: number }> {
  const data = o.data || loaded.config?.data || '';
  if (!data) throw new UsageError(`${command}: --data is required for this encoder`);
  const size = o['image-size'] || loaded.architecture.imageSize || 32;
  // the run's own split (so that `--split test` gives the images its pretraining held out) and data options
  return { source: await openSource(data, { split: o.split as 'train' | 'test', size, testFraction: o['test-fraction'], splitSeed: o['split-seed'], ...runDataOptions(loaded, data, o['skip-bad']) }), size };
}

export const embedFlags = {
  ...encoderDataFlags,
  out: { type: 'string', default: 'features.safetensors', help: 'safetensors file: h [N, D], z [N, d] with --z, labels [N], index [N]' },
  z: { type: 'boolean', default: false, help: 'also write z = g(h) (needs a pretraining checkpoint, which holds the head)' },
} satisfies Flags;

export async function embedCommand(o: Parsed<typeof embedFlags>): Promise<number> {
  checkOutputFile('--out', o.out);
  const loaded = loadEncoder(o.checkpoint);
  if (o.z && loaded.model === null) throw new UsageError('embed: --z needs a pretraining checkpoint or run folder (an encoder file has no head)');
  const { source, size } = await openEncoderData('embed', loaded, o);
  const { features, labels, indices, engine } = await extractFeatures(loaded.encoder, source, { size });
  const tensors: Record<string, Tensor> = { h: features, index: tensor(indices, { dtype: 'int64' }) };
  if (labels !== null) tensors.labels = tensor(labels, { dtype: 'int64' });
  if (o.z) {
    loaded.model!.eval();
    tensors.z = noGrad(() => tidy(() => loaded.model!.head.forward(features)));
  }
  const metadata: Record<string, string> = { data: source.description, split: o.split, checkpoint: o.checkpoint };
  if (source.classNames) metadata.classNames = JSON.stringify(source.classNames);
  saveSafetensors(o.out, tensors, metadata);
  console.log(JSON.stringify({ out: o.out, images: indices.length, h: features.shape, z: o.z ? tensors.z!.shape : null, labels: labels !== null, engine }));
  for (const t of Object.values(tensors)) t.dispose();
  source.dispose?.();
  return 0;
}

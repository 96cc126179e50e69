// simclr transfer <encoder>... --data <a>,<b>: the encoders scored on each labelled data set with the
// main job's protocol, beside each data set's baselines; transfer.json, transfer.md and report.html.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { transferMarkdown, transferTables } from '../eval/transfer.js';
import { writeFileAtomic } from '../io/atomic.js';
import { DataError } from '../data/source.js';
import { writeTransferReport } from '../report/transfer-report.js';
import { setNumThreads } from '../tensor/create.js';
import { UsageError, type Flags, type Parsed } from './args.js';
import { engineFlag, fewLabelFlags, testFraction } from './pretrain-flags.js';

export const transferFlags = {
  data: { type: 'string', default: '', help: 'the labelled data sets to score on, separated by commas (each: fashion-mnist, an image folder, a CIFAR folder or an IDX file, with a test split or held out as --test-fraction says)' },
  out: { type: 'string', default: '', help: 'folder for transfer.json, transfer.md and report.html (created; default: transfer/ in the first encoder\'s run folder, else ./transfer)' },
  ...fewLabelFlags,
  'image-size': { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'input size of every row (0: each encoder at the size it was trained at; the baselines at the size of the data set\'s own encoder, else the first encoder\'s)' },
  'test-fraction': { type: 'number', default: 0.1, check: testFraction, help: 'data without a test split: share of each class held out as the test split (the split.json of an encoder pretrained on that data wins)' },
  'split-seed': { type: 'int', default: 0, help: 'seed of that held-out test split' },
  'skip-bad': { type: 'boolean', default: false, help: 'skip unreadable images with a warning' },
  seed: { type: 'int', default: 0, help: 'seed of the label draws, the linear probe\'s validation split and the random-init encoder' },
  threads: { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'libtorch threads (0: all cores)' },
  ...engineFlag,
} satisfies Flags;

export async function transferCommand(o: Parsed<typeof transferFlags>, _given: Set<string>, encoders: string[]): Promise<number> {
  if (encoders.length === 0) throw new UsageError('transfer: name one or more encoders (run folders, checkpoints or encoder files): simclr transfer runs/a [runs/b …] --data <data>,<data>');
  const datasets = o.data.split(',').map((d) => d.trim()).filter((d) => d !== '');
  if (datasets.length === 0) throw new UsageError('transfer: --data names the labelled data sets to score on, separated by commas');
  // (every path checked before minutes of scoring on the first data set)
  for (const d of datasets) if (d !== 'fashion-mnist' && !existsSync(d)) throw new DataError(d, 'no such data (--data: fashion-mnist, an image folder, a CIFAR folder or an IDX file)');
  for (const e of encoders) if (!existsSync(e)) throw new DataError(e, 'no such run folder, checkpoint or encoder file');
  const first = encoders[0]!;
  const out = o.out || (statSync(first).isDirectory() ? join(first, 'transfer') : 'transfer');
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UsageError(`transfer: --out ${out} is a file: name a folder`);
  if (!existsSync(dirname(out))) throw new UsageError(`transfer: --out ${out}: the folder ${dirname(out)} does not exist`);
  if (o.threads > 0) setNumThreads(o.threads);
  const result = await transferTables(encoders, datasets, { fraction: o['label-fraction'], draws: o.draws, seed: o.seed, imageSize: o['image-size'], testFraction: o['test-fraction'], splitSeed: o['split-seed'], skipBad: o['skip-bad'] });
  mkdirSync(out, { recursive: true });
  const markdown = transferMarkdown(result);
  writeFileAtomic(join(out, 'transfer.json'), [Buffer.from(`${JSON.stringify(result, null, 1)}\n`)]);
  writeFileAtomic(join(out, 'transfer.md'), [Buffer.from(`${markdown}\n`)]);
  const report = writeTransferReport(out, undefined, result);
  console.log(markdown);
  console.log(`\ntransfer: ${encoders.length} encoder${encoders.length === 1 ? '' : 's'} on ${datasets.length} data set${datasets.length === 1 ? '' : 's'} in ${result.seconds.toFixed(0)} s; ${join(out, 'transfer.json')}, ${join(out, 'transfer.md')}, report: ${report}`);
  return 0;
}

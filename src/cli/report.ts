// simclr report <run folder…>: the self-contained HTML report of one or more runs (or of a sweep, given its folder).
import { writeReport } from '../report/report.js';
import { isSweepFolder, writeSweepReport } from '../report/sweep-report.js';
import { isTransferFolder, writeTransferReport } from '../report/transfer-report.js';
import { UsageError, type Flags, type Parsed } from './args.js';
import { checkOutputFile } from './output.js';
import { engineFlag } from './pretrain-flags.js';

export const reportFlags = {
  out: { type: 'string', default: '', help: 'HTML file to write (default: report.html in the first run folder)' },
  'map-points': { type: 'int', default: 10_000, check: (v) => (v > 0 ? null : 'must be positive'), help: 'held-out images on the feature map (evenly spaced when the split is larger)' },
  'umap-limit': { type: 'int', default: 3000, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'UMAP of up to this many map points: a larger split is mapped by a seeded, class-balanced sample of this size (0: PCA of all the map points)' },
  bank: { type: 'int', default: 10_000, check: (v) => (v > 0 ? null : 'must be positive'), help: 'training images searched by the nearest-neighbour gallery' },
  seed: { type: 'int', default: 0, help: 'seed of the augmentation grid and UMAP' },
  ...engineFlag,
} satisfies Flags;

export async function reportCommand(parsed: Parsed<typeof reportFlags>, _given: Set<string>, runs: string[]): Promise<number> {
  if (runs.length === 0) throw new UsageError('report: name one or more run folders (simclr report runs/quickstart [runs/other …]) or a sweep folder');
  if (parsed.out) checkOutputFile('--out', parsed.out);
  if (runs.length === 1 && isTransferFolder(runs[0]!)) {
    const out = writeTransferReport(runs[0]!, parsed.out || undefined);
    console.log(JSON.stringify({ report: out, transfer: runs[0] }));
    return 0;
  }
  if (runs.length === 1 && isSweepFolder(runs[0]!)) {
    const out = writeSweepReport(runs[0]!, parsed.out || undefined);
    console.log(JSON.stringify({ report: out, sweep: runs[0] }));
    return 0;
  }
  const out = await writeReport(runs, parsed.out || undefined, { mapLimit: parsed['map-points'], umapLimit: parsed['umap-limit'], bank: parsed.bank, seed: parsed.seed });
  console.log(JSON.stringify({ report: out, runs }));
  return 0;
}

// CIFAR-10 / CIFAR-100 binary folders, as --data opens them (cifarFolder: the .bin files and the
// label-names file). The input's first byte picks the layout (bit 0: CIFAR-100, bit 1: its coarse
// labels, bit 2: a label-names file, whose text then runs to the first zero byte); the rest is
// the .bin file (CIFAR-10: data_batch_1.bin to data_batch_5.bin, each this file).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cifarFolder } from '../../src/data/cifar.js';
import { refuseOnly, scratch } from '../contract.js';
import { checkSource } from '../sources.js';

const dir = scratch('cifar');
const c10 = join(dir, 'cifar-10-batches-bin');
const c100 = join(dir, 'cifar-100-binary');
mkdirSync(c10, { recursive: true });
mkdirSync(c100, { recursive: true });

export function fuzz(data: Buffer): void {
  const mode = data[0] ?? 0;
  let rest = data.subarray(1);
  let names: Buffer | null = null;
  if (mode & 4) {
    const end = rest.indexOf(0);
    names = end < 0 ? rest : rest.subarray(0, end);
    rest = end < 0 ? Buffer.alloc(0) : rest.subarray(end + 1);
  }
  const coarse = (mode & 2) !== 0;
  const folder = mode & 1 ? c100 : c10;
  if (folder === c10) for (let i = 1; i <= 5; i++) writeFileSync(join(c10, `data_batch_${i}.bin`), rest);
  else writeFileSync(join(c100, 'train.bin'), rest);
  const namesFile = join(folder, folder === c10 ? 'batches.meta.txt' : coarse ? 'coarse_label_names.txt' : 'fine_label_names.txt');
  for (const f of ['batches.meta.txt', 'coarse_label_names.txt', 'fine_label_names.txt']) rmSync(join(folder, f), { force: true });
  if (names !== null) writeFileSync(namesFile, names);
  const source = refuseOnly(dir, () => cifarFolder(folder, 'train', coarse ? 'coarse' : 'fine'));
  if (source !== undefined) checkSource(source);
}

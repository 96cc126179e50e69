// CIFAR-10 / CIFAR-100 binary format: records of label byte(s) then 3072 bytes (R, G, B planes of 32×32).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tensor } from '../tensor/create.js';
import { DataError, MemorySource } from './source.js';

const PIXELS = 3 * 32 * 32;

/** Which CIFAR binary format: CIFAR-10 (one label byte per record) or CIFAR-100 (coarse and fine label bytes). */
export type CifarKind = 'cifar10' | 'cifar100';

/** Which files make a split, and whether the folder is CIFAR-10 or CIFAR-100 (null if neither). */
export function cifarFiles(dir: string, split: 'train' | 'test'): { kind: CifarKind; files: string[] } | null {
  const c10 = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  if (c10.every((f) => existsSync(join(dir, f)))) return { kind: 'cifar10', files: c10.map((f) => join(dir, f)) };
  const c100 = join(dir, `${split}.bin`);
  if (existsSync(c100)) return { kind: 'cifar100', files: [c100] };
  return null;
}

function classNamesFrom(file: string): string[] | null {
  if (!existsSync(file)) return null;
  const names = readFileSync(file, 'utf8').split('\n').map((s) => s.trim()).filter((s) => s.length > 0);
  return names.length > 0 ? names : null;
}

/**
 * Reads CIFAR binary files. CIFAR-100 records carry a coarse then a fine label; `label` picks one
 * (default fine, 100 classes).
 */
export function cifarSource(
  files: readonly string[],
  kind: CifarKind,
  { label = 'fine', classNames = null }: { label?: 'fine' | 'coarse'; classNames?: string[] | null } = {},
): MemorySource {
  const labelBytes = kind === 'cifar10' ? 1 : 2;
  const record = labelBytes + PIXELS;
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (const file of files) {
    const size = statSync(file).size;
    if (size === 0 || size % record !== 0) {
      throw new DataError(file, `${size} bytes is not a whole number of ${kind === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} records (${record} bytes each)`);
    }
    const bytes = readFileSync(file);
    chunks.push(bytes);
    total += size / record;
  }
  const pixels = new Uint8Array(total * PIXELS);
  const labels = new Int32Array(total);
  const which = kind === 'cifar100' && label === 'fine' ? 1 : 0;
  const classes = kind === 'cifar10' ? 10 : label === 'fine' ? 100 : 20;
  let n = 0;
  chunks.forEach((bytes, f) => {
    for (let off = 0; off < bytes.length; off += record, n++) {
      labels[n] = bytes[off + which]!;
      if (labels[n]! >= classes) {
        const name = kind === 'cifar10' ? 'CIFAR-10' : `CIFAR-100 (${label} labels)`;
        throw new DataError(files[f]!, `record ${off / record} has label ${labels[n]}, outside ${name}'s ${classes} classes (0–${classes - 1})`);
      }
      pixels.set(bytes.subarray(off + labelBytes, off + record), n * PIXELS);
    }
  });
  return new MemorySource(tensor(pixels, { shape: [total, 3, 32, 32] }), labels, classNames, files.join(', '));
}

/** CIFAR-10 or CIFAR-100 from its extracted folder (cifar-10-batches-bin, cifar-100-binary). */
export function cifarFolder(dir: string, split: 'train' | 'test' = 'train', label: 'fine' | 'coarse' = 'fine'): MemorySource {
  const found = cifarFiles(dir, split);
  if (found === null) throw new DataError(dir, `no CIFAR ${split} files (data_batch_1..5.bin / test_batch.bin, or ${split}.bin)`);
  const namesFile = join(dir, found.kind === 'cifar10' ? 'batches.meta.txt' : label === 'fine' ? 'fine_label_names.txt' : 'coarse_label_names.txt');
  const names = classNamesFrom(namesFile);
  // (every label must name a class: a file short of names would leave labels without one)
  const classes = found.kind === 'cifar10' ? 10 : label === 'fine' ? 100 : 20;
  if (names !== null && names.length !== classes) throw new DataError(namesFile, `lists ${names.length} class names, not the ${classes} of ${found.kind === 'cifar10' ? 'CIFAR-10' : `CIFAR-100's ${label} labels`}`);
  return cifarSource(found.files, found.kind, { label, classNames: names });
}

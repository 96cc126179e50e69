// Resolves a data-source spec, as the CLI's --data takes it:
//   fashion-mnist            Debian's dataset-fashion-mnist (split: train or test)
//   <folder>                 CIFAR-10/100 binary folder, or an image folder (class subfolders or flat;
//                            with train/ and test/ subfolders, one per split)
//   <file>-images-idx3-ubyte[.gz]   IDX images, with the matching labels file when present
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cifarFiles, cifarFolder } from './cifar.js';
import { imageFolder, type FolderOptions } from './folder.js';
import { fashionMnist, idxSource } from './idx.js';
import { DataError, type DataSource } from './source.js';

export interface OpenOptions extends Partial<FolderOptions> {
  split?: 'train' | 'test';
}

export async function openSource(spec: string, options: OpenOptions = {}): Promise<DataSource> {
  const split = options.split ?? 'train';
  if (spec === 'fashion-mnist') return fashionMnist(split);
  if (!existsSync(spec)) throw new DataError(spec, 'no such file or folder (expected fashion-mnist, a folder of images, a CIFAR folder or an IDX file)');
  if (statSync(spec).isDirectory()) {
    if (cifarFiles(spec, split) !== null) return cifarFolder(spec, split);
    // A folder with train/ and test/ subfolders holds one image folder per split.
    const splitDir = join(spec, split);
    const root = existsSync(join(spec, 'train')) && existsSync(join(spec, 'test')) ? splitDir : spec;
    return imageFolder(root, { size: options.size ?? 32, ...options });
  }
  if (/idx\d-ubyte(\.gz)?$/.test(spec)) {
    const labels = spec.replace('images-idx3', 'labels-idx1');
    return idxSource(spec, labels !== spec && existsSync(labels) ? labels : null);
  }
  throw new DataError(spec, 'not a data source (expected fashion-mnist, a folder of images, a CIFAR folder or an IDX file)');
}

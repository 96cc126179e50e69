// Resolves a data-source spec, as the CLI's --data takes it, into a training and a test split:
//   fashion-mnist            Debian's dataset-fashion-mnist (its train and t10k files)
//   <folder>                 CIFAR-10/100 binary folder, or an image folder (class subfolders or flat;
//                            with train/ and test/ (or val/) subfolders, one per split)
//   <file>-images-idx3-ubyte[.gz]   IDX images, with the matching labels file when present, and its
//                            t10k-/test- pair as the test split when there is one
// Labelled data without a test split of its own gets a held-out one (split.ts): a class-stratified,
// seeded share of its images that training never sees. A run records it (split.json), so that
// evaluating the run's encoder later scores exactly the images its pretraining did not use.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { warning } from '../progress.js';
import { cifarFiles, cifarFolder } from './cifar.js';
import { imageFolder, listImageFolder, sampleDims, type FolderOptions } from './folder.js';
import { fashionMnist, idxSource } from './idx.js';
import { classCount, DataError, SourceView, type DataSource } from './source.js';
import { heldOutSplit } from './split.js';

/** Options of {@link openSplits} and {@link openSource}: an image folder's options, and how to split data without a test split. */
export interface OpenOptions extends Partial<FolderOptions> {
  /** Share of labelled data without a test split held out as its test split (default 0.1; 0: none). */
  testFraction?: number;
  /** Seed of the held-out split (default 0). */
  splitSeed?: number;
  /** The split a run recorded (its split.json), used instead of drawing one. */
  recorded?: SplitRecord | null;
}

/** How a data set was split: what a run writes to split.json and an evaluation reports. */
export interface SplitRecord {
  /** The record's format tag. */
  format: 'simclr-split/1';
  /** The data-source spec that was opened. */
  data: string;
  /** given: the data's own test split; held-out: drawn from data without one; none: no test split. */
  kind: 'given' | 'held-out' | 'none';
  /** The share (0–1) of the images held out as the test split (0 unless held-out). */
  testFraction: number;
  /** Seed of the held-out split. */
  seed: number;
  /** The number of training images. */
  trainImages: number;
  /** The number of test images. */
  testImages: number;
  /** held-out: the test images' names (files relative to the data's root, or record numbers). */
  test?: string[];
}

/** A data set's training and test splits, as {@link openSplits} opens them. */
export interface Splits {
  /** The training split. */
  train: DataSource;
  /** The test split (the data's own, or held out of it), or null when there is none. */
  test: DataSource | null;
  /** How the data was split (what a run writes to split.json). */
  record: SplitRecord;
  /** Frees both splits. */
  dispose(): void;
}

/** The names that identify a source's images in a split record. */
function imageNames(source: DataSource): string[] {
  return source.files ? [...source.files] : Array.from({ length: source.size }, (_, i) => String(i));
}

/** Both parts of a data set without a test split: drawn, or as recorded, or all training. */
function holdOut(spec: string, all: DataSource, o: OpenOptions): Splits {
  const testFraction = o.recorded?.testFraction ?? o.testFraction ?? 0.1;
  const seed = o.recorded?.seed ?? o.splitSeed ?? 0;
  const names = imageNames(all);
  let parts: { train: Int32Array; test: Int32Array };
  if (o.recorded?.kind === 'held-out') {
    const recordedTest = new Set(o.recorded.test ?? []);
    const isTest = names.map((n) => recordedTest.has(n));
    const found = isTest.filter(Boolean).length;
    if (found < recordedTest.size) warning(`simclr: ${spec}: ${recordedTest.size - found} of the ${recordedTest.size} held-out images recorded by the run are gone`);
    parts = { train: Int32Array.from(names.keys()).filter((i) => !isTest[i]), test: Int32Array.from(names.keys()).filter((i) => isTest[i]!) };
  } else if (all.labels === null || testFraction === 0 || o.recorded?.kind === 'none') {
    return { train: all, test: null, record: { format: 'simclr-split/1', data: spec, kind: 'none', testFraction: 0, seed, trainImages: all.size, testImages: 0 }, dispose: () => all.dispose?.() };
  } else {
    parts = heldOutSplit(names, all.labels, testFraction, seed);
  }
  const [train, test] = SourceView.split(all, [
    { indices: parts.train, description: `${all.description} (training part)` },
    { indices: parts.test, description: `${all.description} (held-out ${Math.round(100 * testFraction)}%, seed ${seed})` },
  ]) as [SourceView, SourceView];
  return {
    train,
    test,
    record: { format: 'simclr-split/1', data: spec, kind: 'held-out', testFraction, seed, trainImages: train.size, testImages: test.size, test: Array.from(parts.test, (i) => names[i]!) },
    dispose: () => {
      train.dispose();
      test.dispose();
    },
  };
}

/** Two given splits, the test labels renumbered to the training split's class names. */
function given(spec: string, train: DataSource, test: DataSource, testRoot: string): Splits {
  let aligned = test;
  if (train.classNames !== null && test.classNames !== null && test.labels !== null && train.classNames.join('\0') !== test.classNames.join('\0')) {
    const index = test.classNames.map((name) => {
      const k = train.classNames!.indexOf(name);
      if (k < 0) throw new DataError(testRoot, `the test class '${name}' is not a class of the training split (${train.classNames!.join(', ')})`);
      return k;
    });
    aligned = new SourceView(test, Int32Array.from({ length: test.size }, (_, i) => i), test.description, {
      labels: Int32Array.from(test.labels, (c) => index[c]!),
      classNames: train.classNames,
    });
  } else if ((train.labels === null) !== (test.labels === null)) {
    throw new DataError(testRoot, `the ${train.labels === null ? 'training split is unlabelled but the test split is labelled' : 'test split is unlabelled but the training split is labelled'}`);
  } else if (train.labels !== null && test.labels !== null && train.classNames === null) {
    // Unnamed classes (IDX): the test split may not bring a class the training split lacks.
    const classes = classCount(train.labels);
    const bad = test.labels.findIndex((c) => c >= classes);
    if (bad >= 0) throw new DataError(testRoot, `record ${bad} has label ${test.labels[bad]}, a class the training split does not have (its labels are 0–${classes - 1})`);
  }
  return {
    train,
    test: aligned,
    record: { format: 'simclr-split/1', data: spec, kind: 'given', testFraction: 0, seed: 0, trainImages: train.size, testImages: test.size },
    dispose: () => {
      train.dispose?.();
      aligned.dispose?.();
    },
  };
}

/** The test images of an IDX file: its t10k- or test- pair in the same folder, or null. */
function idxTestPair(file: string): string | null {
  const name = basename(file);
  if (!name.startsWith('train-')) return null;
  for (const prefix of ['t10k-', 'test-']) {
    const candidate = join(dirname(file), prefix + name.slice('train-'.length));
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

function idxWithLabels(file: string): DataSource {
  const labels = file.replace('images-idx3', 'labels-idx1');
  return idxSource(file, labels !== file && existsSync(labels) ? labels : null);
}

/**
 * Opens a data-source spec (fashion-mnist, a CIFAR folder, an image folder or an IDX file) as training
 * and test splits; labelled data without a test split gets a seeded, class-stratified held-out one.
 */
export async function openSplits(spec: string, o: OpenOptions = {}): Promise<Splits> {
  if (spec === 'fashion-mnist') return given(spec, fashionMnist('train'), fashionMnist('test'), spec);
  if (!existsSync(spec)) throw new DataError(spec, 'no such file or folder (expected fashion-mnist, a folder of images, a CIFAR folder or an IDX file)');
  if (statSync(spec).isDirectory()) {
    if (cifarFiles(spec, 'train') !== null) {
      const train = cifarFolder(spec, 'train');
      return cifarFiles(spec, 'test') !== null ? given(spec, train, cifarFolder(spec, 'test'), spec) : holdOut(spec, train, o);
    }
    const folder = (root: string) => imageFolder(root, { size: o.size ?? 32, ...o });
    const testRoot = testFolder(spec);
    if (testRoot !== null) {
      const train = await folder(join(spec, 'train'));
      try {
        return given(spec, train, await folder(testRoot), testRoot);
      } catch (e) {
        train.dispose?.();
        throw e;
      }
    }
    return holdOut(spec, await folder(spec), o);
  }
  if (/idx\d-ubyte(\.gz)?$/.test(spec)) {
    const train = idxWithLabels(spec);
    const pair = idxTestPair(spec);
    return pair !== null ? given(spec, train, idxWithLabels(pair), pair) : holdOut(spec, train, o);
  }
  throw new DataError(spec, 'not a data source (expected fashion-mnist, a folder of images, a CIFAR folder or an IDX file)');
}

/** The folder of training images when the spec is an image folder (its train/ when it has train/ and test/), else null. */
function imageFolderRoot(spec: string): string | null {
  if (spec === 'fashion-mnist' || !existsSync(spec) || !statSync(spec).isDirectory() || cifarFiles(spec, 'train') !== null) return null;
  return testFolder(spec) !== null ? join(spec, 'train') : spec;
}

/** An image folder's test split: its test/ (or val/, as ImageNet and Imagenette name it) beside a train/, or null. */
function testFolder(spec: string): string | null {
  if (!existsSync(join(spec, 'train'))) return null;
  return ['test', 'val'].map((name) => join(spec, name)).find((dir) => existsSync(dir)) ?? null;
}

/** An image folder's training images, listed (not decoded): how many, whether labelled, whether a test split is held out of them. */
export function imageFolderListing(spec: string): { images: number; labelled: boolean; heldOut: boolean } | null {
  const root = imageFolderRoot(spec);
  if (root === null) return null;
  const { files, labels } = listImageFolder(root);
  return { images: files.length, labelled: labels !== null, heldOut: root === spec };
}

/**
 * An image folder's typical image, from the headers of a sample of its training images: the
 * median shorter side (what the recipe is chosen by). Null for other sources, whose images have
 * one size, known once they are open.
 */
export async function imageFolderSides(spec: string): Promise<{ side: number; sampled: string } | null> {
  const root = imageFolderRoot(spec);
  if (root === null) return null;
  const { files } = listImageFolder(root);
  const dims = await sampleDims(files);
  if (dims.length === 0) throw new DataError(root, `none of the ${Math.min(files.length, 64)} images sampled could be read`);
  const sides = dims.map((d) => Math.min(d.width, d.height)).sort((a, b) => a - b);
  const side = sides[sides.length >> 1]!;
  const sampled = dims.length === files.length ? `${files.length} images` : `a sample of ${dims.length} of ${files.length.toLocaleString('en')} images`;
  return { side, sampled };
}

/** One split of a data source (the training split by default). */
export async function openSource(spec: string, options: OpenOptions & { split?: 'train' | 'test' } = {}): Promise<DataSource> {
  const splits = await openSplits(spec, options);
  if (options.split !== 'test') {
    splits.test?.dispose?.();
    return splits.train;
  }
  splits.train.dispose?.();
  if (splits.test === null) throw new DataError(spec, 'has no test split (it is unlabelled, or --test-fraction is 0)');
  return splits.test;
}

/** The split recorded in a run folder (split.json), or null when it has none. */
export function readSplitRecord(runDir: string): SplitRecord | null {
  const file = join(runDir, 'split.json');
  if (!existsSync(file)) return null;
  let record: SplitRecord;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as SplitRecord;
  } catch (e) {
    throw new DataError(file, `cannot read the run's split (${(e as Error).message})`);
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record) || record.format !== 'simclr-split/1') throw new DataError(file, 'not a simclr split record');
  // (each field as a run writes it: eval, embed, index and the report reopen the data by it)
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const problem =
    typeof record.data !== 'string' ? 'its data is not a string'
    : !['given', 'held-out', 'none'].includes(record.kind) ? `its kind ${JSON.stringify(record.kind)} is not given, held-out or none`
    : !(typeof record.testFraction === 'number' && record.testFraction >= 0 && record.testFraction < 1) ? `its testFraction ${JSON.stringify(record.testFraction)} is not in [0, 1)`
    : !Number.isSafeInteger(record.seed) ? `its seed ${JSON.stringify(record.seed)} is not an integer`
    : !count(record.trainImages) || !count(record.testImages) ? 'its trainImages or testImages is not a count'
    : record.test !== undefined && !(Array.isArray(record.test) && record.test.every((n) => typeof n === 'string')) ? 'its test images are not a list of names'
    : null;
  if (problem !== null) throw new DataError(file, `not a simclr split record: ${problem}`);
  return record;
}

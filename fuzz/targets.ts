// The fuzz targets: one per reader of a file a user hands simclr (fuzz/targets/<name>.ts, seeds in
// fuzz/corpus/<name>/).

/** A fuzz target, as the runner starts it. */
export interface FuzzTarget {
  /** Its name: fuzz/targets/<name>.ts and fuzz/corpus/<name>/. */
  name: string;
  /** What it reads. */
  reads: string;
  /** Whether its fuzz function is synchronous (Jazzer.js's --sync: faster). */
  sync: boolean;
  /** The largest input libFuzzer makes (bytes). */
  maxLen: number;
  /** The modules whose coverage guides it (under src/, without the extension): the reader and what it validates with. */
  instrument: string[];
  /** Its module under dist/, without the extension (default fuzz/targets/<name>). */
  module?: string;
}

export const targets: readonly FuzzTarget[] = [
  { name: 'safetensors', reads: 'safetensors files: parseSafetensors, loadSafetensors, readSafetensorsHeader (src/io/safetensors.ts)', sync: true, maxLen: 4096, instrument: ['io/safetensors'] },
  { name: 'idx', reads: 'IDX files, gzipped or not: readIdx, idxSource (src/data/idx.ts)', sync: true, maxLen: 4096, instrument: ['data/idx', 'data/source'] },
  { name: 'cifar', reads: 'CIFAR-10/100 binaries and label-name files: cifarSource, cifarFolder (src/data/cifar.ts)', sync: true, maxLen: 8192, instrument: ['data/cifar', 'data/source'] },
  { name: 'config', reads: 'pretrain --config JSON/YAML: resolveConfig (src/cli/pretrain-flags.ts)', sync: true, maxLen: 4096, instrument: ['cli/pretrain-flags', 'cli/args'] },
  { name: 'split', reads: "a run's split.json: readSplitRecord (src/data/open.ts)", sync: true, maxLen: 4096, instrument: ['data/open'] },
  { name: 'search-index', reads: 'search indexes and their metadata: loadIndex (src/search/image-index.ts)', sync: true, maxLen: 4096, instrument: ['search/image-index', 'io/safetensors'] },
  { name: 'checkpoint', reads: 'checkpoints and encoder files: loadEncoder, readCheckpoint (src/simclr/encoder-file.ts, checkpoint.ts)', sync: true, maxLen: 16384, instrument: ['simclr/encoder-file', 'simclr/checkpoint', 'simclr/model', 'io/safetensors', 'nn/module', 'models/resnet', 'models/projection-head'] },
  { name: 'run-config', reads: "a run folder's config.json beside its encoder: loadEncoder, runDataOptions (src/simclr/encoder-file.ts)", sync: true, maxLen: 4096, instrument: ['simclr/encoder-file'] },
  { name: 'image', reads: 'image files through the decode path: imageDims, prepareFiles (src/data/folder.ts, sharp)', sync: false, maxLen: 4096, instrument: ['data/folder', 'data/frames', 'augment/geometry'] },
  { name: 'decode-cache', reads: "an image folder's decode cache: imageFolder (src/data/folder.ts)", sync: false, maxLen: 4096, instrument: ['data/folder', 'data/frames', 'data/source', 'io/safetensors', 'augment/geometry'] },
];

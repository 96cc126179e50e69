// Which images a run may learn from and which it is scored on, and which labels a few-label
// evaluation may use:
//   heldOutSplit    a class-stratified, seeded test part for data that comes without one (an image
//                   folder without train/ and test/, an IDX file without its t10k pair), stable when
//                   files are added: each image is ranked within its class by a hash of its name;
//   labelFraction   a class-balanced, seeded share of the training labels (the paper's 1% and 10%),
//                   its draws disjoint while the classes have images enough.
import { Random } from '../random.js';

/** 32-bit FNV-1a of a string with a seed, then murmur3's finaliser: a stable rank per name. */
function nameHash(name: string, seed: number): number {
  let h = (0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Image indices grouped by label (one group for unlabelled data), classes in ascending order. */
function byClass(labels: Int32Array | null, size: number): number[][] {
  if (labels === null) return [Array.from({ length: size }, (_, i) => i)];
  const groups = new Map<number, number[]>();
  labels.forEach((c, i) => {
    let members = groups.get(c);
    if (members === undefined) groups.set(c, (members = []));
    members.push(i);
  });
  return [...groups.keys()].sort((a, b) => a - b).map((c) => groups.get(c)!);
}

/** Up to `limit` indices of 0…n−1, evenly spaced (all of them when n ≤ limit): a deterministic subset that spans the data. */
export function evenlySpaced(n: number, limit: number): Int32Array {
  const count = Math.min(n, limit);
  return Int32Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
}

/**
 * Splits images into train and test parts: round(fraction · n_c) images of each class c are held
 * out (none of a class with a single image), those whose name ranks first by a seeded hash. `names`
 * identify the images (file paths relative to the data root, or record numbers). Sorted indices.
 */
export function heldOutSplit(names: readonly string[], labels: Int32Array | null, fraction: number, seed: number): {
  /** Indices of the training images, ascending. */
  train: Int32Array;
  /** Indices of the held-out test images, ascending. */
  test: Int32Array;
} {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`the test fraction must be in [0, 1) (got ${fraction})`);
  if (labels !== null && labels.length !== names.length) throw new RangeError(`${labels.length} labels for ${names.length} images`);
  const isTest = new Uint8Array(names.length);
  for (const members of byClass(labels, names.length)) {
    const take = members.length < 2 ? 0 : Math.round(fraction * members.length);
    const ranked = members.map((i) => ({ i, h: nameHash(names[i]!, seed) })).sort((a, b) => a.h - b.h || a.i - b.i);
    for (let k = 0; k < take; k++) isTest[ranked[k]!.i] = 1;
  }
  const train: number[] = [];
  const test: number[] = [];
  isTest.forEach((t, i) => (t ? test : train).push(i));
  return { train: Int32Array.from(train), test: Int32Array.from(test) };
}

/**
 * A class-balanced share of labelled images: max(1, round(fraction · n_c)) of each class c, sorted
 * indices. Draw d takes the d-th block of one seeded permutation per class, so that the draws of a
 * seed are disjoint; a draw that no longer fits in a class takes a fresh permutation instead.
 */
export function labelFraction(labels: Int32Array, fraction: number, seed: number, draw = 0): Int32Array {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`the label fraction must be in (0, 1] (got ${fraction})`);
  if (!(Number.isInteger(draw) && draw >= 0)) throw new RangeError(`the draw must be a non-negative integer (got ${draw})`);
  const picked: number[] = [];
  byClass(labels, labels.length).forEach((members, c) => {
    const take = Math.max(1, Math.round(fraction * members.length));
    const disjoint = (draw + 1) * take <= members.length;
    const order = new Random(seed, c, disjoint ? 0 : draw + 1, 0xf1e7).permutation(members.length);
    const start = disjoint ? draw * take : 0;
    for (let k = start; k < start + take; k++) picked.push(members[order[k]!]!);
  });
  return Int32Array.from(picked.sort((a, b) => a - b));
}

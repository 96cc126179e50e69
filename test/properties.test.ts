// Properties of the pure parts, for any input fast-check draws (seeded: the same cases every run).
// Each property is checked against rules stated here from the implementation's documentation, or
// against a brute-force reimplementation in plain JavaScript — never against the code's own output.
//
// Each one was shown to fail on a deliberately broken implementation (then reverted):
//   1. held-out split: after the split, test gets train[0] too → "train and test disjoint" fails; Math.floor
//      for Math.round in the per-class count → the stratified count fails; the name hash seeded with
//      seed + class size → "stable under added files" fails (2 of a class's 2 images change side when 1 is added).
//   2. label fraction: a fresh permutation for every draw (Random(seed, c, draw + 1, …)) → "draws disjoint"
//      fails; max(1, floor(·)) for max(1, round(·)) → the class-balanced count fails.
//   3. augmentation: the brightness/contrast/saturation range [1 − b, 1 + b] without its max(0, ·) →
//      "factor within its range" fails (a negative saturation factor).
//   4. NT-Xent: the positive of row i taken as (i + N + 1) mod 2N → the pair-permutation invariance (and the
//      definition) fails; the mean over the first view's N anchors only → the view-swap invariance (and the
//      definition) fails; the self-similarity left unmasked → the brute-force definition fails.
//   5. kNN: min(k + 1, N) neighbours vote → "equal to brute force" fails.
//   6. safetensors: I16 given 4 bytes an element in the dtype table → the round trip fails (offsets past the data).
//   7. crop boxes: the left edge drawn from [0, width − w + 1] instead of [0, width − w] → "inside the frame"
//      fails (in the crop-box property and the augmentation property).
// Found by these properties, and fixed: the centre-crop fallback could round a side to 0 pixels (a frame
// under half a pixel across at the allowed aspect; resizedCrops then refuses the box), and safetensors
// lost a metadata key or a tensor named '__proto__' (assigned to a plain object, it set the prototype).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { cat, loadSafetensors, ops, parseSafetensors, saveSafetensors, serializeSafetensors, tensor, tidy, type DType, type Tensor } from '../src/index.js';
import { heldOutSplit, labelFraction } from '../src/data/split.js';
import { Random } from '../src/random.js';
import { SimCLRAugmentation, type AugmentationOptions, type JitterOp } from '../src/augment/simclr-augmentation.js';
import { sampleCropBox, type Box } from '../src/augment/geometry.js';
import { centreSquare } from '../src/data/frames.js';
import { ntXentLoss } from '../src/simclr/nt-xent.js';
import { knnAccuracy, knnPredict } from '../src/eval/knn.js';

// (the failing assertion in the report, so that a failure names the broken property)
fc.configureGlobal({ seed: 20261207, numRuns: 100, includeErrorInReport: true });

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
/**
 * A real number in [min, max], spread over the range (fc.double is uniform over the representable
 * doubles, so mostly tiny), min and max themselves among the likely draws.
 */
const real = (min: number, max: number) => fc.integer({ min: 0, max: 2 ** 30 }).map((i) => (i === 2 ** 30 ? max : min + ((max - min) * i) / 2 ** 30));
const isAscending = (a: ArrayLike<number>) => Array.from(a).every((v, i, all) => i === 0 || all[i - 1]! < v);

// ---------------------------------------------------------------------------------------------
// 1. The held-out split.

/** A folder: unique file names, each with a class and whether it is added later; labelled or not. */
const folderArb = fc.record({
  files: fc.uniqueArray(fc.record({ name: fc.string({ unit: 'binary', maxLength: 10 }), label: fc.integer({ min: 0, max: 5 }), added: fc.boolean() }), {
    selector: (f) => f.name,
    maxLength: 80,
  }),
  labelled: fc.boolean(),
  fraction: real(0, 1).filter((f) => f < 1),
  seed: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
});

/** Class → member names (one class, -1, for unlabelled data). */
function classesOf(files: readonly { name: string; label: number }[], labelled: boolean): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const f of files) {
    const c = labelled ? f.label : -1;
    if (!out.has(c)) out.set(c, []);
    out.get(c)!.push(f.name);
  }
  return out;
}

/** Splits the files and checks disjoint, complete, ascending and stratified; returns the held-out names. */
function checkedSplit(files: readonly { name: string; label: number }[], labelled: boolean, fraction: number, seed: number): Set<string> {
  const names = files.map((f) => f.name);
  const labels = labelled ? Int32Array.from(files, (f) => f.label) : null;
  const { train, test: held } = heldOutSplit(names, labels, fraction, seed);
  assert.ok(isAscending(train) && isAscending(held), 'indices ascending');
  const inTest = new Set(held);
  assert.ok(Array.from(train).every((i) => !inTest.has(i)), 'train and test disjoint');
  assert.equal(train.length + held.length, names.length, 'together every image');
  assert.ok([...train, ...held].every((i) => Number.isInteger(i) && i >= 0 && i < names.length));
  const heldNames = new Set(Array.from(held, (i) => names[i]!));
  // stratified: round(fraction · n_c) of each class c held out, none of a class of one
  for (const [c, members] of classesOf(files, labelled)) {
    const count = members.filter((n) => heldNames.has(n)).length;
    const expected = members.length < 2 ? 0 : Math.round(fraction * members.length);
    assert.equal(count, expected, `class ${c}: ${count} of ${members.length} held out at fraction ${fraction}`);
    if (members.length >= 2) assert.ok(Math.abs(count - fraction * members.length) <= 0.5);
  }
  // deterministic: the same split again
  assert.deepEqual(heldOutSplit(names, labels, fraction, seed).test, held);
  return heldNames;
}

test('held-out split: disjoint, complete, stratified and stable under added files, for any folder', () => {
  fc.assert(
    fc.property(folderArb, ({ files, labelled, fraction, seed }) => {
      const before = files.filter((f) => !f.added);
      const heldBefore = checkedSplit(before, labelled, fraction, seed);
      const heldAfter = checkedSplit(files, labelled, fraction, seed);
      // Stable: each image's rank within its class is a hash of its name, so the old images keep
      // their order among themselves, and the held-out ones are the first round(f · n_c) of the
      // class. Hence, per class, the old images held out after the addition are a prefix of the
      // same ranking as before — they contain or are contained in the old held-out set — and at
      // most a_c of them (a_c = files added to the class) change side. A class that gains no file
      // keeps its split exactly.
      const oldByClass = classesOf(before, labelled);
      const addedByClass = classesOf(files.filter((f) => f.added), labelled);
      for (const [c, members] of oldByClass) {
        const added = addedByClass.get(c)?.length ?? 0;
        const wasHeld = members.filter((n) => heldBefore.has(n));
        const isHeld = members.filter((n) => heldAfter.has(n));
        const moved = members.filter((n) => heldBefore.has(n) !== heldAfter.has(n)).length;
        assert.ok(moved <= added, `class ${c}: ${moved} of its ${members.length} images changed side when ${added} were added`);
        const nested = wasHeld.every((n) => heldAfter.has(n)) || isHeld.every((n) => heldBefore.has(n));
        assert.ok(nested, `class ${c}: the old images held out before and after are not nested`);
      }
    }),
  );
});

// ---------------------------------------------------------------------------------------------
// 2. The label-fraction sampler.

const labelsArb = fc.record({
  counts: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }),
  order: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  fraction: real(0, 1).filter((f) => f > 0),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

test('label fraction: class-balanced counts, disjoint draws while classes have enough, deterministic per seed', () => {
  fc.assert(
    fc.property(labelsArb, ({ counts, order, fraction, seed }) => {
      // labels of the classes, interleaved in a scrambled order (classes 0, 2, 4… to have gaps)
      const list = counts.flatMap((n, c) => new Array<number>(n).fill(2 * c));
      const shuffle = new Random(order).permutation(list.length);
      const labels = Int32Array.from(shuffle, (i) => list[i]!);
      const draws = range(4).map((d) => labelFraction(labels, fraction, seed, d));
      counts.forEach((n, c) => {
        const take = Math.max(1, Math.round(fraction * n));
        const picked = draws.map((draw) => Array.from(draw).filter((i) => labels[i] === 2 * c));
        picked.forEach((p, d) => {
          assert.equal(p.length, take, `class ${2 * c} (${n} images), draw ${d}: ${p.length} picked, want max(1, round(${fraction} · ${n}))`);
          assert.equal(new Set(p).size, p.length, 'no image twice in a draw');
        });
        // draws 0…D−1 are pairwise disjoint within the class as long as D · take ≤ n
        for (let d1 = 0; d1 < 4; d1++) {
          for (let d2 = d1 + 1; d2 < 4; d2++) {
            if ((d2 + 1) * take > n) continue;
            const first = new Set(picked[d1]);
            assert.ok(picked[d2]!.every((i) => !first.has(i)), `class ${2 * c} (${n} images, ${take} a draw): draws ${d1} and ${d2} overlap`);
          }
        }
      });
      draws.forEach((draw) => {
        assert.ok(isAscending(draw), 'sorted, no duplicates');
        assert.equal(draw.length, counts.reduce((s, n) => s + Math.max(1, Math.round(fraction * n)), 0));
      });
      // deterministic: the same seed draws the same images
      range(4).forEach((d) => assert.deepEqual(labelFraction(labels, fraction, seed, d), draws[d]));
    }),
  );
});

// ---------------------------------------------------------------------------------------------
// 3. Augmentation parameters, and 7. crop boxes.

/** A probability: often exactly 0 or 1 (where the flags must be constant). */
const probabilityArb = fc.oneof(fc.constantFrom(0, 1), real(0, 1));
/** An ordered pair lo ≤ hi of doubles in [min, max]. */
const rangeArb = (min: number, max: number) =>
  fc.tuple(real(min, max), real(min, max)).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]);
/** Crop scale ranges: mostly within (0, 1], sometimes past 1 (impossible: the centre-crop fallback). */
const scaleArb = fc.oneof(rangeArb(0.01, 1), rangeArb(0.01, 3));
/** Aspect ranges, log-uniform between 1/10 and 10. */
const ratioArb = rangeArb(Math.log(0.1), Math.log(10)).map(([a, b]) => [Math.exp(a), Math.exp(b)] as [number, number]);
const sideArb = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4000 }));

/** A box with integer corners and sides ≥ 1, inside a width × height frame. */
function assertInside(b: Box, width: number, height: number): void {
  assert.ok([b.x, b.y, b.width, b.height].every(Number.isInteger), `integer box ${JSON.stringify(b)}`);
  assert.ok(b.width >= 1 && b.height >= 1, `non-empty box ${JSON.stringify(b)}`);
  assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= width && b.y + b.height <= height, `box ${JSON.stringify(b)} inside the ${width} × ${height} frame`);
}

/**
 * torchvision's rule for a crop box: either sampled — an area T ∈ [scale₀·A, scale₁·A] and an
 * aspect a ∈ [ratio₀, ratio₁] with width = round(√(T·a)), height = round(√(T/a)), so that, undoing
 * the rounding, (w − ½)(h − ½) ≤ T < (w + ½)(h + ½) and (w − ½)/(h + ½) < a < (w + ½)/(h − ½) — or
 * the centre crop of the fallback: the whole frame, narrowed to the nearest allowed aspect (but
 * never below one pixel).
 */
function assertCropRule(b: Box, width: number, height: number, scale: readonly [number, number], ratio: readonly [number, number]): void {
  const area = width * height;
  const eps = 1e-9;
  const areaOk = (b.width - 0.5) * (b.height - 0.5) <= scale[1] * area * (1 + eps) && (b.width + 0.5) * (b.height + 0.5) >= scale[0] * area * (1 - eps);
  const aspectOk = (b.width - 0.5) / (b.height + 0.5) <= ratio[1] * (1 + eps) && (b.height <= 0.5 || (b.width + 0.5) / (b.height - 0.5) >= ratio[0] * (1 - eps));
  if (areaOk && aspectOk) return;
  const [lo, hi] = [Math.min(...ratio), Math.max(...ratio)];
  let w = width;
  let h = height;
  if (width / height < lo) h = Math.max(1, Math.round(width / lo));
  else if (width / height > hi) w = Math.max(1, Math.round(height * hi));
  const fallback = { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
  assert.deepEqual(b, fallback, `box ${JSON.stringify(b)} of a ${width} × ${height} frame: neither in scale ${scale} and ratio ${ratio} (area ${areaOk}, aspect ${aspectOk}) nor the centre-crop fallback`);
}

test('crop boxes: inside the frame and following the scale/ratio rule or its fallback, for any frame and parameters', () => {
  fc.assert(
    fc.property(sideArb, sideArb, scaleArb, ratioArb, fc.integer({ min: 0, max: 2 ** 31 - 1 }), (width, height, scale, ratio, seed) => {
      const rng = new Random(seed);
      for (let i = 0; i < 8; i++) {
        const b = sampleCropBox(rng, width, height, scale, ratio);
        assertInside(b, width, height);
        assertCropRule(b, width, height, scale, ratio);
      }
      // the centre square of every encoding path: side min(w, h), centred
      const sq = centreSquare(width, height);
      assertInside(sq, width, height);
      assert.equal(sq.width, Math.min(width, height));
      assert.equal(sq.height, sq.width);
      assert.ok(Math.abs(width - sq.width - 2 * sq.x) <= 1 && Math.abs(height - sq.height - 2 * sq.y) <= 1, 'centred');
    }),
    { numRuns: 300 },
  );
});

const optionsArb: fc.Arbitrary<AugmentationOptions> = fc.record(
  {
    size: fc.integer({ min: 1, max: 256 }),
    scale: scaleArb,
    ratio: ratioArb,
    flipP: probabilityArb,
    strength: real(0, 2.5),
    jitterP: probabilityArb,
    brightness: real(0, 2),
    contrast: real(0, 2),
    saturation: real(0, 2),
    hue: real(0, 0.5),
    grayscaleP: probabilityArb,
    blurP: probabilityArb,
    blurSigma: rangeArb(0.01, 5),
    solarizeP: probabilityArb,
  },
  { requiredKeys: ['size'] },
);

test('augmentation parameters: within their bounds for any seed, options and frame sizes', () => {
  const OPS: JitterOp[] = ['brightness', 'contrast', 'saturation', 'hue'];
  fc.assert(
    fc.property(
      optionsArb,
      fc.array(fc.tuple(sideArb, sideArb), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (options, sizes, seed) => {
        const t = new SimCLRAugmentation(options);
        const n = sizes.length;
        const widths = Int32Array.from(sizes, ([w]) => w);
        const heights = Int32Array.from(sizes, ([, h]) => h);
        const p = t.sample(new Random(seed), n, widths, heights);
        // the documented defaults, filled in here from the option's documentation
        const s = options.strength ?? 1;
        const scale = options.scale ?? [0.08, 1];
        const ratio = options.ratio ?? [3 / 4, 4 / 3];
        const spread: Record<JitterOp, number> = {
          brightness: options.brightness ?? 0.8 * s,
          contrast: options.contrast ?? 0.8 * s,
          saturation: options.saturation ?? 0.8 * s,
          hue: options.hue ?? 0.2 * s,
        };
        const bounds: Record<JitterOp, [number, number]> = {
          brightness: [Math.max(0, 1 - spread.brightness), 1 + spread.brightness],
          contrast: [Math.max(0, 1 - spread.contrast), 1 + spread.contrast],
          saturation: [Math.max(0, 1 - spread.saturation), 1 + spread.saturation],
          hue: [-spread.hue, spread.hue],
        };
        const sigma = options.blurSigma ?? [0.1, 2];
        const probability = {
          flips: options.flipP ?? 0.5,
          jitter: options.jitterP ?? 0.8,
          gray: options.grayscaleP ?? 0.2,
          blur: options.blurP ?? (options.size > 32 ? 0.5 : 0),
          solarize: options.solarizeP ?? 0,
        };
        assert.equal(p.boxes.length, n);
        p.boxes.forEach((b, i) => {
          assertInside(b, widths[i]!, heights[i]!);
          assertCropRule(b, widths[i]!, heights[i]!, scale, ratio);
        });
        for (const [key, prob] of Object.entries(probability) as [keyof typeof probability, number][]) {
          const flags = p[key];
          assert.equal(flags.length, n, key);
          assert.ok(flags.every((f) => typeof f === 'boolean'), `${key} flags are booleans`);
          if (prob === 0) assert.ok(!flags.some(Boolean), `${key} never at p = 0`);
          if (prob === 1) assert.ok(flags.every(Boolean), `${key} always at p = 1`);
        }
        assert.equal(p.order.length, n);
        p.order.forEach((o) => assert.deepEqual([...o].sort(), [...OPS].sort(), 'the four jitter ops, each once'));
        // (factors are stored as float32: rounding to nearest is monotone, so the bounds are rounded too)
        for (const op of OPS) {
          const [lo, hi] = bounds[op];
          assert.equal(p.factors[op].length, n);
          p.factors[op].forEach((f) => assert.ok(f >= Math.fround(lo) && f <= Math.fround(hi), `${op} factor ${f} outside [${lo}, ${hi}]`));
        }
        assert.equal(p.sigma.length, n);
        p.sigma.forEach((v) => assert.ok(v >= Math.fround(sigma[0]) && v <= Math.fround(sigma[1]), `σ ${v} outside ${sigma}`));
        // deterministic per seed
        assert.deepEqual(t.sample(new Random(seed), n, widths, heights), p);
      },
    ),
    { numRuns: 150 },
  );
});

// ---------------------------------------------------------------------------------------------
// 4. NT-Xent.

const ntXentArb = fc
  .tuple(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 8 }))
  .chain(([n, d]) =>
    fc.record({
      n: fc.constant(n),
      d: fc.constant(d),
      z: fc.array(real(-3, 3), { minLength: 2 * n * d, maxLength: 2 * n * d }),
      perm: fc.shuffledSubarray(range(n), { minLength: n, maxLength: n }),
      tau: real(0.05, 2),
    }),
  );

/** Eq. 1 in plain float64 JavaScript: rows i and i + N are positives, the self-pair excluded, the mean over the 2N anchors. */
function bruteNtXent(z: number[], n: number, d: number, tau: number): number {
  const rows = range(2 * n).map((i) => z.slice(i * d, (i + 1) * d));
  const unit = rows.map((r) => {
    const norm = Math.max(Math.hypot(...r), 1e-12);
    return r.map((v) => v / norm);
  });
  const sim = (i: number, j: number) => unit[i]!.reduce((s, v, k) => s + v * unit[j]![k]!, 0) / tau;
  let total = 0;
  for (let i = 0; i < 2 * n; i++) {
    const others = range(2 * n).filter((k) => k !== i).map((k) => sim(i, k));
    const top = Math.max(...others);
    const logSum = top + Math.log(others.reduce((s, v) => s + Math.exp(v - top), 0));
    total += logSum - sim(i, (i + n) % (2 * n));
  }
  return total / (2 * n);
}

/** Checks `check(loss of z, z as a tensor, …)` for every drawn z; `close` compares losses to 1e-9 (relative). */
function ntXentProperty(check: (loss: number, x: Tensor, c: { n: number; d: number; z: number[]; perm: number[]; tau: number; close: (a: number, b: number, what: string) => void }) => void): void {
  fc.assert(
    fc.property(ntXentArb, (c) => {
      const { n, d, z, tau } = c;
      const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b} (N ${n}, d ${d}, τ ${tau})`);
      tidy(() => {
        const x = tensor(Float64Array.from(z), { shape: [2 * n, d] });
        check(ntXentLoss(x, { temperature: tau }).item(), x, { ...c, close });
      });
    }),
  );
}

test('NT-Xent: invariant under swapping the two views (rows i ↔ i + N)', () => {
  ntXentProperty((loss, x, { n, tau, close }) => {
    close(ntXentLoss(cat([x.narrow(0, n, n), x.narrow(0, 0, n)], 0), { temperature: tau }).item(), loss, 'views swapped');
  });
});

test('NT-Xent: invariant under permuting the pairs (one permutation for both halves)', () => {
  ntXentProperty((loss, x, { n, perm, tau, close }) => {
    const p = tensor(BigInt64Array.from(perm, BigInt));
    close(ntXentLoss(cat([x.narrow(0, 0, n).indexSelect(0, p), x.narrow(0, n, n).indexSelect(0, p)], 0), { temperature: tau }).item(), loss, `pairs permuted by ${perm}`);
  });
});

test('NT-Xent: equal to the definition computed by brute force', () => {
  ntXentProperty((loss, _x, { n, d, z, tau, close }) => close(loss, bruteNtXent(z, n, d, tau), 'the definition'));
});

// ---------------------------------------------------------------------------------------------
// 5. kNN.

const knnArb = fc
  .record({
    n: fc.integer({ min: 1, max: 24 }),
    q: fc.integer({ min: 1, max: 8 }),
    d: fc.integer({ min: 2, max: 6 }),
    classes: fc.integer({ min: 1, max: 4 }),
    k: fc.integer({ min: 1, max: 30 }),
    tau: real(0.05, 1),
    chunk: fc.integer({ min: 1, max: 8 }),
  })
  .chain((s) => {
    // (unbiased: fast-check's bias toward 0 and ±1 would make exact similarity ties, which no brute force can order as topk does)
    const floats = (count: number) => fc.noBias(fc.array(real(-1, 1), { minLength: count, maxLength: count }));
    const labels = (count: number) => fc.array(fc.integer({ min: 0, max: s.classes - 1 }), { minLength: count, maxLength: count });
    return fc.record({ s: fc.constant(s), bank: floats(s.n * s.d), bankLabels: labels(s.n), queries: floats(s.q * s.d), queryLabels: labels(s.q) });
  });

/**
 * InstDisc's weighted kNN, as knn.ts documents it, by brute force: cosine similarities, the k most
 * similar bank rows vote for their class with weight exp(sim / τ), the heaviest class wins (the
 * lowest class on a tie, as argmax). `decisive` is false where float32 rounding could change the
 * answer (a near-tie at the k-th neighbour or between the two heaviest classes).
 */
function bruteKnn(bank: number[][], bankLabels: number[], query: number[], k: number, tau: number): { predicted: number; decisive: boolean } {
  const unit = (v: number[]) => {
    const norm = Math.max(Math.hypot(...v), 1e-12);
    return v.map((x) => x / norm);
  };
  const qn = unit(query);
  const sims = bank.map((row, i) => ({ i, s: unit(row).reduce((acc, v, j) => acc + v * qn[j]!, 0) })).sort((a, b) => b.s - a.s);
  const kk = Math.min(k, bank.length);
  let decisive = kk === bank.length || sims[kk - 1]!.s - sims[kk]!.s > 1e-4;
  const votes = new Array<number>(Math.max(...bankLabels) + 1).fill(0);
  for (const { i, s } of sims.slice(0, kk)) votes[bankLabels[i]!]! += Math.exp(s / tau);
  let predicted = 0;
  votes.forEach((v, c) => (v > votes[predicted]! ? (predicted = c) : 0));
  const runnerUp = Math.max(...votes.filter((_, c) => c !== predicted), 0);
  if (votes.length > 1 && votes[predicted]! - runnerUp <= 1e-3 * votes[predicted]!) decisive = false;
  return { predicted, decisive };
}

test('kNN: the same predictions and accuracy as brute force', () => {
  let decisive = 0;
  let all = 0;
  fc.assert(
    fc.property(knnArb, ({ s, bank, bankLabels, queries, queryLabels }) => {
      // the features as float32 (what the implementation computes in), the brute force in float64 on the same values
      const bank32 = Float32Array.from(bank);
      const queries32 = Float32Array.from(queries);
      const rows = (a: Float32Array, count: number) => range(count).map((i) => Array.from(a.subarray(i * s.d, (i + 1) * s.d)));
      const bankRows = rows(bank32, s.n);
      const expected = rows(queries32, s.q).map((q) => bruteKnn(bankRows, bankLabels, q, s.k, s.tau));
      tidy(() => {
        const b = tensor(bank32, { shape: [s.n, s.d] });
        const q = tensor(queries32, { shape: [s.q, s.d] });
        const options = { k: s.k, temperature: s.tau, chunk: s.chunk };
        const predicted = knnPredict(b, Int32Array.from(bankLabels), q, options);
        assert.equal(predicted.length, s.q);
        let sure = 0;
        let unsure = 0;
        expected.forEach((e, i) => {
          all++;
          if (!e.decisive) {
            unsure += 1;
            return;
          }
          decisive++;
          assert.equal(predicted[i], e.predicted, `query ${i}: predicted ${predicted[i]}, brute force ${e.predicted} (k ${s.k}, bank ${s.n})`);
          if (e.predicted === queryLabels[i]) sure++;
        });
        // the accuracy: brute force's correct decisive queries, plus at most the undecided ones
        const correct = knnAccuracy(b, Int32Array.from(bankLabels), q, Int32Array.from(queryLabels), options) * s.q;
        assert.ok(correct >= sure - 1e-9 && correct <= sure + unsure + 1e-9, `accuracy ${correct / s.q}: brute force ${sure} correct of ${s.q} (${unsure} undecided)`);
      });
    }),
    { numRuns: 150 },
  );
  // the comparison is not vacuous: near-ties are rare
  assert.ok(decisive > 0.9 * all, `only ${decisive} of ${all} queries compared`);
});

// ---------------------------------------------------------------------------------------------
// 6. safetensors round trip.

/** The format's dtype codes and element sizes (from the specification, not from safetensors.ts). */
const ST: Record<string, { code: string; bytes: number }> = {
  float64: { code: 'F64', bytes: 8 },
  float32: { code: 'F32', bytes: 4 },
  float16: { code: 'F16', bytes: 2 },
  bfloat16: { code: 'BF16', bytes: 2 },
  int64: { code: 'I64', bytes: 8 },
  int32: { code: 'I32', bytes: 4 },
  int16: { code: 'I16', bytes: 2 },
  int8: { code: 'I8', bytes: 1 },
  uint8: { code: 'U8', bytes: 1 },
  bool: { code: 'BOOL', bytes: 1 },
};

/** One tensor: a dtype, a shape (scalars and 0-sized dims included) and its raw little-endian bytes (any bit pattern; bool 0 or 1). */
const tensorSpecArb = fc
  .tuple(fc.constantFrom(...(Object.keys(ST) as DType[])), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }))
  .chain(([dtype, shape]) => {
    const length = shape.reduce((a, b) => a * b, 1) * ST[dtype]!.bytes;
    const max = dtype === 'bool' ? 1 : 255;
    return fc.record({ dtype: fc.constant(dtype), shape: fc.constant(shape), bytes: fc.uint8Array({ minLength: length, maxLength: length, max }) });
  });

const nameArb = fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('a', '0', '7', 'toString', 'constructor', 'hasOwnProperty', '__proto__'));
const safetensorsArb = fc.record({
  tensors: fc.uniqueArray(fc.tuple(nameArb, tensorSpecArb), { selector: ([name]) => name, maxLength: 5 }).map((ts) => ts.filter(([name]) => name !== '__metadata__')),
  metadata: fc.array(fc.tuple(nameArb, fc.string({ unit: 'binary', maxLength: 12 })), { maxLength: 4 }).map((pairs) => {
    const out: Record<string, string> = {};
    for (const [k, v] of pairs) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    return out;
  }),
});

/** The tensor's bytes, as stored in memory (little-endian on every machine this runs on). */
const bytesOf = (t: Tensor): number[] => tidy(() => Array.from(ops.view$dtype(t.contiguous().flatten(), 'uint8').toArray() as Uint8Array));

test('safetensors: any dtype, shape and metadata round-trip through bytes and through a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'simclr-prop-st-'));
  let file = 0;
  try {
    fc.assert(
      fc.property(safetensorsArb, ({ tensors, metadata }) => {
        tidy(() => {
          const made = tensors.map(([name, spec]) => {
            const raw = tensor(Uint8Array.from(spec.bytes));
            const t = spec.dtype === 'bool' ? raw.to('bool') : ops.view$dtype(raw, spec.dtype);
            return [name, t.reshape(spec.shape)] as [string, Tensor];
          });
          const path = join(dir, `${file++}.safetensors`);
          saveSafetensors(path, made, metadata);
          // the file's size: the 8-byte length, the header padded to 8, then every element's bytes
          const pieces = serializeSafetensors(made, metadata);
          const headerLength = Number(Buffer.from(pieces[0]!).readBigUInt64LE(0));
          assert.equal(headerLength % 8, 0);
          const dataBytes = tensors.reduce((s, [, spec]) => s + spec.bytes.length, 0);
          assert.equal(statSync(path).size, 8 + headerLength + dataBytes, 'file size');
          const bytes = Buffer.concat(pieces);
          assert.equal(bytes.length, 8 + headerLength + dataBytes, 'serialized size');
          for (const loaded of [parseSafetensors(bytes), loadSafetensors(path)]) {
            assert.deepEqual(Object.entries(loaded.metadata), Object.entries(metadata), 'metadata');
            // every name; in the given order where the data's offsets fix it (a JSON object lists
            // integer-like keys first, so empty tensors — all at one offset — may come back reordered)
            assert.deepEqual([...loaded.tensors.keys()].sort(), tensors.map(([name]) => name).sort(), 'names');
            const nonEmpty = (names: string[]) => names.filter((name) => tensors.find(([n]) => n === name)![1].bytes.length > 0);
            assert.deepEqual(nonEmpty([...loaded.tensors.keys()]), nonEmpty(tensors.map(([name]) => name)), 'names in order');
            for (const [name, spec] of tensors) {
              const t = loaded.tensors.get(name)!;
              assert.equal(t.dtype, spec.dtype, `${JSON.stringify(name)} dtype`);
              assert.deepEqual(t.shape, spec.shape, `${JSON.stringify(name)} shape`);
              assert.deepEqual(bytesOf(t), Array.from(spec.bytes), `${JSON.stringify(name)} (${spec.dtype}) values`);
            }
          }
        });
      }),
      { numRuns: 150 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

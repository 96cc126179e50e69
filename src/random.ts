// A small, fast, seedable PRNG (xoshiro128**) for data order and augmentation parameters. Its state
// is four 32-bit words, saved in checkpoints so that a resumed run draws exactly the same numbers.

/** A {@link Random}'s state: four 32-bit words. */
export type RandomState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A small, fast, seedable PRNG (xoshiro128**) whose state can be saved and restored exactly. */
export class Random {
  #s: Uint32Array;

  /** Seeds from one integer, or from several (e.g. seed and epoch) mixed together. */
  constructor(...seeds: number[]) {
    let mix = 0x2545f491;
    for (const seed of seeds) mix = splitmix32((mix ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0)() ^ (Math.floor(seed / 2 ** 32) >>> 0);
    const next = splitmix32(mix);
    this.#s = Uint32Array.from([next(), next(), next(), next()]);
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  /** A generator that continues from a saved {@link Random.state}. */
  static fromState(state: RandomState): Random {
    const r = new Random(0);
    r.#s = Uint32Array.from(state);
    return r;
  }

  /** A copy of the current state, to restore with {@link Random.fromState}. */
  get state(): RandomState {
    return [this.#s[0]!, this.#s[1]!, this.#s[2]!, this.#s[3]!];
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits. */
  next(): number {
    return (this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11)) / 2 ** 53;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** An integer uniform in [low, high), unbiased. */
  int(low: number, high: number): number {
    const span = high - low;
    if (!(span > 0)) throw new RangeError(`empty range [${low}, ${high})`);
    return low + Math.floor(this.next() * span);
  }

  /** true with probability `p` (0–1). */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

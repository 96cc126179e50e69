// Test helpers: finite-difference gradient checks computed independently of autograd.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Tensor, tensor, tidy, noGrad } from '../src/index.js';

setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;

/**
 * A full collection now. Handles the GC owns (tensors made outside any scope) are finalized within
 * the collection that finds them dead, so a test that counts live tensors collects first: garbage of
 * earlier tests must not die inside what it measures.
 */
export function collectGarbage(): void {
  fullGc();
}

/** Float64 data of a tensor as a plain array. */
export function values(t: Tensor): number[] {
  return Array.from(t.to('float64').toArray() as Float64Array);
}

/** A float64 tensor of `shape` with deterministic pseudo-random values in [lo, hi). */
export function seeded(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return tensor(data, { shape });
}

/**
 * Compares autograd's gradient of L(x) = Σ fn(x) ⊙ w (w fixed, random) with central finite
 * differences, for every input. Returns the largest norm-wise relative error.
 */
export function gradcheck(fn: (inputs: Tensor[]) => Tensor, inputs: Tensor[], h = 1e-6): number {
  return tidy(() => {
    const leaves = inputs.map((x) => x.detach().requiresGrad_(true));
    const out = fn(leaves);
    const weight = seeded(out.shape, 12345);
    out.mul(weight).sum().backward();
    const analytic = leaves.map((x) => values(x.grad!));
    const loss = (xs: Tensor[]): number => tidy(() => noGrad(() => fn(xs).mul(weight).sum().item()));
    let worst = 0;
    inputs.forEach((input, k) => {
      const base = values(input);
      const numeric = base.map((_, i) => {
        const at = (delta: number): number =>
          tidy(() => {
            const data = Float64Array.from(base);
            data[i] = data[i]! + delta;
            const xs = inputs.map((x, j) => (j === k ? tensor(data, { shape: input.shape }) : x));
            return loss(xs);
          });
        return (at(h) - at(-h)) / (2 * h);
      });
      const a = analytic[k]!;
      const diff = Math.sqrt(a.reduce((s, v, i) => s + (v - numeric[i]!) ** 2, 0));
      const scale = Math.sqrt(numeric.reduce((s, v) => s + v * v, 0));
      worst = Math.max(worst, diff / Math.max(scale, 1e-12));
    });
    return worst;
  });
}

/** The repository root (tests run from dist/test). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** ‖a − b‖ / ‖b‖ over all elements, in float64. */
export function relativeError(a: Tensor, b: Tensor): number {
  return tidy(() => {
    const x = a.to('float64');
    const y = b.to('float64');
    const scale = y.norm().item();
    return x.sub(y).norm().item() / Math.max(scale, 1e-30);
  });
}

/** The loss of every step of a run, from its metrics.jsonl. */
export function stepLosses(runDir: string): number[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'step')
    .map((r) => r.loss);
}

/**
 * A labelled folder of small deterministic colour PNGs (class folders a, b, c; `perClass` each,
 * `width` × `height`, 32×32 by default): each class a colour, each image a rectangle of half the
 * sides at its own position over noise.
 */
export async function colourFolder(root: string, perClass = 8, width = 32, height = width): Promise<string[]> {
  const { default: sharp } = await import('sharp');
  const { mkdirSync } = await import('node:fs');
  const colours = { a: [220, 40, 40], b: [40, 200, 60], c: [50, 60, 230] } as const;
  const files: string[] = [];
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (const [name, colour] of Object.entries(colours)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const pixels = Buffer.alloc(width * height * 3);
      const [x0, y0] = [Math.floor(next() * width * 0.5), Math.floor(next() * height * 0.5)];
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const inside = x >= x0 && x < x0 + width / 2 && y >= y0 && y < y0 + height / 2;
          for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = inside ? colour[c]! : Math.floor(next() * 256);
        }
      }
      const file = join(root, name, `${i}.png`);
      await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(file);
      files.push(file);
    }
  }
  return files;
}

/** A page opened in headless Chromium (/usr/bin/chromium, installed by ./setup.sh) once `ready` (a JS expression) holds, with its console errors and every request it made. */
export async function openInChromium(file: string, ready: string, viewport = { width: 1280, height: 900 }) {
  const { chromium } = await import('playwright-core');
  if (!existsSync('/usr/bin/chromium')) throw new Error('Chromium is installed by ./setup.sh');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`file://${file}`);
  await page.waitForFunction(ready);
  return { page, errors, requests, close: () => browser.close() };
}

// The augmentation T: each transform against its definition, the crop distribution, colour jitter
// against torchvision (fixture from scripts/fixtures/make_color_fixture.py), determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSafetensors, tensor, tidy, ones, zeros, full, rand, type Tensor } from '../src/index.js';
import { Random } from '../src/random.js';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, grayscale } from '../src/augment/color.js';
import { gaussianBlur, blurKernelSize } from '../src/augment/blur.js';
import { resizedCrops, sampleCropBox } from '../src/augment/geometry.js';
import { SimCLRAugmentation, type JitterOp, type ViewParams } from '../src/augment/simclr-augmentation.js';
import { repoRoot } from './helpers.js';
import { AUGMENT_CHOICES, configAugmentation, pretrainDefaults, type AugmentChoice } from '../src/simclr/config.js';
import { buildModel, modelConfig } from '../src/simclr/model.js';

const pixel = (r: number, g: number, b: number): Tensor => tensor([r, g, b]).reshape([1, 3, 1, 1]);

test('hue shift of 1/3 turn maps pure red to pure green', () => {
  tidy(() => assert.deepEqual(adjustHue(pixel(1, 0, 0), tensor([1 / 3])).toNumbers().map((v) => Math.round(v * 1e6) / 1e6), [0, 1, 0]));
});

test('grayscale of (255, 0, 0) is 76 (ITU-R 601-2)', () => {
  tidy(() => assert.equal(Math.round(grayscale(pixel(1, 0, 0)).item() * 255 - 0.5), 76));
  tidy(() => assert.equal(Math.floor(grayscale(pixel(1, 0, 0)).item() * 255), 76));
});

test('brightness factor 0 gives black; contrast factor 0 gives the flat grey mean; saturation 0 gives gray', () => {
  tidy(() => {
    const x = rand([2, 3, 5, 5]);
    assert.equal(adjustBrightness(x, tensor([0, 0])).abs().sum().item(), 0);
    const flat = adjustContrast(x, tensor([0, 0]));
    const mean = grayscale(x).mean([1, 2, 3]);
    for (let i = 0; i < 2; i++) {
      const img = flat.select(0, i);
      assert.ok(img.sub(mean.select(0, i)).abs().amax().item() < 1e-6);
    }
    const gray = adjustSaturation(x, tensor([0, 0]));
    assert.ok(gray.sub(grayscale(x).expand(x.shape)).abs().amax().item() < 1e-6);
    assert.ok(adjustHue(x, tensor([0, 0])).sub(x).abs().amax().item() < 1e-5);
  });
});

test('a crop box covering the whole image returns it; two flips are the identity', () => {
  tidy(() => {
    const x = rand([2, 3, 7, 9]);
    const whole = { x: 0, y: 0, width: 9, height: 7 };
    const same = resizedCrops(x.narrow(3, 0, 7), [{ ...whole, width: 7 }, { ...whole, width: 7 }], [false, false], 7);
    assert.ok(same.sub(x.narrow(3, 0, 7)).abs().amax().item() < 1e-6);
    const square = x.narrow(3, 0, 7).contiguous();
    const box = { x: 0, y: 0, width: 7, height: 7 };
    const once = resizedCrops(square, [box, box], [true, true], 7);
    assert.ok(once.sub(square.flip([3])).abs().amax().item() < 1e-6);
    const twice = resizedCrops(once, [box, box], [true, true], 7);
    assert.ok(twice.sub(square).abs().amax().item() < 1e-6);
    // a crop of the left half, resized: sub-pixel sampling of the right columns only
    const half = resizedCrops(square, [{ x: 0, y: 0, width: 3, height: 7 }, box], [false, false], 7);
    assert.deepEqual(half.shape, [2, 3, 7, 7]);
  });
});

test('blurring a constant image leaves it constant; blur spreads an impulse symmetrically', () => {
  tidy(() => {
    const c = full([2, 3, 16, 16], 0.3);
    assert.ok(gaussianBlur(c, tensor([0.5, 2]), 5).sub(0.3).abs().amax().item() < 1e-6);
    const impulse = zeros([1, 1, 9, 9]);
    impulse.narrow(2, 4, 1).narrow(3, 4, 1).fill_(1);
    const b = gaussianBlur(impulse, tensor([1]), 5);
    assert.ok(Math.abs(b.sum().item() - 1) < 1e-6);
    const v = b.toNumbers();
    assert.ok(Math.abs(v[4 * 9 + 3]! - v[4 * 9 + 5]!) < 1e-7 && Math.abs(v[3 * 9 + 4]! - v[4 * 9 + 3]!) < 1e-7);
    // the 1-d kernel at distance 1 relative to the centre is exp(-1/2) for σ = 1
    assert.ok(Math.abs(v[4 * 9 + 3]! / v[4 * 9 + 4]! - Math.exp(-0.5)) < 1e-5);
    assert.equal(blurKernelSize(224), 23);
    assert.equal(blurKernelSize(96), 11);
  });
});

function chiSquare(values: number[], low: number, high: number, bins = 10): number {
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor(((v - low) / (high - low)) * bins)))]++;
  const expected = values.length / bins;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

test('over 10,000 draws, crop area and log-aspect are uniform (chi-square, 9 dof, p = 0.001)', () => {
  const rng = new Random(42);
  const areas: number[] = [];
  const logAspects: number[] = [];
  // On a square image, crops with area ≤ 3/4 always fit, so no try is rejected.
  for (let i = 0; i < 10_000; i++) {
    const b = sampleCropBox(rng, 1000, 1000, [0.08, 0.75], [3 / 4, 4 / 3]);
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= 1000 && b.y + b.height <= 1000);
    areas.push((b.width * b.height) / 1e6);
    logAspects.push(Math.log(b.width / b.height));
  }
  const critical = 27.88;
  assert.ok(chiSquare(areas, 0.08, 0.75) < critical, `area chi-square ${chiSquare(areas, 0.08, 0.75)}`);
  assert.ok(chiSquare(logAspects, Math.log(3 / 4), Math.log(4 / 3)) < critical, `aspect chi-square`);
  // a distribution that is not uniform fails the same test
  assert.ok(chiSquare(areas.map((a) => a * a), 0.08, 0.75) > critical);
  // impossible requests fall back to the centre crop
  assert.deepEqual(sampleCropBox(rng, 40, 20, [2, 3], [3 / 4, 4 / 3]), { x: 6, y: 0, width: 27, height: 20 });
});

const OPS: JitterOp[] = ['brightness', 'contrast', 'saturation', 'hue'];

test('colour jitter at fixed factors and orders matches torchvision within 1/255', () => {
  const { tensors: fx } = loadSafetensors(join(repoRoot, 'test', 'fixtures', 'color_jitter.safetensors'));
  tidy(() => {
    const x = fx.get('input')!;
    const factors = fx.get('factors')!.toNumbers();
    const order = fx.get('order')!.toNumbers();
    const n = x.size(0);
    const fns = { brightness: adjustBrightness, contrast: adjustContrast, saturation: adjustSaturation, hue: adjustHue };
    // 1. the functions, image by image
    for (let i = 0; i < n; i++) {
      let img = x.narrow(0, i, 1);
      for (let k = 0; k < 4; k++) {
        const op = OPS[order[i * 4 + k]!]!;
        img = fns[op](img, tensor([factors[i * 4 + OPS.indexOf(op)]!]));
      }
      const err = img.sub(fx.get('output')!.narrow(0, i, 1)).abs().amax().item();
      assert.ok(err <= 1 / 255, `image ${i}: ${err}`);
    }
    // 2. T's batched path, with those parameters forced
    const t = new SimCLRAugmentation({ size: 12 });
    const box = { x: 0, y: 0, width: 12, height: 12 };
    const params: ViewParams = {
      boxes: Array(n).fill(box),
      flips: Array(n).fill(false),
      jitter: Array(n).fill(true),
      order: Array.from({ length: n }, (_, i) => Array.from({ length: 4 }, (_, k) => OPS[order[i * 4 + k]!]!)),
      factors: Object.fromEntries(OPS.map((op, j) => [op, Float32Array.from({ length: n }, (_, i) => factors[i * 4 + j]!)])) as ViewParams['factors'],
      gray: Array(n).fill(false),
      blur: Array(n).fill(false),
      sigma: new Float32Array(n),
      solarize: Array(n).fill(false),
    };
    const out = t.apply(x.mul(255).round().to('uint8'), params);
    const err = out.sub(fx.get('output')!).abs().amax().item();
    assert.ok(err <= 1 / 255, `batched: ${err}`);
  });
  for (const v of fx.values()) v.dispose();
});

test('the same seed gives the same views; another seed, other views', () => {
  tidy(() => {
    const images = rand([4, 3, 20, 20]).mul(255).to('uint8');
    const t = new SimCLRAugmentation({ size: 16, blurP: 0.5 });
    const a = t.pair(images, new Random(7));
    const b = t.pair(images, new Random(7));
    const c = t.pair(images, new Random(8));
    assert.deepEqual(a.shape, [8, 3, 16, 16]);
    assert.equal(a.sub(b).abs().amax().item(), 0);
    assert.ok(a.sub(c).abs().amax().item() > 0.1);
    assert.ok(a.amin().item() >= 0 && a.amax().item() <= 1);
    const gray = t.pair(ones([2, 1, 20, 20], { dtype: 'uint8' }).mul(100), new Random(1));
    assert.deepEqual(gray.shape, [4, 1, 16, 16]);
  });
});

test('--augment turns T\'s transforms off: crop (and flip), color (jitter and grayscale), blur; a model\'s head none gives z = h', () => {
  const config = (augment: AugmentChoice) => ({ ...pretrainDefaults, augment, blur: 1, strength: 1 });
  const n = 400;
  const sizes = Array.from({ length: n }, () => 40);
  for (const augment of AUGMENT_CHOICES) {
    const p = configAugmentation(config(augment), 40).sample(new Random(7), n, sizes, sizes);
    const on = new Set(augment.split('+'));
    const whole = p.boxes.every((b) => b.x === 0 && b.y === 0 && b.width === 40 && b.height === 40);
    assert.equal(whole, !on.has('crop'), `${augment}: crops`);
    assert.equal(p.flips.some(Boolean), on.has('crop'), `${augment}: flips`);
    assert.equal(p.jitter.some(Boolean) && p.gray.some(Boolean), on.has('color'), `${augment}: colour`);
    assert.equal(p.jitter.every((j) => !j) && p.gray.every((g) => !g), !on.has('color'), `${augment}: no colour`);
    assert.equal(p.blur.every(Boolean), on.has('blur'), `${augment}: blur at p 1`);
    assert.equal(p.blur.some(Boolean), on.has('blur'), `${augment}: no blur`);
  }
  // (every transform off: each view is the image itself)
  tidy(() => {
    const image = rand([1, 3, 16, 16]);
    const views = configAugmentation(config('none'), 16).pair(image, new Random(1));
    assert.equal(views.sub(image.expand([2, 3, 16, 16])).abs().amax().item(), 0);
  });
  tidy(() => {
    const model = buildModel(modelConfig({ ...pretrainDefaults, cifarStem: true, head: 'none' }, 3));
    model.eval();
    const x = rand([2, 3, 16, 16]);
    assert.equal(model.forward(x).sub(model.encoder.forward(x)).abs().amax().item(), 0);
    model.dispose();
  });
});

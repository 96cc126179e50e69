// Photos: frames kept whole at their source resolution, crops drawn over the whole frame as
// torchvision draws them (a fixture made by PyTorch), cut and resampled as ATen resamples, the
// recipe chosen from the images, and the bad photos a user has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { cat, memory, tensor, tidy } from '../src/index.js';
import * as F from '../src/tensor/functional.js';
import { resizedCrops, type Box } from '../src/augment/geometry.js';
import { SimCLRAugmentation } from '../src/augment/simclr-augmentation.js';
import { Frames } from '../src/data/frames.js';
import { imageFolder } from '../src/data/folder.js';
import { Loader } from '../src/data/loader.js';
import { DataError } from '../src/data/source.js';
import { Random } from '../src/random.js';
import { collectGarbage, colourFolder, repoRoot } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-photos-'));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** Deterministic bytes in [0, 255]. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) out[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  return out;
}

test('crop boxes on a non-square photo fall where torchvision RandomResizedCrop.get_params puts them', () => {
  const fixture = JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'crop_boxes.json'), 'utf8')) as {
    width: number;
    height: number;
    samples: number;
    measures: Record<string, { edges: number[]; counts: number[] }>;
  };
  const { width, height, samples } = fixture;
  // the augmentation's own draw for frames of this size (as a batch of photos gives it)
  const t = new SimCLRAugmentation({ size: 96 });
  const boxes = t.sample(new Random(11), samples, new Int32Array(samples).fill(width), new Int32Array(samples).fill(height)).boxes;
  const measure: Record<string, (b: Box) => number> = {
    area: (b) => (b.width * b.height) / (width * height),
    logAspect: (b) => Math.log(b.width / b.height),
    centreX: (b) => (b.x + b.width / 2) / width,
    centreY: (b) => (b.y + b.height / 2) / height,
  };
  for (const [name, { edges, counts }] of Object.entries(fixture.measures)) {
    const ours = new Array<number>(counts.length).fill(0);
    const span = edges.at(-1)! - edges[0]!;
    for (const b of boxes) ours[Math.min(Math.max(Math.floor(((measure[name]!(b) - edges[0]!) / span) * counts.length), 0), counts.length - 1)]!++;
    // two-sample chi-square (equal sample sizes) against its degrees of freedom, at about 5 standard deviations
    let chi2 = 0;
    let bins = 0;
    ours.forEach((a, k) => {
      const b = counts[k]!;
      if (a + b > 0) (chi2 += (a - b) ** 2 / (a + b)), bins++;
    });
    const dof = bins - 1;
    assert.ok(chi2 < dof + 5 * Math.sqrt(2 * dof), `${name}: chi-square ${chi2.toFixed(1)} over ${dof} degrees of freedom\nours  ${ours}\ntorch ${counts}`);
  }
  // the boxes reach the sides of the wide frame, where a centre square never goes
  assert.ok(boxes.some((b) => b.x === 0) && boxes.some((b) => b.x + b.width === width));
  const outside = boxes.filter((b) => b.x < (width - height) / 2 || b.x + b.width > (width + height) / 2).length;
  assert.ok(outside > samples / 2, `${outside} of ${samples} crops reach beyond the centre square`);
});

test('crops resampled as ATen does: bilinear enlarging, antialiased shrinking; frames of different sizes and layouts', () => {
  const sizes = [
    [90, 140],
    [50, 33],
    [200, 60],
  ] as const;
  const planar = sizes.map(([h, w], i) => tensor(noise(3 * h * w, i + 1), { shape: [1, 3, h, w] }));
  // the same frames interleaved (H×W×C, as images decode), end to end in one tensor
  const interleaved = tidy(() => {
    const parts = planar.map((p) => p.permute([0, 2, 3, 1]).contiguous().flatten());
    const offsets = new Float64Array(parts.length);
    parts.forEach((p, i) => i > 0 && (offsets[i] = offsets[i - 1]! + parts[i - 1]!.numel));
    return new Frames(cat(parts, 0), 3, 'interleaved', offsets, Int32Array.from(sizes, ([h]) => h), Int32Array.from(sizes, ([, w]) => w)).keep();
  });
  const cases: { frame: number; box: Box; size: number; flip: boolean }[] = [
    { frame: 0, box: { x: 10, y: 5, width: 120, height: 80 }, size: 32, flip: false }, // shrinking both ways
    { frame: 0, box: { x: 0, y: 0, width: 140, height: 90 }, size: 17, flip: true },
    { frame: 1, box: { x: 3, y: 7, width: 20, height: 40 }, size: 30, flip: false }, // enlarging x, shrinking y
    { frame: 1, box: { x: 0, y: 0, width: 33, height: 50 }, size: 64, flip: true }, // enlarging both ways
    { frame: 2, box: { x: 1, y: 2, width: 57, height: 190 }, size: 23, flip: false },
  ];
  for (const c of cases) {
    tidy(() => {
      const crop = planar[c.frame]!.float().div(255).narrow(2, c.box.y, c.box.height).narrow(3, c.box.x, c.box.width);
      let expected = F.interpolate(crop, { size: [c.size, c.size], mode: 'bilinear', antialias: true });
      if (c.flip) expected = expected.flip([3]);
      for (const [name, input] of [['planar', planar[c.frame]!], ['interleaved', interleaved]] as const) {
        const source = name === 'planar' ? [0] : [c.frame];
        const got = resizedCrops(input, [c.box], [c.flip], c.size, source);
        const worst = got.sub(expected).abs().amax().item();
        assert.ok(worst < 1e-5, `${name} ${JSON.stringify(c)}: differs from ATen by ${worst}`);
      }
    });
  }
  // enlarging is plain bilinear (align_corners false): the antialiased filter is the same there
  tidy(() => {
    const crop = planar[1]!.float().div(255);
    const got = resizedCrops(planar[1]!, [{ x: 0, y: 0, width: 33, height: 50 }], [false], 64);
    assert.ok(got.sub(F.interpolate(crop, { size: [64, 64], mode: 'bilinear' })).abs().amax().item() < 1e-6);
  });
  assert.throws(() => resizedCrops(interleaved, [{ x: 0, y: 0, width: 60, height: 201 }], [false], 8, [2]), /not inside a 60x200 image/);
  interleaved.dispose();
  for (const p of planar) p.dispose();
});

/** A wide photo whose left half is fine vertical stripes (period 4 px) and right half flat grey. */
async function stripedPhoto(file: string, width = 400, height = 300): Promise<void> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.fill(x < width / 2 ? (x % 4 < 2 ? 0 : 255) : 128, (y * width + x) * 3, (y * width + x + 1) * 3);
  await sharp(raw, { raw: { width, height, channels: 3 } }).png().toFile(file);
}

test('a small crop keeps the detail of the photo: cut from the frame, not from the 96-px thumbnail', async () => {
  const root = join(base, 'striped');
  mkdirSync(root);
  await stripedPhoto(join(root, 'photo.png'));
  const contrast = async (sourceScale: number) => {
    const source = await imageFolder(root, { size: 96, sourceScale, cacheDir: null });
    const frames = await source.loadFrames!([0]);
    const [w, h] = [frames.widths[0]!, frames.heights[0]!];
    // 8% of the frame's area (the smallest crop), in the striped half
    const side = Math.round(Math.sqrt(0.08 * w * h));
    const view = resizedCrops(frames, [{ x: Math.round(w * 0.1), y: Math.round(h * 0.3), width: side, height: side }], [false], 96);
    const std = tidy(() => view.std().item());
    view.dispose();
    frames.dispose();
    source.dispose?.();
    return { std, w, h };
  };
  const photo = await contrast(3.5);
  const thumbnail = await contrast(1);
  assert.deepEqual([photo.w, photo.h], [400, 300], 'the photo is below the frame cap (336 px): kept as it is');
  assert.deepEqual([thumbnail.w, thumbnail.h], [128, 96], 'a thumbnail of the whole frame, shorter side 96');
  assert.ok(photo.std > 0.3, `the stripes survive in the view (std ${photo.std})`);
  assert.ok(thumbnail.std < 0.1, `the thumbnail's crop has lost them (std ${thumbnail.std})`);
});

test('bad photos at every view size: truncated, CMYK, 16-bit, EXIF-rotated, 20,000 × 20,000 px, animated', async () => {
  const root = join(base, 'odd-photos');
  mkdirSync(root);
  const solid = (width: number, height: number, rgb: number[]) => sharp({ create: { width, height, channels: 3, background: { r: rgb[0]!, g: rgb[1]!, b: rgb[2]! } }, limitInputPixels: false });
  await solid(160, 120, [200, 30, 30]).jpeg({ quality: 95 }).toFile(join(root, 'a-plain.jpg'));
  await solid(150, 150, [200, 30, 30]).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(join(root, 'b-cmyk.jpg'));
  await solid(130, 90, [30, 200, 30]).toColourspace('rgb16').png().toFile(join(root, 'c-16bit.png'));
  // 200 wide, 100 high, red left and blue right; EXIF orientation 6 stands it up: red on top
  const halves = Buffer.alloc(200 * 100 * 3);
  for (let i = 0; i < 200 * 100; i++) halves.set(i % 200 < 100 ? [255, 0, 0] : [0, 0, 255], 3 * i);
  await sharp(halves, { raw: { width: 200, height: 100, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(join(root, 'd-exif.jpg'));
  await solid(20_000, 20_000, [30, 30, 200]).jpeg({ quality: 50 }).toFile(join(root, 'e-huge.jpg'));
  // two frames: the first (yellow) is the image
  const yellow = await solid(80, 100, [230, 230, 20]).raw().toBuffer();
  const grey = await solid(80, 100, [90, 90, 90]).raw().toBuffer();
  await sharp(Buffer.concat([yellow, grey]), { raw: { width: 80, height: 200, channels: 3, pageHeight: 100 } }).gif({ loop: 0, delay: [100, 100] }).toFile(join(root, 'f-animated.gif'));
  const jpeg = await solid(120, 80, [1, 100, 200]).jpeg().toBuffer();
  writeFileSync(join(root, 'g-truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));

  const near = (a: number[], b: number[], tol: number) => a.every((v, k) => Math.abs(v - b[k]!) <= tol);
  for (const size of [32, 96]) {
    await assert.rejects(imageFolder(root, { size, cacheDir: null }), (e: unknown) => e instanceof DataError && /g-truncated\.jpg: cannot decode/.test(e.message));
    const prepared: number[][] = [];
    for (const memoryLimit of [undefined, 1]) {
      const warnings: string[] = [];
      const source = await imageFolder(root, { size, skipBad: true, memoryLimit, cacheDir: join(base, `odd-cache-${size}-${memoryLimit}`), warn: (m) => warnings.push(m) });
      assert.equal(source.size, 6);
      assert.equal(source.skipped, 1);
      assert.ok(warnings.some((w) => w.includes('g-truncated.jpg')), warnings.join('\n'));
      const images = await source.load([0, 1, 2, 3, 4, 5]);
      assert.deepEqual(images.shape, [6, 3, size, size]);
      const centre = (i: number, y = size >> 1) => tidy(() => images.select(0, i).select(1, y).select(1, size >> 1).toNumbers());
      assert.ok(near(centre(0), [200, 30, 30], 6), `plain ${centre(0)}`);
      assert.ok(near(centre(1), [200, 30, 30], 40), `cmyk ${centre(1)}`);
      assert.ok(near(centre(2), [30, 200, 30], 3), `16-bit ${centre(2)}`);
      assert.ok(near(centre(3, 2), [255, 0, 0], 40) && near(centre(3, size - 3), [0, 0, 255], 40), `exif: red on top ${centre(3, 2)}, blue below ${centre(3, size - 3)}`);
      assert.ok(near(centre(4), [30, 30, 200], 6), `20,000 px ${centre(4)}`);
      assert.ok(near(centre(5), [230, 230, 20], 6), `animated: the first frame ${centre(5)}`);
      const frames = await source.loadFrames!([3, 4]);
      const cap = Math.ceil(3.5 * size);
      assert.deepEqual([frames.widths[0], frames.heights[0]], [100, 200], 'the EXIF-rotated photo stands, kept whole (below the cap)');
      assert.deepEqual([frames.widths[1], frames.heights[1]], [cap, cap], 'the huge photo shrunk to the cap');
      frames.dispose();
      prepared.push(Array.from(images.toArray() as Uint8Array));
      images.dispose();
      source.dispose?.();
    }
    assert.deepEqual(prepared[1], prepared[0], 'streamed and in-memory folders prepare the same images');
  }
});

test('a folder above the decode limit streams: every batch decoded anew, memory bounded over epochs', async () => {
  const root = join(base, 'stream');
  await colourFolder(root, 16, 120, 90);
  const source = await imageFolder(root, { size: 64, memoryLimit: 1, cacheDir: null });
  assert.equal(source.loadSync, undefined, 'no images held in memory');
  const loader = new Loader(source, { batchSize: 12, seed: 1 });
  const t = new SimCLRAugmentation({ size: 64 });
  const live: number[] = [];
  const rss: number[] = [];
  for (let epoch = 0; epoch < 6; epoch++) {
    for await (const batch of loader.epoch(epoch)) {
      assert.deepEqual([batch.frames.count, batch.frames.widths[0], batch.frames.heights[0]], [12, 120, 90]);
      tidy(() => void t.pair(batch.frames, new Random(epoch, batch.step)));
      batch.frames.dispose();
    }
    collectGarbage();
    live.push(memory().tensors);
    rss.push(process.memoryUsage().rss);
  }
  assert.ok(live.every((n) => n === live[0]), `tensors alive after each epoch: ${live}`);
  assert.ok(rss.at(-1)! - rss[1]! < 64 * 2 ** 20, `RSS grew by ${((rss.at(-1)! - rss[1]!) / 2 ** 20).toFixed(1)} MB over epochs 2–6`);
});

test('pretrain chooses the recipe from the images and says so: photos get the ImageNet stem and 96-px views, a 32-px folder keeps 32 px and the CIFAR stem; given flags win', async () => {
  const photos = join(base, 'recipe-photos');
  const small = join(base, 'recipe-small');
  await colourFolder(photos, 6, 200, 150);
  await colourFolder(small, 6, 32, 32);
  const run = (data: string, name: string, ...flags: string[]) => {
    const out = join(base, name);
    const r = spawnSync(process.execPath, [cli, 'pretrain', '--data', data, '--out', out, '--epochs', '1', '--batch-size', '6', '--test-fraction', '0', '--knn-every', '0', '--no-report', ...flags], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: join(base, 'xdg') } });
    assert.equal(r.status, 0, r.stderr);
    return { stderr: r.stderr, config: JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) };
  };
  const photo = run(photos, 'run-photos');
  assert.match(photo.stderr, /recipe: photo — 96 px views, ImageNet stem, blur p 0\.5, colour strength 1 \(photos: 18 images, shorter side 150 px \(at least 64\); crops cut from the whole photo\)/);
  assert.match(photo.stderr, /an epoch of 18 images: about .* of model steps here \(\d+ views\/s measured\)/);
  assert.deepEqual([photo.config.imageSize, photo.config.cifarStem, photo.config.blur, photo.config.strength], [96, false, 0.5, 1]);
  assert.equal(photo.config.recipeChoice.kind, 'photo');
  assert.equal(photo.config.recipeChoice.imageSide, 150);
  assert.ok(photo.config.recipeChoice.expectedEpochSeconds >= 0);
  // the report of a photo run: the map's hover tiles shrunk to 64 px (full 96-px views for the gallery)
  const report = spawnSync(process.execPath, [cli, 'report', join(base, 'run-photos')], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: join(base, 'xdg') } });
  assert.equal(report.status, 0, report.stderr);
  const html = readFileSync(join(base, 'run-photos', 'report.html'), 'utf8');
  assert.match(html, /"tile":64,"columns":5\b/);
  const thumbs = run(small, 'run-small');
  assert.match(thumbs.stderr, /recipe: small images — 32 px views, CIFAR stem, blur p 0/);
  assert.deepEqual([thumbs.config.imageSize, thumbs.config.cifarStem, thumbs.config.blur, thumbs.config.strength], [32, true, 0, 1]);
  const given = run(photos, 'run-given', '--image-size', '64', '--cifar-stem');
  assert.deepEqual([given.config.imageSize, given.config.cifarStem, given.config.blur], [64, true, 0.5]);
  assert.match(given.config.recipeChoice.reason, /given: imageSize 64, cifarStem true/);
  const named = run(photos, 'run-named', '--recipe', 'cifar10');
  assert.deepEqual([named.config.imageSize, named.config.cifarStem, named.config.blur, named.config.strength], [32, true, 0, 0.5]);
});

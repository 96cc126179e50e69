// The baseline cache: a second evaluation of the same data, split, architecture, seed and protocol
// takes the baselines' scores from the cache (equal to the computed ones); changing any one of
// those computes them again; an entry that is not JSON, or whose contents do not match its
// checksum or key, is recomputed and rewritten, not trusted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baselineScores, type CompareOptions } from '../src/eval/compare.js';
import { BaselineCache, baselineKey, type BaselineKey } from '../src/eval/baseline-cache.js';
import type { EvalData } from '../src/eval/evaluate.js';
import { MemorySource } from '../src/data/source.js';
import { resnet } from '../src/models/resnet.js';
import { manualSeed, randint, tidy } from '../src/index.js';

const classes = 3;
function evalData(seed: number, { split = { testFraction: 0.2, seed: 0 }, touch = false, relabel = false } = {}): EvalData {
  manualSeed(seed);
  const images = randint(0, 256, [75, 1, 8, 8], { dtype: 'uint8' });
  if (touch) tidy(() => images.select(0, 70).select(0, 0).select(0, 0).fill_(7));
  const labels = Int32Array.from({ length: 75 }, (_, i) => i % classes);
  if (relabel) labels[65] = (labels[65]! + 1) % classes;
  const train = new MemorySource(images.narrow(0, 0, 60).contiguous(), labels.slice(0, 60), null, 'train');
  const test = new MemorySource(images.narrow(0, 60, 15).contiguous(), labels.slice(60), null, 'test');
  images.dispose();
  return { train, test, split: { format: 'simclr-split/1', data: 'random images', kind: 'held-out', ...split, trainImages: 60, testImages: 15 }, dispose: () => (train.dispose(), test.dispose()) };
}
const encoder = (width = 0.0625, seed = 0) => (manualSeed(seed), resnet(18, { cifarStem: true, widthMultiplier: width, inChannels: 1 }));
const options: CompareOptions = { size: 8, fraction: 0.2, draws: 2, seed: 0 };

async function score(cache: BaselineCache, { data = evalData(1), random = encoder(), o = options } = {}) {
  const cached: Record<string, string[]> = {};
  const scores = await baselineScores(random, data, o, { cache, cached });
  data.dispose();
  random.dispose();
  return { scores, cached: Object.keys(cached).sort() };
}

test('baseline cache: the second run takes both baselines from the cache, with the computed scores', async () => {
  const cache = new BaselineCache(mkdtempSync(join(tmpdir(), 'simclr-baselines-')));
  const first = await score(cache);
  assert.deepEqual(first.cached, []);
  assert.equal(readdirSync(cache.dir).length, 8, 'two baselines × four columns');
  const second = await score(cache);
  assert.deepEqual(second.cached, ['random-init encoder', 'raw pixels']);
  assert.deepEqual(second.scores, JSON.parse(JSON.stringify(first.scores)));
});

test('baseline cache: a change of data, labels, split, architecture, seed, label fraction or draws computes them again', async () => {
  const cache = new BaselineCache(mkdtempSync(join(tmpdir(), 'simclr-baselines-')));
  await score(cache);
  const changes: [string, Parameters<typeof score>[1], string[]][] = [
    ['one pixel of a test image', { data: evalData(1, { touch: true }) }, []],
    ['the images', { data: evalData(2) }, []],
    ['a test label', { data: evalData(1, { relabel: true }) }, []],
    ['the split seed', { data: evalData(1, { split: { testFraction: 0.2, seed: 1 } }) }, []],
    ['the architecture', { random: encoder(0.125) }, ['raw pixels']],
    ['the seed', { o: { ...options, seed: 1 } }, []],
    ['the label fraction', { o: { ...options, fraction: 0.4 } }, []],
    ['the draws', { o: { ...options, draws: 3 } }, []],
  ];
  for (const [what, change, expected] of changes) assert.deepEqual((await score(cache, change)).cached, expected, what);
  assert.deepEqual((await score(cache)).cached, ['random-init encoder', 'raw pixels'], 'the original key still hits');
});

test('baseline cache: every field of the key names another entry (protocol, kNN settings and the version included)', async () => {
  const data = evalData(1);
  const random = encoder();
  const key = (await baselineKey('random-init encoder', random, data, { size: 8, protocol: 'knn', fraction: 1, draws: 1, seed: 0 }))!;
  const cache = new BaselineCache('/nonexistent');
  const variants: Partial<BaselineKey>[] = [{ protocol: 'linear', k: null, temperature: null }, { k: 20 }, { temperature: 0.5 }, { version: key.version + 1 }, { size: 16 }, { baseline: 'raw pixels', architecture: null }];
  for (const v of variants) assert.notEqual(cache.file({ ...key, ...v }), cache.file(key), JSON.stringify(v));
  assert.equal(await baselineKey('random-init encoder', { forward: () => null } as never, data, { size: 8, protocol: 'knn', fraction: 1, draws: 1, seed: 0 }), null, 'no ResNet: not cached');
  data.dispose();
  random.dispose();
});

test('baseline cache: an entry that is not JSON, or edited, is recomputed and rewritten', async () => {
  const cache = new BaselineCache(mkdtempSync(join(tmpdir(), 'simclr-baselines-')));
  const first = await score(cache);
  const files = readdirSync(cache.dir).map((f) => join(cache.dir, f));
  writeFileSync(files[0]!, '{"key": {"trunc');
  const edited = JSON.parse(readFileSync(files[1]!, 'utf8'));
  edited.result.accuracy = edited.result.accuracy === 1 ? 0.5 : 1;
  writeFileSync(files[1]!, JSON.stringify(edited));
  const again = await score(cache);
  assert.equal(again.cached.length < 2, true, 'the damaged baselines were computed again');
  assert.deepEqual(JSON.parse(JSON.stringify(again.scores)), JSON.parse(JSON.stringify(first.scores)), 'recomputed, equal to the first computation');
  assert.deepEqual((await score(cache)).cached, ['random-init encoder', 'raw pixels'], 'rewritten: trusted again');
});

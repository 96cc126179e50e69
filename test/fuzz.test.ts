// Fuzzing the readers of user files (fuzz/): every committed input replayed through its target,
// each finding of the fuzzer checked as a regression with the message it now gives, and a short
// Jazzer.js run of every target (a few seconds each) that fails on any finding. The long run:
// node dist/scripts/fuzz.js --minutes 3.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectGarbage, repoRoot } from './helpers.js';
import { targets, type FuzzTarget } from '../fuzz/targets.js';
import { runTarget, type RunResult } from '../fuzz/run.js';
import { DataError } from '../src/data/source.js';
import { readSplitRecord } from '../src/data/open.js';
import { idxSource } from '../src/data/idx.js';
import { cifarFolder } from '../src/data/cifar.js';
import { imageDims, prepareFiles } from '../src/data/folder.js';
import { resolveConfig } from '../src/cli/pretrain-flags.js';
import { loadIndex } from '../src/search/image-index.js';
import { loadEncoder } from '../src/simclr/encoder-file.js';
import { fileOf } from '../fuzz/checkpoint-file.js';
import { native } from '../src/native.js';

const corpus = join(repoRoot, 'fuzz', 'corpus');
const tmp = mkdtempSync(join(tmpdir(), 'simclr-fuzz-test-'));
process.env.SIMCLR_FUZZ_TMP = join(tmp, 'targets');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A refusal naming `file`, whose message matches `pattern`. */
const refusal = (file: string, pattern: RegExp) => (e: unknown) => e instanceof DataError && e.file === file && e.message.startsWith(`${file}: `) && pattern.test(e.message);

describe('fuzz corpus: every committed input through its target', () => {
  for (const t of targets) {
    it(t.name, async () => {
      const { fuzz } = (await import(`../fuzz/targets/${t.name}.js`)) as { fuzz: (data: Buffer) => unknown };
      const files = readdirSync(join(corpus, t.name)).sort();
      assert.ok(files.some((f) => f.startsWith('seed-')), `fuzz/corpus/${t.name} has no seeds`);
      for (const f of files) {
        try {
          await fuzz(readFileSync(join(corpus, t.name, f)));
        } catch (e) {
          assert.fail(`fuzz/corpus/${t.name}/${f}: ${(e as Error).stack}`);
        }
      }
    });
  }
  it('the committed corpus stays small (< 1 MB)', () => {
    const bytes = readdirSync(corpus).reduce((sum, t) => sum + readdirSync(join(corpus, t)).reduce((s, f) => s + readFileSync(join(corpus, t, f)).length, 0), 0);
    assert.ok(bytes < 1_000_000, `${bytes} bytes`);
  });
});

describe("fuzzers' findings, refused as they are now", () => {
  const dir = join(tmp, 'findings');
  before(() => mkdirSync(dir, { recursive: true }));
  const input = (target: string, name: string) => readFileSync(join(corpus, target, name));

  it('split.json: null, and a record without its testFraction', () => {
    const run = join(dir, 'split');
    mkdirSync(run, { recursive: true });
    const file = join(run, 'split.json');
    writeFileSync(file, input('split', 'finding-null.json'));
    assert.throws(() => readSplitRecord(run), refusal(file, /not a simclr split record$/));
    writeFileSync(file, input('split', 'finding-missing-test-fraction.json'));
    assert.throws(() => readSplitRecord(run), refusal(file, /not a simclr split record: its testFraction undefined is not in \[0, 1\)/));
  });

  it('--config: an empty file, a YAML alias that contains itself, infinite and inexact numbers', () => {
    const config = (name: string, text: Buffer | string) => {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    let file = config('empty.json', input('config', 'finding-empty.json').subarray(1));
    assert.throws(() => resolveConfig({ config: file }, new Set()), refusal(file, /cannot read the config \(Unexpected end of JSON input\)/));
    file = config('alias.yaml', input('config', 'finding-circular-alias.yaml').subarray(1));
    assert.throws(() => resolveConfig({ config: file }, new Set()), refusal(file, /'epochs' must be an integer \(got a map\)/));
    file = config('inf.yaml', 'lr: .inf\n');
    assert.throws(() => resolveConfig({ config: file }, new Set()), refusal(file, /'lr' must be finite \(got Infinity\)/));
    file = config('big.json', '{"seed": 1e300}');
    assert.throws(() => resolveConfig({ config: file }, new Set()), refusal(file, /'seed' must be an integer of at most 2\^53 in size \(got 1e\+300\)/));
  });

  it('IDX: images of no pixels, and no images with dimensions past what a tensor holds', () => {
    const file = join(dir, 'zero-images-idx3-ubyte');
    writeFileSync(file, input('idx', 'finding-zero-pixel-images.idx'));
    assert.throws(() => idxSource(file, null), refusal(file, /its 4294967295 images are 0×5 pixels/));
    writeFileSync(file, input('idx', 'finding-no-images-huge-dims.idx'));
    assert.throws(() => idxSource(file, null), refusal(file, /holds no images/));
  });

  it('CIFAR: a label-names file short of names (a label would name no class)', () => {
    const folder = join(dir, 'cifar-10-batches-bin');
    mkdirSync(folder, { recursive: true });
    const data = input('cifar', 'case-label-9-of-nine-names');
    const end = data.indexOf(0, 1);
    writeFileSync(join(folder, 'batches.meta.txt'), data.subarray(1, end));
    for (let i = 1; i <= 5; i++) writeFileSync(join(folder, `data_batch_${i}.bin`), data.subarray(end + 1));
    const names = join(folder, 'batches.meta.txt');
    assert.throws(() => cifarFolder(folder, 'train'), refusal(names, /lists 9 class names, not the 10 of CIFAR-10/));
  });

  it('search index: a label past its class names, thumbnails of other channels than its vectors', () => {
    const file = join(dir, 'index.safetensors');
    writeFileSync(file, input('search-index', 'finding-label-past-classes.safetensors'));
    assert.throws(() => loadIndex(file), refusal(file, /not a simclr index \(its labels \(int64 \[3\]\) are not one class of its 2 class names for each of its 3 images\)/));
    writeFileSync(file, input('search-index', 'case-grey-thumbnails-in-rgb-index.safetensors'));
    assert.throws(() => loadIndex(file), refusal(file, /its thumbnails are uint8 \[3, 1, 4, 4\], not uint8 \[3, 3, t, t\]/));
  });

  it('image: a 76-byte PNG whose header claims half a billion pixels is refused before it is decoded', async () => {
    const file = join(dir, 'bomb.png');
    writeFileSync(file, input('image', 'finding-png-half-a-billion-pixels-in-76-bytes.png').subarray(1));
    const rss = process.memoryUsage().rss;
    for (const read of [() => imageDims(file), () => prepareFiles([file], 16, 3)]) {
      await assert.rejects(read(), refusal(file, /its header claims 1048652×520 pixels in a file of 75 bytes, more than an image of that size compresses to/));
    }
    assert.ok(process.memoryUsage().rss - rss < 256 * 2 ** 20, 'decoding allocated what the header claimed');
  });

  it("a run's config.json beside its encoder: a source scale below 1, and a refused config that left the encoder allocated", () => {
    const run = join(dir, 'run');
    mkdirSync(run, { recursive: true });
    const encoder = join(run, 'encoder.safetensors');
    writeFileSync(encoder, fileOf(input('checkpoint', 'seed-encoder.json')));
    const config = join(run, 'config.json');
    writeFileSync(config, input('run-config', 'finding-source-scale-below-1.json'));
    assert.throws(() => loadEncoder(encoder), refusal(config, /not a run's config \(its sourceScale -2 is not a number ≥ 1\)/));
    // (each refusal kept the encoder's tensors: the fuzzer ran out of memory after 8,000 inputs)
    writeFileSync(config, input('run-config', 'finding-refused-config-leaked-the-encoder.json'));
    collectGarbage();
    const before = native.memory().tensors;
    assert.throws(() => loadEncoder(encoder), refusal(config, /not a run's config \(no data named\)/));
    assert.equal(native.memory().tensors, before, 'tensors left behind by a refusal');
  });

  it('checkpoint: an architecture far larger than the weights the file holds is refused before it is built', () => {
    const file = join(dir, 'huge.safetensors');
    writeFileSync(file, fileOf(input('checkpoint', 'case-resnet152-width16.json')));
    const rss = process.memoryUsage().rss;
    assert.throws(() => loadEncoder(file), refusal(file, /a ResNet-152 of width 16 has about 14,923,619,072 weights, but the file holds 50,176 for it/));
    assert.ok(process.memoryUsage().rss - rss < 256 * 2 ** 20, 'loading allocated what the header asked for');
    writeFileSync(file, fileOf(input('checkpoint', 'case-huge-projection.json')));
    assert.throws(() => loadEncoder(file), refusal(file, /its projection head \(v1, 2 layers of 8 → 100000000\) has about 800,000,128 weights/));
  });
});

describe('fuzzing with Jazzer.js: a few seconds of each target, no finding', { timeout: 240_000 }, () => {
  const results = new Map<string, RunResult>();
  // A reader with a planted bug behind a 6-byte magic (fuzz/canary.ts): the machinery must find it.
  const canary: FuzzTarget = { name: 'canary', reads: 'a planted bug', sync: true, maxLen: 64, instrument: ['../fuzz/canary'], module: 'fuzz/canary' };
  before(async () => {
    // (two at a time: the machines this runs on have two cores)
    const queue = [canary, ...targets];
    await Promise.all(
      [0, 1].map(async () => {
        for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
          results.set(t.name, await runTarget(t, { seconds: t === canary ? 30 : 2, seed: 1, corpusDir: join(tmp, 'corpus', t.name), findingsDir: join(tmp, 'found', t.name), rssLimitMb: 2048, timeoutMs: 10_000 }));
        }
      }),
    );
  });
  it('finds the planted bug, and saves the input that shows it', () => {
    const r = results.get('canary')!;
    assert.equal(r.findings.length, 1, JSON.stringify(r));
    const [finding] = r.findings;
    assert.equal(finding!.kind, 'exception');
    assert.match(finding!.message, /^TypeError: Cannot read properties of undefined \(reading 'trim'\)/);
    assert.ok(r.exitCode !== 0 && finding!.input !== null && readFileSync(finding!.input).toString('latin1').startsWith('SIMCLR'), JSON.stringify(r));
  });
  for (const t of targets) {
    it(t.name, (c) => {
      const r = results.get(t.name)!;
      c.diagnostic(`${t.name}: ${r.executions} executions in ${r.seconds} s, coverage ${r.coverage.edges} edges / ${r.coverage.features} features, corpus ${r.corpus.inputs} inputs`);
      const found = r.findings.map((f) => `${f.kind}: ${f.message}${f.input ? `\ninput (base64): ${readFileSync(f.input).toString('base64')}` : ''}`);
      assert.deepEqual(found, [], `fuzz target ${t.name} found:\n${found.join('\n')}`);
      assert.ok(r.executions > 0 && r.coverage.edges > 0, `no executions or no coverage: ${JSON.stringify(r)}`);
    });
  }
});

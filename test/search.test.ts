// Image search: the index and the k nearest images against a brute-force search computed here in
// float64 from the encoder's h; the CLI's answers; an index from another encoder refused; a query
// of another size and channel count decoded as the folder loader decodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { resnet } from '../src/models/resnet.js';
import { architectureMetadata } from '../src/simclr/encoder-file.js';
import { buildIndex, decodeQueries, embedQueries, loadIndex, nearestNeighbours, saveIndex } from '../src/search/image-index.js';
import { openSource } from '../src/data/open.js';
import { manualSeed } from '../src/index.js';
import { colourFolder, repoRoot } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-search-'));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const simclr = (...args: string[]) => spawnSync(process.execPath, [cli, ...args, '--quiet'], { encoding: 'utf8' });

/** Two encoder files with the same architecture and different weights. */
function encoders(): [string, string] {
  return [1, 2].map((seed) => {
    manualSeed(seed);
    const encoder = resnet(18, { cifarStem: true, widthMultiplier: 0.25, inChannels: 3 });
    const file = join(base, `encoder-${seed}.safetensors`);
    encoder.save(file, architectureMetadata({ depth: 18, cifarStem: true, width: 0.25, inChannels: 3, imageSize: 32 }));
    encoder.dispose();
    return file;
  }) as [string, string];
}

/** The k most similar rows by cosine similarity, in float64, ties by row. */
function bruteForce(bank: number[][], query: number[], k: number): number[] {
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const q = norm(query);
  const sims = bank.map((row, i) => ({ i, s: row.reduce((s, x, d) => s + x * query[d]!, 0) / (norm(row) * q) }));
  return sims.sort((a, b) => b.s - a.s || a.i - b.i).slice(0, k).map((x) => x.i);
}

test('the index and its neighbours match a brute-force search; the CLI answers the same; another encoder is refused', async () => {
  const folder = join(base, 'images');
  const files = await colourFolder(folder);
  const [first, second] = encoders();
  const { loadEncoder } = await import('../src/simclr/encoder-file.js');
  const { encoder } = loadEncoder(first);
  const source = await openSource(folder, { size: 32, testFraction: 0 });
  const index = await buildIndex(encoder, source, { imageSize: 32, inChannels: 3, checkpoint: first });
  assert.equal(index.files.length, files.length);
  assert.deepEqual([...index.files].sort(), [...files].sort());
  // h of every file, computed here from the loader's decode
  const all = await decodeQueries(index.files, 32, 3);
  const h = embedQueries(encoder, all, 32);
  const bank = Array.from({ length: h.size(0) }, (_, i) => Array.from(h.select(0, i).toArray() as Float32Array));
  const stored = index.vectors.toArray() as Float32Array;
  bank.forEach((row, i) => {
    const n = Math.hypot(...row);
    row.forEach((x, d) => assert.ok(Math.abs(stored[i * row.length + d]! - x / n) < 1e-5, `vector ${i}`));
  });
  const lists = nearestNeighbours(h, index.vectors, 5, { normalisedBank: true });
  bank.forEach((row, q) => assert.deepEqual(lists[q]!.index, bruteForce(bank, row, 5), `query ${q}`));

  const indexFile = join(base, 'index.safetensors');
  saveIndex(indexFile, index);
  const reloaded = loadIndex(indexFile);
  assert.equal(reloaded.fingerprint, index.fingerprint);
  assert.deepEqual(reloaded.labels, index.labels);
  const query = index.files[4]!;
  const r = simclr('similar', '--index', indexFile, '--query', query, '-k', '5', '--json', '--out', join(base, 'grid.png'));
  assert.equal(r.status, 0, r.stderr);
  const answer = JSON.parse(r.stdout) as { results: { neighbours: { file: string; similarity: number; label: string }[] }[] };
  assert.deepEqual(answer.results[0]!.neighbours.map((n) => n.file), bruteForce(bank, bank[4]!, 5).map((i) => index.files[i]));
  assert.equal(answer.results[0]!.neighbours[0]!.label, query.split('/').at(-2));
  const grid = await sharp(join(base, 'grid.png')).metadata();
  assert.equal(grid.width, 6 * (96 + 4) + 8); // the query, a gap, 5 neighbours; 32-px tiles shown at 96

  // an index made by another encoder
  const refused = simclr('similar', '--index', indexFile, '--query', query, '--checkpoint', second);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /was built by another encoder/);

  // a 60×40 grayscale query: resized, centre-cropped and converted to RGB as the loader does
  const odd = join(base, 'odd.png');
  await sharp(Buffer.alloc(60 * 40, 128).map((_, i) => (i * 7) % 256), { raw: { width: 60, height: 40, channels: 1 } }).png().toFile(odd);
  const oddH = embedQueries(encoder, await decodeQueries([odd], 32, 3), 32);
  const r2 = simclr('similar', '--index', indexFile, '--query', odd, '-k', '3', '--json');
  assert.equal(r2.status, 0, r2.stderr);
  const expected = bruteForce(bank, Array.from(oddH.toArray() as Float32Array), 3).map((i) => index.files[i]);
  assert.deepEqual((JSON.parse(r2.stdout) as typeof answer).results[0]!.neighbours.map((n) => n.file), expected);
  for (const t of [h, all, oddH, index.vectors, index.thumbnails, reloaded.vectors, reloaded.thumbnails]) t.dispose();
  source.dispose?.();
});

test('an index file that is missing, a folder, or no index is named; the similar and export flags that cannot work are refused before any work', () => {
  assert.throws(() => loadIndex(join(base, 'nothing.safetensors')), /nothing\.safetensors: no such index file; build one with simclr index/);
  assert.throws(() => loadIndex(base), new RegExp(`${base}: a folder, not an index file`));
  const [encoder] = encoders();
  assert.throws(() => loadIndex(encoder), /encoder-1\.safetensors: not a simclr index \(its format is simclr-encoder\/1\)/);
  // (the CLI: an --out whose folder is missing, --index without --web, --out with --web; exit 1 and 2 as usage errors)
  const grid = simclr('similar', '--index', join(base, 'nothing.safetensors'), '--query', base, '--out', join(base, 'no-folder', 'grid.png'));
  assert.equal(grid.status, 1);
  assert.match(grid.stderr, /^simclr: --out .*no-folder\/grid\.png: the folder .*no-folder does not exist\n$/);
  const indexWithoutWeb = simclr('export', '--checkpoint', encoder, '--index', join(base, 'x.safetensors'));
  assert.equal(indexWithoutWeb.status, 2);
  assert.match(indexWithoutWeb.stderr, /--index applies to --web only/);
  const outWithWeb = simclr('export', '--checkpoint', encoder, '--web', join(base, 'web'), '--index', join(base, 'x.safetensors'), '--out', join(base, 'e.onnx'));
  assert.equal(outWithWeb.status, 2);
  assert.match(outWithWeb.stderr, /--out names the ONNX file/);
  const missingIndex = simclr('export', '--checkpoint', encoder, '--web', join(base, 'web'), '--index', join(base, 'x.safetensors'));
  assert.equal(missingIndex.status, 1);
  assert.match(missingIndex.stderr, /^simclr: .*x\.safetensors: no such index file; build one with simclr index\n$/);
});

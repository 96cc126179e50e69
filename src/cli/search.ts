// simclr index and simclr similar: image search with a trained encoder.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import sharp from 'sharp';
import { listImageFolder } from '../data/folder.js';
import { loadEncoder } from '../simclr/encoder-file.js';
import { buildIndex, decodeQueries, embedQueriesAsIndexed, encoderFingerprint, loadIndex, nearestNeighbours, saveIndex } from '../search/image-index.js';
import { cat, full } from '../tensor/create.js';
import { writeFileAtomic } from '../io/atomic.js';
import * as F from '../tensor/functional.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { UsageError, type Flags, type Parsed } from './args.js';
import { encoderDataFlags, openEncoderData } from './embed.js';
import { checkOutputFile } from './output.js';

export const indexFlags = {
  ...encoderDataFlags,
  out: { type: 'string', default: 'index.safetensors', help: 'the index: unit-norm h, file paths, labels, thumbnails, the encoder\'s fingerprint' },
} satisfies Flags;

export async function indexCommand(o: Parsed<typeof indexFlags>): Promise<number> {
  checkOutputFile('--out', o.out);
  const loaded = loadEncoder(o.checkpoint);
  const { source, size } = await openEncoderData('index', loaded, o);
  const index = await buildIndex(loaded.encoder, source, { imageSize: size, inChannels: loaded.architecture.inChannels, checkpoint: resolve(o.checkpoint) });
  saveIndex(o.out, index);
  console.log(JSON.stringify({ out: o.out, images: index.files.length, dim: index.vectors.size(1), fingerprint: index.fingerprint, engine: index.engine }));
  index.vectors.dispose();
  index.thumbnails.dispose();
  source.dispose?.();
  return 0;
}

export const similarFlags = {
  index: { type: 'string', help: 'an index written by simclr index' },
  query: { type: 'string', help: 'an image, or a folder of images (each one a query)' },
  k: { type: 'int', default: 8, check: (v) => (v >= 1 ? null : 'must be ≥ 1'), help: 'neighbours per query (-k works too)' },
  checkpoint: { type: 'string', default: '', help: 'the encoder that built the index (default: the one it records)' },
  json: { type: 'boolean', default: false, help: 'print one JSON object instead of text' },
  out: { type: 'string', default: '', help: 'also write a PNG grid: one row per query, the query then its neighbours' },
} satisfies Flags;

function queryFiles(query: string): string[] {
  if (!existsSync(query)) throw new UsageError(`similar: ${query}: no such image or folder`);
  return statSync(query).isDirectory() ? listImageFolder(query).files : [query];
}

export async function similarCommand(o: Parsed<typeof similarFlags>): Promise<number> {
  if (o.out) checkOutputFile('--out', o.out);
  const index = loadIndex(o.index);
  try {
    const checkpoint = o.checkpoint || index.checkpoint;
    if (!checkpoint) throw new UsageError(`similar: ${o.index} records no encoder; give --checkpoint`);
    if (!o.checkpoint && !existsSync(checkpoint)) throw new Error(`${o.index} was built by the encoder ${checkpoint}, which is no longer there: give its run folder or encoder file with --checkpoint`);
    const { encoder } = loadEncoder(checkpoint);
    const fingerprint = encoderFingerprint(encoder);
    if (fingerprint !== index.fingerprint) {
      throw new Error(`${o.index} was built by another encoder (fingerprint ${index.fingerprint}, ${checkpoint} has ${fingerprint}): rebuild it with simclr index --checkpoint ${checkpoint}`);
    }
    const files = queryFiles(o.query);
    const images = await decodeQueries(files, index.imageSize, index.inChannels as 1 | 3);
    const h = await embedQueriesAsIndexed(encoder, images, index);
    const lists = nearestNeighbours(h, index.vectors, o.k, { normalisedBank: true });
    h.dispose();
    const results = files.map((query, q) => ({
      query,
      neighbours: lists[q]!.index.map((row, j) => ({
        file: index.files[row]!,
        similarity: lists[q]!.similarity[j]!,
        ...(index.labels !== null ? { label: index.classNames?.[index.labels[row]!] ?? index.labels[row]! } : {}),
      })),
    }));
    if (o.out) await writeGrid(o.out, images, index.thumbnails, lists.map((l) => l.index));
    images.dispose();
    if (o.json) {
      console.log(JSON.stringify({ index: o.index, k: o.k, results, ...(o.out ? { grid: o.out } : {}) }));
    } else {
      for (const r of results) {
        console.log(r.query);
        for (const n of r.neighbours) console.log(`  ${n.similarity.toFixed(4)}  ${n.file}${'label' in n ? `  (${n.label})` : ''}`);
      }
      if (o.out) console.log(`grid: ${o.out}`);
    }
    return 0;
  } finally {
    index.vectors.dispose();
    index.thumbnails.dispose();
  }
}

/** A PNG: one row per query (the query, a gap, then its neighbours' thumbnails, enlarged to about 96 px), on white. */
async function writeGrid(path: string, queries: Tensor, thumbnails: Tensor, rows: number[][]): Promise<void> {
  const tile = thumbnails.size(2);
  const side = tile * Math.max(1, Math.round(96 / tile));
  const { data, width, height } = noGrad(() =>
    tidy(() => {
      const rgb = (t: Tensor) => (t.size(1) === 1 ? t.expand([t.size(0), 3, t.size(2), t.size(3)]) : t);
      const cell = (t: Tensor) => F.pad(F.interpolate(rgb(t).float(), { size: side, mode: 'nearest' }), [2, 2, 2, 2], { value: 255 });
      const blank = (w: number) => full([1, 3, side + 4, w], 255);
      const k = Math.max(...rows.map((r) => r.length));
      const lines = rows.map((neighbours, q) => {
        const query = F.interpolate(queries.narrow(0, q, 1).float(), { size: tile, mode: 'bilinear', antialias: true });
        const cells = [cell(query), blank(8)];
        for (let j = 0; j < k; j++) cells.push(j < neighbours.length ? cell(thumbnails.narrow(0, neighbours[j]!, 1)) : blank(side + 4));
        return cat(cells, 3);
      });
      const grid = cat(lines, 2).squeeze(0).round().clamp(0, 255).to('uint8').permute([1, 2, 0]).contiguous();
      return { data: grid.toArray() as Uint8Array, width: grid.size(1), height: grid.size(0) };
    }),
  );
  writeFileAtomic(path, [await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 3 } }).png().toBuffer()]);
}

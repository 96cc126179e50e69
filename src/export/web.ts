// The browser demo: a static folder in which a page embeds a picked or dropped image with the
// exported ONNX encoder (onnxruntime-web, wasm backend) and shows its nearest neighbours from the
// index, all computed in the page. Plus a small static server for it (loopback only).
//   index.html       the page
//   encoder.onnx     the encoder (h), from exportOnnx
//   index.json       files, labels, class names, the encoder's input and fingerprint, the sprite's layout
//   vectors.bin      the index's unit-norm h, float32 little-endian [N, D]
//   thumbnails.jpg   the index's thumbnails as one sprite sheet
//   ort/             onnxruntime-web's wasm build, copied from node_modules
// The page prepares an image as the folder loader does: the shorter side scaled to the encoder's
// size, the centre cropped, RGB (or Rec. 709 luma for one channel), /255. Only the resampling kernel
// differs (the canvas's against sharp's Lanczos), so an image already at the encoder's size gets
// exactly the library's h.
import { copyFileSync, createReadStream, existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { spriteSheet } from '../io/sprite.js';
import type { ImageIndex } from '../search/image-index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkDemoTarget, writeFolderWhole } from './web-folder.js';

/** onnxruntime-web's files that its wasm backend loads. */
const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

/**
 * Writes the demo folder for an ONNX encoder (h) and the index it serves, whole or not at all (see
 * web-folder.ts); `dir` must be new, empty or a demo already.
 */
export async function writeWebDemo(dir: string, onnx: Uint8Array, index: ImageIndex): Promise<void> {
  checkDemoTarget(dir);
  await writeFolderWhole(dir, (temp) => writeDemoFiles(temp, onnx, index));
}

async function writeDemoFiles(dir: string, onnx: Uint8Array, index: ImageIndex): Promise<void> {
  mkdirSync(join(dir, 'ort'), { recursive: true });
  const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  for (const f of ORT_FILES) {
    if (!existsSync(join(ortDir, f))) throw new Error(`web export: ${join(ortDir, f)} is missing (is onnxruntime-web installed? npm install)`);
    copyFileSync(join(ortDir, f), join(dir, 'ort', f));
  }
  writeFileAtomic(join(dir, 'encoder.onnx'), [onnx]);
  const n = index.vectors.size(0);
  const vectors = index.vectors.contiguous().toArray() as Float32Array;
  writeFileAtomic(join(dir, 'vectors.bin'), [new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength)]);
  const sheet = await spriteSheet(index.thumbnails, Math.ceil(Math.sqrt(n)));
  writeFileAtomic(join(dir, 'thumbnails.jpg'), [sheet.jpeg]);
  const meta = {
    count: n,
    dim: index.vectors.size(1),
    files: index.files,
    labels: index.labels === null ? null : Array.from(index.labels),
    classNames: index.classNames,
    imageSize: index.imageSize,
    inChannels: index.inChannels,
    fingerprint: index.fingerprint,
    tile: sheet.tile,
    columns: sheet.columns,
  };
  writeFileAtomic(join(dir, 'index.json'), [Buffer.from(JSON.stringify(meta))]);
  writeFileAtomic(join(dir, 'index.html'), [Buffer.from(PAGE)]);
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
};

/**
 * The file a request's path names inside `root` (its index.html for a folder), or null: a path
 * that does not decode, holds a NUL or is absurdly long, or whose real path (symlinks followed)
 * is outside `root`, or that is not a file.
 */
function fileUnder(root: string, url: string): { path: string; size: number } | null {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, 'http://x').pathname);
  } catch {
    return null;
  }
  if (path.includes('\0') || path.length > 4096) return null;
  try {
    let file = normalize(join(root, path));
    if (statSync(file).isDirectory()) file = join(file, 'index.html');
    const real = realpathSync(file);
    if (!real.startsWith(root + sep)) return null;
    const stat = statSync(real);
    return stat.isFile() ? { path: real, size: stat.size } : null;
  } catch {
    return null;
  }
}

/** Serves `dir` on 127.0.0.1 (port 0: a free one), GET and HEAD only, nothing outside `dir`; resolves once listening. */
export function serveStatic(dir: string, port = 0): Promise<{
  /** The address the folder is served at. */
  url: string;
  /** The HTTP server (close it to stop serving). */
  server: Server;
}> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return Promise.reject(new Error(`${dir}: no such folder`));
  const root = realpathSync(dir);
  const server = createServer((req, res) => {
    const refuse = (status: number, text: string) => res.writeHead(status, { 'content-type': 'text/plain', ...(status === 405 ? { allow: 'GET, HEAD' } : {}) }).end(text);
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'method not allowed');
    const file = fileUnder(root, req.url ?? '/');
    if (file === null) return refuse(404, 'not found');
    res.writeHead(200, { 'content-type': MIME[extname(file.path)] ?? 'application/octet-stream', 'content-length': file.size, 'cache-control': 'no-cache' });
    if (req.method === 'HEAD') return res.end();
    // (a file removed between the stat and the read ends this response, not the server)
    createReadStream(file.path).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      ok({ url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/`, server });
    });
  });
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>simclr: image search in the browser</title>
<link rel="icon" href="data:,">
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
  #drop { border: 2px dashed #999; border-radius: 8px; padding: 1.5em; text-align: center; }
  #drop.over { background: #eef; }
  #status { margin: 1em 0; min-height: 1.4em; }
  #status.error { color: #b00; font-weight: bold; }
  #results { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
  figure { margin: 0; text-align: center; font-size: 12px; width: 120px; overflow-wrap: anywhere; }
  .tile, #query { width: 96px; height: 96px; image-rendering: pixelated; border: 1px solid #ccc; }
  .tile { background-repeat: no-repeat; display: inline-block; }
  small { color: #666; }
</style>
</head>
<body>
<h1>Nearest neighbours, computed in this page</h1>
<p>Pick or drop an image: the SimCLR encoder (ONNX, run by onnxruntime-web in WebAssembly) embeds it here and the page
ranks the index's images by cosine similarity. Nothing leaves the browser.</p>
<div id="drop"><input type="file" id="file" accept="image/*"> <small>or drop an image here</small></div>
<div id="status">loading the encoder and the index…</div>
<div id="results"></div>
<p><small id="about"></small></p>
<script type="module">
import * as ort from './ort/ort.wasm.min.mjs';
ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
ort.env.wasm.numThreads = 1;
const K = 8;
const status = document.getElementById('status');
const say = (text, error = false) => { status.textContent = text; status.className = error ? 'error' : ''; };
const demo = (window.simclrDemo = { last: null, error: null });
demo.ready = (async () => {
  const meta = await (await fetch('index.json')).json();
  const vectors = new Float32Array(await (await fetch('vectors.bin')).arrayBuffer());
  const session = await ort.InferenceSession.create('encoder.onnx', { executionProviders: ['wasm'] });
  const sprite = new Image();
  sprite.src = 'thumbnails.jpg';
  await sprite.decode();
  document.getElementById('about').textContent =
    meta.count + ' images in the index, ' + meta.dim + '-d features, encoder input ' + meta.inChannels + '×' + meta.imageSize + '×' + meta.imageSize + ' (fingerprint ' + meta.fingerprint + ').';
  say('ready: pick an image');
  return { meta, vectors, session };
})();
demo.ready.catch((e) => { demo.error = String(e); say('could not load the demo: ' + e, true); });

// The library's one preprocessing (src/augment/geometry.ts, centreSquares, and native/augment.cc):
// the centre square of the decoded image resampled to size x size (bilinear when enlarging; the
// triangle filter stretched by the scale when shrinking), rounded to 8 bits, then /255 — computed
// with float32 rounding at every step as the native kernel does, so that an image no larger than
// the library's frames gives the library's input exactly. (The library first shrinks photos whose
// shorter side exceeds 3.5x the view with libvips; for those the page differs by resampling noise.)
const f32 = Math.fround;
function taps(inSize, outSize) {
  const scale = f32(inSize / outSize);
  if (inSize <= outSize) {
    const t = { stride: 2, index: new Int32Array(2 * outSize), weight: new Float32Array(2 * outSize) };
    for (let o = 0; o < outSize; o++) {
      let src = f32(f32(scale * f32(o + 0.5)) - 0.5);
      if (src < 0) src = 0;
      const lo = Math.trunc(src);
      const w = f32(src - lo);
      t.index[2 * o] = lo; t.index[2 * o + 1] = lo + (lo < inSize - 1 ? 1 : 0);
      t.weight[2 * o] = f32(1 - w); t.weight[2 * o + 1] = w;
    }
    return t;
  }
  const stride = Math.ceil(scale) * 2 + 1;
  const t = { stride, index: new Int32Array(stride * outSize), weight: new Float32Array(stride * outSize) };
  for (let o = 0; o < outSize; o++) {
    const centre = f32(scale * f32(o + 0.5));
    const lo = Math.max(Math.trunc(f32(f32(centre - scale) + 0.5)), 0);
    const count = Math.min(Math.min(Math.trunc(f32(f32(centre + scale) + 0.5)), inSize) - lo, stride);
    let total = 0;
    for (let k = 0; k < count; k++) {
      let w = f32(1 - Math.abs(f32(f32(f32(f32(k + lo) - centre) + 0.5) / scale)));
      w = w > 0 ? w : 0;
      t.index[o * stride + k] = lo + k; t.weight[o * stride + k] = w;
      total = f32(total + w);
    }
    for (let k = 0; k < count; k++) t.weight[o * stride + k] = f32(t.weight[o * stride + k] / total);
    for (let k = count; k < stride; k++) t.index[o * stride + k] = lo;
  }
  return t;
}
const roundHalfEven = (v) => { const r = Math.round(v); return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r; };
function pixels(bitmap, size, channels) {
  const full = document.createElement('canvas');
  full.width = bitmap.width; full.height = bitmap.height;
  const fctx = full.getContext('2d', { willReadFrequently: true });
  fctx.drawImage(bitmap, 0, 0);
  const rgba = fctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const side = Math.min(bitmap.width, bitmap.height);
  const x0 = Math.floor((bitmap.width - side) / 2), y0 = Math.floor((bitmap.height - side) / 2);
  const xs = taps(side, size), ys = taps(side, size);
  const unit = f32(1 / 255);
  const plane = size * size;
  const x = new Float32Array(channels * plane);
  const rows = new Float32Array(side * size);
  const display = new ImageData(size, size);
  for (let c = 0; c < channels; c++) {
    // the 8-bit value of channel c at (px, py) of the bitmap (1 channel: the library's grayscale conversion)
    const value = channels === 1
      ? (px, py) => { const i = 4 * (py * bitmap.width + px); return Math.round(0.2126 * rgba[i] + 0.7152 * rgba[i + 1] + 0.0722 * rgba[i + 2]); }
      : (px, py) => rgba[4 * (py * bitmap.width + px) + c];
    for (let y = 0; y < side; y++) {
      for (let ox = 0; ox < size; ox++) {
        const at = ox * xs.stride;
        let v = f32(xs.weight[at] * value(x0 + xs.index[at], y0 + y));
        for (let k = 1; k < xs.stride; k++) v = f32(v + f32(xs.weight[at + k] * value(x0 + xs.index[at + k], y0 + y)));
        rows[y * size + ox] = v;
      }
    }
    for (let oy = 0; oy < size; oy++) {
      const at = oy * ys.stride;
      for (let ox = 0; ox < size; ox++) {
        let v = f32(ys.weight[at] * rows[ys.index[at] * size + ox]);
        for (let k = 1; k < ys.stride; k++) v = f32(v + f32(ys.weight[at + k] * rows[ys.index[at + k] * size + ox]));
        const byte = roundHalfEven(f32(f32(v * unit) * 255));
        x[c * plane + oy * size + ox] = f32(byte / 255);
        for (let d = channels === 1 ? 0 : c; d < (channels === 1 ? 3 : c + 1); d++) display.data[4 * (oy * size + ox) + d] = byte;
        display.data[4 * (oy * size + ox) + 3] = 255;
      }
    }
  }
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  canvas.getContext('2d').putImageData(display, 0, 0);
  return { x, canvas };
}

async function search(file) {
  const { meta, vectors, session } = await demo.ready;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch (e) {
    demo.error = 'cannot decode ' + file.name;
    demo.last = null;
    document.getElementById('results').replaceChildren();
    say('cannot decode ' + file.name + ': not an image this browser can read (' + e.message + ')', true);
    return;
  }
  say('embedding ' + file.name + '…');
  const { x, canvas } = pixels(bitmap, meta.imageSize, meta.inChannels);
  const t0 = performance.now();
  const out = await session.run({ images: new ort.Tensor('float32', x, [1, meta.inChannels, meta.imageSize, meta.imageSize]) });
  const h = Array.from(out[session.outputNames[0]].data);
  const norm = Math.hypot(...h) || 1;
  const scores = new Float32Array(meta.count);
  for (let i = 0; i < meta.count; i++) {
    let s = 0;
    for (let d = 0; d < meta.dim; d++) s += vectors[i * meta.dim + d] * h[d];
    scores[i] = s / norm;
  }
  const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]).slice(0, K);
  const ms = performance.now() - t0;
  const neighbours = order.map((row) => ({ row, file: meta.files[row], similarity: scores[row],
    label: meta.labels === null ? null : (meta.classNames ? meta.classNames[meta.labels[row]] : meta.labels[row]) }));
  demo.error = null;
  demo.last = { name: file.name, h, neighbours, ms };
  const query = document.createElement('figure');
  canvas.id = 'query';
  query.append(canvas, Object.assign(document.createElement('div'), { textContent: 'query: ' + file.name }));
  const figures = neighbours.map((n) => {
    const f = document.createElement('figure');
    const tile = document.createElement('div');
    tile.className = 'tile';
    const scale = 96 / meta.tile;
    tile.style.backgroundImage = 'url(thumbnails.jpg)';
    tile.style.backgroundSize = (meta.columns * meta.tile * scale) + 'px auto';
    tile.style.backgroundPosition = (-(n.row % meta.columns) * 96) + 'px ' + (-Math.floor(n.row / meta.columns) * 96) + 'px';
    const name = n.file.split('/').slice(-2).join('/');
    f.append(tile, Object.assign(document.createElement('div'), { textContent: n.similarity.toFixed(4) + ' ' + name + (n.label === null ? '' : ' (' + n.label + ')') }));
    return f;
  });
  document.getElementById('results').replaceChildren(query, ...figures);
  say(file.name + ': the ' + K + ' nearest of ' + meta.count + ' images (' + ms.toFixed(0) + ' ms in this page)');
}

const input = document.getElementById('file');
input.addEventListener('change', () => input.files[0] && search(input.files[0]));
const drop = document.getElementById('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); e.dataTransfer.files[0] && search(e.dataTransfer.files[0]); });
</script>
</body>
</html>
`;

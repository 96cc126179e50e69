// simclr export: the encoder as ONNX (optionally with the projection head), or, with --web, the
// browser demo folder; simclr serve-web: a static server for that folder on loopback.
import { resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { exportOnnx } from '../export/onnx.js';
import { serveStatic, writeWebDemo } from '../export/web.js';
import { checkDemoTarget, demoFolderProblems } from '../export/web-folder.js';
import { warning } from '../progress.js';
import { checkOutputFile } from './output.js';
import { loadEncoder } from '../simclr/encoder-file.js';
import { encoderFingerprint, loadIndex } from '../search/image-index.js';
import { UsageError, type Flags, type Parsed } from './args.js';

export const exportFlags = {
  checkpoint: { type: 'string', help: 'run folder, pretraining checkpoint or encoder.safetensors' },
  out: { type: 'string', default: 'encoder.onnx', help: 'the ONNX file (input "images" [batch, C, size, size] in [0, 1]; output "h", or "z" with --head)' },
  head: { type: 'boolean', default: false, help: 'include the projection head: the output is z (needs a pretraining checkpoint or run folder)' },
  opset: { type: 'int', default: 17, check: (v) => (v >= 15 && v <= 21 ? null : 'must be 15 … 21'), help: 'ONNX opset' },
  'fold-bn': { type: 'boolean', default: false, help: 'fold each BatchNorm into the convolution before it' },
  'image-size': { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'input size (0: the size the encoder was trained on)' },
  web: { type: 'string', default: '', help: 'write the browser demo into this folder instead (page, encoder, index, onnxruntime-web); needs --index' },
  index: { type: 'string', default: '', help: 'with --web: the index (simclr index) the page searches; it must come from this encoder' },
} satisfies Flags;

export async function exportCommand(o: Parsed<typeof exportFlags>, given: ReadonlySet<string> = new Set()): Promise<number> {
  // (the flags and the files named are checked before the encoder is loaded and exported)
  if (o.web && o.head) throw new UsageError('export: the browser demo searches h; drop --head');
  if (o.web && !o.index) throw new UsageError('export: --web needs --index (build one with simclr index)');
  if (!o.web && o.index) throw new UsageError('export: --index applies to --web only (the index the browser demo searches)');
  if (o.web && given.has('out')) throw new UsageError('export: --out names the ONNX file, which --web puts into its folder: give one of them');
  if (o.web) checkDemoTarget(o.web);
  else checkOutputFile('--out', o.out);
  const index = o.web ? loadIndex(o.index) : null;
  try {
    const loaded = loadEncoder(o.checkpoint);
    if (o.head && loaded.model === null) throw new UsageError('export: --head needs a pretraining checkpoint or run folder (an encoder file has no head)');
    const imageSize = o['image-size'] || loaded.architecture.imageSize || 32;
    const fingerprint = encoderFingerprint(loaded.encoder);
    if (index !== null) {
      if (index.fingerprint !== fingerprint) throw new Error(`${o.index} was built by another encoder (fingerprint ${index.fingerprint}, ${o.checkpoint} has ${fingerprint}): rebuild it with simclr index --checkpoint ${o.checkpoint}`);
      if (index.imageSize !== imageSize) throw new Error(`${o.index} holds features of ${index.imageSize}-px inputs; the export is for ${imageSize} px`);
    }
    const onnx = exportOnnx(loaded.encoder, {
      head: o.head ? loaded.model!.head : null,
      imageSize,
      opset: o.opset,
      foldBatchNorm: o['fold-bn'],
      metadata: { run: resolve(o.checkpoint), fingerprint },
    });
    if (index !== null) {
      await writeWebDemo(o.web, onnx, index);
      console.log(JSON.stringify({ web: o.web, images: index.files.length, serve: `simclr serve-web ${o.web}` }));
      return 0;
    }
    writeFileAtomic(o.out, [onnx]);
    console.log(JSON.stringify({ out: o.out, bytes: onnx.length, output: o.head ? 'z' : 'h', imageSize, opset: o.opset, foldedBatchNorm: o['fold-bn'], fingerprint }));
    return 0;
  } finally {
    index?.vectors.dispose();
    index?.thumbnails.dispose();
  }
}

export const serveFlags = {
  port: { type: 'int', default: 8080, check: (v) => (v >= 0 && v < 65536 ? null : 'must be a TCP port'), help: 'port on 127.0.0.1 (0: a free one)' },
} satisfies Flags;

export async function serveCommand(o: Parsed<typeof serveFlags>, _given: Set<string>, positional: string[]): Promise<number> {
  if (positional.length !== 1) throw new UsageError('serve-web: give the demo folder (simclr serve-web <dir>)');
  // A folder that is no demo is refused; a demo missing a file is served, with a warning per problem.
  for (const problem of demoFolderProblems(positional[0]!)) warning(`simclr: ${positional[0]}: ${problem}: the page cannot work (simclr export --web writes the demo again)`);
  let url: string;
  try {
    ({ url } = await serveStatic(positional[0]!, o.port));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new Error(`port ${o.port} on 127.0.0.1 is in use: give another --port (0: a free one)`);
    if (code === 'EACCES') throw new Error(`port ${o.port} on 127.0.0.1 needs privileges: give a --port above 1023 (0: a free one)`);
    throw e;
  }
  console.log(`serving ${positional[0]} at ${url} (Ctrl-C stops)`);
  await new Promise(() => {});
  return 0;
}

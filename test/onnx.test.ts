// ONNX export checked by another runtime: onnxruntime-node runs the exported graph on the inputs the
// library's encoder (eval mode) sees, for the architectures the library builds, with and without
// the projection head, BatchNorm as nodes or folded, batch 1 and 7. BatchNorm statistics and affine
// parameters are randomised first, so that a wrong BN mapping cannot hide behind the identity.
// Debian's python3-onnx (installed by setup.sh) checks the file against the ONNX specification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../src/export/onnx.js';
import { BatchNorm } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { ProjectionHead } from '../src/models/projection-head.js';
import { resnet, type ResNetDepth } from '../src/models/resnet.js';
import { manualSeed, noGrad, rand, tidy, type Tensor } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'simclr-onnx-'));

function randomiseBatchNorm(m: Module): void {
  m.apply((b) => {
    if (!(b instanceof BatchNorm)) return;
    const n = b.numFeatures;
    noGrad(() =>
      tidy(() => {
        b.runningMean!.copy_(rand([n]).sub(0.5));
        b.runningVar!.copy_(rand([n]).mul(1.5).add(0.5));
        b.weight?.copy_(rand([n]).add(0.5));
        b.bias?.copy_(rand([n]).sub(0.5));
      }),
    );
  });
}

/** max |onnxruntime − library| / max |library| over the batch. */
async function relativeDifference(file: string, images: Tensor, expected: Tensor): Promise<number> {
  const session = await ort.InferenceSession.create(file);
  const input = new ort.Tensor('float32', images.contiguous().toArray() as Float32Array, images.shape);
  const result = await session.run({ images: input });
  const output = result[session.outputNames[0]!]!;
  assert.deepEqual(output.dims, expected.shape);
  const got = output.data as Float32Array;
  const want = expected.contiguous().toArray() as Float32Array;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  await session.release();
  return diff / scale;
}

const cases: { depth: ResNetDepth; cifarStem: boolean; width: number; channels: number; size: number }[] = [
  { depth: 18, cifarStem: true, width: 0.25, channels: 1, size: 28 },
  { depth: 18, cifarStem: true, width: 0.25, channels: 3, size: 32 },
  { depth: 18, cifarStem: false, width: 1, channels: 3, size: 64 },
  { depth: 50, cifarStem: false, width: 1, channels: 3, size: 64 },
];

for (const c of cases) {
  for (const head of [null, 'v1', 'v2'] as const) {
    test(`ONNX = library: ResNet-${c.depth}${c.cifarStem ? ' CIFAR stem' : ''} ×${c.width}, ${c.channels} channel(s), ${head ?? 'no'} head`, async () => {
      manualSeed(c.depth + c.channels);
      const encoder = resnet(c.depth, { cifarStem: c.cifarStem, widthMultiplier: c.width, inChannels: c.channels });
      const g = head === null ? null : new ProjectionHead({ version: head === 'v1' ? 1 : 2, inputDim: encoder.featureDim, outputDim: 64 });
      randomiseBatchNorm(encoder);
      if (g !== null) randomiseBatchNorm(g);
      encoder.eval();
      g?.eval();
      for (const fold of [false, true]) {
        const file = join(dir, `r${c.depth}-${c.cifarStem}-${c.channels}-${head}-${fold}.onnx`);
        writeFileSync(file, exportOnnx(encoder, { head: g, imageSize: c.size, foldBatchNorm: fold }));
        for (const batch of [1, 7]) {
          const images = rand([batch, c.channels, c.size, c.size]);
          const expected = noGrad(() => tidy(() => (g === null ? encoder.forward(images) : g.forward(encoder.forward(images)))));
          const relative = await relativeDifference(file, images, expected);
          assert.ok(relative < 1e-4, `${fold ? 'folded' : 'BN nodes'}, batch ${batch}: relative difference ${relative}`);
          images.dispose();
          expected.dispose();
        }
        if (c.depth === 18 && c.channels === 3 && head !== 'v2') checkWithOnnx(file);
      }
      encoder.dispose();
      g?.dispose();
    });
  }
}

/** onnx.checker.check_model (full check, with shape inference) from Debian's python3-onnx. */
function checkWithOnnx(file: string): void {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print("ok")', file], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'ok', `onnx.checker on ${file}: ${r.stderr}`);
}

test('ONNX export: a module without an ONNX form is named; a bad opset is refused', () => {
  class Custom extends Module {
    forward(x: Tensor): Tensor {
      return x;
    }
  }
  const encoder = resnet(18, { cifarStem: true, widthMultiplier: 0.125 });
  encoder.registerModule('maxpool', new Custom());
  Object.assign(encoder, { maxpool: encoder.child('maxpool') });
  assert.throws(() => exportOnnx(encoder, { imageSize: 32 }), /no ONNX form for maxpool \(Custom\)/);
  assert.throws(() => exportOnnx(resnet(18, { cifarStem: true, widthMultiplier: 0.125 }), { imageSize: 32, opset: 9 }), /opset must be 15 … 21/);
});

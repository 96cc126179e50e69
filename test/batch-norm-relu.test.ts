// The fused training-mode BatchNorm + ReLU, with and without a residual added before the ReLU
// (native/batch_norm_relu.cc), against libtorch's own batch_norm, add and relu computed in float64 on
// the same values: output, running statistics, and the gradients of input, residual, weight and bias;
// for float32 activations and for bfloat16 ones (bf16 autocast), whose outputs and input gradients
// are rounded once to bfloat16 (relative error within 2⁻⁸) while the statistics stay float32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as F from '../src/tensor/functional.js';
import { nn, tidy, ones, zeros } from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { seeded, values } from './helpers.js';

function largestRelativeError(actual: Tensor, expected: Tensor): number {
  const a = values(actual);
  const e = values(expected);
  const scale = Math.max(...e.map(Math.abs), 1e-12);
  return Math.max(...a.map((v, i) => Math.abs(v - e[i]!))) / scale;
}

// Shapes: one block of rows; several blocks with a partial last one (16 channels: 512 rows a
// block, 5,000 rows); [N, C]; and an affine-free layer.
const cases: { shape: number[]; affine: boolean; residual?: boolean }[] = [
  { shape: [6, 5, 7, 3], affine: true },
  { shape: [50, 16, 10, 10], affine: true },
  { shape: [300, 7], affine: true },
  { shape: [20, 3, 5, 5], affine: false },
  { shape: [50, 16, 10, 10], affine: true, residual: true },
  { shape: [300, 7], affine: false, residual: true },
];

for (const { dtype, shape, affine, residual = false } of (['float32', 'bfloat16'] as const).flatMap((dtype) => cases.map((c) => ({ dtype, ...c })))) {
  test(`fused BatchNorm${residual ? ' + residual' : ''} + ReLU, ${dtype} [${shape.join(', ')}]${affine ? '' : ' without weight and bias'}: output, running statistics and gradients as libtorch's in float64`, () => {
    tidy(() => {
      const channels = shape[1]!;
      const layout = shape.length === 4 ? 'channels_last' : 'contiguous';
      /** Values the activations' type holds exactly, in float64. */
      const exact = (t: Tensor) => t.to(dtype).to('float64');
      // Inputs with a per-channel offset and scale, so that the mean and variance matter.
      const x64 = exact(seeded(shape, 7, -2, 3).add(seeded([1, channels, ...shape.slice(2).map(() => 1)], 8, -1, 1)));
      const weight64 = affine ? seeded([channels], 9, -1.5, 1.5) : null; // some negative: the mask flips
      const bias64 = affine ? seeded([channels], 10, -0.5, 0.5) : null;
      const residual64 = residual ? exact(seeded(shape, 12, -1, 1)) : null;
      const upstream = exact(seeded(shape, 11));
      const momentum = 0.3;
      const eps = 1e-5;
      // one rounding to bfloat16 (half its 2⁻⁷ spacing, relative) where the activations are bfloat16
      const activationError = dtype === 'float32' ? 1e-5 : 2 ** -8;

      // (weight and bias stay float32, as autocast leaves them)
      const leaves32 = [
        x64.to(dtype).contiguous(layout).requiresGrad_(true),
        weight64?.to('float32').requiresGrad_(true) ?? null,
        bias64?.to('float32').requiresGrad_(true) ?? null,
        residual64?.to(dtype).contiguous(layout).requiresGrad_(true) ?? null,
      ];
      const running32 = [zeros([channels]).add(0.5), ones([channels]).mul(2)];
      const y32 = F.batchNormReluTraining(leaves32[0]!, running32[0]!, running32[1]!, { weight: leaves32[1], bias: leaves32[2], momentum, eps, residual: leaves32[3] });
      assert.ok(y32 !== null, 'the fused path takes this input');
      assert.equal(y32.dtype, dtype);
      y32.mul(upstream.to(dtype)).sum().backward();

      const leaves64 = [x64.detach().requiresGrad_(true), weight64?.detach().requiresGrad_(true) ?? null, bias64?.detach().requiresGrad_(true) ?? null, residual64?.detach().requiresGrad_(true) ?? null];
      const running64 = [zeros([channels], { dtype: 'float64' }).add(0.5), ones([channels], { dtype: 'float64' }).mul(2)];
      const normalised = F.batchNorm(leaves64[0]!, running64[0]!, running64[1]!, { weight: leaves64[1], bias: leaves64[2], training: true, momentum, eps });
      const y64 = F.relu(leaves64[3] === null ? normalised : normalised.add(leaves64[3]));
      y64.mul(upstream).sum().backward();

      assert.ok(largestRelativeError(y32, y64) < activationError, `output: ${largestRelativeError(y32, y64)}`);
      assert.ok(largestRelativeError(running32[0]!, running64[0]!) < 1e-5, 'running mean');
      assert.ok(largestRelativeError(running32[1]!, running64[1]!) < 1e-5, 'running variance');
      leaves64.forEach((leaf, i) => {
        if (leaf === null) return;
        const error = largestRelativeError(leaves32[i]!.grad!, leaf.grad!);
        // (x's and the residual's gradients are activations: rounded to their type)
        assert.ok(error < (i === 0 || i === 3 ? Math.max(1e-4, activationError) : 1e-4), `gradient of ${['x', 'weight', 'bias', 'residual'][i]}: ${error}`);
      });
      // Exactly what the mask kept: the gradient is zero where the output is.
      const zeroOut = values(y32).map((v) => v === 0);
      assert.ok(zeroOut.some((z) => z) && zeroOut.some((z) => !z));
    });
  });
}

test('fused BatchNorm + ReLU takes only float32 or bfloat16 channels-last or [N, C] input; BatchNorm2d.forwardRelu falls back to the two ops elsewhere', () => {
  tidy(() => {
    const x = seeded([4, 3, 5, 5], 3);
    assert.equal(F.batchNormReluTraining(x.to('float32'), null, null), null, 'row-major 4-d');
    assert.equal(F.batchNormReluTraining(x.contiguous('channels_last'), null, null), null, 'float64');
    const x32 = x.to('float32').contiguous('channels_last');
    assert.equal(F.batchNormReluTraining(x32, null, null, { residual: x.to('float32') }), null, 'a row-major residual');
    assert.equal(F.batchNormReluTraining(x32, null, null, { residual: x32.narrow(0, 0, 2) }), null, 'a residual of another shape');
    assert.equal(F.batchNormReluTraining(x32, null, null, { residual: x32.to('bfloat16') }), null, 'a residual of another type');
    const fused = new nn.BatchNorm2d(3);
    const plain = new nn.BatchNorm2d(3);
    const a = fused.forwardRelu(x.to('float32').contiguous('channels_last'));
    const b = F.relu(plain.forward(x.to('float32')));
    assert.ok(largestRelativeError(a, b) < 1e-5);
    assert.equal(fused.stateDict().get('num_batches_tracked')!.item(), 1);
    assert.ok(largestRelativeError(fused.runningVar!, plain.runningVar!) < 1e-6);
    fused.eval();
    plain.eval();
    assert.ok(largestRelativeError(fused.forwardRelu(x.to('float32')), F.relu(plain.forward(x.to('float32')))) < 1e-6, 'eval mode');
    fused.dispose();
    plain.dispose();
  });
});

test('fused BatchNorm + ReLU refuses per-channel tensors of the wrong size, and a single value per channel', () => {
  tidy(() => {
    const x = seeded([4, 3, 2, 2], 3).to('float32').contiguous('channels_last');
    assert.throws(() => F.batchNormReluTraining(x, zeros([4]), ones([3])), /per-channel tensors must be float32 of shape \[3\]/);
    assert.throws(() => F.batchNormReluTraining(seeded([1, 3], 3).to('float32'), null, null), /more than 1 value per channel/);
  });
});

test('fused BatchNorm + ReLU passes a NaN on, as libtorch: its channel becomes NaN, the others stay finite (float32 and bfloat16)', () => {
  tidy(() => {
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const x = seeded([4, 3, 2, 2], 5).to('float32').contiguous('channels_last');
      x.narrow(0, 1, 1).narrow(1, 2, 1).narrow(2, 0, 1).narrow(3, 0, 1).fill_(Number.NaN);
      const y = F.batchNormReluTraining(x.to(dtype).contiguous('channels_last'), null, null)!;
      const perChannel = [0, 1, 2].map((c) => values(y.narrow(1, c, 1).contiguous()));
      assert.ok(perChannel[2]!.every(Number.isNaN), `${dtype}: the NaN's channel`);
      assert.ok([...perChannel[0]!, ...perChannel[1]!].every(Number.isFinite), `${dtype}: the other channels`);
    }
  });
});

// Autograd through the generic dispatcher path against central finite differences (float64).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, Tensor } from '../src/index.js';
import { gradcheck, seeded } from './helpers.js';

const TOLERANCE = 1e-6;

function check(name: string, fn: (xs: Tensor[]) => Tensor, inputs: Tensor[]): void {
  test(`${name}: gradient matches finite differences`, () => {
    const err = gradcheck(fn, inputs);
    assert.ok(err < TOLERANCE, `${name}: relative error ${err}`);
  });
}

check('conv2d (stride 2, padding 1, bias)', ([x, w, b]) => F.conv2d(x!, w!, b!, { stride: 2, padding: 1 }), [
  seeded([2, 2, 5, 5], 1),
  seeded([3, 2, 3, 3], 2),
  seeded([3], 3),
]);

check('batch_norm (training mode, affine)', ([x, g, b]) => F.batchNorm(x!, null, null, { weight: g!, bias: b!, training: true }), [
  seeded([4, 3, 2, 2], 4),
  seeded([3], 5, 0.5, 1.5),
  seeded([3], 6),
]);

check('linear', ([x, w, b]) => F.linear(x!, w!, b!), [seeded([4, 5], 7), seeded([3, 5], 8), seeded([3], 9)]);

check('log_softmax', ([x]) => F.logSoftmax(x!, 1), [seeded([3, 6], 10, -3, 3)]);

check('logsumexp', ([x]) => F.logsumexp(x!, 1), [seeded([4, 5], 11, -3, 3)]);

check('normalize', ([x]) => F.normalize(x!, { dim: 1 }), [seeded([4, 5], 12)]);

check('matmul (batched, broadcast)', ([a, b]) => a!.matmul(b!), [seeded([2, 3, 4], 13), seeded([4, 5], 14)]);

check('grid_sample (bilinear, zeros padding)', ([x, g]) => F.gridSample(x!, g!, { alignCorners: false }), [
  seeded([2, 2, 4, 5], 15),
  seeded([2, 3, 3, 2], 16, -0.9, 0.9),
]);

test('the finite-difference check can fail: a wrong gradient is caught', () => {
  // x * detach(x): autograd sees x as the derivative, the true one is 2x.
  const err = gradcheck(([x]) => x!.mul(x!.detach()), [seeded([5], 17)]);
  assert.ok(err > 0.1, `expected a large error, got ${err}`);
});

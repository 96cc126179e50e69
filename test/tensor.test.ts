// The Tensor API: values against hand-computed results, ownership, and errors that never crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor,
  tensor,
  zeros,
  ones,
  arange,
  randn,
  rand,
  cat,
  stack,
  tidy,
  keep,
  memory,
  noGrad,
  grad,
  manualSeed,
  ops,
  F,
  getNumThreads,
  setNumThreads,
  ntXentLoss,
} from '../src/index.js';
import { collectGarbage } from './helpers.js';

test('creation, dtype inference and read-back', () => {
  tidy(() => {
    const a = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(a.shape, [2, 3]);
    assert.equal(a.dtype, 'float32');
    assert.deepEqual(a.toNumbers(), [1, 2, 3, 4, 5, 6]);
    assert.equal(tensor([true, false]).dtype, 'bool');
    assert.equal(tensor(new Int32Array([1, 2])).dtype, 'int32');
    assert.deepEqual(Array.from(tensor([1, 2], { dtype: 'int64' }).toArray() as BigInt64Array), [1n, 2n]);
    assert.equal(tensor(3.5).item(), 3.5);
    assert.deepEqual(tensor(new Float64Array([1, 2, 3, 4]), { shape: [2, 2] }).shape, [2, 2]);
    assert.deepEqual(arange(5).toNumbers(), [0, 1, 2, 3, 4]);
    assert.deepEqual(zeros([2]).add(ones([2])).toNumbers(), [1, 1]);
    assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
  });
});

test('toArray into a given array: row-major from any strides, the same array returned; a wrong type or length refused', () => {
  tidy(() => {
    const into = new Float32Array([9, 9, 9, 9, 9, 9]);
    const transposed = tensor([[1, 2, 3], [4, 5, 6]]).t(); // strides [1, 3]: the copy walks them
    assert.equal(transposed.toArray(into), into);
    assert.deepEqual(Array.from(into), [1, 4, 2, 5, 3, 6]);
    assert.deepEqual(Array.from(tensor([7, 8], { dtype: 'int64' }).toArray(new BigInt64Array(2))), [7n, 8n]);
    assert.throws(() => transposed.toArray(new Float64Array(6)), /a float32 tensor copies into the TypedArray toArray\(\) would make for it/);
    assert.throws(() => transposed.toArray(new Float32Array(5)), /the array holds 5 elements but the tensor 6/);
    assert.deepEqual(Array.from(into), [1, 4, 2, 5, 3, 6], 'a refused copy writes nothing');
  });
});

test('arithmetic with broadcasting, reductions and matmul against hand-computed values', () => {
  tidy(() => {
    const a = tensor([[1, 2], [3, 4]]);
    const row = tensor([10, 20]);
    assert.deepEqual(a.add(row).toNumbers(), [11, 22, 13, 24]);
    assert.deepEqual(a.mul(2).sub(1).toNumbers(), [1, 3, 5, 7]);
    assert.deepEqual(a.div(tensor([[2], [4]])).toNumbers(), [0.5, 1, 0.75, 1]);
    assert.deepEqual(a.matmul(a).toNumbers(), [7, 10, 15, 22]);
    assert.deepEqual(a.sum(0).toNumbers(), [4, 6]);
    assert.deepEqual(a.mean(1).toNumbers(), [1.5, 3.5]);
    assert.equal(a.sum().item(), 10);
    assert.deepEqual(a.t().toNumbers(), [1, 3, 2, 4]);
    assert.deepEqual(a.pow(2).toNumbers(), [1, 4, 9, 16]);
    assert.deepEqual(a.gt(2).toNumbers(), [0, 0, 1, 1]);
    assert.ok(Math.abs(a.std().item() - Math.sqrt(5 / 3)) < 1e-6);
    assert.ok(Math.abs(tensor([3, 4]).norm().item() - 5) < 1e-6);
    const [values, indices] = tensor([[1, 5, 2], [7, 0, 3]]).maxDim(1);
    assert.deepEqual(values!.toNumbers(), [5, 7]);
    assert.deepEqual(indices!.toNumbers(), [1, 0]);
    // log Σ exp computed stably at large values: log(e^1000 + e^1000) = 1000 + log 2
    assert.ok(Math.abs(F.logsumexp(tensor([[1000, 1000]], { dtype: 'float64' }), 1).item() - (1000 + Math.LN2)) < 1e-9);
  });
});

test('shape ops, slicing and indexing', () => {
  tidy(() => {
    const a = arange(12, undefined, 1, { dtype: 'float32' }).reshape([3, 4]);
    assert.deepEqual(a.slice(1, 1, 3).toNumbers(), [1, 2, 5, 6, 9, 10]);
    assert.deepEqual(a.select(0, 2).toNumbers(), [8, 9, 10, 11]);
    assert.deepEqual(a.narrow(0, 1, 1).shape, [1, 4]);
    assert.deepEqual(a.index([tensor([2, 0], { dtype: 'int64' })]).toNumbers(), [8, 9, 10, 11, 0, 1, 2, 3]);
    assert.deepEqual(a.permute([1, 0]).shape, [4, 3]);
    assert.deepEqual(a.unsqueeze(0).shape, [1, 3, 4]);
    assert.deepEqual(a.flatten().shape, [12]);
    assert.deepEqual(cat([a, a], 0).shape, [6, 4]);
    assert.deepEqual(stack([a, a], 0).shape, [2, 3, 4]);
    assert.deepEqual(a.flip([1]).select(0, 0).toNumbers(), [3, 2, 1, 0]);
    assert.deepEqual(a.chunk(2, 1).map((t) => t.shape), [[3, 2], [3, 2]]);
  });
});

test('in-place ops change the tensor and return it', () => {
  tidy(() => {
    const a = tensor([1, 2, 3]);
    const same = a.mul_(2).add_(1);
    assert.equal(same, a);
    assert.deepEqual(a.toNumbers(), [3, 5, 7]);
    a.addcmul_(tensor([1, 1, 1]), tensor([2, 2, 2]), 0.5);
    assert.deepEqual(a.toNumbers(), [4, 6, 8]);
    a.zero_();
    assert.deepEqual(a.toNumbers(), [0, 0, 0]);
  });
});

test('tidy disposes what it does not return; keep and nested scopes', () => {
  collectGarbage();
  const before = memory().tensors;
  let kept!: Tensor;
  const result = tidy(() => {
    const a = ones([100]);
    kept = keep(a.mul(3));
    const inner = tidy(() => {
      ones([10]);
      return { x: a.add(1), list: [a.add(2)] };
    });
    assert.equal(memory().tensors, before + 4);
    return inner.x;
  });
  assert.equal(memory().tensors, before + 2);
  assert.deepEqual(result.toNumbers().slice(0, 2), [2, 2]);
  assert.equal(tidy(() => kept.sum().item()), 300);
  result.dispose();
  kept.dispose();
  assert.equal(memory().tensors, before);
  assert.throws(() => tidy(() => { ones([1]); throw new Error('boom'); }), /boom/);
  assert.equal(memory().tensors, before);
});

test('memory() counts shared storage once', () => {
  collectGarbage();
  tidy(() => {
    const start = memory();
    const a = zeros([256], { dtype: 'float32' });
    const v = a.view([16, 16]);
    const m = memory();
    assert.equal(m.tensors, start.tensors + 2);
    assert.equal(m.bytes, start.bytes + 1024);
    v.dispose();
    assert.equal(memory().bytes, start.bytes + 1024);
    a.dispose();
    assert.equal(memory().bytes, start.bytes);
  });
});

test('using disposes at the end of the block', () => {
  collectGarbage();
  const before = memory().tensors;
  {
    using a = ones([3]);
    assert.equal(memory().tensors, before + 1);
    assert.equal(tidy(() => a.sum().item()), 3);
  }
  assert.equal(memory().tensors, before);
});

test('autograd: backward, grad, noGrad, detach', () => {
  tidy(() => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const y = x.mul(x).sum(); // dy/dx = 2x
    y.backward();
    assert.deepEqual(x.grad!.toNumbers(), [2, 4, 6]);
    x.mul(3).sum().backward(); // accumulates
    assert.deepEqual(x.grad!.toNumbers(), [5, 7, 9]);
    x.grad = null;
    assert.equal(x.grad, null);
    const z = noGrad(() => x.mul(2));
    assert.equal(z.requiresGrad, false);
    assert.equal(x.detach().requiresGrad, false);
    const [g] = grad(x.pow(3).sum(), [x]); // 3x²
    assert.deepEqual(g!.toNumbers(), [3, 12, 27]);
    const w = tensor([1, 1, 1], { dtype: 'float64', requiresGrad: true });
    x.mul(w).backward(tensor([1, 2, 3], { dtype: 'float64' }));
    assert.deepEqual(w.grad!.toNumbers(), [1, 4, 9]);
  });
});

test('manualSeed makes random ops repeatable', () => {
  tidy(() => {
    manualSeed(7);
    const a = randn([5]).toNumbers();
    const b = rand([3]).toNumbers();
    manualSeed(7);
    assert.deepEqual(randn([5]).toNumbers(), a);
    assert.deepEqual(rand([3]).toNumbers(), b);
  });
});

test('thread count is settable and defaults to the cores', () => {
  const n = getNumThreads();
  assert.ok(n >= 1);
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  setNumThreads(n);
  assert.throws(() => setNumThreads(0), RangeError);
});

test('bad calls throw JS errors with clear messages, and the process goes on', () => {
  tidy(() => {
    assert.throws(() => tensor([[1, 2]]).matmul(zeros([3, 3])), /shapes cannot be multiplied \(1x2 and 3x3\)/);
    assert.throws(
      () => F.conv2d(zeros([1, 3, 8, 8]), zeros([4, 2, 3, 3])),
      /expected input\[1, 3, 8, 8\] to have 2 channels, but got 3 channels/,
    );
    assert.throws(() => zeros([2, 2]).select(0, 5), (e: unknown) => e instanceof RangeError && /index 5 out of range/.test(e.message));
    const d = ones([2]);
    d.dispose();
    assert.throws(() => d.add(1), /disposed/);
    assert.throws(() => d.shape, /disposed/);
    assert.throws(() => ops.add$Tensor(ones([2]), 3 as unknown as Tensor), TypeError);
    assert.throws(() => ops.mul$Tensor({} as Tensor, ones([1])), TypeError);
    assert.throws(() => tensor([1, 2]).to('float128' as never), /unknown dtype|float128/);
    assert.throws(() => zeros([-1]), /negative|shape|Trying to create tensor with negative dimension/);
    assert.throws(() => tensor([1, 2]).view([3]), /invalid for input of size 2/);
  });
  // still alive and computing
  assert.equal(tidy(() => ones([2]).sum().item()), 2);
});

test('misuse gets a message that says what is wrong', () => {
  assert.throws(() => tensor('abc' as never), /tensor\(\): expected numbers or booleans, got string "abc"/);
  assert.throws(() => tensor([[1, 2], [3]]), /ragged nested array \(at depth 1: 1 items where the first row has 2\)/);
  assert.throws(() => tensor([1], { dtype: 'float99' as never }), /to\('float99'\): neither a dtype \(float32, .*\) nor a device/);
  assert.throws(() => ops.add$Tensor(null as never, null as never), /add\.Tensor: argument 'self' must be given \(null is not allowed\)/);
  assert.throws(() => ops.add$Tensor(5 as never, 5 as never), /add\.Tensor: argument 'self' must be a tensor/);
  assert.throws(() => manualSeed(-1), /manualSeed: the seed must be an integer from 0 to 2\^53/);
  assert.throws(() => manualSeed(2 ** 70), /manualSeed: the seed must be an integer/);
  assert.throws(() => manualSeed(0.5), /manualSeed: the seed must be an integer/);
  manualSeed(2n ** 63n);
  assert.throws(() => tidy(() => ntXentLoss(randn([2, 8]))), /NT-Xent needs at least 2 images \(4 views\)/);
  // Shapes whose element count overflows int64 are refused before anything is allocated.
  assert.throws(() => tensor(new Uint8Array(0), { shape: [0, 2 ** 53, 2 ** 53] }), /more elements than a tensor can/);
  assert.throws(() => tensor(new Uint8Array(0), { shape: [2 ** 64] }), /shape must hold non-negative integers \(at most 2\^53\)/);
});

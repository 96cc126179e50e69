// The profiler's pairing and self times on a workload whose structure is known: a large matmul (whose
// work is in aten::mm, called by aten::matmul) in one phase, a relu in another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randn, tidy } from '../src/index.js';
import { kindOf, profile, profileRange } from '../src/profiler.js';

test('profile: operators paired per phase, self time excludes the operators inside', () => {
  const a = randn([600, 600]);
  const wall: Record<string, number> = {};
  const ops = profile(() =>
    tidy(() => {
      let t = performance.now();
      profileRange('products', () => a.matmul(a).matmul(a));
      wall.products = performance.now() - t;
      t = performance.now();
      profileRange('activations', () => a.relu());
      wall.activations = performance.now() - t;
    }),
  );
  const find = (phase: string, name: string) => ops.find((o) => o.phase === phase && o.name === name);
  const mm = find('products', 'aten::mm');
  const matmul = find('products', 'aten::matmul');
  assert.ok(mm && matmul, JSON.stringify(ops.slice(0, 8)));
  assert.equal(mm.calls, 2);
  assert.equal(matmul.calls, 2);
  // the products' time is in mm, not in the matmul that calls it
  assert.ok(mm.selfMs > 10 * matmul.selfMs, `mm ${mm.selfMs} ms, matmul itself ${matmul.selfMs} ms`);
  const products = ops.filter((o) => o.phase === 'products').reduce((s, o) => s + o.selfMs, 0);
  assert.ok(products <= wall.products! && products > 0.5 * wall.products!, `${products} of ${wall.products} ms`);
  assert.equal(find('activations', 'aten::relu')?.calls, 1);
  assert.equal(ops.filter((o) => o.name === 'products' || o.name === 'activations').length, 0, 'phases are not operators');
  assert.equal(kindOf('aten::mm'), 'matrix products');
  assert.equal(kindOf('aten::convolution_backward'), 'convolution');
  assert.equal(kindOf('aten::native_batch_norm'), 'batch norm');
  a.dispose();
});

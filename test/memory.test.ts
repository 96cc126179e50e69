// A long synchronous training loop inside tidy() must not grow: neither live tensors nor RSS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, Tensor, memory, noGrad, randn, tidy, manualSeed } from '../src/index.js';

test('10,000 forward+backward steps of a small conv net keep memory flat', () => {
  manualSeed(0);
  const params: Tensor[] = [randn([4, 1, 3, 3]), randn([4]), randn([8, 4, 3, 3]), randn([8]), randn([10, 8]), randn([10])];
  for (const p of params) p.mul_(0.1).requiresGrad_(true);
  const x = randn([2, 1, 8, 8]);
  const labels = randn([2, 10]).argmax(1);
  let atStep100 = { tensors: 0, bytes: 0, rss: 0 };
  const start = memory();
  for (let step = 1; step <= 10_000; step++) {
    tidy(() => {
      const [w1, b1, w2, b2, w3, b3] = params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
      const h1 = F.relu(F.conv2d(x, w1, b1, { padding: 1 }));
      const h2 = F.relu(F.conv2d(h1, w2, b2, { stride: 2, padding: 1 }));
      const logits = F.linear(F.adaptiveAvgPool2d(h2, 1).flatten(1), w3, b3);
      F.crossEntropy(logits, labels).backward();
      noGrad(() => {
        for (const p of params) {
          const g = p.grad!;
          p.sub_(g, 0.01);
          g.zero_();
        }
      });
    });
    if (step === 100) atStep100 = { ...memory(), rss: process.memoryUsage().rss };
  }
  const end = memory();
  const rss = process.memoryUsage().rss;
  // The parameters' gradients appear after the first step; after that nothing may be added.
  assert.equal(end.tensors, atStep100.tensors);
  assert.equal(end.bytes, atStep100.bytes);
  assert.equal(end.tensors, start.tensors);
  const growth = (rss - atStep100.rss) / 2 ** 20;
  assert.ok(growth < 50, `RSS grew ${growth.toFixed(1)} MB after step 100`);
});

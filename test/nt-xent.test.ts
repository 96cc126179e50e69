// NT-Xent against independently computed values: hand-derived cases, a float64 PyTorch fixture
// (scripts/fixtures/make_ntxent_fixture.py), and the loss's symmetries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSafetensors, ntXentLoss, ntXentMetrics, tensor, tidy, randn, randperm, cat, type Tensor } from '../src/index.js';
import { repoRoot } from './helpers.js';

const f64 = (rows: number[][]) => tensor(rows, { dtype: 'float64' });

test('a hand-derived case: N = 2 with orthogonal and opposite vectors', () => {
  tidy(() => {
    // z: a=(1,0), b=(0,1), a'=(1,0), b'=(0,-1). Cosines from a: b 0, a' 1, b' 0.
    // l(a) = −log(e^{1/τ} / (e^{1/τ} + e^0 + e^0)); from b: a 0, a' 0, b' −1 → −log(e^{−1/τ} / (1 + 1 + e^{−1/τ}))
    const tau = 0.5;
    const z = f64([[1, 0], [0, 1], [1, 0], [0, -1]]);
    const la = -Math.log(Math.exp(1 / tau) / (Math.exp(1 / tau) + 2));
    const lb = -Math.log(Math.exp(-1 / tau) / (2 + Math.exp(-1 / tau)));
    const expected = (2 * la + 2 * lb) / 4;
    assert.ok(Math.abs(ntXentLoss(z, { temperature: tau }).item() - expected) < 1e-12);
    // scaling a row does not change anything (cosine similarity)
    assert.ok(Math.abs(ntXentLoss(f64([[3, 0], [0, 2], [1, 0], [0, -5]]), { temperature: tau }).item() - expected) < 1e-12);
  });
});

test('identical embeddings give log(2N − 1)', () => {
  tidy(() => {
    // every similarity is 1/τ, so each term is −log(1 / (2N − 1))
    const z = randn([1, 7], { dtype: 'float64' }).expand([10, 7]).contiguous();
    assert.ok(Math.abs(ntXentLoss(z, { temperature: 0.3 }).item() - Math.log(9)) < 1e-12);
  });
});

test('value and gradient equal PyTorch autograd of the definition, float64, to 1e-9', () => {
  const { tensors: fx } = loadSafetensors(join(repoRoot, 'test', 'fixtures', 'ntxent.safetensors'));
  for (const [tau, name] of [[0.5, 't05'], [0.1, 't01']] as const) {
    tidy(() => {
      const z = fx.get('z')!.clone().requiresGrad_(true);
      const loss = ntXentLoss(z, { temperature: tau });
      assert.ok(Math.abs(loss.item() - fx.get(`loss_${name}`)!.item()) < 1e-9, `loss τ=${tau}`);
      loss.backward();
      const err = z.grad!.sub(fx.get(`grad_${name}`)!).abs().amax().item();
      assert.ok(err < 1e-9, `grad τ=${tau}: ${err}`);
      // both views of every pair receive gradient
      const perRow = z.grad!.abs().sum(1).toNumbers();
      assert.ok(perRow.every((v) => v > 1e-6));
    });
  }
  for (const t of fx.values()) t.dispose();
});

test('permuting the images (both views together) leaves the loss unchanged', () => {
  tidy(() => {
    const n = 8;
    const z = randn([2 * n, 16], { dtype: 'float64' });
    const p = randperm(n);
    const [a, b] = z.split(n, 0) as [Tensor, Tensor];
    const permuted = cat([a.indexSelect(0, p), b.indexSelect(0, p)], 0);
    assert.ok(Math.abs(ntXentLoss(z).item() - ntXentLoss(permuted).item()) < 1e-12);
    // swapping the two views is a symmetry too
    assert.ok(Math.abs(ntXentLoss(z).item() - ntXentLoss(cat([b, a], 0)).item()) < 1e-12);
    // but moving only one view breaks the pairs
    const broken = cat([a.indexSelect(0, p), b], 0);
    assert.ok(Math.abs(ntXentLoss(z).item() - ntXentLoss(broken).item()) > 1e-6);
  });
});

test('metrics: perfect pairs rank first; similarities as defined', () => {
  tidy(() => {
    const z = f64([[1, 0], [0, 1], [1, 0], [0, 1]]);
    const m = ntXentMetrics(z, { temperature: 0.5 });
    assert.equal(m.accuracy, 1);
    assert.ok(Math.abs(m.positiveSimilarity - 1) < 1e-12);
    assert.ok(Math.abs(m.negativeSimilarity - 0) < 1e-12);
    assert.throws(() => ntXentLoss(f64([[1, 0], [0, 1], [1, 1]])), /two views per image/);
  });
});

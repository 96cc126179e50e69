// Evaluation: kNN votes and L-BFGS / the linear probe against hand-made problems with known answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knnPredict, lbfgs, linearProbe, tensor, tidy, randn, type Tensor } from '../src/index.js';

test('kNN: weighted votes of the nearest neighbours by cosine similarity', () => {
  tidy(() => {
    // bank: class 0 points along +x, class 1 along +y; k = 3
    const bank = tensor([[1, 0], [0.9, 0.1], [0.8, -0.1], [0, 1], [0.1, 0.9]]);
    const labels = Int32Array.from([0, 0, 0, 1, 1]);
    const q = tensor([[1, 0.05], [0.05, 1], [-1, 0.2]]);
    assert.deepEqual(Array.from(knnPredict(bank, labels, q, { k: 3 })), [0, 1, 1]);
    // with k = 1 only the single nearest neighbour votes
    assert.deepEqual(Array.from(knnPredict(bank, labels, tensor([[0.6, 0.5]]), { k: 1 })), [0]);
    // the weights exp(sim/τ): two weak class-0 votes lose to one strong class-1 vote at low τ
    const bank2 = tensor([[1, 0], [0.8, 0.6], [0.8, -0.6]]);
    const l2 = Int32Array.from([1, 0, 0]);
    assert.deepEqual(Array.from(knnPredict(bank2, l2, tensor([[1, 0]]), { k: 3, temperature: 0.05 })), [1]);
    assert.deepEqual(Array.from(knnPredict(bank2, l2, tensor([[1, 0]]), { k: 3, temperature: 10 })), [0]);
  });
});

test('L-BFGS finds the minimum of a quadratic (closed form)', () => {
  tidy(() => {
    // f(x) = ½ xᵀAx − bᵀx with A SPD: minimum at A⁻¹b
    const a = tensor([[4, 1, 0], [1, 3, 0.5], [0, 0.5, 2]], { dtype: 'float64' });
    const b = tensor([1, 2, 3], { dtype: 'float64' });
    const { theta } = lbfgs((x: Tensor) => x.matmul(a).matmul(x).mul(0.5).sub(b.matmul(x)), tensor([0, 0, 0], { dtype: 'float64' }), { tolerance: 1e-10 });
    // Cramer's rule by hand: det A = 4·5.75 − 1·2 = 21; x₀ = det[b a₁ a₂] / 21 = (5.75 − 2.5) / 21
    const x0 = theta.toNumbers()[0]!;
    assert.ok(Math.abs(x0 - 3.25 / 21) < 1e-6, `x0 ${x0}`);
    const residual = a.matmul(theta).sub(b).abs().amax().item();
    assert.ok(residual < 1e-6, `residual ${residual}`);
    theta.dispose();
  });
});

test('the linear probe separates separable classes and picks λ on held-out data', () => {
  tidy(() => {
    const n = 600;
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    const centres = tensor([[4, 0, 0, 0], [0, 4, 0, 0], [0, 0, 4, 0]]);
    const make = () => centres.index([tensor(labels, { dtype: 'int64' })]).add(randn([n, 4]).mul(0.5));
    const r = linearProbe({ features: make(), labels }, { features: make(), labels }, { l2Grid: [1e-4, 1e-2] });
    assert.equal(r.accuracy, 1);
    assert.ok([1e-4, 1e-2].includes(r.l2));
    assert.deepEqual(Object.keys(r.heldOutAccuracy).sort(), ['0.0001', '0.01']);
  });
});

test('label fractions are class-balanced, seeded subsets', async () => {
  const { balancedSubset } = await import('../src/eval/finetune.js');
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 900 ? i % 3 : 3)); // classes of 300, 300, 300, 100
  const subset = balancedSubset(labels, 0.1, 7);
  const counts = [0, 0, 0, 0];
  subset.forEach((i) => counts[labels[i]!]!++);
  assert.deepEqual(counts, [30, 30, 30, 10]);
  assert.deepEqual(balancedSubset(labels, 0.1, 7), subset);
  assert.notDeepEqual(balancedSubset(labels, 0.1, 8), subset);
  assert.equal(new Set(subset).size, subset.length);
  assert.deepEqual(balancedSubset(labels, 0.001, 1).length, 4); // at least one per class
});

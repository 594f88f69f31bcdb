import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { mannWhitneyU, normalSf } from './mann-whitney.ts';

const close = (actual: number, expected: number, tolerance = 1e-6) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} ≉ ${expected}`);

describe('mannWhitneyU()', () => {
  it('mannWhitneyU() gives U = 0 and n1·n2 for fully separated samples', () => {
    assert.equal(mannWhitneyU([1, 2, 3], [4, 5, 6]).u, 9);
    assert.equal(mannWhitneyU([4, 5, 6], [1, 2, 3]).u, 0);
  });

  it('mannWhitneyU() counts ties as one half (worked by hand)', () => {
    // b=2 beats 1 and ties both 2s: 1 + 0.5 + 0.5; b=3 beats all three: 3. U = 5, and 6 − 5 = 1 the other way.
    const r = mannWhitneyU([1, 2, 2], [2, 3]);
    assert.equal(r.u, 5);
    // Tie-corrected variance: n1n2/12 · ((N+1) − Σ(t³−t)/(N(N−1))) = 0.5 · (6 − 24/20) = 2.4
    close(r.z, (5 - 3 - 0.5) / Math.sqrt(2.4));
  });

  it('mannWhitneyU() matches the scipy.stats.mannwhitneyu documentation example (asymptotic)', () => {
    // scipy docs: males = [19, 22, 16, 29, 24], females = [20, 11, 17, 12]; U1 = 17;
    // method="asymptotic" gives pvalue 0.11134688653314041 (two-sided, continuity corrected).
    const males = [19, 22, 16, 29, 24];
    const females = [20, 11, 17, 12];
    const r = mannWhitneyU(females, males);
    assert.equal(r.u, 17);
    close(r.pTwoSided, 0.11134688653314041);
    close(r.pGreater, 0.11134688653314041 / 2);
    assert.ok(r.z > 0, 'males (b) tend to be larger');
  });

  it('mannWhitneyU() matches the textbook z for large separated samples', () => {
    // n1 = n2 = 20, fully separated: U = 400, μ = 200, σ = sqrt(20·20·41/12) = 36.968; z = 199.5/σ = 5.3965
    const a = Array.from({ length: 20 }, (_, i) => i);
    const b = Array.from({ length: 20 }, (_, i) => 100 + i);
    const r = mannWhitneyU(a, b);
    close(r.z, 199.5 / Math.sqrt((400 * 41) / 12));
    assert.ok(r.pGreater < 1e-7);
    close(mannWhitneyU(b, a).pGreater, 1, 1e-7);
  });

  it('mannWhitneyU() returns p = 1 when every value is equal', () => {
    assert.deepEqual(mannWhitneyU([5, 5, 5], [5, 5]), { u: 3, z: 0, pTwoSided: 1, pGreater: 1 });
  });

  it('mannWhitneyU() refuses an empty sample', () => {
    assert.throws(() => mannWhitneyU([], [1]), RangeError);
  });

  it('mannWhitneyU() U for a and b sum to n1·n2, z flips sign, pTwoSided is symmetric', () => {
    const sample = fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(sample, sample, (a, b) => {
        const ab = mannWhitneyU(a, b);
        const ba = mannWhitneyU(b, a);
        assert.equal(ab.u + ba.u, a.length * b.length);
        close(ab.z, -ba.z, 1e-9);
        close(ab.pTwoSided, ba.pTwoSided, 1e-9);
        assert.ok(ab.pGreater >= 0 && ab.pGreater <= 1 && ab.pTwoSided >= 0 && ab.pTwoSided <= 1);
      }),
    );
  });

  it('mannWhitneyU() does not depend on the order of the samples or on a shift of both', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 20 }),
        (a, b) => {
          const r = mannWhitneyU(a, b);
          assert.deepEqual(mannWhitneyU([...a].reverse(), [...b].reverse()), r);
          assert.equal(
            mannWhitneyU(
              a.map((x) => x * 2 + 7),
              b.map((x) => x * 2 + 7),
            ).u,
            r.u,
          );
        },
      ),
    );
  });
});

describe('normalSf()', () => {
  it('normalSf() matches standard normal tables', () => {
    close(normalSf(0), 0.5);
    close(normalSf(1.959963985), 0.025);
    close(normalSf(-1.644853627), 0.95);
    close(normalSf(3), 0.0013498980316301);
  });
});

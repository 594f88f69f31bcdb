/**
 * Mann-Whitney U test (Wilcoxon rank-sum), the test Kayenta's NetflixACAJudge runs on canary metrics.
 *
 * Method: the two samples are ranked together, tied values share their average rank. U counts the pairs
 * (a[i], b[j]) with b[j] > a[i], a tie counting one half. p-values come from the normal approximation with the
 * tie-corrected variance
 *   σ² = n1·n2/12 · ((N + 1) − Σ(t³ − t) / (N·(N − 1)))
 * and a continuity correction of 0.5 — the same as scipy.stats.mannwhitneyu(method="asymptotic",
 * use_continuity=True). No exact distribution is computed: the approximation is poor for samples smaller than
 * about 8 each, so callers skip the test below MIN_SAMPLES (evaluateAnalysis does) rather than trust it.
 */

/** Fewer observations than this in either sample and the normal approximation is not used for a decision. */
export const MIN_SAMPLES = 8;

export interface MannWhitneyResult {
  /** Pairs where b is larger than a, ties counting 1/2; n1·n2 − u counts those where a is larger. */
  u: number;
  /** Standardised u (continuity corrected); positive when b tends to be larger. 0 when every value is equal. */
  z: number;
  /** Probability of a difference at least this large in either direction if both come from one distribution. */
  pTwoSided: number;
  /** One-sided p-value for "b tends to be larger than a". */
  pGreater: number;
}

/** Compares two independent samples; both must be non-empty. */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitneyResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('Cannot run a Mann-Whitney U test: a sample is empty');
  const all = [...a.map((v) => ({ v, fromB: false })), ...b.map((v) => ({ v, fromB: true }))].sort((x, y) => x.v - y.v);
  const n = n1 + n2;
  let rankSumB = 0;
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1]!.v === all[i]!.v) j++;
    const rank = (i + j + 2) / 2; // ranks are 1-based; positions i..j share their average
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    for (let k = i; k <= j; k++) if (all[k]!.fromB) rankSumB += rank;
    i = j + 1;
  }
  const u = rankSumB - (n2 * (n2 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - (n > 1 ? tieTerm / (n * (n - 1)) : 0));
  if (variance <= 0) return { u, z: 0, pTwoSided: 1, pGreater: 1 };
  const sd = Math.sqrt(variance);
  const diff = u - mean;
  const z = (Math.sign(diff) * Math.max(Math.abs(diff) - 0.5, 0)) / sd;
  return {
    u,
    z,
    pTwoSided: Math.min(1, 2 * normalSf((Math.abs(diff) - 0.5) / sd)),
    pGreater: normalSf((diff - 0.5) / sd),
  };
}

/** P(Z > z) for a standard normal Z. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

// Complementary error function, Chebyshev fit (Numerical Recipes erfcc): relative error below 1.2e-7 everywhere.
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

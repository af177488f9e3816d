//! Wendel's theorem (\[GLPR\] Thm 6.7; J. G. Wendel, Math. Scand. 1962): for n i.i.d. uniform points on S^{d-1}
//! (any centrally symmetric law), P(all in an open hemisphere) = 2^{-(n-1)} sum_{k=0}^{d-1} binom(n-1, k)
//! (= 1 for n <= d). Lemma 6.4 needs this event (exists w with <x_i, w> > 0 for all i).
//!
//! The hemisphere test is exact up to floating-point round-off: the linear program
//! max s subject to <x_i, w> >= s (all i), |w_k| <= 1, s >= 0, solved by a dense primal simplex with Bland's
//! anti-cycling rule. Its value s* is > 0 iff the points lie in an open hemisphere (otherwise, by Gordan's
//! alternative, 0 is in their convex hull and s* = 0). A positive answer is confirmed by re-checking
//! min_i <x_i, w> > 0 for the returned w.

use crate::error::{EnergyError, Result, check_d, check_n, check_points};

/// Margin below which the LP value is treated as 0 (round-off of the simplex pivots).
pub const HEMISPHERE_MARGIN_TOL: f64 = 1e-10;

/// Wendel's probability 2^{-(n-1)} sum_{k=0}^{d-1} binom(n-1, k) that n i.i.d. uniform points of S^{d-1}
/// lie in an open hemisphere.
pub fn wendel_probability(n: usize, d: usize) -> Result<f64> {
    check_n(n)?;
    check_d(d)?;
    if n <= d {
        return Ok(1.0);
    }
    let m = n - 1;
    // Terms t_k = binom(m, k) 2^{-m} in log scale (binom via ln Gamma), summed from the largest.
    let ln_half_pow = -(m as f64) * std::f64::consts::LN_2;
    let ln_gamma = crate::bessel::ln_gamma;
    if m <= 1000 {
        // Exact-ish recurrence starting from 2^{-m} (a power of two, representable for m <= 1074).
        let mut term = (2.0f64).powi(-(m as i32));
        let mut sum = term;
        for k in 0..d - 1 {
            term *= (m - k) as f64 / (k + 1) as f64;
            sum += term;
        }
        return Ok(sum.min(1.0));
    }
    if m > LARGE_M {
        return wendel_large(m, d);
    }
    let ln_m_fact = ln_gamma(m as f64 + 1.0);
    let sum: f64 = (0..d)
        .map(|k| {
            (ln_m_fact - ln_gamma(k as f64 + 1.0) - ln_gamma((m - k) as f64 + 1.0) + ln_half_pow)
                .exp()
        })
        .sum();
    Ok(sum.min(1.0))
}

/// Above this m = n - 1 the ln Gamma differences of the direct sum lose accuracy (ln Gamma(m) ~ m ln m)
/// and the sum over d terms gets long: [`wendel_large`] is used.
const LARGE_M: usize = 1_000_000;

/// ln(binom(m, k) 2^{-m}) for 1 <= k < m without large logarithms: Stirling with the binomial
/// deviance, -m D(k/m || 1/2) + ln(m / (2 pi k (m - k))) / 2 + delta(m) - delta(k) - delta(m - k),
/// where delta(j) = ln j! - (j ln j - j + ln(2 pi j) / 2).
fn ln_binomial_half(m: usize, k: usize) -> f64 {
    fn delta(j: usize) -> f64 {
        let x = j as f64;
        if j < 16 {
            crate::bessel::ln_gamma(x + 1.0)
                - (x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln())
        } else {
            let x2 = x * x;
            1.0 / (12.0 * x) - 1.0 / (360.0 * x * x2) + 1.0 / (1260.0 * x * x2 * x2)
        }
    }
    let (mf, kf) = (m as f64, k as f64);
    let u = 2.0 * kf / mf - 1.0;
    let deviance = 0.5 * ((1.0 + u) * u.ln_1p() + (1.0 - u) * (-u).ln_1p());
    -mf * deviance + 0.5 * (mf / (2.0 * std::f64::consts::PI * kf * (mf - kf))).ln() + delta(m)
        - delta(k)
        - delta(m - k)
}

/// Wendel's probability P(Bin(m, 1/2) <= d - 1) for m > [`LARGE_M`] and d <= m: 1 to double
/// precision when d - 1 lies 40 standard deviations above the mean (the upper tail is below
/// e^{-800}); else summed downwards from k = d - 1 by the ratio of consecutive terms while
/// that takes at most [`LARGE_M`] terms; an error outside that domain.
fn wendel_large(m: usize, d: usize) -> Result<f64> {
    let (mf, top) = (m as f64, (d - 1) as f64);
    if top >= 0.5 * mf + 20.0 * mf.sqrt() + 50.0 {
        return Ok(1.0);
    }
    let mut k = d - 1;
    let mut term = ln_binomial_half(m, k).exp();
    let mut sum = term;
    for _ in 0..LARGE_M {
        if k == 0 || (term <= 1e-17 * sum && 2 * k < m) {
            return Ok(sum.min(1.0));
        }
        // binom(m, k - 1) = binom(m, k) k / (m - k + 1)
        term *= k as f64 / (m - k + 1) as f64;
        k -= 1;
        sum += term;
    }
    Err(EnergyError::Numerical(format!(
        "Wendel's sum for n = {} and d = {d} is outside the computable domain: it needs more than {LARGE_M} terms (d within 40 standard deviations of n / 2)",
        m + 1
    )))
}

/// Outcome of the open-hemisphere test.
#[derive(Clone, Debug, PartialEq)]
pub struct HemisphereTest {
    /// True iff some w has <x_i, w> > 0 for every i.
    pub in_open_hemisphere: bool,
    /// LP value s* = max_{|w|_inf <= 1} min_i <x_i, w> (clipped at 0).
    pub margin: f64,
    /// The maximising direction w (zero vector when not in a hemisphere).
    pub direction: Vec<f64>,
}

/// Exact open-hemisphere test for n points of S^{d-1} (row-major n x d) by linear programming.
pub fn open_hemisphere_test(x: &[f64], n: usize, d: usize) -> Result<HemisphereTest> {
    check_points(x, n, d)?;
    // Variables z = (s, p_1..p_d, q_1..q_d) >= 0 with w = p - q.
    let nv = 1 + 2 * d;
    let mut a = Vec::with_capacity((n + d) * nv);
    let mut b = Vec::with_capacity(n + d);
    for i in 0..n {
        // s - <x_i, p> + <x_i, q> <= 0
        a.push(1.0);
        for k in 0..d {
            a.push(-x[i * d + k]);
        }
        for k in 0..d {
            a.push(x[i * d + k]);
        }
        b.push(0.0);
    }
    for k in 0..d {
        // p_k + q_k <= 1
        let mut row = vec![0.0; nv];
        row[1 + k] = 1.0;
        row[1 + d + k] = 1.0;
        a.extend_from_slice(&row);
        b.push(1.0);
    }
    let mut c = vec![0.0; nv];
    c[0] = 1.0;
    let (value, z) = simplex_maximize(&c, &a, &b)?;
    let w: Vec<f64> = (0..d).map(|k| z[1 + k] - z[1 + d + k]).collect();
    let min_inner = (0..n)
        .map(|i| (0..d).map(|k| x[i * d + k] * w[k]).sum::<f64>())
        .fold(f64::INFINITY, f64::min);
    let in_open_hemisphere = value > HEMISPHERE_MARGIN_TOL && min_inner > 0.0;
    Ok(HemisphereTest {
        in_open_hemisphere,
        margin: value.max(0.0),
        direction: if in_open_hemisphere { w } else { vec![0.0; d] },
    })
}

/// Dense primal simplex for max c^T z s.t. A z <= b, z >= 0 with b >= 0 (slack basis feasible), Bland's rule.
/// `a` is row-major (b.len() x c.len()). Returns (optimal value, z). Errors if unbounded or not converged.
fn simplex_maximize(c: &[f64], a: &[f64], b: &[f64]) -> Result<(f64, Vec<f64>)> {
    const EPS: f64 = 1e-12;
    let (m, nv) = (b.len(), c.len());
    let cols = nv + m + 1; // variables, slacks, right-hand side
    let mut t = vec![0.0; (m + 1) * cols];
    for r in 0..m {
        t[r * cols..r * cols + nv].copy_from_slice(&a[r * nv..(r + 1) * nv]);
        t[r * cols + nv + r] = 1.0;
        t[r * cols + cols - 1] = b[r];
    }
    // Objective row holds reduced costs -c (we pivot while some entry is negative).
    for j in 0..nv {
        t[m * cols + j] = -c[j];
    }
    let mut basis: Vec<usize> = (nv..nv + m).collect();
    for _ in 0..50_000 {
        // Bland: smallest index with negative reduced cost enters.
        let Some(enter) = (0..nv + m).find(|&j| t[m * cols + j] < -EPS) else {
            let mut z = vec![0.0; nv];
            for (r, &var) in basis.iter().enumerate() {
                if var < nv {
                    z[var] = t[r * cols + cols - 1];
                }
            }
            return Ok((t[m * cols + cols - 1], z));
        };
        // Ratio test; ties broken by the smallest basic variable index.
        let mut leave: Option<(usize, f64)> = None;
        for r in 0..m {
            let coef = t[r * cols + enter];
            if coef > EPS {
                let ratio = t[r * cols + cols - 1] / coef;
                leave = match leave {
                    None => Some((r, ratio)),
                    Some((lr, lratio)) => {
                        if ratio < lratio - EPS || (ratio <= lratio + EPS && basis[r] < basis[lr]) {
                            Some((r, ratio))
                        } else {
                            Some((lr, lratio))
                        }
                    }
                };
            }
        }
        let Some((pr, _)) = leave else {
            return Err(EnergyError::Numerical(
                "simplex: linear program is unbounded".into(),
            ));
        };
        let pivot = t[pr * cols + enter];
        for j in 0..cols {
            t[pr * cols + j] /= pivot;
        }
        for r in 0..=m {
            if r == pr {
                continue;
            }
            let factor = t[r * cols + enter];
            if factor != 0.0 {
                for j in 0..cols {
                    t[r * cols + j] -= factor * t[pr * cols + j];
                }
            }
        }
        basis[pr] = enter;
    }
    Err(EnergyError::Numerical(
        "simplex did not terminate in 50000 pivots".into(),
    ))
}

/// A Monte-Carlo estimate of a probability with its binomial standard error.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MonteCarloEstimate {
    /// Number of trials where the event occurred.
    pub successes: usize,
    /// Number of trials.
    pub trials: usize,
    /// successes / trials.
    pub probability: f64,
    /// sqrt(p (1 - p) / trials) with p the estimate.
    pub standard_error: f64,
}

/// Monte-Carlo estimate of P(all points in an open hemisphere): `sample(trial, x)` must fill the n x d slice
/// `x` with the trial's configuration (e.g. from a seeded `uniform_sphere` stream keyed by the trial index).
pub fn hemisphere_monte_carlo<F>(
    n: usize,
    d: usize,
    trials: usize,
    mut sample: F,
) -> Result<MonteCarloEstimate>
where
    F: FnMut(usize, &mut [f64]) -> Result<()>,
{
    check_n(n)?;
    check_d(d)?;
    if trials == 0 {
        return Err(EnergyError::InvalidParameter {
            name: "trials",
            value: 0.0,
            requirement: ">= 1",
        });
    }
    let mut x = vec![0.0; n * d];
    let mut successes = 0;
    for trial in 0..trials {
        sample(trial, &mut x)?;
        if open_hemisphere_test(&x, n, d)?.in_open_hemisphere {
            successes += 1;
        }
    }
    let p = successes as f64 / trials as f64;
    Ok(MonteCarloEstimate {
        successes,
        trials,
        probability: p,
        standard_error: (p * (1.0 - p) / trials as f64).sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_counts_use_the_deviance_form() {
        // continuity across the switch: the direct sum at m = LARGE_M vs the deviance form
        for d in [2usize, 10, 400_000, 499_000] {
            let direct = wendel_probability(LARGE_M + 1, d).unwrap();
            let large = wendel_large(LARGE_M, d).unwrap();
            assert!(
                (direct - large).abs() <= 1e-7 * direct.max(1e-300),
                "d {d}: {direct:e} vs {large:e}"
            );
        }
        // far above the mean: 1; d = 2: (1 + m) 2^-m underflows to 0
        assert_eq!(
            wendel_probability(1 << 40, (1 << 39) + (1 << 30)).unwrap(),
            1.0
        );
        assert_eq!(wendel_probability(1 << 40, 2).unwrap(), 0.0);
        assert!(wendel_probability(1 << 53, 1 << 52).is_err());
    }
    use crate::particle::tests::random_sphere;

    #[test]
    fn formula_values() {
        assert_eq!(wendel_probability(3, 3).unwrap(), 1.0);
        assert_eq!(wendel_probability(6, 3).unwrap(), 0.5);
        assert_eq!(wendel_probability(5, 2).unwrap(), 5.0 / 16.0);
        assert_eq!(wendel_probability(4, 2).unwrap(), 0.5);
        // d = 2: n / 2^{n-1}; large n via the log branch.
        let p = wendel_probability(1030, 2).unwrap();
        let exact = (1030f64.ln() - 1029.0 * std::f64::consts::LN_2).exp();
        assert!(((p - exact) / exact).abs() < 1e-11);
        // Symmetry: n = 2d gives exactly 1/2.
        assert!((wendel_probability(2400, 1200).unwrap() - 0.5).abs() < 1e-12);
        assert!(wendel_probability(0, 3).is_err());
        assert!(wendel_probability(3, 1).is_err());
    }

    #[test]
    fn hemisphere_test_on_constructed_configurations() {
        // All in the upper half plane.
        let upper = [1.0, 0.0, 0.0, 1.0, -0.6, 0.8];
        assert!(
            open_hemisphere_test(&upper, 3, 2)
                .unwrap()
                .in_open_hemisphere
        );
        // Antipodal pair: not in any open hemisphere.
        let anti = [0.6, 0.8, 0.0, -0.6, -0.8, 0.0];
        let r = open_hemisphere_test(&anti, 2, 3).unwrap();
        assert!(!r.in_open_hemisphere && r.margin < 1e-12);
        // Regular tetrahedron in S^2 (centroid at 0): not in a hemisphere; with one vertex removed: inside.
        let s = 1.0 / 3f64.sqrt();
        let tetra = [s, s, s, s, -s, -s, -s, s, -s, -s, -s, s];
        assert!(
            !open_hemisphere_test(&tetra, 4, 3)
                .unwrap()
                .in_open_hemisphere
        );
        let r = open_hemisphere_test(&tetra[..9], 3, 3).unwrap();
        assert!(r.in_open_hemisphere);
        for i in 0..3 {
            let ip: f64 = (0..3).map(|k| tetra[i * 3 + k] * r.direction[k]).sum();
            assert!(ip >= r.margin - 1e-12);
        }
        // Points on a closed half-circle boundary (x and -x plus one more) are not in an OPEN hemisphere.
        let boundary = [1.0, 0.0, -1.0, 0.0, 0.0, 1.0];
        assert!(
            !open_hemisphere_test(&boundary, 3, 2)
                .unwrap()
                .in_open_hemisphere
        );
        // n <= d random points are always in an open hemisphere.
        for seed in 0..20 {
            let x = random_sphere(4, 5, 100 + seed);
            assert!(open_hemisphere_test(&x, 4, 5).unwrap().in_open_hemisphere);
        }
    }

    #[test]
    fn monte_carlo_agrees_with_wendel_within_four_standard_errors() {
        for &(n, d, seed) in &[(6usize, 3usize, 11u64), (5, 2, 12), (12, 4, 13)] {
            let est = hemisphere_monte_carlo(n, d, 1500, |trial, x| {
                x.copy_from_slice(&random_sphere(n, d, seed * 1_000_003 + trial as u64));
                Ok(())
            })
            .unwrap();
            let p = wendel_probability(n, d).unwrap();
            let se = (p * (1.0 - p) / est.trials as f64).sqrt();
            assert!(
                (est.probability - p).abs() < 4.0 * se,
                "n {n} d {d}: MC {} vs Wendel {p} (se {se})",
                est.probability
            );
        }
    }
}

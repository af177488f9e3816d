//! Critical long-context scaling of one attention layer (Chen, Lin, Polyanskiy, Rigollet, "Critical
//! attention scaling in long-context transformers", arXiv 2510.05554; restated in Rigollet, "The
//! mean-field dynamics of Transformers", arXiv 2512.01868).
//!
//! **Model.** One Pre-LN self-attention layer with Q = K = V = I and no residual connection: the tokens
//! x_i are normalised first, y_i = x_i / |x_i| (the normalisation sits before the attention, "Pre-LN"),
//! and the layer outputs
//!
//! x_i' = sum_j A_ij y_j,   A_ij = e^{beta <y_i, y_j>} / sum_k e^{beta <y_i, y_k>},   beta = beta_n = gamma ln n,
//!
//! which is the unprojected drift of the engine's SA field at the points y (no residual: x_i' is not
//! y_i + ...). The **output cosine** is the cosine between two outputs, <x_i', x_k'> / (|x_i'| |x_k'|),
//! i.e. the pairwise inner product after the next normalisation; the input cosine is <y_i, y_k>.
//!
//! **Equiangular tokens**, <y_i, y_k> = rho for all i != k (rho in [-1/(n-1), 1]), have two distinct
//! attention weights, a = e^beta / Z on the diagonal and b = e^{beta rho} / Z off it,
//! Z = e^beta + (n-1) e^{beta rho}. With q = e^{-beta (1 - rho)}:
//!
//! a - b = (1 - q) / (1 + (n-1) q).
//!
//! The Gram matrix G = (1 - rho) I + rho J and A = (a - b) I + b J commute; on the all-ones vector both
//! act by their row sums (1 + (n-1) rho and a + (n-1) b = 1), on its orthogonal complement by 1 - rho and
//! a - b. Hence A G A^T = D (I - J/n) + s J/n with s = 1 + (n-1) rho and D = (a - b)^2 (1 - rho), and the
//! outputs are again equiangular with
//!
//! rho' = (s - D) / (s + (n-1) D),   1 - rho' = n D / (s + (n-1) D)   (finite n, exact).
//!
//! **Limits n -> infinity** at fixed rho in (0, 1) (the three regimes of the paper): a - b -> 0, 1/2 or 1
//! as gamma (1 - rho) <, = or > 1, so
//!
//! * subcritical gamma < 1/(1 - rho): rho' -> 1 (all tokens collapse to one direction);
//! * critical gamma = 1/(1 - rho): rho' -> 4 rho / (1 + 3 rho);
//! * supercritical gamma > 1/(1 - rho): rho' -> rho (the layer acts as the identity).
//!
//! At rho = 1 every output equals the input (rho' = 1). At **rho = 0** the statement above does not
//! hold: s = 1 no longer grows with n, (n-1) D ~ n^{2 gamma - 1}, and the critical exponent is 1/2, not
//! 1/(1 - 0) = 1: rho' -> 1, 1/2, 0 for gamma <, =, > 1/2 (so for 1/2 < gamma < 1 the limit is rho = 0, not
//! 1 as the formula gamma < 1/(1 - rho) would say). This is the boundary of the paper's statement, which
//! assumes rho > 0; [`limit_output_cosine`] returns the true limit there too. A negative rho is admissible
//! only for n <= 1 - 1/rho and has no n -> infinity limit.
//!
//! **Finite-n critical curve.** rho' decreases strictly in gamma (D increases with beta), so for rho in
//! (0, 1) there is exactly one gamma*_n(rho) at which rho' equals the critical limit 4 rho / (1 + 3 rho):
//! with m = sqrt(s / (1 + 3 rho + 4 (n-1) rho)), the value of a - b there,
//!
//! gamma*_n(rho) = ln((1 + (n-1) m) / (1 - m)) / ((1 - rho) ln n)  ->  1/(1 - rho)   ([`finite_n_critical_gamma`]),
//!
//! with m = 1/2 + O(1/(n rho)), so gamma*_n - 1/(1 - rho) = O(1/(n rho ln n)) (0.011 at n = 256, rho = 0.05):
//! the crossing sits on the limiting curve already at moderate n, while the width of the transition in gamma
//! shrinks only like 1/((1 - rho) ln n).
//!
//! Ties: the regime is decided on gamma (1 - rho) against 1 (gamma against 1/2 at rho = 0) with a relative
//! tolerance of [`CRITICAL_RTOL`] (a few ulp), so that e.g. rho = 0.2, gamma = 1.25 counts as critical
//! despite the rounding of 1 - 0.2.

use crate::error::{EnergyError, MAX_EXACT, Result, check_positive};

/// Relative tolerance of the critical tie gamma (1 - rho) = 1 (a few ulp of the product).
pub const CRITICAL_RTOL: f64 = 8.0 * f64::EPSILON;

/// The regime of gamma relative to the critical scaling (n -> infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    /// gamma below the critical value: the outputs collapse (output cosine -> 1).
    Subcritical,
    /// gamma at the critical value: output cosine -> 4 rho / (1 + 3 rho) (1/2 at rho = 0).
    Critical,
    /// gamma above the critical value: the layer acts as the identity (output cosine -> rho).
    Supercritical,
}

impl Regime {
    /// Lower-case name (`subcritical`, `critical`, `supercritical`).
    pub fn name(self) -> &'static str {
        match self {
            Regime::Subcritical => "subcritical",
            Regime::Critical => "critical",
            Regime::Supercritical => "supercritical",
        }
    }
}

/// The two attention weights of equiangular tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquiangularWeights {
    /// a = e^beta / Z (a token's weight on itself).
    pub diagonal: f64,
    /// b = e^{beta rho} / Z (its weight on each other token).
    pub off_diagonal: f64,
    /// a - b = (1 - q) / (1 + (n-1) q), q = e^{-beta (1 - rho)}, without cancellation.
    pub difference: f64,
}

fn check_n(n: usize) -> Result<()> {
    if (2..=MAX_EXACT).contains(&n) {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name: "n",
            value: n as f64,
            requirement: ">= 2 and <= 2^53",
        })
    }
}

/// rho must be finite and in [-1/(n-1), 1] (the Gram matrix (1 - rho) I + rho J is then PSD).
fn check_rho(n: usize, rho: f64) -> Result<()> {
    let floor = -1.0 / (n as f64 - 1.0);
    if rho.is_finite() && rho >= floor && rho <= 1.0 {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name: "rho",
            value: rho,
            requirement: "finite and in [-1/(n-1), 1]",
        })
    }
}

fn check_beta(beta: f64) -> Result<()> {
    if beta.is_finite() && beta >= 0.0 {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name: "beta",
            value: beta,
            requirement: "finite and >= 0",
        })
    }
}

/// beta_n = gamma ln n (gamma finite and > 0, n >= 2).
pub fn beta_of(gamma: f64, n: usize) -> Result<f64> {
    check_positive("gamma", gamma)?;
    check_n(n)?;
    let beta = gamma * (n as f64).ln();
    if beta.is_finite() {
        Ok(beta)
    } else {
        Err(EnergyError::InvalidParameter {
            name: "gamma",
            value: gamma,
            requirement: "small enough that gamma ln n is finite",
        })
    }
}

/// The attention weights a, b and a - b of n equiangular tokens with cosine rho at inverse temperature beta.
pub fn equiangular_weights(n: usize, rho: f64, beta: f64) -> Result<EquiangularWeights> {
    check_n(n)?;
    check_rho(n, rho)?;
    check_beta(beta)?;
    let nm1 = n as f64 - 1.0;
    let x = beta * (1.0 - rho); // >= 0
    let q = (-x).exp();
    let denom = 1.0 + nm1 * q;
    Ok(EquiangularWeights {
        diagonal: 1.0 / denom,
        off_diagonal: q / denom,
        difference: -(-x).exp_m1() / denom,
    })
}

/// (s, D) = (1 + (n-1) rho, (a - b)^2 (1 - rho)); s clamped at 0 (round-off at rho = -1/(n-1)).
fn s_and_d(n: usize, rho: f64, beta: f64) -> Result<(f64, f64)> {
    let w = equiangular_weights(n, rho, beta)?;
    let s = (1.0 + (n as f64 - 1.0) * rho).max(0.0);
    Ok((s, w.difference * w.difference * (1.0 - rho)))
}

/// Output cosine rho' = (s - D) / (s + (n-1) D) of one layer at inverse temperature beta (finite n, exact).
pub fn output_cosine_at_beta(n: usize, rho: f64, beta: f64) -> Result<f64> {
    let (s, d) = s_and_d(n, rho, beta)?;
    if rho == 1.0 {
        return Ok(1.0);
    }
    let norm2 = s + (n as f64 - 1.0) * d; // n |x_i'|^2
    if norm2 <= 0.0 {
        return Err(EnergyError::NoSolution(
            "the outputs vanish (beta = 0 at rho = -1/(n-1): the tokens sum to zero), no cosine"
                .into(),
        ));
    }
    Ok((s - d) / norm2)
}

/// Output cosine of one layer with beta = gamma ln n (finite n, exact).
pub fn output_cosine(n: usize, rho: f64, gamma: f64) -> Result<f64> {
    output_cosine_at_beta(n, rho, beta_of(gamma, n)?)
}

/// 1 - rho' = n D / (s + (n-1) D) with beta = gamma ln n, accurate when the outputs nearly coincide.
pub fn output_gap(n: usize, rho: f64, gamma: f64) -> Result<f64> {
    let beta = beta_of(gamma, n)?;
    let (_, d) = s_and_d(n, rho, beta)?;
    if rho == 1.0 {
        return Ok(0.0);
    }
    // the same domain as the cosine (an error where the outputs vanish)
    output_cosine_at_beta(n, rho, beta)?;
    let (s, nf) = (1.0 + (n as f64 - 1.0) * rho, n as f64);
    Ok(nf * d / (s.max(0.0) + (nf - 1.0) * d))
}

fn check_limit_rho(rho: f64) -> Result<()> {
    if rho.is_finite() && (0.0..=1.0).contains(&rho) {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name: "rho",
            value: rho,
            requirement: "in [0, 1] for the n -> infinity limit (rho >= -1/(n-1) for every n)",
        })
    }
}

/// The critical gamma of the limit n -> infinity: 1/(1 - rho) for rho in (0, 1), 1/2 at rho = 0, +infinity
/// at rho = 1 (no transition: rho' = 1 for every gamma).
pub fn critical_gamma(rho: f64) -> Result<f64> {
    check_limit_rho(rho)?;
    Ok(if rho == 0.0 {
        0.5
    } else if rho == 1.0 {
        f64::INFINITY
    } else {
        1.0 / (1.0 - rho)
    })
}

/// The regime of (rho, gamma) as n -> infinity (gamma (1 - rho) against 1, or gamma against 1/2 at rho = 0,
/// ties within [`CRITICAL_RTOL`]). At rho = 1 every gamma is subcritical (rho' = 1).
pub fn regime(rho: f64, gamma: f64) -> Result<Regime> {
    check_limit_rho(rho)?;
    check_positive("gamma", gamma)?;
    if rho == 1.0 {
        return Ok(Regime::Subcritical);
    }
    let (x, one) = if rho == 0.0 {
        (gamma, 0.5)
    } else {
        (gamma * (1.0 - rho), 1.0)
    };
    Ok(if (x - one).abs() <= CRITICAL_RTOL * one {
        Regime::Critical
    } else if x < one {
        Regime::Subcritical
    } else {
        Regime::Supercritical
    })
}

/// lim_{n -> infinity} of the output cosine for equiangular tokens with cosine rho in [0, 1] and
/// beta_n = gamma ln n: 1, 4 rho / (1 + 3 rho), rho in the sub-, critical and supercritical regimes
/// (at rho = 0: 1, 1/2, 0; see the module docs).
pub fn limit_output_cosine(rho: f64, gamma: f64) -> Result<f64> {
    Ok(match regime(rho, gamma)? {
        Regime::Subcritical => 1.0,
        Regime::Critical if rho == 0.0 => 0.5,
        Regime::Critical => 4.0 * rho / (1.0 + 3.0 * rho),
        Regime::Supercritical => rho,
    })
}

/// gamma*_n(rho): the gamma at which the finite-n output cosine equals the critical limit 4 rho / (1 + 3 rho),
/// for rho in (0, 1) (exact, see the module docs); -> 1/(1 - rho) as n -> infinity.
pub fn finite_n_critical_gamma(n: usize, rho: f64) -> Result<f64> {
    check_n(n)?;
    if !(rho.is_finite() && rho > 0.0 && rho < 1.0) {
        return Err(EnergyError::InvalidParameter {
            name: "rho",
            value: rho,
            requirement: "in the open interval (0, 1) for the finite-n critical curve",
        });
    }
    let nm1 = n as f64 - 1.0;
    let s = 1.0 + nm1 * rho;
    // m < 1 since s < 1 + 3 rho + 4 (n-1) rho for rho > 0
    let m = (s / (1.0 + 3.0 * rho + 4.0 * nm1 * rho)).sqrt();
    let x = ((1.0 + nm1 * m) / (1.0 - m)).ln(); // beta (1 - rho)
    Ok(x / ((1.0 - rho) * (n as f64).ln()))
}

/// The ratio of output to input angle, arccos(cos_out) / arccos(cos_in) (the paper's heat-map value), with
/// both cosines clamped to [-1, 1]; `None` when the input angle is 0 (cos_in = 1).
pub fn angle_ratio(cos_in: f64, cos_out: f64) -> Option<f64> {
    let theta_in = cos_in.clamp(-1.0, 1.0).acos();
    (theta_in > 0.0).then(|| cos_out.clamp(-1.0, 1.0).acos() / theta_in)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output cosine from plain n x n loops: A_ij = softmax_j(beta G_ij), G' = A G A^T, G'_01 / G'_00.
    fn brute_force(n: usize, rho: f64, beta: f64) -> f64 {
        let g = |i: usize, j: usize| if i == j { 1.0 } else { rho };
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            let z: f64 = (0..n).map(|k| (beta * (g(i, k) - 1.0)).exp()).sum();
            for j in 0..n {
                a[i * n + j] = (beta * (g(i, j) - 1.0)).exp() / z;
            }
        }
        let out = |i: usize, k: usize| -> f64 {
            let mut sum = 0.0;
            for j in 0..n {
                for l in 0..n {
                    sum += a[i * n + j] * g(j, l) * a[k * n + l];
                }
            }
            sum
        };
        out(0, 1) / out(0, 0)
    }

    #[test]
    fn closed_form_matches_brute_force_n_by_n_algebra() {
        for &n in &[2usize, 3, 7, 40] {
            for &rho in &[-1.0 / (n as f64 - 1.0), -0.02, 0.0, 0.3, 0.75, 0.99] {
                if rho < -1.0 / (n as f64 - 1.0) {
                    continue;
                }
                for &beta in &[0.0, 0.5, 3.0, 12.0] {
                    if beta == 0.0 && rho < 0.0 && 1.0 + (n as f64 - 1.0) * rho < 1e-15 {
                        assert!(output_cosine_at_beta(n, rho, beta).is_err());
                        continue;
                    }
                    let exact = output_cosine_at_beta(n, rho, beta).unwrap();
                    let brute = brute_force(n, rho, beta);
                    assert!(
                        (exact - brute).abs() < 1e-12,
                        "n {n} rho {rho} beta {beta}: {exact} vs {brute}"
                    );
                }
            }
        }
    }

    #[test]
    fn weights_and_gap_are_consistent() {
        let (n, rho, gamma) = (50usize, 0.4, 1.3);
        let beta = beta_of(gamma, n).unwrap();
        let w = equiangular_weights(n, rho, beta).unwrap();
        let z = beta.exp() + 49.0 * (beta * rho).exp();
        assert!((w.diagonal - beta.exp() / z).abs() < 1e-15);
        assert!((w.off_diagonal - (beta * rho).exp() / z).abs() < 1e-15);
        assert!((w.diagonal + 49.0 * w.off_diagonal - 1.0).abs() < 1e-15);
        assert!((w.difference - (w.diagonal - w.off_diagonal)).abs() < 1e-15);
        let c = output_cosine(n, rho, gamma).unwrap();
        let gap = output_gap(n, rho, gamma).unwrap();
        assert!((1.0 - c - gap).abs() < 1e-15);
        // beta = 0: uniform attention, every output is the mean: cosine 1
        assert!((output_cosine_at_beta(n, rho, 0.0).unwrap() - 1.0).abs() < 1e-15);
        // rho = 1 and the simplex floor are fixed points
        assert_eq!(output_cosine(n, 1.0, gamma).unwrap(), 1.0);
        let floor = -1.0 / 49.0;
        assert!((output_cosine(n, floor, gamma).unwrap() - floor).abs() < 1e-15);
    }

    #[test]
    fn finite_n_approaches_the_three_limits() {
        let rho = 0.5;
        // sub (gamma = 1), critical (2), super (3); errors shrink with n and end below 1e-2
        for (gamma, limit) in [(1.0, 1.0), (2.0, 0.8), (3.0, 0.5)] {
            assert_eq!(limit_output_cosine(rho, gamma).unwrap(), limit);
            let errs: Vec<f64> = [1e2, 1e4, 1e8, 1e15]
                .iter()
                .map(|&n| (output_cosine(n as usize, rho, gamma).unwrap() - limit).abs())
                .collect();
            assert!(errs.windows(2).all(|w| w[1] < w[0]), "{gamma}: {errs:?}");
            assert!(errs[3] < 1e-2, "{gamma}: {errs:?}");
        }
        // the rates: sub 1 - rho' ~ ((1 - rho)/rho) n^{-2 (1 - gamma (1 - rho))}
        let n: f64 = 1e12;
        let gap = output_gap(n as usize, rho, 1.0).unwrap();
        let predicted = (1.0 - rho) / rho * n.powf(-2.0 * (1.0 - 1.0 * (1.0 - rho)));
        assert!((gap / predicted - 1.0).abs() < 1e-3, "{gap} vs {predicted}");
    }

    #[test]
    fn rho_zero_has_critical_exponent_one_half() {
        assert_eq!(critical_gamma(0.0).unwrap(), 0.5);
        for (gamma, limit) in [(0.3, 1.0), (0.5, 0.5), (0.75, 0.0), (2.0, 0.0)] {
            assert_eq!(limit_output_cosine(0.0, gamma).unwrap(), limit);
            let c = output_cosine(1 << 50, 0.0, gamma).unwrap();
            assert!((c - limit).abs() < 0.02, "gamma {gamma}: {c}");
        }
    }

    #[test]
    fn ties_and_regimes() {
        assert_eq!(regime(0.2, 1.25).unwrap(), Regime::Critical);
        assert_eq!(regime(0.2, 1.2).unwrap(), Regime::Subcritical);
        assert_eq!(regime(0.2, 1.3).unwrap(), Regime::Supercritical);
        assert_eq!(regime(1.0, 100.0).unwrap(), Regime::Subcritical);
        assert_eq!(critical_gamma(0.75).unwrap(), 4.0);
        assert!((limit_output_cosine(0.2, 1.25).unwrap() - 0.8 / 1.6).abs() < 1e-15);
    }

    #[test]
    fn finite_n_critical_gamma_hits_the_critical_value() {
        for &n in &[2usize, 16, 1000, 1 << 30] {
            for &rho in &[0.05, 0.5, 0.9] {
                let g = finite_n_critical_gamma(n, rho).unwrap();
                let c = output_cosine(n, rho, g).unwrap();
                let target = 4.0 * rho / (1.0 + 3.0 * rho);
                assert!(
                    (c - target).abs() < 1e-12,
                    "n {n} rho {rho}: {c} vs {target}"
                );
            }
        }
        let g = finite_n_critical_gamma(1 << 40, 0.5).unwrap();
        assert!((g - 2.0).abs() < 1e-3, "{g}");
    }

    #[test]
    fn invalid_inputs_are_errors() {
        assert!(output_cosine(1, 0.5, 1.0).is_err());
        assert!(output_cosine(10, -0.2, 1.0).is_err());
        assert!(output_cosine(10, 1.1, 1.0).is_err());
        assert!(output_cosine(10, f64::NAN, 1.0).is_err());
        assert!(output_cosine(10, 0.5, 0.0).is_err());
        assert!(output_cosine(10, 0.5, f64::INFINITY).is_err());
        assert!(output_cosine(10, 0.5, -1.0).is_err());
        assert!(limit_output_cosine(-0.1, 1.0).is_err());
        assert!(limit_output_cosine(0.5, f64::NAN).is_err());
        assert!(finite_n_critical_gamma(10, 0.0).is_err());
        assert!(output_cosine(10, -1.0 / 9.0, 1.0).is_ok());
    }

    #[test]
    fn angle_ratio_limits() {
        assert_eq!(angle_ratio(0.5, 0.5), Some(1.0));
        assert_eq!(angle_ratio(0.5, 1.0), Some(0.0));
        assert_eq!(angle_ratio(1.0, 1.0), None);
    }
}

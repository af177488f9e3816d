//! Large-beta energy landscape on the circle (\[GLPR\] Thm 5.1 and its proof in App. B):
//!
//! * d = 2: g(tau) = (cos tau - beta sin^2 tau) e^{beta cos tau}; tau*_beta is its root in [0, pi/2], given in
//!   closed form by cos tau* = (-1 + sqrt(1 + 4 beta^2))/(2 beta) (g < 0 for tau* < |tau| <= pi);
//! * general d: g(zeta) = e^{beta cos zeta} ((d-1) cos zeta - beta sin^2 zeta), root
//!   cos zeta* = (-(d-1) + sqrt((d-1)^2 + 4 beta^2))/(2 beta);
//! * Thm 5.1 thresholds: the written proof needs (n-1) tau*_beta < pi/2, i.e. beta > beta_exact(n) =
//!   cos(tau)/sin^2(tau) at tau = pi/(2(n-1)) (exact, from beta sin^2 tau* = cos tau*), approximately
//!   4 (n-1)^2/pi^2; Figure 2 quotes n^2/pi^2. For general d the same condition with zeta* gives
//!   beta = (d-1) cos(zeta)/sin^2(zeta) (reported as the analogue; the paper's constant C(d) is not explicit).
//!
//! tau* is evaluated as atan(sqrt(1/(beta c))) (c = cos tau*) to keep full relative accuracy at large beta,
//! using tan^2 tau* = (d-1)/(beta c).

use crate::error::{EnergyError, Result, check_d, check_nonneg};
use std::f64::consts::{FRAC_PI_2, PI};

fn check_angle(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name,
            value: v,
            requirement: "finite",
        })
    }
}

/// g(tau) = (cos tau - beta sin^2 tau) e^{beta cos tau} (d = 2).
pub fn landscape_g(beta: f64, tau: f64) -> Result<f64> {
    landscape_g_general(beta, 2, tau)
}

/// g(zeta) = e^{beta cos zeta} ((d-1) cos zeta - beta sin^2 zeta) on S^{d-1}.
pub fn landscape_g_general(beta: f64, d: usize, zeta: f64) -> Result<f64> {
    check_nonneg("beta", beta)?;
    check_d(d)?;
    check_angle("zeta", zeta)?;
    let (s, c) = zeta.sin_cos();
    Ok((beta * c).exp() * ((d as f64 - 1.0) * c - beta * s * s))
}

/// zeta*_beta in (0, pi/2]: the root of (d-1) cos zeta = beta sin^2 zeta (pi/2 at beta = 0).
pub fn zeta_star(beta: f64, d: usize) -> Result<f64> {
    check_nonneg("beta", beta)?;
    check_d(d)?;
    if beta == 0.0 {
        return Ok(FRAC_PI_2);
    }
    let dm1 = d as f64 - 1.0;
    // cos zeta* = 2 beta / ((d-1) + sqrt((d-1)^2 + 4 beta^2)) (rationalised, no cancellation).
    let c = 2.0 * beta / (dm1 + dm1.hypot(2.0 * beta));
    Ok((dm1 / (beta * c)).sqrt().atan())
}

/// tau*_beta (d = 2): cos tau* = (-1 + sqrt(1 + 4 beta^2))/(2 beta).
pub fn tau_star(beta: f64) -> Result<f64> {
    zeta_star(beta, 2)
}

/// The Thm 5.1 large-beta thresholds for n particles.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Thm51Thresholds {
    /// Ambient dimension used for `exact`.
    pub d: usize,
    /// Exact beta with (n-1) zeta*_beta = pi/2 (d = 2: (n-1) tau*_beta = pi/2).
    pub exact: f64,
    /// The approximation 4 (n-1)^2 / pi^2 of the proof's condition (d = 2).
    pub proof_approx: f64,
    /// The value n^2 / pi^2 quoted with Figure 2.
    pub figure: f64,
}

/// Both Thm 5.1 thresholds (and the exact one) for n >= 2 particles on S^{d-1}.
pub fn thm_5_1_thresholds(n: usize, d: usize) -> Result<Thm51Thresholds> {
    if n < 2 {
        return Err(EnergyError::InvalidParameter {
            name: "n",
            value: n as f64,
            requirement: ">= 2 (pairs needed)",
        });
    }
    check_d(d)?;
    let nm1 = n as f64 - 1.0;
    let zeta = FRAC_PI_2 / nm1;
    let (s, c) = zeta.sin_cos();
    // n = 2: zeta = pi/2, cos = 6e-17 -> exact threshold 0.
    let exact = if n == 2 {
        0.0
    } else {
        (d as f64 - 1.0) * c / (s * s)
    };
    Ok(Thm51Thresholds {
        d,
        exact,
        proof_approx: 4.0 * nm1 * nm1 / (PI * PI),
        figure: (n as f64).powi(2) / (PI * PI),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::brent_root;

    #[test]
    fn tau_star_is_the_root_and_sign_pattern_holds() {
        for &beta in &[0.0, 0.1, 1.0, 7.5, 100.0, 1e6] {
            let t = tau_star(beta).unwrap();
            let c = if beta > 0.0 {
                (-1.0 + (1.0 + 4.0 * beta * beta).sqrt()) / (2.0 * beta)
            } else {
                0.0
            };
            if beta < 1e3 {
                assert!(
                    (t.cos() - c).abs() < 1e-14,
                    "closed form cos tau* at beta {beta}"
                );
            }
            // beta sin^2 = cos at the root (relative to cos).
            assert!(
                (beta * t.sin().powi(2) - t.cos()).abs() <= 1e-14 * t.cos().max(1e-300) + 1e-16
            );
            if beta > 0.0 && beta < 100.0 {
                let root = brent_root(&|x| landscape_g(beta, x), 0.0, FRAC_PI_2, 1e-16).unwrap();
                assert!((root - t).abs() < 1e-14, "beta {beta}: {root} vs {t}");
                assert!(landscape_g(beta, 0.5 * t).unwrap() > 0.0);
                assert!(landscape_g(beta, t + 0.5 * (PI - t)).unwrap() < 0.0);
            }
        }
        // Large beta: tau* ~ 1/sqrt(beta).
        assert!((tau_star(1e6).unwrap() * 1e3 - 1.0).abs() < 1e-6);
        // General d: root of (d-1) cos = beta sin^2.
        for &d in &[3usize, 5, 64] {
            let z = zeta_star(4.0, d).unwrap();
            assert!(
                landscape_g_general(4.0, d, z).unwrap().abs()
                    < 1e-13 * (4f64 * z.cos()).exp() * (d as f64)
            );
            assert!(z > tau_star(4.0).unwrap());
        }
    }

    #[test]
    fn thresholds_match_their_definitions() {
        for &n in &[3usize, 8, 32, 1000] {
            let th = thm_5_1_thresholds(n, 2).unwrap();
            let t = tau_star(th.exact).unwrap();
            assert!(((n as f64 - 1.0) * t - FRAC_PI_2).abs() < 1e-13, "n {n}");
            assert!(th.exact < th.proof_approx && th.proof_approx > th.figure);
            assert!(
                (th.proof_approx - 4.0 * (n as f64 - 1.0).powi(2) / (PI * PI)).abs()
                    < 1e-12 * th.proof_approx
            );
        }
        // beta_exact / (4 (n-1)^2 / pi^2) -> 1 as n grows (beta = 1/tau^2 - 2/3 + O(tau^2)).
        let th = thm_5_1_thresholds(1000, 2).unwrap();
        assert!((th.exact / th.proof_approx - 1.0).abs() < 1e-6);
        let th3 = thm_5_1_thresholds(8, 3).unwrap();
        assert!(((8.0 - 1.0) * zeta_star(th3.exact, 3).unwrap() - FRAC_PI_2).abs() < 1e-13);
        assert_eq!(thm_5_1_thresholds(2, 2).unwrap().exact, 0.0);
        assert!(thm_5_1_thresholds(1, 2).is_err());
        assert!(tau_star(-1.0).is_err());
    }
}

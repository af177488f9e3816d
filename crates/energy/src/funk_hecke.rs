//! Closed forms of the interaction energy on the sphere via the Funk-Hecke formula (\[GLPR\] Prop 3.4, (3.5)):
//!
//! * mu_l(beta, d) = Gamma(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta): the eigenvalue of the kernel
//!   e^{beta <x, y>} on degree-l spherical harmonics of S^{d-1} (mu_0 = mean of e^{beta <x, y>} over y ~ sigma_d);
//! * E_beta\[sigma_d\] = mu_0(beta, d) / (2 beta) (uniform measure, the unique minimiser);
//! * E_beta\[delta_x\] = e^beta / (2 beta) (Dirac masses, the maximisers);
//! * Gegenbauer coefficients of t -> e^{beta t}: e^{beta t} = sum_l a_l C_l^{(lambda)}(t), lambda = d/2 - 1,
//!   a_l = Gamma(lambda) (l + lambda) (2/beta)^lambda I_{l+lambda}(beta) (Gegenbauer's expansion, Watson, Theory of Bessel Functions 11.5); for d = 2
//!   the Chebyshev expansion e^{beta t} = I_0(beta) + 2 sum_{l>=1} I_l(beta) T_l(t). All a_l > 0 for beta > 0,
//!   which is what makes the uniform measure the strict minimiser in Prop 3.4.
//!
//! d = 3 check: mu_0 = sinh(beta) / beta, so E_beta\[sigma_3\] = sinh(beta) / (2 beta^2).

use crate::bessel::{bessel_i, ln_bessel_i, ln_gamma};
use crate::error::{EnergyError, Result, check_d, check_nonneg, check_positive};

/// ln mu_l(beta, d), the log of the Funk-Hecke eigenvalue of e^{beta <x,y>} on degree-l harmonics of S^{d-1}.
/// Defined for beta >= 0 (at beta = 0: mu_0 = 1, mu_l = 0 for l >= 1, i.e. ln = -inf).
pub fn ln_funk_hecke_eigenvalue(l: usize, beta: f64, d: usize) -> Result<f64> {
    check_nonneg("beta", beta)?;
    check_d(d)?;
    if beta == 0.0 {
        return Ok(if l == 0 { 0.0 } else { f64::NEG_INFINITY });
    }
    if d > LARGE_D {
        return ln_eigenvalue_large_d(l, beta, d);
    }
    let nu = 0.5 * d as f64 - 1.0;
    Ok(ln_gamma(0.5 * d as f64) + nu * (2.0 / beta).ln() + ln_bessel_i(l as f64 + nu, beta)?)
}

/// Above this dimension the closed form's logarithms (ln Gamma(d/2) ~ d ln d / 2) cancel and lose
/// the accuracy of mu_l: [`ln_eigenvalue_large_d`] is used instead.
const LARGE_D: usize = 1 << 16;

/// Most terms summed by [`ln_eigenvalue_large_d`].
const MAX_SERIES_TERMS: f64 = 1e5;

/// ln mu_l for d > [`LARGE_D`], from the power series of I_nu with the Gamma factors cancelled
/// analytically (no large logarithms):
///
///   mu_l = (beta/2)^l / prod_{j<l} (d/2 + j) * sum_k (beta^2/4)^k / (k! (l + d/2)_k).
///
/// Accurate to a few ulps whenever the series needs at most [`MAX_SERIES_TERMS`] terms (about
/// max(beta^2 / (2 d), beta / 2)); beyond that, for d up to 1e9 the closed form is still accurate
/// to ~1e-6 and is used, and for larger d an error says the point is outside the computable domain.
fn ln_eigenvalue_large_d(l: usize, beta: f64, d: usize) -> Result<f64> {
    let half_d = 0.5 * d as f64;
    let nu = l as f64 + half_d - 1.0;
    let q = 0.25 * beta * beta;
    let terms = (q / (nu + 1.0)).max(0.5 * beta) + 100.0;
    if terms.is_nan() || terms > MAX_SERIES_TERMS {
        if d as f64 <= 1e9 {
            return Ok(ln_gamma(half_d)
                + (half_d - 1.0) * (2.0 / beta).ln()
                + ln_bessel_i(nu, beta)?);
        }
        return Err(EnergyError::Numerical(format!(
            "mu_{l}(beta = {beta:?}, d = {d}) is outside the computable domain: for d > 1e9 it needs beta^2 / (2 d) and beta / 2 below {MAX_SERIES_TERMS:e}"
        )));
    }
    // ln of (beta/2)^l / prod_{j<l} (d/2 + j)
    let mut ln = l as f64 * (0.5 * beta).ln();
    if l <= 4096 {
        for j in 0..l {
            ln -= (half_d + j as f64).ln();
        }
    } else {
        ln -= ln_gamma(half_d + l as f64) - ln_gamma(half_d);
    }
    // the series, rescaled as it grows (terms rise until k (nu + k) > q, then fall)
    let (mut term, mut sum, mut k) = (1.0_f64, 1.0_f64, 0.0_f64);
    loop {
        k += 1.0;
        term *= q / (k * (nu + k));
        sum += term;
        if sum > 1e250 {
            sum *= 1e-250;
            term *= 1e-250;
            ln += 250.0 * std::f64::consts::LN_10;
        }
        if (term <= 1e-17 * sum && k * (nu + k) > q) || k > MAX_SERIES_TERMS {
            break;
        }
    }
    Ok(ln + sum.ln())
}

/// mu_l(beta, d) = Gamma(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta). Errors if the value overflows f64.
pub fn funk_hecke_eigenvalue(l: usize, beta: f64, d: usize) -> Result<f64> {
    check_nonneg("beta", beta)?;
    check_d(d)?;
    if beta == 0.0 {
        return Ok(if l == 0 { 1.0 } else { 0.0 });
    }
    let half_d = 0.5 * d as f64;
    let nu = half_d - 1.0;
    // Direct product keeps full relative accuracy when every factor is representable.
    if half_d <= 170.0 && beta < 700.0 {
        let v = libm::tgamma(half_d) * (2.0 / beta).powf(nu) * bessel_i(l as f64 + nu, beta)?;
        if v.is_normal() {
            return Ok(v);
        }
    }
    let v = ln_funk_hecke_eigenvalue(l, beta, d)?.exp();
    if v.is_finite() {
        Ok(v)
    } else {
        Err(EnergyError::Numerical(format!(
            "mu_{l}(beta = {beta:?}, d = {d}) overflows f64; use the log form"
        )))
    }
}

/// E_beta\[sigma_d\] = mu_0(beta, d) / (2 beta): the energy (3.5) of the uniform measure on S^{d-1}, beta > 0.
pub fn energy_uniform(beta: f64, d: usize) -> Result<f64> {
    check_positive("beta", beta)?;
    Ok(funk_hecke_eigenvalue(0, beta, d)? / (2.0 * beta))
}

/// ln E_beta\[sigma_d\] (finite for every beta > 0).
pub fn ln_energy_uniform(beta: f64, d: usize) -> Result<f64> {
    check_positive("beta", beta)?;
    Ok(ln_funk_hecke_eigenvalue(0, beta, d)? - (2.0 * beta).ln())
}

/// E_beta\[delta_x\] = e^beta / (2 beta): the energy (3.5) of a Dirac mass, beta > 0.
pub fn energy_dirac(beta: f64) -> Result<f64> {
    check_positive("beta", beta)?;
    let v = beta.exp() / (2.0 * beta);
    if v.is_finite() {
        Ok(v)
    } else {
        Err(EnergyError::Numerical(format!(
            "E_beta[delta] overflows f64 at beta = {beta:?}; use ln_energy_dirac"
        )))
    }
}

/// ln E_beta\[delta_x\] = beta - ln(2 beta).
pub fn ln_energy_dirac(beta: f64) -> Result<f64> {
    check_positive("beta", beta)?;
    Ok(beta - (2.0 * beta).ln())
}

/// Gegenbauer coefficients a_0..=a_{l_max} of t -> e^{beta t} on S^{d-1}: e^{beta t} = sum_l a_l C_l^{(d/2-1)}(t)
/// for d >= 3, and in the Chebyshev basis T_l (a_0 = I_0(beta), a_l = 2 I_l(beta)) for d = 2.
/// All coefficients are > 0 for beta > 0 (\[GLPR\] Prop 3.4). At beta = 0: a_0 = 1, the rest 0.
pub fn gegenbauer_coefficients(beta: f64, d: usize, l_max: usize) -> Result<Vec<f64>> {
    check_nonneg("beta", beta)?;
    check_d(d)?;
    let mut out = Vec::with_capacity(l_max + 1);
    for l in 0..=l_max {
        if beta == 0.0 {
            out.push(if l == 0 { 1.0 } else { 0.0 });
            continue;
        }
        if d == 2 {
            let i_l = bessel_i(l as f64, beta)?;
            out.push(if l == 0 { i_l } else { 2.0 * i_l });
        } else {
            // a_l = (l + lambda) / lambda * mu_l, since Gamma(lambda) = Gamma(lambda + 1) / lambda.
            let lambda = 0.5 * d as f64 - 1.0;
            out.push((l as f64 + lambda) / lambda * funk_hecke_eigenvalue(l, beta, d)?);
        }
    }
    Ok(out)
}

/// Gegenbauer polynomial C_l^{(lambda)}(t) for lambda > 0 by the three-term recurrence (DLMF 18.9.1);
/// for lambda = 0 the Chebyshev polynomial T_l(t) (the basis used for d = 2 in [`gegenbauer_coefficients`]).
pub fn gegenbauer_polynomial(l: usize, lambda: f64, t: f64) -> Result<f64> {
    check_nonneg("lambda", lambda)?;
    if !t.is_finite() {
        return Err(EnergyError::InvalidParameter {
            name: "t",
            value: t,
            requirement: "finite",
        });
    }
    if lambda == 0.0 {
        let (mut p0, mut p1) = (1.0, t);
        if l == 0 {
            return Ok(p0);
        }
        for _ in 1..l {
            let p2 = 2.0 * t * p1 - p0;
            p0 = p1;
            p1 = p2;
        }
        return Ok(p1);
    }
    let (mut p0, mut p1) = (1.0, 2.0 * lambda * t);
    if l == 0 {
        return Ok(p0);
    }
    for k in 2..=l {
        let kf = k as f64;
        let p2 = (2.0 * t * (kf + lambda - 1.0) * p1 - (kf + 2.0 * lambda - 2.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    Ok(p1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::integrate;
    use std::f64::consts::PI;

    /// mu_0 by direct quadrature: int_0^pi e^{beta cos th} sin^{d-2} th / int_0^pi sin^{d-2} th.
    fn mu0_quadrature(beta: f64, d: usize) -> f64 {
        let p = d as i32 - 2;
        let num = integrate(
            &|th: f64| (beta * th.cos()).exp() * th.sin().powi(p),
            0.0,
            PI,
            1e-15,
            0.0,
        )
        .unwrap();
        let den = integrate(&|th: f64| th.sin().powi(p), 0.0, PI, 1e-15, 0.0).unwrap();
        num / den
    }

    #[test]
    fn huge_dimensions_use_the_cancelled_series() {
        // mu_l ~ (beta/2)^l Gamma(d/2) / Gamma(l + d/2) as d -> infinity; lambda_1 -> (d-1)/d ~ 1
        for &d in &[1usize << 17, 1 << 30, 1_000_000_000_000_000] {
            let mu1 = funk_hecke_eigenvalue(1, 1.0, d).unwrap();
            let expected = 0.5 / (0.5 * d as f64) * (1.0 + 0.25 / (0.5 * d as f64 + 1.0));
            assert!(
                (mu1 - expected).abs() < 1e-10 * expected,
                "d {d}: {mu1} vs {expected}"
            );
            let mu0 = funk_hecke_eigenvalue(0, 2.0, d).unwrap();
            let h = 0.5 * d as f64;
            assert!((mu0 - (1.0 + 1.0 / h + 0.5 / (h * (h + 1.0)))).abs() < 1e-14);
        }
        // continuity across the switch
        let below = ln_funk_hecke_eigenvalue(3, 5.0, LARGE_D).unwrap();
        let above = ln_funk_hecke_eigenvalue(3, 5.0, LARGE_D + 2).unwrap();
        assert!((below - above).abs() < 1e-3);
        assert!(ln_funk_hecke_eigenvalue(1, 1e300, 1 << 40).is_err());
    }

    #[test]
    fn uniform_energy_matches_quadrature_and_d3_closed_form() {
        for &beta in &[0.01, 0.5, 1.0, 4.0, 9.0, 30.0] {
            for &d in &[2usize, 3, 4, 7, 16] {
                let e = energy_uniform(beta, d).unwrap();
                let q = mu0_quadrature(beta, d) / (2.0 * beta);
                assert!(
                    ((e - q) / q).abs() < 1e-13,
                    "beta {beta} d {d}: {e} vs quadrature {q}"
                );
                assert!(
                    e < energy_dirac(beta).unwrap(),
                    "uniform must be below Dirac"
                );
            }
            let closed = beta.sinh() / (2.0 * beta * beta);
            let e3 = energy_uniform(beta, 3).unwrap();
            assert!(
                ((e3 - closed) / closed).abs() < 1e-14,
                "d = 3: {e3} vs {closed}"
            );
        }
        assert!(((energy_dirac(2.0).unwrap() - 2f64.exp() / 4.0) / 2f64.exp()).abs() < 1e-16);
        assert!(
            (ln_energy_uniform(1000.0, 3).unwrap() - (1000.0 - (2.0 * 1e6f64).ln() - 2f64.ln()))
                .abs()
                < 1e-12
        );
        assert!((ln_energy_dirac(1000.0).unwrap() - (1000.0 - 2000f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn eigenvalues_match_quadrature_with_legendre_kernel() {
        // d = 3: mu_l = (1/2) int_{-1}^{1} e^{beta t} P_l(t) dt, P_l = C_l^{(1/2)} (Legendre).
        for &beta in &[0.3, 2.0, 9.0] {
            for l in 0..8 {
                let q = 0.5
                    * integrate(
                        &|t| (beta * t).exp() * gegenbauer_polynomial(l, 0.5, t).unwrap(),
                        -1.0,
                        1.0,
                        1e-15,
                        0.0,
                    )
                    .unwrap();
                let mu = funk_hecke_eigenvalue(l, beta, 3).unwrap();
                // The quadrature cancels (P_l oscillates): absolute floor ~ eps.
                assert!(
                    (mu - q).abs() < 1e-12 * mu + 1e-15,
                    "l {l} beta {beta}: {mu} vs {q}"
                );
            }
        }
    }

    #[test]
    fn gegenbauer_series_reconstructs_exponential_and_is_positive() {
        for &beta in &[0.5, 3.0, 9.0] {
            for &d in &[2usize, 3, 5, 10] {
                let a = gegenbauer_coefficients(beta, d, 80).unwrap();
                assert!(
                    a.iter().take(30).all(|&c| c > 0.0),
                    "positivity beta {beta} d {d}"
                );
                let lambda = 0.5 * d as f64 - 1.0;
                for &t in &[-1.0, -0.4, 0.0, 0.3, 0.99, 1.0] {
                    let s: f64 = a
                        .iter()
                        .enumerate()
                        .map(|(l, c)| c * gegenbauer_polynomial(l, lambda, t).unwrap())
                        .sum();
                    let exact = (beta * t).exp();
                    // The alternating sum at t < 0 cancels: error relative to e^{beta} = max |e^{beta t}|.
                    assert!(
                        (s - exact).abs() < 1e-13 * beta.exp(),
                        "beta {beta} d {d} t {t}: {s} vs {exact}"
                    );
                }
            }
        }
        assert_eq!(
            gegenbauer_coefficients(0.0, 4, 3).unwrap(),
            vec![1.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(energy_uniform(0.0, 3).is_err());
        assert!(energy_uniform(-1.0, 3).is_err());
        assert!(energy_uniform(1.0, 1).is_err());
        assert!(energy_uniform(f64::NAN, 3).is_err());
        assert!(energy_dirac(0.0).is_err());
        assert!(energy_dirac(800.0).is_err());
    }
}

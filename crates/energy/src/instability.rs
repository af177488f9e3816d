//! Linear instability of the uniform measure in the mean-field limit (\[beyond\] item 3: Bruno, Pasqualotto,
//! Agazzi, ICLR 2025, arXiv 2410.23228). Linearising USA at sigma_d, a degree-l spherical harmonic perturbation
//! grows at rate
//!
//!   lambda_l(beta, d) = l (l + d - 2) mu_l(beta) / beta,  mu_l = Gamma(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta)
//!
//! (Funk-Hecke eigenvalues, see [`crate::funk_hecke`]); for SA the rate is lambda_l / mu_0. Every l >= 1 is
//! unstable; the fastest degree l*(beta, d) (the same for SA and USA) grows like sqrt(2 beta).

use crate::error::{EnergyError, Result, check_d, check_positive};
use crate::funk_hecke::{funk_hecke_eigenvalue, ln_funk_hecke_eigenvalue};
use attnflow_dynamics::ModelKind;

/// ln lambda_l for USA: ln(l (l+d-2)) + ln mu_l - ln beta (l >= 1, beta > 0).
fn ln_usa_rate(l: usize, beta: f64, d: usize) -> Result<f64> {
    let lf = l as f64;
    Ok((lf * (lf + d as f64 - 2.0)).ln() + ln_funk_hecke_eigenvalue(l, beta, d)? - beta.ln())
}

/// Growth rate of degree-l perturbations of the uniform measure: USA l (l+d-2) mu_l / beta, SA that / mu_0.
/// Requires l >= 1 and beta > 0. Errors if the USA rate overflows f64 (beta above ~ 700).
pub fn mean_field_rate(model: ModelKind, l: usize, beta: f64, d: usize) -> Result<f64> {
    check_positive("beta", beta)?;
    check_d(d)?;
    if l == 0 {
        return Err(EnergyError::InvalidParameter {
            name: "l",
            value: 0.0,
            requirement: ">= 1",
        });
    }
    let lf = l as f64;
    let factor = lf * (lf + d as f64 - 2.0) / beta;
    let direct = funk_hecke_eigenvalue(l, beta, d).and_then(|mu_l| match model {
        ModelKind::Usa => Ok(factor * mu_l),
        ModelKind::Sa => Ok(factor * mu_l / funk_hecke_eigenvalue(0, beta, d)?),
    });
    match (model, direct) {
        (_, Ok(v)) if v.is_normal() => Ok(v),
        (ModelKind::Sa, _) => {
            Ok((ln_usa_rate(l, beta, d)? - ln_funk_hecke_eigenvalue(0, beta, d)?).exp())
        }
        (ModelKind::Usa, _) => {
            let v = ln_usa_rate(l, beta, d)?.exp();
            if v.is_finite() {
                Ok(v)
            } else {
                Err(EnergyError::Numerical(format!(
                    "USA rate lambda_{l} overflows f64 at beta = {beta:?}"
                )))
            }
        }
    }
}

/// Largest beta of the exact search of [`fastest_degree`] (l* ~ sqrt(2 beta) ~ 4500 degrees, each
/// rate a Bessel function of argument beta).
const MAX_SEARCH_BETA: f64 = 1e7;

/// Most degrees [`fastest_degree`] scans.
const MAX_DEGREE: usize = 1_000_000;

/// The fastest-growing degree l* = argmax_{l >= 1} lambda_l(beta, d) (identical for SA and USA).
/// Scans l upward until the rate has dropped by a factor e^{30} below the best one.
pub fn fastest_degree(beta: f64, d: usize) -> Result<usize> {
    check_positive("beta", beta)?;
    check_d(d)?;
    if beta > MAX_SEARCH_BETA {
        return Err(EnergyError::Numerical(format!(
            "beta = {beta:?} is beyond the exact search (beta <= {MAX_SEARCH_BETA:e}); asymptotically l* ~ sqrt(2 beta) = {:e}",
            (2.0 * beta).sqrt()
        )));
    }
    let mut best_l = 1;
    let mut best = ln_usa_rate(1, beta, d)?;
    let mut l = 1;
    loop {
        l += 1;
        let v = ln_usa_rate(l, beta, d)?;
        if v > best {
            best = v;
            best_l = l;
        } else if v < best - 30.0 {
            return Ok(best_l);
        }
        if l > MAX_DEGREE {
            return Err(EnergyError::Numerical(
                "fastest degree search did not terminate".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_beta_limit_and_sa_usa_relation() {
        // mu_1 ~ beta / d as beta -> 0, so lambda_1 -> (d-1)/d.
        for &d in &[2usize, 3, 10] {
            let r = mean_field_rate(ModelKind::Usa, 1, 1e-6, d).unwrap();
            let limit = (d as f64 - 1.0) / d as f64;
            assert!((r - limit).abs() < 1e-6, "d {d}: {r} vs {limit}");
        }
        let usa = mean_field_rate(ModelKind::Usa, 4, 3.0, 3).unwrap();
        let sa = mean_field_rate(ModelKind::Sa, 4, 3.0, 3).unwrap();
        let mu0 = funk_hecke_eigenvalue(0, 3.0, 3).unwrap();
        assert!((sa * mu0 - usa).abs() < 1e-14 * usa);
        // d = 3 closed form: mu_1 = Gamma(3/2) (2/b)^{1/2} I_{3/2}(b) = (cosh b - sinh b / b) / b.
        let b: f64 = 2.0;
        let mu1 = (b.cosh() - b.sinh() / b) / b;
        let lam1 = 1.0 * 2.0 * mu1 / b;
        assert!((mean_field_rate(ModelKind::Usa, 1, b, 3).unwrap() - lam1).abs() < 1e-14 * lam1);
        // Large beta: SA stays finite where USA overflows.
        assert!(
            mean_field_rate(ModelKind::Sa, 10, 2000.0, 2)
                .unwrap()
                .is_finite()
        );
        assert!(mean_field_rate(ModelKind::Usa, 10, 2000.0, 2).is_err());
    }

    #[test]
    fn fastest_degree_grows_like_sqrt_two_beta() {
        let mut previous_error = f64::INFINITY;
        for &beta in &[50.0, 200.0, 800.0, 3200.0] {
            let l_star = fastest_degree(beta, 2).unwrap();
            let ratio = l_star as f64 / (2.0 * beta).sqrt();
            let err = (ratio - 1.0).abs();
            assert!(err < 0.15, "beta {beta}: l* = {l_star}, ratio {ratio}");
            assert!(
                err <= previous_error + 0.02,
                "trend towards sqrt(2 beta) at beta {beta}"
            );
            previous_error = err;
            // It is a maximum of the rate sequence.
            let r = |l| mean_field_rate(ModelKind::Sa, l, beta, 2).unwrap();
            assert!(r(l_star) >= r(l_star + 1) && r(l_star) >= r(l_star - 1));
        }
        assert_eq!(fastest_degree(0.01, 3).unwrap(), 1);
        assert!(fastest_degree(0.0, 3).is_err());
        assert!(mean_field_rate(ModelKind::Sa, 0, 1.0, 3).is_err());
    }
}

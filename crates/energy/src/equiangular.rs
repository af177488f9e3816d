//! Equiangular dynamics of \[GLPR\] Thm 6.8: from pairwise-orthogonal (more generally equiangular) initial
//! tokens every pairwise inner product equals gamma(t), the solution of
//!
//! * (6.9)  SA : gammadot = 2 e^{beta gamma} (1 - gamma)((n-1) gamma + 1) / (e^beta + (n-1) e^{beta gamma}),
//! * (6.10) USA: gammadot = (2/n) e^{beta gamma} (1 - gamma)((n-1) gamma + 1).
//!
//! Both are separable; the time to go from gamma_0 to g is an exact quadrature. With u = 1 - s,
//! v = (n-1) s + 1 and the partial fractions 1/((1-s)((n-1)s+1)) = (1/n) (1/(1-s) + (n-1)/((n-1)s+1)):
//!
//! * SA : t = (n-1)/(2n) [ln(u0/u1) + ln(v1/v0)] + (1/(2n)) [ln(u0/u1) + Phi] + (1/(2n)) C_SA,
//! * USA: t = (1/2) e^{-beta} [ln(u0/u1) + Phi] + (1/2) C_USA,
//!
//! where Phi = int_{u1}^{u0} (e^{beta u} - 1)/u du = sum_{k>=1} beta^k (u0^k - u1^k)/(k k!) (positive series, no
//! cancellation: u0^k - u1^k = (u0 - u1) h_k with h_k = u0^{k-1} + u1 h_{k-1}), the logarithmic singularity at
//! s -> 1 is the explicit ln(u0/u1), and the remaining smooth parts in w = ln v are
//! C_SA = int e^{beta (n - e^w)/(n-1)} dw and C_USA = int e^{-beta (e^w - 1)/(n-1)} dw over [ln v0, ln v1]
//! (adaptive Gauss-Legendre, relative tolerance 1e-15). Near consensus 1 - gamma ~ e^{-2t} (SA) and
//! e^{-2 e^beta t} (USA). At beta = 0: gamma(t) = (e^{2t} - 1)/(e^{2t} + n - 1) for gamma_0 = 0.
//!
//! The phase-transition curve Gamma_{inf,delta} (6.12) is {(t, beta): gamma_beta(t) = 1 - delta}, i.e.
//! t*(beta) = t(1 - delta) from gamma_0 = 0, and its inverse beta*(t). The series Phi is summed directly,
//! so beta is limited to [`MAX_BETA`].

use crate::error::{EnergyError, Result, check_delta, check_n, check_nonneg};
use crate::numerics::{brent_root, integrate};
// softmax (SA, 1/Z_i, ODE (6.9)) or uniform (USA, 1/n, ODE (6.10)): the engine's model switch,
// so that theory and simulation share one type
use attnflow_dynamics::ModelKind;

/// Largest beta accepted by the equiangular quadratures (the series Phi ~ e^{2 beta} must stay finite).
pub const MAX_BETA: f64 = 300.0;

fn check_beta(beta: f64) -> Result<()> {
    check_nonneg("beta", beta)?;
    if beta > MAX_BETA {
        return Err(EnergyError::InvalidParameter {
            name: "beta",
            value: beta,
            requirement: "<= 300 for the equiangular quadratures",
        });
    }
    Ok(())
}

/// Lowest admissible inner product: the fixed point -1/(n-1) of the ODEs (and -1 for n <= 2).
fn gamma_floor(n: usize) -> f64 {
    if n <= 2 {
        -1.0
    } else {
        -1.0 / (n as f64 - 1.0)
    }
}

fn check_gamma0(n: usize, gamma0: f64) -> Result<()> {
    if gamma0.is_finite() && gamma0 > gamma_floor(n) && gamma0 < 1.0 {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name: "gamma0",
            value: gamma0,
            requirement: "in (max(-1, -1/(n-1)), 1)",
        })
    }
}

/// Right-hand side gammadot of (6.9) (SA) or (6.10) (USA) at gamma.
pub fn equiangular_rhs(model: ModelKind, n: usize, beta: f64, gamma: f64) -> Result<f64> {
    check_n(n)?;
    check_nonneg("beta", beta)?;
    if !gamma.is_finite() {
        return Err(EnergyError::InvalidParameter {
            name: "gamma",
            value: gamma,
            requirement: "finite",
        });
    }
    let nm1 = n as f64 - 1.0;
    let core = (1.0 - gamma) * (nm1 * gamma + 1.0);
    Ok(match model {
        // Divide through by e^{beta gamma} to avoid overflow: 2 core / (e^{beta (1 - gamma)} + n - 1).
        ModelKind::Sa => 2.0 * core / ((beta * (1.0 - gamma)).exp() + nm1),
        ModelKind::Usa => 2.0 / n as f64 * (beta * gamma).exp() * core,
    })
}

/// Phi(u1, u0) = int_{u1}^{u0} (e^{beta u} - 1)/u du for 0 < u1 <= u0, given diff = u0 - u1 (summed as a
/// positive series).
fn phi_series(beta: f64, u0: f64, u1: f64, diff: f64) -> Result<f64> {
    if beta == 0.0 || diff == 0.0 {
        return Ok(0.0);
    }
    let mut power = 1.0; // beta^k / k!
    let mut h = 0.0; // (u0^k - u1^k) / (u0 - u1)
    let mut u0_pow = 1.0; // u0^{k-1}
    let mut sum = 0.0;
    for k in 1..100_000 {
        let kf = k as f64;
        power *= beta / kf;
        h = u0_pow + u1 * h;
        u0_pow *= u0;
        let term = power * h / kf;
        sum += term;
        if !sum.is_finite() {
            return Err(EnergyError::Numerical(format!(
                "equiangular series overflows at beta = {beta:?}"
            )));
        }
        if term <= 1e-17 * sum && kf > beta * u0 {
            return Ok(sum * diff);
        }
    }
    Err(EnergyError::Numerical(
        "equiangular series did not converge".into(),
    ))
}

/// Time for gamma to go from gamma0 to g = 1 - gap, with `diff = g - gamma0 > 0` passed separately so that
/// both ends keep full precision (gap tiny near consensus, diff tiny for short times).
fn time_between(
    model: ModelKind,
    n: usize,
    beta: f64,
    gamma0: f64,
    gap: f64,
    diff: f64,
) -> Result<f64> {
    if diff <= 0.0 {
        return Ok(0.0);
    }
    let nf = n as f64;
    let nm1 = nf - 1.0;
    let u0 = 1.0 - gamma0;
    let u1 = gap;
    let ln_u = (diff / u1).ln_1p(); // ln(u0 / u1)
    let v0 = nm1 * gamma0 + 1.0;
    let ln_v = (nm1 * diff / v0).ln_1p(); // ln(v1 / v0)
    let phi = phi_series(beta, u0, u1, diff)?;
    let w0 = v0.ln();
    let w1 = w0 + ln_v;
    let smooth = if n >= 2 {
        match model {
            ModelKind::Sa => integrate(
                &|w: f64| (beta * (nf - w.exp()) / nm1).exp(),
                w0,
                w1,
                1e-15,
                0.0,
            )?,
            ModelKind::Usa => integrate(
                &|w: f64| (-beta * (w.exp() - 1.0) / nm1).exp(),
                w0,
                w1,
                1e-15,
                0.0,
            )?,
        }
    } else {
        0.0
    };
    let t = match model {
        ModelKind::Sa => {
            nm1 / (2.0 * nf) * (ln_u + ln_v) + (ln_u + phi) / (2.0 * nf) + smooth / (2.0 * nf)
        }
        ModelKind::Usa => 0.5 * (-beta).exp() * (ln_u + phi) + 0.5 * smooth,
    };
    if t.is_finite() {
        Ok(t)
    } else {
        Err(EnergyError::Numerical(format!(
            "equiangular time not finite (beta = {beta:?}, n = {n})"
        )))
    }
}

/// Exact time t(g) for the equiangular ODE ((6.9) or (6.10)) to go from gamma0 to g (gamma0 <= g < 1).
pub fn time_to_level(model: ModelKind, n: usize, beta: f64, gamma0: f64, g: f64) -> Result<f64> {
    check_n(n)?;
    check_beta(beta)?;
    check_gamma0(n, gamma0)?;
    if !(g.is_finite() && g >= gamma0 && g < 1.0) {
        return Err(EnergyError::InvalidParameter {
            name: "g",
            value: g,
            requirement: "in [gamma0, 1)",
        });
    }
    time_between(model, n, beta, gamma0, 1.0 - g, g - gamma0)
}

/// Exact time to reach 1 - gamma = gap (use this near consensus, where g = 1 - gap is not representable).
pub fn time_to_gap(model: ModelKind, n: usize, beta: f64, gamma0: f64, gap: f64) -> Result<f64> {
    check_n(n)?;
    check_beta(beta)?;
    check_gamma0(n, gamma0)?;
    let u0 = 1.0 - gamma0;
    if !(gap.is_finite() && gap > 0.0 && gap <= u0) {
        return Err(EnergyError::InvalidParameter {
            name: "gap",
            value: gap,
            requirement: "in (0, 1 - gamma0]",
        });
    }
    time_between(model, n, beta, gamma0, gap, u0 - gap)
}

/// 1 - gamma(t) for the equiangular ODE started at gamma0, by inverting the exact quadrature
/// (Brent's method in ln(1 - gamma), relative accuracy ~ 1e-15 in 1 - gamma; gamma itself is then accurate
/// to ~ 1e-16 absolute). Returns 0 when 1 - gamma(t) < e^{-700} (below the f64 range).
pub fn gap_at(model: ModelKind, n: usize, beta: f64, gamma0: f64, t: f64) -> Result<f64> {
    check_n(n)?;
    check_beta(beta)?;
    check_gamma0(n, gamma0)?;
    check_nonneg("t", t)?;
    let u0 = 1.0 - gamma0;
    if t == 0.0 {
        return Ok(u0);
    }
    let z0 = u0.ln();
    let residual = |z: f64| -> Result<f64> {
        let gap = z.exp().min(u0);
        Ok(time_between(model, n, beta, gamma0, gap, u0 - gap)? - t)
    };
    // Bracket: residual(z0) = -t < 0; walk down until the time exceeds t.
    let mut step = 1.0;
    let mut z_lo = z0 - step;
    while residual(z_lo)? < 0.0 {
        step *= 2.0;
        z_lo = z0 - step;
        if z_lo < -700.0 {
            // 1 - gamma(t) < e^{-700}: consensus to beyond f64 range.
            return Ok(0.0);
        }
    }
    let z = brent_root(&residual, z_lo, z0, 1e-16)?;
    Ok(z.exp().min(u0))
}

/// gamma(t) for the equiangular ODE started at gamma0 (see [`gap_at`] for the precise 1 - gamma).
pub fn gamma_at(model: ModelKind, n: usize, beta: f64, gamma0: f64, t: f64) -> Result<f64> {
    Ok(1.0 - gap_at(model, n, beta, gamma0, t)?)
}

/// Closed form at beta = 0 (SA = USA) from gamma0 = 0: gamma(t) = (e^{2t} - 1)/(e^{2t} + n - 1).
pub fn gamma_beta_zero(n: usize, t: f64) -> Result<f64> {
    check_n(n)?;
    check_nonneg("t", t)?;
    let em1 = (2.0 * t).exp_m1();
    Ok(em1 / (em1 + n as f64))
}

/// Clustering time t*(beta) = t(1 - delta) from gamma0 = 0: the point of the phase curve (6.12) at beta.
pub fn clustering_time(model: ModelKind, n: usize, beta: f64, delta: f64) -> Result<f64> {
    check_delta(delta)?;
    time_to_gap(model, n, beta, 0.0, delta)
}

/// The range of t for which beta*(t) >= 0 exists on Gamma_{inf,delta}, as (t_min, t_max):
/// SA: t*(beta) increases from t*(0) to infinity, so t in [t*(0), t*(MAX_BETA)];
/// USA: t*(beta) decreases from t*(0) to 0, so t in [t*(MAX_BETA), t*(0)].
pub fn phase_curve_domain(model: ModelKind, n: usize, delta: f64) -> Result<(f64, f64)> {
    let at_zero = clustering_time(model, n, 0.0, delta)?;
    let at_max = clustering_time(model, n, MAX_BETA, delta)?;
    Ok(match model {
        ModelKind::Sa => (at_zero, at_max),
        ModelKind::Usa => (at_max, at_zero),
    })
}

/// Inverse of the phase curve: beta*(t) >= 0 with t*(beta*) = t (strictly monotone in beta: increasing for SA,
/// decreasing for USA). Errors with [`EnergyError::NoSolution`] outside [`phase_curve_domain`]: for SA no
/// beta >= 0 works when t < t*(0) = (1/2) ln((1 + (n-1)(1-delta))/delta), since clustering is fastest at beta = 0.
pub fn phase_curve_beta(model: ModelKind, n: usize, delta: f64, t: f64) -> Result<f64> {
    check_n(n)?;
    check_delta(delta)?;
    check_nonneg("t", t)?;
    let (t_min, t_max) = phase_curve_domain(model, n, delta)?;
    if t < t_min || t > t_max {
        return Err(EnergyError::NoSolution(format!(
            "no beta in [0, {MAX_BETA}] has t*(beta) = {t:?} for model {} (n = {n}, delta = {delta:?}): \
             t must lie in [{t_min}, {t_max:.6e}]",
            model.name()
        )));
    }
    let residual = |beta: f64| -> Result<f64> { Ok(clustering_time(model, n, beta, delta)? - t) };
    // Bracket by doubling from beta = 1 (within [0, MAX_BETA]).
    let f0 = residual(0.0)?;
    if f0 == 0.0 {
        return Ok(0.0);
    }
    let mut lo = 0.0;
    let mut hi = 1.0_f64.min(MAX_BETA);
    while residual(hi)?.signum() == f0.signum() {
        lo = hi;
        hi = (2.0 * hi).min(MAX_BETA);
    }
    brent_root(&residual, lo, hi, 1e-15 * hi.max(1.0))
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted to all printed digits
mod tests {
    use super::*;

    /// Independent quadrature of t(g) in y = -ln(1 - s) (bounded integrand, no splitting).
    fn time_reference(model: ModelKind, n: usize, beta: f64, gap: f64) -> f64 {
        let nf = n as f64;
        let f = move |y: f64| {
            let s = -(-y).exp_m1();
            match model {
                ModelKind::Sa => {
                    ((beta * (-y).exp()).exp() + nf - 1.0) / (2.0 * ((nf - 1.0) * s + 1.0))
                }
                ModelKind::Usa => nf / 2.0 * (-beta * s).exp() / ((nf - 1.0) * s + 1.0),
            }
        };
        integrate(&f, 0.0, -gap.ln(), 1e-15, 0.0).unwrap()
    }

    #[test]
    fn beta_zero_matches_closed_form() {
        for &n in &[1usize, 2, 10, 1024] {
            for &t in &[1e-6, 0.1, 1.0, 5.0, 20.0] {
                let exact = gamma_beta_zero(n, t).unwrap();
                for model in [ModelKind::Sa, ModelKind::Usa] {
                    let g = gamma_at(model, n, 0.0, 0.0, t).unwrap();
                    // gamma = 1 - gap is accurate in absolute terms (relative for the gap).
                    assert!((g - exact).abs() < 1e-15, "n {n} t {t}: {g} vs {exact}");
                }
                // Gap form: 1 - gamma = n / (e^{2t} + n - 1).
                let gap_exact = n as f64 / ((2.0 * t).exp() + n as f64 - 1.0);
                let gap = gap_at(ModelKind::Sa, n, 0.0, 0.0, t).unwrap();
                assert!(
                    ((gap - gap_exact) / gap_exact).abs() < 1e-13,
                    "gap n {n} t {t}"
                );
            }
        }
    }

    #[test]
    fn clustering_time_matches_independent_quadrature_to_1e12() {
        let mut worst: f64 = 0.0;
        for model in [ModelKind::Sa, ModelKind::Usa] {
            for &n in &[2usize, 7, 32, 1024] {
                for &beta in &[0.0, 0.5, 1.0, 4.0, 9.0] {
                    for &delta in &[0.5, 0.1, 1e-3, 1e-8] {
                        let t = clustering_time(model, n, beta, delta).unwrap();
                        let reference = time_reference(model, n, beta, delta);
                        let rel = ((t - reference) / reference).abs();
                        worst = worst.max(rel);
                        assert!(
                            rel < 1e-12,
                            "{model:?} n {n} beta {beta} delta {delta}: {t} vs {reference}"
                        );
                    }
                }
            }
        }
        eprintln!("worst relative deviation of t*(beta) from the y-quadrature: {worst:e}");
    }

    #[test]
    fn clustering_time_matches_mpmath_reference() {
        // mpmath 1.3.0 tanh-sinh quadrature of dt/dgamma at 30 digits.
        let reference = [
            (ModelKind::Sa, 1024usize, 9.0, 1e-3, 24.04522014887762208),
            (ModelKind::Sa, 2, 0.5, 0.5, 0.67296390042621398217),
            (ModelKind::Sa, 100, 3.0, 1e-2, 4.9223192588392285903),
            (ModelKind::Usa, 32, 4.0, 0.1, 1.0834267449676275218),
            (ModelKind::Usa, 1024, 9.0, 1e-3, 2.1651080244760465032),
            (ModelKind::Sa, 1024, 9.0, 1e-8, 29.802187044362626621),
        ];
        for (model, n, beta, delta, expected) in reference {
            let t = clustering_time(model, n, beta, delta).unwrap();
            assert!(
                ((t - expected) / expected).abs() < 1e-14,
                "{model:?} n {n} beta {beta}: {t} vs {expected}"
            );
        }
    }

    #[test]
    fn inversion_agrees_with_rk4_integration_of_the_ode() {
        // RK4 with h = 1e-3 on (6.9)/(6.10): global error O(h^4) ~ 1e-12.
        // USA contracts at rate ~ 2 e^beta near consensus, so keep beta small there (RK4 stability).
        let cases = [
            (ModelKind::Sa, 3usize, 1.0, 0.0),
            (ModelKind::Sa, 16, 4.0, 0.2),
            (ModelKind::Sa, 64, 9.0, -0.01),
            (ModelKind::Sa, 2, 2.0, -0.5),
            (ModelKind::Usa, 3, 1.0, 0.0),
            (ModelKind::Usa, 16, 2.0, 0.2),
            (ModelKind::Usa, 64, 0.5, -0.01),
            (ModelKind::Usa, 2, 2.0, -0.5),
        ];
        for (model, n, beta, gamma0) in cases {
            {
                let t_end = 2.0;
                let h = 1e-3;
                let mut g = gamma0;
                let rhs = |x: f64| equiangular_rhs(model, n, beta, x).unwrap();
                for _ in 0..2000 {
                    let k1 = rhs(g);
                    let k2 = rhs(g + 0.5 * h * k1);
                    let k3 = rhs(g + 0.5 * h * k2);
                    let k4 = rhs(g + h * k3);
                    g += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
                }
                let q = gamma_at(model, n, beta, gamma0, t_end).unwrap();
                assert!(
                    (q - g).abs() < 1e-10,
                    "{model:?} n {n} beta {beta}: quadrature {q} vs RK4 {g}"
                );
            }
        }
    }

    #[test]
    fn level_and_time_are_inverse_and_consensus_rates_hold() {
        let t = time_to_level(ModelKind::Sa, 10, 3.0, 0.0, 0.9).unwrap();
        assert!((gamma_at(ModelKind::Sa, 10, 3.0, 0.0, t).unwrap() - 0.9).abs() < 1e-14);
        // d ln(1 - gamma)/dt -> -2 (SA) and -2 e^beta (USA) near consensus.
        for (model, rate) in [(ModelKind::Sa, 2.0), (ModelKind::Usa, 2.0 * 1.5f64.exp())] {
            let t1 = time_to_gap(model, 8, 1.5, 0.0, 1e-10).unwrap();
            let t2 = time_to_gap(model, 8, 1.5, 0.0, 1e-11).unwrap();
            let measured = 10f64.ln() / (t2 - t1);
            assert!(
                ((measured - rate) / rate).abs() < 1e-8,
                "{model:?}: {measured} vs {rate}"
            );
        }
    }

    #[test]
    fn phase_curve_round_trip_and_domain() {
        for model in [ModelKind::Sa, ModelKind::Usa] {
            for &n in &[2usize, 32, 1024] {
                for &beta in &[0.25, 1.0, 5.0, 9.0] {
                    let t = clustering_time(model, n, beta, 0.1).unwrap();
                    let b = phase_curve_beta(model, n, 0.1, t).unwrap();
                    assert!(
                        ((b - beta) / beta).abs() < 1e-9,
                        "{model:?} n {n}: beta* {b} vs {beta}"
                    );
                }
            }
        }
        // SA: below the beta = 0 time there is no solution.
        let t0 = 0.5 * ((1.0 + 31.0 * 0.9) / 0.1f64).ln();
        assert!(((clustering_time(ModelKind::Sa, 32, 0.0, 0.1).unwrap() - t0) / t0).abs() < 1e-14);
        assert!(matches!(
            phase_curve_beta(ModelKind::Sa, 32, 0.1, 0.9 * t0),
            Err(EnergyError::NoSolution(_))
        ));
        assert!(phase_curve_beta(ModelKind::Sa, 32, 0.1, t0).unwrap().abs() < 1e-9);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(clustering_time(ModelKind::Sa, 0, 1.0, 0.1).is_err());
        assert!(clustering_time(ModelKind::Sa, 4, -1.0, 0.1).is_err());
        assert!(clustering_time(ModelKind::Sa, 4, f64::NAN, 0.1).is_err());
        assert!(clustering_time(ModelKind::Sa, 4, 1.0, 0.0).is_err());
        assert!(clustering_time(ModelKind::Sa, 4, 1.0, 1.0).is_err());
        assert!(gamma_at(ModelKind::Usa, 4, 1.0, 1.0, 1.0).is_err());
        assert!(gamma_at(ModelKind::Usa, 4, 1.0, -0.5, 1.0).is_err());
        assert!(gamma_at(ModelKind::Usa, 4, 1.0, 0.0, -1.0).is_err());
        assert_eq!(gap_at(ModelKind::Usa, 64, 9.0, 0.0, 2.0).unwrap(), 0.0);
    }
}

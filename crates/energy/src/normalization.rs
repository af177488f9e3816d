//! Equiangular dynamics under the layer-normalisation schemes of Karagodin, Ge, Polyanskiy and
//! Rigollet ("Normalization in attention dynamics", arXiv 2510.22026), with Q = K = V = I.
//!
//! Write x_i = r_i th_i and let every pair of directions have cosine rho and every radius be r.
//! The attention output of token i is A_i = a th_i + b sum_{j != i} th_j with
//!
//! ```text
//! SA : a = e^beta / Z, b = e^{beta rho} / Z, Z = e^beta + (n-1) e^{beta rho}   (a + (n-1) b = 1)
//! USA: a = e^beta / n, b = e^{beta rho} / n
//! ```
//!
//! and th_i' = (1/s) P_{th_i} A_i (the engine's [`attnflow_dynamics::Normalization`]). Then
//! <th_i, A_i> = a + b (n-1) rho, <A_i, th_j> = a rho + b (1 + (n-2) rho) for j != i and
//! |A_i|^2 = a^2 + 2 a b (n-1) rho + b^2 (n-1) (1 + (n-2) rho), and rho' = 2 <th_i', th_j> gives
//! one law for every scheme,
//!
//! ```text
//! rho' = (2/s) b (1 - rho)(1 + (n-1) rho),
//! ```
//!
//! with the speed factor and the radius law
//!
//! * Post-LN: s = 1, r fixed: \[GLPR\] (6.9) / (6.10), 1 - rho ~ e^{-2t} (SA);
//! * Pre-LN:  s = r, r' = a + b (n-1) rho: r ~ t, so 1 - rho ~ t^{-2};
//! * Peri-LN: s = r |A|, r' = (a + b (n-1) rho) / |A| (unit speed of x): |A| -> 1 at consensus,
//!   r ~ t and again 1 - rho ~ t^{-2} (derived here; the particle system checks it);
//! * nGPT (scalar step 1): s = |A|, r fixed: 1 - rho ~ e^{-2t}.
//!
//! Near consensus u = 1 - rho obeys u' ~ -(2/s) u, hence exp(-2t) when s -> 1 and u ∝ r^{-2}
//! when s = r. The ODE is integrated in (u, r) with u = 1 - rho (no cancellation near consensus)
//! by classical RK4 at a fixed step; the weights are evaluated divided by e^{beta rho} (SA:
//! b = 1 / (e^{beta u} + n - 1), a = e^{beta u} b), so nothing overflows for beta <= [`MAX_BETA`].

use crate::equiangular::MAX_BETA;
use crate::error::{EnergyError, Result, check_n, check_nonneg};
use attnflow_dynamics::{ModelKind, Normalization};

/// Largest time the fixed-step solver accepts (at most [`MAX_STEPS`] steps of [`STEP`]).
pub const MAX_T: f64 = 1e4;
/// The RK4 step of [`solve`] (a step of 1e-3 for rates of order 2 gives ~1e-12 relative error).
pub const STEP: f64 = 1e-3;
/// Most steps [`solve`] takes.
pub const MAX_STEPS: usize = 10_000_000;

/// The equiangular state: common cosine rho (stored as u = 1 - rho) and common radius r.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EquiangularState {
    /// u = 1 - rho.
    pub gap: f64,
    /// r (1 for the schemes on the sphere).
    pub radius: f64,
}

impl EquiangularState {
    /// rho = 1 - u.
    pub fn rho(&self) -> f64 {
        1.0 - self.gap
    }
}

/// The attention weights (a, b) and |A_i| at cosine rho = 1 - u (see the module docs).
pub fn weights(model: ModelKind, n: usize, beta: f64, gap: f64) -> (f64, f64, f64) {
    let nm1 = n as f64 - 1.0;
    let rho = 1.0 - gap;
    let (a, b) = match model {
        ModelKind::Sa => {
            let b = 1.0 / ((beta * gap).exp() + nm1);
            ((beta * gap).exp() * b, b)
        }
        ModelKind::Usa => (beta.exp() / n as f64, (beta * rho).exp() / n as f64),
    };
    let norm2 = a * a + 2.0 * a * b * nm1 * rho + b * b * nm1 * (1.0 + (n as f64 - 2.0) * rho);
    (a, b, norm2.max(0.0).sqrt())
}

/// (u', r') at the state: u' = -rho' = -(2/s) b u (1 + (n-1) rho) and the scheme's radius law.
pub fn rates(
    norm: Normalization,
    model: ModelKind,
    n: usize,
    beta: f64,
    state: EquiangularState,
) -> (f64, f64) {
    let nm1 = n as f64 - 1.0;
    let u = state.gap;
    let rho = 1.0 - u;
    let (a, b, size) = weights(model, n, beta, u);
    let radial = a + b * nm1 * rho; // <th_i, A_i>
    let (s, dr) = match norm {
        Normalization::PostLn => (1.0, 0.0),
        Normalization::PreLn => (state.radius, radial),
        Normalization::PeriLn => (state.radius * size, radial / size),
        Normalization::Ngpt => (size, 0.0),
    };
    (-2.0 / s * b * u * (1.0 + nm1 * rho), dr)
}

fn check(n: usize, beta: f64, rho0: f64, r0: f64) -> Result<()> {
    check_n(n)?;
    check_nonneg("beta", beta)?;
    if beta > MAX_BETA {
        return Err(EnergyError::InvalidParameter {
            name: "beta",
            value: beta,
            requirement: "<= 300 for the equiangular ODEs",
        });
    }
    let floor = if n <= 2 {
        -1.0
    } else {
        -1.0 / (n as f64 - 1.0)
    };
    if !(rho0.is_finite() && rho0 > floor && rho0 < 1.0) {
        return Err(EnergyError::InvalidParameter {
            name: "rho0",
            value: rho0,
            requirement: "in (max(-1, -1/(n-1)), 1)",
        });
    }
    if !(r0.is_finite() && r0 > 0.0) {
        return Err(EnergyError::InvalidParameter {
            name: "r0",
            value: r0,
            requirement: "finite and > 0",
        });
    }
    Ok(())
}

/// The equiangular ODE of `norm` from (rho0, r0) sampled at t = k * t_max / samples for
/// k = 0..=samples, by RK4 with a step of at most `h` (each sample interval split evenly).
/// n >= 1, 0 <= beta <= 300, rho0 in (max(-1, -1/(n-1)), 1), r0 > 0, 0 <= t_max <= [`MAX_T`].
#[allow(clippy::too_many_arguments)]
pub fn trajectory(
    norm: Normalization,
    model: ModelKind,
    n: usize,
    beta: f64,
    rho0: f64,
    r0: f64,
    t_max: f64,
    samples: usize,
    h: f64,
) -> Result<Vec<EquiangularState>> {
    check(n, beta, rho0, r0)?;
    if !(t_max.is_finite() && (0.0..=MAX_T).contains(&t_max)) {
        return Err(EnergyError::InvalidParameter {
            name: "t",
            value: t_max,
            requirement: "in [0, 1e4]",
        });
    }
    if !(h.is_finite() && h > 0.0) || samples == 0 {
        return Err(EnergyError::InvalidParameter {
            name: "h",
            value: h,
            requirement: "finite and > 0, with at least one sample interval",
        });
    }
    let interval = t_max / samples as f64;
    let sub = ((interval / h).ceil() as usize).max(1);
    if sub
        .checked_mul(samples)
        .is_none_or(|total| total > MAX_STEPS)
    {
        return Err(EnergyError::InvalidParameter {
            name: "t",
            value: t_max,
            requirement: "needs at most 1e7 RK4 steps",
        });
    }
    let dt = interval / sub as f64;
    let mut state = EquiangularState {
        gap: 1.0 - rho0,
        radius: r0,
    };
    let mut out = Vec::with_capacity(samples + 1);
    out.push(state);
    let f = |s: EquiangularState| rates(norm, model, n, beta, s);
    let shift = |s: EquiangularState, k: (f64, f64), c: f64| EquiangularState {
        gap: s.gap + c * k.0,
        radius: s.radius + c * k.1,
    };
    for _ in 0..samples {
        for _ in 0..sub {
            let k1 = f(state);
            let k2 = f(shift(state, k1, 0.5 * dt));
            let k3 = f(shift(state, k2, 0.5 * dt));
            let k4 = f(shift(state, k3, dt));
            state.gap += dt / 6.0 * (k1.0 + 2.0 * k2.0 + 2.0 * k3.0 + k4.0);
            state.radius += dt / 6.0 * (k1.1 + 2.0 * k2.1 + 2.0 * k3.1 + k4.1);
        }
        if !(state.gap.is_finite() && state.radius.is_finite() && state.radius > 0.0) {
            return Err(EnergyError::Numerical(
                "equiangular normalisation ODE left its domain".into(),
            ));
        }
        out.push(state);
    }
    Ok(out)
}

/// The state at time t from (rho0, r0), RK4 with step [`STEP`] (or t / 1000 when smaller).
pub fn solve(
    norm: Normalization,
    model: ModelKind,
    n: usize,
    beta: f64,
    rho0: f64,
    r0: f64,
    t: f64,
) -> Result<EquiangularState> {
    let traj = trajectory(
        norm,
        model,
        n,
        beta,
        rho0,
        r0,
        t,
        1,
        STEP.min(t / 1000.0).max(1e-12),
    )?;
    Ok(traj[1])
}

/// Least-squares slope of y against x (the decay exponents: ln(1 - rho) against t or ln t).
pub fn fitted_slope(x: &[f64], y: &[f64]) -> f64 {
    let m = x.len().min(y.len()) as f64;
    let (mx, my) = (
        x.iter().sum::<f64>() / m,
        y.iter().take(x.len()).sum::<f64>() / m,
    );
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
    }
    sxy / sxx
}

/// Mean, minimum and maximum pairwise cosine <th_i, th_j> (i < j) and mean radius of a state
/// (row-major n x d, radii |x_i|).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CosineStats {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub radius: f64,
}

/// [`CosineStats`] of a state, summed in index order.
pub fn cosine_stats(x: &[f64], n: usize, d: usize) -> CosineStats {
    let radii: Vec<f64> = x
        .chunks_exact(d)
        .map(attnflow_dynamics::config::norm)
        .collect();
    let (mut sum, mut min, mut max, mut pairs) = (0.0, f64::INFINITY, f64::NEG_INFINITY, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            let c = attnflow_dynamics::config::dot(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d])
                / (radii[i] * radii[j]);
            sum += c;
            min = min.min(c);
            max = max.max(c);
            pairs += 1;
        }
    }
    let mean = if pairs == 0 { 1.0 } else { sum / pairs as f64 };
    CosineStats {
        mean,
        min: if pairs == 0 { 1.0 } else { min },
        max: if pairs == 0 { 1.0 } else { max },
        radius: radii.iter().sum::<f64>() / n as f64,
    }
}

fn dynamics_err(e: attnflow_dynamics::DynamicsError) -> EnergyError {
    EnergyError::Numerical(format!("particle system: {e}"))
}

/// The particle system of `field` (the engine's normalised attention field) from the directions
/// `start` scaled by `r0`, engine RK4 (+ renormalisation for the schemes on the sphere) with step
/// `dt`, recorded every `per_sample` steps for `samples` intervals (t = k per_sample dt).
pub fn particle_run(
    field: &attnflow_dynamics::SelfAttention,
    start: &attnflow_dynamics::Configuration,
    r0: f64,
    dt: f64,
    per_sample: usize,
    samples: usize,
) -> Result<Vec<CosineStats>> {
    let (n, d) = (start.n(), start.d());
    if !(r0.is_finite() && r0 > 0.0) || per_sample == 0 {
        return Err(EnergyError::InvalidParameter {
            name: "r0",
            value: r0,
            requirement: "finite and > 0 (and at least one step per sample)",
        });
    }
    let data: Vec<f64> = if field.normalization().carries_radii() {
        start.as_slice().iter().map(|v| r0 * v).collect()
    } else {
        start.as_slice().to_vec()
    };
    let x0 = attnflow_dynamics::Configuration::euclidean(n, d, data).map_err(dynamics_err)?;
    let steps = per_sample
        .checked_mul(samples)
        .ok_or_else(|| EnergyError::Numerical("too many steps".into()))?;
    let mut out = Vec::with_capacity(samples + 1);
    attnflow_dynamics::integrate(
        field,
        attnflow_dynamics::Rk4::default(),
        &x0,
        dt,
        steps,
        |k, _, x| {
            if k % per_sample == 0 {
                out.push(cosine_stats(x, n, d));
            }
        },
    )
    .map_err(dynamics_err)?;
    Ok(out)
}

/// The random-weight field of the paper's experiment: one head with Q, K, V of i.i.d. N(0, 1/d)
/// entries (Kaiming normal, gain 1, fan-in d), drawn from the stream (seed, realisation,
/// Matrices) in the order Q, K, V; logits beta <Q x_i, K x_j>, velocity V y (SA normalisation).
pub fn kaiming_field(
    norm: Normalization,
    d: usize,
    beta: f64,
    seed: u64,
    realisation: u64,
) -> Result<attnflow_dynamics::SelfAttention> {
    use attnflow_dynamics::sampling::{Purpose, ginibre, stream};
    let mut rng = stream(seed, realisation, Purpose::Matrices);
    let scale = 1.0 / (d as f64).sqrt();
    let mut draw = || ginibre(d, &mut rng).map(|g| g.scaled(scale));
    let (q, k, v) = (
        draw().map_err(dynamics_err)?,
        draw().map_err(dynamics_err)?,
        draw().map_err(dynamics_err)?,
    );
    attnflow_dynamics::SelfAttention::builder()
        .beta(beta)
        .head(Some(q), Some(k), attnflow_dynamics::Value::Matrix(v))
        .normalization(norm)
        .build()
        .map_err(dynamics_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equiangular::gap_at;

    #[test]
    fn post_ln_rk4_matches_the_exact_quadrature() {
        // an independent solution: the exact quadrature of (6.9)/(6.10), inverted
        for model in [ModelKind::Sa, ModelKind::Usa] {
            for (n, beta, rho0, t) in [(8, 1.0, 0.0, 3.0), (32, 4.0, 0.2, 2.0), (2, 0.0, -0.5, 5.0)]
            {
                let s = solve(Normalization::PostLn, model, n, beta, rho0, 1.0, t).unwrap();
                let exact = gap_at(model, n, beta, rho0, t).unwrap();
                assert!(
                    (s.gap - exact).abs() <= 1e-11 * exact.max(1e-3),
                    "{model:?} n={n} beta={beta}: {} vs {exact}",
                    s.gap
                );
                assert_eq!(s.radius, 1.0);
            }
        }
    }

    #[test]
    fn weights_match_the_printed_formulas() {
        let (n, beta, rho) = (7usize, 2.5f64, 0.3f64);
        let z = beta.exp() + (n as f64 - 1.0) * (beta * rho).exp();
        let (a, b, _) = weights(ModelKind::Sa, n, beta, 1.0 - rho);
        assert!((a - beta.exp() / z).abs() < 1e-15);
        assert!((b - (beta * rho).exp() / z).abs() < 1e-15);
        // Pre-LN rates, as printed: r' = a + b (n-1) rho, rho' = (2/r) b (1-rho)(1+(n-1) rho)
        let r = 1.7;
        let state = EquiangularState {
            gap: 1.0 - rho,
            radius: r,
        };
        let (du, dr) = rates(Normalization::PreLn, ModelKind::Sa, n, beta, state);
        let rho_dot = 2.0 / r * b * (1.0 - rho) * (1.0 + 6.0 * rho);
        assert!((-du - rho_dot).abs() < 1e-15);
        assert!((dr - (a + b * 6.0 * rho)).abs() < 1e-15);
    }

    #[test]
    fn pre_ln_decays_like_t_to_the_minus_two_and_post_ln_exponentially() {
        let (n, beta) = (16, 1.0);
        let pre = trajectory(
            Normalization::PreLn,
            ModelKind::Sa,
            n,
            beta,
            0.0,
            1.0,
            1000.0,
            100,
            STEP,
        )
        .unwrap();
        let (x, y): (Vec<f64>, Vec<f64>) = (50..=100)
            .map(|k| ((k as f64 * 10.0).ln(), pre[k].gap.ln()))
            .unzip();
        let p = fitted_slope(&x, &y);
        assert!((p + 2.0).abs() < 0.02, "Pre-LN exponent {p}");
        let post = trajectory(
            Normalization::PostLn,
            ModelKind::Sa,
            n,
            beta,
            0.0,
            1.0,
            12.0,
            120,
            STEP,
        )
        .unwrap();
        let (x, y): (Vec<f64>, Vec<f64>) = (60..=120)
            .map(|k| (k as f64 * 0.1, post[k].gap.ln()))
            .unzip();
        let q = fitted_slope(&x, &y);
        assert!((q + 2.0).abs() < 0.01, "Post-LN rate {q}");
    }

    #[test]
    fn rejects_bad_input() {
        let go = |rho0: f64, r0: f64, t: f64| {
            solve(Normalization::PreLn, ModelKind::Sa, 4, 1.0, rho0, r0, t)
        };
        assert!(go(1.0, 1.0, 1.0).is_err());
        assert!(go(-0.5, 1.0, 1.0).is_err());
        assert!(go(0.0, 0.0, 1.0).is_err());
        assert!(go(0.0, 1.0, f64::NAN).is_err());
        assert!(go(0.0, 1.0, 2e4).is_err());
        assert!(go(0.0, 1.0, 0.0).is_ok());
    }
}

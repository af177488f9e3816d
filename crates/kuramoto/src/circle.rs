//! Particle models on the circle S^1 written in angles, \[GLPR\] section 7:
//!
//! - USA (7.1): thetadot_i = -(1/n) sum_j e^{beta cos(theta_i - theta_j)} sin(theta_i - theta_j);
//! - SA: the same with 1/n replaced by 1/Z_i, Z_i = sum_k e^{beta cos(theta_i - theta_k)};
//! - Kuramoto with natural frequencies: thetadot_i = omega_i + (K/n) sum_j sin(theta_j - theta_i)
//!   (beta = 0 with K = 1 and omega = 0 is USA/SA at beta = 0);
//!
//! the Kuramoto order parameter r e^{i psi} = (1/n) sum_j e^{i theta_j}, and a fixed-step classical RK4
//! integrator in angle coordinates (angles live in R, so no projection is needed; they are not wrapped).
//!
//! SA and USA in angles are the same dynamics as the engine's `SelfAttention::sa/usa` on S^1 (tested
//! against it below); the angle form exists for the Kuramoto model with frequencies and for the
//! landscape identities thetadot = n grad E_beta of [`crate::landscape`].

use crate::error::{Result, check_finite_slice, check_non_negative, check_positive, invalid};

/// A model on the circle in angle coordinates.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CircleModel {
    /// Softmax self-attention (SA) at inverse temperature `beta`.
    Sa { beta: f64 },
    /// Unnormalised self-attention (USA), \[GLPR\] (7.1).
    Usa { beta: f64 },
    /// Kuramoto model thetadot_i = omega_i + (K/n) sum_j sin(theta_j - theta_i).
    Kuramoto {
        coupling: f64,
        frequencies: Vec<f64>,
    },
}

impl CircleModel {
    /// Checks the parameters against `n` particles (beta finite >= 0, frequencies of length n, finite K).
    pub fn validate(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(invalid("n", "need at least one particle"));
        }
        match self {
            CircleModel::Sa { beta } | CircleModel::Usa { beta } => {
                check_non_negative("beta", *beta)
            }
            CircleModel::Kuramoto {
                coupling,
                frequencies,
            } => {
                if !coupling.is_finite() {
                    return Err(invalid(
                        "coupling",
                        format!("must be finite, got {coupling}"),
                    ));
                }
                if frequencies.len() != n {
                    return Err(invalid(
                        "frequencies",
                        format!(
                            "need one frequency per particle ({n}), got {}",
                            frequencies.len()
                        ),
                    ));
                }
                check_finite_slice("frequencies", frequencies)
            }
        }
    }

    /// Velocity thetadot of the model at `theta`, written into `out` (same length).
    pub fn velocity(&self, theta: &[f64], out: &mut [f64]) -> Result<()> {
        let n = theta.len();
        self.validate(n)?;
        check_finite_slice("theta", theta)?;
        if out.len() != n {
            return Err(invalid("out", format!("length {} != n = {n}", out.len())));
        }
        match self {
            CircleModel::Sa { beta } => {
                for i in 0..n {
                    // weights e^{beta (cos - 1)}: the common factor e^{beta} cancels in 1/Z_i.
                    let (mut num, mut z) = (0.0, 0.0);
                    for j in 0..n {
                        let a = theta[i] - theta[j];
                        let w = (beta * (a.cos() - 1.0)).exp();
                        num += w * a.sin();
                        z += w;
                    }
                    out[i] = -num / z;
                }
            }
            CircleModel::Usa { beta } => {
                for i in 0..n {
                    let mut num = 0.0;
                    for j in 0..n {
                        let a = theta[i] - theta[j];
                        num += (beta * a.cos()).exp() * a.sin();
                    }
                    out[i] = -num / n as f64;
                }
            }
            CircleModel::Kuramoto {
                coupling,
                frequencies,
            } => {
                for i in 0..n {
                    let s: f64 = (0..n).map(|j| (theta[j] - theta[i]).sin()).sum();
                    out[i] = frequencies[i] + coupling * s / n as f64;
                }
            }
        }
        if out.iter().any(|v| !v.is_finite()) {
            return Err(crate::error::KuramotoError::NonFinite {
                what: "circle velocity (beta too large for USA?)",
            });
        }
        Ok(())
    }
}

/// Kuramoto order parameter r e^{i psi} = (1/n) sum_j e^{i theta_j}.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderParameter {
    /// Modulus r in [0, 1]; r = 1 iff all angles coincide mod 2 pi.
    pub r: f64,
    /// Phase psi in (-pi, pi] (0 when r = 0).
    pub psi: f64,
}

/// The order parameter of the angles `theta` (n >= 1).
pub fn order_parameter(theta: &[f64]) -> Result<OrderParameter> {
    if theta.is_empty() {
        return Err(invalid("theta", "need at least one angle"));
    }
    check_finite_slice("theta", theta)?;
    let n = theta.len() as f64;
    let c: f64 = theta.iter().map(|t| t.cos()).sum::<f64>() / n;
    let s: f64 = theta.iter().map(|t| t.sin()).sum::<f64>() / n;
    let r = c.hypot(s);
    Ok(OrderParameter {
        r,
        psi: if r > 0.0 { s.atan2(c) } else { 0.0 },
    })
}

/// Wraps an angle into (-pi, pi].
pub fn wrap_angle(a: f64) -> f64 {
    let two_pi = 2.0 * std::f64::consts::PI;
    let mut w = a.rem_euclid(two_pi); // [0, 2 pi)
    if w > std::f64::consts::PI {
        w -= two_pi;
    }
    w
}

/// One classical RK4 step of size `h` for the angle ODE (in place).
pub fn rk4_step(model: &CircleModel, theta: &mut [f64], h: f64) -> Result<()> {
    let n = theta.len();
    let mut k1 = vec![0.0; n];
    let mut k2 = vec![0.0; n];
    let mut k3 = vec![0.0; n];
    let mut k4 = vec![0.0; n];
    let mut tmp = vec![0.0; n];
    model.velocity(theta, &mut k1)?;
    for i in 0..n {
        tmp[i] = theta[i] + 0.5 * h * k1[i];
    }
    model.velocity(&tmp, &mut k2)?;
    for i in 0..n {
        tmp[i] = theta[i] + 0.5 * h * k2[i];
    }
    model.velocity(&tmp, &mut k3)?;
    for i in 0..n {
        tmp[i] = theta[i] + h * k3[i];
    }
    model.velocity(&tmp, &mut k4)?;
    for i in 0..n {
        theta[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    }
    Ok(())
}

/// Integrates the angle ODE from `theta0` over [0, t_end] with fixed-step RK4 of step at most `h_max`
/// (the step is h = t_end / ceil(t_end / h_max)). Returns the angles at t_end (not wrapped).
pub fn integrate(model: &CircleModel, theta0: &[f64], t_end: f64, h_max: f64) -> Result<Vec<f64>> {
    model.validate(theta0.len())?;
    check_finite_slice("theta0", theta0)?;
    check_non_negative("t_end", t_end)?;
    check_positive("h_max", h_max)?;
    let mut theta = theta0.to_vec();
    if t_end == 0.0 {
        return Ok(theta);
    }
    let steps = (t_end / h_max).ceil().max(1.0) as usize;
    let h = t_end / steps as f64;
    for _ in 0..steps {
        rk4_step(model, &mut theta, h)?;
    }
    Ok(theta)
}

/// Integrates and records the angles at each time of `times` (non-decreasing, >= 0), RK4 with step at
/// most `h_max` between consecutive record times. Row k of the result is `theta(times[k])`.
pub fn trajectory(
    model: &CircleModel,
    theta0: &[f64],
    times: &[f64],
    h_max: f64,
) -> Result<Vec<Vec<f64>>> {
    check_finite_slice("times", times)?;
    if times.windows(2).any(|w| w[1] < w[0]) || times.first().is_some_and(|&t| t < 0.0) {
        return Err(invalid("times", "must be non-negative and non-decreasing"));
    }
    let mut out = Vec::with_capacity(times.len());
    let (mut t, mut theta) = (0.0, theta0.to_vec());
    for &tk in times {
        theta = integrate(model, &theta, tk - t, h_max)?;
        t = tk;
        out.push(theta.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn rejects_bad_input() {
        let mut out = vec![0.0; 2];
        assert!(
            CircleModel::Sa { beta: f64::NAN }
                .velocity(&[0.0, 1.0], &mut out)
                .is_err()
        );
        assert!(
            CircleModel::Usa { beta: -1.0 }
                .velocity(&[0.0, 1.0], &mut out)
                .is_err()
        );
        let k = CircleModel::Kuramoto {
            coupling: 1.0,
            frequencies: vec![0.0],
        };
        assert!(k.velocity(&[0.0, 1.0], &mut out).is_err());
        assert!(order_parameter(&[]).is_err());
        assert!(integrate(&CircleModel::Sa { beta: 1.0 }, &[0.0, 1.0], 1.0, 0.0).is_err());
        assert!(
            integrate(
                &CircleModel::Sa { beta: 1.0 },
                &[0.0, f64::INFINITY],
                1.0,
                0.1
            )
            .is_err()
        );
    }

    #[test]
    fn order_parameter_values() {
        let op = order_parameter(&[0.3, 0.3, 0.3]).unwrap();
        assert!((op.r - 1.0).abs() < 1e-15 && (op.psi - 0.3).abs() < 1e-15);
        let op = order_parameter(&[0.0, PI / 2.0, PI, 3.0 * PI / 2.0]).unwrap();
        assert!(op.r < 1e-15);
        let op = order_parameter(&[0.0, PI / 2.0]).unwrap();
        assert!((op.r - 0.5f64.sqrt()).abs() < 1e-15 && (op.psi - PI / 4.0).abs() < 1e-15);
    }

    #[test]
    fn two_particle_beta_zero_closed_form() {
        // beta = 0, n = 2: the gap a = theta_1 - theta_2 obeys adot = -sin a (both SA and USA),
        // so tan(a(t)/2) = tan(a0/2) e^{-t}.
        let a0: f64 = 2.0;
        for model in [
            CircleModel::Sa { beta: 0.0 },
            CircleModel::Usa { beta: 0.0 },
        ] {
            let th = integrate(&model, &[a0, 0.0], 3.0, 1e-3).unwrap();
            let a = th[0] - th[1];
            let expected = 2.0 * ((a0 / 2.0).tan() * (-3.0f64).exp()).atan();
            assert!((a - expected).abs() < 1e-11, "{a} vs {expected}");
            // the mean angle is conserved by symmetry
            assert!((th[0] + th[1] - a0).abs() < 1e-12);
        }
    }

    #[test]
    fn kuramoto_two_oscillators_phase_locking() {
        // Two oscillators: adot = (w1 - w2) - K sin a locks at sin a* = (w1 - w2)/K when |w1 - w2| < K.
        let model = CircleModel::Kuramoto {
            coupling: 2.0,
            frequencies: vec![0.5, -0.5],
        };
        let th = integrate(&model, &[0.0, 0.0], 40.0, 1e-2).unwrap();
        let a = th[0] - th[1];
        assert!((a.sin() - 0.5).abs() < 1e-9 && a.cos() > 0.0, "a = {a}");
        // K = 0: free rotation theta_i = omega_i t exactly.
        let free = CircleModel::Kuramoto {
            coupling: 0.0,
            frequencies: vec![0.25, -1.0],
        };
        let th = integrate(&free, &[0.1, 0.2], 2.0, 0.1).unwrap();
        assert!((th[0] - 0.6).abs() < 1e-13 && (th[1] + 1.8).abs() < 1e-13);
    }

    #[test]
    fn kuramoto_identical_equals_usa_beta_zero() {
        let theta = [0.1, 1.7, -2.2, 3.0];
        let mut a = [0.0; 4];
        let mut b = [0.0; 4];
        CircleModel::Usa { beta: 0.0 }
            .velocity(&theta, &mut a)
            .unwrap();
        CircleModel::Kuramoto {
            coupling: 1.0,
            frequencies: vec![0.0; 4],
        }
        .velocity(&theta, &mut b)
        .unwrap();
        for i in 0..4 {
            assert!((a[i] - b[i]).abs() < 1e-15);
        }
    }

    #[test]
    fn angle_rk4_matches_engine_on_the_circle() {
        // SA and USA in angles are the engine's SelfAttention::sa/usa on S^1 (d = 2).
        use attnflow_dynamics::{Configuration, Integrator, Rk4, SelfAttention, VectorField};
        let theta0 = [0.3, 1.9, -2.4, 2.8, -0.7];
        for (model, field) in [
            (
                CircleModel::Sa { beta: 2.0 },
                SelfAttention::sa(2.0).unwrap(),
            ),
            (
                CircleModel::Usa { beta: 2.0 },
                SelfAttention::usa(2.0).unwrap(),
            ),
        ] {
            let th = integrate(&model, &theta0, 2.0, 1e-3).unwrap();
            let mut x = Configuration::from_angles(&theta0).unwrap().into_vec();
            let mut rk4 = Rk4::default();
            for _ in 0..2000 {
                rk4.step(&field as &dyn VectorField, &mut x, 5, 2, 1e-3)
                    .unwrap();
            }
            for i in 0..5 {
                let a = x[2 * i + 1].atan2(x[2 * i]);
                assert!(
                    wrap_angle(a - th[i]).abs() < 1e-10,
                    "{model:?} particle {i}: {a} vs {}",
                    th[i]
                );
            }
        }
    }

    #[test]
    fn wrap_angle_range() {
        assert!((wrap_angle(3.0 * PI) - PI).abs() < 1e-12);
        assert!((wrap_angle(-PI) - PI).abs() < 1e-12);
        assert!((wrap_angle(0.5 - 4.0 * PI) - 0.5).abs() < 1e-12);
    }
}

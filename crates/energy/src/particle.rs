//! Interaction energy of particle configurations and its gradient-flow identities (\[GLPR\] section 3):
//!
//! * measure form (3.5) for weighted points: E_beta\[mu\] = (1/(2 beta)) sum_ij w_i w_j e^{beta <x_i, x_j>}
//!   (w_i = 1/n gives the particle form E_beta(X) = (1/(2 beta n^2)) sum_ij e^{beta <x_i, x_j>});
//! * spherical gradient in the product metric of (S^{d-1})^n:
//!   grad_i E_beta(X) = P_{x_i}( (1/n^2) sum_j e^{beta <x_i, x_j>} x_j ), so USA is Xdot = n grad E (3.11);
//! * chain rule dE/dt = sum_i <grad_i E, xdot_i> for any tangent velocity, and the predicted rates
//!   USA: dE/dt = (1/n) sum_i ||xdot_i||^2 (Lemma 3.6/3.7), SA: dE/dt = (1/n^2) sum_i Z_i ||xdot_i||^2,
//!   Z_i = sum_j e^{beta <x_i, x_j>};
//! * section 3.4: for a d x d matrix B, E_B(X) = (1/(2 beta)) sum_ij e^{beta x_i^T B x_j}, with spherical gradient
//!   grad_i E_B = P_{x_i}( (1/2) sum_j [e^{beta x_i^T B x_j} B x_j + e^{beta x_j^T B x_i} B^T x_j] ); if B = V is
//!   symmetric, SA with (Q^T K = V, V) is xdot_i = Z_i^{-1} grad_i E_V, Z_i = sum_j e^{beta <V x_i, x_j>}
//!   (gradient flow in the metric <a, b>_X = sum_i Z_i <a_i, b_i>).
//!
//! Configurations are row-major `n x d` slices (`x[i * d + k]`); rows are expected on the unit sphere.
//! All sums run in index order (deterministic).

use crate::error::{EnergyError, Result, check_nonneg, check_points, check_positive};

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

/// Replaces `v` by its projection P_x v = v - <x, v> x onto the tangent space at x.
fn project_tangent(x: &[f64], v: &mut [f64]) {
    let c = dot(x, v);
    for (vk, xk) in v.iter_mut().zip(x) {
        *vk -= c * xk;
    }
}

fn check_out(out: &[f64], n: usize, d: usize) -> Result<()> {
    if out.len() != n * d {
        return Err(EnergyError::ShapeMismatch(format!(
            "output has length {} but n * d = {}",
            out.len(),
            n * d
        )));
    }
    Ok(())
}

fn check_velocity(xdot: &[f64], n: usize, d: usize) -> Result<()> {
    if xdot.len() != n * d {
        return Err(EnergyError::ShapeMismatch(format!(
            "velocity has length {} but n * d = {}",
            xdot.len(),
            n * d
        )));
    }
    if let Some(v) = xdot.iter().find(|v| !v.is_finite()) {
        return Err(EnergyError::InvalidParameter {
            name: "xdot",
            value: *v,
            requirement: "finite",
        });
    }
    Ok(())
}

fn check_matrix(b: &[f64], d: usize) -> Result<()> {
    if b.len() != d * d {
        return Err(EnergyError::ShapeMismatch(format!(
            "matrix has length {} but d * d = {}",
            b.len(),
            d * d
        )));
    }
    if let Some(v) = b.iter().find(|v| !v.is_finite()) {
        return Err(EnergyError::InvalidParameter {
            name: "matrix entry",
            value: *v,
            requirement: "finite",
        });
    }
    Ok(())
}

/// Measure-form energy (3.5) of mu = sum_i w_i delta_{x_i}: (1/(2 beta)) sum_ij w_i w_j e^{beta <x_i, x_j>}.
/// Weights must be >= 0 and sum to 1 (within 1e-12); beta > 0.
pub fn measure_energy(x: &[f64], weights: &[f64], n: usize, d: usize, beta: f64) -> Result<f64> {
    check_points(x, n, d)?;
    check_positive("beta", beta)?;
    if weights.len() != n {
        return Err(EnergyError::ShapeMismatch(format!(
            "{} weights for {} points",
            weights.len(),
            n
        )));
    }
    for &w in weights {
        check_nonneg("weight", w)?;
    }
    let total: f64 = weights.iter().sum();
    if (total - 1.0).abs() > 1e-12 {
        return Err(EnergyError::InvalidParameter {
            name: "sum of weights",
            value: total,
            requirement: "equal to 1",
        });
    }
    let mut sum = 0.0;
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..n {
            sum += weights[i] * weights[j] * (beta * dot(xi, &x[j * d..(j + 1) * d])).exp();
        }
    }
    Ok(sum / (2.0 * beta))
}

/// Particle energy E_beta(X) = (1/(2 beta n^2)) sum_ij e^{beta <x_i, x_j>} (the uniform-weight measure form;
/// the same observable as `attnflow_dynamics::observables::energy`).
pub fn particle_energy(x: &[f64], n: usize, d: usize, beta: f64) -> Result<f64> {
    check_points(x, n, d)?;
    let weights = vec![1.0 / n as f64; n];
    measure_energy(x, &weights, n, d, beta)
}

/// Euclidean gradient of E_beta(X) with respect to x_i: (1/n^2) sum_j e^{beta <x_i, x_j>} x_j (written to `out`).
fn euclidean_energy_gradient(x: &[f64], n: usize, d: usize, beta: f64, out: &mut [f64]) {
    let scale = 1.0 / (n as f64 * n as f64);
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        let mut acc = vec![0.0; d];
        for j in 0..n {
            let xj = &x[j * d..(j + 1) * d];
            let a = (beta * dot(xi, xj)).exp();
            for k in 0..d {
                acc[k] += a * xj[k];
            }
        }
        for k in 0..d {
            out[i * d + k] = scale * acc[k];
        }
    }
}

/// Spherical gradient of E_beta in the product metric: out_i = P_{x_i}((1/n^2) sum_j e^{beta<x_i,x_j>} x_j).
/// Defined for beta >= 0 (the 1/(2 beta) prefactor cancels against the derivative of the exponent).
pub fn energy_gradient(x: &[f64], n: usize, d: usize, beta: f64, out: &mut [f64]) -> Result<()> {
    check_points(x, n, d)?;
    check_nonneg("beta", beta)?;
    check_out(out, n, d)?;
    euclidean_energy_gradient(x, n, d, beta, out);
    for i in 0..n {
        project_tangent(&x[i * d..(i + 1) * d], &mut out[i * d..(i + 1) * d]);
    }
    Ok(())
}

/// Chain rule: dE_beta/dt = sum_i <nabla_i E, xdot_i> along any velocity field xdot (n x d).
pub fn energy_rate(x: &[f64], n: usize, d: usize, beta: f64, xdot: &[f64]) -> Result<f64> {
    check_points(x, n, d)?;
    check_nonneg("beta", beta)?;
    check_velocity(xdot, n, d)?;
    let mut grad = vec![0.0; n * d];
    euclidean_energy_gradient(x, n, d, beta, &mut grad);
    Ok(dot(&grad, xdot))
}

/// Predicted USA rate (Lemma 3.6/3.7): dE/dt = (1/n) sum_i ||xdot_i||^2.
pub fn usa_energy_rate(xdot: &[f64], n: usize, d: usize) -> Result<f64> {
    crate::error::check_n(n)?;
    check_velocity(xdot, n, d)?;
    Ok(dot(xdot, xdot) / n as f64)
}

/// Normalisers Z_i = sum_j e^{beta <x_i, x_j>} of SA.
pub fn partition_functions(x: &[f64], n: usize, d: usize, beta: f64) -> Result<Vec<f64>> {
    check_points(x, n, d)?;
    check_nonneg("beta", beta)?;
    Ok((0..n)
        .map(|i| {
            let xi = &x[i * d..(i + 1) * d];
            (0..n)
                .map(|j| (beta * dot(xi, &x[j * d..(j + 1) * d])).exp())
                .sum()
        })
        .collect())
}

/// Predicted SA rate ((3.6), particle form): dE/dt = (1/n^2) sum_i Z_i ||xdot_i||^2.
pub fn sa_energy_rate(x: &[f64], n: usize, d: usize, beta: f64, xdot: &[f64]) -> Result<f64> {
    check_velocity(xdot, n, d)?;
    let z = partition_functions(x, n, d, beta)?;
    let sum: f64 = (0..n)
        .map(|i| {
            let v = &xdot[i * d..(i + 1) * d];
            z[i] * dot(v, v)
        })
        .sum();
    Ok(sum / (n as f64 * n as f64))
}

/// Lemma 3.7 evaluated from the configuration alone: int ||grad(G_beta * mu)||^2 dmu with G_beta(t) = e^{beta t}/beta
/// and mu the empirical measure, i.e. (1/n) sum_i ||P_{x_i}((1/n) sum_j e^{beta <x_i,x_j>} x_j)||^2.
pub fn usa_energy_rate_mean_field(x: &[f64], n: usize, d: usize, beta: f64) -> Result<f64> {
    let mut grad = vec![0.0; n * d];
    energy_gradient(x, n, d, beta, &mut grad)?;
    // n grad_i E = P_{x_i}((1/n) sum_j ...).
    let nf = n as f64;
    Ok(nf * nf * dot(&grad, &grad) / nf)
}

/// Section 3.4 energy for a d x d matrix B (row-major): E_B(X) = (1/(2 beta)) sum_ij e^{beta x_i^T B x_j}, beta > 0.
pub fn bilinear_energy(x: &[f64], n: usize, d: usize, beta: f64, b: &[f64]) -> Result<f64> {
    check_points(x, n, d)?;
    check_positive("beta", beta)?;
    check_matrix(b, d)?;
    let bx = apply_rows(b, x, n, d);
    let mut sum = 0.0;
    for i in 0..n {
        for j in 0..n {
            // x_i^T B x_j = <x_i, B x_j>
            sum += (beta * dot(&x[i * d..(i + 1) * d], &bx[j * d..(j + 1) * d])).exp();
        }
    }
    Ok(sum / (2.0 * beta))
}

/// Rows of M x_j for j = 1..n (row-major n x d result).
fn apply_rows(m: &[f64], x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * d];
    for j in 0..n {
        let xj = &x[j * d..(j + 1) * d];
        for r in 0..d {
            out[j * d + r] = dot(&m[r * d..(r + 1) * d], xj);
        }
    }
    out
}

/// Spherical gradient of E_B: out_i = P_{x_i}((1/2) sum_j [e^{beta x_i^T B x_j} B x_j + e^{beta x_j^T B x_i} B^T x_j]).
pub fn bilinear_energy_gradient(
    x: &[f64],
    n: usize,
    d: usize,
    beta: f64,
    b: &[f64],
    out: &mut [f64],
) -> Result<()> {
    check_points(x, n, d)?;
    check_nonneg("beta", beta)?;
    check_matrix(b, d)?;
    check_out(out, n, d)?;
    let bt: Vec<f64> = (0..d * d).map(|idx| b[(idx % d) * d + idx / d]).collect();
    let bx = apply_rows(b, x, n, d);
    let btx = apply_rows(&bt, x, n, d);
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        let mut acc = vec![0.0; d];
        for j in 0..n {
            let bxj = &bx[j * d..(j + 1) * d];
            let btxj = &btx[j * d..(j + 1) * d];
            let forward = (beta * dot(xi, bxj)).exp(); // e^{beta x_i^T B x_j}
            let backward = (beta * dot(xi, btxj)).exp(); // e^{beta x_j^T B x_i}
            for k in 0..d {
                acc[k] += 0.5 * (forward * bxj[k] + backward * btxj[k]);
            }
        }
        project_tangent(xi, &mut acc);
        out[i * d..(i + 1) * d].copy_from_slice(&acc);
    }
    Ok(())
}

/// Section 3.4: for symmetric V (= Q^T K), the metric-gradient velocity Z_i^{-1} grad_i E_V with
/// Z_i = sum_j e^{beta <V x_i, x_j>}; it equals the SA velocity P_{x_i}((1/Z_i) sum_j e^{beta <V x_i, x_j>} V x_j).
/// Errors if V is not symmetric (relative tolerance 1e-12).
pub fn metric_gradient_velocity(
    x: &[f64],
    n: usize,
    d: usize,
    beta: f64,
    v: &[f64],
    out: &mut [f64],
) -> Result<()> {
    check_matrix(v, d)?;
    let scale = v
        .iter()
        .fold(0.0_f64, |m, e| m.max(e.abs()))
        .max(f64::MIN_POSITIVE);
    for r in 0..d {
        for c in 0..r {
            if (v[r * d + c] - v[c * d + r]).abs() > 1e-12 * scale {
                return Err(EnergyError::InvalidParameter {
                    name: "V asymmetry",
                    value: v[r * d + c] - v[c * d + r],
                    requirement: "zero: section 3.4 needs a symmetric V = Q^T K",
                });
            }
        }
    }
    bilinear_energy_gradient(x, n, d, beta, v, out)?;
    let vx = apply_rows(v, x, n, d);
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        let z: f64 = (0..n)
            .map(|j| (beta * dot(&vx[j * d..(j + 1) * d], xi)).exp())
            .sum();
        for k in 0..d {
            out[i * d + k] /= z;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};

    /// Uniform points on S^{d-1} from a seeded Pcg64 (Box-Muller normals, then normalisation).
    pub(crate) fn random_sphere(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let mut uniform = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let mut x = vec![0.0; n * d];
        for i in 0..n {
            for k in 0..d {
                let (u1, u2) = (uniform(), uniform());
                x[i * d + k] = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            }
            let norm = dot(&x[i * d..(i + 1) * d], &x[i * d..(i + 1) * d]).sqrt();
            for k in 0..d {
                x[i * d + k] /= norm;
            }
        }
        x
    }

    /// Tangent-space velocity field for tests: projected pseudo-random vectors.
    fn random_tangent(x: &[f64], n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut v = random_sphere(n, d, seed);
        for i in 0..n {
            project_tangent(&x[i * d..(i + 1) * d], &mut v[i * d..(i + 1) * d]);
        }
        v
    }

    /// Moves every point along the great circle with initial velocity h v_i (exponential map).
    fn exp_map(x: &[f64], v: &[f64], n: usize, d: usize, h: f64) -> Vec<f64> {
        let mut y = x.to_vec();
        for i in 0..n {
            let vi = &v[i * d..(i + 1) * d];
            let speed = dot(vi, vi).sqrt();
            if speed == 0.0 {
                continue;
            }
            let (s, c) = (h * speed).sin_cos();
            for k in 0..d {
                y[i * d + k] = c * x[i * d + k] + s * vi[k] / speed;
            }
        }
        y
    }

    /// Reference SA / USA velocities with a general value matrix V and weights from B (straight from (2.3)).
    fn attention_velocity(
        x: &[f64],
        n: usize,
        d: usize,
        beta: f64,
        b: &[f64],
        v: &[f64],
        softmax: bool,
    ) -> Vec<f64> {
        let bx = apply_rows(b, x, n, d);
        let vx = apply_rows(v, x, n, d);
        let mut out = vec![0.0; n * d];
        for i in 0..n {
            let xi = &x[i * d..(i + 1) * d];
            let w: Vec<f64> = (0..n)
                .map(|j| (beta * dot(xi, &bx[j * d..(j + 1) * d])).exp())
                .collect();
            let z: f64 = if softmax { w.iter().sum() } else { n as f64 };
            let mut acc = vec![0.0; d];
            for j in 0..n {
                for k in 0..d {
                    acc[k] += w[j] / z * vx[j * d + k];
                }
            }
            project_tangent(xi, &mut acc);
            out[i * d..(i + 1) * d].copy_from_slice(&acc);
        }
        out
    }

    fn identity(d: usize) -> Vec<f64> {
        (0..d * d)
            .map(|idx| if idx % (d + 1) == 0 { 1.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn gradient_matches_finite_differences_on_the_sphere() {
        let (n, d, beta) = (7, 3, 2.5);
        let x = random_sphere(n, d, 1);
        let v = random_tangent(&x, n, d, 2);
        let mut grad = vec![0.0; n * d];
        energy_gradient(&x, n, d, beta, &mut grad).unwrap();
        let h = 1e-5;
        let fd = (particle_energy(&exp_map(&x, &v, n, d, h), n, d, beta).unwrap()
            - particle_energy(&exp_map(&x, &v, n, d, -h), n, d, beta).unwrap())
            / (2.0 * h);
        let predicted = dot(&grad, &v);
        assert!(
            (fd - predicted).abs() < 1e-9 * predicted.abs().max(1.0),
            "{fd} vs {predicted}"
        );
        assert!((energy_rate(&x, n, d, beta, &v).unwrap() - predicted).abs() < 1e-14);
    }

    #[test]
    fn usa_is_n_times_the_gradient_and_rates_match_the_chain_rule() {
        let (n, d, beta) = (9, 4, 1.7);
        let x = random_sphere(n, d, 3);
        let id = identity(d);
        let usa = attention_velocity(&x, n, d, beta, &id, &id, false);
        let sa = attention_velocity(&x, n, d, beta, &id, &id, true);
        let mut grad = vec![0.0; n * d];
        energy_gradient(&x, n, d, beta, &mut grad).unwrap();
        for (u, g) in usa.iter().zip(&grad) {
            assert!((u - n as f64 * g).abs() < 1e-14, "(3.11) USA = n grad E");
        }
        let chain = energy_rate(&x, n, d, beta, &usa).unwrap();
        let formula = usa_energy_rate(&usa, n, d).unwrap();
        let mean_field = usa_energy_rate_mean_field(&x, n, d, beta).unwrap();
        assert!(((chain - formula) / formula).abs() < 1e-13);
        assert!(((mean_field - formula) / formula).abs() < 1e-13);
        let chain_sa = energy_rate(&x, n, d, beta, &sa).unwrap();
        let formula_sa = sa_energy_rate(&x, n, d, beta, &sa).unwrap();
        assert!(((chain_sa - formula_sa) / formula_sa).abs() < 1e-13);
        assert!(formula_sa > 0.0);
    }

    #[test]
    fn weighted_energy_reduces_to_particle_form_and_exceeds_uniform() {
        let (n, d, beta) = (5, 3, 1.2);
        let x = random_sphere(n, d, 4);
        let mut direct = 0.0;
        for i in 0..n {
            for j in 0..n {
                direct += (beta * dot(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d])).exp();
            }
        }
        direct /= 2.0 * beta * (n * n) as f64;
        let e = particle_energy(&x, n, d, beta).unwrap();
        assert!(((e - direct) / direct).abs() < 1e-15);
        // Duplicating a point = doubling its weight.
        let mut x6 = x.clone();
        x6.extend_from_slice(&x[0..d]);
        let w = [2.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0];
        let weighted = measure_energy(&x, &w, n, d, beta).unwrap();
        assert!(((weighted - particle_energy(&x6, 6, d, beta).unwrap()) / weighted).abs() < 1e-14);
        // Prop 3.4: every probability measure has energy >= that of the uniform measure, <= that of a Dirac.
        for seed in 10..15 {
            let y = random_sphere(20, d, seed);
            let ey = particle_energy(&y, 20, d, beta).unwrap();
            assert!(ey > crate::funk_hecke::energy_uniform(beta, d).unwrap());
            assert!(ey <= crate::funk_hecke::energy_dirac(beta).unwrap());
        }
    }

    #[test]
    fn section_3_4_sa_is_metric_gradient_for_symmetric_v() {
        let (n, d, beta) = (6, 3, 0.8);
        let x = random_sphere(n, d, 5);
        let v = [1.0, 0.3, -0.2, 0.3, 0.5, 0.1, -0.2, 0.1, -0.7];
        let mut metric = vec![0.0; n * d];
        metric_gradient_velocity(&x, n, d, beta, &v, &mut metric).unwrap();
        let sa = attention_velocity(&x, n, d, beta, &v, &v, true);
        for (a, b) in metric.iter().zip(&sa) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        // Gradient of E_B (general B) vs finite differences.
        let b = [0.4, -1.0, 0.2, 0.3, 0.9, 0.0, 0.5, 0.1, -0.3];
        let dir = random_tangent(&x, n, d, 6);
        let mut grad = vec![0.0; n * d];
        bilinear_energy_gradient(&x, n, d, beta, &b, &mut grad).unwrap();
        let h = 1e-5;
        let fd = (bilinear_energy(&exp_map(&x, &dir, n, d, h), n, d, beta, &b).unwrap()
            - bilinear_energy(&exp_map(&x, &dir, n, d, -h), n, d, beta, &b).unwrap())
            / (2.0 * h);
        let predicted = dot(&grad, &dir);
        assert!(
            (fd - predicted).abs() < 1e-8 * predicted.abs().max(1.0),
            "{fd} vs {predicted}"
        );
        // With B = I the section 3.4 energy is n^2 times the particle energy.
        let id = identity(d);
        let eb = bilinear_energy(&x, n, d, beta, &id).unwrap();
        assert!(
            (eb - (n * n) as f64 * particle_energy(&x, n, d, beta).unwrap()).abs() < 1e-12 * eb
        );
        // Non-symmetric V is rejected.
        assert!(metric_gradient_velocity(&x, n, d, beta, &b, &mut grad).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        let x = random_sphere(3, 2, 7);
        assert!(particle_energy(&x, 3, 2, 0.0).is_err());
        assert!(particle_energy(&x, 2, 2, 1.0).is_err());
        assert!(particle_energy(&x, 3, 1, 1.0).is_err());
        assert!(measure_energy(&x, &[0.5, 0.5, 0.5], 3, 2, 1.0).is_err());
        assert!(measure_energy(&x, &[1.5, -0.5, 0.0], 3, 2, 1.0).is_err());
        let mut out = vec![0.0; 5];
        assert!(energy_gradient(&x, 3, 2, 1.0, &mut out).is_err());
        assert!(usa_energy_rate(&[f64::NAN; 6], 3, 2).is_err());
    }
}

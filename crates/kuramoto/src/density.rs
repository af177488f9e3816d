//! Optimal density on S^1 for D = diag(d1, d2), \[BKKRW\] m5 (spec tfdy.md section 2): minimise the code-units
//! energy E_code(w) = sum_kl w_k w_l exp(x_k^T D x_l) over probability weights w on N equispaced angles
//! theta_k = -pi + 2 pi k / N by exponentiated gradient descent (mirror descent on the simplex),
//!
//!   w <- w * exp(-lr * grad) / sum(...),   grad = 2 K w,   w(0) = 1/N,
//!
//! (the authors' settings: N = 1000, lr = 0.1, 1500 steps), and its comparison, for D = diag(1, 1 + eps), with
//! three first-order descriptions of the cos 2 theta amplitude of the optimal density m = sigma (1 + A cos 2 theta):
//!
//! - Funk-Hecke linear response (derived here): stationarity int e^{<x, Dy>} dm(y) = const to first order in
//!   eps gives A = eps I_1(1) / (2 I_2(1)) (= 2.0817 eps);
//! - the authors' first-order ansatz nu* = (alpha x^T M x + const) sigma, M = diag(0, 1), alpha = -C1/C2 with
//!   C1 = (1/pi) int_0^pi e^{cos t} cos t sin t dt = 2/(e pi) (their sin^{n-1} weight at n = 2; Funk-Hecke needs
//!   sin^{n-2}, which gives I_1(1)) and C2 = I_2(1): A = eps C1 / (2 C2) = eps / (e pi I_2(1)) (= 0.8626 eps);
//! - the authors' guess m ~ exp(Upsilon(eps) cos 2 theta), Upsilon(eps) = eps^2/5 + (e/2) eps (A ~ 1.359 eps).
//!
//! Modified Bessel functions come from attnflow-energy.

use crate::error::{KuramotoError, Result, check_positive, invalid};
use std::f64::consts::{E, PI};

fn bessel_i(nu: f64, x: f64) -> Result<f64> {
    attnflow_energy::bessel::bessel_i(nu, x).map_err(|e| invalid("bessel", e.to_string()))
}

/// Result of the exponentiated-gradient minimisation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimalDensity {
    pub d1: f64,
    pub d2: f64,
    pub lr: f64,
    pub steps: usize,
    /// theta_k = -pi + 2 pi k / N.
    pub angles: Vec<f64>,
    /// Optimal probability weights (sum 1).
    pub weights: Vec<f64>,
    /// E_code(w) at the end.
    pub energy: f64,
    /// E_code of the uniform weights 1/N (the starting point).
    pub uniform_energy: f64,
    /// Energy decrease of the last step (convergence indicator, >= 0 for a descent).
    pub last_decrease: f64,
}

/// Exponentiated gradient descent for D = diag(d1, d2) on `n_angles` equispaced angles.
pub fn optimal_density_for(
    d1: f64,
    d2: f64,
    n_angles: usize,
    lr: f64,
    steps: usize,
) -> Result<OptimalDensity> {
    if !(d1.is_finite() && d2.is_finite()) {
        return Err(invalid("D", "entries must be finite"));
    }
    check_positive("lr", lr)?;
    if n_angles < 3 {
        return Err(invalid(
            "n_angles",
            format!("need at least 3 angles, got {n_angles}"),
        ));
    }
    let n = n_angles;
    let angles: Vec<f64> = (0..n)
        .map(|k| -PI + 2.0 * PI * k as f64 / n as f64)
        .collect();
    let (c, s): (Vec<f64>, Vec<f64>) = angles.iter().map(|t| (t.cos(), t.sin())).unzip();
    let mut kernel = vec![0.0; n * n];
    for k in 0..n {
        for l in 0..n {
            kernel[k * n + l] = (d1 * c[k] * c[l] + d2 * s[k] * s[l]).exp();
        }
    }
    if kernel.iter().any(|v| !v.is_finite()) {
        return Err(KuramotoError::NonFinite {
            what: "density kernel exp(x^T D y)",
        });
    }
    let apply = |w: &[f64], out: &mut [f64]| {
        for k in 0..n {
            out[k] = kernel[k * n..(k + 1) * n]
                .iter()
                .zip(w)
                .map(|(a, b)| a * b)
                .sum();
        }
    };
    let energy_of = |w: &[f64], kw: &[f64]| w.iter().zip(kw).map(|(a, b)| a * b).sum::<f64>();
    let mut w = vec![1.0 / n as f64; n];
    let mut kw = vec![0.0; n];
    apply(&w, &mut kw);
    let uniform_energy = energy_of(&w, &kw);
    let mut energy = uniform_energy;
    let mut last_decrease = 0.0;
    for _ in 0..steps {
        for k in 0..n {
            w[k] *= (-lr * 2.0 * kw[k]).exp();
        }
        let total: f64 = w.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return Err(KuramotoError::NonFinite {
                what: "exponentiated gradient weights",
            });
        }
        w.iter_mut().for_each(|v| *v /= total);
        apply(&w, &mut kw);
        let e = energy_of(&w, &kw);
        last_decrease = energy - e;
        energy = e;
    }
    Ok(OptimalDensity {
        d1,
        d2,
        lr,
        steps,
        angles,
        weights: w,
        energy,
        uniform_energy,
        last_decrease,
    })
}

/// Funk-Hecke linear-response slope dA/deps at eps = 0: I_1(1) / (2 I_2(1)).
pub fn funk_hecke_slope() -> Result<f64> {
    Ok(bessel_i(1.0, 1.0)? / (2.0 * bessel_i(2.0, 1.0)?))
}

/// Slope of the authors' first-order ansatz: C1 / (2 C2) = (2 / (e pi)) / (2 I_2(1)).
pub fn code_ansatz_slope() -> Result<f64> {
    Ok((2.0 / (E * PI)) / (2.0 * bessel_i(2.0, 1.0)?))
}

/// Upsilon(eps) = eps^2/5 + (e/2) eps of the exponential guess.
pub fn exp_guess_upsilon(eps: f64) -> f64 {
    eps * eps / 5.0 + E / 2.0 * eps
}

/// cos 2 theta amplitude A of weights w ~ (1/N)(1 + A cos 2 theta): A = 2 sum_k w_k cos 2 theta_k.
pub fn cos2_amplitude(angles: &[f64], weights: &[f64]) -> f64 {
    2.0 * angles
        .iter()
        .zip(weights)
        .map(|(t, w)| w * (2.0 * t).cos())
        .sum::<f64>()
}

/// Weights (1/N)(1 + A cos 2 theta_k).
fn linear_weights(angles: &[f64], amplitude: f64) -> Vec<f64> {
    let n = angles.len() as f64;
    angles
        .iter()
        .map(|t| (1.0 + amplitude * (2.0 * t).cos()) / n)
        .collect()
}

/// Weights proportional to exp(Upsilon cos 2 theta_k), normalised.
fn exp_weights(angles: &[f64], upsilon: f64) -> Vec<f64> {
    let v: Vec<f64> = angles
        .iter()
        .map(|t| (upsilon * (2.0 * t).cos()).exp())
        .collect();
    let s: f64 = v.iter().sum();
    v.into_iter().map(|x| x / s).collect()
}

fn l2_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Parameters of the bkkrw-fig5 study: D = diag(1, d2) for each d2.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DensityStudyParams {
    pub d2_values: Vec<f64>,
    pub n_angles: usize,
    pub lr: f64,
    pub steps: usize,
}

impl DensityStudyParams {
    /// The paper's values: d2 = linspace(0.9, 1.3, 9), N = 1000, lr = 0.1, 1500 steps.
    pub fn paper() -> Self {
        Self {
            d2_values: (0..9).map(|k| 0.9 + 0.05 * k as f64).collect(),
            n_angles: 1000,
            lr: 0.1,
            steps: 1500,
        }
    }
}

/// One eps of the study.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DensityEntry {
    /// eps = d2 - 1.
    pub eps: f64,
    pub optimum: OptimalDensity,
    /// Measured cos 2 theta amplitude of the optimum.
    pub measured_amplitude: f64,
    /// Weights of the three descriptions on the same angles.
    pub funk_hecke_weights: Vec<f64>,
    pub code_ansatz_weights: Vec<f64>,
    pub exp_guess_weights: Vec<f64>,
    /// Euclidean distances ||w_ansatz - w_opt||_2 of the weight vectors (the authors' error measure).
    pub funk_hecke_error: f64,
    pub code_ansatz_error: f64,
    pub exp_guess_error: f64,
    /// ||w_opt - 1/N||_2, the size of the deviation from uniform (scale for the errors).
    pub deviation_from_uniform: f64,
}

/// Result of the study, with the three slopes dA/deps at eps = 0.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DensityStudy {
    pub params: DensityStudyParams,
    pub entries: Vec<DensityEntry>,
    pub funk_hecke_slope: f64,
    pub code_ansatz_slope: f64,
    pub exp_guess_slope: f64,
    /// Measured slope: least-squares fit A = slope * eps + curvature * eps^2 over the entries with eps != 0.
    pub measured_slope: f64,
}

/// Runs the optimal-density study (bkkrw-fig5).
pub fn optimal_density_study(p: &DensityStudyParams) -> Result<DensityStudy> {
    crate::error::check_finite_slice("d2_values", &p.d2_values)?;
    let fh = funk_hecke_slope()?;
    let code = code_ansatz_slope()?;
    let mut entries = Vec::with_capacity(p.d2_values.len());
    for &d2 in &p.d2_values {
        let eps = d2 - 1.0;
        let opt = optimal_density_for(1.0, d2, p.n_angles, p.lr, p.steps)?;
        let a = &opt.angles;
        let fhw = linear_weights(a, fh * eps);
        let cw = linear_weights(a, code * eps);
        let ew = exp_weights(a, exp_guess_upsilon(eps));
        let uniform = vec![1.0 / p.n_angles as f64; p.n_angles];
        entries.push(DensityEntry {
            eps,
            measured_amplitude: cos2_amplitude(a, &opt.weights),
            funk_hecke_error: l2_distance(&fhw, &opt.weights),
            code_ansatz_error: l2_distance(&cw, &opt.weights),
            exp_guess_error: l2_distance(&ew, &opt.weights),
            deviation_from_uniform: l2_distance(&uniform, &opt.weights),
            funk_hecke_weights: fhw,
            code_ansatz_weights: cw,
            exp_guess_weights: ew,
            optimum: opt,
        });
    }
    // least squares for A(eps) = s eps + c eps^2
    let (mut s11, mut s12, mut s22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for e in entries.iter().filter(|e| e.eps.abs() > 1e-12) {
        let (x, y) = (e.eps, e.measured_amplitude);
        s11 += x * x;
        s12 += x * x * x;
        s22 += x * x * x * x;
        b1 += x * y;
        b2 += x * x * y;
    }
    let det = s11 * s22 - s12 * s12;
    let measured_slope = if det.abs() > 1e-300 {
        (b1 * s22 - b2 * s12) / det
    } else {
        b1 / s11
    };
    Ok(DensityStudy {
        params: p.clone(),
        entries,
        funk_hecke_slope: fh,
        code_ansatz_slope: code,
        exp_guess_slope: E / 2.0,
        measured_slope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_input() {
        assert!(optimal_density_for(1.0, f64::NAN, 100, 0.1, 10).is_err());
        assert!(optimal_density_for(1.0, 1.0, 2, 0.1, 10).is_err());
        assert!(optimal_density_for(1.0, 1.0, 100, 0.0, 10).is_err());
    }

    #[test]
    fn slopes_closed_form() {
        // I_1(1) = 0.5651591039924851, I_2(1) = 0.1357476697670383
        let fh = funk_hecke_slope().unwrap();
        assert!((fh - 0.5651591039924851 / (2.0 * 0.1357476697670383)).abs() < 1e-12);
        let code = code_ansatz_slope().unwrap();
        assert!((code - 2.0 / (E * PI) / (2.0 * 0.1357476697670383)).abs() < 1e-12);
    }

    #[test]
    fn isotropic_optimum_is_uniform_and_energy_decreases() {
        let opt = optimal_density_for(1.0, 1.0, 64, 0.1, 200).unwrap();
        for w in &opt.weights {
            assert!((w - 1.0 / 64.0).abs() < 1e-14);
        }
        let opt = optimal_density_for(1.0, 1.2, 64, 0.1, 1500).unwrap();
        assert!(opt.energy < opt.uniform_energy);
        // still descending (slow cos 4 theta mode, rate ~ 2 lr I_4(1)), but by < 1e-10 per step
        assert!(
            opt.last_decrease > -1e-15 && opt.last_decrease < 1e-10,
            "{}",
            opt.last_decrease
        );
        assert!((opt.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn small_eps_amplitude_follows_funk_hecke_linear_response() {
        // A(eps)/eps -> I_1(1)/(2 I_2(1)) as eps -> 0; the quadratic fit over +-0.02 removes the eps^2 term.
        let p = DensityStudyParams {
            d2_values: vec![0.98, 0.99, 1.01, 1.02],
            n_angles: 128,
            lr: 0.1,
            steps: 1500,
        };
        let st = optimal_density_study(&p).unwrap();
        assert!(
            (st.measured_slope - st.funk_hecke_slope).abs() < 1e-3 * st.funk_hecke_slope,
            "{}",
            st.measured_slope
        );
        for e in &st.entries {
            assert!(
                e.funk_hecke_error < e.code_ansatz_error && e.funk_hecke_error < e.exp_guess_error
            );
        }
    }
}

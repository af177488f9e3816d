//! Checks of the mean-field PDE of USA on S^1 (Bruno, Pasqualotto, Agazzi, arXiv 2410.23228;
//! `attnflow_kuramoto::meanfield`):
//!
//! ```text
//! d_t rho + d_th(rho (W' * rho)) = 0,   W'(u) = -e^{beta cos u} sin u,
//! lambda_k = k^2 I_k(beta) / beta  (growth rate of mode k at rho = 1/(2 pi)),   k_max = argmax_k lambda_k.
//! ```
//!
//! `meanfield-modes`: measured growth rates of the PDE against lambda_k (linear regime, noise 1e-7 per grid
//! point, every mode k <= 12), the fitted rate of k_max from the authors' noisy start (noise 0.01), and the
//! measured fastest mode over a beta sweep. `meanfield-pde`: grid convergence of the two solvers (observed
//! orders) and mass conservation / positivity.

use crate::error::Result;
use crate::registry::{Check, Fidelity, Measurement};
use crate::support::{SUITE_SEED, num};
use attnflow_dynamics::ModelKind;
use attnflow_kuramoto::meanfield::{
    MeanField, Scheme, convergence, fastest_mode, fitted_rate, linear_window, mass,
    measured_mode_selection, mode_amplitudes, noisy_uniform, observed_orders,
};
use std::f64::consts::PI;

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "meanfield-modes",
            source: "Bruno-Pasqualotto-Agazzi, arXiv 2410.23228 (linearisation at the uniform density)",
            hypotheses: "USA mean-field PDE on S^1, rho_0 = 1/(2 pi) + noise per grid point, beta in [1, 30]",
            claim: "mode k grows at k^2 I_k(beta) / beta; the fastest mode k_max = argmax appears first (k_max ~ sqrt(2 beta))",
            run: modes,
        },
        Check {
            id: "meanfield-pde",
            source: "the mean-field PDE of arXiv 2410.23228; numerical analysis of the two solvers",
            hypotheses: "USA, beta = 2, smooth data (convergence); beta = 5, noisy uniform data (mass, positivity)",
            claim: "spectral solver: exponential convergence; MUSCL-minmod finite volumes: order 2; both conserve mass to round-off, FV keeps rho >= 0",
            run: pde,
        },
    ]
}

const KEY: u64 = 0x2410_2322;
/// Largest accepted |measured - predicted| / lambda_{k_max} of the linear-regime rates.
const LINEAR_TOL: f64 = 1e-4;
/// Largest accepted relative error of the fitted k_max rate from the authors' noisy start.
const FIT_TOL: f64 = 0.1;

fn modes(fidelity: Fidelity) -> Result<Measurement> {
    let betas = fidelity.pick(
        vec![1.0, 5.0, 7.0, 15.0, 30.0],
        vec![
            0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
        ],
    );
    let mut rows = Vec::new();
    let mut passed = true;
    let mut worst_linear: f64 = 0.0;
    for (i, &beta) in betas.iter().enumerate() {
        let field = MeanField::new(ModelKind::Usa, beta, 0.0)?;
        let predicted = fastest_mode(beta, 2)?;
        let (rates, measured) =
            measured_mode_selection(&field, 128, 1e-7, 16, SUITE_SEED ^ KEY, i as u64)?;
        let top = field.linear_rate(predicted)?;
        for (k, r) in rates.iter().enumerate() {
            worst_linear = worst_linear.max((r - field.linear_rate(k + 1)?).abs() / top);
        }
        passed &= measured == predicted;
        rows.push(format!(
            "beta = {beta}: k_max {measured} (predicted {predicted})"
        ));
    }
    passed &= worst_linear <= LINEAR_TOL;
    // the authors' set-ups: noise 0.01 per grid point, fitted slope of ln |rho_hat_kmax| below 1/4 of saturation
    let grid = fidelity.pick(256, 1024);
    let mut fits = Vec::new();
    for (i, (beta, t_end)) in [(5.0, 0.6), (7.0, 0.1)].into_iter().enumerate() {
        let field = MeanField::new(ModelKind::Usa, beta, 0.0)?;
        let k = fastest_mode(beta, 2)?;
        let times: Vec<f64> = (0..=60).map(|j| t_end * j as f64 / 60.0).collect();
        let rho0 = noisy_uniform(grid, 0.01, SUITE_SEED ^ KEY, 100 + i as u64);
        let run = field.solve(Scheme::Spectral, &rho0, &times, 1e-3)?;
        let amps = mode_amplitudes(&run.rho, 2 * k + 2);
        let predicted = field.linear_rate(k)?;
        let end = linear_window(&amps, 0.1 / (2.0 * PI));
        let fit = fitted_rate(&times, &amps[k - 1], end);
        let ok = fit.is_some_and(|f| (f / predicted - 1.0).abs() <= FIT_TOL);
        passed &= ok;
        fits.push(format!(
            "beta = {beta}, k_max = {k}: fitted {} vs lambda = {}",
            fit.map_or_else(|| "none".into(), num),
            num(predicted)
        ));
    }
    Ok(Measurement {
        predicted: format!(
            "k_max = argmax_k k^2 I_k(beta): {}; lambda_k = k^2 I_k(beta) / beta",
            betas
                .iter()
                .map(|&b| Ok(format!("{b}: {}", fastest_mode(b, 2)?)))
                .collect::<Result<Vec<_>>>()?
                .join(", ")
        ),
        measured: format!(
            "{}; max |rate - lambda_k| / lambda_kmax (k <= 16) = {:.1e}; {}",
            rows.join(", "),
            worst_linear,
            fits.join("; ")
        ),
        tolerance: format!(
            "measured k_max exact; linear rates within {LINEAR_TOL:e} of lambda_kmax; fitted k_max rate from the 0.01 noise within {:.0} %",
            100.0 * FIT_TOL
        ),
        method: format!(
            "pseudo-spectral RK4 solver (2/3 dealiasing, dt <= lambda_kmax^-1 / 25); linear rates ln(|rho_hat_k(t1)| / |rho_hat_k(0)|) / t1, \
             t1 = 2 / lambda_kmax, 128 points, noise 1e-7; fitted rates: {grid} points, 61 samples on [0, T], least squares of ln |rho_hat_k| \
             until any mode k <= 2 k_max + 2 reaches 0.1 / (2 pi)"
        ),
        passed,
        trend_only: false,
        note: Some(
            "The authors integrate the PDE by Lax-Friedrichs on 1e4 points; here our spectral solver. Particle growth rates \
             are shown in the meanfield-modes figure (finite-N fluctuations, not part of this check)."
                .into(),
        ),
    })
}

fn pde(fidelity: Fidelity) -> Result<Measurement> {
    let smooth = |t: f64| (1.0 + 0.3 * t.cos() + 0.2 * (2.0 * t + 1.0).sin()) / (2.0 * PI);
    let field = MeanField::new(ModelKind::Usa, 2.0, 0.0)?;
    let fv_grids = fidelity.pick(vec![64, 128, 256], vec![64, 128, 256, 512, 1024]);
    let sp = convergence(
        &field,
        Scheme::Spectral,
        &smooth,
        &[16, 32, 64],
        0.3,
        1e-3,
        256,
    )?;
    let fv = convergence(
        &field,
        Scheme::FiniteVolume,
        &smooth,
        &fv_grids,
        0.3,
        1e-3,
        256,
    )?;
    let orders = observed_orders(&fv);
    let noisy = MeanField::new(ModelKind::Usa, 5.0, 0.0)?;
    let rho0 = noisy_uniform(fidelity.pick(256, 1024), 0.01, SUITE_SEED ^ KEY, 7);
    let times: Vec<f64> = (1..=12).map(|j| 0.05 * j as f64).collect();
    let m0 = mass(&rho0);
    let mut drift: f64 = 0.0;
    let mut fv_min = f64::INFINITY;
    for scheme in [Scheme::Spectral, Scheme::FiniteVolume] {
        let run = noisy.solve(scheme, &rho0, &times, 1e-3)?;
        for r in &run.rho {
            drift = drift.max((mass(r) - m0).abs());
        }
        if scheme == Scheme::FiniteVolume {
            fv_min = run.min_rho;
        }
    }
    let passed = sp[2].l1_error < 1e-10
        && sp[0].l1_error > 1e3 * sp[2].l1_error
        && orders.iter().all(|&p| (1.6..=2.6).contains(&p))
        && drift < 1e-13
        && fv_min >= 0.0;
    let errs = |v: &[attnflow_kuramoto::meanfield::ConvergencePoint]| {
        v.iter()
            .map(|c| format!("{}: {:.2e}", c.m, c.l1_error))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(Measurement {
        predicted: "spectral: error decays faster than any power of 1/m; FV: order 2; mass drift round-off; FV rho >= 0".into(),
        measured: format!(
            "spectral L1 errors {}; FV L1 errors {}, orders {}; max mass drift {drift:.1e}; FV min rho {}",
            errs(&sp),
            errs(&fv),
            orders.iter().map(|o| format!("{o:.2}")).collect::<Vec<_>>().join(", "),
            num(fv_min)
        ),
        tolerance: "spectral error at m = 64 < 1e-10 and 1e3 below m = 16; FV orders in [1.6, 2.6]; drift < 1e-13; FV min >= 0".into(),
        method: "beta = 2, T = 0.3, dt <= 1e-3, reference: spectral on 256 points (trigonometric interpolation); mass and positivity: \
                 beta = 5, noise 0.01, t <= 0.6 (clusters formed)"
            .into(),
        passed,
        trend_only: false,
        note: None,
    })
}

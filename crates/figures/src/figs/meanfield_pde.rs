//! `meanfield-pde`: the mean-field PDE of USA on S^1, d_t rho + d_th(rho (W' * rho)) = 0 with
//! W'(u) = -e^{beta cos u} sin u (Bruno, Pasqualotto, Agazzi, arXiv 2410.23228; `attnflow_kuramoto::meanfield`),
//! solved two ways and checked against the particles.
//!
//! (a) Grid convergence at T: smooth data rho_0 = (1 + 0.3 cos th + 0.2 sin(2 th + 1)) / (2 pi), beta = 2,
//! L1 error against a spectral reference on `reference_grid` points: the pseudo-spectral RK4 solver converges
//! exponentially, the MUSCL-minmod upwind finite volumes (SSP-RK3) at second order (measured orders).
//! (b) Mass drift |mass(t) - 1| of both solvers from the noisy uniform start of `meanfield-modes` (beta = 5),
//! and the finite-volume minimum (positivity). (c), (d) Particles against the PDE from the same initial law
//! rho_0 = (1 + 0.8 cos th) / (2 pi) (particles drawn by rejection from it; USA with its field summed
//! exactly by the Fourier series, `attnflow_dynamics::spectral`, relative tolerance 1e-13, degree recorded;
//! classical RK4 in angles): histogram against the PDE profile at T, and |c_k(t)|, k = 1, 2, 3.

use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::SERIES_COLORS;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use attnflow_dynamics::ModelKind;
use attnflow_dynamics::sampling::{Purpose, stream, uniform01};
use attnflow_dynamics::spectral::Truncation;
use attnflow_kuramoto::meanfield::{
    ConvergencePoint, MeanField, Scheme, angle_histogram, convergence, empirical_mode_amplitudes,
    grid, mass, mode_amplitudes, noisy_uniform, observed_orders, particle_angles,
};
use std::f64::consts::PI;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub model: ModelKind,
    /// Convergence study: beta, final time, grids per scheme, reference grid, step bound.
    pub convergence_beta: f64,
    pub convergence_t: f64,
    pub spectral_grids: Vec<usize>,
    pub fv_grids: Vec<usize>,
    pub reference_grid: usize,
    pub convergence_dt: f64,
    /// Mass run: beta, final time, grid, noise, samples.
    pub mass_beta: f64,
    pub mass_t: f64,
    pub mass_grid: usize,
    pub mass_samples: usize,
    /// Particles against the PDE.
    pub particle_beta: f64,
    pub particle_t: f64,
    pub particles: usize,
    pub particle_dt: f64,
    pub particle_grid: usize,
    pub particle_samples: usize,
    pub bins: usize,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub spectral: Vec<ConvergencePoint>,
    pub finite_volume: Vec<ConvergencePoint>,
    pub fv_orders: Vec<f64>,
    pub mass_times: Vec<f64>,
    pub spectral_mass_drift: Vec<f64>,
    pub fv_mass_drift: Vec<f64>,
    pub fv_min_rho: f64,
    pub particle_times: Vec<f64>,
    /// The truncation of the particles' spectral summation (Fourier degree K, tolerance, tail bound).
    pub particle_truncation: Truncation,
    /// |c_k(t)|, k = 1..=3: \[k - 1\]\[sample\].
    pub particle_amplitudes: Vec<Vec<f64>>,
    pub pde_amplitudes: Vec<Vec<f64>>,
    pub histogram: Vec<f64>,
    pub pde_profile: Vec<f64>,
    /// L1 distance between the particle histogram at T and the PDE's bin averages.
    pub histogram_l1: f64,
    /// Largest |c_k^particles - c_k^PDE| over k and t.
    pub max_amplitude_gap: f64,
}

pub struct MeanfieldPde;

fn upstream(e: impl std::fmt::Display) -> FigureError {
    FigureError::Upstream(e.to_string())
}

fn smooth(t: f64) -> f64 {
    (1.0 + 0.3 * t.cos() + 0.2 * (2.0 * t + 1.0).sin()) / (2.0 * PI)
}

fn law(t: f64) -> f64 {
    (1.0 + 0.8 * t.cos()) / (2.0 * PI)
}

/// n angles drawn from `law` by rejection (envelope 1.8 / (2 pi)), stream (seed, 0, InitialCondition).
fn sample_law(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream(seed, 0, Purpose::InitialCondition);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let t = 2.0 * PI * uniform01(&mut rng);
        if uniform01(&mut rng) * 1.8 <= 1.0 + 0.8 * t.cos() {
            out.push(t);
        }
    }
    out
}

fn samples(t_end: f64, count: usize) -> Vec<f64> {
    let count = count.max(2);
    (0..count)
        .map(|i| t_end * i as f64 / (count - 1) as f64)
        .collect()
}

impl Figure for MeanfieldPde {
    const META: Meta = Meta {
        id: "meanfield-pde",
        paper: Paper::Frontier,
        number: 10,
        title: "Mean-field PDE on S¹: spectral and finite-volume solvers against particles",
        claim: "Bruno-Pasqualotto-Agazzi (arXiv 2410.23228): the empirical measure of USA on S^1 follows the \
                mean-field equation d_t rho + d_th(rho (W' * rho)) = 0, W'(th) = -e^{beta cos th} sin th, which \
                conserves mass and positivity.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            model: ModelKind::Usa,
            convergence_beta: 2.0,
            convergence_t: 0.3,
            spectral_grids: vec![16, 32, 64],
            fv_grids: fidelity.pick(
                vec![64, 128, 256],
                vec![64, 128, 256, 512, 1024],
                vec![64, 128, 256, 512, 1024, 2048],
            ),
            reference_grid: 256,
            convergence_dt: 1e-3,
            mass_beta: 5.0,
            mass_t: 0.6,
            mass_grid: fidelity.pick(256, 1024, 4096),
            mass_samples: 13,
            particle_beta: 2.0,
            particle_t: 1.0,
            particles: fidelity.pick(1000, 4000, 20_000),
            particle_dt: 0.01,
            particle_grid: 512,
            particle_samples: 21,
            bins: 32,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "PDE: pseudo-spectral RK4 (2/3 dealiasing, CFL 1) and MUSCL-minmod upwind finite volumes with SSP-RK3 \
             (CFL 0.4), dt <= {}; particles: USA, exact spectral summation (Fourier series, tol {:e}), classical RK4 \
             in angles, dt = {}",
            p.convergence_dt,
            attnflow_kuramoto::meanfield::PARTICLE_TOL,
            p.particle_dt
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.bins < 4 || p.particles < 2 {
            return Err(FigureError::InvalidParams(
                "meanfield-pde needs >= 4 bins and >= 2 particles".into(),
            ));
        }
        let field = MeanField::new(p.model, p.convergence_beta, 0.0).map_err(upstream)?;
        let spectral = convergence(
            &field,
            Scheme::Spectral,
            &smooth,
            &p.spectral_grids,
            p.convergence_t,
            p.convergence_dt,
            p.reference_grid,
        )
        .map_err(upstream)?;
        let finite_volume = convergence(
            &field,
            Scheme::FiniteVolume,
            &smooth,
            &p.fv_grids,
            p.convergence_t,
            p.convergence_dt,
            p.reference_grid,
        )
        .map_err(upstream)?;
        progress.update(1, 3);
        let mass_field = MeanField::new(p.model, p.mass_beta, 0.0).map_err(upstream)?;
        let rho0 = noisy_uniform(p.mass_grid, 0.01, p.seed, 0);
        let m0 = mass(&rho0);
        let mass_times = samples(p.mass_t, p.mass_samples);
        let drift = |scheme| -> Result<(Vec<f64>, f64)> {
            let run = mass_field
                .solve(scheme, &rho0, &mass_times, p.convergence_dt)
                .map_err(upstream)?;
            Ok((
                run.rho.iter().map(|r| (mass(r) - m0).abs()).collect(),
                run.min_rho,
            ))
        };
        let (spectral_mass_drift, _) = drift(Scheme::Spectral)?;
        let (fv_mass_drift, fv_min_rho) = drift(Scheme::FiniteVolume)?;
        progress.update(2, 3);
        let pfield = MeanField::new(p.model, p.particle_beta, 0.0).map_err(upstream)?;
        let particle_times = samples(p.particle_t, p.particle_samples);
        let theta0 = sample_law(p.particles, p.seed);
        let particles = particle_angles(
            p.model,
            p.particle_beta,
            &theta0,
            &particle_times,
            p.particle_dt,
        )
        .map_err(upstream)?;
        let snaps = &particles.angles;
        let rho_law: Vec<f64> = grid(p.particle_grid).into_iter().map(law).collect();
        let run = pfield
            .solve(
                Scheme::Spectral,
                &rho_law,
                &particle_times,
                p.convergence_dt,
            )
            .map_err(upstream)?;
        let particle_amplitudes = empirical_mode_amplitudes(snaps, 3);
        let pde_amplitudes = mode_amplitudes(&run.rho, 3);
        let last = particle_times.len() - 1;
        let histogram = angle_histogram(&snaps[last], p.bins);
        let pde_profile = run.rho[last].clone();
        // PDE bin averages (the grid is a multiple of the bins when both are powers of two)
        let per_bin = (p.particle_grid / p.bins).max(1);
        let width = 2.0 * PI / p.bins as f64;
        let histogram_l1 = histogram
            .iter()
            .enumerate()
            .map(|(b, h)| {
                let avg = pde_profile[b * per_bin..((b + 1) * per_bin).min(pde_profile.len())]
                    .iter()
                    .sum::<f64>()
                    / per_bin as f64;
                (h - avg).abs() * width
            })
            .sum();
        let max_amplitude_gap = particle_amplitudes
            .iter()
            .zip(&pde_amplitudes)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0f64, f64::max);
        progress.update(3, 3);
        Ok(Data {
            fv_orders: observed_orders(&finite_volume),
            spectral,
            finite_volume,
            mass_times,
            spectral_mass_drift,
            fv_mass_drift,
            fv_min_rho,
            particle_times,
            particle_truncation: particles.truncation,
            particle_amplitudes,
            pde_amplitudes,
            histogram,
            pde_profile,
            histogram_l1,
            max_amplitude_gap,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let log = |x: f64| x.max(1e-300).log10();
        let conv = |pts: &[ConvergencePoint]| -> Vec<(f64, f64)> {
            pts.iter()
                .map(|c| ((c.m as f64).log2(), log(c.l1_error)))
                .collect()
        };
        let all: Vec<(f64, f64)> = conv(&data.spectral)
            .into_iter()
            .chain(conv(&data.finite_volume))
            .collect();
        let lo = all.iter().fold(0.0f64, |a, b| a.min(b.1));
        let hi = all.iter().fold(f64::NEG_INFINITY, |a, b| a.max(b.1));
        let (x0, x1) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, b| {
            (a.0.min(b.0), a.1.max(b.0))
        });
        let panel_a = LinePanel {
            title: format!(
                "(a) L1 error at t = {} (β = {})",
                p.convergence_t, p.convergence_beta
            ),
            x_label: "log2 m".into(),
            y_label: "log10 error".into(),
            x_range: (x0 - 0.3, x1 + 0.3),
            y_range: (lo - 0.5, hi + 0.5),
            series: vec![
                Overlay {
                    label: Some("spectral".into()),
                    points: conv(&data.spectral),
                    color: SERIES_COLORS[0],
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some("finite volume".into()),
                    points: conv(&data.finite_volume),
                    color: SERIES_COLORS[1],
                    stroke: Stroke::Solid { width: 2 },
                },
            ],
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        let drift = |d: &[f64]| -> Vec<(f64, f64)> {
            data.mass_times
                .iter()
                .copied()
                .zip(d.iter().map(|&x| log(x.max(1e-18))))
                .collect()
        };
        let panel_b = LinePanel {
            title: format!("(b) mass drift, noisy uniform start, β = {}", p.mass_beta),
            x_label: "t".into(),
            y_label: "log10 |mass - mass(0)|".into(),
            x_range: (0.0, p.mass_t),
            y_range: (-18.5, -10.0),
            series: vec![
                Overlay {
                    label: Some("spectral".into()),
                    points: drift(&data.spectral_mass_drift),
                    color: SERIES_COLORS[0],
                    stroke: Stroke::Markers { radius: 3 },
                },
                Overlay {
                    label: Some("finite volume".into()),
                    points: drift(&data.fv_mass_drift),
                    color: SERIES_COLORS[1],
                    stroke: Stroke::Markers { radius: 3 },
                },
            ],
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        let width = 2.0 * PI / data.histogram.len() as f64;
        let mut steps = Vec::new();
        for (j, h) in data.histogram.iter().enumerate() {
            steps.push((j as f64 * width, *h));
            steps.push(((j + 1) as f64 * width, *h));
        }
        let top = data
            .histogram
            .iter()
            .chain(&data.pde_profile)
            .fold(0.0f64, |a, &b| a.max(b));
        let panel_c = LinePanel {
            title: format!("(c) t = {}: {} particles vs PDE", p.particle_t, p.particles),
            x_label: "θ".into(),
            y_label: "density".into(),
            x_range: (0.0, 2.0 * PI),
            y_range: (0.0, 1.05 * top),
            series: vec![
                Overlay {
                    label: Some("particles".into()),
                    points: steps,
                    color: SERIES_COLORS[0],
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some("PDE".into()),
                    points: grid(data.pde_profile.len())
                        .into_iter()
                        .zip(data.pde_profile.iter().copied())
                        .collect(),
                    color: SERIES_COLORS[1],
                    stroke: Stroke::Solid { width: 2 },
                },
            ],
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        let mut series = Vec::new();
        for k in 0..3 {
            let color = SERIES_COLORS[k % SERIES_COLORS.len()];
            let pts = |a: &[f64]| -> Vec<(f64, f64)> {
                data.particle_times
                    .iter()
                    .copied()
                    .zip(a.iter().copied())
                    .collect()
            };
            series.push(Overlay {
                label: Some(format!("k = {} particles", k + 1)),
                points: pts(&data.particle_amplitudes[k]),
                color,
                stroke: Stroke::Markers { radius: 3 },
            });
            series.push(Overlay {
                label: Some(format!("k = {} PDE", k + 1)),
                points: pts(&data.pde_amplitudes[k]),
                color,
                stroke: Stroke::Solid { width: 2 },
            });
        }
        let panel_d = LinePanel {
            title: format!("(d) |c_k(t)|, β = {}", p.particle_beta),
            x_label: "t".into(),
            y_label: "|c_k|".into(),
            x_range: (0.0, p.particle_t),
            y_range: (0.0, 1.0 / (2.0 * PI) * 1.05),
            series,
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::LowerRight,
        };
        Ok(Layout {
            size: (1100, 960),
            body: Block::grid(
                2,
                2,
                [panel_a, panel_b, panel_c, panel_d]
                    .into_iter()
                    .map(|x| Block::panel(Panel::Lines(x))),
            ),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let errs = |v: &[ConvergencePoint]| {
            v.iter()
                .map(|c| format!("m = {}: {:.1e}", c.m, c.l1_error))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let orders: Vec<String> = data.fv_orders.iter().map(|o| format!("{o:.2}")).collect();
        let worst = data
            .spectral_mass_drift
            .iter()
            .chain(&data.fv_mass_drift)
            .fold(0.0f64, |a, &b| a.max(b));
        vec![
            SummaryLine::new("spectral L1 errors", errs(&data.spectral)),
            SummaryLine::new("finite-volume L1 errors", errs(&data.finite_volume)),
            SummaryLine::new("finite-volume observed orders", orders.join(", ")),
            SummaryLine::new("max mass drift (both solvers)", format!("{worst:.1e}")),
            SummaryLine::new("finite-volume min rho", format!("{:.3e}", data.fv_min_rho)),
            SummaryLine::new(
                "particles vs PDE: histogram L1, max |Δc_k|",
                format!("{:.3}, {:.4}", data.histogram_l1, data.max_amplitude_gap),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    #[test]
    fn ci_solvers_converge_and_particles_follow_the_pde() {
        let p = MeanfieldPde::params(Fidelity::Ci, 1);
        let data = MeanfieldPde::compute(&p, &NoProgress).unwrap();
        assert!(
            data.spectral[0].l1_error > 1e3 * data.spectral[2].l1_error,
            "{:?}",
            data.spectral
        );
        assert!(
            data.fv_orders.iter().all(|&o| o > 1.6),
            "{:?}",
            data.fv_orders
        );
        assert!(data.fv_min_rho >= 0.0);
        for d in data.spectral_mass_drift.iter().chain(&data.fv_mass_drift) {
            assert!(*d < 1e-13, "{d}");
        }
        // sampling error of 1000 particles: |c_k| fluctuates by ~ 1 / (2 pi sqrt(1000)) = 0.005
        assert!(data.max_amplitude_gap < 0.03, "{}", data.max_amplitude_gap);
    }
}

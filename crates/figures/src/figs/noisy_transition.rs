//! `noisy-transition`: the phase transition of the noisy transformer (Rigollet, arXiv 2512.01868, section 8;
//! Shalova-Schlichting, arXiv 2412.14813; Balasubramanian-Banerjee-Rigollet, arXiv 2510.20094). USA particles
//! with Brownian noise on S^{d-1}, dX_i = P_{X_i}((1/n) sum_j e^{beta <X_i, X_j>} X_j) dt + sqrt(2/kappa) dB_i
//! (`attnflow_dynamics::noise`), and their mean-field stationary states rho = exp(kappa U\[rho\])/Z
//! (`attnflow_kuramoto::noisy`, where the conventions are written down).
//!
//! One panel per beta: the order parameter r = |mean x| against kappa / kappa_c(beta),
//! kappa_c = beta / mu_1(beta, d) the linear threshold of the uniform state, with
//! - the branch of stationary states through each r (solid; with its unstable part when it bends back),
//! - fixed-point sweeps of the self-consistency, kappa up from the uniform state and back down (dashed),
//! - particle sweeps (geodesic Euler-Maruyama, dt proportional to kappa_c, r averaged over the second half
//!   of each stage; markers: up = circles of the first colour, down = of the second).
//!
//! The transition is continuous for beta < beta_*(d) (I_{d/2+1}(beta_*)/I_{d/2}(beta_*) = 1/d,
//! `attnflow theory noisy-critical-beta`) and discontinuous with hysteresis above.

use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke, VerticalMark};
use crate::plot::{SERIES_COLORS, linspace};
use attnflow_dynamics::noise::NoiseScheme;
use attnflow_kuramoto::noisy::{
    StationaryGrid, SweepSpec, branch_kappa, critical_beta, linear_threshold, sde_sweeps,
    stationary_sweeps,
};
use plotters::style::RGBColor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// Ambient dimension (S^{d-1}).
    pub d: usize,
    /// The betas, one panel each.
    pub betas: Vec<f64>,
    /// Angles of the stationary-state grid.
    pub grid: usize,
    /// Tolerance (largest change of rho) of the stationary iterations.
    pub tol: f64,
    /// Order parameters of the branch curve.
    pub branch_orders: Vec<f64>,
    /// kappa / kappa_c of the sweeps: (from, to, points).
    pub sweep: (f64, f64, usize),
    /// Particles of the SDE sweeps.
    pub n: usize,
    /// dt = dt_scale * kappa_c.
    pub dt_scale: f64,
    /// Stage time = stage_scale * kappa_c at each kappa.
    pub stage_scale: f64,
}

crate::figure_params!(Params);

/// One beta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub beta: f64,
    pub kappa_c: f64,
    /// (kappa, r) along the branch of stationary states.
    pub branch: Vec<(f64, f64)>,
    /// The sweeps' kappas.
    pub kappas: Vec<f64>,
    pub fixed_point_up: Vec<f64>,
    pub fixed_point_down: Vec<f64>,
    pub particles_up: Vec<f64>,
    pub particles_down: Vec<f64>,
    /// Particle step.
    pub dt: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub beta_star: f64,
    pub columns: Vec<Column>,
}

pub struct NoisyTransition;

fn upstream(e: impl std::fmt::Display) -> FigureError {
    FigureError::Upstream(e.to_string())
}

/// Largest |down - up| of two sweeps.
pub fn largest_gap(up: &[f64], down: &[f64]) -> f64 {
    up.iter()
        .zip(down)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

impl Figure for NoisyTransition {
    const META: Meta = Meta {
        id: "noisy-transition",
        paper: Paper::Frontier,
        number: 11,
        title: "Noisy transformer: order parameter against inverse temperature, continuous below β_*, hysteresis above",
        claim: "Balasubramanian-Banerjee-Rigollet (arXiv 2510.20094), Shalova-Schlichting (arXiv 2412.14813): \
                the uniform state of the noisy USA dynamics loses stability at kappa_c = beta / mu_1(beta, d); \
                the transition is continuous for beta < beta_*(d), I_{d/2+1}(beta_*)/I_{d/2}(beta_*) = 1/d, and \
                discontinuous with hysteresis above.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let mut branch_orders: Vec<f64> = vec![0.01, 0.02, 0.05];
        branch_orders.extend(
            (1..=fidelity.pick(9, 19, 38))
                .map(|i| 0.05 + 0.9 * i as f64 / fidelity.pick(9.0, 19.0, 38.0)),
        );
        Params {
            fidelity,
            seed,
            // S^2: beta_*(3) = 1.816; the hysteresis window kappa_s/kappa_c = 0.79 at beta = 4 (0.94 on S^1)
            d: 3,
            betas: fidelity.pick(
                vec![1.0, 4.0],
                vec![1.0, 3.0, 4.0],
                vec![1.0, 2.5, 3.0, 4.0, 5.0],
            ),
            grid: fidelity.pick(64, 256, 512),
            tol: 1e-10,
            branch_orders,
            // even counts: kappa_c itself (where the fixed-point iteration converges only algebraically) is no grid point
            sweep: (0.6, 1.4, fidelity.pick(8, 16, 32)),
            n: fidelity.pick(48, 256, 2000),
            dt_scale: fidelity.pick(0.02, 0.01, 0.002),
            stage_scale: fidelity.pick(5.0, 15.0, 50.0),
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "stationary states: fixed-point iteration on {} angles to max |Δρ| < {:e}; particles: geodesic \
             Euler-Maruyama, dt = {} κ_c, stage time {} κ_c per κ",
            p.grid, p.tol, p.dt_scale, p.stage_scale
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        let (s0, s1, count) = p.sweep;
        if count < 2 || p.betas.is_empty() || !(s0 > 0.0 && s0 < s1) {
            return Err(FigureError::InvalidParams(
                "noisy-transition needs betas and a sweep of >= 2 points in (0, inf)".into(),
            ));
        }
        let beta_star = critical_beta(p.d).map_err(upstream)?;
        let total = p.betas.len() as u64;
        let rel = linspace(s0, s1, count);
        // the particle sweeps of all betas in parallel (each on its own streams: same bits on any
        // number of threads), then the stationary states
        let kappa_cs = p
            .betas
            .iter()
            .map(|&b| linear_threshold(b, p.d).map_err(upstream))
            .collect::<Result<Vec<f64>>>()?;
        let specs: Vec<SweepSpec> = p
            .betas
            .iter()
            .zip(&kappa_cs)
            .enumerate()
            .map(|(i, (&beta, &kappa_c))| SweepSpec {
                n: p.n,
                d: p.d,
                beta,
                kappas: rel.iter().map(|r| r * kappa_c).collect(),
                dt: p.dt_scale * kappa_c,
                stage_time: p.stage_scale * kappa_c,
                seed: p.seed ^ (i as u64).wrapping_mul(0x9E37_79B9),
                scheme: NoiseScheme::Geodesic,
            })
            .collect();
        let sweeps = sde_sweeps(&specs).map_err(upstream)?;
        let mut columns = Vec::with_capacity(p.betas.len());
        for (i, (spec, particles)) in specs.into_iter().zip(sweeps).enumerate() {
            let (beta, kappa_c) = (spec.beta, kappa_cs[i]);
            let grid = StationaryGrid::new(beta, p.d, p.grid).map_err(upstream)?;
            let branch = branch_kappa(&grid, &p.branch_orders, p.tol)
                .map_err(upstream)?
                .iter()
                .map(|s| (s.kappa, s.order))
                .collect();
            let (up, down) = stationary_sweeps(&grid, &spec.kappas, p.tol).map_err(upstream)?;
            columns.push(Column {
                beta,
                kappa_c,
                branch,
                kappas: spec.kappas,
                fixed_point_up: up.iter().map(|s| s.order).collect(),
                fixed_point_down: down.iter().map(|s| s.order).collect(),
                particles_up: particles.up,
                particles_down: particles.down,
                dt: spec.dt,
            });
            progress.update(i as u64 + 1, total);
        }
        Ok(Data { beta_star, columns })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let grey = RGBColor(60, 60, 60);
        let letters = ["a", "b", "c", "d", "e", "f"];
        let panels: Vec<Panel> = data
            .columns
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let scaled = |v: &[f64]| -> Vec<(f64, f64)> {
                    c.kappas
                        .iter()
                        .zip(v)
                        .map(|(a, b)| (a / c.kappa_c, *b))
                        .collect()
                };
                let mut branch: Vec<(f64, f64)> = vec![(1.0, 0.0)];
                branch.extend(c.branch.iter().map(|(a, b)| (a / c.kappa_c, *b)));
                let kind = if c.beta < data.beta_star {
                    "continuous"
                } else {
                    "discontinuous"
                };
                Panel::Lines(LinePanel {
                    title: format!(
                        "({}) β = {} {} β_* = {:.3} ({kind})",
                        letters[k % letters.len()],
                        c.beta,
                        if c.beta < data.beta_star { "<" } else { ">" },
                        data.beta_star
                    ),
                    x_label: "κ / κ_c(β)".into(),
                    y_label: "r = |mean x|".into(),
                    x_range: (p.sweep.0, p.sweep.1),
                    y_range: (0.0, 1.0),
                    series: vec![
                        Overlay {
                            label: Some("stationary branch".into()),
                            points: branch,
                            color: grey,
                            stroke: Stroke::Solid { width: 2 },
                        },
                        Overlay {
                            label: Some("fixed point, κ up".into()),
                            points: scaled(&c.fixed_point_up),
                            color: SERIES_COLORS[0],
                            stroke: Stroke::Dashed { width: 2 },
                        },
                        Overlay {
                            label: Some("fixed point, κ down".into()),
                            points: scaled(&c.fixed_point_down),
                            color: SERIES_COLORS[1],
                            stroke: Stroke::Dashed { width: 2 },
                        },
                        Overlay {
                            label: Some(format!("n = {} particles, κ up", p.n)),
                            points: scaled(&c.particles_up),
                            color: SERIES_COLORS[0],
                            stroke: Stroke::Markers { radius: 4 },
                        },
                        Overlay {
                            label: Some(format!("n = {} particles, κ down", p.n)),
                            points: scaled(&c.particles_down),
                            color: SERIES_COLORS[1],
                            stroke: Stroke::Markers { radius: 3 },
                        },
                    ],
                    marks: vec![VerticalMark {
                        x: 1.0,
                        label: format!(" κ_c = {:.3}", c.kappa_c),
                        color: RGBColor(200, 0, 0),
                    }],
                    zero_line: false,
                    legend: LegendCorner::UpperLeft,
                })
            })
            .collect();
        Ok(Layout {
            size: (560 * panels.len().max(1) as u32, 520),
            body: Block::row(panels),
        })
    }

    fn summary(p: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut out = vec![SummaryLine::new(
            format!("β_*(d = {}) (I_{{d/2+1}}/I_{{d/2}} = 1/d)", p.d),
            format!("{:.10}", data.beta_star),
        )];
        for c in &data.columns {
            let turn = c
                .branch
                .iter()
                .map(|(k, _)| k / c.kappa_c)
                .fold(f64::INFINITY, f64::min);
            out.push(SummaryLine::new(
                format!("β = {}: κ_c", c.beta),
                format!(
                    "{:.6}; branch min κ/κ_c = {turn:.4}; up/down gap: fixed point {:.3}, particles {:.3}",
                    c.kappa_c,
                    largest_gap(&c.fixed_point_up, &c.fixed_point_down),
                    largest_gap(&c.particles_up, &c.particles_down)
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    #[test]
    fn ci_figure_hysteresis_only_above_beta_star() {
        let p = NoisyTransition::params(Fidelity::Ci, 3);
        let data = NoisyTransition::compute(&p, &NoProgress).unwrap();
        for c in &data.columns {
            let gap = largest_gap(&c.fixed_point_up, &c.fixed_point_down);
            assert_eq!(
                gap > 0.1,
                c.beta > data.beta_star,
                "beta {}: gap {gap}",
                c.beta
            );
            // the branch starts at kappa_c
            assert!(
                (c.branch[0].0 / c.kappa_c - 1.0).abs() < 1e-3,
                "{:?}",
                c.branch[0]
            );
        }
    }
}

//! `circle-sync`: synchronisation of SA and USA on the circle S^1 for every real beta (Criscitiello, Rebjock,
//! McRae, Boumal, arXiv 2405.18273; Polyanskiy, Rigollet, Yao, arXiv 2507.22857: synchronisation for
//! beta >= -0.16, failure for beta < -2/3). Dynamics \[GLPR\] (7.1) in angles,
//! theta_i' = (1/N_i) sum_j e^{beta cos(theta_j - theta_i)} sin(theta_j - theta_i), N_i = n (USA) or
//! Z_i (SA), with beta < 0 allowed (the engine's field with B = -I and |beta|, `attnflow_kuramoto::sync`).
//!
//! (a) Linear stability of the equispaced n-configuration: the largest non-trivial eigenvalue of its
//! circulant Jacobian (SA; USA differs by the positive factor Z / n), closed form
//! lambda_k = (s/n) sum_m f'(2 pi m/n)(cos(2 pi k m/n) - 1), f'(u) = e^{beta cos u}(cos u - beta sin^2 u), against
//! beta for n = 3..10, with the thresholds beta_c(n) of `attnflow theory sync-threshold` marked (odd n only:
//! the even configurations are never linearly stable). The analytic Jacobian is compared entrywise with a
//! central finite-difference Jacobian (h = 1e-5) of the engine's vector field at beta_c(n) - 0.25 (even n:
//! beta = -1; at beta_c the n = 3 Jacobian vanishes identically).
//!
//! (b), (c) Random starts: n i.i.d. uniform points per start, the engine's RK4 (projection after each step)
//! with a fixed step to a final time; synchronised = one cluster of the engine's cluster count with
//! threshold 1 - delta (read every `check_every` steps; one cluster is final, see the `sync` module), and the
//! fraction synchronised per (n, beta) with its 95 % Wilson interval. Non-synchronised runs are split into
//! stationary (largest angular speed < 1e-6 at the final time) and unresolved.
//!
//! Choices where the papers leave freedom: the beta grid (around -2/3 and -0.16, up to beta = 1: at larger
//! beta SA's metastable plateaus outlast any fixed final time, so "not synchronised by T" would measure
//! metastability, not failure), the final time T = 200 (every synchronised start at beta in [-2, 1] took
//! t < 60 in a 200-start probe), delta = 1e-3.

use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke, VerticalMark};
use crate::plot::{SERIES_COLORS, linspace};
use attnflow_dynamics::ModelKind;
use attnflow_kuramoto::sync::{
    SweepCell, SweepParams, circle_field, equispaced_angles, equispaced_eigenvalues,
    equispaced_jacobian, fd_jacobian, sync_sweep, sync_threshold,
};
use plotters::style::RGBColor;

/// The synchronisation threshold of Polyanskiy-Rigollet-Yao (synchronisation proved for beta >= this).
pub const PRY_SYNC_BETA: f64 = -0.16;
/// Below this, synchronisation fails (the n = 3 triangle is stable).
pub const PRY_FAIL_BETA: f64 = -2.0 / 3.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// n of the stability panel and the thresholds.
    pub stability_ns: Vec<usize>,
    /// The beta grid of the stability panel: (from, to, points).
    pub stability_betas: (f64, f64, usize),
    /// Finite-difference step of the Jacobian check.
    pub fd_step: f64,
    /// The sweeps, one per model (same starts, ns and betas).
    pub sweeps: Vec<SweepParams>,
}

crate::figure_params!(Params);

/// The stability of the equispaced n-configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    pub n: usize,
    /// max_{1 <= k < n} lambda_k (SA) on the beta grid.
    pub max_eigenvalue: Vec<f64>,
    /// beta_c(n) (None: never linearly stable in the scanned range) and the mode that destabilises.
    pub beta_c: Option<f64>,
    pub mode: Option<usize>,
    /// Where the finite-difference check was made (beta_c - 0.25, or -1 without a threshold).
    pub fd_beta: f64,
    /// max_ij |J_fd - J_exact| / max_ij |J_exact| for SA and USA at fd_beta.
    pub fd_rel_error_sa: f64,
    pub fd_rel_error_usa: f64,
}

/// The sweep of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub model: ModelKind,
    pub cells: Vec<SweepCell>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub betas: Vec<f64>,
    pub stability: Vec<Stability>,
    pub sweeps: Vec<Sweep>,
}

pub struct CircleSync;

fn upstream(e: impl std::fmt::Display) -> FigureError {
    FigureError::Upstream(e.to_string())
}

fn sweep(model: ModelKind, fidelity: Fidelity, seed: u64) -> SweepParams {
    let betas = fidelity.pick(
        vec![-1.5, -0.5, 0.0],
        vec![
            -2.0, -1.5, -1.0, -0.8, -0.7, -0.6, -0.5, -0.3, -0.16, 0.0, 0.5, 1.0,
        ],
        vec![
            -2.0, -1.5, -1.0, -0.8, -0.7, -0.6, -0.5, -0.3, -0.16, 0.0, 0.5, 1.0,
        ],
    );
    SweepParams {
        model,
        ns: fidelity.pick(vec![3, 4, 5, 6], (3..=10).collect(), (3..=10).collect()),
        betas,
        starts: fidelity.pick(24, 200, 1000),
        seed,
        dt: 0.1,
        t_max: 200.0,
        delta: 1e-3,
        check_every: 10,
        stationary_speed: 1e-6,
    }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

impl Figure for CircleSync {
    const META: Meta = Meta {
        id: "circle-sync",
        paper: Paper::Frontier,
        number: 1,
        title: "Synchronisation on S¹: stability of equispaced states and random-start sweeps",
        claim: "Polyanskiy-Rigollet-Yao (arXiv 2507.22857; Criscitiello-Rebjock-McRae-Boumal arXiv 2405.18273 for \
                0 <= beta <= 1): SA and USA on S^1 synchronise from a.e. start for every beta >= -0.16; for beta < -2/3 \
                they do not (the n = 3 equilateral triangle becomes linearly stable).",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            stability_ns: (3..=10).collect(),
            stability_betas: (-10.0, 2.0, fidelity.pick(121, 601, 1201)),
            fd_step: 1e-5,
            sweeps: vec![
                sweep(ModelKind::Sa, fidelity, seed),
                sweep(ModelKind::Usa, fidelity, seed),
            ],
        }
    }

    fn integrator(p: &Params) -> String {
        let s = p.sweeps.first();
        s.map_or_else(
            || "closed form".into(),
            |s| {
                format!(
                    "eigenvalues: closed form (circulant Jacobian); sweeps: engine RK4 with projection, dt = {}, \
                     T = {}, one cluster (delta = {:e}) read every {} steps",
                    s.dt, s.t_max, s.delta, s.check_every
                )
            },
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        let (b0, b1, count) = p.stability_betas;
        if count < 2
            || p.stability_ns.is_empty()
            || b0.partial_cmp(&b1) != Some(std::cmp::Ordering::Less)
        {
            return Err(FigureError::InvalidParams(
                "circle-sync needs a beta grid of >= 2 points and at least one n".into(),
            ));
        }
        let betas = linspace(b0, b1, count);
        let total = (p.stability_ns.len() + p.sweeps.len()) as u64;
        let mut stability = Vec::with_capacity(p.stability_ns.len());
        for (i, &n) in p.stability_ns.iter().enumerate() {
            let max_eigenvalue = betas
                .iter()
                .map(|&b| {
                    let eig = equispaced_eigenvalues(ModelKind::Sa, n, b).map_err(upstream)?;
                    Ok(eig[1..].iter().copied().fold(f64::NEG_INFINITY, f64::max))
                })
                .collect::<Result<Vec<f64>>>()?;
            let th = sync_threshold(n).map_err(upstream)?;
            // at beta_c itself the n = 3 Jacobian vanishes: check a quarter below it
            let fd_beta = th.beta_c.map_or(-1.0, |b| b - 0.25);
            let theta = equispaced_angles(n);
            let mut errors = [0.0; 2];
            for (e, model) in errors.iter_mut().zip([ModelKind::Sa, ModelKind::Usa]) {
                let field = circle_field(model, fd_beta).map_err(upstream)?;
                let fd = fd_jacobian(&field, &theta, p.fd_step).map_err(upstream)?;
                let exact = equispaced_jacobian(model, n, fd_beta).map_err(upstream)?;
                let diff: Vec<f64> = fd.iter().zip(&exact).map(|(a, b)| a - b).collect();
                *e = max_abs(&diff) / max_abs(&exact);
            }
            stability.push(Stability {
                n,
                max_eigenvalue,
                beta_c: th.beta_c,
                mode: th.mode,
                fd_beta,
                fd_rel_error_sa: errors[0],
                fd_rel_error_usa: errors[1],
            });
            progress.update(i as u64 + 1, total);
        }
        let mut sweeps = Vec::with_capacity(p.sweeps.len());
        for (i, s) in p.sweeps.iter().enumerate() {
            sweeps.push(Sweep {
                model: s.model,
                cells: sync_sweep(s).map_err(upstream)?,
            });
            progress.update((p.stability_ns.len() + i + 1) as u64, total);
        }
        Ok(Data {
            betas,
            stability,
            sweeps,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let color = |k: usize| -> RGBColor {
            // 8 distinguishable colours: the palette, then two greys
            [
                SERIES_COLORS[0],
                SERIES_COLORS[1],
                SERIES_COLORS[2],
                SERIES_COLORS[3 % SERIES_COLORS.len()],
                SERIES_COLORS[4 % SERIES_COLORS.len()],
                SERIES_COLORS[5 % SERIES_COLORS.len()],
                SERIES_COLORS[6 % SERIES_COLORS.len()],
                RGBColor(90, 90, 90),
            ][k % 8]
        };
        let pry_marks = || {
            vec![
                VerticalMark {
                    x: PRY_FAIL_BETA,
                    label: " -2/3".into(),
                    color: RGBColor(200, 0, 0),
                },
                VerticalMark {
                    x: PRY_SYNC_BETA,
                    label: " -0.16".into(),
                    color: RGBColor(0, 140, 0),
                },
            ]
        };
        let stability_series = data
            .stability
            .iter()
            .enumerate()
            .map(|(k, s)| Overlay {
                label: Some(format!("n = {}", s.n)),
                points: data
                    .betas
                    .iter()
                    .copied()
                    .zip(s.max_eigenvalue.iter().copied())
                    .collect(),
                color: color(k),
                stroke: Stroke::Solid { width: 2 },
            })
            .collect();
        let mut marks: Vec<VerticalMark> = data
            .stability
            .iter()
            .enumerate()
            .filter_map(|(k, s)| {
                s.beta_c.map(|b| VerticalMark {
                    x: b,
                    label: format!(" {b:.2}"),
                    color: color(k),
                })
            })
            .collect();
        marks.extend(pry_marks());
        let stability_panel = LinePanel {
            title: "(a) equispaced n-gon: max_{k≠0} λ_k (SA)".into(),
            x_label: "β".into(),
            y_label: "max_k λ_k".into(),
            x_range: (p.stability_betas.0, p.stability_betas.1),
            y_range: (-1.0, 0.8),
            series: stability_series,
            marks,
            zero_line: true,
            legend: LegendCorner::LowerLeft,
        };
        let sweep_panel = |sweep: &Sweep, letter: &str| {
            let series = data
                .stability
                .iter()
                .enumerate()
                .filter_map(|(k, s)| {
                    let points: Vec<(f64, f64)> = sweep
                        .cells
                        .iter()
                        .filter(|c| c.n == s.n)
                        .map(|c| (c.beta, c.fraction))
                        .collect();
                    (!points.is_empty()).then(|| Overlay {
                        label: Some(format!("n = {}", s.n)),
                        points,
                        color: color(k),
                        stroke: Stroke::Solid { width: 2 },
                    })
                })
                .collect();
            let starts = sweep.cells.first().map_or(0, |c| c.starts);
            let betas: Vec<f64> = sweep.cells.iter().map(|c| c.beta).collect();
            let lo = betas.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = betas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            LinePanel {
                title: format!(
                    "({letter}) {}: fraction synchronised ({starts} starts)",
                    sweep.model.name().to_uppercase()
                ),
                x_label: "β".into(),
                y_label: "P(one cluster)".into(),
                x_range: (lo - 0.1, hi + 0.1),
                y_range: (0.6, 1.02),
                series,
                marks: pry_marks(),
                zero_line: false,
                legend: LegendCorner::LowerRight,
            }
        };
        let mut panels = vec![Panel::Lines(stability_panel)];
        for (sweep, letter) in data.sweeps.iter().zip(["b", "c", "d"]) {
            panels.push(Panel::Lines(sweep_panel(sweep, letter)));
        }
        Ok(Layout {
            size: (560 * panels.len() as u32, 520),
            body: Block::row(panels),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut out = Vec::new();
        for s in &data.stability {
            out.push(SummaryLine::new(
                format!("β_c(n = {}) (equispaced changes stability)", s.n),
                s.beta_c.map_or_else(
                    || "none (never linearly stable)".to_string(),
                    |b| format!("{b:.10} (mode k = {})", s.mode.unwrap_or(0)),
                ),
            ));
        }
        let worst_fd = data
            .stability
            .iter()
            .map(|s| s.fd_rel_error_sa.max(s.fd_rel_error_usa))
            .fold(0.0f64, f64::max);
        out.push(SummaryLine::new(
            "max relative error, analytic vs finite-difference Jacobian",
            format!("{worst_fd:.1e}"),
        ));
        for sweep in &data.sweeps {
            let m = sweep.model.name().to_uppercase();
            let above: Vec<&SweepCell> = sweep
                .cells
                .iter()
                .filter(|c| c.beta >= PRY_SYNC_BETA)
                .collect();
            let (sync, total) = above
                .iter()
                .fold((0, 0), |(a, b), c| (a + c.synchronised, b + c.starts));
            out.push(SummaryLine::new(
                format!("{m}: synchronised starts at β >= -0.16"),
                format!("{sync} / {total}"),
            ));
            for c in sweep.cells.iter().filter(|c| c.synchronised < c.starts) {
                out.push(SummaryLine::new(
                    format!("{m}: n = {}, β = {}", c.n, c.beta),
                    format!(
                        "{:.3} [{:.3}, {:.3}] synchronised; {} stationary {:?}, {} unresolved",
                        c.fraction,
                        c.ci_low,
                        c.ci_high,
                        c.stationary,
                        c.stationary_clusters,
                        c.unresolved
                    ),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    #[test]
    fn ci_figure_thresholds_jacobian_and_sync() {
        let p = CircleSync::params(Fidelity::Ci, 3);
        let data = CircleSync::compute(&p, &NoProgress).unwrap();
        let triangle = &data.stability[0];
        assert_eq!(triangle.n, 3);
        assert!((triangle.beta_c.unwrap() + 2.0 / 3.0).abs() < 1e-11);
        for s in &data.stability {
            // odd n: a threshold; even n: none
            assert_eq!(s.beta_c.is_some(), s.n % 2 == 1, "n {}", s.n);
            assert!(
                s.fd_rel_error_sa < 1e-7 && s.fd_rel_error_usa < 1e-7,
                "{s:?}"
            );
        }
        for sweep in &data.sweeps {
            for c in sweep.cells.iter().filter(|c| c.beta >= PRY_SYNC_BETA) {
                assert_eq!(c.synchronised, c.starts, "{c:?}");
            }
        }
    }
}

//! `bkkrw-fig5`: \[BKKRW\] Figure 5 / claim m5 (spec tfdy.md sections 2-3): the optimal density on S^1 for
//! D = diag(1, 1 + eps), eps = d2 - 1 with d2 = linspace(0.9, 1.3, 9), minimising E_code over weights on
//! N = 1000 equispaced angles by exponentiated gradient descent (lr 0.1, 1500 steps), against the two ansaetze of
//! the paper/code and the Funk-Hecke linear response (computation in `attnflow_kuramoto::density`).
//! Panels: the optimal densities N w(theta) per eps (in place of the paper's 3-D ribbons), the cos 2 theta
//! amplitude against eps with the three predicted slopes, and the weight-space errors of the three descriptions.

use attnflow_kuramoto::density::{DensityStudy, DensityStudyParams, optimal_density_study};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::surrogate_views::upstream;
use crate::error::Result;
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::golden::FieldTolerance;
use crate::layout::{Block, Layout, Panel};
use crate::plot::colormap::ColorScale;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use crate::plot::{SERIES_COLORS, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub study: DensityStudyParams,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub study: DensityStudy,
}

pub struct BkkrwFig5;

impl Figure for BkkrwFig5 {
    const META: Meta = Meta {
        id: "bkkrw-fig5",
        paper: Paper::Bkkrw,
        number: 5,
        title: "[BKKRW] Figure 5: optimal densities on S¹ for D = diag(1, 1 + ε) and their ansätze",
        claim: "Optimal densities for D = diag(1, 1 + eps) against both ansaetze and the Funk-Hecke slope I_1(1) / (2 I_2(1)).",
        tolerances: &[FieldTolerance::new(
            "study",
            1e-12,
            1e-8,
            "1500 mirror-descent steps on N weights",
        )],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let mut study = DensityStudyParams::paper();
        study.n_angles = fidelity.pick(128, 1000, 1000);
        Params {
            fidelity,
            seed,
            study,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "exponentiated gradient descent on the simplex, lr = {}, {} steps, N = {} angles",
            p.study.lr, p.study.steps, p.study.n_angles
        )
    }

    fn compute(p: &Params, _: &dyn Progress) -> Result<Data> {
        Ok(Data {
            study: optimal_density_study(&p.study).map_err(upstream)?,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let study = &data.study;
        let eps_scale = ColorScale::spanning(study.entries.iter().map(|e| e.eps));
        let n = p.study.n_angles as f64;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let density_curves: Vec<Overlay> = study
            .entries
            .iter()
            .map(|e| {
                let pts: Vec<(f64, f64)> = e
                    .optimum
                    .angles
                    .iter()
                    .zip(&e.optimum.weights)
                    .map(|(&a, &w)| (a, n * w))
                    .collect();
                for &(_, y) in &pts {
                    lo = lo.min(y);
                    hi = hi.max(y);
                }
                Overlay {
                    label: Some(format!("ε = {:+.2}", e.eps)),
                    points: pts,
                    color: eps_scale.color(e.eps),
                    stroke: Stroke::Solid { width: 2 },
                }
            })
            .collect();
        let pad = 0.05 * (hi - lo).max(1e-3);
        let densities = LinePanel {
            title: "optimal density N·w(θ)".into(),
            x_label: "θ".into(),
            y_label: "density / uniform".into(),
            x_range: (-std::f64::consts::PI, std::f64::consts::PI),
            y_range: (lo - pad, hi + pad),
            series: density_curves,
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        let eps: Vec<f64> = study.entries.iter().map(|e| e.eps).collect();
        let (e0, e1) = (
            eps.first().copied().unwrap_or(-0.1),
            eps.last().copied().unwrap_or(0.3),
        );
        let line = |label: String, slope: f64, k: usize| Overlay {
            label: Some(label),
            points: vec![(e0, slope * e0), (e1, slope * e1)],
            color: SERIES_COLORS[k],
            stroke: Stroke::Solid { width: 2 },
        };
        let amps: Vec<f64> = study.entries.iter().map(|e| e.measured_amplitude).collect();
        let a_abs = amps
            .iter()
            .map(|a| a.abs())
            .fold(0.0, f64::max)
            .max(study.funk_hecke_slope * e1.abs().max(e0.abs()));
        let amplitudes = LinePanel {
            title: "cos 2θ amplitude A(ε)".into(),
            x_label: "ε".into(),
            y_label: "A".into(),
            x_range: (e0 - 0.02, e1 + 0.02),
            y_range: (-1.1 * a_abs, 1.1 * a_abs),
            series: vec![
                line(
                    format!("Funk-Hecke slope {:.3}", study.funk_hecke_slope),
                    study.funk_hecke_slope,
                    0,
                ),
                line(
                    format!("code ansatz slope {:.3}", study.code_ansatz_slope),
                    study.code_ansatz_slope,
                    1,
                ),
                line(
                    format!("exp guess slope {:.3}", study.exp_guess_slope),
                    study.exp_guess_slope,
                    2,
                ),
                Overlay {
                    label: Some(format!("optimum (fit slope {:.3})", study.measured_slope)),
                    points: eps.iter().copied().zip(amps.iter().copied()).collect(),
                    color: BLACK,
                    stroke: Stroke::Markers { radius: 4 },
                },
            ],
            marks: Vec::new(),
            zero_line: true,
            legend: LegendCorner::UpperLeft,
        };
        let errors = |f: fn(&attnflow_kuramoto::density::DensityEntry) -> f64| -> Vec<(f64, f64)> {
            study.entries.iter().map(|e| (e.eps, f(e))).collect()
        };
        let e_max = study
            .entries
            .iter()
            .flat_map(|e| [e.funk_hecke_error, e.code_ansatz_error, e.exp_guess_error])
            .fold(0.0, f64::max);
        let with_markers = |label: &str, pts: Vec<(f64, f64)>, k: usize| {
            [
                Overlay {
                    label: Some(label.into()),
                    points: pts.clone(),
                    color: SERIES_COLORS[k],
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: None,
                    points: pts,
                    color: SERIES_COLORS[k],
                    stroke: Stroke::Markers { radius: 3 },
                },
            ]
        };
        let ansatz_errors = LinePanel {
            title: "‖w_ansatz - w_opt‖₂".into(),
            x_label: "ε".into(),
            y_label: "error".into(),
            x_range: (e0 - 0.02, e1 + 0.02),
            y_range: (0.0, 1.1 * e_max.max(1e-12)),
            series: [
                with_markers("Funk-Hecke", errors(|e| e.funk_hecke_error), 0),
                with_markers("code ansatz", errors(|e| e.code_ansatz_error), 1),
                with_markers("exp guess", errors(|e| e.exp_guess_error), 2),
            ]
            .concat(),
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        Ok(Layout {
            size: (1650, 560),
            body: Block::titled(
                format!(
                    "Optimal densities, D = diag(1, 1 + ε): N = {}, {} steps, lr = {}",
                    p.study.n_angles, p.study.steps, p.study.lr
                ),
                text_size::PANEL_TITLE,
                Block::row([
                    Panel::Lines(densities),
                    Panel::Lines(amplitudes),
                    Panel::Lines(ansatz_errors),
                ]),
            ),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let s = &data.study;
        vec![
            SummaryLine::new(
                "measured slope dA/dε (quadratic fit)",
                format!("{:.4}", s.measured_slope),
            ),
            SummaryLine::new(
                "Funk-Hecke slope I₁(1)/(2 I₂(1))",
                format!("{:.4}", s.funk_hecke_slope),
            ),
            SummaryLine::new("code ansatz slope", format!("{:.4}", s.code_ansatz_slope)),
            SummaryLine::new("exp guess slope e/2", format!("{:.4}", s.exp_guess_slope)),
        ]
    }
}

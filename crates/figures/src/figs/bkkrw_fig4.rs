//! `bkkrw-fig4`: \[BKKRW\] Figure 4 / claim m4 (spec tfdy.md sections 2-3): four particles (+-a, +-b) on S^1,
//! D = diag(1, d2), E_code = cosh(a^2) cosh(d2 b^2), minimiser by the tanh law tanh(a^2) = d2 tanh(d2 b^2).
//! Descent from the square rotated by pi/4 (10000 steps) with tau = 0.0005 (stable) and tau = 0.05 (unstable
//! for d2 >= 6: jumps to the maximum-energy axis). Computation in `attnflow_kuramoto::four_particle`.

use attnflow_kuramoto::four_particle::{
    FourParticleParams, FourParticleResult, four_particle_study,
};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::surrogate_views::{angles2, circle_quadratic, upstream};
use crate::error::Result;
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::golden::FieldTolerance;
use crate::layout::{Block, Layout, Panel, Split};
use crate::plot::circle::{CircleColoring, CircleView};
use crate::plot::colormap::ColorScale;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use crate::plot::{SERIES_COLORS, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub study: FourParticleParams,
    /// d2 values whose final states are drawn (stable tau), plus the unstable run at the last one.
    pub shown_d2: Vec<f64>,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub results: Vec<FourParticleResult>,
    /// max |a^2 measured (tau stable) - a^2 tanh law| over d2.
    pub max_a2_error_stable: f64,
}

pub struct BkkrwFig4;

impl Figure for BkkrwFig4 {
    const META: Meta = Meta {
        id: "bkkrw-fig4",
        paper: Paper::Bkkrw,
        number: 4,
        title: "[BKKRW] Figure 4: four particles, the tanh law and the step-size instability",
        claim: "Tanh law d1 tanh(d1 a^2) = d2 tanh(d2 b^2); tau = 0.05 unstable for d2 >= 6, tau = 0.0005 stable.",
        tolerances: &[
            FieldTolerance::new("results.*.stable", 1e-8, 1e-8, "10000 explicit steps"),
            FieldTolerance::new(
                "results.*.unstable",
                1e-6,
                1e-6,
                "the unstable step amplifies round-off",
            ),
            FieldTolerance::new("max_a2_error_stable", 1e-8, 0.0, "as results.stable"),
        ],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let mut study = FourParticleParams::paper();
        if fidelity == Fidelity::Ci {
            study.d2_values = vec![0.5, 2.0, 6.0, 8.0];
        }
        Params {
            fidelity,
            seed,
            study,
            shown_d2: vec![0.5, 2.0, 8.0],
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "[BKKRW] descent scheme (engine paper-euler on USA with B = D, V = -D, beta = 1), {} steps, tau = {} and {}",
            p.study.steps, p.study.tau_stable, p.study.tau_unstable
        )
    }

    fn compute(p: &Params, _: &dyn Progress) -> Result<Data> {
        let results = four_particle_study(&p.study).map_err(upstream)?;
        let max_a2_error_stable = results
            .iter()
            .map(|r| (r.stable.a2 - r.predicted_a2).abs())
            .fold(0.0, f64::max);
        Ok(Data {
            results,
            max_a2_error_stable,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let d2: Vec<f64> = data.results.iter().map(|r| r.d2).collect();
        let points = |ys: Vec<f64>| d2.iter().copied().zip(ys).collect::<Vec<_>>();
        let d2_max = d2.iter().copied().fold(1.0, f64::max);
        let panel = LinePanel {
            title: "a² of the terminal state".into(),
            x_label: "d₂".into(),
            y_label: "a²".into(),
            x_range: (0.0, d2_max + 0.5),
            y_range: (-0.02, 1.02),
            series: vec![
                Overlay {
                    label: Some("tanh law".into()),
                    points: points(data.results.iter().map(|r| r.predicted_a2).collect()),
                    color: SERIES_COLORS[6],
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some(format!("τ = {}", p.study.tau_stable)),
                    points: points(data.results.iter().map(|r| r.stable.a2).collect()),
                    color: SERIES_COLORS[0],
                    stroke: Stroke::Markers { radius: 5 },
                },
                Overlay {
                    label: Some(format!("τ = {}", p.study.tau_unstable)),
                    points: points(data.results.iter().map(|r| r.unstable.a2).collect()),
                    color: SERIES_COLORS[1],
                    stroke: Stroke::Markers { radius: 3 },
                },
            ],
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::LowerRight,
        };
        let mut views = Vec::new();
        for &shown in &p.shown_d2 {
            if let Some(r) = data.results.iter().find(|r| (r.d2 - shown).abs() < 1e-12) {
                views.push((
                    format!("d₂ = {}, τ = {}", r.d2, p.study.tau_stable),
                    r.d2,
                    &r.stable.positions,
                ));
            }
        }
        if let Some(r) = p
            .shown_d2
            .last()
            .and_then(|&s| data.results.iter().find(|r| (r.d2 - s).abs() < 1e-12))
        {
            views.push((
                format!("d₂ = {}, τ = {} (unstable)", r.d2, p.study.tau_unstable),
                r.d2,
                &r.unstable.positions,
            ));
        }
        let circles = views.into_iter().map(|(title, d2, positions)| {
            let values = circle_quadratic([p.study.d1, d2], 360);
            let view = CircleView {
                title,
                current: angles2(positions),
                initial: vec![
                    std::f64::consts::FRAC_PI_4,
                    3.0 * std::f64::consts::FRAC_PI_4,
                    -3.0 * std::f64::consts::FRAC_PI_4,
                    -std::f64::consts::FRAC_PI_4,
                ],
                paths: Vec::new(),
                coloring: Some(CircleColoring {
                    scale: ColorScale::spanning(values.iter().copied()),
                    values,
                }),
                marker_color: BLACK,
            };
            Panel::Circle(view)
        });
        Ok(Layout {
            size: (1500, 560),
            body: Block::titled(
                format!(
                    "Four particles, D = diag({}, d₂), descent from the rotated square, {} steps",
                    p.study.d1, p.study.steps
                ),
                text_size::PANEL_TITLE,
                Block::columns(
                    Split::FromStart(620),
                    Block::panel(Panel::Lines(panel)),
                    Block::row(circles),
                ),
            ),
        })
    }

    fn summary(p: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut lines = vec![SummaryLine::new(
            format!("max |a² - tanh law| with τ = {}", p.study.tau_stable),
            format!("{:.2e}", data.max_a2_error_stable),
        )];
        let unstable: Vec<String> = data
            .results
            .iter()
            .filter(|r| (r.unstable.a2 - r.predicted_a2).abs() > 0.05)
            .map(|r| format!("{}", r.d2))
            .collect();
        lines.push(SummaryLine::new(
            format!(
                "d₂ where τ = {} ends > 0.05 away from the tanh law",
                p.study.tau_unstable
            ),
            if unstable.is_empty() {
                "none".to_string()
            } else {
                unstable.join(", ")
            },
        ));
        lines
    }
}

//! `bkkrw-fig4`: \[BKKRW\] Figure 4 / claim m4 (spec tfdy.md sections 2-3): four particles (+-a, +-b) on S^1,
//! D = diag(1, d2), E_code = cosh(a^2) cosh(d2 b^2), minimiser by the tanh law tanh(a^2) = d2 tanh(d2 b^2).
//! Descent from the square rotated by pi/4 (10000 steps) with tau = 0.0005 (stable) and tau = 0.05 (unstable
//! for d2 >= 6: jumps to the maximum-energy axis). Computation in `attnflow_kuramoto::four_particle`.

use attnflow_kuramoto::four_particle::{
    FourParticleParams, FourParticleResult, four_particle_study,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::surrogate_views::{angles2, circle_quadratic, upstream};
use crate::error::Result;
use crate::figure::{Fidelity, Figure, FigureParams, Progress, SummaryLine};
use crate::plot::circle::{CircleColoring, CircleView, draw_circle_view};
use crate::plot::colormap::ColorScale;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke, draw_line_panel};
use crate::plot::{FONT, SERIES_COLORS, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub study: FourParticleParams,
    /// d2 values whose final states are drawn (stable tau), plus the unstable run at the last one.
    pub shown_d2: Vec<f64>,
}

impl FigureParams for Params {
    fn fidelity(&self) -> Fidelity {
        self.fidelity
    }
    fn seed(&self) -> u64 {
        self.seed
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub results: Vec<FourParticleResult>,
    /// max |a^2 measured (tau stable) - a^2 tanh law| over d2.
    pub max_a2_error_stable: f64,
}

pub struct BkkrwFig4;

impl Figure for BkkrwFig4 {
    const ID: &'static str = "bkkrw-fig4";
    const TITLE: &'static str =
        "[BKKRW] Figure 4: four particles, the tanh law and the step-size instability";
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

    fn size(_: &Params, _: &Data) -> (u32, u32) {
        (1500, 560)
    }

    fn draw<DB: DrawingBackend>(
        p: &Params,
        data: &Data,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let root = root.titled(
            &format!(
                "Four particles, D = diag({}, d₂), descent from the rotated square, {} steps",
                p.study.d1, p.study.steps
            ),
            (FONT, text_size::PANEL_TITLE),
        )?;
        let (left, right) = root.split_horizontally(620);
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
        draw_line_panel(&left, &panel)?;
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
        let cells = right.split_evenly((1, views.len().max(1)));
        for ((title, d2, positions), area) in views.into_iter().zip(cells) {
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
            draw_circle_view(&area, &view)?;
        }
        Ok(())
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

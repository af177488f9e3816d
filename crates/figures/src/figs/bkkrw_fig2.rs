//! `bkkrw-fig2`: \[BKKRW\] Figure 2 / claim M4 (spec tfdy.md sections 2-3): ascent for D = diag(s, 1) in 2-D from
//! 100 uniform particles (1500 steps, tau = 0.1, 100 repetitions per s, s = linspace(0, 1.5, 20)): counts of
//! single-cluster / antipodal-pair / other terminal states against s, mean terminal energies against the
//! single-Dirac energy e^{max(s, 1)}; and one run for D = diag(1, 1.25) (1400 steps, tau = 0.075) on the circle
//! coloured by x^T D x. Statistics from `attnflow_kuramoto::surrogate::split_statistics` (robust cluster count:
//! components of {|<x_i, x_j>| > 1 - delta} split by sign).

use attnflow_kuramoto::surrogate::{Direction, SplitParams, SplitPoint, split_statistics};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::surrogate_views::{SchemeRun, angles2, circle_quadratic, run_from_uniform, upstream};
use crate::error::Result;
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::golden::FieldTolerance;
use crate::layout::{Block, Layout, Panel};
use crate::plot::circle::{CircleColoring, CircleView};
use crate::plot::colormap::ColorScale;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use crate::plot::{SERIES_COLORS, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub split: SplitParams,
    /// The circle run: diagonal of D, particles, steps, tau.
    pub circle_diag: [f64; 2],
    pub circle_n: usize,
    pub circle_steps: usize,
    pub circle_tau: f64,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub split: Vec<SplitPoint>,
    pub circle_run: SchemeRun,
}

pub struct BkkrwFig2;

impl Figure for BkkrwFig2 {
    const META: Meta = Meta {
        id: "bkkrw-fig2",
        paper: Paper::Bkkrw,
        number: 2,
        title: "[BKKRW] Figure 2: one cluster or an antipodal pair, D = diag(s, 1)",
        claim: "Code: single / two / more clusters vs s for D = diag(s, 1); mean final energies against e^{max(s,1)}.",
        tolerances: &[
            FieldTolerance::new(
                "circle_run.fin",
                1e-6,
                0.0,
                "positions after 1400 explicit steps",
            ),
            FieldTolerance::new(
                "split",
                1e-6,
                1e-6,
                "mean terminal energies of many-step runs",
            ),
        ],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let mut split = SplitParams::paper(seed);
        let num_s = fidelity.pick(3, 10, 20);
        split.s_values = (0..num_s)
            .map(|k| 1.5 * k as f64 / (num_s - 1) as f64)
            .collect();
        split.reps = fidelity.pick(2, 20, 100);
        Params {
            fidelity,
            seed,
            split,
            circle_diag: [1.0, 1.25],
            circle_n: 100,
            circle_steps: 1400,
            circle_tau: 0.075,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "[BKKRW] ascent scheme (engine paper-euler on USA with B = V = D, beta = 1): tau = {}, {} steps; circle run tau = {}, {} steps",
            p.split.tau, p.split.steps, p.circle_tau, p.circle_steps
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        let split = split_statistics(&p.split).map_err(upstream)?;
        progress.update(1, 2);
        let circle_run = run_from_uniform(
            &p.circle_diag,
            Direction::Ascent,
            p.circle_n,
            p.circle_tau,
            p.circle_steps,
            p.seed,
            u64::MAX,
            p.split.delta,
        )?;
        progress.update(2, 2);
        Ok(Data { split, circle_run })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let s: Vec<f64> = data.split.iter().map(|x| x.s).collect();
        let reps = p.split.reps as f64;
        let series = |label: &str, ys: Vec<f64>, k: usize| Overlay {
            label: Some(label.into()),
            points: s.iter().copied().zip(ys).collect(),
            color: SERIES_COLORS[k],
            stroke: Stroke::Solid { width: 2 },
        };
        let with_markers = |o: Overlay| {
            let markers = Overlay {
                label: None,
                stroke: Stroke::Markers { radius: 3 },
                ..o.clone()
            };
            [o, markers]
        };
        let s_range = (
            s.first().copied().unwrap_or(0.0) - 0.05,
            s.last().copied().unwrap_or(1.5) + 0.05,
        );
        let counts = LinePanel {
            title: "terminal states".into(),
            x_label: "s".into(),
            y_label: "fraction of runs".into(),
            x_range: s_range,
            y_range: (-0.02, 1.05),
            series: [
                with_markers(series(
                    "single cluster",
                    data.split.iter().map(|x| x.single as f64 / reps).collect(),
                    0,
                )),
                with_markers(series(
                    "antipodal pair",
                    data.split.iter().map(|x| x.two as f64 / reps).collect(),
                    1,
                )),
                with_markers(series(
                    "other",
                    data.split.iter().map(|x| x.more as f64 / reps).collect(),
                    2,
                )),
            ]
            .concat(),
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        let e_max = data
            .split
            .iter()
            .map(|x| x.dirac_energy.max(x.mean_energy))
            .fold(0.0, f64::max);
        let energies = LinePanel {
            title: "mean terminal E_code".into(),
            x_label: "s".into(),
            y_label: "E_code".into(),
            x_range: s_range,
            y_range: (0.0, e_max * 1.1),
            series: {
                let mut v = with_markers(series(
                    "mean over runs",
                    data.split.iter().map(|x| x.mean_energy).collect(),
                    0,
                ))
                .to_vec();
                v.push(series(
                    "single Dirac e^max(s,1)",
                    data.split.iter().map(|x| x.dirac_energy).collect(),
                    6,
                ));
                v
            },
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::UpperLeft,
        };
        let values = circle_quadratic(p.circle_diag, 360);
        let view = CircleView {
            title: format!(
                "D = diag({}, {}): n = {}, {} steps ({} signed clusters)",
                p.circle_diag[0],
                p.circle_diag[1],
                p.circle_n,
                p.circle_steps,
                data.circle_run.clusters.clusters
            ),
            current: angles2(&data.circle_run.fin),
            initial: Vec::new(),
            paths: Vec::new(),
            coloring: Some(CircleColoring {
                scale: ColorScale::spanning(values.iter().copied()),
                values,
            }),
            marker_color: BLACK,
        };
        Ok(Layout {
            size: (1500, 520),
            body: Block::titled(
                format!(
                    "Ascent, D = diag(s, 1): n = {}, {} steps, {} repetitions per s",
                    p.split.n, p.split.steps, p.split.reps
                ),
                text_size::PANEL_TITLE,
                Block::row([
                    Panel::Lines(counts),
                    Panel::Lines(energies),
                    Panel::Circle(view),
                ]),
            ),
        })
    }

    fn summary(p: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut lines: Vec<SummaryLine> = data
            .split
            .iter()
            .map(|x| {
                SummaryLine::new(
                    format!(
                        "s = {:.3}: single / pair / other of {}; mean E_code vs e^max(s,1)",
                        x.s, p.split.reps
                    ),
                    format!(
                        "{} / {} / {}; {:.4} vs {:.4}",
                        x.single, x.two, x.more, x.mean_energy, x.dirac_energy
                    ),
                )
            })
            .collect();
        lines.push(SummaryLine::new(
            "circle run D = diag(1, 1.25): terminal shape, signed clusters",
            format!(
                "{:?}, {}",
                data.circle_run.clusters.shape, data.circle_run.clusters.clusters
            ),
        ));
        lines
    }
}

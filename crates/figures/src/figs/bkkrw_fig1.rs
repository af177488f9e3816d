//! `bkkrw-fig1`: \[BKKRW\] Figure 1 (spec tfdy.md section 3): one particle on S^2 under the ascent scheme
//! x <- normalize(x + tau e^{x^T D x} D x) (USA, beta = 1, 500 steps, tau = 0.1) from 30 random starts:
//! (a) D = I_3: nothing moves (every Dirac maximises E); (b) D = diag(1, 3, 4): every particle ends at +-e3
//! (the top eigenvector). Sphere views coloured by x^T D x, back side hidden; starts faint, ends filled.

use attnflow_kuramoto::surrogate::Direction;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::surrogate_views::{SchemeRun, diag3, points3, run_from_uniform};
use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::golden::FieldTolerance;
use crate::layout::{self, Block, Layout};
use crate::plot::sphere::{Camera, QuadraticColoring, SphereView};
use crate::plot::text_size;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// (label, diagonal of D) per panel.
    pub panels: Vec<(String, Vec<f64>)>,
    pub starts: usize,
    pub steps: usize,
    pub tau: f64,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    pub label: String,
    pub diag: Vec<f64>,
    pub runs: Vec<SchemeRun>,
    /// max over runs of |x_end - x_start|.
    pub max_displacement: f64,
    /// Runs ending within 1e-6 (in 1 - |x_3|) of +-e3.
    pub ended_at_pm_e3: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub panels: Vec<Panel>,
}

pub struct BkkrwFig1;

impl Figure for BkkrwFig1 {
    const META: Meta = Meta {
        id: "bkkrw-fig1",
        paper: Paper::Bkkrw,
        number: 1,
        title: "[BKKRW] Figure 1: one particle under ascent on S², D = I and D = diag(1, 3, 4)",
        claim: "Code: (a) D = I_3, nothing moves; (b) D = diag(1,3,4), all particles end at +-e3.",
        tolerances: &[
            FieldTolerance::new(
                "panels.*.runs.*.fin",
                1e-6,
                0.0,
                "positions after 500 explicit steps",
            ),
            FieldTolerance::new("panels.*.max_displacement", 1e-6, 0.0, "as positions"),
        ],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            panels: vec![
                ("(a) D = I₃".into(), vec![1.0, 1.0, 1.0]),
                ("(b) D = diag(1, 3, 4)".into(), vec![1.0, 3.0, 4.0]),
            ],
            starts: fidelity.pick(8, 30, 30),
            steps: 500,
            tau: 0.1,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "[BKKRW] ascent scheme (engine paper-euler on USA with B = V = D, beta = 1), tau = {}, {} steps",
            p.tau, p.steps
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.starts == 0 || p.panels.iter().any(|(_, d)| d.len() != 3) {
            return Err(FigureError::InvalidParams(
                "bkkrw-fig1 needs starts >= 1 and 3-D diagonals".into(),
            ));
        }
        let total = (p.panels.len() * p.starts) as u64;
        let mut panels = Vec::new();
        for (k, (label, diag)) in p.panels.iter().enumerate() {
            let mut runs = Vec::new();
            for r in 0..p.starts {
                runs.push(run_from_uniform(
                    diag,
                    Direction::Ascent,
                    1,
                    p.tau,
                    p.steps,
                    p.seed,
                    r as u64,
                    1e-3,
                )?);
                progress.update((k * p.starts + r + 1) as u64, total);
            }
            let max_displacement = runs
                .iter()
                .map(|run| {
                    run.initial
                        .iter()
                        .zip(&run.fin)
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .fold(0.0, f64::max);
            let ended_at_pm_e3 = runs
                .iter()
                .filter(|run| 1.0 - run.fin[2].abs() < 1e-6)
                .count();
            panels.push(Panel {
                label: label.clone(),
                diag: diag.clone(),
                runs,
                max_displacement,
                ended_at_pm_e3,
            });
        }
        Ok(Data { panels })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let camera = Camera::new([1.0, 0.8, 0.6], [0.0, 0.0, 1.0])?;
        let views = data.panels.iter().map(|panel| {
            layout::Panel::Sphere(SphereView {
                title: panel.label.clone(),
                camera,
                coloring: Some(QuadraticColoring::with_natural_scale(diag3(&panel.diag))),
                points: panel.runs.iter().flat_map(|r| points3(&r.fin)).collect(),
                initial_points: panel
                    .runs
                    .iter()
                    .flat_map(|r| points3(&r.initial))
                    .collect(),
                point_color: BLACK,
            })
        });
        Ok(Layout {
            size: (520 * data.panels.len().max(1) as u32, 600),
            body: Block::titled(
                format!(
                    "One particle, ascent, {} random starts (faint) and ends (filled); colour x^T D x",
                    p.starts
                ),
                text_size::PANEL_TITLE,
                Block::row(views),
            ),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        data.panels
            .iter()
            .map(|panel| {
                SummaryLine::new(
                    format!("{}: max displacement; runs ending at ±e3", panel.label),
                    format!(
                        "{:.2e}; {}/{}",
                        panel.max_displacement,
                        panel.ended_at_pm_e3,
                        panel.runs.len()
                    ),
                )
            })
            .collect()
    }
}

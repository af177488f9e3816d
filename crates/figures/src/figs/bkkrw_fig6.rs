//! `bkkrw-fig6`: \[BKKRW\] Figure 6 (spec tfdy.md section 3): maximisers for negative definite D on S^2 by the ascent
//! scheme (100 particles, 500 steps, tau = 0.1): (a) D = -I_3, 6 repetitions: antipodal pairs on random axes;
//! (b) D = diag(-1, -3, -4), 100 repetitions: every run ends on +-e3 (M2: the maximiser is
//! (delta_w + delta_{-w})/2 with w the eigenvector of the most negative eigenvalue; particle runs freeze the
//! mass split). Sphere views of the first repetition; cluster shapes of all repetitions in the data.

use attnflow_kuramoto::surrogate::{ClusterShape, Direction};
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
pub struct PanelSpec {
    pub label: String,
    pub diag: Vec<f64>,
    pub reps: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub panels: Vec<PanelSpec>,
    pub n: usize,
    pub steps: usize,
    pub tau: f64,
    pub cluster_delta: f64,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    pub spec: PanelSpec,
    /// The first repetition in full (drawn).
    pub shown: SchemeRun,
    /// Terminal shape of every repetition.
    pub shapes: Vec<ClusterShape>,
    /// Repetitions whose particles all lie within 1e-3 (in 1 - |x_3|) of +-e3.
    pub all_on_pm_e3: usize,
    /// Terminal E_code of every repetition.
    pub energies: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub panels: Vec<Panel>,
}

pub struct BkkrwFig6;

impl Figure for BkkrwFig6 {
    const META: Meta = Meta {
        id: "bkkrw-fig6",
        paper: Paper::Bkkrw,
        number: 6,
        title: "[BKKRW] Figure 6: maximisers for negative definite D on S² (ascent)",
        claim: "Code: (a) D = -I_3: antipodal pairs on random axes; (b) D = diag(-1,-3,-4): all on +-e3.",
        tolerances: &[
            FieldTolerance::new(
                "panels.*.shown.fin",
                1e-6,
                0.0,
                "positions after 500 explicit steps",
            ),
            FieldTolerance::new(
                "panels.*.energies",
                1e-9,
                1e-9,
                "energies of those positions",
            ),
            FieldTolerance::new("panels.*.shown.energy", 1e-9, 1e-9, "as energies"),
        ],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            panels: vec![
                PanelSpec {
                    label: "(a) D = -I₃".into(),
                    diag: vec![-1.0, -1.0, -1.0],
                    reps: fidelity.pick(2, 6, 6),
                },
                PanelSpec {
                    label: "(b) D = diag(-1, -3, -4)".into(),
                    diag: vec![-1.0, -3.0, -4.0],
                    reps: fidelity.pick(4, 100, 100),
                },
            ],
            n: 100,
            steps: 500,
            tau: 0.1,
            cluster_delta: 1e-3,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "[BKKRW] ascent scheme (engine paper-euler on USA with B = V = D, beta = 1), tau = {}, {} steps",
            p.tau, p.steps
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.panels.iter().any(|s| s.diag.len() != 3 || s.reps == 0) || p.n == 0 {
            return Err(FigureError::InvalidParams(
                "bkkrw-fig6 needs n >= 1, reps >= 1 and 3-D diagonals".into(),
            ));
        }
        let total: u64 = p.panels.iter().map(|s| s.reps as u64).sum();
        let mut done = 0;
        let mut panels = Vec::new();
        for (k, spec) in p.panels.iter().enumerate() {
            let mut runs = Vec::new();
            for r in 0..spec.reps {
                let index = (k * 1_000_000 + r) as u64;
                runs.push(run_from_uniform(
                    &spec.diag,
                    Direction::Ascent,
                    p.n,
                    p.tau,
                    p.steps,
                    p.seed,
                    index,
                    p.cluster_delta,
                )?);
                done += 1;
                progress.update(done, total);
            }
            let all_on_pm_e3 = runs
                .iter()
                .filter(|run| run.fin.chunks_exact(3).all(|x| 1.0 - x[2].abs() < 1e-3))
                .count();
            panels.push(Panel {
                spec: spec.clone(),
                shapes: runs.iter().map(|r| r.clusters.shape).collect(),
                energies: runs.iter().map(|r| r.energy).collect(),
                all_on_pm_e3,
                shown: runs.swap_remove(0),
            });
        }
        Ok(Data { panels })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let camera = Camera::new([1.0, 0.7, 0.5], [0.0, 0.0, 1.0])?;
        let views = data.panels.iter().map(|panel| {
            layout::Panel::Sphere(SphereView {
                title: panel.spec.label.clone(),
                camera,
                coloring: Some(QuadraticColoring::with_natural_scale(diag3(
                    &panel.spec.diag,
                ))),
                points: points3(&panel.shown.fin),
                initial_points: Vec::new(),
                point_color: BLACK,
            })
        });
        Ok(Layout {
            size: (520 * data.panels.len().max(1) as u32, 600),
            body: Block::titled(
                format!(
                    "Ascent with negative definite D: n = {}, {} steps (first repetition); colour x^T D x",
                    p.n, p.steps
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
                let pairs = panel
                    .shapes
                    .iter()
                    .filter(|s| **s == ClusterShape::AntipodalPair)
                    .count();
                SummaryLine::new(
                    format!(
                        "{}: antipodal-pair terminal states; all particles on ±e3",
                        panel.spec.label
                    ),
                    format!(
                        "{pairs}/{}; {}/{}",
                        panel.shapes.len(),
                        panel.all_on_pm_e3,
                        panel.shapes.len()
                    ),
                )
            })
            .collect()
    }
}

//! `bkkrw-fig3`: \[BKKRW\] Figure 3 (spec tfdy.md section 3): minimisers of E_code on S^2 found by the descent
//! scheme x_i <- normalize(x_i - (tau/n) sum_j e^{x_i^T D x_j} D x_j) from 400 uniform points, for
//! (a) D = I (uniform), (b) D = diag(1, .25, 1) (concentrated near +-e2), (c) D = diag(1, 0, 1) (two antipodal
//! clusters at +-e2, the kernel of D), (d) D = diag(0, 0, 1) (the ring {x_3 = 0}). The authors used torch seed
//! 42; our initial points come from the project's seeded streams, so individual points differ.

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

/// One panel: label, diagonal of D, step tau.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelSpec {
    pub label: String,
    pub diag: Vec<f64>,
    pub tau: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub panels: Vec<PanelSpec>,
    pub n: usize,
    pub steps: usize,
}

crate::figure_params!(Params);

/// Shape statistics of a terminal configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Mean of x_k^2 over particles, k = 1, 2, 3 (1/3 each for the uniform measure).
    pub second_moments: [f64; 3],
    /// max_i |x_i3| (0 on the ring {x_3 = 0}).
    pub max_abs_x3: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    pub spec: PanelSpec,
    pub run: SchemeRun,
    pub shape: Shape,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub panels: Vec<Panel>,
}

pub struct BkkrwFig3;

fn shape(points: &[f64]) -> Shape {
    let n = (points.len() / 3).max(1) as f64;
    let mut m = [0.0; 3];
    let mut max_abs_x3: f64 = 0.0;
    for p in points.chunks_exact(3) {
        for k in 0..3 {
            m[k] += p[k] * p[k] / n;
        }
        max_abs_x3 = max_abs_x3.max(p[2].abs());
    }
    Shape {
        second_moments: m,
        max_abs_x3,
    }
}

impl Figure for BkkrwFig3 {
    const META: Meta = Meta {
        id: "bkkrw-fig3",
        paper: Paper::Bkkrw,
        number: 3,
        title: "[BKKRW] Figure 3: energy minimisers on S² (descent, 400 particles)",
        claim: "Code: minimisers on S^2: uniform (I); concentrated near +-e2; two antipodal clusters at +-e2; ring {x3 = 0}.",
        tolerances: &[
            FieldTolerance::new(
                "panels.*.run.fin",
                1e-6,
                0.0,
                "positions after many explicit steps",
            ),
            FieldTolerance::new("panels.*.shape", 1e-6, 0.0, "moments of those positions"),
            FieldTolerance::new(
                "panels.*.run.energy",
                1e-9,
                1e-9,
                "energy of those positions",
            ),
        ],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let panel = |label: &str, diag: [f64; 3], tau: f64| PanelSpec {
            label: label.into(),
            diag: diag.to_vec(),
            tau,
        };
        Params {
            fidelity,
            seed,
            panels: vec![
                panel("(a) D = I", [1.0, 1.0, 1.0], 0.1),
                panel("(b) D = diag(1, .25, 1)", [1.0, 0.25, 1.0], 0.5),
                panel("(c) D = diag(1, 0, 1)", [1.0, 0.0, 1.0], 0.75),
                panel("(d) D = diag(0, 0, 1)", [0.0, 0.0, 1.0], 0.75),
            ],
            n: fidelity.pick(100, 400, 400),
            steps: fidelity.pick(400, 3000, 20000),
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "[BKKRW] descent scheme (engine paper-euler on USA with B = D, V = -D, beta = 1), {} steps, tau per panel",
            p.steps
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.n == 0 || p.panels.iter().any(|s| s.diag.len() != 3) {
            return Err(FigureError::InvalidParams(
                "bkkrw-fig3 needs n >= 1 and 3-D diagonals".into(),
            ));
        }
        let mut panels = Vec::new();
        for (k, spec) in p.panels.iter().enumerate() {
            let run = run_from_uniform(
                &spec.diag,
                Direction::Descent,
                p.n,
                spec.tau,
                p.steps,
                p.seed,
                k as u64,
                1e-3,
            )?;
            progress.update(k as u64 + 1, p.panels.len() as u64);
            panels.push(Panel {
                spec: spec.clone(),
                shape: shape(&run.fin),
                run,
            });
        }
        Ok(Data { panels })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let camera = Camera::new([1.0, 0.55, 0.45], [0.0, 0.0, 1.0])?;
        let views = data.panels.iter().map(|panel| {
            layout::Panel::Sphere(SphereView {
                title: panel.spec.label.clone(),
                camera,
                coloring: Some(QuadraticColoring::with_natural_scale(diag3(
                    &panel.spec.diag,
                ))),
                points: points3(&panel.run.fin),
                initial_points: Vec::new(),
                point_color: BLACK,
            })
        });
        Ok(Layout {
            size: (440 * data.panels.len().max(1) as u32, 520),
            body: Block::titled(
                format!(
                    "Minimisers of E_code on S² by descent: n = {}, {} steps; colour x^T D x",
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
                let m = panel.shape.second_moments;
                SummaryLine::new(
                    format!(
                        "{}: E_code; mean x_k²; max |x₃|; signed clusters (δ = 1e-3)",
                        panel.spec.label
                    ),
                    format!(
                        "{:.6}; ({:.3}, {:.3}, {:.3}); {:.2e}; {}",
                        panel.run.energy,
                        m[0],
                        m[1],
                        m[2],
                        panel.shape.max_abs_x3,
                        panel.run.clusters.clusters
                    ),
                )
            })
            .collect()
    }
}

//! `glpr-fig5`: \[GLPR\] Figure 5, phase diagrams as in Figure 3 with random weight matrices, d = 128, n = 32,
//! an independent draw per realisation (ensembles defined in `attnflow_dynamics::MatrixEnsemble`):
//! (a) Q, K, V Ginibre (B = G1 G2 / sqrt(d), V = G3 / sqrt(d): the V normalisation is our choice);
//! (b) Q^T K GOE, B = (G + G^T) / sqrt(2), V = G' G'^T / sqrt(d) (PSD);
//! (c) Q, K Ginibre, V = Q^T K / sqrt(d); (d) Q^T K GOE, V = Q^T K / sqrt(d + 1).
//! As in the authors' code the weights are exp(beta x_i^T B x_j) and the velocity applies V^T to the average
//! (`attnflow_dynamics::WeightDraw::value_applied`: their code multiplies row vectors by V).

use attnflow_dynamics::{IntegratorKind, MatrixEnsemble};
use attnflow_experiment::Spec;
use serde::{Deserialize, Serialize};

use super::phase::{DeclaredPanel, PhaseGrid, PhasePanel, phase_grid, run_declared};
use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::golden::FieldTolerance;
use crate::layout::{Block, Layout};
use crate::plot::text_size;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub n: usize,
    pub d: usize,
    pub delta: f64,
    /// (label, ensemble) per panel.
    pub ensembles: Vec<(String, MatrixEnsemble)>,
    pub t_max: f64,
    pub num_t: usize,
    pub beta_min: f64,
    pub beta_max: f64,
    pub num_beta: usize,
    pub realizations: usize,
    pub dt: f64,
    pub integrator: IntegratorKind,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub panels: Vec<PhasePanel>,
}

pub struct GlprFig5;

/// The declared panels: one per ensemble, spec file `<letter>-<ensemble>` (`a-ginibre`, `c-ginibre-gf`;
/// letters in panel order), label as given.
fn declared_panels(p: &Params) -> Result<Vec<DeclaredPanel>> {
    if p.ensembles.len() > 26 {
        return Err(FigureError::InvalidParams(format!(
            "glpr-fig5 names its panels (a) to (z), got {} ensembles",
            p.ensembles.len()
        )));
    }
    p.ensembles
        .iter()
        .zip('a'..='z')
        .map(|((label, ensemble), letter)| {
            let grid = PhaseGrid {
                n: p.n,
                d: p.d,
                seed: p.seed,
                matrices: *ensemble,
                delta: p.delta,
                t_max: p.t_max,
                num_t: p.num_t,
                beta_min: p.beta_min,
                beta_max: p.beta_max,
                num_beta: p.num_beta,
                realizations: p.realizations,
                dt: p.dt,
                integrator: p.integrator,
            };
            let ensemble_name = serde_json::to_value(ensemble)?;
            Ok(DeclaredPanel {
                name: format!("{letter}-{}", ensemble_name.as_str().unwrap_or("ensemble")),
                label: label.clone(),
                spec: grid.spec()?,
            })
        })
        .collect()
}

impl Figure for GlprFig5 {
    const META: Meta = Meta {
        id: "glpr-fig5",
        paper: Paper::Glpr,
        number: 5,
        title: "[GLPR] Figure 5: phase diagrams with random Q, K, V (d = 128, n = 32)",
        claim: "Paper: sharp transitions and metastable regions in all four random-matrix ensembles. The authors' code applies V to row vectors (velocity V^T y); until this version panel (c) applied V = B / sqrt(d) as a column map and read 0.40 at beta = 9, t = 30, where the authors' code gives 0.19 and the paper's panel about 0.18 (panels (a), (b), (d) have laws invariant under that transposition). Where each panel's transition lies, against the authors' algorithm, is in the cross-check section below.",
        tolerances: &[
            FieldTolerance::new("panels.*.probability", 0.01, 0.0, "as glpr-fig3"),
            FieldTolerance::new("panels.*.stderr", 0.01, 0.0, "as glpr-fig3"),
        ],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            n: 32,
            d: 128,
            delta: 1e-3,
            ensembles: vec![
                ("(a) ginibre".into(), MatrixEnsemble::Ginibre),
                ("(b) wigner, V psd".into(), MatrixEnsemble::WignerPsd),
                ("(c) ginibre, V = QᵀK/√d".into(), MatrixEnsemble::GinibreGf),
                (
                    "(d) wigner, V = QᵀK/√(d+1)".into(),
                    MatrixEnsemble::WignerGf,
                ),
            ],
            t_max: fidelity.pick(10.0, 30.0, 30.0),
            num_t: fidelity.pick(6, 61, 200),
            beta_min: 0.1,
            beta_max: 9.0,
            num_beta: fidelity.pick(2, 16, 150),
            realizations: fidelity.pick(2, 64, 1024),
            dt: 0.1,
            integrator: IntegratorKind::PaperEuler,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "{}, dt = {}, {} realisations per beta (full d-dimensional state)",
            p.integrator.name(),
            p.dt,
            p.realizations
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.ensembles.is_empty() {
            return Err(FigureError::InvalidParams(
                "glpr-fig5 needs at least one ensemble".into(),
            ));
        }
        Ok(Data {
            panels: run_declared(declared_panels(p)?, progress)?,
        })
    }

    fn experiment_specs(p: &Params) -> Result<Vec<(String, Spec)>> {
        Ok(declared_panels(p)?
            .into_iter()
            .map(|panel| (panel.name, panel.spec))
            .collect())
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let rows = data.panels.len().div_ceil(2).max(1);
        Ok(Layout {
            size: (1150, 60 + 420 * rows as u32),
            body: Block::titled(
                format!(
                    "Random Q, K, V: SA, d = {}, n = {}, {} realisations/β",
                    p.d, p.n, p.realizations
                ),
                text_size::TITLE,
                phase_grid(
                    &data.panels,
                    (rows, 2),
                    |panel| panel.label.clone(),
                    |_| Vec::new(),
                ),
            ),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        data.panels
            .iter()
            .map(|panel| {
                let crossing = panel.half_crossing_times();
                let reached = crossing.iter().filter(|c| c.is_some()).count();
                let intermediate = panel
                    .probability
                    .iter()
                    .flatten()
                    .filter(|&&v| v > 0.1 && v < 0.9)
                    .count();
                let cells = panel.probability.iter().map(Vec::len).sum::<usize>();
                SummaryLine::new(
                    format!(
                        "{}: betas reaching P = 1/2 by t = {}; cells with 0.1 < P < 0.9",
                        panel.label,
                        panel.t.last().unwrap_or(&0.0)
                    ),
                    format!("{reached}/{}; {intermediate}/{cells}", panel.beta.len()),
                )
            })
            .collect()
    }
}

//! `glpr-fig5`: \[GLPR\] Figure 5, phase diagrams as in Figure 3 with random weight matrices, d = 128, n = 32,
//! an independent draw per realisation (ensembles defined in `attnflow_dynamics::MatrixEnsemble`):
//! (a) Q, K, V Ginibre (B = G1 G2 / sqrt(d), V = G3 / sqrt(d): the V normalisation is our choice);
//! (b) Q^T K GOE, B = (G + G^T) / sqrt(2), V = G' G'^T / sqrt(d) (PSD);
//! (c) Q, K Ginibre, V = Q^T K / sqrt(d); (d) Q^T K GOE, V = Q^T K / sqrt(d + 1).
//! As in the authors' code the weights are exp(beta x_i^T B x_j) and the velocity applies V^T to the average
//! (`attnflow_dynamics::WeightDraw::value_applied`: their code multiplies row vectors by V).

use attnflow_dynamics::{IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::phase::{PhasePanel, draw_panels, run_panels};
use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, FigureParams, Progress, SummaryLine};
use crate::plot::linspace;

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
    pub panels: Vec<PhasePanel>,
}

pub struct GlprFig5;

impl Figure for GlprFig5 {
    const ID: &'static str = "glpr-fig5";
    const TITLE: &'static str =
        "[GLPR] Figure 5: phase diagrams with random Q, K, V (d = 128, n = 32)";
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
        let specs = p
            .ensembles
            .iter()
            .map(|(label, ensemble)| {
                (
                    label.clone(),
                    PhaseDiagramSpec {
                        n: p.n,
                        d: p.d,
                        betas: linspace(p.beta_min, p.beta_max, p.num_beta),
                        times: linspace(0.0, p.t_max, p.num_t),
                        dt: p.dt,
                        realizations: p.realizations,
                        delta: p.delta,
                        seed: p.seed,
                        model: ModelKind::Sa,
                        matrices: *ensemble,
                        integrator: p.integrator,
                        representation: None,
                        consensus_exit: true,
                    },
                )
            })
            .collect();
        Ok(Data {
            panels: run_panels(specs, progress)?,
        })
    }

    fn size(_: &Params, data: &Data) -> (u32, u32) {
        let rows = data.panels.len().div_ceil(2).max(1) as u32;
        (1150, 60 + 420 * rows)
    }

    fn draw<DB: DrawingBackend>(
        p: &Params,
        data: &Data,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let root = root.titled(
            &format!(
                "Random Q, K, V: SA, d = {}, n = {}, {} realisations/β",
                p.d, p.n, p.realizations
            ),
            (crate::plot::FONT, crate::plot::text_size::TITLE),
        )?;
        let rows = data.panels.len().div_ceil(2).max(1);
        draw_panels(
            &root,
            &data.panels,
            (rows, 2),
            |panel| panel.label.clone(),
            |_| Vec::new(),
        )
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

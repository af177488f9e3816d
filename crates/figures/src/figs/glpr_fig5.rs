//! `glpr-fig5`: \[GLPR\] Figure 5, phase diagrams as in Figure 3 with random weight matrices, d = 128, n = 32,
//! an independent draw per realisation (ensembles defined in `attnflow_dynamics::MatrixEnsemble`):
//! (a) Q, K, V Ginibre (B = G1 G2 / sqrt(d), V = G3 / sqrt(d): the V normalisation is our choice);
//! (b) Q^T K GOE, B = (G + G^T) / sqrt(2), V = G' G'^T / sqrt(d) (PSD);
//! (c) Q, K Ginibre, V = Q^T K / sqrt(d); (d) Q^T K GOE, V = Q^T K / sqrt(d + 1).
//! As in the authors' code the weights are exp(beta x_i^T B x_j) and the velocity applies V^T to the average
//! (`attnflow_dynamics::WeightDraw::value_applied`: their code multiplies row vectors by V).

use attnflow_dynamics::{IntegratorKind, MatrixEnsemble, Precision};
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
    /// Precision of the integration (`attnflow_dynamics::precision`): f64 (the default, not
    /// written, so records and the golden keep their bytes) or f32 (the paper-euler integrator).
    #[serde(default, skip_serializing_if = "Precision::is_f64")]
    pub precision: Precision,
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
            let mut spec = grid.spec()?;
            spec.integrator.precision = p.precision;
            Ok(DeclaredPanel {
                name: format!("{letter}-{}", ensemble_name.as_str().unwrap_or("ensemble")),
                label: label.clone(),
                spec,
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
        claim: "Paper: sharp transitions and metastable regions in all four random-matrix ensembles; its panel (c) reads about 0.18 at beta = 9, t = 30. The authors' code applies V to row vectors (velocity V^T y), as here (until this version panel (c) applied V = B / sqrt(d) as a column map and read 0.40 there). At paper fidelity (1024 realisations per beta, reports/paper) panels (b), (c), (d) have metastable bands, betas still undecided (0.1 < P < 0.9) at t = 30 from beta ~ 4.1, 0.8 and 0.6 on, and (c) reads 0.189 +- 0.005 at beta = 9, t = 30. Panel (a) has a sharp transition (P = 1/2 at t = 6.7 to 8.1) but no beta undecided at t = 30: a metastable region there is not reproduced, and the NumPy transcription of the authors' algorithm agrees with us cell by cell (cross-check below), so the difference is not in the dynamics; the paper does not give (a)'s V normalisation (ours V = G / sqrt(d)), and scaling V only rescales time (up to the Euler step), moving the transition but creating no plateau. Transition times and end values per beta, against the authors' algorithm: cross-check section below.",
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
            precision: Precision::F64,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "{}, dt = {}, {} realisations per beta (full d-dimensional state){}",
            p.integrator.name(),
            p.dt,
            p.realizations,
            if p.precision.is_f64() { "" } else { ", in f32" }
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
        data.panels.iter().flat_map(panel_summary).collect()
    }
}

/// The betas at which the summary reads each panel: those of the cross-check against the authors'
/// algorithm (the grid betas nearest to them).
const READ_BETAS: [f64; 4] = [1.0, 3.0, 5.0, 9.0];

/// Where a panel's transition lies and where its metastable region is: the first time P reaches
/// 1/2 and P at the last checkpoint at the grid betas nearest [`READ_BETAS`]; the band of betas
/// still undecided (0.1 < P < 0.9) at the last checkpoint; how sharp the transition is (the median
/// over betas of t(P = 0.9) - t(P = 0.1)); the counts of betas reaching 1/2 and of intermediate cells.
fn panel_summary(panel: &PhasePanel) -> Vec<SummaryLine> {
    let t_max = panel.t.last().copied().unwrap_or(0.0);
    let last = |b: usize| {
        panel
            .probability
            .get(b)
            .and_then(|row| row.last())
            .copied()
            .unwrap_or(f64::NAN)
    };
    let last_se = |b: usize| {
        panel
            .stderr
            .get(b)
            .and_then(|row| row.last())
            .copied()
            .unwrap_or(f64::NAN)
    };
    let mut read: Vec<usize> = READ_BETAS
        .iter()
        .filter_map(|&beta| panel.nearest_beta(beta))
        .collect();
    read.dedup();
    let half = panel.half_crossing_times();
    let crossing = read
        .iter()
        .map(|&b| match half.get(b).copied().flatten() {
            Some(t) => format!("β {:.2}: {t:.2}", panel.beta[b]),
            None => format!("β {:.2}: -", panel.beta[b]),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let end = read
        .iter()
        .map(|&b| format!("β {:.2}: {:.3} ± {:.3}", panel.beta[b], last(b), last_se(b)))
        .collect::<Vec<_>>()
        .join("; ");
    let band: Vec<usize> = (0..panel.beta.len())
        .filter(|&b| last(b) > 0.1 && last(b) < 0.9)
        .collect();
    let band = match (band.first(), band.last()) {
        (Some(&lo), Some(&hi)) => format!(
            "β in [{:.2}, {:.2}]: {} of {} betas",
            panel.beta[lo],
            panel.beta[hi],
            band.len(),
            panel.beta.len()
        ),
        _ => "none".to_string(),
    };
    let mut widths: Vec<f64> = panel
        .crossing_times(0.1)
        .into_iter()
        .zip(panel.crossing_times(0.9))
        .filter_map(|(lo, hi)| Some(hi? - lo?))
        .collect();
    widths.sort_by(f64::total_cmp);
    let width = match widths.len() {
        0 => "- (no beta reaches 0.9)".to_string(),
        k => {
            let median = if k % 2 == 1 {
                widths[k / 2]
            } else {
                0.5 * (widths[k / 2 - 1] + widths[k / 2])
            };
            format!("{median:.2} ({k} of {} betas reach 0.9)", panel.beta.len())
        }
    };
    let reached = half.iter().filter(|c| c.is_some()).count();
    let intermediate = panel
        .probability
        .iter()
        .flatten()
        .filter(|&&v| v > 0.1 && v < 0.9)
        .count();
    let cells = panel.probability.iter().map(Vec::len).sum::<usize>();
    let label = &panel.label;
    vec![
        SummaryLine::new(format!("{label}: first t with P = 1/2"), crossing),
        SummaryLine::new(format!("{label}: P at t = {t_max}"), end),
        SummaryLine::new(
            format!("{label}: metastable band, 0.1 < P < 0.9 at t = {t_max}"),
            band,
        ),
        SummaryLine::new(
            format!("{label}: transition width, median of t(P = 0.9) - t(P = 0.1)"),
            width,
        ),
        SummaryLine::new(
            format!("{label}: betas reaching P = 1/2 by t = {t_max}; cells with 0.1 < P < 0.9"),
            format!("{reached}/{}; {intermediate}/{cells}", panel.beta.len()),
        ),
    ]
}

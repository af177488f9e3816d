//! `glpr-fig3`: phase diagrams of \[GLPR\] Figure 3, P(<x_1(t), x_2(t)> >= 1 - delta) over (t, beta) for SA with
//! Q = K = V = I, n = 32, delta = 1e-3, d in {2, 8, 32, 128, 512, 1024}, Euler + renormalisation with step 0.1
//! (the authors' scheme), with the exact curve Gamma_{inf,delta} = {(t, beta): gamma_beta(t) = 1 - delta}
//! (\[GLPR\] (6.12), the time t_SA(1 - delta) of the equiangular ODE (6.9)) overlaid.
//!
//! Paper fidelity: 200 checkpoints in [0, 30], 150 betas in [0.1, 9], 1024 realisations per beta.

use attnflow_dynamics::{IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::phase::{PhasePanel, draw_panels, run_panels};
use super::theory;
use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, FigureParams, Progress, SummaryLine};
use crate::plot::lines::{Overlay, Stroke};
use crate::plot::linspace;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub n: usize,
    pub delta: f64,
    pub dims: Vec<usize>,
    pub t_max: f64,
    pub num_t: usize,
    pub beta_min: f64,
    pub beta_max: f64,
    pub num_beta: usize,
    pub realizations: usize,
    pub dt: f64,
    pub integrator: IntegratorKind,
    /// Number of beta values at which the exact curve Gamma_{inf,delta} is evaluated.
    pub curve_points: usize,
}

impl FigureParams for Params {
    fn fidelity(&self) -> Fidelity {
        self.fidelity
    }
    fn seed(&self) -> u64 {
        self.seed
    }
}

/// The exact curve Gamma_{inf,delta}: `t[k]` = t_SA(1 - delta) at `beta[k]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub beta: Vec<f64>,
    pub t: Vec<f64>,
}

/// Distance of a panel's empirical 50% boundary to Gamma_{inf,delta}.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundaryDistance {
    pub label: String,
    /// Betas of the panel where the probability reaches 1/2 within the time window.
    pub betas_crossing: usize,
    /// Mean over those betas of |t_50(beta) - t_SA(1 - delta; beta)|.
    pub mean_abs_time_difference: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub panels: Vec<PhasePanel>,
    pub gamma_curve: Curve,
    pub boundary_distance: Vec<BoundaryDistance>,
}

pub struct GlprFig3;

/// The panel specifications shared by Figures 3 and 4 (identity matrices, SA).
pub(crate) fn identity_spec(p: &Params, d: usize) -> PhaseDiagramSpec {
    PhaseDiagramSpec {
        n: p.n,
        d,
        betas: linspace(p.beta_min, p.beta_max, p.num_beta),
        times: linspace(0.0, p.t_max, p.num_t),
        dt: p.dt,
        realizations: p.realizations,
        delta: p.delta,
        seed: p.seed,
        model: ModelKind::Sa,
        matrices: MatrixEnsemble::Identity,
        integrator: p.integrator,
        representation: None,
        consensus_exit: true,
    }
}

/// Gamma_{inf,delta} at `count` betas of [beta_min, beta_max].
pub(crate) fn gamma_curve(p: &Params) -> Result<Curve> {
    let beta = linspace(p.beta_min, p.beta_max, p.curve_points);
    let t = beta
        .iter()
        .map(|&b| theory::clustering_time_sa(p.n, b, p.delta))
        .collect::<Result<Vec<f64>>>()?;
    Ok(Curve { beta, t })
}

/// Mean |t_50 - t*| of a panel (t* evaluated at the panel's betas).
pub(crate) fn boundary_distance(
    panel: &PhasePanel,
    n: usize,
    delta: f64,
) -> Result<BoundaryDistance> {
    let mut diffs = Vec::new();
    for (beta, t50) in panel.beta.iter().zip(panel.half_crossing_times()) {
        if let Some(t50) = t50 {
            diffs.push((t50 - theory::clustering_time_sa(n, *beta, delta)?).abs());
        }
    }
    Ok(BoundaryDistance {
        label: panel.label.clone(),
        betas_crossing: diffs.len(),
        mean_abs_time_difference: (!diffs.is_empty())
            .then(|| diffs.iter().sum::<f64>() / diffs.len() as f64),
    })
}

pub(crate) fn curve_overlay(curve: &Curve) -> Overlay {
    Overlay {
        label: None,
        points: curve
            .t
            .iter()
            .copied()
            .zip(curve.beta.iter().copied())
            .collect(),
        color: BLACK,
        stroke: Stroke::Dashed { width: 2 },
    }
}

impl Figure for GlprFig3 {
    const ID: &'static str = "glpr-fig3";
    const TITLE: &'static str =
        "[GLPR] Figure 3: phase diagrams P(<x1(t), x2(t)> > 1 - δ), SA, n = 32";
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            n: 32,
            delta: 1e-3,
            dims: vec![2, 8, 32, 128, 512, 1024],
            t_max: 30.0,
            num_t: fidelity.pick(11, 61, 200),
            beta_min: 0.1,
            beta_max: 9.0,
            num_beta: fidelity.pick(6, 30, 150),
            realizations: fidelity.pick(4, 32, 1024),
            dt: 0.1,
            integrator: IntegratorKind::PaperEuler,
            curve_points: fidelity.pick(60, 200, 400),
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "{} (x <- normalize(x + dt * sum_j A_ij x_j)), dt = {}, {} realisations per beta; reduced (n-dim) representation when d > n",
            p.integrator.name(),
            p.dt,
            p.realizations
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.dims.is_empty() {
            return Err(FigureError::InvalidParams(
                "glpr-fig3 needs at least one dimension".into(),
            ));
        }
        let specs = p
            .dims
            .iter()
            .map(|&d| (format!("d={d}"), identity_spec(p, d)))
            .collect();
        let panels = run_panels(specs, progress)?;
        let gamma_curve = gamma_curve(p)?;
        let boundary_distance = panels
            .iter()
            .map(|panel| boundary_distance(panel, p.n, p.delta))
            .collect::<Result<Vec<_>>>()?;
        Ok(Data {
            panels,
            gamma_curve,
            boundary_distance,
        })
    }

    fn size(_: &Params, data: &Data) -> (u32, u32) {
        let rows = data.panels.len().div_ceil(3).max(1) as u32;
        (1450, 60 + 420 * rows)
    }

    fn draw<DB: DrawingBackend>(
        p: &Params,
        data: &Data,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let root = root.titled(
            &format!(
                "P(<x₁(t), x₂(t)> > 1 - δ): SA, n = {}, δ = {}, {} realisations/β; dashed: Γ∞,δ",
                p.n, p.delta, p.realizations
            ),
            (crate::plot::FONT, crate::plot::text_size::TITLE),
        )?;
        let rows = data.panels.len().div_ceil(3).max(1);
        let overlay = curve_overlay(&data.gamma_curve);
        draw_panels(
            &root,
            &data.panels,
            (rows, 3),
            |panel| format!("d = {}", panel.d),
            |_| vec![overlay.clone()],
        )
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        data.boundary_distance
            .iter()
            .map(|b| {
                SummaryLine::new(
                    format!(
                        "{}: mean |t₅₀(β) - t*(β)| over the {} betas that reach 1/2",
                        b.label, b.betas_crossing
                    ),
                    b.mean_abs_time_difference
                        .map_or("-".to_string(), |v| format!("{v:.3}")),
                )
            })
            .collect()
    }
}

//! `glpr-fig6`: \[GLPR\] Figure 6 (App. B), the large-beta landscape function on the circle
//! g(tau) = (cos tau - beta sin^2 tau) e^{beta cos tau} for beta = 2 and 6 on tau in [-pi, pi], y clipped to
//! [-3, 7.75], with +-tau*_beta marked (cos tau* = (-1 + sqrt(1 + 4 beta^2)) / (2 beta); g < 0 for |tau| > tau*).

use serde::{Deserialize, Serialize};

use super::theory::{landscape_g, tau_star};
use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke, VerticalMark};
use crate::plot::{SERIES_COLORS, linspace};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub betas: Vec<f64>,
    pub num_tau: usize,
    pub y_range: (f64, f64),
}

crate::figure_params!(Params);

/// g on the tau grid for one beta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub beta: f64,
    pub g: Vec<f64>,
    pub tau_star: f64,
    /// g(tau*), zero up to round-off.
    pub g_at_tau_star: f64,
    /// Largest |tau| on the grid with g >= 0 (the grid estimate of tau*).
    pub grid_last_nonnegative: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub tau: Vec<f64>,
    pub curves: Vec<Curve>,
}

pub struct GlprFig6;

impl Figure for GlprFig6 {
    const META: Meta = Meta {
        id: "glpr-fig6",
        paper: Paper::Glpr,
        number: 6,
        title: "[GLPR] Figure 6: g(τ) = (cos τ - β sin²τ) e^{β cos τ} with τ* marked",
        claim: "Paper: g(tau) for beta = 2 and 6 with tau*_beta marked; tau* from cos tau* = (-1 + sqrt(1 + 4 beta^2)) / (2 beta).",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            betas: vec![2.0, 6.0],
            num_tau: fidelity.pick(201, 2001, 2001),
            y_range: (-3.0, 7.75),
        }
    }

    fn integrator(_: &Params) -> String {
        "closed form".into()
    }

    fn compute(p: &Params, _: &dyn Progress) -> Result<Data> {
        if p.num_tau < 3 || p.betas.is_empty() {
            return Err(FigureError::InvalidParams(
                "glpr-fig6 needs num_tau >= 3 and at least one beta".into(),
            ));
        }
        let tau = linspace(-std::f64::consts::PI, std::f64::consts::PI, p.num_tau);
        let curves = p
            .betas
            .iter()
            .map(|&beta| {
                let ts = tau_star(beta)?;
                let g = tau
                    .iter()
                    .map(|&t| landscape_g(beta, t))
                    .collect::<Result<Vec<f64>>>()?;
                let grid_last_nonnegative = tau
                    .iter()
                    .zip(&g)
                    .filter(|(_, v)| **v >= 0.0)
                    .map(|(t, _)| t.abs())
                    .fold(0.0, f64::max);
                Ok(Curve {
                    beta,
                    g,
                    tau_star: ts,
                    g_at_tau_star: landscape_g(beta, ts)?,
                    grid_last_nonnegative,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Data { tau, curves })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let series = data
            .curves
            .iter()
            .enumerate()
            .map(|(k, c)| Overlay {
                label: Some(format!("β = {}", c.beta)),
                points: data.tau.iter().copied().zip(c.g.iter().copied()).collect(),
                color: SERIES_COLORS[k % SERIES_COLORS.len()],
                stroke: Stroke::Solid { width: 2 },
            })
            .collect();
        let marks = data
            .curves
            .iter()
            .enumerate()
            .flat_map(|(k, c)| {
                let color = SERIES_COLORS[k % SERIES_COLORS.len()];
                [
                    VerticalMark {
                        x: c.tau_star,
                        label: format!(" τ* = {:.3}", c.tau_star),
                        color,
                    },
                    VerticalMark {
                        x: -c.tau_star,
                        label: String::new(),
                        color,
                    },
                ]
            })
            .collect();
        let panel = LinePanel {
            title: "g(τ) = (cos τ - β sin²τ) e^{β cos τ}".into(),
            x_label: "τ".into(),
            y_label: "g(τ)".into(),
            x_range: (-std::f64::consts::PI, std::f64::consts::PI),
            y_range: p.y_range,
            series,
            marks,
            zero_line: true,
            legend: LegendCorner::UpperRight,
        };
        Ok(Layout {
            size: (860, 560),
            body: Block::panel(Panel::Lines(panel)),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        data.curves
            .iter()
            .flat_map(|c| {
                [
                    SummaryLine::new(
                        format!("τ*_β, β = {}", c.beta),
                        format!("{:.12}", c.tau_star),
                    ),
                    SummaryLine::new(
                        format!("|g(τ*)|, β = {}", c.beta),
                        format!("{:.1e}", c.g_at_tau_star.abs()),
                    ),
                ]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    #[test]
    fn grid_sign_change_brackets_tau_star() {
        let p = GlprFig6::params(Fidelity::Default, 0);
        let data = GlprFig6::compute(&p, &NoProgress).unwrap();
        let step = 2.0 * std::f64::consts::PI / (p.num_tau - 1) as f64;
        for c in &data.curves {
            assert!(
                (c.grid_last_nonnegative - c.tau_star).abs() <= step,
                "beta {}",
                c.beta
            );
            assert!(c.g_at_tau_star.abs() < 1e-12 * c.beta.exp());
        }
        // beta = 2: cos tau* = (-1 + sqrt 17) / 4.
        let expected = ((-1.0 + 17f64.sqrt()) / 4.0).acos();
        assert!((data.curves[0].tau_star - expected).abs() < 1e-15);
    }
}

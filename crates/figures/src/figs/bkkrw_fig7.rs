//! `bkkrw-fig7`: energies of the three candidate maximisers for D = diag(-1, s) on S^1 (\[BKKRW\], spec
//! tfdy.md section 2, M3), as functions of s in [-1, 1].
//!
//! With E_code(X) = (1/n^2) sum_ij exp(x_i^T D x_j) (tfdy.md section 1; closed forms and E_code from
//! `attnflow_kuramoto::surrogate`):
//! single cluster at e2: e^s; antipodal pair at +-e1: cosh(1); antipodal pair at +-e2: cosh(s).
//! The single cluster beats the pair at +-e1 iff s > ln cosh 1 (the crossing marked in the figure).
//! The closed forms are drawn as lines; the same energies evaluated directly from the definition of E_code on
//! the explicit particle configurations are drawn as markers, and the crossing is also located by
//! bisection on the direct evaluation, so the figure checks the closed forms rather than restating them.

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use attnflow_dynamics::{Configuration, SquareMatrix};
use attnflow_kuramoto::surrogate::{candidate_energies, energy_code, m3_crossing};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke, VerticalMark};
use crate::plot::{SERIES_COLORS, linspace};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub s_min: f64,
    pub s_max: f64,
    pub num_s: usize,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub s: Vec<f64>,
    /// Closed forms.
    pub energy_single_e2: Vec<f64>,
    pub energy_pair_e1: Vec<f64>,
    pub energy_pair_e2: Vec<f64>,
    /// Direct evaluations of E_code on the configurations {e2, e2}, {e1, -e1}, {e2, -e2}.
    pub direct_single_e2: Vec<f64>,
    pub direct_pair_e1: Vec<f64>,
    pub direct_pair_e2: Vec<f64>,
    /// max |closed form - direct| over all s and the three states.
    pub max_abs_difference: f64,
    /// ln cosh 1.
    pub crossing_closed_form: f64,
    /// Root of E_code(single at e2) - E_code(pair at +-e1) in s by bisection.
    pub crossing_bisection: f64,
}

fn upstream(e: attnflow_kuramoto::KuramotoError) -> FigureError {
    FigureError::Upstream(e.to_string())
}

/// E_code (attnflow-kuramoto) of points of S^1 for D = diag(-1, s).
fn energy_code_at(points: &[f64], s: f64) -> Result<f64> {
    let config = Configuration::new(points.len() / 2, 2, points.to_vec())
        .map_err(|e| FigureError::Upstream(e.to_string()))?;
    energy_code(&config, &SquareMatrix::diagonal(&[-1.0, s])).map_err(upstream)
}

const SINGLE_E2: [f64; 4] = [0.0, 1.0, 0.0, 1.0];
const PAIR_E1: [f64; 4] = [1.0, 0.0, -1.0, 0.0];
const PAIR_E2: [f64; 4] = [0.0, 1.0, 0.0, -1.0];

pub struct BkkrwFig7;

impl Figure for BkkrwFig7 {
    const META: Meta = Meta {
        id: "bkkrw-fig7",
        paper: Paper::Bkkrw,
        number: 7,
        title: "[BKKRW] Figure 7: candidate maximiser energies for D = diag(-1, s)",
        claim: "Single cluster at e2 (e^s) overtakes the pair at +-e1 (cosh 1) at s = ln cosh 1.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            s_min: -1.0,
            s_max: 1.0,
            num_s: fidelity.pick(21, 100, 100),
        }
    }

    fn integrator(_: &Params) -> String {
        "closed form; direct evaluation of E_code; bisection to 1e-14 for the crossing".into()
    }

    fn compute(p: &Params, _: &dyn Progress) -> Result<Data> {
        if p.num_s < 2 || !p.s_min.is_finite() || !p.s_max.is_finite() || p.s_min >= p.s_max {
            return Err(FigureError::InvalidParams(format!(
                "bkkrw-fig7 needs num_s >= 2 and finite s_min < s_max, got {} on [{}, {}]",
                p.num_s, p.s_min, p.s_max
            )));
        }
        let s = linspace(p.s_min, p.s_max, p.num_s);
        let closed = candidate_energies(&s).map_err(upstream)?;
        let energy_single_e2: Vec<f64> = closed.iter().map(|c| c.single_e2).collect();
        let energy_pair_e1: Vec<f64> = closed.iter().map(|c| c.pair_e1).collect();
        let energy_pair_e2: Vec<f64> = closed.iter().map(|c| c.pair_e2).collect();
        let direct = |config: &[f64]| -> Result<Vec<f64>> {
            s.iter().map(|&s| energy_code_at(config, s)).collect()
        };
        let direct_single_e2 = direct(&SINGLE_E2)?;
        let direct_pair_e1 = direct(&PAIR_E1)?;
        let direct_pair_e2 = direct(&PAIR_E2)?;
        let max_abs_difference = [
            (&energy_single_e2, &direct_single_e2),
            (&energy_pair_e1, &direct_pair_e1),
            (&energy_pair_e2, &direct_pair_e2),
        ]
        .iter()
        .flat_map(|(a, b)| a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f64::max);
        let gap = |s: f64| -> Result<f64> {
            Ok(energy_code_at(&SINGLE_E2, s)? - energy_code_at(&PAIR_E1, s)?)
        };
        let (mut lo, mut hi) = (p.s_min, p.s_max);
        if gap(lo)? * gap(hi)? > 0.0 {
            return Err(FigureError::InvalidParams(format!(
                "the crossing ln cosh 1 is not inside [{}, {}]",
                p.s_min, p.s_max
            )));
        }
        while hi - lo > 1e-14 {
            let mid = 0.5 * (lo + hi);
            if gap(lo)? * gap(mid)? <= 0.0 {
                hi = mid
            } else {
                lo = mid
            }
        }
        Ok(Data {
            s,
            energy_single_e2,
            energy_pair_e1,
            energy_pair_e2,
            direct_single_e2,
            direct_pair_e1,
            direct_pair_e2,
            max_abs_difference,
            crossing_closed_form: m3_crossing(),
            crossing_bisection: 0.5 * (lo + hi),
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let line = |label: &str, ys: &[f64], k: usize| Overlay {
            label: Some(label.to_string()),
            points: data.s.iter().copied().zip(ys.iter().copied()).collect(),
            color: SERIES_COLORS[k],
            stroke: Stroke::Solid { width: 2 },
        };
        let step = (data.s.len() / 12).max(1);
        let markers = |ys: &[f64], k: usize, label: Option<&str>| Overlay {
            label: label.map(str::to_string),
            points: data
                .s
                .iter()
                .copied()
                .zip(ys.iter().copied())
                .step_by(step)
                .collect(),
            color: SERIES_COLORS[k],
            stroke: Stroke::Markers { radius: 3 },
        };
        let panel = LinePanel {
            title: "E_code of the candidate states, D = diag(-1, s)".into(),
            x_label: "s".into(),
            y_label: "E_code".into(),
            x_range: (p.s_min, p.s_max),
            y_range: (0.0, 3.0),
            series: vec![
                line("single cluster at e₂: eˢ", &data.energy_single_e2, 0),
                line("pair ±e₁: cosh 1", &data.energy_pair_e1, 1),
                line("pair ±e₂: cosh s", &data.energy_pair_e2, 2),
                markers(
                    &data.direct_single_e2,
                    0,
                    Some("direct evaluation of E_code"),
                ),
                markers(&data.direct_pair_e1, 1, None),
                markers(&data.direct_pair_e2, 2, None),
            ],
            marks: vec![VerticalMark {
                x: data.crossing_closed_form,
                label: format!(" s = ln cosh 1 = {:.4}", data.crossing_closed_form),
                color: RGBColor(90, 90, 90),
            }],
            zero_line: false,
            legend: LegendCorner::UpperLeft,
        };
        Ok(Layout {
            size: (860, 580),
            body: Block::panel(Panel::Lines(panel)),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        vec![
            SummaryLine::new(
                "crossing s (bisection on direct E_code)",
                format!("{:.12}", data.crossing_bisection),
            ),
            SummaryLine::new(
                "crossing s closed form ln cosh 1",
                format!("{:.12}", data.crossing_closed_form),
            ),
            SummaryLine::new(
                "max |closed form - direct E_code|",
                format!("{:.2e}", data.max_abs_difference),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    #[test]
    fn direct_evaluation_agrees_with_closed_forms_and_crossing() {
        let data = BkkrwFig7::compute(&BkkrwFig7::params(Fidelity::Ci, 0), &NoProgress).unwrap();
        assert!(
            data.max_abs_difference < 1e-14,
            "{}",
            data.max_abs_difference
        );
        assert!((data.crossing_bisection - 0.433_780_830_483_027).abs() < 1e-12);
        assert!((data.crossing_closed_form - data.crossing_bisection).abs() < 1e-13);
    }

    #[test]
    fn rejects_bad_ranges() {
        let mut p = BkkrwFig7::params(Fidelity::Ci, 0);
        p.num_s = 1;
        assert!(BkkrwFig7::compute(&p, &NoProgress).is_err());
        let mut p = BkkrwFig7::params(Fidelity::Ci, 0);
        p.s_max = 0.2;
        assert!(BkkrwFig7::compute(&p, &NoProgress).is_err());
    }
}

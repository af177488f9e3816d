//! `glpr-fig2`: the regime diagram of \[GLPR\] Figure 2 (a schematic, no computation).
//!
//! Horizontal axis: dimension d with marks 2, 3, n, d*; vertical axis: beta with marks 1 and n^2/pi^2
//! (the threshold quoted in Figure 2) and 4 (n-1)^2/pi^2 (what the written proof of Thm 5.1 needs:
//! (n-1) tau*_beta < pi/2, spec section 3). Green: one-cluster convergence proved in \[GLPR\] (d = 2, beta <= 1:
//! Thm 4.3; d = 2, beta >= n^2/pi^2: Thm 5.1; d >= 3, every beta: Thm 6.1). Red: d = 2 between the two
//! thresholds, open in \[GLPR\] and settled later (synchronisation for all beta >= -0.16,
//! Polyanskiy-Rigollet-Yao 2025). Outlined labels: Thm 4.2 (beta -> 0, arbitrary Q, K), Thm 6.3 (d >= n,
//! exponential rate), Thm 6.9 (d >= d*, exact clustering time).
//!
//! The schematic positions are not to scale; the data records the actual threshold values for the chosen n.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::{FONT, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// Number of particles n used to evaluate the beta thresholds.
    pub n: u32,
}

crate::figure_params!(Params);

/// A labelled tick on a schematic axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisMark {
    pub label: String,
    /// Schematic position in [0, 10].
    pub position: f64,
    /// Actual value, where there is one (e.g. beta = n^2/pi^2 for the chosen n).
    pub value: Option<f64>,
}

/// Whether convergence to one cluster is proved in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Proved in \[GLPR\] (green).
    Proved,
    /// Open in \[GLPR\] (red); closed by later work.
    OpenInPaper,
    /// A labelled statement that is not a region of the green/red partition (outlined).
    Statement,
}

/// A rectangle of the schematic, in schematic coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub theorem: String,
    pub label: String,
    pub status: Status,
    pub d_range: [f64; 2],
    pub beta_range: [f64; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub d_marks: Vec<AxisMark>,
    pub beta_marks: Vec<AxisMark>,
    pub regions: Vec<Region>,
    /// n^2/pi^2, the Thm 5.1 threshold quoted in Figure 2.
    pub beta_threshold_figure: f64,
    /// 4 (n-1)^2/pi^2, the approximation of what the written proof needs ((n-1) tau*_beta < pi/2).
    pub beta_threshold_proof: f64,
    /// The exact beta with (n-1) tau*_beta = pi/2 (attnflow-energy).
    pub beta_threshold_exact: f64,
}

pub struct GlprFig2;

/// Schematic positions.
const X_D2: [f64; 2] = [0.6, 1.4];
const X_D3: f64 = 2.2;
const X_N: f64 = 5.5;
const X_DSTAR: f64 = 8.0;
const Y_ONE: f64 = 2.5;
const Y_FIG: f64 = 6.6;
const Y_TOP: f64 = 10.0;

impl Figure for GlprFig2 {
    const META: Meta = Meta {
        id: "glpr-fig2",
        paper: Paper::Glpr,
        number: 2,
        title: "[GLPR] Figure 2: regimes where clustering to one point is proved",
        claim: "Schematic; compare labels and thresholds with [GLPR] Figure 2. The figure quotes beta >= n^2/pi^2 for Thm 5.1, the written proof needs (n-1) tau*_beta < pi/2, about 4(n-1)^2/pi^2: both are reported.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            n: 32,
        }
    }

    fn integrator(_: &Params) -> String {
        "none (schematic)".into()
    }

    fn compute(params: &Params, _: &dyn Progress) -> Result<Data> {
        if params.n < 2 {
            return Err(FigureError::InvalidParams(format!(
                "glpr-fig2 needs n >= 2, got {}",
                params.n
            )));
        }
        let n = f64::from(params.n);
        let thresholds = super::theory::thm_5_1_thresholds(params.n as usize)?;
        let beta_threshold_figure = thresholds.figure;
        let beta_threshold_proof = thresholds.proof_approx;
        let beta_threshold_exact = thresholds.exact;
        let d_marks = vec![
            AxisMark {
                label: "2".into(),
                position: 0.5 * (X_D2[0] + X_D2[1]),
                value: Some(2.0),
            },
            AxisMark {
                label: "3".into(),
                position: X_D3,
                value: Some(3.0),
            },
            AxisMark {
                label: "n".into(),
                position: X_N,
                value: Some(n),
            },
            AxisMark {
                label: "d*".into(),
                position: X_DSTAR,
                value: None,
            },
        ];
        let beta_marks = vec![
            AxisMark {
                label: "1".into(),
                position: Y_ONE,
                value: Some(1.0),
            },
            AxisMark {
                label: "n²/π²".into(),
                position: Y_FIG,
                value: Some(beta_threshold_figure),
            },
        ];
        let x_end = 10.0;
        let x3 = X_D3 - 0.4;
        let regions = vec![
            Region {
                theorem: "Thm 4.3".into(),
                label: "Thm 4.3".into(),
                status: Status::Proved,
                d_range: X_D2,
                beta_range: [0.0, Y_ONE],
            },
            Region {
                theorem: "Thm 5.1".into(),
                label: "Thm 5.1".into(),
                status: Status::Proved,
                d_range: X_D2,
                beta_range: [Y_FIG, Y_TOP],
            },
            Region {
                theorem: "open".into(),
                label: "open in [GLPR]".into(),
                status: Status::OpenInPaper,
                d_range: X_D2,
                beta_range: [Y_ONE, Y_FIG],
            },
            Region {
                theorem: "Thm 6.1".into(),
                label: "Thm 6.1: d ≥ 3, every β".into(),
                status: Status::Proved,
                d_range: [x3, x_end],
                beta_range: [0.0, Y_TOP],
            },
            Region {
                theorem: "Thm 4.2".into(),
                label: "Thm 4.2: β → 0, arbitrary Q, K".into(),
                status: Status::Statement,
                d_range: [X_D2[0], x_end],
                beta_range: [0.0, 0.9],
            },
            Region {
                theorem: "Thm 6.3".into(),
                label: "Thm 6.3: d ≥ n, exponential rate".into(),
                status: Status::Statement,
                d_range: [X_N, x_end],
                beta_range: [1.2, 5.8],
            },
            Region {
                theorem: "Thm 6.9".into(),
                label: "Thm 6.9: d ≥ d*, exact time".into(),
                status: Status::Statement,
                d_range: [X_DSTAR, x_end],
                beta_range: [6.2, 9.6],
            },
        ];
        Ok(Data {
            d_marks,
            beta_marks,
            regions,
            beta_threshold_figure,
            beta_threshold_proof,
            beta_threshold_exact,
        })
    }

    fn layout<'a>(_: &'a Params, _: &'a Data) -> Result<Layout<'a>> {
        Ok(Layout {
            size: (900, 670),
            body: Block::panel(Panel::Bespoke),
        })
    }

    /// The schematic: coloured regions of the (d, beta) plane with their labels and the threshold marks;
    /// no standard panel kind has labelled regions.
    fn draw_bespoke<DB: DrawingBackend>(
        params: &Params,
        data: &Data,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let green = RGBColor(150, 210, 150);
        let red = RGBColor(235, 130, 120);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Regimes of one-cluster convergence (schematic; n = {})",
                    params.n
                ),
                (FONT, text_size::TITLE),
            )
            .margin(20)
            .margin_left(80)
            .margin_bottom(75)
            .build_cartesian_2d(0f64..10.4f64, 0f64..10.4f64)?;
        let font = |size: u32| TextStyle::from((FONT, size).into_font());
        for region in data
            .regions
            .iter()
            .filter(|r| r.status != Status::Statement)
        {
            let color = if region.status == Status::Proved {
                green
            } else {
                red
            };
            let [x0, x1] = region.d_range;
            let [y0, y1] = region.beta_range;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, y0), (x1, y1)],
                color.filled(),
            )))?;
        }
        // Labels of the d = 2 column are written to its right, rotated text is avoided for legibility.
        for region in &data.regions {
            let [x0, x1] = region.d_range;
            let [y0, y1] = region.beta_range;
            match region.status {
                Status::Statement => {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(x0 + 0.08, y0 + 0.08), (x1 - 0.08, y1 - 0.08)],
                        BLACK.mix(0.7).stroke_width(1),
                    )))?;
                    chart.draw_series(std::iter::once(Text::new(
                        region.label.clone(),
                        (x0 + 0.2, y1 - 0.25),
                        font(text_size::ANNOTATION).pos(Pos::new(HPos::Left, VPos::Top)),
                    )))?;
                }
                _ if x1 - x0 < 1.0 => {
                    chart.draw_series(std::iter::once(Text::new(
                        region.label.clone(),
                        (x1 + 0.05, 0.5 * (y0 + y1)),
                        font(text_size::ANNOTATION).pos(Pos::new(HPos::Left, VPos::Center)),
                    )))?;
                }
                _ => {
                    chart.draw_series(std::iter::once(Text::new(
                        region.label.clone(),
                        (0.5 * (x0 + x1), 0.5 * (y0 + y1)),
                        font(text_size::AXIS_LABEL).pos(Pos::new(HPos::Center, VPos::Center)),
                    )))?;
                }
            }
        }
        // Axes with the schematic marks.
        let axis = BLACK.stroke_width(2);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (10.3, 0.0)],
            axis,
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (0.0, 10.3)],
            axis,
        )))?;
        for mark in &data.d_marks {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(mark.position, 0.0), (mark.position, -0.15)],
                BLACK.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                mark.label.clone(),
                (mark.position, -0.25),
                font(text_size::AXIS_LABEL).pos(Pos::new(HPos::Center, VPos::Top)),
            )))?;
        }
        for mark in &data.beta_marks {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, mark.position), (-0.12, mark.position)],
                BLACK.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                mark.label.clone(),
                (-0.2, mark.position),
                font(text_size::AXIS_LABEL).pos(Pos::new(HPos::Right, VPos::Center)),
            )))?;
        }
        chart.draw_series(std::iter::once(Text::new(
            "d",
            (10.3, -0.25),
            font(text_size::TITLE).pos(Pos::new(HPos::Center, VPos::Top)),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            "β",
            (-0.2, 10.3),
            font(text_size::TITLE).pos(Pos::new(HPos::Right, VPos::Center)),
        )))?;
        let notes = [
            "green: one cluster proved in [GLPR]; red: open there, settled for all β ≥ -0.16 by Polyanskiy-Rigollet-Yao (2025)".to_string(),
            format!(
                "n = {}: n²/π² = {:.1} (as in the figure); the written proof of Thm 5.1 needs β ≥ 4(n-1)²/π² = {:.1}",
                params.n, data.beta_threshold_figure, data.beta_threshold_proof
            ),
        ];
        for (k, note) in notes.into_iter().enumerate() {
            root.draw(&Text::new(
                note,
                (20, 628 + 16 * k as i32),
                font(12).pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
        Ok(())
    }

    fn summary(params: &Params, data: &Data) -> Vec<SummaryLine> {
        vec![
            SummaryLine::new(
                format!("n²/π² (Figure 2, n = {})", params.n),
                format!("{:.3}", data.beta_threshold_figure),
            ),
            SummaryLine::new(
                format!("4(n-1)²/π² (written proof of Thm 5.1, n = {})", params.n),
                format!("{:.3}", data.beta_threshold_proof),
            ),
            SummaryLine::new(
                format!("exact β with (n-1) τ*_β = π/2 (n = {})", params.n),
                format!("{:.3}", data.beta_threshold_exact),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    #[test]
    fn thresholds_match_the_formulas() {
        let data = GlprFig2::compute(&GlprFig2::params(Fidelity::Ci, 0), &NoProgress).unwrap();
        let pi2 = std::f64::consts::PI.powi(2);
        assert!((data.beta_threshold_figure - 1024.0 / pi2).abs() < 1e-12);
        assert!((data.beta_threshold_proof - 4.0 * 961.0 / pi2).abs() < 1e-12);
        // Green/red partition of the d = 2 column covers it without overlap.
        let mut column: Vec<[f64; 2]> = data
            .regions
            .iter()
            .filter(|r| r.status != Status::Statement && r.d_range == X_D2)
            .map(|r| r.beta_range)
            .collect();
        column.sort_by(|a, b| a[0].total_cmp(&b[0]));
        assert_eq!(column.first().unwrap()[0], 0.0);
        assert_eq!(column.last().unwrap()[1], Y_TOP);
        assert!(column.windows(2).all(|w| w[0][1] == w[1][0]));
    }

    #[test]
    fn rejects_degenerate_n() {
        let mut p = GlprFig2::params(Fidelity::Ci, 0);
        p.n = 1;
        assert!(GlprFig2::compute(&p, &NoProgress).is_err());
    }
}

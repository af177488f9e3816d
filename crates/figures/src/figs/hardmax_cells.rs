//! `hardmax-cells`: the beta -> infinity (hardmax) limit of pure attention in R^d, \[GLPR\] (9.4)-(9.6),
//! and its Frank-Wolfe reading (Alcalde, Geshkovski, Ruiz-Balet, arXiv 2508.09628; Alcalde, Fantuzzi,
//! Zuazua, arXiv 2407.01602). Model, conventions, the tie selection and the experiments:
//! `attnflow_energy::hardmax` (rescaled tokens z = e^{-t} x of (9.1) with V = I, in R^2, B = Q^T K;
//! Filippov selection = barycentre of the argmax set, relative tie tolerance 1e-12).
//!
//! Panels:
//! (a) B positive definite, vertices on the level set v^T B v = 1 (the authors' set-up), interior tokens
//! uniform in the hull: hardmax trajectories coloured by the predicted cell argmax_k <B z(0), v_k>; they are
//! straight segments to the cell's vertex, and the vertices do not move;
//! (b) \[GLPR\] Example 9.3 (z_1 = (1, 1), z_2 = (-1, 1), z_3 = (0, 0), B = I): three Filippov solutions of
//! z_3 from one start (towards z_1, towards z_2, sliding on the tie line), the barycentre selection from the
//! exact start (markers) and from (+-eps, 0) (dashed);
//! (c) B negative definite, Gaussian tokens: max_i |z_i|_B and the diameter against t, with the bound
//! e^{-t} (valid while the origin is in the hull);
//! (d) finite beta: the engine's pure attention (9.1) (softmax, V = I) rescaled, against the hardmax
//! trajectory from the same start (the set-up of (a)): sup over t <= T and tokens of the distance, against beta.

use attnflow_energy::hardmax::{
    self as hm, CellsOutcome, CellsSetup, ContractionOutcome, ContractionSetup, Example93,
    FiniteBetaOutcome,
};
use plotters::style::colors::BLACK;
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use crate::plot::{SERIES_COLORS, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// Panel (a) (its `seed` is the figure's seed).
    pub cells: CellsSetup,
    /// Checkpoints stored per trajectory of (a) and (c).
    pub checkpoints: usize,
    /// Panel (c).
    pub contraction: ContractionSetup,
    /// Panel (b): RK4 step, horizon and the offset eps of the one-sided starts.
    pub example_dt: f64,
    pub example_t_max: f64,
    pub example_eps: f64,
    /// Panel (d): the set-up (B, vertices as in (a)) and the inverse temperatures.
    pub finite_beta: CellsSetup,
    pub betas: Vec<f64>,
    /// Distances below this are the integration floor and are left out of the rate.
    pub floor: f64,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub cells: CellsOutcome,
    pub example: Example93,
    pub contraction: ContractionOutcome,
    pub finite_beta: FiniteBetaOutcome,
}

pub struct HardmaxCells;

fn upstream(e: impl std::fmt::Display) -> FigureError {
    FigureError::Upstream(e.to_string())
}

/// B = [[1, 0.25], [0.25, 0.5]]: positive definite, not a multiple of I.
const B_PSD: [f64; 4] = [1.0, 0.25, 0.25, 0.5];

impl Figure for HardmaxCells {
    const META: Meta = Meta {
        id: "hardmax-cells",
        paper: Paper::Frontier,
        number: 8,
        title: "Hardmax attention as Frank-Wolfe: cells, Filippov non-uniqueness, contraction, finite β",
        claim: "[GLPR] (9.4)-(9.6), Example 9.3; Alcalde-Geshkovski-Ruiz-Balet (arXiv 2508.09628): as beta -> infinity each token moves towards the average of the tokens maximising <Q z_i, K z_j>; solutions are Filippov and need not be unique (Example 9.3). The step is a Frank-Wolfe step for (1/2) x^T B x over conv{tokens}: B PSD gives Voronoi-type cells (vertices fixed, interior tokens move on straight lines to their cell's vertex), B NSD contracts to the origin; finite beta approximates the hardmax flow. Compare: final vertex vs predicted cell, straightness, the closed form v + (z0 - v) e^{-t}, the contraction rate, and the sup-distance against beta.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            cells: CellsSetup {
                b: B_PSD,
                vertices: fidelity.pick(5, 6, 6),
                interior: fidelity.pick(16, 120, 400),
                seed,
                dt: fidelity.pick(0.05, 0.01, 0.005),
                t_max: fidelity.pick(6.0, 8.0, 10.0),
            },
            checkpoints: fidelity.pick(24, 80, 100),
            contraction: ContractionSetup {
                b: [-1.0, 0.0, 0.0, -1.0],
                n: fidelity.pick(12, 32, 64),
                seed,
                dt: fidelity.pick(0.01, 1e-3, 5e-4),
                t_max: fidelity.pick(5.0, 8.0, 10.0),
                fit_window: [1.0, 5.0],
            },
            example_dt: fidelity.pick(1e-2, 1e-3, 1e-4),
            example_t_max: 4.0,
            example_eps: 1e-9,
            finite_beta: CellsSetup {
                b: B_PSD,
                vertices: fidelity.pick(5, 6, 6),
                interior: fidelity.pick(8, 30, 60),
                seed,
                dt: fidelity.pick(0.02, 0.01, 0.005),
                t_max: fidelity.pick(3.0, 4.0, 4.0),
            },
            betas: fidelity.pick(
                vec![1.0, 4.0, 16.0, 64.0, 256.0],
                vec![1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0],
                vec![1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0],
            ),
            floor: 1e-8,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "engine RK4 in R^2 (no projection): hardmax field (barycentre selection on ties, relative tie tolerance {:e}) with dt = {} (cells), {} (contraction), {} (Example 9.3); finite beta: engine pure attention (9.1), softmax, V = I, RK4 dt = {}, rescaled z = e^(-t) x",
            hm::DEFAULT_TIE_TOLERANCE,
            p.cells.dt,
            p.contraction.dt,
            p.example_dt,
            p.finite_beta.dt
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.betas.is_empty() || p.betas.iter().any(|b| !(b.is_finite() && *b >= 0.0)) {
            return Err(FigureError::InvalidParams(
                "hardmax-cells needs finite betas >= 0".into(),
            ));
        }
        let cells = hm::cells_experiment(&p.cells, p.checkpoints).map_err(upstream)?;
        progress.update(1, 4);
        let example = hm::example_9_3(p.example_dt, p.example_t_max, p.example_eps, p.checkpoints)
            .map_err(upstream)?;
        progress.update(2, 4);
        let contraction =
            hm::contraction_experiment(&p.contraction, p.checkpoints).map_err(upstream)?;
        progress.update(3, 4);
        let finite_beta =
            hm::finite_beta_experiment(&p.finite_beta, &p.betas, p.floor, 1.0).map_err(upstream)?;
        progress.update(4, 4);
        Ok(Data {
            cells,
            example,
            contraction,
            finite_beta,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let color = |k: usize| SERIES_COLORS[k % SERIES_COLORS.len()];
        // (a) cells
        let v = &data.cells.vertices;
        let k = v.len() / 2;
        let mut hull: Vec<(f64, f64)> = v.chunks_exact(2).map(|z| (z[0], z[1])).collect();
        hull.push(hull[0]);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for z in v {
            lo = lo.min(*z);
            hi = hi.max(*z);
        }
        let range = (lo - 0.1, hi + 0.1);
        let mut series = vec![Overlay {
            label: Some("hull".into()),
            points: hull,
            color: BLACK,
            stroke: Stroke::Solid { width: 1 },
        }];
        for (tok, path) in data.cells.tokens.iter().zip(&data.cells.paths) {
            series.push(Overlay {
                label: None,
                points: path.iter().map(|z| (z[0], z[1])).collect(),
                color: color(tok.predicted_cell),
                stroke: Stroke::Solid { width: 1 },
            });
            series.push(Overlay {
                label: None,
                points: vec![(tok.start[0], tok.start[1])],
                color: color(tok.predicted_cell),
                stroke: Stroke::Markers { radius: 2 },
            });
        }
        for j in 0..k {
            series.push(Overlay {
                label: None,
                points: vec![(v[2 * j], v[2 * j + 1])],
                color: color(j),
                stroke: Stroke::Markers { radius: 6 },
            });
        }
        let cells = LinePanel {
            title: format!(
                "(a) B PSD: {} of {} tokens end at their cell's vertex",
                data.cells.correct_cells,
                data.cells.tokens.len()
            ),
            x_label: "z₁".into(),
            y_label: "z₂".into(),
            x_range: range,
            y_range: range,
            series,
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        // (b) Example 9.3
        let e = &data.example;
        let curve = |c: &[[f64; 2]]| c.iter().map(|z| (z[0], z[1])).collect::<Vec<_>>();
        let every = (e.selection.len() / 20).max(1);
        let example = LinePanel {
            title: "(b) [GLPR] Example 9.3: three solutions for z₃ from (0, 0)".into(),
            x_label: "z₁".into(),
            y_label: "z₂".into(),
            x_range: (-1.2, 1.2),
            y_range: (-0.2, 1.2),
            series: vec![
                Overlay {
                    label: Some("z₁ = (1, 1), z₂ = (-1, 1)".into()),
                    points: vec![(1.0, 1.0), (-1.0, 1.0)],
                    color: BLACK,
                    stroke: Stroke::Markers { radius: 6 },
                },
                Overlay {
                    label: Some("towards z₁: C₃ = {1}".into()),
                    points: curve(&e.towards_z1),
                    color: color(0),
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some("towards z₂: C₃ = {2}".into()),
                    points: curve(&e.towards_z2),
                    color: color(1),
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some("sliding: C₃ = {1, 2}".into()),
                    points: curve(&e.sliding),
                    color: color(2),
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some("selection (barycentre), RK4".into()),
                    points: e
                        .selection
                        .iter()
                        .step_by(every)
                        .map(|z| (z[0], z[1]))
                        .collect(),
                    color: BLACK,
                    stroke: Stroke::Markers { radius: 3 },
                },
                Overlay {
                    label: Some(format!("selection from (±{:e}, 0)", e.eps)),
                    points: curve(&e.selection_plus),
                    color: BLACK,
                    stroke: Stroke::Dashed { width: 1 },
                },
                Overlay {
                    label: None,
                    points: curve(&e.selection_minus),
                    color: BLACK,
                    stroke: Stroke::Dashed { width: 1 },
                },
            ],
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::LowerLeft,
        };
        // (c) contraction
        let c = &data.contraction;
        let log = |y: f64| y.max(1e-300).log10();
        let r0 = c.initial_max_norm;
        let t_end = c.times.last().copied().unwrap_or(1.0);
        let contraction = LinePanel {
            title: format!(
                "(c) B = -I: fitted rate {} on t ∈ [{}, {}]",
                c.fitted_rate.map_or("-".to_string(), |r| format!("{r:.3}")),
                p.contraction.fit_window[0],
                p.contraction.fit_window[1]
            ),
            x_label: "t".into(),
            y_label: "log₁₀".into(),
            x_range: (0.0, t_end),
            y_range: (
                log(c.final_max_norm.min(*c.diameter.last().unwrap_or(&1.0))) - 0.5,
                log(c.diameter[0].max(r0)) + 0.3,
            ),
            series: vec![
                Overlay {
                    label: Some("max_i |z_i|".into()),
                    points: c
                        .times
                        .iter()
                        .zip(&c.max_norm)
                        .map(|(t, y)| (*t, log(*y)))
                        .collect(),
                    color: color(0),
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some("diameter".into()),
                    points: c
                        .times
                        .iter()
                        .zip(&c.diameter)
                        .map(|(t, y)| (*t, log(*y)))
                        .collect(),
                    color: color(1),
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some("max_i |z_i(0)| e^(-t)".into()),
                    points: vec![(0.0, log(r0)), (t_end, log(r0) - t_end / 10f64.ln())],
                    color: BLACK,
                    stroke: Stroke::Dashed { width: 1 },
                },
            ],
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        // (d) finite beta
        let f = &data.finite_beta;
        let pts: Vec<(f64, f64)> = f
            .runs
            .iter()
            .map(|r| (r.beta.log10(), log(r.sup_distance)))
            .collect();
        let (bmin, bmax) = (
            pts.first().map_or(0.0, |q| q.0),
            pts.last().map_or(1.0, |q| q.0),
        );
        let ylo = pts.iter().map(|q| q.1).fold(log(p.floor), f64::min) - 0.5;
        let yhi = pts.iter().map(|q| q.1).fold(f64::NEG_INFINITY, f64::max) + 0.5;
        let finite = LinePanel {
            title: format!(
                "(d) finite β → hardmax, sup_t |z^β - z^∞|, T = {}",
                p.finite_beta.t_max
            ),
            x_label: "log₁₀ β".into(),
            y_label: "log₁₀ sup-distance".into(),
            x_range: (bmin - 0.1, bmax + 0.1),
            y_range: (ylo, yhi),
            series: vec![
                Overlay {
                    label: Some("engine (9.1) softmax vs hardmax".into()),
                    points: pts.clone(),
                    color: color(0),
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: None,
                    points: pts,
                    color: color(0),
                    stroke: Stroke::Markers { radius: 4 },
                },
                Overlay {
                    label: Some("floor (left out of the rate)".into()),
                    points: vec![(bmin - 0.1, log(p.floor)), (bmax + 0.1, log(p.floor))],
                    color: BLACK,
                    stroke: Stroke::Dashed { width: 1 },
                },
            ],
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::LowerLeft,
        };
        Ok(Layout {
            size: (1400, 1300),
            body: Block::titled(
                "Hardmax attention (β → ∞) as Frank-Wolfe in R², rescaled z = e^(-t) x",
                text_size::TITLE,
                Block::grid(
                    2,
                    2,
                    [
                        Block::panel(Panel::Lines(cells)),
                        Block::panel(Panel::Lines(example)),
                        Block::panel(Panel::Lines(contraction)),
                        Block::panel(Panel::Lines(finite)),
                    ],
                ),
            ),
        })
    }

    fn summary(_p: &Params, data: &Data) -> Vec<SummaryLine> {
        let c = &data.cells;
        let e = &data.example;
        let n = &data.contraction;
        let f = &data.finite_beta;
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        vec![
            SummaryLine::new(
                "B PSD: tokens ending at the vertex of their predicted cell",
                format!("{} of {}", c.correct_cells, c.tokens.len()),
            ),
            SummaryLine::new(
                "B PSD: max vertex drift / max straightness deviation / max |z - closed form|",
                format!(
                    "{:.1e} / {:.1e} / {:.1e}",
                    c.vertex_drift, c.max_straightness, c.closed_form_error
                ),
            ),
            SummaryLine::new(
                "B PSD: fitted rate of max_i |z_i - v_i| (closed form 1)",
                format!("{:.6}", c.fitted_rate),
            ),
            SummaryLine::new(
                "Example 9.3: Filippov residuals of the three solutions (z₁-side, z₂-side, sliding)",
                format!(
                    "{:.1e}, {:.1e}, {:.1e}",
                    e.residual_towards_z1, e.residual_towards_z2, e.residual_sliding
                ),
            ),
            SummaryLine::new(
                "Example 9.3: |z₁-side - z₂-side| at t_max; selection vs sliding; ±eps starts vs sides",
                format!(
                    "{:.4}; {:.1e}; {:.1e}, {:.1e}",
                    e.final_separation,
                    e.selection_vs_sliding,
                    e.plus_vs_towards_z1,
                    e.minus_vs_towards_z2
                ),
            ),
            SummaryLine::new(
                "B = -I: fitted contraction rate of max_i |z_i| (bound >= 1 while 0 is in the hull)",
                format!(
                    "{} (rms residual {})",
                    opt(n.fitted_rate),
                    opt(n.fit_rms_residual)
                ),
            ),
            SummaryLine::new(
                "B = -I: max_i |z_i| from / to; diameter at t_max",
                format!(
                    "{:.3e} / {:.3e}; {:.3e}",
                    n.initial_max_norm,
                    n.final_max_norm,
                    n.diameter.last().copied().unwrap_or(f64::NAN)
                ),
            ),
            SummaryLine::new(
                "finite beta: sup-distance per beta",
                f.runs
                    .iter()
                    .map(|r| format!("{}: {:.2e}", r.beta, r.sup_distance))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            SummaryLine::new(
                "finite beta: last slope of ln(beta sup) in beta vs -(min score margin); log-log slope",
                format!(
                    "{} vs {:.4}; {}",
                    opt(f.last_exponent),
                    -f.min_margin,
                    opt(f.fitted_power)
                ),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    #[test]
    fn ci_figure_shows_cells_non_uniqueness_contraction_and_convergence() {
        let p = HardmaxCells::params(Fidelity::Ci, crate::figure::DEFAULT_SEED);
        let d = HardmaxCells::compute(&p, &NoProgress).unwrap();
        assert_eq!(d.cells.correct_cells, d.cells.tokens.len());
        assert_eq!(d.cells.vertex_drift, 0.0);
        assert!(d.cells.max_straightness < 1e-10);
        assert!(d.example.residual_sliding < 1e-14 && d.example.final_separation > 1.5);
        assert!(d.contraction.fitted_rate.unwrap() > 0.9);
        let s: Vec<f64> = d.finite_beta.runs.iter().map(|r| r.sup_distance).collect();
        assert!(s.last().unwrap() < &(0.1 * s[0]), "{s:?}");
    }
}

//! `long-context`: critical long-context scaling of one attention layer (Chen, Lin, Polyanskiy, Rigollet,
//! arXiv 2510.05554). One Pre-LN layer x_i' = sum_j A_ij y_j with y_i = x_i / |x_i|, Q = K = V = I, no
//! residual, A the softmax of beta <y_i, y_j> with beta = gamma ln n (model, conventions and closed forms:
//! `attnflow_energy::long_context`). The layer output is computed explicitly on the n x n problem as the
//! engine's SA drift (unprojected, `VectorField::drift_into`) at the tokens y; the output cosine of a pair
//! is <x_i', x_k'> / (|x_i'| |x_k'|), and a panel's cosine is its mean over the pairs i != k, computed in
//! O(n d) as (|sum_i u_i|^2 - n) / (n (n - 1)) with u_i = x_i' / |x_i'|.
//!
//! Panels:
//! (a) equiangular tokens (`attnflow_experiment::init::equiangular`, <y_i, y_k> = rho) and (b) random
//! high-dimensional tokens y_i = sqrt(rho) e_0 + sqrt(1 - rho) z_i, z_i i.i.d. uniform on the unit sphere of
//! e_0^perp in R^d (d = `random_dim`; drawn once from the stream (seed, 0, InitialCondition) in the reduced
//! coordinates of `sampling::uniform_sphere_reduced` and shared by every cell; pairwise cosines
//! rho + (1 - rho) <z_i, z_k>, spread (1 - rho)/sqrt(d - 1) around rho): heat maps of the angle ratio
//! arccos(output cosine) / arccos(input cosine) over (rho, gamma), with the limiting critical curve
//! gamma = 1/(1 - rho) (dashed) and, per rho column, the measured crossing of the critical value
//! 4 c / (1 + 3 c) (c the measured input cosine; linear interpolation between grid rows; white markers);
//! (c) the three limits: the finite-n closed form against n for rho = `limits_rho` at a sub-, critical and
//! supercritical gamma, the explicit n x n computation as markers and the limits 1, 4 rho / (1 + 3 rho), rho
//! dashed; (d) the critical curve: 1/(1 - rho), the exact finite-n crossing gamma*_n(rho) and the measured
//! crossings of (a) and (b).
//!
//! No time integration: one layer, evaluated once per cell.

use attnflow_dynamics::sampling::{self, Purpose};
use attnflow_dynamics::{SelfAttention, VectorField, Workspace};
use attnflow_energy::long_context as lc;
use attnflow_experiment::init;
use plotters::style::colors::{BLACK, WHITE};
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, ColorBar, Layout, Panel, Split};
use crate::plot::colormap::ColorScale;
use crate::plot::heatmap::Heatmap;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use crate::plot::{SERIES_COLORS, linspace, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// Tokens of the heat maps (a), (b).
    pub n: usize,
    /// Input cosines rho of the heat-map columns (increasing, in (0, 1)).
    pub rho: Vec<f64>,
    /// gamma of the heat-map rows (increasing, > 0).
    pub gamma: Vec<f64>,
    /// Ambient dimension d of the random tokens (>= 3).
    pub random_dim: usize,
    /// Input cosine of panel (c).
    pub limits_rho: f64,
    /// gamma of the curves of panel (c) (one each side of 1/(1 - rho) and the critical one).
    pub limits_gamma: Vec<f64>,
    /// Panel (c) runs over log10 n in [1, `limits_log10_n_max`] ...
    pub limits_log10_n_max: f64,
    /// ... at this many points.
    pub limits_points: usize,
    /// n of the explicit computations (markers) of panel (c).
    pub limits_explicit_n: Vec<usize>,
}

crate::figure_params!(Params);

/// One heat map: the explicit one-layer computation on a (gamma, rho) grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenPanel {
    pub label: String,
    /// Mean pairwise input cosine of the tokens, per rho column.
    pub input_cosine: Vec<f64>,
    /// Mean pairwise output cosine, `[gamma row][rho column]`.
    pub output_cosine: Vec<Vec<f64>>,
    /// arccos(output cosine) / arccos(input cosine), `[gamma row][rho column]`.
    pub angle_ratio: Vec<Vec<f64>>,
    /// Per column, the gamma where the output cosine crosses 4 c / (1 + 3 c), c the input cosine (linear
    /// interpolation between rows); null when it does not cross inside the grid.
    pub crossing_gamma: Vec<Option<f64>>,
    /// max over the cells of |explicit output cosine - closed form of equiangular tokens with cosine c|.
    pub max_abs_deviation_from_closed_form: f64,
}

/// One curve of panel (c).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitCurve {
    pub gamma: f64,
    /// `subcritical`, `critical` or `supercritical`.
    pub regime: String,
    /// lim_{n -> infinity} of the output cosine.
    pub limit: f64,
    /// The finite-n closed form on `log10_n`.
    pub closed_form: Vec<f64>,
    /// The explicit n x n computation at `Params::limits_explicit_n`.
    pub explicit: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub equiangular: TokenPanel,
    pub random: TokenPanel,
    /// 1/(1 - rho) per column.
    pub critical_gamma_limit: Vec<f64>,
    /// The exact finite-n crossing gamma*_n(rho) per column (n = `Params::n`).
    pub critical_gamma_finite_n: Vec<f64>,
    /// The n grid of panel (c), as log10 n (n rounded to an integer).
    pub log10_n: Vec<f64>,
    pub limit_curves: Vec<LimitCurve>,
    /// max |explicit - closed form| over the markers of panel (c).
    pub limits_max_abs_error: f64,
}

pub struct LongContext;

fn upstream(e: impl std::fmt::Display) -> FigureError {
    FigureError::Upstream(e.to_string())
}

/// Mean over the pairs i != k of the cosine between rows i and k of the n x d matrix `x` (rows non-zero).
fn mean_pair_cosine(x: &[f64], n: usize, d: usize) -> f64 {
    let mut sum = vec![0.0; d];
    for row in x.chunks_exact(d) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        sum.iter_mut().zip(row).for_each(|(s, v)| *s += v / norm);
    }
    let total = sum.iter().map(|v| v * v).sum::<f64>();
    let nf = n as f64;
    (total - nf) / (nf * (nf - 1.0))
}

/// The mean pairwise output cosine of one layer with inverse temperature `beta` at the unit tokens `y`
/// (n x d): the engine's SA drift sum_j A_ij y_j (Q = K = V = I), unprojected.
pub fn layer_output_cosine(
    y: &[f64],
    n: usize,
    d: usize,
    beta: f64,
    ws: &mut Workspace,
    out: &mut Vec<f64>,
) -> Result<f64> {
    let field = SelfAttention::sa(beta).map_err(upstream)?;
    out.resize(n * d, 0.0);
    field.drift_into(y, n, d, out, ws).map_err(upstream)?;
    Ok(mean_pair_cosine(out, n, d))
}

/// Random tokens sqrt(rho) e_0 + sqrt(1 - rho) z_i from the unit vectors z (n x m): an n x (m + 1) matrix.
fn random_tokens(z: &[f64], n: usize, m: usize, rho: f64) -> Vec<f64> {
    let (a, b) = (rho.sqrt(), (1.0 - rho).sqrt());
    let mut y = vec![0.0; n * (m + 1)];
    for (row, zi) in y.chunks_exact_mut(m + 1).zip(z.chunks_exact(m)) {
        row[0] = a;
        row[1..].iter_mut().zip(zi).for_each(|(v, w)| *v = b * w);
    }
    y
}

/// The gamma where `values` (decreasing along `gamma`) crosses `target`, by linear interpolation.
fn crossing(gamma: &[f64], values: &[f64], target: f64) -> Option<f64> {
    gamma
        .windows(2)
        .zip(values.windows(2))
        .find(|(_, v)| v[0] > target && v[1] <= target)
        .map(|(g, v)| g[0] + (g[1] - g[0]) * (v[0] - target) / (v[0] - v[1]))
}

fn check_grid(name: &str, grid: &[f64], lo: f64, hi: f64) -> Result<()> {
    if grid.len() < 2
        || grid.iter().any(|v| !(v.is_finite() && *v > lo && *v < hi))
        || grid.windows(2).any(|w| w[1] <= w[0])
    {
        return Err(FigureError::InvalidParams(format!(
            "long-context: `{name}` needs >= 2 increasing values in ({lo}, {hi})"
        )));
    }
    Ok(())
}

/// One heat map: `tokens(rho)` gives the n x d tokens of a column.
fn token_panel(
    label: &str,
    p: &Params,
    d: usize,
    tokens: &dyn Fn(f64) -> Result<Vec<f64>>,
    progress: &dyn Fn(),
) -> Result<TokenPanel> {
    let (n, rows, cols) = (p.n, p.gamma.len(), p.rho.len());
    let mut ws = Workspace::default();
    let mut out = Vec::new();
    let mut output = vec![vec![0.0; cols]; rows];
    let mut ratio = vec![vec![0.0; cols]; rows];
    let mut input_cosine = Vec::with_capacity(cols);
    let mut crossing_gamma = Vec::with_capacity(cols);
    let mut deviation: f64 = 0.0;
    for (c, &rho) in p.rho.iter().enumerate() {
        let y = tokens(rho)?;
        let cos_in = mean_pair_cosine(&y, n, d);
        let mut column = Vec::with_capacity(rows);
        for (r, &gamma) in p.gamma.iter().enumerate() {
            let beta = lc::beta_of(gamma, n).map_err(upstream)?;
            let cos_out = layer_output_cosine(&y, n, d, beta, &mut ws, &mut out)?;
            let closed = lc::output_cosine(n, cos_in, gamma).map_err(upstream)?;
            deviation = deviation.max((cos_out - closed).abs());
            output[r][c] = cos_out;
            ratio[r][c] = lc::angle_ratio(cos_in, cos_out).unwrap_or(f64::NAN);
            column.push(cos_out);
        }
        crossing_gamma.push(crossing(
            &p.gamma,
            &column,
            4.0 * cos_in / (1.0 + 3.0 * cos_in),
        ));
        input_cosine.push(cos_in);
        progress();
    }
    Ok(TokenPanel {
        label: label.into(),
        input_cosine,
        output_cosine: output,
        angle_ratio: ratio,
        crossing_gamma,
        max_abs_deviation_from_closed_form: deviation,
    })
}

impl Figure for LongContext {
    const META: Meta = Meta {
        id: "long-context",
        paper: Paper::Frontier,
        number: 2,
        title: "Critical long-context scaling: one Pre-LN attention layer with β = γ log n",
        claim: "Chen, Lin, Polyanskiy, Rigollet (arXiv 2510.05554): for one Pre-LN layer (Q = K = V = I, no residual) with beta_n = gamma log n and equiangular inputs of cosine rho, the output cosine tends to 1 for gamma < 1/(1 - rho) (collapse), to 4 rho / (1 + 3 rho) at gamma = 1/(1 - rho), and to rho above (identity); the finite-n closed form has two attention weights. Paper figure: heat map of the output/input angle ratio over (rho, gamma) with the curve gamma = 1/(1 - rho). Compare: the explicit n x n computation against the closed form (to round-off), the measured crossing of 4 rho / (1 + 3 rho) against 1/(1 - rho), and random high-dimensional tokens against the equiangular picture.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            n: fidelity.pick(24, 256, 1024),
            rho: fidelity.pick(
                linspace(0.1, 0.9, 9),
                linspace(0.05, 0.9, 35),
                linspace(0.025, 0.9, 36),
            ),
            gamma: fidelity.pick(
                linspace(0.5, 10.0, 12),
                linspace(0.25, 10.0, 40),
                linspace(0.125, 10.0, 80),
            ),
            random_dim: fidelity.pick(256, 4096, 16384),
            limits_rho: 0.5,
            limits_gamma: vec![1.0, 2.0, 3.0],
            limits_log10_n_max: 12.0,
            limits_points: fidelity.pick(23, 111, 221),
            limits_explicit_n: fidelity.pick(
                vec![8, 32],
                vec![8, 32, 128, 512],
                vec![8, 32, 128, 512, 2048],
            ),
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "one layer, no time integration: explicit n x n attention (engine SA drift, Q = K = V = I, n = {}) and closed form",
            p.n
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        check_grid("rho", &p.rho, 0.0, 1.0)?;
        check_grid("gamma", &p.gamma, 0.0, f64::INFINITY)?;
        if p.n < 3 || p.random_dim < 3 || p.limits_points < 2 || p.limits_gamma.is_empty() {
            return Err(FigureError::InvalidParams(
                "long-context needs n >= 3, random_dim >= 3, limits_points >= 2 and a limits gamma"
                    .into(),
            ));
        }
        if !(p.limits_log10_n_max.is_finite() && p.limits_log10_n_max > 1.0)
            || p.limits_explicit_n.iter().any(|&m| m < 2)
        {
            return Err(FigureError::InvalidParams(
                "long-context needs limits_log10_n_max > 1 and explicit n >= 2".into(),
            ));
        }
        let n = p.n;
        let total = 2 * p.rho.len() as u64;
        let done = std::cell::Cell::new(0u64);
        let tick = || {
            done.set(done.get() + 1);
            progress.update(done.get(), total);
        };
        let equiangular = token_panel(
            "equiangular tokens",
            p,
            n,
            &|rho| {
                init::equiangular(n, n, rho)
                    .map(|c| c.into_vec())
                    .map_err(upstream)
            },
            &tick,
        )?;
        let z = sampling::uniform_sphere_reduced(
            n,
            p.random_dim - 1,
            &mut sampling::stream(p.seed, 0, Purpose::InitialCondition),
        )
        .map_err(upstream)?;
        let m = z.d();
        let random = token_panel(
            &format!("random tokens, d = {}", p.random_dim),
            p,
            m + 1,
            &|rho| Ok(random_tokens(z.as_slice(), n, m, rho)),
            &tick,
        )?;
        let critical_gamma_limit = p
            .rho
            .iter()
            .map(|&r| lc::critical_gamma(r).map_err(upstream))
            .collect::<Result<Vec<_>>>()?;
        let critical_gamma_finite_n = p
            .rho
            .iter()
            .map(|&r| lc::finite_n_critical_gamma(n, r).map_err(upstream))
            .collect::<Result<Vec<_>>>()?;
        let log10_n: Vec<f64> = linspace(1.0, p.limits_log10_n_max, p.limits_points)
            .into_iter()
            .map(|x| 10f64.powf(x).round().log10())
            .collect();
        let mut ws = Workspace::default();
        let mut out = Vec::new();
        let mut limits_max_abs_error: f64 = 0.0;
        let mut limit_curves = Vec::with_capacity(p.limits_gamma.len());
        for &gamma in &p.limits_gamma {
            let rho = p.limits_rho;
            let closed_form = log10_n
                .iter()
                .map(|x| {
                    lc::output_cosine(10f64.powf(*x).round() as usize, rho, gamma).map_err(upstream)
                })
                .collect::<Result<Vec<_>>>()?;
            let mut explicit = Vec::with_capacity(p.limits_explicit_n.len());
            for &m in &p.limits_explicit_n {
                let y = init::equiangular(m, m, rho).map_err(upstream)?;
                let beta = lc::beta_of(gamma, m).map_err(upstream)?;
                let c = layer_output_cosine(y.as_slice(), m, m, beta, &mut ws, &mut out)?;
                let exact = lc::output_cosine(m, rho, gamma).map_err(upstream)?;
                limits_max_abs_error = limits_max_abs_error.max((c - exact).abs());
                explicit.push(c);
            }
            limit_curves.push(LimitCurve {
                gamma,
                regime: lc::regime(rho, gamma).map_err(upstream)?.name().into(),
                limit: lc::limit_output_cosine(rho, gamma).map_err(upstream)?,
                closed_form,
                explicit,
            });
        }
        Ok(Data {
            equiangular,
            random,
            critical_gamma_limit,
            critical_gamma_finite_n,
            log10_n,
            limit_curves,
            limits_max_abs_error,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let scale = ColorScale::new(0.0, 1.0);
        let critical_curve = Overlay {
            label: None,
            points: p.rho.iter().map(|&r| (r, 1.0 / (1.0 - r))).collect(),
            color: BLACK,
            stroke: Stroke::Dashed { width: 2 },
        };
        let measured = |panel: &TokenPanel| Overlay {
            label: None,
            points: p
                .rho
                .iter()
                .zip(&panel.crossing_gamma)
                .filter_map(|(&r, g)| g.map(|g| (r, g)))
                .collect(),
            color: WHITE,
            stroke: Stroke::Markers { radius: 3 },
        };
        let heatmap = |tag: &str, panel: &'a TokenPanel| {
            Block::panel(Panel::Heatmap(Heatmap {
                title: format!("({tag}) {}, n = {}", panel.label, p.n),
                x_label: "input cosine ρ".into(),
                y_label: "γ".into(),
                x: &p.rho,
                y: &p.gamma,
                values: &panel.angle_ratio,
                scale,
                overlays: vec![critical_curve.clone(), measured(panel)],
            }))
        };
        let maps = Block::columns(
            Split::FromEnd(110),
            Block::grid(
                1,
                2,
                [heatmap("a", &data.equiangular), heatmap("b", &data.random)],
            ),
            Block::panel(Panel::ColorBar(ColorBar {
                scale,
                label: "θ_out / θ_in".into(),
                left: 10,
                right: Split::FromEnd(100),
            })),
        );
        let mut series = Vec::new();
        for (k, curve) in data.limit_curves.iter().enumerate() {
            let color = SERIES_COLORS[k % SERIES_COLORS.len()];
            series.push(Overlay {
                label: Some(format!("γ = {} ({})", curve.gamma, curve.regime)),
                points: data
                    .log10_n
                    .iter()
                    .copied()
                    .zip(curve.closed_form.iter().copied())
                    .collect(),
                color,
                stroke: Stroke::Solid { width: 2 },
            });
            series.push(Overlay {
                label: None,
                points: vec![(1.0, curve.limit), (p.limits_log10_n_max, curve.limit)],
                color,
                stroke: Stroke::Dashed { width: 1 },
            });
            series.push(Overlay {
                label: None,
                points: p
                    .limits_explicit_n
                    .iter()
                    .map(|&m| (m as f64).log10())
                    .zip(curve.explicit.iter().copied())
                    .collect(),
                color,
                stroke: Stroke::Markers { radius: 4 },
            });
        }
        let limits = LinePanel {
            title: format!(
                "(c) output cosine, ρ = {}: closed form, n × n (dots), limits (dashed)",
                p.limits_rho
            ),
            x_label: "log₁₀ n".into(),
            y_label: "output cosine".into(),
            x_range: (1.0, p.limits_log10_n_max),
            y_range: (p.limits_rho - 0.05, 1.02),
            series,
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::LowerLeft,
        };
        let crossings = |panel: &TokenPanel| -> Vec<(f64, f64)> {
            p.rho
                .iter()
                .zip(&panel.crossing_gamma)
                .filter_map(|(&r, g)| g.map(|g| (r, g)))
                .collect()
        };
        let curve = LinePanel {
            title: format!("(d) critical curve, n = {}", p.n),
            x_label: "input cosine ρ".into(),
            y_label: "γ".into(),
            x_range: (p.rho[0], p.rho[p.rho.len() - 1]),
            y_range: (p.gamma[0], p.gamma[p.gamma.len() - 1]),
            series: vec![
                Overlay {
                    label: Some("1/(1 - ρ)".into()),
                    points: p
                        .rho
                        .iter()
                        .copied()
                        .zip(data.critical_gamma_limit.iter().copied())
                        .collect(),
                    color: BLACK,
                    stroke: Stroke::Dashed { width: 2 },
                },
                Overlay {
                    label: Some("γ*_n (exact, finite n)".into()),
                    points: p
                        .rho
                        .iter()
                        .copied()
                        .zip(data.critical_gamma_finite_n.iter().copied())
                        .collect(),
                    color: SERIES_COLORS[0],
                    stroke: Stroke::Solid { width: 2 },
                },
                Overlay {
                    label: Some("measured, equiangular".into()),
                    points: crossings(&data.equiangular),
                    color: SERIES_COLORS[1],
                    stroke: Stroke::Markers { radius: 4 },
                },
                Overlay {
                    label: Some("measured, random".into()),
                    points: crossings(&data.random),
                    color: SERIES_COLORS[2],
                    stroke: Stroke::Markers { radius: 3 },
                },
            ],
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::UpperLeft,
        };
        Ok(Layout {
            size: (1500, 1000),
            body: Block::titled(
                "One Pre-LN attention layer, β = γ log n: θ_out/θ_in (dashed: γ = 1/(1 - ρ); dots: measured crossing of 4ρ/(1+3ρ))",
                text_size::TITLE,
                Block::rows(
                    Split::Fraction(1, 2),
                    maps,
                    Block::row([Panel::Lines(limits), Panel::Lines(curve)]),
                ),
            ),
        })
    }

    fn summary(p: &Params, data: &Data) -> Vec<SummaryLine> {
        let mean_gap = |panel: &TokenPanel, target: &[f64]| {
            let gaps: Vec<f64> = panel
                .crossing_gamma
                .iter()
                .zip(target)
                .filter_map(|(g, t)| g.map(|g| (g - t).abs()))
                .collect();
            if gaps.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "{:.4} over {} columns",
                    gaps.iter().sum::<f64>() / gaps.len() as f64,
                    gaps.len()
                )
            }
        };
        let mut lines = vec![
            SummaryLine::new(
                format!(
                    "max |explicit n x n - closed form|, equiangular, n = {}",
                    p.n
                ),
                format!(
                    "{:.1e}",
                    data.equiangular.max_abs_deviation_from_closed_form
                ),
            ),
            SummaryLine::new(
                "max |explicit n x n - closed form|, panel (c) markers",
                format!("{:.1e}", data.limits_max_abs_error),
            ),
            SummaryLine::new(
                format!(
                    "random tokens (d = {}): max |output cosine - equiangular closed form at the measured input cosine|",
                    p.random_dim
                ),
                format!("{:.3e}", data.random.max_abs_deviation_from_closed_form),
            ),
            SummaryLine::new(
                "equiangular: mean |measured crossing - γ*_n| (grid interpolation)",
                mean_gap(&data.equiangular, &data.critical_gamma_finite_n),
            ),
            SummaryLine::new(
                "equiangular: mean |measured crossing - 1/(1 - ρ)|",
                mean_gap(&data.equiangular, &data.critical_gamma_limit),
            ),
            SummaryLine::new(
                "random: mean |measured crossing - 1/(1 - ρ)|",
                mean_gap(&data.random, &data.critical_gamma_limit),
            ),
        ];
        let n_max = data.log10_n.last().copied().unwrap_or(f64::NAN);
        for curve in &data.limit_curves {
            lines.push(SummaryLine::new(
                format!(
                    "ρ = {}, γ = {} ({}): output cosine at n = 10^{n_max:.0} vs limit",
                    p.limits_rho, curve.gamma, curve.regime
                ),
                format!(
                    "{:.6} vs {:.6}",
                    curve.closed_form.last().copied().unwrap_or(f64::NAN),
                    curve.limit
                ),
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    /// The explicit n x n computation (engine attention, every pair) against the closed form at finite n.
    #[test]
    fn explicit_layer_matches_the_finite_n_closed_form_for_every_pair() {
        for &n in &[3usize, 17, 64] {
            for &rho in &[-1.0 / (n as f64 - 1.0), 0.0, 0.3, 0.8] {
                for &gamma in &[0.5, 1.0, 2.5, 6.0] {
                    let y = init::equiangular(n, n, rho).unwrap();
                    let beta = lc::beta_of(gamma, n).unwrap();
                    let field = SelfAttention::sa(beta).unwrap();
                    // the two attention weights, from the engine's attention matrix
                    let a = &field.attention_matrices(y.as_slice(), n, n).unwrap()[0];
                    let w = lc::equiangular_weights(n, rho, beta).unwrap();
                    for i in 0..n {
                        for j in 0..n {
                            let want = if i == j { w.diagonal } else { w.off_diagonal };
                            assert!((a[i * n + j] - want).abs() < 1e-13);
                        }
                    }
                    let mut out = vec![0.0; n * n];
                    field.drift(y.as_slice(), n, n, &mut out).unwrap();
                    let x = attnflow_dynamics::Configuration::normalized(n, n, out).unwrap();
                    let g = x.gram();
                    let exact = lc::output_cosine(n, rho, gamma).unwrap();
                    for i in 0..n {
                        for k in 0..n {
                            if i != k {
                                assert!(
                                    (g[i * n + k] - exact).abs() < 1e-12,
                                    "n {n} rho {rho} gamma {gamma}: {} vs {exact}",
                                    g[i * n + k]
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn mean_pair_cosine_and_crossing() {
        let y = init::equiangular(5, 5, 0.3).unwrap();
        assert!((mean_pair_cosine(y.as_slice(), 5, 5) - 0.3).abs() < 1e-15);
        let g = [1.0, 2.0, 3.0];
        assert_eq!(crossing(&g, &[0.9, 0.7, 0.5], 0.6), Some(2.5));
        assert_eq!(crossing(&g, &[0.9, 0.7, 0.65], 0.6), None);
    }

    #[test]
    fn ci_figure_shows_the_three_regimes() {
        let p = LongContext::params(Fidelity::Ci, crate::figure::DEFAULT_SEED);
        let data = LongContext::compute(&p, &NoProgress).unwrap();
        assert!(data.equiangular.max_abs_deviation_from_closed_form < 1e-12);
        assert!(data.limits_max_abs_error < 1e-12);
        // at rho = 0.5 (column 4): far below the curve the outputs collapse, far above they keep their
        // angle; for equiangular tokens the ratio grows with gamma in every column
        let last = p.gamma.len() - 1;
        assert_eq!(p.rho[4], 0.5);
        for panel in [&data.equiangular, &data.random] {
            assert!(panel.angle_ratio[0][4] < 0.2, "{}", panel.angle_ratio[0][4]);
            assert!(panel.angle_ratio[last][4] > 0.95);
        }
        for c in 0..p.rho.len() {
            let r = &data.equiangular.angle_ratio;
            assert!((1..=last).all(|k| r[k][c] >= r[k - 1][c]), "column {c}");
        }
        // the equiangular crossing is gamma*_n up to the grid interpolation
        for (g, want) in data
            .equiangular
            .crossing_gamma
            .iter()
            .zip(&data.critical_gamma_finite_n)
        {
            if let Some(g) = g {
                assert!((g - want).abs() < 0.3 * want, "{g} vs {want}");
            }
        }
        // panel (c): the closed form at n = 10^12 is within 0.05 of each limit
        for c in &data.limit_curves {
            assert!(
                (c.closed_form.last().unwrap() - c.limit).abs() < 0.05,
                "{c:?}"
            );
        }
    }
}

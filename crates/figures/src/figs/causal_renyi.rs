//! `causal-renyi`: causal self-attention and the Rényi parking process (Karagodin, Polyanskiy and Rigollet,
//! "Clustering in causal attention masking", arXiv 2411.04990). Token k attends to j <= k:
//!
//! ```text
//! x_k' = P_{x_k}( sum_{j <= k} e^{beta <Q x_k, K x_j>} x_j / sum_{j <= k} e^{beta <Q x_k, K x_j>} ),   V = I,
//! ```
//!
//! the engine's SA field with the causal mask (model code in [`attnflow_kuramoto::causal`]). x_1 sees only
//! itself and never moves; the paper proves that every token converges to x_1(0) for any Q, K (V = I).
//!
//! Panels: (a)-(c) the paper's Figure 2 set-up, Q = K = V = I, n = 200, d = 2, beta = 64, at t = 0, 75, 150:
//! tokens (grey), Rényi centres (black: greedy sequential delta-packing) and strong Rényi centres (red: no
//! earlier token within delta), delta = 4 beta^{-1/2}, distances chordal; (d) the counts of strong centres,
//! centres and clusters over time, mean over realisations (clusters: components of 1 - <x_i, x_j> < 1e-3, the
//! engine's cluster count); (e) log10 max_k |x_k(t) - x_1(0)| for random B = Q^T K (the Ginibre ensemble of
//! \[GLPR\] Figure 5 (a), B = G1 G2 / sqrt(d)) with V = I, d in {2, 3, 8}, beta = 1; (f) the counts against beta
//! on log-log axes: mean counts of i.i.d. uniform tokens (large n, no dynamics) for d = 2, 3 beside the closed
//! forms (1 - (1 - p)^n) / p (strong) and c_R 2 pi / theta (Rényi centres on S^1, n -> infinity), and the
//! cluster count of the dynamics at the scaling time (d = 2, n = 200), with least-squares exponents to compare
//! with the predicted (d - 1) / 2.
//!
//! Integration: the engine's RK4 with renormalisation after every step, fixed step (parameters `dt`,
//! `consensus_dt`); the paper does not state its integrator. Halving the step from 0.1 to 0.05 leaves every
//! count of the census unchanged (measured at n = 200, beta in {16, ..., 256}).

use attnflow_dynamics::MatrixEnsemble;
use attnflow_kuramoto::causal::{
    CensusParams, CensusRun, ConsensusParams, ConsensusRun, causal_field, census, census_start,
    circle_renyi_limit, consensus_runs, expected_strong_centres, log_log_fit, parking_delta,
    renyi_centres, static_counts, strong_renyi_centres, trajectory,
};
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use crate::plot::{SERIES_COLORS, linspace, text_size};
use plotters::style::RGBColor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// Random key-query consensus runs.
    pub consensus_n: usize,
    pub consensus_beta: f64,
    pub consensus_dims: Vec<usize>,
    pub consensus_draws: usize,
    pub consensus_times: Vec<f64>,
    pub consensus_dt: f64,
    /// The parking run (Q = K = V = I).
    pub n: usize,
    pub d: usize,
    pub beta: f64,
    pub census_times: Vec<f64>,
    pub snapshot_times: Vec<f64>,
    pub dt: f64,
    pub realisations: usize,
    pub cluster_threshold: f64,
    /// Growth with beta: the dynamics at `scaling_time` and the i.i.d. counts.
    pub betas: Vec<f64>,
    pub scaling_time: f64,
    pub scaling_realisations: usize,
    pub static_betas: Vec<f64>,
    pub static_dims: Vec<usize>,
    pub static_n: usize,
    pub static_draws: usize,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsensusSet {
    pub d: usize,
    pub runs: Vec<ConsensusRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub t: f64,
    pub angles: Vec<f64>,
    pub strong: Vec<usize>,
    pub renyi: Vec<usize>,
}

/// Mean counts over realisations, per checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanCounts {
    pub strong: Vec<f64>,
    pub renyi: Vec<f64>,
    pub clusters: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticScaling {
    pub d: usize,
    pub strong_mean: Vec<f64>,
    pub strong_stderr: Vec<f64>,
    /// (1 - (1 - p)^n) / p.
    pub strong_expected: Vec<f64>,
    pub renyi_mean: Vec<f64>,
    pub renyi_stderr: Vec<f64>,
    /// c_R 2 pi / theta (d = 2 only, n -> infinity).
    pub renyi_limit: Option<Vec<f64>>,
    pub strong_exponent: f64,
    pub renyi_exponent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicScaling {
    /// Per beta: mean counts at t = 0 and at the scaling time.
    pub renyi_start: Vec<f64>,
    pub strong_end: Vec<f64>,
    pub renyi_end: Vec<f64>,
    pub clusters_end: Vec<f64>,
    pub renyi_end_exponent: f64,
    pub clusters_end_exponent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub delta: f64,
    pub consensus: Vec<ConsensusSet>,
    /// max over draws and checkpoints of |x_1(t) - x_1(0)|, and max over draws of the final
    /// max_k |x_k(T) - x_1(0)|.
    pub max_first_token_drift: f64,
    pub max_final_distance: f64,
    pub snapshots: Vec<Snapshot>,
    pub census: Vec<CensusRun>,
    pub mean_counts: MeanCounts,
    pub dynamic_scaling: DynamicScaling,
    pub static_scaling: Vec<StaticScaling>,
}

pub struct CausalRenyi;

fn model_err(e: attnflow_kuramoto::KuramotoError) -> FigureError {
    FigureError::InvalidParams(format!("causal-renyi: {e}"))
}

fn mean_stderr(values: &[f64]) -> (f64, f64) {
    let m = values.len() as f64;
    let mean = values.iter().sum::<f64>() / m;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0);
    (mean, (var / m).sqrt())
}

fn mean_of(runs: &[CensusRun], c: usize, f: impl Fn(&CensusRun) -> &Vec<usize>) -> f64 {
    runs.iter().map(|r| f(r)[c] as f64).sum::<f64>() / runs.len() as f64
}

fn exponent(betas: &[f64], counts: &[f64]) -> Result<f64> {
    let pts: Vec<(f64, f64)> = betas.iter().copied().zip(counts.iter().copied()).collect();
    Ok(log_log_fit(&pts).map_err(model_err)?.0)
}

impl Figure for CausalRenyi {
    const META: Meta = Meta {
        id: "causal-renyi",
        paper: Paper::Frontier,
        number: 4,
        title: "Causal attention: consensus at x₁(0) for random Q, K and Rényi-parking metastability",
        claim: "Karagodin-Polyanskiy-Rigollet (arXiv 2411.04990): with the causal mask, V = I and any Q, K, x_1 never moves and every token converges to x_1(0) (Theorem 4.1); for Q = K = V = I, n = 200, d = 2, beta = 64 (their Figure 2, t = 0, 75, 150) strong Rényi centres (no earlier token within delta = 4 beta^{-1/2}) stay visually still while Rényi centres (greedy sequential delta-packing) move and merge (one disappears between t = 75 and 150) and capture the metastable clusters, whose number grows like beta^{(d-1)/2}.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let grid =
            |t_end: f64, every: f64| linspace(0.0, t_end, (t_end / every).round() as usize + 1);
        Params {
            fidelity,
            seed,
            consensus_n: fidelity.pick(8, 32, 32),
            consensus_beta: 1.0,
            consensus_dims: vec![2, 3, 8],
            consensus_draws: fidelity.pick(3, 16, 64),
            consensus_times: fidelity.pick(grid(200.0, 20.0), grid(400.0, 5.0), grid(400.0, 5.0)),
            consensus_dt: 0.1,
            n: fidelity.pick(40, 200, 200),
            d: 2,
            beta: 64.0,
            census_times: fidelity.pick(grid(30.0, 5.0), grid(150.0, 2.5), grid(150.0, 1.0)),
            snapshot_times: fidelity.pick(
                vec![0.0, 15.0, 30.0],
                vec![0.0, 75.0, 150.0],
                vec![0.0, 75.0, 150.0],
            ),
            dt: 0.1,
            realisations: fidelity.pick(2, 8, 32),
            cluster_threshold: 1e-3,
            betas: fidelity.pick(
                vec![16.0, 64.0],
                vec![16.0, 32.0, 64.0, 128.0, 256.0],
                vec![16.0, 32.0, 64.0, 128.0, 256.0],
            ),
            scaling_time: fidelity.pick(15.0, 75.0, 75.0),
            scaling_realisations: fidelity.pick(2, 4, 16),
            static_betas: vec![16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            static_dims: vec![2, 3],
            static_n: fidelity.pick(2000, 20000, 20000),
            static_draws: fidelity.pick(8, 32, 128),
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "engine RK4 + renormalisation, fixed step: dt = {} (parking runs), dt = {} (consensus runs); centre counts exact",
            p.dt, p.consensus_dt
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.d != 2 || p.snapshot_times.len() != 3 || p.census_times.is_empty() {
            return Err(FigureError::InvalidParams(
                "causal-renyi draws the parking run on the circle: d = 2, three snapshot times, census times".into(),
            ));
        }
        let delta = parking_delta(p.beta).map_err(model_err)?;
        // (e) consensus for random Q, K
        let mut consensus = Vec::new();
        for &d in &p.consensus_dims {
            let runs = consensus_runs(&ConsensusParams {
                n: p.consensus_n,
                d,
                beta: p.consensus_beta,
                ensemble: MatrixEnsemble::Ginibre,
                draws: p.consensus_draws,
                times: p.consensus_times.clone(),
                dt: p.consensus_dt,
                seed: p.seed,
            })
            .map_err(model_err)?;
            consensus.push(ConsensusSet { d, runs });
        }
        let all_runs = || consensus.iter().flat_map(|c| c.runs.iter());
        let max_first_token_drift = all_runs().map(|r| r.first_token_drift).fold(0.0, f64::max);
        let max_final_distance = all_runs()
            .map(|r| r.max_distance.last().copied().unwrap_or(f64::NAN))
            .fold(0.0, f64::max);
        progress.update(1, 4);
        // (a)-(d) the parking run
        let census_params = CensusParams {
            n: p.n,
            d: p.d,
            beta: p.beta,
            delta,
            cluster_threshold: p.cluster_threshold,
            times: p.census_times.clone(),
            dt: p.dt,
            realisations: p.realisations,
            seed: p.seed,
        };
        let field = causal_field(p.beta, None).map_err(model_err)?;
        let x0 = census_start(&census_params, 0).map_err(model_err)?;
        let states = trajectory(&field, &x0, p.dt, &p.snapshot_times).map_err(model_err)?;
        let snapshots = p
            .snapshot_times
            .iter()
            .zip(&states)
            .map(|(&t, x)| {
                Ok(Snapshot {
                    t,
                    angles: x
                        .angles()
                        .map_err(|e| FigureError::InvalidParams(e.to_string()))?,
                    strong: strong_renyi_centres(x, delta).map_err(model_err)?,
                    renyi: renyi_centres(x, delta).map_err(model_err)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let runs = census(&census_params).map_err(model_err)?;
        let checkpoints = p.census_times.len();
        let mean_counts = MeanCounts {
            strong: (0..checkpoints)
                .map(|c| mean_of(&runs, c, |r| &r.strong))
                .collect(),
            renyi: (0..checkpoints)
                .map(|c| mean_of(&runs, c, |r| &r.renyi))
                .collect(),
            clusters: (0..checkpoints)
                .map(|c| mean_of(&runs, c, |r| &r.clusters))
                .collect(),
        };
        progress.update(2, 4);
        // (f) dynamics at the scaling time, per beta
        let mut dynamic = DynamicScaling {
            renyi_start: Vec::new(),
            strong_end: Vec::new(),
            renyi_end: Vec::new(),
            clusters_end: Vec::new(),
            renyi_end_exponent: 0.0,
            clusters_end_exponent: 0.0,
        };
        for &beta in &p.betas {
            let runs = census(&CensusParams {
                beta,
                delta: parking_delta(beta).map_err(model_err)?,
                times: vec![0.0, p.scaling_time],
                realisations: p.scaling_realisations,
                ..census_params.clone()
            })
            .map_err(model_err)?;
            dynamic.renyi_start.push(mean_of(&runs, 0, |r| &r.renyi));
            dynamic.strong_end.push(mean_of(&runs, 1, |r| &r.strong));
            dynamic.renyi_end.push(mean_of(&runs, 1, |r| &r.renyi));
            dynamic
                .clusters_end
                .push(mean_of(&runs, 1, |r| &r.clusters));
        }
        dynamic.renyi_end_exponent = exponent(&p.betas, &dynamic.renyi_end)?;
        dynamic.clusters_end_exponent = exponent(&p.betas, &dynamic.clusters_end)?;
        progress.update(3, 4);
        // (f) i.i.d. counts
        let mut static_scaling = Vec::new();
        for &d in &p.static_dims {
            let mut s = StaticScaling {
                d,
                strong_mean: Vec::new(),
                strong_stderr: Vec::new(),
                strong_expected: Vec::new(),
                renyi_mean: Vec::new(),
                renyi_stderr: Vec::new(),
                renyi_limit: (d == 2).then(Vec::new),
                strong_exponent: 0.0,
                renyi_exponent: 0.0,
            };
            for &beta in &p.static_betas {
                let delta = parking_delta(beta).map_err(model_err)?;
                let counts = static_counts(p.static_n, d, delta, p.static_draws, p.seed)
                    .map_err(model_err)?;
                let strong: Vec<f64> = counts.iter().map(|c| c.0 as f64).collect();
                let renyi: Vec<f64> = counts.iter().map(|c| c.1 as f64).collect();
                let (m, e) = mean_stderr(&strong);
                s.strong_mean.push(m);
                s.strong_stderr.push(e);
                s.strong_expected
                    .push(expected_strong_centres(p.static_n, d, delta).map_err(model_err)?);
                let (m, e) = mean_stderr(&renyi);
                s.renyi_mean.push(m);
                s.renyi_stderr.push(e);
                if let Some(limit) = s.renyi_limit.as_mut() {
                    limit.push(circle_renyi_limit(delta).map_err(model_err)?);
                }
            }
            s.strong_exponent = exponent(&p.static_betas, &s.strong_mean)?;
            s.renyi_exponent = exponent(&p.static_betas, &s.renyi_mean)?;
            static_scaling.push(s);
        }
        progress.update(4, 4);
        Ok(Data {
            delta,
            consensus,
            max_first_token_drift,
            max_final_distance,
            snapshots,
            census: runs,
            mean_counts,
            dynamic_scaling: dynamic,
            static_scaling,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let color = |k: usize| SERIES_COLORS[k % SERIES_COLORS.len()];
        let grey = RGBColor(170, 170, 170);
        let red = RGBColor(213, 30, 30);
        let black = RGBColor(0, 0, 0);
        let letters = ["(a)", "(b)", "(c)"];
        let mut cells: Vec<Block<'a>> = Vec::new();
        for (k, snap) in data.snapshots.iter().enumerate().take(3) {
            let at = |idx: &[usize]| -> Vec<(f64, f64)> {
                idx.iter()
                    .map(|&i| (snap.angles[i].cos(), snap.angles[i].sin()))
                    .collect()
            };
            let all: Vec<usize> = (0..snap.angles.len()).collect();
            let ring: Vec<(f64, f64)> = linspace(0.0, std::f64::consts::TAU, 361)
                .into_iter()
                .map(|a| (a.cos(), a.sin()))
                .collect();
            cells.push(Block::panel(Panel::Lines(LinePanel {
                title: format!(
                    "{} t = {}: {} centres, {} strong",
                    letters[k],
                    snap.t,
                    snap.renyi.len(),
                    snap.strong.len()
                ),
                x_label: "x₁".into(),
                y_label: "x₂".into(),
                x_range: (-1.25, 1.25),
                y_range: (-1.25, 1.25),
                series: vec![
                    Overlay {
                        label: None,
                        points: ring,
                        color: grey,
                        stroke: Stroke::Solid { width: 1 },
                    },
                    Overlay {
                        label: Some(format!("tokens (n = {})", snap.angles.len())),
                        points: at(&all),
                        color: grey,
                        stroke: Stroke::Markers { radius: 3 },
                    },
                    Overlay {
                        label: Some("Rényi centres".into()),
                        points: at(&snap.renyi),
                        color: black,
                        stroke: Stroke::Markers { radius: 6 },
                    },
                    Overlay {
                        label: Some("strong centres".into()),
                        points: at(&snap.strong),
                        color: red,
                        stroke: Stroke::Markers { radius: 4 },
                    },
                ],
                marks: vec![],
                zero_line: false,
                legend: LegendCorner::UpperRight,
            })));
        }
        // (d)
        let t_end = p.census_times.last().copied().unwrap_or(1.0);
        let mc = &data.mean_counts;
        let hi = mc
            .renyi
            .iter()
            .chain(&mc.strong)
            .chain(mc.clusters.iter().skip(1))
            .copied()
            .fold(0.0, f64::max);
        let curve = |label: &str, ys: &[f64], k: usize, skip: usize| Overlay {
            label: Some(label.into()),
            points: p
                .census_times
                .iter()
                .copied()
                .zip(ys.iter().copied())
                .skip(skip)
                .collect(),
            color: color(k),
            stroke: Stroke::Solid { width: 2 },
        };
        let panel_d = LinePanel {
            title: format!(
                "(d) counts, mean of {} runs, n = {}, β = {}, δ = {}",
                p.realisations, p.n, p.beta, data.delta
            ),
            x_label: "t".into(),
            y_label: "count".into(),
            x_range: (0.0, t_end),
            y_range: (0.0, 1.1 * hi.max(1.0)),
            series: vec![
                curve("strong Rényi centres", &mc.strong, 1, 0),
                curve("Rényi centres", &mc.renyi, 0, 0),
                curve(
                    &format!("clusters (1 - ⟨xᵢ, xⱼ⟩ < {}), t > 0", p.cluster_threshold),
                    &mc.clusters,
                    2,
                    1,
                ),
            ],
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        // (e)
        let floor = -17.0;
        let mut series_e = Vec::new();
        for (k, set) in data.consensus.iter().enumerate() {
            for (r, run) in set.runs.iter().enumerate() {
                series_e.push(Overlay {
                    label: (r == 0).then(|| format!("d = {}", set.d)),
                    points: p
                        .consensus_times
                        .iter()
                        .copied()
                        .zip(run.max_distance.iter().map(|v| v.max(1e-17).log10()))
                        .collect(),
                    color: color(k),
                    stroke: Stroke::Solid { width: 1 },
                });
            }
        }
        let panel_e = LinePanel {
            title: format!(
                "(e) random Q, K (Ginibre), V = I, n = {}, β = {}: max |x₁(t) - x₁(0)| = {:.1e}",
                p.consensus_n, p.consensus_beta, data.max_first_token_drift
            ),
            x_label: "t".into(),
            y_label: "log₁₀ maxₖ |xₖ(t) - x₁(0)|".into(),
            x_range: (0.0, p.consensus_times.last().copied().unwrap_or(1.0)),
            y_range: (floor, 1.0),
            series: series_e,
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        // (f)
        let ln = |v: f64| v.max(1e-12).log10();
        let mut series_f = Vec::new();
        let mut k = 0;
        for s in &data.static_scaling {
            let pts = |ys: &[f64]| -> Vec<(f64, f64)> {
                p.static_betas
                    .iter()
                    .zip(ys)
                    .map(|(b, y)| (ln(*b), ln(*y)))
                    .collect()
            };
            series_f.push(Overlay {
                label: Some(format!(
                    "i.i.d. d = {}: strong, slope {:.2}",
                    s.d, s.strong_exponent
                )),
                points: pts(&s.strong_mean),
                color: color(k),
                stroke: Stroke::Markers { radius: 4 },
            });
            series_f.push(Overlay {
                label: None,
                points: pts(&s.strong_expected),
                color: color(k),
                stroke: Stroke::Dashed { width: 1 },
            });
            k += 1;
            series_f.push(Overlay {
                label: Some(format!(
                    "i.i.d. d = {}: centres, slope {:.2}",
                    s.d, s.renyi_exponent
                )),
                points: pts(&s.renyi_mean),
                color: color(k),
                stroke: Stroke::Markers { radius: 4 },
            });
            if let Some(limit) = &s.renyi_limit {
                series_f.push(Overlay {
                    label: None,
                    points: pts(limit),
                    color: color(k),
                    stroke: Stroke::Dashed { width: 1 },
                });
            }
            k += 1;
        }
        let ds = &data.dynamic_scaling;
        series_f.push(Overlay {
            label: Some(format!(
                "dynamics d = 2, t = {}: clusters, slope {:.2}",
                p.scaling_time, ds.clusters_end_exponent
            )),
            points: p
                .betas
                .iter()
                .zip(&ds.clusters_end)
                .map(|(b, y)| (ln(*b), ln(*y)))
                .collect(),
            color: color(k),
            stroke: Stroke::Solid { width: 2 },
        });
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for o in &series_f {
            for q in &o.points {
                lo = lo.min(q.1);
                hi = hi.max(q.1);
            }
        }
        let b_lo = p
            .static_betas
            .iter()
            .chain(&p.betas)
            .copied()
            .fold(f64::INFINITY, f64::min);
        let b_hi = p
            .static_betas
            .iter()
            .chain(&p.betas)
            .copied()
            .fold(0.0, f64::max);
        let panel_f = LinePanel {
            title: "(f) counts vs β (dashed: closed forms); predicted slope (d - 1)/2".into(),
            x_label: "log₁₀ β".into(),
            y_label: "log₁₀ count".into(),
            x_range: (ln(b_lo) - 0.05, ln(b_hi) + 0.05),
            y_range: (lo.min(0.0) - 0.1, hi + 0.4),
            series: series_f,
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::UpperLeft,
        };
        cells.push(Block::panel(Panel::Lines(panel_d)));
        cells.push(Block::panel(Panel::Lines(panel_e)));
        cells.push(Block::panel(Panel::Lines(panel_f)));
        Ok(Layout {
            size: (1800, 1200),
            body: Block::titled(
                "Causal attention: consensus at x₁(0) and Rényi parking (Karagodin-Polyanskiy-Rigollet)",
                text_size::TITLE,
                Block::grid(2, 3, cells),
            ),
        })
    }

    fn summary(p: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut lines = vec![
            SummaryLine::new(
                "random Q, K, V = I: max |x₁(t) - x₁(0)|",
                format!("{:.2e}", data.max_first_token_drift),
            ),
            SummaryLine::new(
                format!(
                    "max over draws of max_k |x_k(T) - x₁(0)|, T = {}, d in {:?}",
                    p.consensus_times.last().copied().unwrap_or(0.0),
                    p.consensus_dims
                ),
                format!("{:.2e}", data.max_final_distance),
            ),
        ];
        for snap in &data.snapshots {
            lines.push(SummaryLine::new(
                format!("run 0, t = {}: Rényi / strong centres", snap.t),
                format!("{} / {}", snap.renyi.len(), snap.strong.len()),
            ));
        }
        let mc = &data.mean_counts;
        if let (Some(s), Some(r), Some(c)) = (mc.strong.last(), mc.renyi.last(), mc.clusters.last())
        {
            lines.push(SummaryLine::new(
                "final mean strong / centres / clusters",
                format!("{s:.2} / {r:.2} / {c:.2}"),
            ));
        }
        for s in &data.static_scaling {
            lines.push(SummaryLine::new(
                format!(
                    "i.i.d. d = {}: exponents strong / centres (predicted {})",
                    s.d,
                    (s.d as f64 - 1.0) / 2.0
                ),
                format!("{:.3} / {:.3}", s.strong_exponent, s.renyi_exponent),
            ));
        }
        lines.push(SummaryLine::new(
            format!(
                "dynamics d = 2, t = {}: exponents centres / clusters (predicted 0.5)",
                p.scaling_time
            ),
            format!(
                "{:.3} / {:.3}",
                data.dynamic_scaling.renyi_end_exponent, data.dynamic_scaling.clusters_end_exponent
            ),
        ));
        lines
    }
}

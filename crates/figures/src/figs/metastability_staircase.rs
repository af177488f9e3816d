//! `metastability-staircase`: dynamic metastability and the merging law on S^1 (Geshkovski, Koubbi,
//! Polyanskiy, Rigollet, arXiv 2410.06833; Bruno, Pasqualotto, Agazzi, arXiv 2509.25040), model code in
//! `attnflow_kuramoto::metastability`.
//!
//! (a) The authors' n = 5 movie (`particles.py`): SA, d = 2, beta = 4, T = 400, their Euler step with
//! renormalisation at dt = 0.1, their fixed five-point start; E(t) = (1/n^2) sum_ij e^{beta (<x_i, x_j> - 1)}
//! with the merge events of the engine's merge observer (threshold 1 - delta) marked.
//!
//! (b) The energy staircase: the papers' USA x_i' = (1/n) sum_j e^{beta (<x_i, x_j> - 1)} P_{x_i} x_j from
//! the authors' staircase start (their five angles at beta_ref = 2000), integrated (RK4, step ds) in the
//! rescaled time s with d tau = e^{beta (1 - <x_a, x_b>)} ds for the closest pair of clusters (the
//! engine's time change); merged clusters become one point of their mass at each merge event. E(s) against
//! the levels sum_c m_c^2 / n^2 of the closest-pair prediction. The authors used beta = 500..4000 with
//! normalised-gradient steps on the USA drift (theta += lr log(beta) g / |g|); here the same beta range with
//! the exact time change instead of their normalised steps.
//!
//! (c) The merging law: two points at angle psi in {pi/3, pi/2, 2pi/3} (papers' USA, n = 2), log tau_merge
//! against beta, measured with the time change and merge events, beside the quadrature
//! tau = int dtheta / (e^{beta (cos theta - 1)} sin theta); the fitted slope against 1 - cos psi.

use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::SERIES_COLORS;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke, VerticalMark};
use attnflow_kuramoto::metastability::{
    Movie, Plateau, PredictedMerge, Staircase, StaircaseParams, closest_pair_merges, movie_start,
    observed_pairs, plateaus, run_movie, run_staircase, slope, staircase_start, two_point_merge,
};
use plotters::style::RGBColor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// The movie: beta, T, dt (authors' Euler), merge threshold delta, checkpoint spacing.
    pub movie_beta: f64,
    pub movie_t_max: f64,
    pub movie_dt: f64,
    pub movie_delta: f64,
    pub movie_every: f64,
    /// The staircase: betas, RK4 step in s, merge threshold, final s, sample spacing.
    pub staircase_betas: Vec<f64>,
    pub staircase_ds: f64,
    pub staircase_delta: f64,
    pub staircase_s_max: f64,
    pub staircase_sample_ds: f64,
    /// The merging law: angles psi, betas, merge threshold, RK4 step in s.
    pub law_psis: Vec<f64>,
    pub law_betas: Vec<f64>,
    pub law_delta: f64,
    pub law_ds: f64,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaircaseResult {
    pub run: Staircase,
    pub plateaus: Vec<Plateau>,
    /// Whether the observed merges are the closest-pair sequence.
    pub order_matches: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LawCurve {
    pub psi: f64,
    pub log_tau: Vec<f64>,
    pub log_tau_quadrature: Vec<f64>,
    /// Least-squares slope of log tau against beta (measured), and 1 - cos psi.
    pub slope: f64,
    pub predicted_slope: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub movie: Movie,
    pub movie_prediction: Vec<PredictedMerge>,
    pub movie_order_matches: bool,
    pub staircase_prediction: Vec<PredictedMerge>,
    pub staircases: Vec<StaircaseResult>,
    pub law: Vec<LawCurve>,
}

pub struct MetastabilityStaircase;

fn upstream(e: impl std::fmt::Display) -> FigureError {
    FigureError::Upstream(e.to_string())
}

/// The staircase and merge-law computations of the figure (shared with the verify check).
pub fn staircase_result(
    p: &Params,
    beta: f64,
    prediction: &[PredictedMerge],
) -> Result<StaircaseResult> {
    let run = run_staircase(&StaircaseParams {
        beta,
        angles: staircase_start(),
        ds: p.staircase_ds,
        delta: p.staircase_delta,
        s_max: p.staircase_s_max,
        sample_ds: p.staircase_sample_ds,
    })
    .map_err(upstream)?;
    let observed: Vec<_> = run.merges.iter().map(|m| m.clusters.clone()).collect();
    let predicted: Vec<_> = prediction.iter().map(|m| m.clusters.clone()).collect();
    Ok(StaircaseResult {
        plateaus: plateaus(&run),
        order_matches: observed == predicted,
        run,
    })
}

impl Figure for MetastabilityStaircase {
    const META: Meta = Meta {
        id: "metastability-staircase",
        paper: Paper::Frontier,
        number: 5,
        title: "Dynamic metastability on S¹: the n = 5 movie, the energy staircase, the merging law",
        claim: "Geshkovski-Koubbi-Polyanskiy-Rigollet (arXiv 2410.06833), Bruno-Pasqualotto-Agazzi (arXiv 2509.25040): \
                from separated groups the energy E = (1/n^2) sum_ij e^{beta(<x_i,x_j>-1)} is, in rescaled time, a \
                staircase with plateaus at sum_c m_c^2/n^2; as beta -> infinity the closest pair of clusters merges \
                first, and log T_merge ~ beta (1 - cos psi) for two clusters at angle psi.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        use std::f64::consts::PI;
        Params {
            fidelity,
            seed,
            movie_beta: 4.0,
            movie_t_max: 400.0,
            movie_dt: 0.1,
            movie_delta: 1e-3,
            movie_every: fidelity.pick(2.0, 1.0, 0.5),
            staircase_betas: fidelity.pick(
                vec![1000.0, 4000.0],
                vec![500.0, 1000.0, 2000.0, 4000.0],
                vec![500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0],
            ),
            staircase_ds: fidelity.pick(4e-3, 1e-3, 5e-4),
            staircase_delta: 1e-6,
            staircase_s_max: 80.0,
            staircase_sample_ds: fidelity.pick(0.25, 0.05, 0.02),
            law_psis: vec![PI / 3.0, PI / 2.0, 2.0 * PI / 3.0],
            law_betas: fidelity.pick(
                vec![20.0, 40.0, 60.0, 80.0, 100.0],
                (1..=10).map(|k| 10.0 * k as f64).collect(),
                (1..=20).map(|k| 10.0 * k as f64).collect(),
            ),
            law_delta: 1e-6,
            law_ds: fidelity.pick(4e-3, 1e-3, 5e-4),
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "movie: authors' Euler + renormalisation, dt = {}, T = {}; staircase: RK4 in rescaled time, ds = {}, \
             merges at 1 - {:e}; merging law: RK4 in rescaled time, ds = {}, merges at 1 - {:e}",
            p.movie_dt, p.movie_t_max, p.staircase_ds, p.staircase_delta, p.law_ds, p.law_delta
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.law_betas.len() < 2 || p.staircase_betas.is_empty() {
            return Err(FigureError::InvalidParams(
                "metastability-staircase needs >= 2 merging-law betas and one staircase beta"
                    .into(),
            ));
        }
        let total = (1 + p.staircase_betas.len() + p.law_psis.len()) as u64;
        let movie = run_movie(
            p.movie_beta,
            p.movie_t_max,
            p.movie_dt,
            p.movie_delta,
            p.movie_every,
        )
        .map_err(upstream)?;
        let movie_prediction = closest_pair_merges(
            &movie_start()
                .map_err(upstream)?
                .angles()
                .map_err(upstream)?,
        );
        let predicted: Vec<_> = movie_prediction
            .iter()
            .map(|m| m.clusters.clone())
            .collect();
        let movie_order_matches = observed_pairs(&movie.events) == predicted;
        progress.update(1, total);
        let staircase_prediction = closest_pair_merges(&staircase_start());
        let mut staircases = Vec::new();
        for (i, &beta) in p.staircase_betas.iter().enumerate() {
            staircases.push(staircase_result(p, beta, &staircase_prediction)?);
            progress.update(2 + i as u64, total);
        }
        let mut law = Vec::new();
        for (i, &psi) in p.law_psis.iter().enumerate() {
            let (mut log_tau, mut log_tau_quadrature) = (Vec::new(), Vec::new());
            for &beta in &p.law_betas {
                let (m, q) = two_point_merge(beta, psi, p.law_delta, p.law_ds).map_err(upstream)?;
                log_tau.push(m);
                log_tau_quadrature.push(q);
            }
            law.push(LawCurve {
                psi,
                slope: slope(&p.law_betas, &log_tau),
                predicted_slope: 1.0 - psi.cos(),
                log_tau,
                log_tau_quadrature,
            });
            progress.update((2 + p.staircase_betas.len() + i) as u64, total);
        }
        Ok(Data {
            movie,
            movie_prediction,
            movie_order_matches,
            staircase_prediction,
            staircases,
            law,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let color = |k: usize| SERIES_COLORS[k % SERIES_COLORS.len()];
        let grey = RGBColor(120, 120, 120);
        let movie_panel = LinePanel {
            title: format!(
                "(a) n = 5 movie (SA, β = {}): E(t), merges marked",
                p.movie_beta
            ),
            x_label: "t".into(),
            y_label: "E".into(),
            x_range: (0.0, p.movie_t_max),
            y_range: (0.0, 1.05),
            series: vec![Overlay {
                label: Some("E(t)".into()),
                points: data
                    .movie
                    .t
                    .iter()
                    .copied()
                    .zip(data.movie.energy.iter().copied())
                    .collect(),
                color: color(0),
                stroke: Stroke::Solid { width: 2 },
            }],
            marks: data
                .movie
                .events
                .iter()
                .map(|e| VerticalMark {
                    x: e.t,
                    label: format!(" {}→{}", e.clusters_before, e.clusters_after),
                    color: grey,
                })
                .collect(),
            zero_line: false,
            legend: LegendCorner::LowerRight,
        };
        let s_end = data
            .staircases
            .iter()
            .filter_map(|r| r.run.s.last().copied())
            .fold(1.0f64, f64::max);
        let mut series: Vec<Overlay> = data
            .staircases
            .iter()
            .enumerate()
            .map(|(k, r)| Overlay {
                label: Some(format!("β = {}", r.run.beta)),
                points: r
                    .run
                    .s
                    .iter()
                    .copied()
                    .zip(r.run.energy.iter().copied())
                    .collect(),
                color: color(k),
                stroke: Stroke::Solid { width: 2 },
            })
            .collect();
        let mut levels: Vec<f64> = vec![5.0 / 25.0];
        levels.extend(data.staircase_prediction.iter().map(|m| m.level_after));
        for (k, l) in levels.iter().enumerate() {
            series.push(Overlay {
                label: (k == 0).then(|| "Σ m_c²/n² (closest pair)".to_string()),
                points: vec![(0.0, *l), (s_end, *l)],
                color: grey,
                stroke: Stroke::Dashed { width: 1 },
            });
        }
        let staircase_panel = LinePanel {
            title: "(b) staircase: E against rescaled time s (USA, n = 5)".into(),
            x_label: "s".into(),
            y_label: "E".into(),
            x_range: (0.0, s_end),
            y_range: (0.0, 1.05),
            series,
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::LowerRight,
        };
        let mut law_series = Vec::new();
        let mut y_max = 1.0f64;
        for (k, c) in data.law.iter().enumerate() {
            y_max = y_max.max(c.log_tau.iter().copied().fold(0.0, f64::max));
            law_series.push(Overlay {
                label: Some(format!(
                    "ψ = {:.3}: slope {:.3} (1 - cos ψ = {:.3})",
                    c.psi, c.slope, c.predicted_slope
                )),
                points: p
                    .law_betas
                    .iter()
                    .copied()
                    .zip(c.log_tau.iter().copied())
                    .collect(),
                color: color(k),
                stroke: Stroke::Markers { radius: 4 },
            });
            law_series.push(Overlay {
                label: None,
                points: p
                    .law_betas
                    .iter()
                    .copied()
                    .zip(c.log_tau_quadrature.iter().copied())
                    .collect(),
                color: color(k),
                stroke: Stroke::Dashed { width: 1 },
            });
        }
        let b_max = p.law_betas.iter().copied().fold(0.0, f64::max);
        let law_panel = LinePanel {
            title: "(c) merging law: log τ_merge of two points at angle ψ".into(),
            x_label: "β".into(),
            y_label: "log τ_merge".into(),
            x_range: (0.0, b_max * 1.05),
            y_range: (0.0, y_max * 1.05),
            series: law_series,
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::UpperLeft,
        };
        Ok(Layout {
            size: (1680, 520),
            body: Block::row(vec![
                Panel::Lines(movie_panel),
                Panel::Lines(staircase_panel),
                Panel::Lines(law_panel),
            ]),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut out = Vec::new();
        let ev: Vec<String> = data
            .movie
            .events
            .iter()
            .map(|e| {
                format!(
                    "t = {:.1}: {}→{} {:?}",
                    e.t, e.clusters_before, e.clusters_after, e.merged
                )
            })
            .collect();
        out.push(SummaryLine::new("n = 5 movie: merge events", ev.join("; ")));
        out.push(SummaryLine::new(
            "n = 5 movie: merge order = closest-pair prediction",
            data.movie_order_matches.to_string(),
        ));
        for r in &data.staircases {
            let worst = r
                .plateaus
                .iter()
                .map(|q| (q.energy_median - q.level).abs())
                .fold(0.0f64, f64::max);
            out.push(SummaryLine::new(
                format!("staircase β = {}: merge order = closest pair", r.run.beta),
                format!(
                    "{} ({} merges, final s = {:.2}, log τ = {:.2})",
                    r.order_matches,
                    r.run.merges.len(),
                    r.run.s.last().copied().unwrap_or(0.0),
                    r.run.log_tau.last().copied().flatten().unwrap_or(0.0)
                ),
            ));
            out.push(SummaryLine::new(
                format!("staircase β = {}: plateaus (level: median E)", r.run.beta),
                format!(
                    "{}; max |E - Σ m²/n²| = {worst:.2e}",
                    r.plateaus
                        .iter()
                        .map(|q| format!("{:.2}: {:.4}", q.level, q.energy_median))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for c in &data.law {
            let gap = c
                .log_tau
                .iter()
                .zip(&c.log_tau_quadrature)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f64, f64::max);
            out.push(SummaryLine::new(
                format!("merging law ψ = {:.4}", c.psi),
                format!(
                    "slope {:.4} vs 1 - cos ψ = {:.4}; max |log τ - quadrature| = {gap:.1e}",
                    c.slope, c.predicted_slope
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::NoProgress;

    #[test]
    fn ci_figure_staircase_and_law() {
        let p = MetastabilityStaircase::params(Fidelity::Ci, 0);
        let data = MetastabilityStaircase::compute(&p, &NoProgress).unwrap();
        for r in &data.staircases {
            assert!(r.order_matches, "beta {}: {:?}", r.run.beta, r.run.merges);
            for q in &r.plateaus {
                assert!((q.energy_median - q.level).abs() < 0.03, "{q:?}");
            }
        }
        for c in &data.law {
            assert!((c.slope / c.predicted_slope - 1.0).abs() < 0.1, "{c:?}");
        }
    }
}

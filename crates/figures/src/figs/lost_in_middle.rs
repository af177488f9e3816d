//! `lost-in-middle`: causal self-attention with ALiBi weights on S^1 and the U-shaped retrieval profile
//! (Duerinckx, Geshkovski and Rossi, "Kinetic theory for Transformers and the lost-in-the-middle
//! phenomenon", arXiv 2605.09213, and their scripts):
//!
//! ```text
//! th_j' = sum_{k<j} W_jk (-beta sin(th_j - th_k) e^{beta cos(th_j - th_k)}),
//! W_jk  = e^{-(lambda/n)(j-k)} / sum_{k'<j} e^{-(lambda/n)(j-k')},
//! ```
//!
//! run on the engine as USA with pair weights n beta W_jk (conventions in
//! [`attnflow_energy::lost_in_middle`]: ALiBi as the multiplicative factor e^{-(lambda/n)(j-k)}, i.e. the
//! logit bias with slope lambda/n; the row normalisation over the ALiBi factors of the strictly earlier
//! tokens only; the interaction with the authors' factor beta, so times are the authors').
//!
//! Panels: (a) the authors' particle run (n = 64, beta = 1, lambda = 1, four clusters at
//! linspace(0.1, 1.9, 4) pi with N(0, 0.075) jitter, RK4 dt = 0.0025 up to T = 10; our jitter comes from our
//! seeded stream, not theirs); (b) the closed-form profile S_t(s), each time rescaled to [0, 1] on the authors'
//! grid s in [0.02, 0.98] (M = 8, n_max = 20, beta = 1, lambda = 1), U-shaped for t < t_crit; (c) the measured profile from i.i.d. uniform
//! tokens (the sensitivity estimator of [`attnflow_kuramoto::lost_in_middle`], bins of consecutive source
//! positions, bands at +-1.96 standard errors) beside S_t(s) and the finite-n linear prediction
//! n sum_m w_m [exp(a_m t W)]_{n-1,k}; (d) t_crit(beta) on the authors' grid beta = 0.1, ..., 4.8.
//!
//! Choices where the source is silent: the soft accuracy whose expectation S_t is taken to be
//! phi(x) = sum_{m=1}^{n_max} w_m cos(m x) between the last token at time t and the source at time 0, scaled
//! by n, and the source k at s = (k + 1)/n (module docs of `attnflow_energy::lost_in_middle`); the ensemble
//! parameters (n, realisations, times) are ours, the paper's figures show the closed form only.

use attnflow_energy::lost_in_middle::{AUTHORS_MODE_WIDTH, AUTHORS_MODES, LostInMiddle};
use attnflow_kuramoto::lost_in_middle::{
    ProfileParams, ProfileSnapshot, bin_average, bin_ranges, four_cluster_start, measure_profile,
    trajectory,
};
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::circle::CircleView;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke, VerticalMark};
use crate::plot::{SERIES_COLORS, linspace, text_size};

/// The authors' particle run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    pub n: usize,
    pub beta: f64,
    pub lambda: f64,
    pub t_end: f64,
    pub dt: f64,
    /// Angles recorded at this many equally spaced times in [0, t_end] (for the paths).
    pub frames: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub run: RunParams,
    /// beta, lambda of the profile panels.
    pub beta: f64,
    pub lambda: f64,
    /// The closed form: times, grid on [0.02, 0.98] (the authors' 800 points).
    pub profile_times: Vec<f64>,
    pub num_s: usize,
    /// The t_crit(beta) grid.
    pub tcrit_betas: Vec<f64>,
    /// The Monte-Carlo ensemble.
    pub ensemble_n: usize,
    pub realisations: usize,
    pub ensemble_times: Vec<f64>,
    pub ensemble_dt: f64,
    pub bin_width: usize,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub labels: Vec<usize>,
    pub times: Vec<f64>,
    /// The angles per frame (outer) and token (inner), in (-pi, pi].
    pub angles: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedProfile {
    pub t: f64,
    pub values: Vec<f64>,
    /// Where the grid minimum lies, and the closed-form slope at s = 1.
    pub s_min: f64,
    pub right_end_slope: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub measured: ProfileSnapshot,
    /// Per bin: S_t averaged over the bin's s_k, and the finite-n linear prediction averaged likewise.
    pub closed_form: Vec<f64>,
    pub linear_finite_n: Vec<f64>,
    /// max over bins of |measured - linear_finite_n| / stderr.
    pub max_z: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub run: Run,
    pub t_crit: f64,
    pub s: Vec<f64>,
    pub profiles: Vec<ClosedProfile>,
    pub tcrit_curve: Vec<f64>,
    pub comparisons: Vec<Comparison>,
}

pub struct LostInMiddleFigure;

fn energy_err(e: attnflow_energy::EnergyError) -> FigureError {
    FigureError::InvalidParams(format!("lost-in-middle: {e}"))
}

fn kuramoto_err(e: attnflow_kuramoto::KuramotoError) -> FigureError {
    FigureError::InvalidParams(format!("lost-in-middle: {e}"))
}

impl Figure for LostInMiddleFigure {
    const META: Meta = Meta {
        id: "lost-in-middle",
        paper: Paper::Frontier,
        number: 3,
        title: "Lost in the middle: causal ALiBi attention on S¹, the U-shaped retrieval profile and t_crit(β)",
        claim: "Duerinckx-Geshkovski-Rossi (arXiv 2605.09213): for i.i.d. uniform tokens the retrieval profile of the last token against the source position is U-shaped (primacy, recency, one interior minimum) while t < t_crit(beta) = 2 (1 - e^{-lambda}) sum w_m a_m / sum w_m a_m^2, a_m = m^2 I_m(beta); particle run n = 64, beta = 1, lambda = 1, T = 10, RK4 dt = 0.0025 from four clusters.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            run: RunParams {
                n: fidelity.pick(16, 64, 64),
                beta: 1.0,
                lambda: 1.0,
                t_end: fidelity.pick(2.0, 10.0, 10.0),
                dt: fidelity.pick(0.01, 0.0025, 0.0025),
                frames: fidelity.pick(11, 101, 201),
            },
            beta: 1.0,
            lambda: 1.0,
            profile_times: vec![0.5, 1.0, 2.0, 2.5, 3.0],
            num_s: fidelity.pick(100, 800, 800),
            tcrit_betas: (1..=48).map(|j| 0.1 * j as f64).collect(),
            ensemble_n: fidelity.pick(16, 64, 64),
            realisations: fidelity.pick(24, 320, 2000),
            ensemble_times: fidelity.pick(
                vec![0.5, 1.0],
                vec![0.5, 1.0, 2.0, 3.0],
                vec![0.5, 1.0, 2.0, 3.0],
            ),
            ensemble_dt: fidelity.pick(0.05, 0.025, 0.01),
            bin_width: fidelity.pick(3, 8, 8),
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "particle run: engine RK4 + renormalisation, dt = {}; ensemble: RK4 in angles with the tangent flow, dt = {}; profiles: closed form",
            p.run.dt, p.ensemble_dt
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.num_s < 3 || p.run.frames < 2 {
            return Err(FigureError::InvalidParams(
                "lost-in-middle needs num_s >= 3 and frames >= 2".into(),
            ));
        }
        // (a) the authors' run
        let (theta0, labels) = four_cluster_start(p.run.n, p.seed).map_err(kuramoto_err)?;
        let frame_dt = p.run.t_end / (p.run.frames - 1) as f64;
        let per_frame = (frame_dt / p.run.dt).round().max(1.0);
        let times: Vec<f64> = (0..p.run.frames)
            .map(|f| f as f64 * per_frame * p.run.dt)
            .collect();
        let angles = trajectory(&theta0, p.run.beta, p.run.lambda, p.run.dt, &times)
            .map_err(kuramoto_err)?;
        progress.update(1, 3);
        // (b) closed form, (d) t_crit curve
        let theory = LostInMiddle::authors(p.beta, p.lambda).map_err(energy_err)?;
        let s = linspace(0.02, 0.98, p.num_s);
        let profiles = p
            .profile_times
            .iter()
            .map(|&t| {
                let values = s
                    .iter()
                    .map(|&x| theory.profile(t, x))
                    .collect::<attnflow_energy::Result<Vec<f64>>>()
                    .map_err(energy_err)?;
                let i_min = (0..values.len())
                    .min_by(|&a, &b| values[a].total_cmp(&values[b]))
                    .unwrap_or(0);
                Ok(ClosedProfile {
                    t,
                    s_min: s[i_min],
                    right_end_slope: theory.right_end_slope(t),
                    values,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let tcrit_curve = p
            .tcrit_betas
            .iter()
            .map(|&b| {
                LostInMiddle::authors(b, p.lambda)
                    .map(|th| th.t_crit())
                    .map_err(energy_err)
            })
            .collect::<Result<Vec<f64>>>()?;
        // (c) the ensemble
        let measured = measure_profile(&ProfileParams {
            beta: p.beta,
            lambda: p.lambda,
            mode_width: AUTHORS_MODE_WIDTH,
            modes: AUTHORS_MODES,
            n: p.ensemble_n,
            realisations: p.realisations,
            times: p.ensemble_times.clone(),
            dt: p.ensemble_dt,
            bin_width: p.bin_width,
            seed: p.seed,
        })
        .map_err(kuramoto_err)?;
        progress.update(2, 3);
        let ranges = bin_ranges(p.ensemble_n, p.bin_width);
        let comparisons = measured
            .into_iter()
            .map(|snap| {
                let n = p.ensemble_n;
                let closed: Vec<f64> = (0..n - 1)
                    .map(|k| theory.profile(snap.t, (k + 1) as f64 / n as f64))
                    .collect::<attnflow_energy::Result<_>>()
                    .map_err(energy_err)?;
                let linear = theory.discrete_profile(n, snap.t).map_err(energy_err)?;
                let linear_finite_n = bin_average(&linear, &ranges);
                let max_z = snap
                    .bins
                    .iter()
                    .zip(&linear_finite_n)
                    .map(|(b, l)| (b.mean - l).abs() / b.stderr)
                    .fold(0.0, f64::max);
                Ok(Comparison {
                    closed_form: bin_average(&closed, &ranges),
                    linear_finite_n,
                    max_z,
                    measured: snap,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        progress.update(3, 3);
        Ok(Data {
            run: Run {
                labels,
                times,
                angles,
            },
            t_crit: theory.t_crit(),
            s,
            profiles,
            tcrit_curve,
            comparisons,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let color = |k: usize| SERIES_COLORS[k % SERIES_COLORS.len()];
        // (a)
        let last = data.run.angles.len() - 1;
        let n = data.run.labels.len();
        let circle = CircleView {
            title: format!(
                "(a) particle run, n = {n}, β = {}, λ = {}, t = {}",
                p.run.beta, p.run.lambda, data.run.times[last]
            ),
            current: data.run.angles[last].clone(),
            initial: data.run.angles[0].clone(),
            paths: (0..n)
                .map(|j| data.run.angles.iter().map(|a| a[j]).collect())
                .collect(),
            coloring: None,
            marker_color: color(0),
        };
        // (b)
        let mut y_max: f64 = 0.0;
        let series_b = data
            .profiles
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let lo = c.values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = c.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let span = (hi - lo).max(f64::MIN_POSITIVE);
                let points: Vec<(f64, f64)> = data
                    .s
                    .iter()
                    .zip(&c.values)
                    .map(|(s, v)| (*s, (v - lo) / span))
                    .collect();
                y_max = y_max.max(points.iter().map(|q| q.1).fold(0.0, f64::max));
                Overlay {
                    label: Some(format!("t = {}", c.t)),
                    points,
                    color: color(k),
                    stroke: Stroke::Solid { width: 2 },
                }
            })
            .collect();
        let panel_b = LinePanel {
            title: format!(
                "(b) closed form (S_t - min) / (max - min), β = {}, t_crit = {:.3}",
                p.beta, data.t_crit
            ),
            x_label: "source position s".into(),
            y_label: "S_t(s), rescaled to [0, 1]".into(),
            x_range: (0.0, 1.0),
            y_range: (0.0, 1.05 * y_max.max(1e-12)),
            series: series_b,
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        // (c)
        let mut series_c = Vec::new();
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (k, c) in data.comparisons.iter().enumerate() {
            let bins = &c.measured.bins;
            let xs: Vec<f64> = bins.iter().map(|b| b.s).collect();
            let band = |sign: f64| -> Vec<(f64, f64)> {
                bins.iter()
                    .map(|b| (b.s, b.mean + sign * 1.96 * b.stderr))
                    .collect()
            };
            for q in band(1.0).iter().chain(&band(-1.0)).chain(
                xs.iter()
                    .zip(&c.closed_form)
                    .map(|(x, y)| (*x, *y))
                    .collect::<Vec<_>>()
                    .iter(),
            ) {
                lo = lo.min(q.1);
                hi = hi.max(q.1);
            }
            series_c.push(Overlay {
                label: Some(format!("measured, t = {}", c.measured.t)),
                points: bins.iter().map(|b| (b.s, b.mean)).collect(),
                color: color(k),
                stroke: Stroke::Markers { radius: 4 },
            });
            series_c.push(Overlay {
                label: None,
                points: band(1.0),
                color: color(k),
                stroke: Stroke::Dashed { width: 1 },
            });
            series_c.push(Overlay {
                label: None,
                points: band(-1.0),
                color: color(k),
                stroke: Stroke::Dashed { width: 1 },
            });
            series_c.push(Overlay {
                label: if k == 0 {
                    Some("closed form S_t (lines)".into())
                } else {
                    None
                },
                points: xs
                    .iter()
                    .copied()
                    .zip(c.closed_form.iter().copied())
                    .collect(),
                color: color(k),
                stroke: Stroke::Solid { width: 2 },
            });
        }
        let pad = 0.05 * (hi - lo).max(1e-12);
        let panel_c = LinePanel {
            title: format!(
                "(c) measured n E[φ], n = {}, {} uniform starts, ±1.96 s.e.",
                p.ensemble_n, p.realisations
            ),
            x_label: "source position s".into(),
            y_label: "retrieval".into(),
            x_range: (0.0, 1.0),
            y_range: (lo.min(0.0) - pad, hi + pad),
            series: series_c,
            marks: vec![],
            zero_line: true,
            legend: LegendCorner::UpperLeft,
        };
        // (d)
        let t_hi = data.tcrit_curve.iter().copied().fold(0.0, f64::max);
        let panel_d = LinePanel {
            title: format!("(d) t_crit(β), λ = {}, M = 8, n_max = 20", p.lambda),
            x_label: "β".into(),
            y_label: "t_crit".into(),
            x_range: (0.0, p.tcrit_betas.last().copied().unwrap_or(1.0)),
            y_range: (0.0, 1.05 * t_hi.max(1e-12)),
            series: vec![Overlay {
                label: Some("U-shaped below the curve".into()),
                points: p
                    .tcrit_betas
                    .iter()
                    .copied()
                    .zip(data.tcrit_curve.iter().copied())
                    .collect(),
                color: color(0),
                stroke: Stroke::Solid { width: 2 },
            }],
            marks: vec![VerticalMark {
                x: p.beta,
                label: format!(" β = {}: t_crit = {:.3}", p.beta, data.t_crit),
                color: color(1),
            }],
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        Ok(Layout {
            size: (1500, 1200),
            body: Block::titled(
                "Lost in the middle: causal ALiBi attention on S¹ (Duerinckx-Geshkovski-Rossi)",
                text_size::TITLE,
                Block::grid(
                    2,
                    2,
                    [
                        Block::panel(Panel::Circle(circle)),
                        Block::panel(Panel::Lines(panel_b)),
                        Block::panel(Panel::Lines(panel_c)),
                        Block::panel(Panel::Lines(panel_d)),
                    ],
                ),
            ),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut lines = vec![SummaryLine::new(
            "t_crit(β = 1), λ = 1",
            format!("{:.6}", data.t_crit),
        )];
        for c in &data.comparisons {
            let bins = &c.measured.bins;
            let (first, last) = (bins[0].mean, bins[bins.len() - 1].mean);
            let min = bins.iter().map(|b| b.mean).fold(f64::INFINITY, f64::min);
            lines.push(SummaryLine::new(
                format!("t = {}: measured first / min / last bin", c.measured.t),
                format!(
                    "{first:.3} / {min:.3} / {last:.3} (closed form {:.3} / {:.3} / {:.3}); max |z| vs finite-n linear {:.1}",
                    c.closed_form[0],
                    c.closed_form.iter().copied().fold(f64::INFINITY, f64::min),
                    c.closed_form[c.closed_form.len() - 1],
                    c.max_z
                ),
            ));
        }
        lines
    }
}

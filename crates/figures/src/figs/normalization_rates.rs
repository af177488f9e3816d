//! `normalization-rates`: where layer normalisation sits changes how fast tokens cluster (Karagodin,
//! Ge, Polyanskiy and Rigollet, "Normalization in attention dynamics", arXiv 2510.22026). With
//! x_i = r_i th_i every scheme moves the directions by th_i' = (1/s_i) P_{th_i} A_i(Theta) (the engine's
//! [`attnflow_dynamics::Normalization`]): Post-LN s_i = 1, Pre-LN s_i = r_i with r_i' = <th_i, A_i>,
//! Peri-LN s_i = r_i |A_i| (unit speed of x_i), nGPT s_i = |A_i| (scalar step 1).
//!
//! (a), (b) The equiangular reduced ODEs of [`attnflow_energy::normalization`] (Q = K = V = I, softmax,
//! all cosines rho, all radii r, rho' = (2/s) b (1 - rho)(1 + (n-1) rho)), RK4 with step 1e-3 in
//! (u = 1 - rho, r): ln(1 - rho) against t (Post-LN, nGPT: rate e^{-2t}) and against ln t (Pre-LN,
//! Peri-LN: 1 - rho ~ t^{-2}); the exponents are least-squares slopes over the last part of each run.
//! (c) The particle system (the engine's normalised field, RK4) from an exactly equiangular start
//! beside the ODE, with the largest difference over the sampled times.
//! (d) The paper's experiment: one head with random Q, K, V of i.i.d. N(0, 1/d) entries (Kaiming
//! normal with gain 1, our reading of "Kaiming"), beta = sqrt(d), n < d tokens uniform on S^{d-1}
//! with r = 1, engine RK4 up to T = 10; the mean pairwise cosine of the directions, its mean over
//! realisations and the 5 % / 95 % quantiles (linear interpolation between order statistics) as a
//! 90 % band. Realisation k draws its tokens from the stream (seed, k, InitialCondition) and Q, K, V
//! from (seed, k, Matrices) ([`attnflow_energy::normalization::kaiming_field`]); every scheme sees
//! the same tokens and weights. The step dt = 0.05 (ci: 0.1) is ours.

use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel};
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use crate::plot::{SERIES_COLORS, text_size};
use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{ModelKind, Normalization, SelfAttention};
use attnflow_energy::normalization::{
    EquiangularState, STEP, fitted_slope, kaiming_field, particle_run, trajectory,
};

/// The schemes, in panel order.
pub const SCHEMES: [Normalization; 4] = [
    Normalization::PostLn,
    Normalization::PreLn,
    Normalization::PeriLn,
    Normalization::Ngpt,
];

/// The decay of 1 - rho each scheme is predicted to have: exponential (rate) or a power of t.
pub fn predicted_decay(norm: Normalization) -> (&'static str, f64) {
    match norm {
        Normalization::PostLn | Normalization::Ngpt => ("rate", -2.0),
        Normalization::PreLn | Normalization::PeriLn => ("power", -2.0),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OdeParams {
    pub n: usize,
    pub beta: f64,
    pub rho0: f64,
    /// End time of the exponential schemes (panel (a)) and of the power-law schemes (panel (b)).
    pub t_rate: f64,
    pub t_power: f64,
    pub samples: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticleParams {
    pub n: usize,
    pub beta: f64,
    pub rho0: f64,
    pub t_end: f64,
    pub dt: f64,
    pub samples: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomParams {
    pub d: usize,
    pub n: usize,
    /// beta = sqrt(d) in the paper.
    pub beta: f64,
    pub t_end: f64,
    pub dt: f64,
    pub samples: usize,
    pub realisations: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub ode: OdeParams,
    pub particles: ParticleParams,
    pub random: RandomParams,
}

crate::figure_params!(Params);

/// One scheme's equiangular ODE solution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OdeCurve {
    pub scheme: Normalization,
    pub t: Vec<f64>,
    pub states: Vec<EquiangularState>,
    /// "rate" (slope of ln(1 - rho) against t) or "power" (against ln t).
    pub decay: String,
    pub fitted: f64,
    pub predicted: f64,
    /// The fit window [t_lo, t_hi].
    pub window: (f64, f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticleCurve {
    pub scheme: Normalization,
    pub t: Vec<f64>,
    pub particle_rho: Vec<f64>,
    pub ode_rho: Vec<f64>,
    /// max over t of |rho_particles - rho_ode| (all pair cosines) and |r_particles - r_ode|.
    pub max_difference: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomCurve {
    pub scheme: Normalization,
    pub t: Vec<f64>,
    pub mean: Vec<f64>,
    pub q05: Vec<f64>,
    pub q95: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub ode: Vec<OdeCurve>,
    pub particles: Vec<ParticleCurve>,
    pub random: Vec<RandomCurve>,
}

pub struct NormalizationRates;

fn energy_err(e: attnflow_energy::EnergyError) -> FigureError {
    FigureError::InvalidParams(format!("normalization-rates: {e}"))
}

/// The q-quantile of `values` (linear interpolation between order statistics, NumPy's default).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (pos - lo as f64) * (v[hi] - v[lo])
}

/// Solves the equiangular ODE of `scheme` and fits its decay exponent over the last half (rate)
/// or the last decade (power) of the run.
pub fn ode_curve(scheme: Normalization, p: &OdeParams) -> Result<OdeCurve> {
    let (decay, predicted) = predicted_decay(scheme);
    let t_end = if decay == "rate" { p.t_rate } else { p.t_power };
    let states = trajectory(
        scheme,
        ModelKind::Sa,
        p.n,
        p.beta,
        p.rho0,
        1.0,
        t_end,
        p.samples,
        STEP,
    )
    .map_err(energy_err)?;
    let t: Vec<f64> = (0..=p.samples)
        .map(|k| t_end * k as f64 / p.samples as f64)
        .collect();
    let window = if decay == "rate" {
        (0.5 * t_end, t_end)
    } else {
        (0.1 * t_end, t_end)
    };
    let (xs, ys): (Vec<f64>, Vec<f64>) = t
        .iter()
        .zip(&states)
        .filter(|(t, _)| **t >= window.0)
        .map(|(t, s)| {
            let x = if decay == "rate" { *t } else { t.ln() };
            (x, s.gap.ln())
        })
        .unzip();
    Ok(OdeCurve {
        scheme,
        decay: decay.into(),
        fitted: fitted_slope(&xs, &ys),
        predicted,
        window,
        t,
        states,
    })
}

/// The particle system of `scheme` from the exactly equiangular start against its ODE.
pub fn particle_curve(scheme: Normalization, p: &ParticleParams) -> Result<ParticleCurve> {
    let start = attnflow_experiment::init::equiangular(p.n, p.n, p.rho0)
        .map_err(|e| FigureError::InvalidParams(format!("normalization-rates: {e}")))?;
    let field = SelfAttention::builder()
        .beta(p.beta)
        .normalization(scheme)
        .build()
        .map_err(|e| FigureError::InvalidParams(format!("normalization-rates: {e}")))?;
    let per_sample = ((p.t_end / p.samples as f64) / p.dt).round().max(1.0) as usize;
    let t_end = (per_sample * p.samples) as f64 * p.dt;
    let particles =
        particle_run(&field, &start, 1.0, p.dt, per_sample, p.samples).map_err(energy_err)?;
    let ode = trajectory(
        scheme,
        ModelKind::Sa,
        p.n,
        p.beta,
        p.rho0,
        1.0,
        t_end,
        p.samples,
        p.dt,
    )
    .map_err(energy_err)?;
    let max_difference = particles
        .iter()
        .zip(&ode)
        .map(|(a, o)| {
            let radius = if scheme.carries_radii() {
                o.radius
            } else {
                1.0
            };
            (a.mean - o.rho())
                .abs()
                .max((a.min - o.rho()).abs())
                .max((a.max - o.rho()).abs())
                .max((a.radius - radius).abs())
        })
        .fold(0.0, f64::max);
    Ok(ParticleCurve {
        scheme,
        t: (0..=p.samples)
            .map(|k| t_end * k as f64 / p.samples as f64)
            .collect(),
        particle_rho: particles.iter().map(|s| s.mean).collect(),
        ode_rho: ode.iter().map(|s| s.rho()).collect(),
        max_difference,
    })
}

/// Mean pairwise cosine over time of every realisation of the random-weight experiment.
pub fn random_runs(scheme: Normalization, p: &RandomParams, seed: u64) -> Result<Vec<Vec<f64>>> {
    let per_sample = ((p.t_end / p.samples as f64) / p.dt).round().max(1.0) as usize;
    (0..p.realisations as u64)
        .map(|k| {
            let field = kaiming_field(scheme, p.d, p.beta, seed, k).map_err(energy_err)?;
            let mut rng = stream(seed, k, Purpose::InitialCondition);
            let start = uniform_sphere(p.n, p.d, &mut rng)
                .map_err(|e| FigureError::InvalidParams(format!("normalization-rates: {e}")))?;
            let run = particle_run(&field, &start, 1.0, p.dt, per_sample, p.samples)
                .map_err(energy_err)?;
            Ok(run.iter().map(|s| s.mean).collect())
        })
        .collect()
}

impl Figure for NormalizationRates {
    const META: Meta = Meta {
        id: "normalization-rates",
        paper: Paper::Frontier,
        number: 6,
        title: "Normalisation as speed: Post-LN, Pre-LN, Peri-LN and nGPT, equiangular rates and random weights",
        claim: "Karagodin-Ge-Polyanskiy-Rigollet (arXiv 2510.22026): every normalisation moves the directions by th_i' = (1/s_i) P A_i; from an equiangular start Post-LN clusters exponentially, 1 - rho ~ e^{-2t}, Pre-LN only polynomially, 1 - rho ~ 1/t^2 (the radius grows linearly); the paper plots the mean cosine with a 90 % band over seeds for random (Kaiming) Q, K, V at d = 512, beta = sqrt(d), n < d, T = 10, and concludes that Peri-LN moves tokens fast early yet, like Pre-LN, resists the collapse Post-LN shows.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let d = fidelity.pick(16, 128, 512);
        Params {
            fidelity,
            seed,
            ode: OdeParams {
                n: 32,
                beta: 1.0,
                rho0: 0.0,
                t_rate: 10.0,
                t_power: fidelity.pick(100.0, 1000.0, 1000.0),
                samples: fidelity.pick(100, 400, 1000),
            },
            particles: ParticleParams {
                n: fidelity.pick(6, 16, 32),
                beta: 1.0,
                rho0: 0.1,
                t_end: 5.0,
                dt: fidelity.pick(1e-2, 1e-3, 1e-3),
                samples: fidelity.pick(10, 50, 100),
            },
            random: RandomParams {
                d,
                n: fidelity.pick(8, 64, 64),
                beta: (d as f64).sqrt(),
                t_end: 10.0,
                dt: fidelity.pick(0.1, 0.05, 0.05),
                samples: fidelity.pick(10, 50, 100),
                realisations: fidelity.pick(4, 32, 32),
            },
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "equiangular ODEs: RK4 in (1 - rho, r), step {STEP}; particles: engine RK4 (+ renormalisation on the sphere), dt = {} (equiangular start) and dt = {} (random weights)",
            p.particles.dt, p.random.dt
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.ode.samples < 2
            || p.particles.samples == 0
            || p.random.samples == 0
            || p.random.realisations == 0
            || p.random.n >= p.random.d
        {
            return Err(FigureError::InvalidParams(
                "normalization-rates needs samples >= 2, realisations >= 1 and n < d".into(),
            ));
        }
        let total = 3 * SCHEMES.len() as u64;
        let mut done = 0u64;
        let mut ode = Vec::new();
        for scheme in SCHEMES {
            ode.push(ode_curve(scheme, &p.ode)?);
            done += 1;
            progress.update(done, total);
        }
        let mut particles = Vec::new();
        for scheme in SCHEMES {
            particles.push(particle_curve(scheme, &p.particles)?);
            done += 1;
            progress.update(done, total);
        }
        let mut random = Vec::new();
        let r = &p.random;
        let t_step = ((r.t_end / r.samples as f64) / r.dt).round().max(1.0) * r.dt;
        for scheme in SCHEMES {
            let runs = random_runs(scheme, r, p.seed)?;
            let at = |k: usize| runs.iter().map(|run| run[k]).collect::<Vec<f64>>();
            random.push(RandomCurve {
                scheme,
                t: (0..=r.samples).map(|k| k as f64 * t_step).collect(),
                mean: (0..=r.samples)
                    .map(|k| at(k).iter().sum::<f64>() / runs.len() as f64)
                    .collect(),
                q05: (0..=r.samples).map(|k| quantile(&at(k), 0.05)).collect(),
                q95: (0..=r.samples).map(|k| quantile(&at(k), 0.95)).collect(),
            });
            done += 1;
            progress.update(done, total);
        }
        Ok(Data {
            ode,
            particles,
            random,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let color = |k: usize| SERIES_COLORS[k % SERIES_COLORS.len()];
        let label = |s: Normalization| s.name().to_string();
        // (a), (b): ln(1 - rho)
        let decay_panel = |decay: &str, title: String, x_label: &str| {
            let mut series = Vec::new();
            let (mut lo, mut hi, mut x_hi) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
            for (k, c) in data.ode.iter().enumerate() {
                if c.decay != decay {
                    continue;
                }
                let points: Vec<(f64, f64)> =
                    c.t.iter()
                        .zip(&c.states)
                        .filter(|(t, _)| decay == "rate" || **t >= 1.0)
                        .map(|(t, s)| {
                            let x = if decay == "rate" { *t } else { t.ln() };
                            (x, s.gap.ln())
                        })
                        .collect();
                for q in &points {
                    lo = lo.min(q.1);
                    hi = hi.max(q.1);
                    x_hi = x_hi.max(q.0);
                }
                series.push(Overlay {
                    label: Some(format!(
                        "{}: slope {:.3} (predicted {})",
                        label(c.scheme),
                        c.fitted,
                        c.predicted
                    )),
                    points,
                    color: color(k),
                    stroke: Stroke::Solid { width: 2 },
                });
            }
            let pad = 0.05 * (hi - lo).max(1e-12);
            LinePanel {
                title,
                x_label: x_label.into(),
                y_label: "ln(1 - ρ)".into(),
                x_range: (0.0, x_hi.max(1e-12)),
                y_range: (lo - pad, hi + pad),
                series,
                marks: vec![],
                zero_line: false,
                legend: LegendCorner::UpperRight,
            }
        };
        let panel_a = decay_panel(
            "rate",
            format!(
                "(a) equiangular ODE, n = {}, β = {}: e^(-2t) schemes",
                p.ode.n, p.ode.beta
            ),
            "t",
        );
        let panel_b = decay_panel(
            "power",
            format!(
                "(b) equiangular ODE, n = {}, β = {}: t^(-2) schemes",
                p.ode.n, p.ode.beta
            ),
            "ln t",
        );
        // (c)
        let mut series_c = Vec::new();
        for (k, c) in data.particles.iter().enumerate() {
            series_c.push(Overlay {
                label: Some(format!(
                    "{} (max diff {:.1e})",
                    label(c.scheme),
                    c.max_difference
                )),
                points: c.t.iter().copied().zip(c.ode_rho.iter().copied()).collect(),
                color: color(k),
                stroke: Stroke::Solid { width: 2 },
            });
            series_c.push(Overlay {
                label: None,
                points: c
                    .t
                    .iter()
                    .copied()
                    .zip(c.particle_rho.iter().copied())
                    .collect(),
                color: color(k),
                stroke: Stroke::Markers { radius: 3 },
            });
        }
        let panel_c = LinePanel {
            title: format!(
                "(c) particles (markers) vs ODE (lines), n = {}, β = {}, ρ(0) = {}",
                p.particles.n, p.particles.beta, p.particles.rho0
            ),
            x_label: "t".into(),
            y_label: "ρ".into(),
            x_range: (0.0, p.particles.t_end),
            y_range: (p.particles.rho0.min(0.0), 1.02),
            series: series_c,
            marks: vec![],
            zero_line: false,
            legend: LegendCorner::LowerRight,
        };
        // (d)
        let mut series_d = Vec::new();
        let mut lo: f64 = 0.0;
        for (k, c) in data.random.iter().enumerate() {
            lo = lo.min(c.q05.iter().copied().fold(f64::INFINITY, f64::min));
            series_d.push(Overlay {
                label: Some(label(c.scheme)),
                points: c.t.iter().copied().zip(c.mean.iter().copied()).collect(),
                color: color(k),
                stroke: Stroke::Solid { width: 2 },
            });
            for q in [&c.q05, &c.q95] {
                series_d.push(Overlay {
                    label: None,
                    points: c.t.iter().copied().zip(q.iter().copied()).collect(),
                    color: color(k),
                    stroke: Stroke::Dashed { width: 1 },
                });
            }
        }
        let panel_d = LinePanel {
            title: format!(
                "(d) random Q, K, V ~ N(0, 1/d): d = {}, n = {}, β = √d, {} seeds, 90 % band",
                p.random.d, p.random.n, p.random.realisations
            ),
            x_label: "t".into(),
            y_label: "mean cosine".into(),
            x_range: (0.0, p.random.t_end),
            y_range: (lo - 0.02, 1.02),
            series: series_d,
            marks: vec![],
            zero_line: true,
            legend: LegendCorner::LowerRight,
        };
        Ok(Layout {
            size: (1500, 1200),
            body: Block::titled(
                "Normalisation as speed regulation (Karagodin-Ge-Polyanskiy-Rigollet)",
                text_size::TITLE,
                Block::grid(
                    2,
                    2,
                    [
                        Block::panel(Panel::Lines(panel_a)),
                        Block::panel(Panel::Lines(panel_b)),
                        Block::panel(Panel::Lines(panel_c)),
                        Block::panel(Panel::Lines(panel_d)),
                    ],
                ),
            ),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut lines = Vec::new();
        for c in &data.ode {
            let what = if c.decay == "rate" {
                "d ln(1 - ρ) / dt"
            } else {
                "d ln(1 - ρ) / d ln t"
            };
            lines.push(SummaryLine::new(
                format!(
                    "{}: {what} on t in [{}, {}]",
                    c.scheme.name(),
                    c.window.0,
                    c.window.1
                ),
                format!("{:.4} (predicted {})", c.fitted, c.predicted),
            ));
        }
        for c in &data.particles {
            lines.push(SummaryLine::new(
                format!("{}: max |particles - ODE|", c.scheme.name()),
                format!("{:.2e}", c.max_difference),
            ));
        }
        for c in &data.random {
            let k = c.t.len() - 1;
            lines.push(SummaryLine::new(
                format!(
                    "{}: random weights, mean cosine at t = {}",
                    c.scheme.name(),
                    c.t[k]
                ),
                format!(
                    "{:.3} (90 % band {:.3} to {:.3})",
                    c.mean[k], c.q05[k], c.q95[k]
                ),
            ));
        }
        lines
    }
}

//! Limits checked before any work: step counts, memory estimates and the total work (f64
//! arithmetic, so that no product overflows), so that an oversized request ends with one line
//! naming the limit, the estimate and the flag that raises it, never with an allocation abort, an
//! overflow or a run that cannot finish. The experiment front ends (`run`, `simulate`,
//! `phase-diagram`) check a spec twice: [`Shape::of_spec`] before it is resolved (resolution
//! allocates the checkpoint grid and the weight matrices of every sweep point) and
//! [`Shape::of_resolved`] before it runs (exact sizes, representation and observables).
//!
//! Work: one realisation costs about steps x n^2 x m multiply-adds (m the dimension evolved, d or
//! the reduced n for Q = K = V = I), so a run costs W = points x realisations x steps x n^2 x m.
//! Runs with W above `--max-work` (default [`DEFAULT_MAX_WORK`] = 1e15, about a day on a 2-core
//! laptop; the six panels of [GLPR] Figure 3 at paper fidelity are 6.4e12, three minutes) are
//! refused before any work.

use anyhow::{Result, bail};
use attnflow_dynamics::validate::Domain;
use attnflow_experiment::resolve::{MatrixPlan, WeightsPlan};
use attnflow_experiment::spec::{DEFAULT_D, DEFAULT_N};
use attnflow_experiment::{
    Aggregate, Checkpoints, MaskSpec, MatrixSource, ObservableKind, ResolvedSpec, Spec,
};

/// Default of `--max-steps`: steps of one trajectory (t_max / dt).
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;

/// Default of `--max-work`: sweep points x realisations x steps x n^2 x d.
pub const DEFAULT_MAX_WORK: f64 = 1e15;

/// The caps of one run (`--max-memory`, `--max-steps`, `--max-work`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_memory: Option<u64>,
    pub max_steps: u64,
    pub max_work: f64,
}

/// How messages name the quantities: the flags of `simulate` / `phase-diagram`, or the spec fields
/// of `run`.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub n: &'static str,
    pub d: &'static str,
    pub dt: &'static str,
    pub t_max: &'static str,
    pub checkpoints: &'static str,
    pub realizations: &'static str,
    pub points: &'static str,
}

/// Spec field names (`attnflow run`).
pub const SPEC_NAMES: Names = Names {
    n: "n",
    d: "d",
    dt: "time.dt",
    t_max: "time.t-max",
    checkpoints: "time.checkpoints",
    realizations: "ensemble.realizations",
    points: "sweep points",
};

/// Default memory cap when /proc/meminfo cannot be read (8 GiB).
const FALLBACK_MEMORY: u64 = 8 << 30;

/// Number of steps of size `dt` to reach `t_max`: ceil(t_max / dt - 1e-9), at least 1 (the
/// checkpoint rule of the figures). Errors when `dt > t_max` (the run would silently go to t = dt)
/// or when the count exceeds `max_steps`.
#[cfg(test)]
pub fn step_count(t_max: f64, dt: f64, max_steps: u64) -> Result<usize> {
    step_count_named(t_max, dt, max_steps, &("--dt", "--t-max"))
}

/// [`step_count`] with the names (dt, t-max) used in its messages.
pub fn step_count_named(
    t_max: f64,
    dt: f64,
    max_steps: u64,
    &(dt_name, t_name): &(&str, &str),
) -> Result<usize> {
    for (name, value) in [(dt_name, dt), (t_name, t_max)] {
        if !Domain::Positive.contains(value) {
            bail!("{name} must be {}, got {value:?}", Domain::Positive);
        }
    }
    if dt > t_max {
        bail!(
            "{dt_name} {dt:?} is larger than {t_name} {t_max:?}: the run would end at t = dt, not t-max; use {dt_name} <= {t_name}"
        );
    }
    let steps = (t_max / dt - 1e-9).ceil().max(1.0);
    if steps.is_nan() || steps > max_steps as f64 {
        bail!(
            "{t_name} {t_max:?} with {dt_name} {dt:?} needs {steps:e} steps, above the limit --max-steps {max_steps}; use a larger {dt_name} or a smaller {t_name}, or raise --max-steps"
        );
    }
    usize::try_from(steps as u64)
        .map_err(|_| anyhow::anyhow!("{steps:e} steps do not fit this platform's usize"))
}

/// MemAvailable of /proc/meminfo in bytes, where present.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Parses a byte count: a plain number (`1e9`, `4096`) or one with a binary suffix K, M, G, T
/// (optionally followed by `B` or `iB`), e.g. `64G`, `512MiB`. Used as clap's value parser.
pub fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let stripped = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (number, unit) = match stripped.chars().last() {
        Some('K') => (&stripped[..stripped.len() - 1], 1u64 << 10),
        Some('M') => (&stripped[..stripped.len() - 1], 1 << 20),
        Some('G') => (&stripped[..stripped.len() - 1], 1 << 30),
        Some('T') => (&stripped[..stripped.len() - 1], 1 << 40),
        _ => (stripped, 1),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("expected a byte count such as 8G, 512M or 1e9, got {text:?}"))?;
    let bytes = value * unit as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "the byte count must be at least 1 and below 2^64, got {text:?}"
        ));
    }
    Ok(bytes as u64)
}

/// Human form of a byte count (decimal units, 3 significant digits).
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == UNITS.len() - 1 && v >= 1000.0 {
        return format!("{bytes:.3e} B");
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Parses a work cap (`--max-work`): a positive number such as `1e15`.
pub fn parse_work(text: &str) -> std::result::Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 1.0 => Ok(v),
        _ => Err(format!(
            "expected a number of work units >= 1 such as 1e15, got {text:?}"
        )),
    }
}

/// A memory estimate: named parts in bytes (f64, so that no product can overflow), with the advice
/// that shrinks each.
#[derive(Debug, Default)]
pub struct MemoryEstimate {
    parts: Vec<(&'static str, f64, String)>,
}

impl MemoryEstimate {
    /// Adds `count` items of `bytes_each` bytes.
    pub fn add(&mut self, what: &'static str, count: f64, bytes_each: f64, advice: String) {
        self.parts.push((what, count * bytes_each, advice));
    }

    /// The total in bytes.
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|p| p.1).sum()
    }

    /// Errors when the total exceeds `limit` (`--max-memory`) or, without one, the available
    /// memory: names the estimate, its largest part, the limit and how to get below it.
    pub fn check(&self, limit: Option<u64>) -> Result<()> {
        let total = self.total();
        let (cap, what) = match limit {
            Some(l) => (
                l as f64,
                format!("--max-memory is {}", human_bytes(l as f64)),
            ),
            None => match available_memory() {
                Some(a) => (a as f64, format!("{} available", human_bytes(a as f64))),
                None => (
                    FALLBACK_MEMORY as f64,
                    format!(
                        "the default cap is {} (available memory unknown)",
                        human_bytes(FALLBACK_MEMORY as f64)
                    ),
                ),
            },
        };
        if total.is_finite() && total <= cap {
            return Ok(());
        }
        let (part, bytes, advice) = self
            .parts
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(("work", total, ""), |p| (p.0, p.1, p.2.as_str()));
        bail!(
            "needs {} ({} for the {part}), {what}; {advice}, or raise --max-memory",
            human_bytes(total),
            human_bytes(bytes),
        )
    }
}

/// The sizes a run allocates and the work it does, as f64 (maxima over the sweep points).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub points: f64,
    pub n: f64,
    pub d: f64,
    /// Dimension of the evolved coordinates (d, or min(n, d) in the reduced representation).
    pub dim: f64,
    pub steps: f64,
    pub checkpoints: f64,
    pub realizations: f64,
    /// Every realisation is kept (`aggregate = "none"`) rather than summarised.
    pub per_realisation: bool,
    /// Numbers recorded per checkpoint of one realisation (positions n d, attention matrices H n^2, ...).
    pub numbers: f64,
    pub heads: f64,
    /// d x d matrices fixed by the spec (held by every sweep point's plan).
    pub fixed_matrices: f64,
    /// d x d matrices drawn per realisation (random heads, Figure 5 ensembles: B, V and V^T).
    pub drawn_matrices: f64,
    /// An attention observable (the n x n matrices of every head at a checkpoint).
    pub attention: bool,
    /// The engine's phase-diagram runner keeps a table with one entry per step.
    pub per_step_table: bool,
    /// An n x n matrix of pair weights per sweep point (`field.mask = {weights}` or `{alibi}`).
    pub pair_weights: bool,
    /// `field.summation = "spectral"`: the work per particle and evaluation replacing n (K on
    /// S^1, 4 (L + 1)^2 on S^2, at the largest beta), `None` for direct sums.
    pub spectral_cost: Option<f64>,
    /// An observable reads pairs (everything but positions: the n x n Gram matrix is formed).
    pub pairwise: bool,
    /// The field is evaluated by streaming (`attnflow_dynamics::streaming`: direct sums, n above
    /// `DENSE_MAX_N`, no pair weights): the engine forms no n x n matrix.
    pub streaming: bool,
}

/// The work per particle of one spectral evaluation (see [`Shape::spectral_cost`]); `None` when
/// the series do not apply (resolution reports why).
fn spectral_cost(spec: &Spec, d: f64, beta: f64) -> Option<f64> {
    use attnflow_dynamics::spectral::{CircleSeries, SphereSeries, SummationKind};
    if spec.field.summation != SummationKind::Spectral {
        return None;
    }
    let tol = spec
        .field
        .summation_tol
        .unwrap_or(attnflow_dynamics::spectral::DEFAULT_TOL);
    if d == 2.0 {
        let k = CircleSeries::new(beta, tol).ok()?.truncation().degree as f64;
        Some(k + 1.0)
    } else if d == 3.0 {
        let l = SphereSeries::new(beta, tol).ok()?.truncation().degree as f64;
        Some(4.0 * (l + 1.0) * (l + 1.0))
    } else {
        None
    }
}

fn numbers_per_checkpoint(
    kinds: impl Iterator<Item = (ObservableKind, bool)>,
    n: f64,
    d: f64,
    heads: f64,
) -> f64 {
    kinds
        .map(|(kind, labels)| match kind {
            ObservableKind::Positions => n * d,
            ObservableKind::AttentionMatrix => heads * n * n,
            ObservableKind::AttentionRank => 2.0 * heads,
            ObservableKind::ClusterCount if labels => 1.0 + n,
            _ => 1.0,
        })
        .sum()
}

impl Shape {
    /// From a spec before resolution: n and d as given (else the defaults; points from a file are
    /// bounded by the file), the extremes of a sweep, the evolved dimension taken as d.
    pub fn of_spec(spec: &Spec) -> Shape {
        let (values, count): (Vec<f64>, f64) = match &spec.sweep {
            Some(sw) => match (&sw.values, &sw.linspace) {
                (Some(v), _) => (v.clone(), v.len() as f64),
                (None, Some(l)) => (vec![l.start, l.stop], l.count as f64),
                (None, None) => (vec![], 1.0),
            },
            None => (vec![], 1.0),
        };
        let parameter = spec.sweep.as_ref().map_or("", |s| s.parameter.as_str());
        let swept = |name: &str, fixed: f64, pick: fn(f64, f64) -> f64| {
            if parameter == name {
                values
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(fixed, pick)
            } else {
                fixed
            }
        };
        let n = swept("n", spec.n.unwrap_or(DEFAULT_N) as f64, f64::max);
        let d = swept("d", spec.d.unwrap_or(DEFAULT_D) as f64, f64::max);
        let dt = if parameter == "dt" {
            values.iter().copied().fold(f64::INFINITY, f64::min)
        } else {
            spec.time.dt
        };
        let t_max = swept("t-max", spec.time.t_max, f64::max);
        let beta = swept("beta", spec.field.beta, f64::max);
        let heads_spec = spec.field.heads.as_deref().unwrap_or(&[]);
        let heads = heads_spec.len().max(1) as f64;
        let sources = || heads_spec.iter().flat_map(|h| [&h.q, &h.k, &h.v]);
        let fixed = sources()
            .filter(|m| !matches!(m, MatrixSource::Identity | MatrixSource::Random { .. }))
            .count() as f64;
        let random = sources()
            .filter(|m| matches!(m, MatrixSource::Random { .. }))
            .count() as f64;
        let ensemble = spec
            .field
            .matrices
            .is_some_and(|e| e != attnflow_dynamics::MatrixEnsemble::Identity);
        let r = spec.ensemble.realizations as f64;
        let per_realisation = match spec.ensemble.aggregate {
            Some(a) => a == Aggregate::None,
            None => spec.ensemble.realizations == 1,
        };
        let kinds = || {
            spec.observables
                .iter()
                .map(|o| (o.kind, o.labels.unwrap_or(false)))
        };
        let pair_weights = matches!(
            spec.field.mask,
            MaskSpec::Weights { .. } | MaskSpec::Alibi { .. }
        );
        let direct = spec.field.summation == attnflow_dynamics::spectral::SummationKind::Direct;
        Shape {
            points: count,
            n,
            d,
            dim: d,
            steps: (t_max / dt - 1e-9).ceil().max(1.0),
            checkpoints: match &spec.time.checkpoints {
                Checkpoints::Count(c) => *c as f64,
                Checkpoints::Times(t) => t.len() as f64,
            },
            realizations: r,
            per_realisation,
            numbers: numbers_per_checkpoint(kinds(), n, d, heads),
            heads,
            fixed_matrices: fixed,
            drawn_matrices: random + if ensemble { 3.0 } else { 0.0 },
            attention: kinds().any(|(k, _)| {
                matches!(
                    k,
                    ObservableKind::AttentionMatrix | ObservableKind::AttentionRank
                )
            }),
            per_step_table: false,
            pair_weights,
            spectral_cost: spectral_cost(spec, d, beta),
            pairwise: kinds().any(|(k, _)| k != ObservableKind::Positions),
            streaming: direct
                && !pair_weights
                && n > attnflow_dynamics::streaming::DENSE_MAX_N as f64,
        }
    }

    /// From a resolved spec: the exact sizes of every sweep point (their maxima).
    pub fn of_resolved(spec: &ResolvedSpec) -> Shape {
        let mut shape = Shape::of_spec(spec.spec());
        let max = |f: &dyn Fn(&attnflow_experiment::Point) -> f64| {
            spec.points().iter().map(f).fold(0.0, f64::max)
        };
        shape.points = spec.points().len() as f64;
        shape.n = max(&|p| p.n as f64);
        shape.d = max(&|p| p.d as f64);
        shape.dim = max(&|p| p.simulated_dim() as f64);
        shape.steps = max(&|p| p.steps as f64);
        shape.checkpoints = max(&|p| p.times.len() as f64);
        shape.per_realisation = spec.points().iter().any(|p| p.aggregate == Aggregate::None);
        shape.numbers = max(&|p| {
            let heads = match &p.weights {
                WeightsPlan::Heads(h) => h.len() as f64,
                WeightsPlan::Ensemble(_) => 1.0,
            };
            numbers_per_checkpoint(
                p.observables.iter().map(|o| (o.kind, o.labels)),
                p.n as f64,
                p.simulated_dim() as f64,
                heads,
            )
        });
        let count = |p: &attnflow_experiment::Point, random: bool| match &p.weights {
            WeightsPlan::Heads(h) => h
                .iter()
                .flat_map(|h| [&h.q, &h.k, &h.v])
                .filter(|m| match m {
                    MatrixPlan::Identity => false,
                    MatrixPlan::Fixed(_) => !random,
                    MatrixPlan::Random { .. } => random,
                })
                .count() as f64,
            WeightsPlan::Ensemble(e) => {
                if random && *e != attnflow_dynamics::MatrixEnsemble::Identity {
                    3.0
                } else {
                    0.0
                }
            }
        };
        shape.fixed_matrices = max(&|p| count(p, false));
        shape.drawn_matrices = max(&|p| count(p, true));
        shape
    }

    /// Errors when the steps of one trajectory exceed `--max-steps`.
    pub fn check_steps(&self, limits: &Limits, names: &Names) -> Result<()> {
        // NaN (an unusable time grid) is refused too
        if self.steps.is_nan() || self.steps > limits.max_steps as f64 {
            bail!(
                "{} / {} needs {:e} steps, above the limit --max-steps {}; use a larger {} or a smaller {}, or raise --max-steps",
                names.t_max,
                names.dt,
                self.steps,
                limits.max_steps,
                names.dt,
                names.t_max
            );
        }
        Ok(())
    }

    /// The memory estimate of the run (see the module docs).
    pub fn memory(&self, names: &Names) -> MemoryEstimate {
        const F64: f64 = 8.0;
        let Names {
            n: n_name,
            d: d_name,
            dt,
            checkpoints: c_name,
            realizations: r_name,
            points: p_name,
            ..
        } = *names;
        let (n, d, m) = (self.n, self.d, self.checkpoints);
        let blocks = (self.realizations / 16.0).ceil();
        let available = std::thread::available_parallelism().map_or(1.0, |t| t.get() as f64);
        let threads = available.min(self.points * blocks).max(1.0);
        let mut est = MemoryEstimate::default();
        est.add(
            "sweep points and their checkpoint grids",
            self.points,
            m * 3.0 * F64
                + 2048.0
                + self.fixed_matrices * d * d * F64
                + if self.pair_weights { n * n * F64 } else { 0.0 },
            format!("use fewer {p_name} or {c_name}"),
        );
        if self.per_step_table {
            est.add(
                "per-step checkpoint table",
                self.steps + 1.0,
                24.0,
                format!("use a larger {dt}"),
            );
        }
        est.add(
            "state and integrator stages per thread",
            threads,
            n * self.dim * 12.0 * F64,
            format!("use a smaller {n_name} or {d_name}"),
        );
        let attention = if self.attention { self.heads } else { 0.0 };
        // a spectral or streaming field with positions only forms no n x n matrix
        let pairs = if (self.spectral_cost.is_some() || self.streaming) && !self.pairwise {
            0.0
        } else {
            n * n
        };
        if self.streaming {
            // n and dim are at most the spec's sizes (f64 to usize saturates; the estimate is f64)
            est.add(
                "streaming buffers per thread",
                threads,
                attnflow_dynamics::streaming::footprint_bytes(
                    n as usize,
                    self.dim as usize,
                    available as usize,
                ),
                format!("use a smaller {n_name} or {d_name}"),
            );
        }
        est.add(
            "Gram and weight matrices",
            threads,
            pairs * (4.0 + self.heads + attention) * F64,
            format!("use a smaller {n_name}"),
        );
        if self.fixed_matrices + self.drawn_matrices > 0.0 {
            est.add(
                "weight matrices per thread",
                threads,
                (2.0 * self.fixed_matrices + 3.0 * self.drawn_matrices) * d * d * F64,
                format!("use a smaller {d_name}"),
            );
        }
        if self.per_realisation {
            est.add(
                "results and their output",
                self.points * self.realizations * m,
                self.numbers * 40.0 + 64.0,
                format!("use fewer {r_name}, {p_name} or {c_name}"),
            );
        } else {
            est.add(
                "per-block tallies",
                self.points * blocks,
                m * (self.numbers * 48.0 + 32.0) + 100.0,
                format!("use fewer {r_name}, {p_name} or {c_name}"),
            );
            est.add(
                "results and their output",
                self.points * m,
                self.numbers * 210.0,
                format!("use fewer {p_name} or {c_name}"),
            );
        }
        est
    }

    /// The work W = points x realisations x steps x n^2 x m (see the module docs).
    pub fn work(&self) -> f64 {
        // spectral sums: n x (per-particle cost) instead of n^2
        let pairs = self.n * self.spectral_cost.unwrap_or(self.n);
        self.points * self.realizations * self.steps * pairs * self.dim * self.heads
    }

    /// Checks the steps, the memory estimate and the work against `limits`.
    pub fn check(&self, limits: &Limits, names: &Names) -> Result<()> {
        self.check_steps(limits, names)?;
        self.memory(names).check(limits.max_memory)?;
        let work = self.work();
        if work.is_nan() || work > limits.max_work {
            bail!(
                "needs {work:.3e} units of work ({} x {} x {} x {}^2 x {}: {} x {} x steps x {}^2 x {}), above --max-work {:e}; use fewer {} or {} or a smaller {}, or raise --max-work",
                self.points,
                self.realizations,
                self.steps,
                self.n,
                self.dim,
                names.points,
                names.realizations,
                names.n,
                names.d,
                limits.max_work,
                names.points,
                names.realizations,
                names.n
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn meminfo_and_bytes() {
        assert_eq!(
            parse_meminfo("MemTotal: 10 kB\nMemAvailable:    2048 kB\n"),
            Some(2 << 20)
        );
        assert_eq!(parse_meminfo("MemTotal: 10 kB\n"), None);
        assert_eq!(parse_bytes("8G"), Ok(8 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1e9"), Ok(1_000_000_000));
        assert!(parse_bytes("-1G").is_err());
        assert!(parse_bytes("nan").is_err());
        assert!(parse_bytes("1e30T").is_err());
        assert!(parse_bytes("").is_err());
        assert_eq!(human_bytes(72e9), "72.0 GB");
    }

    #[test]
    fn steps_follow_the_checkpoint_rule() {
        assert_eq!(step_count(15.0, 0.1, DEFAULT_MAX_STEPS).unwrap(), 150);
        assert_eq!(step_count(1.0, 1.0, 10).unwrap(), 1);
        assert!(step_count(1.0, 10.0, 10).is_err());
        assert!(step_count(30.0, 1e-8, DEFAULT_MAX_STEPS).is_err());
        assert!(step_count(1e300, 0.1, u64::MAX).is_err());
    }

    #[test]
    fn work_and_memory_of_a_spec() {
        // [GLPR] Figure 3 at d = 32: 150 betas x 1024 realisations x 300 steps x 32^2 x 32
        let spec = attnflow_experiment::Spec::from_toml_str(
            "n = 32\nd = 32\n[time]\nt-max = 30.0\n[ensemble]\nrealizations = 1024\n[sweep]\nparameter = \"beta\"\nlinspace = {start = 0.1, stop = 9.0, count = 150}",
        )
        .unwrap();
        let shape = Shape::of_spec(&spec);
        assert_eq!(shape.work(), 150.0 * 1024.0 * 300.0 * 32f64.powi(3));
        let limits = Limits {
            max_memory: Some(1 << 30),
            max_steps: DEFAULT_MAX_STEPS,
            max_work: DEFAULT_MAX_WORK,
        };
        shape.check(&limits, &SPEC_NAMES).unwrap();
        let low = Limits {
            max_work: 1e12,
            ..limits
        };
        let e = shape.check(&low, &SPEC_NAMES).unwrap_err().to_string();
        assert!(e.contains("above --max-work 1e12"), "{e}");
        // positions of every realisation: n d numbers per checkpoint
        let mut spec = spec;
        spec.observables = vec![attnflow_experiment::ObservableSpec::of(
            ObservableKind::Positions,
        )];
        spec.ensemble.aggregate = Some(Aggregate::None);
        let shape = Shape::of_spec(&spec);
        assert_eq!(shape.numbers, 32.0 * 32.0);
        let e = shape.check(&limits, &SPEC_NAMES).unwrap_err().to_string();
        assert!(e.contains("for the results and their output"), "{e}");
        assert!(
            parse_work("1e15").is_ok() && parse_work("0").is_err() && parse_work("inf").is_err()
        );
    }

    #[test]
    fn large_n_fields_stream_within_memory() {
        // n = 16384, d = 64, positions only: the streaming evaluation, no n x n matrix (one would
        // be 2.1 GB)
        let text = "n = 16384\nd = 64\nobservables = [\"positions\"]\n[field]\nbeta = 1.0\n[time]\ndt = 0.1\nt-max = 0.1\ncheckpoints = 2\ncheckpoint-rule = \"exact\"\n[ensemble]\naggregate = \"none\"";
        let spec = attnflow_experiment::Spec::from_toml_str(text).unwrap();
        let shape = Shape::of_spec(&spec);
        assert!(shape.streaming);
        let total = shape.memory(&SPEC_NAMES).total();
        assert!(total < 0.5e9, "{total:e}");
        // a pairwise observable forms the n x n Gram matrix
        let pairs = attnflow_experiment::Spec::from_toml_str(
            &text.replace("[\"positions\"]", "[\"energy\"]"),
        )
        .unwrap();
        assert!(Shape::of_spec(&pairs).memory(&SPEC_NAMES).total() > 16384.0 * 16384.0 * 8.0);
        // n = 2048 keeps the dense evaluation and its n x n matrices
        let small =
            attnflow_experiment::Spec::from_toml_str(&text.replace("16384", "2048")).unwrap();
        let shape = Shape::of_spec(&small);
        assert!(!shape.streaming);
        assert!(shape.memory(&SPEC_NAMES).total() > 2048.0 * 2048.0 * 8.0);
    }

    proptest! {
        #[test]
        fn step_count_is_total_and_bounded(t in proptest::num::f64::ANY, dt in proptest::num::f64::ANY, cap in 1u64..1_000_000) {
            // never panics; on success the steps reach t_max and respect the cap
            if let Ok(steps) = step_count(t, dt, cap) {
                prop_assert!(steps >= 1 && steps as u64 <= cap);
                prop_assert!(dt <= t && (steps as f64) * dt >= t * (1.0 - 1e-9));
            }
        }

        #[test]
        fn parse_bytes_never_panics(s in "\\PC{0,12}") {
            if let Ok(b) = parse_bytes(&s) { prop_assert!(b >= 1); }
        }

        #[test]
        fn parse_bytes_round_trips_integers(v in 1u64..(1 << 50)) {
            prop_assert_eq!(parse_bytes(&v.to_string()), Ok(v));
            prop_assert_eq!(parse_bytes(&format!("{v}K")), Ok(v << 10));
        }

        #[test]
        fn estimates_over_the_cap_are_refused(bytes in 0.0f64..1e20, cap in 1u64..u64::MAX) {
            let mut m = MemoryEstimate::default();
            m.add("state", bytes, 1.0, "use less".into());
            prop_assert_eq!(m.check(Some(cap)).is_ok(), bytes <= cap as f64);
        }
    }
}

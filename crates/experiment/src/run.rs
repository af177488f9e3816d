//! Running a resolved spec: every (sweep point b, realisation r) pair is one realisation with the
//! stream index b * R + r (R realisations per point): initial condition from
//! (seed, b * R + r, InitialCondition), random matrices from (seed, b * R + r, Matrices), exactly
//! as `attnflow_dynamics::run_phase_diagram`. Realisations run in parallel (rayon) in blocks of a
//! fixed size; blocks are combined in index order (integer sums for counts, Welford/Chan merges
//! for reals), so the output has the same bits for any number of threads.

use crate::error::{ExperimentError, Result, dynamics};
use crate::init::initial_configuration;
use crate::observe::{Measured, Observed, observe};
use crate::resolve::{MatrixPlan, Point, ResolvedSpec, WeightsPlan};
use crate::spec::{Aggregate, GeometrySpec, Spec};
use attnflow_dynamics::sampling::{Pcg64, Purpose, stream};
use attnflow_dynamics::spectral::Truncation;
use attnflow_dynamics::{
    AttentionHead, IntegrationStats, Mask, Representation, SelfAttention, Solver, Value,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Realisations per parallel job (fixed: the partition does not depend on the thread count).
pub(crate) const BLOCK: usize = 16;

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Output {
    /// The resolved spec that was run.
    pub spec: Spec,
    pub warnings: Vec<String>,
    pub points: Vec<PointOutput>,
    /// Wall time of the run; not serialised, so the same spec gives the same bytes.
    #[serde(skip)]
    pub runtime_s: f64,
}

/// One sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PointOutput {
    pub index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub n: usize,
    pub d: usize,
    pub beta: f64,
    pub representation: Representation,
    /// The series truncation of `field.summation = "spectral"` (degree K on S^1, L on S^2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<Truncation>,
    pub steps: usize,
    pub realizations: usize,
    /// `ensemble.aggregate = "none"`: every realisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<RealisationOutput>>,
    /// `ensemble.aggregate = "mean"`: mean and standard error per checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<SummaryRecord>>,
}

/// One realisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RealisationOutput {
    pub realization: usize,
    /// Its stream index b * R + r.
    pub stream_index: u64,
    pub stats: IntegrationStats,
    pub checkpoints: Vec<CheckpointRecord>,
}

/// The observables at one checkpoint (by name), next to the requested time `t` and the step it
/// was read at (time step * dt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub t: f64,
    pub step: usize,
    #[serde(flatten)]
    pub values: BTreeMap<String, Observed>,
}

/// Mean and standard error (sample standard deviation / sqrt(R)) over realisations (non-finite
/// values as "inf", "-inf", "nan": [`crate::number`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Summary {
    Scalar {
        #[serde(with = "crate::number::scalar")]
        mean: f64,
        #[serde(with = "crate::number::scalar")]
        stderr: f64,
    },
    /// Per head (attention-rank: `NAME.rank` and `NAME.effective-rank`).
    PerHead {
        #[serde(with = "crate::number::vec1")]
        mean: Vec<f64>,
        #[serde(with = "crate::number::vec1")]
        stderr: Vec<f64>,
    },
}

/// Aggregated observables at one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    pub t: f64,
    pub step: usize,
    #[serde(flatten)]
    pub values: BTreeMap<String, Summary>,
}

impl Point {
    /// The vector field of this point; random matrices and Figure 5 ensembles are drawn from `rng`
    /// (heads in order, q, k, v; ensembles as `MatrixEnsemble::draw`).
    pub fn build_model(&self, rng: &mut Pcg64) -> attnflow_dynamics::Result<SelfAttention> {
        self.build_model_with(Some(rng))
    }

    /// Without a generator, random matrices are replaced by the identity (for validation).
    pub(crate) fn build_model_with(
        &self,
        mut rng: Option<&mut Pcg64>,
    ) -> attnflow_dynamics::Result<SelfAttention> {
        let d = self.d;
        let heads = match &self.weights {
            WeightsPlan::Ensemble(e) => match rng.as_deref_mut() {
                Some(rng) => match e.draw(d, rng)? {
                    None => vec![AttentionHead::new(None, Value::Identity)],
                    Some(draw) => vec![draw.head(*e)],
                },
                None => vec![AttentionHead::new(None, Value::Identity)],
            },
            WeightsPlan::Heads(plans) => {
                let mut heads = Vec::with_capacity(plans.len());
                for h in plans {
                    let mut get = |m: &MatrixPlan| match (m, rng.as_deref_mut()) {
                        (MatrixPlan::Random { .. }, None) => Ok(None),
                        (m, Some(rng)) => m.realise(d, rng),
                        (m, None) => m.realise(d, &mut stream(0, 0, Purpose::Other(0))),
                    };
                    let (q, k, v) = (get(&h.q)?, get(&h.k)?, get(&h.v)?);
                    let b = match (q, k) {
                        (None, None) => None,
                        (Some(q), None) => Some(q.transpose()),
                        (None, Some(k)) => Some(k),
                        (Some(q), Some(k)) => Some(q.transpose().matmul(&k)?),
                    };
                    let value = match v {
                        _ if self.repulsive => Value::NegIdentity,
                        None => Value::Identity,
                        Some(m) => Value::Matrix(m),
                    };
                    heads.push(AttentionHead::new(b, value));
                }
                heads
            }
        };
        let heads = if self.repulsive {
            heads
                .into_iter()
                .map(|h| AttentionHead::new(h.interaction, Value::NegIdentity))
                .collect()
        } else {
            heads
        };
        let mask = match (&self.pair_weights, self.causal) {
            (Some(w), _) => Mask::Weighted(w.clone()),
            (None, true) => Mask::Causal,
            (None, false) => Mask::Full,
        };
        let builder = SelfAttention::builder()
            .beta(self.beta)
            .model(self.model)
            .mask(mask)
            .summation(self.summation);
        match self.geometry {
            GeometrySpec::Sphere => builder.heads(heads).build(),
            GeometrySpec::Euclidean => {
                let head = heads.into_iter().next().ok_or_else(|| {
                    attnflow_dynamics::DynamicsError::InvalidParameter {
                        name: "heads",
                        reason: "need one head".into(),
                    }
                })?;
                builder.attention_head(head).euclidean().build()
            }
        }
    }
}

impl Point {
    /// The series truncation of a spectral field (`None` for direct summation, or when the
    /// field cannot be built, which resolution has already ruled out).
    pub fn truncation(&self) -> Option<Truncation> {
        let field = self.build_model_with(None).ok()?;
        attnflow_dynamics::spectral::truncation_of(&field, self.d).ok()?
    }
}

/// One realisation: the observables at every checkpoint, and the integrator's counters.
pub(crate) fn run_realisation(
    point: &Point,
    index: u64,
) -> Result<(Vec<Vec<Measured>>, IntegrationStats)> {
    let context = || format!("point {}, stream index {index}", point.index);
    let x0 = initial_configuration(
        point,
        &mut stream(point.seed, index, Purpose::InitialCondition),
    )
    .map_err(dynamics(context()))?;
    let model = point
        .build_model(&mut stream(point.seed, index, Purpose::Matrices))
        .map_err(dynamics(context()))?;
    let stepper = point
        .integrator
        .stepper_for(&model)
        .map_err(dynamics(context()))?;
    let m = x0.d();
    // the runner reads the state between segments, no observer
    let mut solver = Solver::new(&model, stepper, &x0, point.dt).map_err(dynamics(context()))?;
    let mut out: Vec<Vec<Measured>> = Vec::with_capacity(point.checkpoint_steps.len());
    for (c, &k) in point.checkpoint_steps.iter().enumerate() {
        solver.advance_to_step(k).map_err(dynamics(context()))?;
        let x = solver.state().as_slice();
        if c > 0 && point.checkpoint_steps[c - 1] == k {
            let same = out[c - 1].clone();
            out.push(same);
        } else {
            out.push(observe(point, &model, x, m).map_err(|e| match e {
                ExperimentError::Dynamics { context: c, error } => ExperimentError::Dynamics {
                    context: format!("{}, {c}", context()),
                    error,
                },
                other => other,
            })?);
        }
    }
    Ok((out, solver.stats()))
}

/// Running mean and sum of squared deviations (Welford), merged in a fixed order (Chan et al.).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Welford {
    pub(crate) count: u64,
    pub(crate) mean: f64,
    pub(crate) m2: f64,
}

impl Welford {
    fn one(x: f64) -> Self {
        Self {
            count: 1,
            mean: x,
            m2: 0.0,
        }
    }
    fn merge(&mut self, o: &Welford) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *o;
            return;
        }
        let (na, nb) = (self.count as f64, o.count as f64);
        let n = na + nb;
        // equal means (also two infinite ones, whose difference is NaN) do not move the mean
        let delta = if o.mean == self.mean {
            0.0
        } else {
            o.mean - self.mean
        };
        self.mean += delta * nb / n;
        self.m2 += o.m2 + delta * delta * na * nb / n;
        self.count += o.count;
    }
}

/// Sufficient statistics of one component of an observable.
#[derive(Debug, Clone)]
pub(crate) enum Stat {
    /// Integer counts, reported as count / denom (pair hits over n (n - 1), cluster counts, ranks).
    Int {
        s1: u64,
        s2: u128,
        denom: f64,
    },
    Real(Welford),
}

impl Stat {
    fn merge(&mut self, o: &Stat) {
        match (self, o) {
            (Stat::Int { s1, s2, .. }, Stat::Int { s1: t1, s2: t2, .. }) => {
                *s1 += t1;
                *s2 += t2;
            }
            (Stat::Real(a), Stat::Real(b)) => a.merge(b),
            _ => unreachable!("the same observable gives the same kind of statistic"),
        }
    }
    fn int(v: u64, denom: f64) -> Self {
        Stat::Int {
            s1: v,
            s2: u128::from(v) * u128::from(v),
            denom,
        }
    }
    /// (mean, stderr) over `r` realisations, with the formulas of `run_phase_diagram` for counts.
    fn summary(&self, r: usize) -> (f64, f64) {
        let rf = r as f64;
        match self {
            Stat::Int { s1, s2, denom } => {
                let mean = *s1 as f64 / denom / rf;
                let stderr = if r < 2 {
                    0.0
                } else {
                    let (a, b) = (*s1 as f64, *s2 as f64);
                    let var = ((b - a * a / rf) / (rf - 1.0)).max(0.0);
                    (var / rf).sqrt() / denom
                };
                (mean, stderr)
            }
            Stat::Real(w) => {
                let stderr = if w.count < 2 {
                    0.0
                } else {
                    (w.m2 / (w.count as f64 - 1.0) / w.count as f64).sqrt()
                };
                (w.mean, stderr)
            }
        }
    }
}

/// Per checkpoint: (key, per-head?, statistics).
pub(crate) type Tally = Vec<Vec<(String, bool, Vec<Stat>)>>;

fn tally_of(point: &Point, measured: &[Vec<Measured>]) -> Tally {
    let pairs = (point.n * point.n.saturating_sub(1)) as f64;
    measured
        .iter()
        .map(|at| {
            let mut entries = Vec::new();
            for (o, m) in point.observables.iter().zip(at) {
                match (&m.value, m.hits) {
                    (Observed::Number(_), Some(h)) => {
                        entries.push((o.name.clone(), false, vec![Stat::int(h, pairs)]))
                    }
                    (Observed::Number(v), None) => {
                        entries.push((o.name.clone(), false, vec![Stat::Real(Welford::one(*v))]))
                    }
                    (Observed::Count(c), _) => {
                        entries.push((o.name.clone(), false, vec![Stat::int(*c, 1.0)]))
                    }
                    (
                        Observed::Rank {
                            rank,
                            effective_rank,
                        },
                        _,
                    ) => {
                        entries.push((
                            format!("{}.rank", o.name),
                            true,
                            rank.iter().map(|&r| Stat::int(r, 1.0)).collect(),
                        ));
                        entries.push((
                            format!("{}.effective-rank", o.name),
                            true,
                            effective_rank
                                .iter()
                                .map(|&e| Stat::Real(Welford::one(e)))
                                .collect(),
                        ));
                    }
                    // refused by `resolve` for aggregate = "mean"
                    _ => {}
                }
            }
            entries
        })
        .collect()
}

fn merge_tally(into: &mut Option<Tally>, other: Tally) {
    match into {
        None => *into = Some(other),
        Some(t) => {
            for (a, b) in t.iter_mut().zip(other) {
                for (ea, eb) in a.iter_mut().zip(b) {
                    for (sa, sb) in ea.2.iter_mut().zip(&eb.2) {
                        sa.merge(sb);
                    }
                }
            }
        }
    }
}

/// The result of one job (block `blk` of point b): its realisations, or their statistics.
pub(crate) enum JobResult {
    Runs(Vec<RealisationOutput>),
    Tally(Option<Tally>),
}

fn records(point: &Point, measured: Vec<Vec<Measured>>) -> Vec<CheckpointRecord> {
    measured
        .into_iter()
        .enumerate()
        .map(|(c, at)| CheckpointRecord {
            t: point.times[c],
            step: point.checkpoint_steps[c],
            values: point
                .observables
                .iter()
                .zip(at)
                .map(|(o, m)| (o.name.clone(), m.value))
                .collect(),
        })
        .collect()
}

/// Runs every point and realisation of `spec`. `progress(done, total)` is called (from worker
/// threads) after each realisation.
pub fn run(spec: &ResolvedSpec, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<Output> {
    check_f64(spec)?;
    let start = std::time::Instant::now();
    let total_jobs = job_count(spec);
    let jobs = run_jobs(spec, (0..total_jobs).collect(), progress);
    let layouts: Vec<PointLayout> = spec.points().iter().map(PointLayout::of).collect();
    assemble(
        Header {
            spec: spec.spec().clone(),
            warnings: spec.warnings().to_vec(),
            realizations: spec.spec().ensemble.realizations,
        },
        &layouts,
        jobs.into_iter(),
        start.elapsed().as_secs_f64(),
    )
}

/// `integrator.precision = "f32"` belongs to the phase-diagram runner: the general runner
/// integrates in f64 and says so rather than ignoring the key.
pub(crate) fn check_f64(spec: &ResolvedSpec) -> Result<()> {
    if spec.spec().integrator.precision.is_f64() {
        return Ok(());
    }
    Err(crate::error::invalid(
        "integrator.precision",
        "f32 is supported by the phase-diagram runner only (`attnflow phase-diagram`); `attnflow run` integrates in f64",
    ))
}

/// The number of jobs of a run: sweep points x ceil(R / BLOCK), job b ceil(R / BLOCK) + k being
/// block k (realisations k BLOCK ..) of point b.
pub(crate) fn job_count(spec: &ResolvedSpec) -> usize {
    spec.points().len() * spec.spec().ensemble.realizations.div_ceil(BLOCK)
}

/// The realisations of the given jobs (`jobs` ascending), in parallel; one result per job, in
/// the order of `jobs`. `progress(done, total)` after each realisation, `total` being the
/// realisations of these jobs.
pub(crate) fn run_jobs(
    spec: &ResolvedSpec,
    jobs: Vec<usize>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Result<JobResult>> {
    let points = spec.points();
    let r = spec.spec().ensemble.realizations;
    let blocks = r.div_ceil(BLOCK);
    let block_size = |blk: usize| ((blk + 1) * BLOCK).min(r) - blk * BLOCK;
    let total = jobs.iter().map(|j| block_size(j % blocks)).sum();
    let done = AtomicUsize::new(0);
    jobs.into_par_iter()
        .map(|job| {
            let (b, blk) = (job / blocks, job % blocks);
            let point = &points[b];
            let mut runs = Vec::new();
            let mut tally = None;
            for rep in blk * BLOCK..((blk + 1) * BLOCK).min(r) {
                let index = (b * r + rep) as u64;
                let (measured, stats) = run_realisation(point, index)?;
                match point.aggregate {
                    Aggregate::None => runs.push(RealisationOutput {
                        realization: rep,
                        stream_index: index,
                        stats,
                        checkpoints: records(point, measured),
                    }),
                    Aggregate::Mean => merge_tally(&mut tally, tally_of(point, &measured)),
                }
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            }
            Ok(match point.aggregate {
                Aggregate::None => JobResult::Runs(runs),
                Aggregate::Mean => JobResult::Tally(tally),
            })
        })
        .collect()
}

/// What the output records of the run besides its points.
pub(crate) struct Header {
    /// The resolved spec.
    pub(crate) spec: Spec,
    pub(crate) warnings: Vec<String>,
    /// Realisations per point.
    pub(crate) realizations: usize,
}

/// What the output records of one sweep point besides its results.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PointLayout {
    pub(crate) index: usize,
    pub(crate) value: Option<f64>,
    pub(crate) n: usize,
    pub(crate) d: usize,
    pub(crate) beta: f64,
    pub(crate) representation: Representation,
    pub(crate) truncation: Option<Truncation>,
    pub(crate) steps: usize,
    pub(crate) aggregate: Aggregate,
    pub(crate) times: Vec<f64>,
    pub(crate) checkpoint_steps: Vec<usize>,
}

impl PointLayout {
    pub(crate) fn of(point: &Point) -> Self {
        Self {
            index: point.index,
            value: point.value,
            n: point.n,
            d: point.d,
            beta: point.beta,
            representation: point.representation,
            truncation: point.truncation(),
            steps: point.steps,
            aggregate: point.aggregate,
            times: point.times.clone(),
            checkpoint_steps: point.checkpoint_steps.clone(),
        }
    }
}

/// The output from the results of every job, in job order (blocks of a point combined in index
/// order: the same bits for any number of threads or processes).
pub(crate) fn assemble(
    header: Header,
    layouts: &[PointLayout],
    jobs: impl Iterator<Item = Result<JobResult>>,
    runtime_s: f64,
) -> Result<Output> {
    let mut jobs = jobs;
    let r = header.realizations;
    let blocks = r.div_ceil(BLOCK);
    let parameter = header.spec.sweep.as_ref().map(|s| s.parameter.clone());
    let mut outputs = Vec::with_capacity(layouts.len());
    for point in layouts {
        let (mut runs, mut tally) = (Vec::new(), None);
        for _ in 0..blocks {
            match jobs.next().ok_or_else(|| {
                crate::error::invalid(
                    "jobs",
                    format!("no result for a job of point {}", point.index),
                )
            })?? {
                JobResult::Runs(v) => runs.extend(v),
                JobResult::Tally(t) => {
                    if let Some(t) = t {
                        merge_tally(&mut tally, t);
                    }
                }
            }
        }
        let mean = tally.map(|t| {
            t.into_iter()
                .enumerate()
                .map(|(c, entries)| SummaryRecord {
                    t: point.times[c],
                    step: point.checkpoint_steps[c],
                    values: entries
                        .into_iter()
                        .map(|(key, per_head, stats)| {
                            let s: Vec<(f64, f64)> = stats.iter().map(|s| s.summary(r)).collect();
                            let summary = if per_head {
                                Summary::PerHead {
                                    mean: s.iter().map(|p| p.0).collect(),
                                    stderr: s.iter().map(|p| p.1).collect(),
                                }
                            } else {
                                Summary::Scalar {
                                    mean: s[0].0,
                                    stderr: s[0].1,
                                }
                            };
                            (key, summary)
                        })
                        .collect(),
                })
                .collect()
        });
        outputs.push(PointOutput {
            index: point.index,
            parameter: point.value.and(parameter.clone()),
            value: point.value,
            n: point.n,
            d: point.d,
            beta: point.beta,
            representation: point.representation,
            truncation: point.truncation,
            steps: point.steps,
            realizations: r,
            runs: (point.aggregate == Aggregate::None).then_some(runs),
            mean,
        });
    }
    Ok(Output {
        spec: header.spec,
        warnings: header.warnings,
        points: outputs,
        runtime_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_statistics_equal_the_direct_ones() {
        let xs: Vec<f64> = (0..37).map(|i| ((i * 7919) % 101) as f64 / 13.0).collect();
        let mut merged = Welford::default();
        for block in xs.chunks(16) {
            let mut w = Welford::default();
            block.iter().for_each(|&x| w.merge(&Welford::one(x)));
            merged.merge(&w);
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let (m, se) = Stat::Real(merged).summary(xs.len());
        assert!((m - mean).abs() < 1e-13 && (se - (var / n).sqrt()).abs() < 1e-13);
        // integer counts: the phase-diagram formulas
        let mut s = Stat::int(3, 12.0);
        s.merge(&Stat::int(5, 12.0));
        let (m, se) = s.summary(2);
        assert_eq!(m, 8.0 / 12.0 / 2.0);
        assert!((se - (2.0f64 / 2.0).sqrt() / 12.0).abs() < 1e-15);
    }
}

//! Distributed runs: the realisations of a spec split over processes (MPI ranks, the tasks of a
//! scheduler's job array) and combined into the bytes of a single-process run.
//!
//! The work of a spec is a list of jobs, job j = b ceil(R / 16) + k being block k of 16
//! realisations of sweep point b (R realisations per point); part i of N
//! ([`Part`], written `i/N`) computes the jobs j with j mod N = i
//! (`attnflow_dynamics::partition`). The assignment depends on the index only, and realisation r
//! of point b draws every random number from the streams (seed, b R + r, purpose), so it gives the
//! same bits in whichever part it runs. A part's result is a [`Shard`]:
//!
//! - a phase diagram (\[GLPR\] Figures 3 and 5, [`crate::phase_diagram`]): per beta the integer
//!   counts of ordered pairs above 1 - delta, their squares, the literal event <x_1, x_2> > 1 - delta,
//!   the steps integrated and the realisations (sums of integers: the order of the parts does not
//!   matter);
//! - a run ([`crate::run()`](fn@crate::run)): per job its realisations (`aggregate = "none"`) or
//!   their statistics (`"mean"`: integer sums and the Welford mean and squared deviations of the
//!   block), kept per job so that [`merge`] combines the blocks of a point in index order, the
//!   order of the single-process run, which makes the floating-point merges the same bits.
//!
//! [`Shard::to_bytes`] writes a self-describing JSON file: the format and its version, the
//! attnflow version, the command (`phase-diagram` or `run`), the resolved spec (TOML) and its hash
//! (FNV-1a, 64 bit), the part `i/N`, the number of jobs and realisations, and the results with
//! every f64 as its IEEE-754 bit pattern (a u64), so nothing is rounded on the way.
//! [`merge`] checks that the shards are the N parts of one spec (same command, spec, version and
//! N; each part exactly once) and returns the output of the single-process run. The hash covers
//! the spec's text, not the contents of the files it names (initial points, matrices).

use crate::error::{Result, invalid};
use crate::observe::Observed;
use crate::resolve::ResolvedSpec;
use crate::run::{
    BLOCK, CheckpointRecord, Header, JobResult, Output, PointLayout, RealisationOutput, Stat,
    Tally, Welford, assemble, job_count, run_jobs,
};
use crate::spec::{Aggregate, Spec};
use attnflow_dynamics::ensemble::Tally as CountTally;
pub use attnflow_dynamics::partition::Part;
use attnflow_dynamics::{
    IntegrationStats, PhaseDiagram, PhaseDiagramCounts, Representation, finish_phase_diagram,
    phase_diagram_counts,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `format` field of a shard file.
pub const SHARD_FORMAT: &str = "attnflow-shard";
/// The version of the shard format this build reads and writes.
pub const SHARD_FORMAT_VERSION: u32 = 1;

/// The command a shard comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShardKind {
    /// `attnflow phase-diagram` ([`crate::phase_diagram`]).
    PhaseDiagram,
    /// `attnflow run` ([`crate::run()`](fn@crate::run)).
    Run,
}

impl ShardKind {
    /// `phase-diagram` or `run`.
    pub fn name(self) -> &'static str {
        match self {
            ShardKind::PhaseDiagram => "phase-diagram",
            ShardKind::Run => "run",
        }
    }
}

/// The partial result of one part of a spec (see the module docs).
pub struct Shard {
    kind: ShardKind,
    part: Part,
    /// The resolved spec as TOML (`ResolvedSpec::to_toml_string`).
    spec: String,
    hash: String,
    jobs: usize,
    realizations: u64,
    attnflow_version: String,
    data: Data,
}

enum Data {
    PhaseDiagram(PhaseDiagramCounts),
    Run {
        warnings: Vec<String>,
        layouts: Vec<PointLayout>,
        /// (job, result), jobs ascending.
        results: Vec<(usize, JobResult)>,
    },
}

/// FNV-1a (64 bit) of `bytes`, as `fnv1a64:` and 16 hex digits.
fn fnv1a64<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}

/// The hash of the command and the spec text.
fn spec_hash(kind: ShardKind, spec: &str) -> String {
    fnv1a64(
        kind.name()
            .as_bytes()
            .iter()
            .chain(&[0])
            .chain(spec.as_bytes()),
    )
}

/// The checksum of the results: the hash of their JSON (integers and strings only, so writing
/// what was read gives the same bytes).
fn checksum(
    phase_diagram: &Option<Vec<WireCounts>>,
    run: &Option<WireRun>,
) -> std::result::Result<String, String> {
    let bytes = serde_json::to_vec(&(phase_diagram, run)).map_err(|e| e.to_string())?;
    Ok(fnv1a64(&bytes))
}

impl Shard {
    /// Computes part `part` of the phase diagram of `spec` (a spec that
    /// [`ResolvedSpec::phase_diagram_spec`] accepts); `progress(done, total)` after each
    /// realisation of the part.
    pub fn phase_diagram(
        spec: &ResolvedSpec,
        part: Part,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Shard> {
        let diagram = spec.phase_diagram_spec()?;
        let counts = phase_diagram_counts(&diagram, part, progress)
            .map_err(crate::error::dynamics("phase diagram"))?;
        let realizations = counts.per_beta.iter().map(|t| t.realizations).sum();
        let jobs = attnflow_dynamics::ensemble::phase_diagram_jobs(&diagram);
        Shard::new(
            ShardKind::PhaseDiagram,
            part,
            spec,
            jobs,
            realizations,
            Data::PhaseDiagram(counts),
        )
    }

    /// Computes part `part` of the run of `spec`; `progress(done, total)` after each
    /// realisation of the part.
    pub fn run(
        spec: &ResolvedSpec,
        part: Part,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Shard> {
        crate::run::check_f64(spec)?;
        let jobs = job_count(spec);
        let owned: Vec<usize> = part.jobs(jobs).collect();
        let r = spec.spec().ensemble.realizations;
        let realizations = owned
            .iter()
            .map(|j| {
                let blk = j % r.div_ceil(BLOCK);
                (((blk + 1) * BLOCK).min(r) - blk * BLOCK) as u64
            })
            .sum();
        let results = run_jobs(spec, owned.clone(), progress);
        let results = owned
            .into_iter()
            .zip(results)
            .map(|(j, res)| res.map(|res| (j, res)))
            .collect::<Result<Vec<_>>>()?;
        Shard::new(
            ShardKind::Run,
            part,
            spec,
            jobs,
            realizations,
            Data::Run {
                warnings: spec.warnings().to_vec(),
                layouts: spec.points().iter().map(PointLayout::of).collect(),
                results,
            },
        )
    }

    fn new(
        kind: ShardKind,
        part: Part,
        spec: &ResolvedSpec,
        jobs: usize,
        realizations: u64,
        data: Data,
    ) -> Result<Shard> {
        let text = spec.to_toml_string()?;
        Ok(Shard {
            kind,
            part,
            hash: spec_hash(kind, &text),
            spec: text,
            jobs,
            realizations,
            attnflow_version: env!("CARGO_PKG_VERSION").into(),
            data,
        })
    }

    /// The command the shard comes from.
    pub fn kind(&self) -> ShardKind {
        self.kind
    }

    /// Its part `i/N`.
    pub fn part(&self) -> Part {
        self.part
    }

    /// The hash of the command and the resolved spec (`fnv1a64:` and 16 hex digits).
    pub fn spec_hash(&self) -> &str {
        &self.hash
    }

    /// The realisations computed in this part.
    pub fn realizations(&self) -> u64 {
        self.realizations
    }

    /// The shard file: JSON (see the module docs); the same part of the same spec gives the same
    /// bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut wire = WireShard {
            format: SHARD_FORMAT.into(),
            format_version: SHARD_FORMAT_VERSION,
            attnflow_version: self.attnflow_version.clone(),
            kind: self.kind,
            spec_hash: self.hash.clone(),
            shard: self.part.to_string(),
            jobs: self.jobs,
            realizations: self.realizations,
            spec: self.spec.clone(),
            phase_diagram: match &self.data {
                Data::PhaseDiagram(c) => Some(c.per_beta.iter().map(WireCounts::of).collect()),
                Data::Run { .. } => None,
            },
            run: match &self.data {
                Data::Run {
                    warnings,
                    layouts,
                    results,
                } => Some(WireRun {
                    warnings: warnings.clone(),
                    points: layouts.iter().map(WirePoint::of).collect(),
                    jobs: results.iter().map(|(j, r)| WireJob::of(*j, r)).collect(),
                }),
                Data::PhaseDiagram(_) => None,
            },
            checksum: String::new(),
        };
        wire.checksum = checksum(&wire.phase_diagram, &wire.run)
            .map_err(|e| invalid("shard", format!("cannot write: {e}")))?;
        serde_json::to_vec(&wire).map_err(|e| invalid("shard", format!("cannot write: {e}")))
    }

    /// Reads a shard file; `name` (e.g. its path) names it in errors.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Shard> {
        let not_shard = |why: String| {
            invalid(
                name,
                format!("not an attnflow shard file ({why}); shards are written by `--shard i/N`"),
            )
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| not_shard(format!("not JSON: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(SHARD_FORMAT) {
            return Err(not_shard(format!("no \"format\": \"{SHARD_FORMAT}\"")));
        }
        let version = value.get("format-version").and_then(|v| v.as_u64());
        if version != Some(u64::from(SHARD_FORMAT_VERSION)) {
            return Err(invalid(
                name,
                format!(
                    "shard format version {}, this attnflow reads version {SHARD_FORMAT_VERSION}",
                    version.map_or("?".into(), |v| v.to_string())
                ),
            ));
        }
        let wire: WireShard =
            serde_json::from_value(value).map_err(|e| not_shard(e.to_string()))?;
        let part: Part = wire
            .shard
            .parse()
            .map_err(|e| not_shard(format!("shard {:?}: {e}", wire.shard)))?;
        if spec_hash(wire.kind, &wire.spec) != wire.spec_hash {
            return Err(invalid(
                name,
                "the spec hash does not match the spec: the file was changed after it was written",
            ));
        }
        if checksum(&wire.phase_diagram, &wire.run).ok().as_ref() != Some(&wire.checksum) {
            return Err(invalid(
                name,
                "the checksum does not match the results: the file was changed after it was written",
            ));
        }
        let data = match (wire.kind, wire.phase_diagram, wire.run) {
            (ShardKind::PhaseDiagram, Some(counts), None) => {
                Data::PhaseDiagram(PhaseDiagramCounts {
                    per_beta: counts
                        .into_iter()
                        .map(WireCounts::into_tally)
                        .collect::<std::result::Result<_, String>>()
                        .map_err(not_shard)?,
                })
            }
            (ShardKind::Run, None, Some(run)) => Data::Run {
                warnings: run.warnings,
                layouts: run.points.into_iter().map(WirePoint::into_layout).collect(),
                results: run
                    .jobs
                    .into_iter()
                    .map(WireJob::into_result)
                    .collect::<std::result::Result<_, String>>()
                    .map_err(not_shard)?,
            },
            (kind, _, _) => {
                return Err(not_shard(format!(
                    "a {} shard needs exactly its own results",
                    kind.name()
                )));
            }
        };
        Ok(Shard {
            kind: wire.kind,
            part,
            spec: wire.spec,
            hash: wire.spec_hash,
            jobs: wire.jobs,
            realizations: wire.realizations,
            attnflow_version: wire.attnflow_version,
            data,
        })
    }
}

/// What [`merge`] returns: the output of the single-process run.
pub enum Merged {
    /// A phase diagram and its resolved spec (`runtime_s` is 0: the shards record no times).
    PhaseDiagram {
        spec: Box<ResolvedSpec>,
        diagram: PhaseDiagram,
    },
    /// A run (`runtime_s` is 0).
    Run(Output),
}

/// Combines the shards `0/N, ..., N-1/N` of one spec (each given once, with a name for errors,
/// in any order) into the output of the single-process run, bit for bit. One-line errors for a
/// missing or repeated part, shards of different specs, commands, versions or N.
pub fn merge(shards: Vec<(String, Shard)>) -> Result<Merged> {
    let Some((first_name, first)) = shards.first() else {
        return Err(invalid("shards", "no shard to merge"));
    };
    let count = first.part.count();
    for (name, s) in &shards[1..] {
        if s.kind != first.kind {
            return Err(invalid(
                "shards",
                format!(
                    "{first_name} is a {} shard, {name} a {} shard: merge the shards of one command",
                    first.kind.name(),
                    s.kind.name()
                ),
            ));
        }
        if s.attnflow_version != first.attnflow_version {
            return Err(invalid(
                "shards",
                format!(
                    "{first_name} was written by attnflow {}, {name} by {}: rerun the shards with one version",
                    first.attnflow_version, s.attnflow_version
                ),
            ));
        }
        if s.hash != first.hash || s.spec != first.spec {
            return Err(invalid(
                "shards",
                format!(
                    "{first_name} and {name} come from different specs ({} vs {}): merge the shards of one run",
                    first.hash, s.hash
                ),
            ));
        }
        if s.part.count() != count || s.jobs != first.jobs {
            return Err(invalid(
                "shards",
                format!(
                    "{first_name} is shard {}, {name} is shard {}: all shards must come from --shard i/N with one N",
                    first.part, s.part
                ),
            ));
        }
    }
    let mut by_index: Vec<Option<&(String, Shard)>> = vec![None; count];
    for entry in &shards {
        let slot = &mut by_index[entry.1.part.index()];
        if let Some(other) = slot {
            return Err(invalid(
                "shards",
                format!(
                    "shard {} is given twice: {} and {}",
                    entry.1.part, other.0, entry.0
                ),
            ));
        }
        *slot = Some(entry);
    }
    let missing: Vec<String> = (0..count)
        .filter(|&i| by_index[i].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
            "shards",
            format!(
                "missing shard{} {} (given {} of {count})",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                count - missing.len()
            ),
        ));
    }
    let spec = Spec::from_toml_str(&first.spec)?;
    match first.kind {
        ShardKind::PhaseDiagram => {
            let resolved = spec.resolve()?;
            let diagram = resolved.phase_diagram_spec()?;
            let betas = diagram.betas.len();
            let mut sum = PhaseDiagramCounts::new(betas, diagram.times.len());
            for (name, s) in &shards {
                let Data::PhaseDiagram(counts) = &s.data else {
                    return Err(invalid(name.as_str(), "not a phase-diagram shard"));
                };
                sum.add(counts)
                    .map_err(|e| invalid(name.as_str(), e.to_string()))?;
            }
            let diagram = finish_phase_diagram(&diagram, &sum, 0.0)
                .map_err(crate::error::dynamics("merging the shards"))?;
            Ok(Merged::PhaseDiagram {
                spec: Box::new(resolved),
                diagram,
            })
        }
        ShardKind::Run => {
            let total = first.jobs;
            let mut results: Vec<Option<JobResult>> = (0..total).map(|_| None).collect();
            let mut header = None;
            for (name, s) in shards {
                let Data::Run {
                    warnings,
                    layouts,
                    results: jobs,
                } = s.data
                else {
                    return Err(invalid(name.as_str(), "not a run shard"));
                };
                for (j, result) in jobs {
                    if j >= total || !s.part.owns(j) || results[j].is_some() {
                        return Err(invalid(
                            name.as_str(),
                            format!("job {j} does not belong to shard {}", s.part),
                        ));
                    }
                    results[j] = Some(result);
                }
                header.get_or_insert((warnings, layouts));
            }
            let (warnings, layouts) = header.expect("at least one shard");
            let realizations = spec.ensemble.realizations;
            if layouts.len() * realizations.div_ceil(BLOCK) != total {
                return Err(invalid(
                    "shards",
                    format!(
                        "{} points of {realizations} realisations are not the {total} jobs of the shards",
                        layouts.len()
                    ),
                ));
            }
            let jobs = results.into_iter().enumerate().map(|(j, r)| {
                r.ok_or_else(|| invalid("shards", format!("no shard has the results of job {j}")))
            });
            assemble(
                Header {
                    spec,
                    warnings,
                    realizations,
                },
                &layouts,
                jobs,
                0.0,
            )
            .map(Merged::Run)
        }
    }
}

// ---- the file format: every f64 as its bit pattern ----

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WireShard {
    format: String,
    format_version: u32,
    attnflow_version: String,
    kind: ShardKind,
    spec_hash: String,
    shard: String,
    jobs: usize,
    realizations: u64,
    spec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phase_diagram: Option<Vec<WireCounts>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<WireRun>,
    /// [`checksum`] of the results.
    checksum: String,
}

/// A u128 as a decimal string (JSON numbers stop at 2^64).
fn u128_of(s: &str) -> std::result::Result<u128, String> {
    s.parse().map_err(|_| format!("{s:?} is not a count"))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WireCounts {
    realizations: u64,
    steps: u64,
    hits: Vec<u64>,
    hits_squared: Vec<String>,
    pair12: Vec<u64>,
}

impl WireCounts {
    fn of(t: &CountTally) -> Self {
        Self {
            realizations: t.realizations,
            steps: t.steps,
            hits: t.hits.clone(),
            hits_squared: t.hits_squared.iter().map(u128::to_string).collect(),
            pair12: t.pair12.clone(),
        }
    }
    fn into_tally(self) -> std::result::Result<CountTally, String> {
        Ok(CountTally {
            hits: self.hits,
            hits_squared: self
                .hits_squared
                .iter()
                .map(|s| u128_of(s))
                .collect::<std::result::Result<_, _>>()?,
            pair12: self.pair12,
            steps: self.steps,
            realizations: self.realizations,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WireRun {
    warnings: Vec<String>,
    points: Vec<WirePoint>,
    jobs: Vec<WireJob>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WirePoint {
    index: usize,
    value: Option<u64>,
    n: usize,
    d: usize,
    beta: u64,
    representation: Representation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    truncation: Option<attnflow_dynamics::spectral::Truncation>,
    steps: usize,
    aggregate: Aggregate,
    times: Vec<u64>,
    checkpoint_steps: Vec<usize>,
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn floats(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&b| f64::from_bits(b)).collect()
}

impl WirePoint {
    fn of(p: &PointLayout) -> Self {
        Self {
            index: p.index,
            value: p.value.map(f64::to_bits),
            n: p.n,
            d: p.d,
            beta: p.beta.to_bits(),
            representation: p.representation,
            truncation: p.truncation,
            steps: p.steps,
            aggregate: p.aggregate,
            times: bits(&p.times),
            checkpoint_steps: p.checkpoint_steps.clone(),
        }
    }
    fn into_layout(self) -> PointLayout {
        PointLayout {
            index: self.index,
            value: self.value.map(f64::from_bits),
            n: self.n,
            d: self.d,
            beta: f64::from_bits(self.beta),
            representation: self.representation,
            truncation: self.truncation,
            steps: self.steps,
            aggregate: self.aggregate,
            times: floats(&self.times),
            checkpoint_steps: self.checkpoint_steps,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WireJob {
    job: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    runs: Option<Vec<WireRealisation>>,
    /// Per checkpoint, per observable component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tally: Option<Vec<Vec<WireEntry>>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WireRealisation {
    realization: usize,
    stream_index: u64,
    stats: IntegrationStats,
    checkpoints: Vec<WireCheckpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WireCheckpoint {
    t: u64,
    step: usize,
    values: BTreeMap<String, WireObserved>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
enum WireObserved {
    Number(u64),
    Count(u64),
    Clusters {
        count: u64,
        labels: Vec<usize>,
    },
    Rank {
        rank: Vec<u64>,
        effective_rank: Vec<u64>,
    },
    Rows(Vec<Vec<u64>>),
    Heads(Vec<Vec<Vec<u64>>>),
}

impl WireObserved {
    fn of(o: &Observed) -> Self {
        match o {
            Observed::Number(v) => WireObserved::Number(v.to_bits()),
            Observed::Count(c) => WireObserved::Count(*c),
            Observed::Clusters { count, labels } => WireObserved::Clusters {
                count: *count,
                labels: labels.clone(),
            },
            Observed::Rank {
                rank,
                effective_rank,
            } => WireObserved::Rank {
                rank: rank.clone(),
                effective_rank: bits(effective_rank),
            },
            Observed::Rows(rows) => WireObserved::Rows(rows.iter().map(|r| bits(r)).collect()),
            Observed::Heads(heads) => WireObserved::Heads(
                heads
                    .iter()
                    .map(|h| h.iter().map(|r| bits(r)).collect())
                    .collect(),
            ),
        }
    }
    fn into_observed(self) -> Observed {
        match self {
            WireObserved::Number(v) => Observed::Number(f64::from_bits(v)),
            WireObserved::Count(c) => Observed::Count(c),
            WireObserved::Clusters { count, labels } => Observed::Clusters { count, labels },
            WireObserved::Rank {
                rank,
                effective_rank,
            } => Observed::Rank {
                rank,
                effective_rank: floats(&effective_rank),
            },
            WireObserved::Rows(rows) => Observed::Rows(rows.iter().map(|r| floats(r)).collect()),
            WireObserved::Heads(heads) => Observed::Heads(
                heads
                    .iter()
                    .map(|h| h.iter().map(|r| floats(r)).collect())
                    .collect(),
            ),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WireEntry {
    key: String,
    per_head: bool,
    stats: Vec<WireStat>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
enum WireStat {
    /// Sums of the counts and of their squares (decimal), the denominator's bits.
    Int { s1: u64, s2: String, denom: u64 },
    /// Welford: count, the bits of the mean and of the sum of squared deviations.
    Real { count: u64, mean: u64, m2: u64 },
}

impl WireJob {
    fn of(job: usize, r: &JobResult) -> Self {
        match r {
            JobResult::Runs(runs) => WireJob {
                job,
                runs: Some(
                    runs.iter()
                        .map(|r| WireRealisation {
                            realization: r.realization,
                            stream_index: r.stream_index,
                            stats: r.stats,
                            checkpoints: r
                                .checkpoints
                                .iter()
                                .map(|c| WireCheckpoint {
                                    t: c.t.to_bits(),
                                    step: c.step,
                                    values: c
                                        .values
                                        .iter()
                                        .map(|(k, v)| (k.clone(), WireObserved::of(v)))
                                        .collect(),
                                })
                                .collect(),
                        })
                        .collect(),
                ),
                tally: None,
            },
            JobResult::Tally(t) => WireJob {
                job,
                runs: None,
                tally: t.as_ref().map(|t| {
                    t.iter()
                        .map(|entries| {
                            entries
                                .iter()
                                .map(|(key, per_head, stats)| WireEntry {
                                    key: key.clone(),
                                    per_head: *per_head,
                                    stats: stats
                                        .iter()
                                        .map(|s| match s {
                                            Stat::Int { s1, s2, denom } => WireStat::Int {
                                                s1: *s1,
                                                s2: s2.to_string(),
                                                denom: denom.to_bits(),
                                            },
                                            Stat::Real(w) => WireStat::Real {
                                                count: w.count,
                                                mean: w.mean.to_bits(),
                                                m2: w.m2.to_bits(),
                                            },
                                        })
                                        .collect(),
                                })
                                .collect()
                        })
                        .collect()
                }),
            },
        }
    }

    fn into_result(self) -> std::result::Result<(usize, JobResult), String> {
        let result = match (self.runs, self.tally) {
            (Some(runs), None) => JobResult::Runs(
                runs.into_iter()
                    .map(|r| RealisationOutput {
                        realization: r.realization,
                        stream_index: r.stream_index,
                        stats: r.stats,
                        checkpoints: r
                            .checkpoints
                            .into_iter()
                            .map(|c| CheckpointRecord {
                                t: f64::from_bits(c.t),
                                step: c.step,
                                values: c
                                    .values
                                    .into_iter()
                                    .map(|(k, v)| (k, v.into_observed()))
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            ),
            (None, tally) => {
                let tally: Option<Tally> = match tally {
                    None => None,
                    Some(t) => Some(
                        t.into_iter()
                            .map(|entries| {
                                entries
                                    .into_iter()
                                    .map(|e| {
                                        let stats = e
                                            .stats
                                            .into_iter()
                                            .map(|s| {
                                                Ok(match s {
                                                    WireStat::Int { s1, s2, denom } => Stat::Int {
                                                        s1,
                                                        s2: u128_of(&s2)?,
                                                        denom: f64::from_bits(denom),
                                                    },
                                                    WireStat::Real { count, mean, m2 } => {
                                                        Stat::Real(Welford {
                                                            count,
                                                            mean: f64::from_bits(mean),
                                                            m2: f64::from_bits(m2),
                                                        })
                                                    }
                                                })
                                            })
                                            .collect::<std::result::Result<Vec<_>, String>>()?;
                                        Ok((e.key, e.per_head, stats))
                                    })
                                    .collect::<std::result::Result<Vec<_>, String>>()
                            })
                            .collect::<std::result::Result<Vec<_>, String>>()?,
                    ),
                };
                JobResult::Tally(tally)
            }
            (Some(_), Some(_)) => {
                return Err(format!("job {} has both runs and a tally", self.job));
            }
        };
        Ok((self.job, result))
    }
}

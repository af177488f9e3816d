//! `attnflow simulate`: one trajectory of the particle system, a thin front end over the experiment
//! spec. The flags build a `Spec` (or override the fields of `--spec FILE`), which is resolved and
//! run by `attnflow-experiment` like `attnflow run`:
//!
//! | flag | spec field |
//! |---|---|
//! | `--model`, `--beta` | `field.model`, `field.beta` |
//! | `--n`, `--d`, `--seed` | `n`, `d`, `seed` |
//! | `--t-max`, `--dt`, `--checkpoints` | `time.t-max`, `time.dt`, `time.checkpoints` (rule `exact`: t = 0 is the start) |
//! | `--integrator`, `--rtol`, `--atol` | `integrator.method`, `integrator.rtol` / `atol` (dp54, rkmk45) |
//! | `--delta` | `delta` of the pair-fraction and cluster-count observables |
//! | `--init PATH` | `init = {kind = "points", path}` (.npy (n, d), CSV or JSON rows) |
//! | `--q`, `--k`, `--v PATH` | `field.heads[h].q` / `k` / `v` = `{npy = PATH}` |
//! | `--heads H` or `--heads FILE` | H copies of the head (summed, \[GLPR\] (2.7)), or the `[[heads]]` tables of a TOML / JSON file (the spec's head syntax) |
//! | `--mask causal` | `field.mask` |
//! | `--summation spectral`, `--summation-tol` | `field.summation`, `field.summation-tol` (the series truncation is recorded under `params.truncation`) |
//! | `--save-positions` | the `positions` observable (also on by default for d <= 3) |
//!
//! Without `--spec` the observables are those of the trajectory record: `mean_inner_product`,
//! `min_inner_product`, `fraction_pairs_above`, `clusters`, `energy` (beta > 0) and `positions`;
//! the representation is `full` and one realisation is run from the stream (seed, 0, purpose).
//! `--out x.json` keeps the record's layout (`params`, `spec`, `integrator_stats`, `snapshots`:
//! per checkpoint `t`, `step` and the observables by name); `.csv`, `.npy` and `.npz` are the
//! experiment crate's formats (`attnflow_experiment::export`).

use super::frontend::{self, IntegratorOptions, LimitOptions, OutputOptions, given};
use super::limits::Names;
use anyhow::{Context, Result, bail};
use attnflow_dynamics::ModelKind;
use attnflow_dynamics::spectral::SummationKind;
use attnflow_dynamics::validate::DELTA;
use attnflow_experiment::spec::{CheckpointRule, HeadSpec, MaskSpec, RepresentationSpec};
use attnflow_experiment::{
    Aggregate, Checkpoints, Format, InitSpec, MatrixSource, ObservableKind, ObservableSpec, Output,
    ResolvedSpec, Spec,
};
use clap::{ArgMatches, ValueEnum};
use std::path::{Path, PathBuf};

/// Names of the quantities in limit messages.
const NAMES: Names = Names {
    n: "--n",
    d: "--d",
    dt: "--dt",
    t_max: "--t-max",
    checkpoints: "--checkpoints",
    realizations: "ensemble.realizations",
    points: "sweep points",
};

#[derive(Clone, Copy, ValueEnum)]
pub enum MaskArg {
    /// Every pair interacts.
    None,
    /// Token i attends to j <= i only.
    Causal,
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Start from this experiment spec (TOML or JSON, as `attnflow run`); the flags given override
    /// its fields, the other flags' defaults do not apply.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Print the resolved spec (every default filled in) as TOML and exit without running.
    #[arg(long)]
    pub print_spec: bool,
    /// Softmax (sa) or unnormalised (usa) attention.
    #[arg(long, value_enum, default_value = "sa")]
    pub model: ModelKind,
    /// Number of particles (required unless --spec or --init gives it).
    #[arg(long, allow_negative_numbers = true, required_unless_present_any = ["spec", "init"])]
    pub n: Option<usize>,
    /// Ambient dimension, particles on S^(d-1) (required unless --spec or --init gives it).
    #[arg(long, allow_negative_numbers = true, required_unless_present_any = ["spec", "init"])]
    pub d: Option<usize>,
    /// Inverse temperature (required unless --spec).
    #[arg(long, allow_negative_numbers = true, required_unless_present = "spec")]
    pub beta: Option<f64>,
    /// Final time (required unless --spec).
    #[arg(long, allow_negative_numbers = true, required_unless_present = "spec")]
    pub t_max: Option<f64>,
    /// Step size (macro step for dp54 and rkmk45).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub dt: f64,
    #[command(flatten)]
    pub integrator: IntegratorOptions,
    /// Master seed of the initial condition (and of random matrices).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Number of equispaced checkpoint times in [0, t_max] (read at the first step with k dt >= t).
    #[arg(long, default_value_t = 11, allow_negative_numbers = true)]
    pub checkpoints: usize,
    /// Threshold delta of the cluster statistics.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub delta: f64,
    /// Initial points: an (n, d) array in a .npy, .csv or .json file (renormalised onto the sphere
    /// with a warning when a norm is off 1); n and d are taken from it.
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// Query matrix Q of the head(s), d x d in a .npy file (B = Q^T K).
    #[arg(long, value_name = "PATH")]
    pub q: Option<PathBuf>,
    /// Key matrix K of the head(s), d x d in a .npy file.
    #[arg(long, value_name = "PATH")]
    pub k: Option<PathBuf>,
    /// Value matrix V of the head(s), d x d in a .npy file (the velocity V y, [GLPR] (2.3)).
    #[arg(long, value_name = "PATH")]
    pub v: Option<PathBuf>,
    /// Attention heads, summed ([GLPR] (2.7)): a number H (H copies of the head of --q/--k/--v, i.e.
    /// H times its velocity) or a .toml / .json file of `[[heads]]` tables in the spec's syntax (q,
    /// k, v each "identity", {scalar}, {diagonal}, {matrix}, {npy} or {random}; paths relative to
    /// that file).
    #[arg(long, value_name = "H|FILE")]
    pub heads: Option<String>,
    /// Attention mask: none, or causal (token i attends to j <= i).
    #[arg(long, value_enum, default_value = "none")]
    pub mask: MaskArg,
    /// How the attention sums are evaluated: direct (every pair, O(n^2)) or spectral (Fourier /
    /// spherical-harmonic series, O(n K); d = 2 or 3, one head with Q = K = V = I, no mask).
    #[arg(long, value_enum, default_value = "direct")]
    pub summation: SummationKind,
    /// Relative truncation tolerance of --summation spectral, in (0, 1) [default: 1e-13].
    #[arg(long, allow_negative_numbers = true, value_name = "TOL")]
    pub summation_tol: Option<f64>,
    /// Record the positions (n x d per checkpoint, output key `positions`) whatever d (by default
    /// only for d <= 3).
    #[arg(long)]
    pub save_positions: bool,
    #[command(flatten)]
    pub output: OutputOptions,
    #[command(flatten)]
    pub limits: LimitOptions,
}

/// The flag that sets a spec field (for error messages).
fn flag_of(field: &str) -> Option<&'static str> {
    let flags: [(&str, &str); 17] = [
        ("n", "--n"),
        ("d", "--d"),
        ("field.beta", "--beta"),
        ("field.heads[", "--q/--k/--v/--heads"),
        ("field.heads", "--heads"),
        ("field.summation", "--summation"),
        ("field.summation-tol", "--summation-tol"),
        ("field", "--model/--mask/--heads"),
        ("init.path", "--init"),
        ("time.dt", "--dt"),
        ("time.t-max", "--t-max"),
        ("time.checkpoints", "--checkpoints"),
        ("integrator.method", "--integrator"),
        ("integrator.rtol", "--rtol"),
        ("integrator.atol", "--atol"),
        ("integrator.representation", "--save-positions"),
        ("observables", "--delta"),
    ];
    flags.iter().find_map(|&(f, flag)| {
        let exact = field == f;
        let prefix = f.ends_with('[') && field.starts_with(f);
        let observable = f == "observables" && field.starts_with(f) && field.ends_with(".delta");
        (exact || prefix || observable).then_some(flag)
    })
}

/// The heads of `--heads FILE`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadsFile {
    heads: Vec<HeadSpec>,
}

/// The heads of `--heads`, `--q`, `--k`, `--v` (`None`: none of them given).
fn heads_of(args: &SimulateArgs) -> Result<Option<Vec<HeadSpec>>> {
    let npy = |p: &Option<PathBuf>| -> Result<MatrixSource> {
        Ok(match p {
            Some(p) => MatrixSource::Npy(frontend::absolute(p)?),
            None => MatrixSource::Identity,
        })
    };
    let head = HeadSpec {
        q: npy(&args.q)?,
        k: npy(&args.k)?,
        v: npy(&args.v)?,
    };
    let any_matrix = args.q.is_some() || args.k.is_some() || args.v.is_some();
    let Some(heads) = &args.heads else {
        return Ok(any_matrix.then(|| vec![head]));
    };
    if let Ok(count) = heads.trim().parse::<usize>() {
        if count == 0 {
            bail!("--heads must be at least 1, got 0");
        }
        return Ok(Some(vec![head; count]));
    }
    if any_matrix {
        bail!("--heads FILE gives every head's matrices; drop --q, --k and --v");
    }
    let path = Path::new(heads);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--heads {heads}: not a number of heads, and cannot read it"))?;
    if text.trim().is_empty() {
        bail!("--heads {heads}: the file is empty");
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let parsed: HeadsFile = match ext.as_deref() {
        Some("toml") => toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "--heads {heads}: {}",
                e.message().lines().next().unwrap_or("")
            )
        })?,
        Some("json") => {
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--heads {heads}: {e}"))?
        }
        _ => bail!("--heads {heads}: expected a number of heads or a .toml / .json file"),
    };
    if parsed.heads.is_empty() {
        bail!("--heads {heads}: `heads` is empty; give at least one [[heads]] table");
    }
    let dir = frontend::absolute(path.parent().unwrap_or(Path::new("")))?;
    let mut out = parsed.heads;
    for h in &mut out {
        for m in [&mut h.q, &mut h.k, &mut h.v] {
            if let MatrixSource::Npy(p) = m {
                *p = dir.join(&*p);
            }
        }
    }
    Ok(Some(out))
}

/// The spec of the flags: `--spec FILE` (or the trajectory record's defaults) with the flags given
/// on top (`given(id)`: whether the flag `id` was given, not a default).
pub fn spec_of(args: &SimulateArgs, given: &dyn Fn(&str) -> bool) -> Result<Spec> {
    let apply_all = args.spec.is_none();
    let set = |id| apply_all || given(id);
    let mut spec = match &args.spec {
        Some(path) => frontend::read_spec(path)?,
        None => {
            let d = match (&args.d, &args.init) {
                (Some(d), _) => Some(*d),
                (None, Some(init)) => attnflow_experiment::io::read_array2(init, "init.path")
                    .ok()
                    .map(|a| a.cols),
                (None, None) => None,
            };
            let named = |kind, name: &str| ObservableSpec {
                name: Some(name.into()),
                ..ObservableSpec::of(kind)
            };
            let mut observables = vec![
                named(ObservableKind::MeanCosine, "mean_inner_product"),
                named(ObservableKind::MinCosine, "min_inner_product"),
                named(ObservableKind::PairFraction, "fraction_pairs_above"),
                named(ObservableKind::ClusterCount, "clusters"),
            ];
            if args.beta.is_some_and(|b| b > 0.0) {
                observables.push(ObservableSpec::of(ObservableKind::Energy));
            }
            if d.is_some_and(|d| d <= 3) {
                observables.insert(0, ObservableSpec::of(ObservableKind::Positions));
            }
            let mut spec = Spec {
                observables,
                ..Spec::default()
            };
            spec.time.checkpoint_rule = CheckpointRule::Exact;
            spec.integrator.representation = RepresentationSpec::Full;
            spec.ensemble.aggregate = Some(Aggregate::None);
            spec
        }
    };
    if set("model") {
        spec.field.model = args.model;
    }
    if let Some(n) = args.n {
        spec.n = Some(n);
    }
    if let Some(d) = args.d {
        spec.d = Some(d);
    }
    if let Some(beta) = args.beta {
        spec.field.beta = beta;
    }
    if let Some(t_max) = args.t_max {
        spec.time.t_max = t_max;
    }
    if set("dt") {
        spec.time.dt = args.dt;
    }
    args.integrator.apply(&mut spec, given, apply_all);
    if set("seed") {
        spec.seed = args.seed;
    }
    if set("checkpoints") {
        spec.time.checkpoints = Checkpoints::Count(args.checkpoints);
    }
    if set("delta") {
        for o in &mut spec.observables {
            if matches!(
                o.kind,
                ObservableKind::PairFraction | ObservableKind::ClusterCount
            ) {
                o.delta = Some(args.delta);
            }
        }
    }
    if let Some(init) = &args.init {
        spec.init = InitSpec::Points {
            path: frontend::absolute(init)?,
        };
    }
    if let Some(heads) = heads_of(args)? {
        spec.field.heads = Some(heads);
        spec.field.matrices = None;
    }
    if set("mask") {
        spec.field.mask = match args.mask {
            MaskArg::None => MaskSpec::None,
            MaskArg::Causal => MaskSpec::Causal,
        };
    }
    if set("summation") {
        spec.field.summation = args.summation;
    }
    if let Some(tol) = args.summation_tol {
        spec.field.summation_tol = Some(tol);
    }
    if args.save_positions || args.output.gif.is_some() {
        frontend::enable_positions(&mut spec);
    }
    Ok(spec)
}

/// Checks of the flags with the messages of the trajectory record (before anything is resolved).
pub fn check_flags(spec: &Spec, args: &SimulateArgs) -> Result<usize> {
    let delta = spec.observables.iter().find_map(|o| o.delta);
    if let Some(delta) = delta
        && !DELTA.contains(delta)
    {
        bail!("--delta must be {DELTA}, got {delta:?}");
    }
    if let (Some(n), Some(d)) = (spec.n, spec.d) {
        attnflow_dynamics::validate::check_sizes(n, d)?;
    }
    let steps = args.integrator.check_steps(spec, args.limits.max_steps)?;
    if let Checkpoints::Count(c) = spec.time.checkpoints {
        if c == 0 {
            bail!("--checkpoints must be >= 1");
        }
        if c - 1 > steps {
            bail!(
                "--checkpoints {c} is finer than --dt: {steps} steps of {:?} give at most {} distinct checkpoints; use --checkpoints <= {} or a smaller --dt",
                spec.time.dt,
                steps + 1,
                steps + 1
            );
        }
    }
    Ok(steps)
}

/// The trajectory record (`--out x.json`): parameters, the resolved spec, integrator counters and
/// per checkpoint the observables by name.
pub fn record_json(resolved: &ResolvedSpec, output: &Output) -> Result<Vec<u8>> {
    let point = &resolved.points()[0];
    let run = &output.points[0].runs.as_ref().context("one realisation")?[0];
    let spec = resolved.spec();
    let delta = point
        .observables
        .iter()
        .find(|o| o.kind == ObservableKind::PairFraction || o.kind == ObservableKind::ClusterCount)
        .map(|o| o.delta);
    let rule = match spec.time.checkpoint_rule {
        CheckpointRule::Exact => "first step k >= 0 with k dt >= t",
        CheckpointRule::Paper => "first step k >= 1 with k dt >= t",
    };
    let mut record = serde_json::json!({
        "params": {
            "model": point.model.name(),
            "n": point.n, "d": point.d, "beta": point.beta, "t_max": spec.time.t_max, "dt": point.dt,
            "steps": point.steps, "integrator": point.integrator, "seed": point.seed, "delta": delta,
            "checkpoint_rule": rule,
            "non_finite_encoding": "\"inf\", \"-inf\", \"nan\"; null = undefined",
            "attnflow_version": env!("CARGO_PKG_VERSION"),
        },
        "spec": spec,
        "integrator_stats": run.stats,
        "snapshots": run.checkpoints,
    });
    // spectral summation: the method and its truncation (absent for direct sums)
    if let Some(t) = output.points[0].truncation {
        record["params"]["summation"] = point.summation.name().into();
        record["params"]["truncation"] = serde_json::to_value(t)?;
    }
    Ok(serde_json::to_vec_pretty(&record)?)
}

/// The format of `--out` (by its extension).
pub fn out_format(out: Option<&Path>) -> Result<Option<Format>> {
    out.map(|out| {
        Format::of_path(out).map_err(|_| {
            anyhow::anyhow!(
                "--out must end in .json, .csv, .npy or .npz, got {}",
                out.display()
            )
        })
    })
    .transpose()
}

/// The resolved spec of the flags (`given(id)`: whether the flag `id` was given) and its number of
/// steps, every check before any work done.
pub fn prepare(args: &SimulateArgs, given: &dyn Fn(&str) -> bool) -> Result<(ResolvedSpec, usize)> {
    let spec = spec_of(args, given)?;
    let steps = check_flags(&spec, args)?;
    let limits = args.limits.limits();
    let resolved = frontend::resolve_checked(&spec, &limits, &NAMES, flag_of, false)?;
    Ok((resolved, steps))
}

/// `simulate` runs one trajectory and records it (one sweep point, one realisation, no
/// aggregation).
pub fn check_trajectory(resolved: &ResolvedSpec) -> Result<()> {
    if resolved.points().len() != 1 || resolved.points()[0].realizations != 1 {
        bail!(
            "simulate runs one trajectory; the spec has {} sweep point(s) x {} realisation(s): use `attnflow run`",
            resolved.points().len(),
            resolved.points()[0].realizations
        );
    }
    if resolved.points()[0].aggregate != Aggregate::None {
        bail!("simulate records the trajectory: set ensemble.aggregate = \"none\"");
    }
    Ok(())
}

pub fn simulate(args: SimulateArgs, matches: &ArgMatches, json: bool) -> Result<()> {
    let format = out_format(args.output.out.as_deref())?;
    let (resolved, steps) = prepare(&args, &|id| given(matches, id))?;
    if args.print_spec {
        return frontend::print_spec(&resolved);
    }
    check_trajectory(&resolved)?;
    if args.output.gif.is_some() {
        frontend::check_gif(&resolved)?;
    }
    let start = std::time::Instant::now();
    let output = attnflow_experiment::run(&resolved, &|_, _| {})?;
    let runtime_s = start.elapsed().as_secs_f64();
    let run = &output.points[0].runs.as_ref().context("one realisation")?[0];
    args.output.write(
        format,
        |format| match format {
            Format::Json => record_json(&resolved, &output),
            other => Ok(attnflow_experiment::encode(&output, other)?),
        },
        &output,
        json,
        vec![
            ("steps", steps.into()),
            ("runtime_s", runtime_s.into()),
            ("stats", serde_json::to_value(run.stats)?),
        ],
        &format!(
            "{} snapshots, {} steps of {}, {:.3} s",
            run.checkpoints.len(),
            resolved.points()[0].steps,
            resolved.points()[0].integrator.name(),
            runtime_s
        ),
    )
}

//! `attnflow phase-diagram`: \[GLPR\] Figures 3 and 5, P(<x_i(t), x_j(t)> > 1 - delta) on a
//! (t, beta) grid, a thin front end over the experiment spec. The flags build a `Spec` (or override
//! the fields of `--spec FILE`), which `attnflow_experiment::phase_diagram` runs with the engine's
//! phase-diagram runner (`run_phase_diagram`: the same numbers as before the spec existed, bit for
//! bit, and `attnflow run` gives the same probabilities for the printed spec):
//!
//! | flag | spec field |
//! |---|---|
//! | `--n`, `--d`, `--seed` | `n`, `d`, `seed` |
//! | `--beta-min`, `--beta-max`, `--betas` | `sweep = {parameter = "beta", linspace = {start, stop, count}}` |
//! | `--t-max`, `--times`, `--dt` | `time.t-max`, `time.checkpoints`, `time.dt` (rule `paper`) |
//! | `--realizations` | `ensemble.realizations` (`aggregate = "mean"`) |
//! | `--delta` | `observables = [{kind = "pair-fraction", delta}]` |
//! | `--model`, `--matrices` | `field.model`, `field.matrices` |
//! | `--integrator`, `--rtol`, `--atol`, `--representation` | `integrator.*` |
//! | `--no-consensus-exit` | `integrator.consensus-exit = false` |
//! | `--precision` | `integrator.precision` (`f64`, the default, or `f32`) |
//!
//! The output (`.json`) is the engine's phase-diagram record (`params`, `t`, `beta`, `probability`,
//! `stderr`, `pair12_probability`, `steps_integrated`) with the version and the resolved `spec`;
//! the runtime is printed, not written, so the same flags give the same bytes.

use super::frontend::{self, IntegratorOptions, LimitOptions, given};
use super::limits::Names;
use anyhow::{Context, Result, bail};
use attnflow_dynamics::validate::{DELTA, Domain};
use attnflow_dynamics::{
    MatrixEnsemble, ModelKind, PhaseDiagram, PhaseDiagramSpec, Precision, observables,
};
use attnflow_experiment::spec::{CheckpointRule, RepresentationSpec};
use attnflow_experiment::{
    Aggregate, Checkpoints, Linspace, ObservableKind, ObservableSpec, ResolvedSpec, Spec, SweepSpec,
};
use clap::{ArgMatches, ValueEnum};
use std::path::PathBuf;

/// Names of the quantities in limit messages.
const NAMES: Names = Names {
    n: "--n",
    d: "--d",
    dt: "--dt",
    t_max: "--t-max",
    checkpoints: "--times",
    realizations: "--realizations",
    points: "--betas",
};

#[derive(Clone, Copy, ValueEnum)]
pub enum MatricesArg {
    Identity,
    Ginibre,
    WignerPsd,
    GinibreGf,
    WignerGf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RepresentationArg {
    Auto,
    Full,
    Reduced,
}

#[derive(clap::Args)]
pub struct PhaseDiagramArgs {
    /// Start from this experiment spec (TOML or JSON, a phase diagram: pair-fraction averaged over
    /// realisations, swept over beta); the flags given override its fields, the other flags'
    /// defaults do not apply.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Print the resolved spec (every default filled in) as TOML and exit without running.
    #[arg(long)]
    pub print_spec: bool,
    /// Ambient dimension (particles on S^(d-1)); required unless --spec.
    #[arg(long, allow_negative_numbers = true, required_unless_present = "spec")]
    pub d: Option<usize>,
    /// Number of particles.
    #[arg(long, default_value_t = 32, allow_negative_numbers = true)]
    pub n: usize,
    /// Smallest inverse temperature.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub beta_min: f64,
    /// Largest inverse temperature.
    #[arg(long, default_value_t = 9.0, allow_negative_numbers = true)]
    pub beta_max: f64,
    /// Number of beta values, linspace(beta_min, beta_max).
    #[arg(long, default_value_t = 150, allow_negative_numbers = true)]
    pub betas: usize,
    /// Final time (the last checkpoint).
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    pub t_max: f64,
    /// Number of checkpoint times, linspace(0, t_max).
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub times: usize,
    /// Realisations per beta.
    #[arg(long, default_value_t = 1024, allow_negative_numbers = true)]
    pub realizations: usize,
    /// Threshold: a pair counts when <x_i, x_j> > 1 - delta.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub delta: f64,
    /// Step size (the paper's Euler step eta; the macro step of dp54 and rkmk45).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub dt: f64,
    /// Master seed: realisation r of beta index b draws from the streams (seed, b R + r, purpose).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Softmax (sa) or unnormalised (usa) attention.
    #[arg(long, value_enum, default_value = "sa")]
    pub model: ModelKind,
    /// Weight matrices ([GLPR] Figure 5), an independent draw per realisation.
    #[arg(long, value_enum, default_value = "identity")]
    pub matrices: MatricesArg,
    #[command(flatten)]
    pub integrator: IntegratorOptions,
    /// Coordinates to evolve: reduced (n x min(n, d), exact for Q = K = V = I) or full.
    #[arg(long, value_enum, default_value = "auto")]
    pub representation: RepresentationArg,
    /// Integrate every realisation to the end even after its points are provably locked in
    /// consensus (by default such a run stops and counts every pair at every later checkpoint,
    /// which is exact for paper-euler with identity matrices; see `consensus_locked`).
    #[arg(long)]
    pub no_consensus_exit: bool,
    /// Floating-point precision of the integration: f64 (the reference) or f32 (paper-euler only;
    /// the same draws rounded to f32, the same statistic; twice the SIMD lanes).
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: Precision,
    /// Output file (.json): probabilities, standard errors, the resolved parameters and spec.
    #[arg(long, required_unless_present = "print_spec")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitOptions,
    #[command(flatten)]
    pub distribute: super::distribute::DistributeOptions,
}

/// The flag that sets a spec field (for error messages).
fn flag_of(field: &str) -> Option<&'static str> {
    match field {
        "n" => Some("--n"),
        "d" => Some("--d"),
        "field.beta" => Some("--beta-min/--beta-max"),
        "time.dt" => Some("--dt"),
        "time.t-max" => Some("--t-max"),
        "time.checkpoints" => Some("--times"),
        "integrator.method" => Some("--integrator"),
        "integrator.rtol" => Some("--rtol"),
        "integrator.atol" => Some("--atol"),
        "integrator.representation" => Some("--representation"),
        "ensemble.realizations" => Some("--realizations"),
        f if f.starts_with("sweep") => Some("--beta-min/--beta-max/--betas"),
        f if f.starts_with("observables") => Some("--delta"),
        _ => None,
    }
}

/// The spec of the flags: `--spec FILE` (or the phase diagram's defaults) with the flags given on
/// top (`given(id)`: whether the flag `id` was given, not a default).
pub fn spec_of(args: &PhaseDiagramArgs, given: &dyn Fn(&str) -> bool) -> Result<Spec> {
    let apply_all = args.spec.is_none();
    let set = |id| apply_all || given(id);
    let mut spec = match &args.spec {
        Some(path) => frontend::read_spec(path)?,
        None => {
            let mut spec = Spec {
                observables: vec![ObservableSpec::of(ObservableKind::PairFraction)],
                ..Spec::default()
            };
            spec.time.checkpoint_rule = CheckpointRule::Paper;
            spec.ensemble.aggregate = Some(Aggregate::Mean);
            spec
        }
    };
    if let Some(d) = args.d {
        spec.d = Some(d);
    }
    if set("n") {
        spec.n = Some(args.n);
    }
    if set("beta_min") || set("beta_max") || set("betas") {
        let old = spec.sweep.as_ref().and_then(|s| s.linspace.clone());
        let pick = |id, flag: f64, old: Option<f64>| {
            if set(id) { flag } else { old.unwrap_or(flag) }
        };
        let linspace = Linspace {
            start: pick("beta_min", args.beta_min, old.as_ref().map(|l| l.start)),
            stop: pick("beta_max", args.beta_max, old.as_ref().map(|l| l.stop)),
            count: if set("betas") {
                args.betas
            } else {
                old.as_ref().map_or(args.betas, |l| l.count)
            },
        };
        spec.sweep = Some(SweepSpec {
            parameter: "beta".into(),
            values: None,
            linspace: Some(linspace),
        });
    }
    if set("t_max") {
        spec.time.t_max = args.t_max;
    }
    if set("times") {
        spec.time.checkpoints = Checkpoints::Count(args.times);
    }
    if set("realizations") {
        spec.ensemble.realizations = args.realizations;
    }
    if set("delta") {
        for o in &mut spec.observables {
            if o.kind == ObservableKind::PairFraction {
                o.delta = Some(args.delta);
            }
        }
    }
    if set("dt") {
        spec.time.dt = args.dt;
    }
    if set("seed") {
        spec.seed = args.seed;
    }
    if set("model") {
        spec.field.model = args.model;
    }
    if set("matrices") {
        spec.field.matrices = Some(match args.matrices {
            MatricesArg::Identity => MatrixEnsemble::Identity,
            MatricesArg::Ginibre => MatrixEnsemble::Ginibre,
            MatricesArg::WignerPsd => MatrixEnsemble::WignerPsd,
            MatricesArg::GinibreGf => MatrixEnsemble::GinibreGf,
            MatricesArg::WignerGf => MatrixEnsemble::WignerGf,
        });
        spec.field.heads = None;
    }
    args.integrator.apply(&mut spec, given, apply_all);
    if set("representation") {
        spec.integrator.representation = match args.representation {
            RepresentationArg::Auto => RepresentationSpec::Auto,
            RepresentationArg::Full => RepresentationSpec::Full,
            RepresentationArg::Reduced => RepresentationSpec::Reduced,
        };
    }
    if set("no_consensus_exit") {
        spec.integrator.consensus_exit = Some(!args.no_consensus_exit);
    }
    if set("precision") {
        spec.integrator.precision = args.precision;
    }
    Ok(spec)
}

/// The (start, stop, count) of the beta grid of a spec.
fn beta_grid(spec: &Spec) -> (f64, f64, usize) {
    match &spec.sweep {
        Some(SweepSpec {
            linspace: Some(l), ..
        }) => (l.start, l.stop, l.count),
        Some(SweepSpec {
            values: Some(v), ..
        }) => (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            v.len(),
        ),
        _ => (spec.field.beta, spec.field.beta, 1),
    }
}

/// Checks of the flags with the phase diagram's messages (before anything is resolved); returns
/// the number of steps.
pub fn check_flags(spec: &Spec, args: &PhaseDiagramArgs) -> Result<usize> {
    let (beta_min, beta_max, betas) = beta_grid(spec);
    let times = match &spec.time.checkpoints {
        Checkpoints::Count(c) => *c,
        Checkpoints::Times(t) => t.len(),
    };
    if betas == 0 || times == 0 {
        bail!("--betas and --times must be >= 1");
    }
    for (name, v) in [
        ("--beta-min", beta_min),
        ("--beta-max", beta_max),
        ("--t-max", spec.time.t_max),
    ] {
        if !Domain::NonNegative.contains(v) {
            bail!("{name} must be {}, got {v:?}", Domain::NonNegative);
        }
    }
    if beta_max < beta_min {
        bail!("--beta-max ({beta_max:?}) is below --beta-min ({beta_min:?})");
    }
    for o in &spec.observables {
        let delta = o.delta.unwrap_or(attnflow_experiment::spec::DEFAULT_DELTA);
        if !DELTA.contains(delta) {
            bail!("--delta must be {DELTA}, got {delta:?}");
        }
    }
    let n = spec.n.unwrap_or(attnflow_experiment::spec::DEFAULT_N);
    if n < 2 {
        bail!("--n must be >= 2 (a pair statistic), got {n}");
    }
    attnflow_dynamics::validate::check_dimensions(
        n,
        spec.d.unwrap_or(attnflow_experiment::spec::DEFAULT_D),
    )?;
    let steps = args.integrator.check_steps(spec, args.limits.max_steps)?;
    let realizations = spec.ensemble.realizations;
    betas
        .checked_mul(realizations)
        .with_context(|| format!("--betas {betas} x --realizations {realizations} overflows"))?;
    if times - 1 > steps {
        bail!(
            "--times {times} is finer than --dt: {steps} steps of {:?} give at most {} distinct checkpoints; use --times <= {} or a smaller --dt",
            spec.time.dt,
            steps + 1,
            steps + 1
        );
    }
    Ok(steps)
}

/// The resolved spec of the flags (`given(id)`: whether the flag `id` was given), its phase-diagram
/// spec and its number of steps, every check before resolving done (`--out` must be `.json`).
pub fn prepare(
    args: &PhaseDiagramArgs,
    given: &dyn Fn(&str) -> bool,
) -> Result<(ResolvedSpec, PhaseDiagramSpec, usize)> {
    if let Some(out) = &args.out
        && out.extension().and_then(|e| e.to_str()) != Some("json")
    {
        bail!("--out must be a .json file, got {}", out.display());
    }
    let spec = spec_of(args, given)?;
    let steps = check_flags(&spec, args)?;
    let resolved = frontend::resolve_checked(&spec, &args.limits.limits(), &NAMES, flag_of, true)?;
    let diagram_spec = resolved.phase_diagram_spec()?;
    Ok((resolved, diagram_spec, steps))
}

/// Checks that no two checkpoints but the first (t = 0, read after one step, the authors' rule)
/// fall on one step, which would mislabel the time axis.
pub fn check_checkpoints(diagram_spec: &PhaseDiagramSpec, steps: usize) -> Result<()> {
    let ck = observables::checkpoint_steps(&diagram_spec.times, diagram_spec.dt, steps)?;
    // the first checkpoint (t = 0) is read after one step, the authors' rule; any other two
    // checkpoints on one step would mislabel the time axis
    if let Some(w) = ck.windows(2).skip(1).position(|w| w[0] == w[1]) {
        bail!(
            "--times {} is finer than --dt {:?}: t = {:?} and t = {:?} are both read at step {}; use fewer --times or a smaller --dt",
            diagram_spec.times.len(),
            diagram_spec.dt,
            diagram_spec.times[w + 1],
            diagram_spec.times[w + 2],
            ck[w + 1]
        );
    }
    Ok(())
}

/// The phase-diagram record of `--out`: the engine's record with the version and the resolved
/// spec, without the runtime (the same flags give the same bytes).
pub fn record(resolved: &ResolvedSpec, diagram: &PhaseDiagram) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(diagram)?;
    if let Some(record) = value.as_object_mut() {
        // the runtime is printed, not recorded: the same flags give the same bytes
        record.remove("runtime_s");
        record.insert("spec".into(), serde_json::to_value(resolved.spec())?);
    }
    value["params"]["attnflow_version"] = env!("CARGO_PKG_VERSION").into();
    Ok(value)
}

pub fn phase_diagram(args: PhaseDiagramArgs, matches: &ArgMatches, json: bool) -> Result<()> {
    let (resolved, diagram_spec, steps) = prepare(&args, &|id| given(matches, id))?;
    if args.print_spec {
        return frontend::print_spec(&resolved);
    }
    check_checkpoints(&diagram_spec, steps)?;
    let Some(out) = &args.out else {
        bail!("--out is required to run a phase diagram");
    };
    let total = diagram_spec.betas.len() * diagram_spec.realizations;
    let bar = frontend::progress_bar(total);
    // alone, a shard (--shard i/N) or an MPI rank (cli::distribute): only the process that writes
    // the whole output goes on
    let progress = |done: usize, part: usize| {
        bar.set_length(part as u64);
        bar.set_position(done as u64);
    };
    let diagram =
        super::distribute::phase_diagram(&args.distribute, &resolved, out, json, &progress);
    bar.finish_and_clear();
    let Some(diagram) = diagram? else {
        return Ok(());
    };
    let value = record(&resolved, &diagram)?;
    crate::write_atomically(out, &serde_json::to_vec(&value)?)?;
    if json {
        super::io::print_line(
            &serde_json::json!({"out": out, "runtime_s": diagram.runtime_s}).to_string(),
        )?;
    } else {
        super::io::print_line(&format!(
            "wrote {} ({} betas x {} times x {} realisations, {} representation, {:.2} s)",
            out.display(),
            diagram_spec.betas.len(),
            diagram_spec.times.len(),
            diagram_spec.realizations,
            serde_json::to_value(diagram.params.representation_used)?
                .as_str()
                .unwrap_or("?"),
            diagram.runtime_s
        ))?;
    }
    Ok(())
}

//! The `attnflow` command line: simulations, phase diagrams, theory numbers and theorem checks.

use anyhow::{Context, Result, bail};
use attnflow_dynamics::{
    Configuration, IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec, Representation,
    SelfAttention, integrate, observables, run_phase_diagram, sampling,
};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

mod cli;

#[derive(Parser)]
#[command(
    name = "attnflow",
    version,
    about = "Self-attention as an interacting particle system on the sphere ([GLPR], [BKKRW])",
    after_help = "Exit status: 0 on success (also when standard output is a pipe closed early: the --out file is \
written first), 1 for a refused input or a failed run (one line `error: ...` on stderr; a full standard output too), \
2 for a command line that cannot be parsed.\n\
Limits: simulate and phase-diagram estimate their memory and step count before any work and refuse runs above \
--max-memory (default: MemAvailable) or --max-steps (default 10000000).\n\
Numbers: JSON and CSV outputs write non-finite values as \"inf\", \"-inf\" or \"nan\" (null / an empty field means \
undefined); outputs are replaced atomically."
)]
struct Cli {
    /// Machine-readable output (one JSON object) where a command prints a result.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Integrate one particle system from uniform random initial points and write its trajectory.
    Simulate(SimulateArgs),
    /// Estimate P(<x_1(t), x_2(t)> > 1 - delta) on a (t, beta) grid ([GLPR] Figures 3 and 5).
    PhaseDiagram(PhaseDiagramArgs),
    /// Numbers predicted by the theory (equiangular ODEs, phase curve, Wendel, energies, ...).
    #[command(subcommand)]
    Theory(cli::theory::TheoryCommand),
    /// Run the theorem checks of [GLPR] and [BKKRW] (measured vs predicted); exit 1 if any fails.
    Verify(cli::verify::VerifyArgs),
    /// Run an experiment written as data: a TOML or JSON spec (field, initial condition,
    /// integrator, observables, ensemble, sweep); see crates/experiment/examples/specs.
    Run(cli::run::RunArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelArg {
    Sa,
    Usa,
}

#[derive(Clone, Copy, ValueEnum)]
enum IntegratorArg {
    PaperEuler,
    Rk4,
    Dp54,
}

#[derive(Clone, Copy, ValueEnum)]
enum MatricesArg {
    Identity,
    Ginibre,
    WignerPsd,
    GinibreGf,
    WignerGf,
}

#[derive(Clone, Copy, ValueEnum)]
enum RepresentationArg {
    Auto,
    Full,
    Reduced,
}

#[derive(clap::Args)]
struct IntegratorOptions {
    /// Time integrator: the authors' Euler + renormalisation, RK4 + projection, or adaptive Dormand-Prince 5(4).
    #[arg(long, value_enum, default_value = "paper-euler")]
    integrator: IntegratorArg,
    /// Relative tolerance of dp54.
    #[arg(long, default_value_t = 1e-8, allow_negative_numbers = true)]
    rtol: f64,
    /// Absolute tolerance of dp54.
    #[arg(long, default_value_t = 1e-10, allow_negative_numbers = true)]
    atol: f64,
}

impl IntegratorOptions {
    fn kind(&self) -> IntegratorKind {
        match self.integrator {
            IntegratorArg::PaperEuler => IntegratorKind::PaperEuler,
            IntegratorArg::Rk4 => IntegratorKind::Rk4,
            IntegratorArg::Dp54 => IntegratorKind::Dp54 {
                rtol: self.rtol,
                atol: self.atol,
            },
        }
    }
}

/// Caps checked before any work (see `cli::limits`).
#[derive(clap::Args)]
struct LimitOptions {
    /// Most steps of one trajectory (t-max / dt) accepted; raise it deliberately for long runs.
    #[arg(long, default_value_t = cli::limits::DEFAULT_MAX_STEPS, value_name = "STEPS", allow_negative_numbers = true)]
    max_steps: u64,
    /// Memory the run may use, e.g. 8G, 512M, 1e9 (bytes); default: MemAvailable of /proc/meminfo
    /// (8 GiB where unknown). The estimate is checked before anything is allocated.
    #[arg(long, value_parser = cli::limits::parse_bytes, value_name = "BYTES", allow_hyphen_values = true)]
    max_memory: Option<u64>,
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Softmax (sa) or unnormalised (usa) attention.
    #[arg(long, value_enum, default_value = "sa")]
    model: ModelArg,
    /// Number of particles.
    #[arg(long, allow_negative_numbers = true)]
    n: usize,
    /// Ambient dimension (particles on S^(d-1)).
    #[arg(long, allow_negative_numbers = true)]
    d: usize,
    /// Inverse temperature.
    #[arg(long, allow_negative_numbers = true)]
    beta: f64,
    /// Final time.
    #[arg(long, allow_negative_numbers = true)]
    t_max: f64,
    /// Step size (macro step for dp54).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    dt: f64,
    #[command(flatten)]
    integrator: IntegratorOptions,
    /// Master seed of the initial condition.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: u64,
    /// Number of equispaced checkpoint times in [0, t_max] (read at the first step with k dt >= t).
    #[arg(long, default_value_t = 11, allow_negative_numbers = true)]
    checkpoints: usize,
    /// Threshold delta of the cluster statistics.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    delta: f64,
    /// Output file: .json (statistics, and positions when d <= 3) or .csv (statistics).
    /// Non-finite numbers are written as "inf", "-inf" or "nan"; null / an empty field means undefined.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    limits: LimitOptions,
}

#[derive(clap::Args)]
struct PhaseDiagramArgs {
    /// Ambient dimension (particles on S^(d-1)).
    #[arg(long, allow_negative_numbers = true)]
    d: usize,
    /// Number of particles.
    #[arg(long, default_value_t = 32, allow_negative_numbers = true)]
    n: usize,
    /// Smallest inverse temperature.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    beta_min: f64,
    /// Largest inverse temperature.
    #[arg(long, default_value_t = 9.0, allow_negative_numbers = true)]
    beta_max: f64,
    /// Number of beta values, linspace(beta_min, beta_max).
    #[arg(long, default_value_t = 150, allow_negative_numbers = true)]
    betas: usize,
    /// Final time (the last checkpoint).
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    t_max: f64,
    /// Number of checkpoint times, linspace(0, t_max).
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    times: usize,
    /// Realisations per beta.
    #[arg(long, default_value_t = 1024, allow_negative_numbers = true)]
    realizations: usize,
    /// Threshold: a pair counts when <x_i, x_j> > 1 - delta.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    delta: f64,
    /// Step size (the paper's Euler step eta; the macro step of dp54).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    dt: f64,
    /// Master seed: realisation r of beta index b draws from the streams (seed, b R + r, purpose).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: u64,
    /// Softmax (sa) or unnormalised (usa) attention.
    #[arg(long, value_enum, default_value = "sa")]
    model: ModelArg,
    /// Weight matrices ([GLPR] Figure 5), an independent draw per realisation.
    #[arg(long, value_enum, default_value = "identity")]
    matrices: MatricesArg,
    #[command(flatten)]
    integrator: IntegratorOptions,
    /// Coordinates to evolve: reduced (n x min(n, d), exact for Q = K = V = I) or full.
    #[arg(long, value_enum, default_value = "auto")]
    representation: RepresentationArg,
    /// Integrate every realisation to the end even after its points are provably locked in
    /// consensus (by default such a run stops and counts every pair at every later checkpoint,
    /// which is exact for paper-euler with identity matrices; see `consensus_locked`).
    #[arg(long)]
    no_consensus_exit: bool,
    /// Output file (.json): probabilities, standard errors and the resolved parameters.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    limits: LimitOptions,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => simulate(args, cli.json),
        Command::PhaseDiagram(args) => phase_diagram(args, cli.json),
        Command::Theory(cmd) => cli::theory::run(cmd, cli.json),
        Command::Verify(args) => cli::verify::run(args, cli.json),
        Command::Run(args) => cli::run::run(args, cli.json),
    };
    if let Err(e) = result {
        // a closed pipe: the reader wanted no more; whatever --out names is already written
        if e.chain().any(|c| {
            c.downcast_ref::<cli::io::StdoutError>()
                .is_some_and(cli::io::StdoutError::is_broken_pipe)
                || c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            std::process::exit(0);
        }
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "error: {e:#}");
        std::process::exit(1);
    }
}

/// Writes `contents` to `path` atomically (the workspace's one writer: unique temporary sibling,
/// fsync, rename, removed on error).
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    attnflow_dynamics::output::write_atomic(path, contents)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Bytes of one f64.
const F64: f64 = 8.0;

fn model_kind(m: ModelArg) -> ModelKind {
    match m {
        ModelArg::Sa => ModelKind::Sa,
        ModelArg::Usa => ModelKind::Usa,
    }
}

#[derive(serde::Serialize)]
struct Snapshot {
    step: usize,
    #[serde(serialize_with = "cli::io::serialize_number")]
    t: f64,
    #[serde(serialize_with = "cli::io::serialize_number")]
    mean_inner_product: f64,
    #[serde(serialize_with = "cli::io::serialize_number")]
    min_inner_product: f64,
    #[serde(serialize_with = "cli::io::serialize_number")]
    fraction_pairs_above: f64,
    clusters: usize,
    #[serde(serialize_with = "cli::io::serialize_optional_number")]
    energy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    positions: Option<Vec<Vec<f64>>>,
}

fn simulate(args: SimulateArgs, json: bool) -> Result<()> {
    let format = match args.out.extension().and_then(|e| e.to_str()) {
        Some("json") => "json",
        Some("csv") => "csv",
        _ => bail!(
            "--out must end in .json or .csv, got {}",
            args.out.display()
        ),
    };
    if args.checkpoints == 0 {
        bail!("--checkpoints must be >= 1");
    }
    if !(args.delta > 0.0 && args.delta < 2.0) {
        bail!("--delta must lie in (0, 2), got {:?}", args.delta);
    }
    attnflow_dynamics::error::check_sizes(args.n, args.d)?;
    let kind = args.integrator.kind();
    kind.build()?;
    let steps = cli::limits::step_count(args.t_max, args.dt, args.limits.max_steps)?;
    if args.checkpoints - 1 > steps {
        bail!(
            "--checkpoints {} is finer than --dt: {steps} steps of {:?} give at most {} distinct checkpoints; use --checkpoints <= {} or a smaller --dt",
            args.checkpoints,
            args.dt,
            steps + 1,
            steps + 1
        );
    }
    {
        let (n, d, c) = (args.n as f64, args.d as f64, args.checkpoints as f64);
        let mut m = cli::limits::MemoryEstimate::default();
        m.add(
            "state and integrator stages",
            n * d * 12.0,
            F64,
            "use a smaller --n or --d",
        );
        m.add(
            "Gram and weight matrices",
            n * n * 4.0,
            F64,
            "use a smaller --n",
        );
        let per_snapshot = 600.0 + if args.d <= 3 { n * d * 100.0 } else { 0.0 };
        m.add(
            "snapshots and their output",
            c,
            per_snapshot,
            "use fewer --checkpoints",
        );
        m.check(args.limits.max_memory)?;
    }
    let model = match args.model {
        ModelArg::Sa => SelfAttention::sa(args.beta)?,
        ModelArg::Usa => SelfAttention::usa(args.beta)?,
    };
    let x0 = sampling::uniform_sphere(
        args.n,
        args.d,
        &mut sampling::stream(args.seed, 0, sampling::Purpose::InitialCondition),
    )?;
    let mut integrator = kind.build()?;
    let times = observables::linspace(0.0, args.t_max, args.checkpoints);
    let ck = observables::checkpoint_steps_from(&times, args.dt, 0, steps)?;
    if let Some(w) = ck.windows(2).position(|w| w[0] == w[1]) {
        bail!(
            "--checkpoints {} is finer than --dt {:?}: t = {:?} and t = {:?} are both read at step {}; use fewer --checkpoints or a smaller --dt",
            args.checkpoints,
            args.dt,
            times[w],
            times[w + 1],
            ck[w]
        );
    }
    let (n, d) = (args.n, args.d);
    let mut snapshots = Vec::new();
    let start = std::time::Instant::now();
    integrate(
        &model,
        integrator.as_mut(),
        &x0,
        args.dt,
        steps,
        |k, t, x| {
            if ck.binary_search(&k).is_err() {
                return;
            }
            let Ok(cfg) = Configuration::euclidean(n, d, x.to_vec()) else {
                return; // unreachable: the integrator checks every state (shape and finiteness)
            };
            let g = cfg.gram();
            let off: f64 = (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| g[i * n + j])
                .sum();
            snapshots.push(Snapshot {
                step: k,
                t,
                mean_inner_product: if n > 1 {
                    off / (n * (n - 1)) as f64
                } else {
                    1.0
                },
                min_inner_product: observables::min_inner_product(&g, n),
                fraction_pairs_above: observables::fraction_pairs_above(&g, n, 1.0 - args.delta),
                clusters: observables::cluster_count(&g, n, args.delta),
                energy: observables::energy(&cfg, args.beta).ok(),
                positions: (d <= 3)
                    .then(|| cfg.as_slice().chunks(d).map(<[f64]>::to_vec).collect()),
            });
        },
    )?;
    let runtime_s = start.elapsed().as_secs_f64();
    let stats = integrator.stats();
    let body = if format == "json" {
        serde_json::to_vec_pretty(&serde_json::json!({
            "params": {
                "model": match args.model { ModelArg::Sa => "sa", ModelArg::Usa => "usa" },
                "n": n, "d": d, "beta": args.beta, "t_max": args.t_max, "dt": args.dt, "steps": steps,
                "integrator": kind, "seed": args.seed, "delta": args.delta,
                "checkpoint_rule": "first step k >= 0 with k dt >= t",
                "non_finite_encoding": "\"inf\", \"-inf\", \"nan\"; null = undefined",
                "attnflow_version": env!("CARGO_PKG_VERSION"),
            },
            "integrator_stats": stats,
            "runtime_s": runtime_s,
            "snapshots": snapshots,
        }))?
    } else {
        let mut s = String::from(
            "step,t,mean_inner_product,min_inner_product,fraction_pairs_above,clusters,energy\n",
        );
        for r in &snapshots {
            s += &format!(
                "{},{},{},{},{},{},{}\n",
                r.step,
                cli::io::csv_number(r.t),
                cli::io::csv_number(r.mean_inner_product),
                cli::io::csv_number(r.min_inner_product),
                cli::io::csv_number(r.fraction_pairs_above),
                r.clusters,
                r.energy.map_or(String::new(), cli::io::csv_number)
            );
        }
        s.into_bytes()
    };
    write_atomically(&args.out, &body)?;
    if json {
        cli::io::print_line(
            &serde_json::json!({"out": args.out, "steps": steps, "runtime_s": runtime_s, "stats": stats})
                .to_string(),
        )?;
    } else {
        cli::io::print_line(&format!(
            "wrote {} ({} snapshots, {} steps of {}, {:.3} s)",
            args.out.display(),
            snapshots.len(),
            steps,
            kind.name(),
            runtime_s
        ))?;
    }
    Ok(())
}

fn phase_diagram(args: PhaseDiagramArgs, json: bool) -> Result<()> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("json") {
        bail!("--out must be a .json file, got {}", args.out.display());
    }
    if args.betas == 0 || args.times == 0 {
        bail!("--betas and --times must be >= 1");
    }
    for (name, v) in [
        ("--beta-min", args.beta_min),
        ("--beta-max", args.beta_max),
        ("--t-max", args.t_max),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            bail!("{name} must be finite and >= 0, got {v:?}");
        }
    }
    if args.beta_max < args.beta_min {
        bail!(
            "--beta-max ({:?}) is below --beta-min ({:?})",
            args.beta_max,
            args.beta_min
        );
    }
    if !(args.delta > 0.0 && args.delta < 2.0) {
        bail!("--delta must lie in (0, 2), got {:?}", args.delta);
    }
    if args.n < 2 {
        bail!("--n must be >= 2 (a pair statistic), got {}", args.n);
    }
    attnflow_dynamics::error::check_dimensions(args.n, args.d)?;
    args.integrator.kind().build()?;
    let steps = cli::limits::step_count(args.t_max, args.dt, args.limits.max_steps)?;
    let total = args.betas.checked_mul(args.realizations).with_context(|| {
        format!(
            "--betas {} x --realizations {} overflows",
            args.betas, args.realizations
        )
    })?;
    if args.times - 1 > steps {
        bail!(
            "--times {} is finer than --dt: {steps} steps of {:?} give at most {} distinct checkpoints; use --times <= {} or a smaller --dt",
            args.times,
            args.dt,
            steps + 1,
            steps + 1
        );
    }
    {
        let identity = matches!(args.matrices, MatricesArg::Identity);
        let reduced = match args.representation {
            RepresentationArg::Reduced => true,
            RepresentationArg::Full => false,
            RepresentationArg::Auto => identity && args.d > args.n,
        };
        let (n, nb, m) = (args.n as f64, args.betas as f64, args.times as f64);
        let dim = if reduced {
            n.min(args.d as f64)
        } else {
            args.d as f64
        };
        let threads = std::thread::available_parallelism().map_or(1.0, |t| t.get() as f64);
        let jobs = nb * args.realizations.div_ceil(16) as f64;
        let mut est = cli::limits::MemoryEstimate::default();
        est.add(
            "beta and time grids",
            nb + m,
            6.0 * F64,
            "use fewer --betas or --times",
        );
        est.add(
            "per-step checkpoint table",
            steps as f64 + 1.0,
            24.0,
            "use a larger --dt",
        );
        est.add(
            "per-block tallies",
            jobs,
            32.0 * m + 100.0,
            "use fewer --realizations, --betas or --times",
        );
        est.add(
            "results and their JSON",
            nb * m,
            3.0 * 70.0,
            "use fewer --betas or --times",
        );
        est.add(
            "state and Gram matrices per thread",
            threads,
            (n * dim * 12.0 + n * n * 6.0) * F64,
            "use a smaller --n or --d",
        );
        if !identity {
            est.add(
                "weight matrices per thread",
                threads,
                8.0 * (args.d as f64).powi(2) * F64,
                "use a smaller --d",
            );
        }
        est.check(args.limits.max_memory)?;
    }
    let spec = PhaseDiagramSpec {
        n: args.n,
        d: args.d,
        betas: observables::linspace(args.beta_min, args.beta_max, args.betas),
        times: observables::linspace(0.0, args.t_max, args.times),
        dt: args.dt,
        realizations: args.realizations,
        delta: args.delta,
        seed: args.seed,
        model: model_kind(args.model),
        matrices: match args.matrices {
            MatricesArg::Identity => MatrixEnsemble::Identity,
            MatricesArg::Ginibre => MatrixEnsemble::Ginibre,
            MatricesArg::WignerPsd => MatrixEnsemble::WignerPsd,
            MatricesArg::GinibreGf => MatrixEnsemble::GinibreGf,
            MatricesArg::WignerGf => MatrixEnsemble::WignerGf,
        },
        integrator: args.integrator.kind(),
        representation: match args.representation {
            RepresentationArg::Auto => None,
            RepresentationArg::Full => Some(Representation::Full),
            RepresentationArg::Reduced => Some(Representation::Reduced),
        },
        consensus_exit: !args.no_consensus_exit,
    };
    spec.validate()?;
    let ck = observables::checkpoint_steps(&spec.times, spec.dt, steps)?;
    // the first checkpoint (t = 0) is read after one step, the authors' rule; any other two
    // checkpoints on one step would mislabel the time axis
    if let Some(w) = ck.windows(2).skip(1).position(|w| w[0] == w[1]) {
        bail!(
            "--times {} is finer than --dt {:?}: t = {:?} and t = {:?} are both read at step {}; use fewer --times or a smaller --dt",
            args.times,
            args.dt,
            spec.times[w + 1],
            spec.times[w + 2],
            ck[w + 1]
        );
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} realisations [{elapsed_precise} < {eta_precise}]",
        )
        .expect("static template"),
    );
    let diagram = run_phase_diagram(&spec, &|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let mut value = serde_json::to_value(&diagram)?;
    value["params"]["attnflow_version"] = env!("CARGO_PKG_VERSION").into();
    write_atomically(&args.out, &serde_json::to_vec(&value)?)?;
    if json {
        cli::io::print_line(
            &serde_json::json!({"out": args.out, "runtime_s": diagram.runtime_s}).to_string(),
        )?;
    } else {
        cli::io::print_line(&format!(
            "wrote {} ({} betas x {} times x {} realisations, {} representation, {:.2} s)",
            args.out.display(),
            spec.betas.len(),
            spec.times.len(),
            spec.realizations,
            serde_json::to_value(diagram.params.representation_used)?
                .as_str()
                .unwrap_or("?"),
            diagram.runtime_s
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every option and positional argument of every subcommand has a help text.
    #[test]
    fn every_option_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "attnflow", &mut missing);
        assert!(missing.is_empty(), "options without help: {missing:?}");
    }
}

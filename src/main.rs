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
    about = "Self-attention as an interacting particle system on the sphere ([GLPR], [BKKRW])"
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
    #[arg(long, default_value_t = 1e-8)]
    rtol: f64,
    /// Absolute tolerance of dp54.
    #[arg(long, default_value_t = 1e-10)]
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

#[derive(clap::Args)]
struct SimulateArgs {
    #[arg(long, value_enum, default_value = "sa")]
    model: ModelArg,
    /// Number of particles.
    #[arg(long)]
    n: usize,
    /// Ambient dimension (particles on S^(d-1)).
    #[arg(long)]
    d: usize,
    /// Inverse temperature.
    #[arg(long)]
    beta: f64,
    /// Final time.
    #[arg(long)]
    t_max: f64,
    /// Step size (macro step for dp54).
    #[arg(long, default_value_t = 0.1)]
    dt: f64,
    #[command(flatten)]
    integrator: IntegratorOptions,
    /// Master seed of the initial condition.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of equispaced checkpoint times in [0, t_max] (read at the first step with k dt >= t).
    #[arg(long, default_value_t = 11)]
    checkpoints: usize,
    /// Threshold delta of the cluster statistics.
    #[arg(long, default_value_t = 1e-3)]
    delta: f64,
    /// Output file: .json (statistics, and positions when d <= 3) or .csv (statistics).
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct PhaseDiagramArgs {
    #[arg(long)]
    d: usize,
    #[arg(long, default_value_t = 32)]
    n: usize,
    #[arg(long, default_value_t = 0.1)]
    beta_min: f64,
    #[arg(long, default_value_t = 9.0)]
    beta_max: f64,
    /// Number of beta values, linspace(beta_min, beta_max).
    #[arg(long, default_value_t = 150)]
    betas: usize,
    #[arg(long, default_value_t = 30.0)]
    t_max: f64,
    /// Number of checkpoint times, linspace(0, t_max).
    #[arg(long, default_value_t = 200)]
    times: usize,
    /// Realisations per beta.
    #[arg(long, default_value_t = 1024)]
    realizations: usize,
    #[arg(long, default_value_t = 1e-3)]
    delta: f64,
    #[arg(long, default_value_t = 0.1)]
    dt: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
    #[arg(long)]
    out: PathBuf,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => simulate(args, cli.json),
        Command::PhaseDiagram(args) => phase_diagram(args, cli.json),
        Command::Theory(cmd) => cli::theory::run(cmd, cli.json),
        Command::Verify(args) => cli::verify::run(args, cli.json),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Writes `contents` to `path` atomically (temporary file in the same folder, then rename).
fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("out")
    ));
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

fn model_kind(m: ModelArg) -> ModelKind {
    match m {
        ModelArg::Sa => ModelKind::Sa,
        ModelArg::Usa => ModelKind::Usa,
    }
}

#[derive(serde::Serialize)]
struct Snapshot {
    step: usize,
    t: f64,
    mean_inner_product: f64,
    min_inner_product: f64,
    fraction_pairs_above: f64,
    clusters: usize,
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
    if !(args.t_max.is_finite() && args.t_max > 0.0) {
        bail!("--t-max must be finite and > 0, got {}", args.t_max);
    }
    if !(args.delta > 0.0 && args.delta < 2.0) {
        bail!("--delta must lie in (0, 2), got {}", args.delta);
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
    let kind = args.integrator.kind();
    let mut integrator = kind.build()?;
    let steps = ((args.t_max / args.dt - 1e-9).ceil() as usize).max(1);
    let times = observables::linspace(0.0, args.t_max, args.checkpoints);
    let ck = observables::checkpoint_steps_from(&times, args.dt, 0, steps)?;
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
            if !ck.contains(&k) {
                return;
            }
            let cfg = Configuration::euclidean(n, d, x.to_vec())
                .expect("integrator keeps the state finite");
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
                r.t,
                r.mean_inner_product,
                r.min_inner_product,
                r.fraction_pairs_above,
                r.clusters,
                r.energy.map_or(String::new(), |e| e.to_string())
            );
        }
        s.into_bytes()
    };
    write_atomically(&args.out, &body)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"out": args.out, "steps": steps, "runtime_s": runtime_s, "stats": stats})
        );
    } else {
        println!(
            "wrote {} ({} snapshots, {} steps of {}, {:.3} s)",
            args.out.display(),
            snapshots.len(),
            steps,
            kind.name(),
            runtime_s
        );
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
            bail!("{name} must be finite and >= 0, got {v}");
        }
    }
    if args.beta_max < args.beta_min {
        bail!(
            "--beta-max ({}) is below --beta-min ({})",
            args.beta_max,
            args.beta_min
        );
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
    let bar = indicatif::ProgressBar::new((spec.betas.len() * spec.realizations) as u64);
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
        println!(
            "{}",
            serde_json::json!({"out": args.out, "runtime_s": diagram.runtime_s})
        );
    } else {
        println!(
            "wrote {} ({} betas x {} times x {} realisations, {} representation, {:.2} s)",
            args.out.display(),
            spec.betas.len(),
            spec.times.len(),
            spec.realizations,
            serde_json::to_value(diagram.params.representation_used)?
                .as_str()
                .unwrap_or("?"),
            diagram.runtime_s
        );
    }
    Ok(())
}

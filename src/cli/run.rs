//! `attnflow run SPEC`: runs an experiment written as data (a TOML or JSON spec read by
//! `attnflow-experiment`: field, initial condition, integrator and time grid, observables, ensemble
//! and sweep; every random number from the stream (seed, index, purpose)). The resolved spec
//! (every default filled in) is printed with `--print-spec`; the results are written as JSON, CSV,
//! `.npy` or `.npz` by the extension of `--out` (`attnflow_experiment::export`), without runtimes,
//! so the same spec gives the same bytes. Limits (memory, steps, work) are checked before the spec
//! is resolved and again before it runs.

use super::frontend::{self, LimitOptions, OutputOptions};
use super::limits::Limits;
use super::limits::SPEC_NAMES;
use anyhow::{Context, Result};
use attnflow_experiment::{Format, ResolvedSpec, Spec};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The experiment spec, `.toml` or `.json` (examples: crates/experiment/examples/specs).
    pub spec: PathBuf,
    /// Print the resolved spec (every default filled in) as TOML and exit without running.
    #[arg(long)]
    pub print_spec: bool,
    #[command(flatten)]
    pub output: OutputOptions,
    #[command(flatten)]
    pub limits: LimitOptions,
    #[command(flatten)]
    pub distribute: super::distribute::DistributeOptions,
}

fn no_flag(_: &str) -> Option<&'static str> {
    None
}

/// The resolved spec of `spec` (read from `label`, named in messages), checked against the limits
/// before and after resolving; `gif` adds the positions observable.
pub fn prepare(mut spec: Spec, label: &str, limits: &Limits, gif: bool) -> Result<ResolvedSpec> {
    if gif {
        frontend::enable_positions(&mut spec);
    }
    frontend::resolve_checked(&spec, limits, &SPEC_NAMES, no_flag, false)
        .with_context(|| format!("spec {label}"))
}

pub fn run(args: RunArgs, json: bool) -> Result<()> {
    let format = args
        .output
        .out
        .as_deref()
        .map(Format::of_path)
        .transpose()?;
    let spec = frontend::read_spec(&args.spec)?;
    let resolved = prepare(
        spec,
        &args.spec.display().to_string(),
        &args.limits.limits(),
        args.output.gif.is_some(),
    )?;
    if args.print_spec {
        return frontend::print_spec(&resolved);
    }
    if args.output.gif.is_some() {
        frontend::check_gif(&resolved)?;
    }
    let total: usize = resolved.points().iter().map(|p| p.realizations).sum();
    let bar = frontend::progress_bar(total);
    let start = std::time::Instant::now();
    // alone, a shard (--shard i/N) or an MPI rank (cli::distribute): only the process that writes
    // the whole output goes on
    let progress = |done: usize, part: usize| {
        bar.set_length(part as u64);
        bar.set_position(done as u64);
    };
    let output = super::distribute::run(
        &args.distribute,
        &resolved,
        args.output.out.as_deref(),
        args.output.gif.as_deref(),
        json,
        &progress,
    );
    bar.finish_and_clear();
    let Some(output) = output? else {
        return Ok(());
    };
    let seconds = start.elapsed().as_secs_f64();
    args.output.write(
        format,
        |format| Ok(attnflow_experiment::encode(&output, format)?),
        &output,
        json,
        vec![("runtime_s", seconds.into())],
        &format!(
            "{} sweep point(s), {total} realisation(s), {seconds:.2} s",
            resolved.points().len()
        ),
    )
}

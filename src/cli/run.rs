//! `attnflow run SPEC`: runs an experiment written as data (a TOML or JSON spec read by
//! `attnflow-experiment`: field, initial condition, integrator and time grid, observables, ensemble
//! and sweep; every random number from the stream (seed, index, purpose)). The resolved spec
//! (every default filled in) is printed with `--print-spec`; the results are written as JSON, CSV,
//! `.npy` or `.npz` by the extension of `--out` (`attnflow_experiment::export`), without runtimes,
//! so the same spec gives the same bytes. Limits (memory, steps, work) are checked before the spec
//! is resolved and again before it runs.

use super::frontend::{self, LimitOptions, OutputOptions};
use super::limits::SPEC_NAMES;
use anyhow::{Context, Result};
use attnflow_experiment::Format;
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
}

fn no_flag(_: &str) -> Option<&'static str> {
    None
}

pub fn run(args: RunArgs, json: bool) -> Result<()> {
    let format = args
        .output
        .out
        .as_deref()
        .map(Format::of_path)
        .transpose()?;
    let mut spec = frontend::read_spec(&args.spec)?;
    if args.output.gif.is_some() {
        frontend::enable_positions(&mut spec);
    }
    let resolved =
        frontend::resolve_checked(&spec, &args.limits.limits(), &SPEC_NAMES, no_flag, false)
            .with_context(|| format!("spec {}", args.spec.display()))?;
    if args.print_spec {
        return frontend::print_spec(&resolved);
    }
    if args.output.gif.is_some() {
        frontend::check_gif(&resolved)?;
    }
    let total: usize = resolved.points().iter().map(|p| p.realizations).sum();
    let bar = frontend::progress_bar(total);
    let start = std::time::Instant::now();
    let output = attnflow_experiment::run(&resolved, &|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
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

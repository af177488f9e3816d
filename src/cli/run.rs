//! `attnflow run SPEC`: runs an experiment written as data (a TOML or JSON spec read by
//! `attnflow-experiment`: field, initial condition, integrator and time grid, observables, ensemble
//! and sweep; every random number from the stream (seed, index, purpose)). The resolved spec
//! (every default filled in) is printed with `--print-spec`; the results are written as JSON,
//! without runtimes, so the same spec gives the same bytes.

use anyhow::{Context, Result};
use attnflow_experiment::Spec;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The experiment spec, `.toml` or `.json` (examples: crates/experiment/examples/specs).
    pub spec: PathBuf,
    /// Print the resolved spec (every default filled in) as TOML and exit without running.
    #[arg(long)]
    pub print_spec: bool,
    /// Output file (`.json`): the resolved spec and, per sweep point, the observables at the
    /// checkpoints. Required unless --print-spec.
    #[arg(long, required_unless_present = "print_spec")]
    pub out: Option<PathBuf>,
}

pub fn run(args: RunArgs, json: bool) -> Result<()> {
    let resolved = Spec::from_path(&args.spec)
        .and_then(|spec| spec.resolve())
        .with_context(|| format!("spec {}", args.spec.display()))?;
    for warning in resolved.warnings() {
        eprintln!("warning: {warning}");
    }
    if args.print_spec {
        return Ok(super::io::print_line(
            resolved.to_toml_string()?.trim_end(),
        )?);
    }
    let Some(out) = args.out else {
        anyhow::bail!("--out is required to run a spec");
    };
    let total: usize = resolved.points().iter().map(|p| p.realizations).sum();
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} realisations [{elapsed_precise} < {eta_precise}]",
        )
        .expect("static template"),
    );
    let start = std::time::Instant::now();
    let output = attnflow_experiment::run(&resolved, &|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    crate::write_atomically(&out, &serde_json::to_vec(&output)?)?;
    if json {
        super::io::print_line(&serde_json::json!({"out": out, "runtime_s": seconds}).to_string())?;
    } else {
        super::io::print_line(&format!(
            "wrote {} ({} sweep point(s), {total} realisation(s), {seconds:.2} s)",
            out.display(),
            resolved.points().len()
        ))?;
    }
    Ok(())
}

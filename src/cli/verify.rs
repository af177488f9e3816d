//! `attnflow verify`: the theorem-check suite of attnflow-verify (issue 3). Runs every registered check (or the
//! ones named with `--only`) at fidelity `ci` (seconds) or `full` (minutes), prints the table of predicted vs
//! measured values (or one JSON object with `--json`), optionally writes the Markdown report
//! (`--write-report reports/THEOREMS.md`), and fails (exit code 1) when any check fails.

use anyhow::{Context, Result, bail};
use attnflow_verify::{Fidelity, SuiteReport, run_checks};
use std::path::PathBuf;

/// Fidelity selectable on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FidelityArg {
    /// Seconds per check (the suite `cargo test` runs).
    Ci,
    /// Minutes for the whole suite.
    Full,
}

/// `attnflow verify` options.
#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    /// How much work each check does.
    #[arg(long, value_enum, default_value = "ci")]
    pub fidelity: FidelityArg,
    /// Run only this check (repeatable), e.g. `--only thm-6.8 --only prop-3.4`.
    #[arg(long = "only", value_name = "ID")]
    pub only: Vec<String>,
    /// Also write the Markdown report (table of predicted vs measured) to this file.
    #[arg(long, value_name = "PATH")]
    pub write_report: Option<PathBuf>,
}

/// Writes `text` to standard output (this module is also compiled into attnflow-verify's example,
/// so it does not use the binary's `cli::io`): an error names standard output and keeps the
/// `std::io::Error`, so that `main` can end quietly on a closed pipe.
fn to_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// Runs the checks of `args` (an error if an id is unknown).
pub fn suite(args: &VerifyArgs) -> Result<SuiteReport> {
    let fidelity = match args.fidelity {
        FidelityArg::Ci => Fidelity::Ci,
        FidelityArg::Full => Fidelity::Full,
    };
    let start = std::time::Instant::now();
    let outcomes = run_checks(fidelity, &args.only)?;
    Ok(SuiteReport::new(
        fidelity,
        outcomes,
        start.elapsed().as_secs_f64(),
    ))
}

/// Writes the Markdown report to `--write-report`, when given.
pub fn write_report(args: &VerifyArgs, report: &SuiteReport) -> Result<()> {
    if let Some(path) = &args.write_report {
        let mut command = format!("attnflow verify --fidelity {}", report.fidelity.name());
        for id in &args.only {
            command += &format!(" --only {id}");
        }
        attnflow_dynamics::output::write_atomic(path, report.markdown(&command).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Runs the suite; returns an error (exit code 1) if a check fails or an id is unknown.
pub fn run(args: VerifyArgs, json: bool) -> Result<()> {
    let report = suite(&args)?;
    if json {
        to_stdout(&(serde_json::to_string(&report)? + "\n"))?;
    } else {
        to_stdout(&report.text_table())?;
    }
    write_report(&args, &report)?;
    failures(&report)
}

/// The error of a run with failed checks: `N check(s) failed: id, ...`.
pub fn failures(report: &SuiteReport) -> Result<()> {
    let failed: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.verdict.is_failure())
        .map(|o| o.id.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("{} check(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

//! `cargo xtask figures`: regenerate figures (`<out>/<id>.json`, `.svg`, `.png`), check them against the
//! golden data (`--check`) or rewrite the golden data (`--bless`). All logic lives in attnflow-figures;
//! this is the command-line driver with a progress bar and a runtime table. Records and pictures are
//! deterministic; the compute times go to `<out>/RUNTIMES.json`, the one file that regenerating
//! unchanged figures changes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use attnflow_figures::golden::{CheckOutcome, Tolerances, bless_record, check_record};
use attnflow_figures::{
    ALL_IDS, DEFAULT_SEED, DynFigure, Fidelity, FigureError, Progress, registry,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::workspace_root;

#[derive(clap::Args)]
pub struct FiguresArgs {
    /// ci (seconds, golden data), default (whole set in ~15 min) or paper (the paper's parameters).
    #[arg(long, default_value = "default")]
    pub fidelity: Fidelity,
    /// Only these figure ids (e.g. --only glpr-fig3 glpr-fig6).
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
    /// Output directory (default: reports/figures).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Recompute at ci fidelity and compare with golden/{id}.json (exit status 1 on drift).
    #[arg(long, conflicts_with = "bless")]
    pub check: bool,
    /// Recompute at ci fidelity and rewrite golden/{id}.json.
    #[arg(long)]
    pub bless: bool,
    /// Redraw the pictures from the existing `<out>/<id>.json` records without recomputing.
    #[arg(long, conflicts_with_all = ["check", "bless"])]
    pub render_only: bool,
    /// Master seed of every random number.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

/// Units of progress per figure on the bar.
const UNITS: u64 = 1000;

struct BarProgress<'a> {
    bar: &'a ProgressBar,
    base: u64,
}

impl Progress for BarProgress<'_> {
    fn update(&self, done: u64, total: u64) {
        if let Some(step) = (UNITS * done.min(total)).checked_div(total) {
            self.bar.set_position(self.base + step);
        }
    }
}

enum Status {
    Written,
    Match,
    Drift(Vec<String>),
    Blessed,
    Skipped(String),
    NotImplemented,
    Failed(String),
}

/// The figures selected by `--only` (all when empty); unknown ids are an error.
fn select(only: &[String]) -> Result<Vec<(&'static str, Option<&'static dyn DynFigure>)>> {
    let reg = registry();
    for id in only {
        if !ALL_IDS.contains(&id.as_str()) {
            bail!("unknown figure id `{id}`; known: {}", ALL_IDS.join(", "));
        }
    }
    Ok(ALL_IDS
        .iter()
        .filter(|id| only.is_empty() || only.iter().any(|o| o == *id))
        .map(|id| (*id, reg.iter().copied().find(|f| f.id() == *id)))
        .collect())
}

pub fn figures(args: FiguresArgs) -> Result<()> {
    let root = workspace_root();
    let golden_dir = root.join("golden");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("reports").join("figures"));
    let selected = select(&args.only)?;
    let golden_mode = args.check || args.bless;
    let fidelity = if golden_mode {
        Fidelity::Ci
    } else {
        args.fidelity
    };
    if golden_mode && args.fidelity != Fidelity::Default && args.fidelity != Fidelity::Ci {
        eprintln!(
            "note: --check/--bless always use ci fidelity; ignoring --fidelity {}",
            args.fidelity
        );
    }
    let tolerances = if args.check {
        Some(Tolerances::load(&golden_dir).context("reading golden/tolerances.json")?)
    } else {
        None
    };

    let bar = ProgressBar::new(UNITS * selected.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40.cyan/blue} {percent:>3}% ETA {eta_precise} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut rows: Vec<(&str, Status, f64)> = Vec::new();
    // compute seconds of the figures written to `out`, for RUNTIMES.json
    let mut computed_in: Vec<(&str, f64)> = Vec::new();
    for (k, (id, figure)) in selected.iter().enumerate() {
        let base = UNITS * k as u64;
        bar.set_position(base);
        bar.set_message(format!("{id} ({fidelity})"));
        let Some(figure) = figure else {
            rows.push((id, Status::NotImplemented, 0.0));
            continue;
        };
        let start = Instant::now();
        let progress = BarProgress { bar: &bar, base };
        let computed = if args.render_only {
            let path = out.join(format!("{id}.json"));
            if path.exists() {
                attnflow_figures::output::read_json(&path)
            } else {
                Err(FigureError::Unavailable(format!(
                    "no record {} to redraw",
                    path.display()
                )))
            }
        } else {
            let start = Instant::now();
            let record = figure.run(fidelity, args.seed, &progress);
            if record.is_ok() && !golden_mode {
                computed_in.push((id, start.elapsed().as_secs_f64()));
            }
            record
        };
        let status = match computed {
            Err(FigureError::Unavailable(reason)) => Status::Skipped(reason),
            Err(e) => Status::Failed(e.to_string()),
            Ok(record) => {
                let result = if args.check {
                    let tol = tolerances.as_ref().expect("loaded for --check");
                    check_record(id, &record, &golden_dir, tol).map(|outcome| match outcome {
                        CheckOutcome::Match => Status::Match,
                        CheckOutcome::Skipped(reason) => Status::Skipped(reason),
                        CheckOutcome::Drift(mismatches) => {
                            Status::Drift(mismatches.iter().map(|m| m.to_string()).collect())
                        }
                    })
                } else if args.bless {
                    bless_record(id, &record, &golden_dir).map(|()| Status::Blessed)
                } else if args.render_only {
                    let (svg, png) = (out.join(format!("{id}.svg")), out.join(format!("{id}.png")));
                    figure.render(&record, &svg, &png).map(|()| Status::Written)
                } else {
                    write_outputs(*figure, &record, &out).map(|()| Status::Written)
                };
                result.unwrap_or_else(|e| Status::Failed(e.to_string()))
            }
        };
        if let Status::Skipped(reason) = &status {
            // loud at once (above the progress bar), and again in the summary
            bar.suspend(|| eprintln!("{}", skip_notice(id, reason)));
        }
        rows.push((id, status, start.elapsed().as_secs_f64()));
    }
    bar.finish_and_clear();
    let written: Vec<(&str, f64)> = computed_in
        .into_iter()
        .filter(|(id, _)| {
            rows.iter()
                .any(|(r, s, _)| r == id && matches!(s, Status::Written))
        })
        .collect();
    if !written.is_empty() {
        update_runtimes(&out, fidelity, &written)?;
    }
    print_table(&rows, fidelity, &out, golden_mode);
    let failed = rows
        .iter()
        .any(|(_, s, _)| matches!(s, Status::Failed(_) | Status::Drift(_)));
    if failed {
        bail!("some figures failed or drifted from the golden data");
    }
    Ok(())
}

/// Records the compute seconds of the figures just written in `<out>/RUNTIMES.json` (keeping the
/// entries of the others): the only place runtimes live, so that the records, the pictures and
/// REPORT.md stay byte-identical when nothing but the machine's speed changed.
fn update_runtimes(
    out: &std::path::Path,
    fidelity: Fidelity,
    written: &[(&str, f64)],
) -> Result<()> {
    use serde_json::{Map, Value, json};
    let path = out.join("RUNTIMES.json");
    let mut entries: Map<String, Value> = if path.exists() {
        attnflow_figures::output::read_json(&path)?
            .get("figures")
            .and_then(Value::as_object)
            .cloned()
            .with_context(|| format!("{}: no `figures` object", path.display()))?
    } else {
        Map::new()
    };
    for (id, seconds) in written {
        entries.insert(
            id.to_string(),
            json!({
                "fidelity": fidelity.as_str(),
                "seconds": (seconds * 100.0).round() / 100.0,
                "threads": rayon::current_num_threads(),
            }),
        );
    }
    // serde_json's map keeps its keys sorted: the file's order does not depend on the runs' order
    let doc = json!({
        "note": "compute seconds of each figure's last regeneration by `cargo xtask figures` (written here \
                 only, so that regenerating unchanged figures leaves the records and pictures untouched)",
        "figures": entries,
    });
    attnflow_figures::output::write_json_atomic(&path, &doc)
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes `<out>/<id>.json`, `.svg`, `.png`, each atomically.
fn write_outputs(
    figure: &dyn DynFigure,
    record: &serde_json::Value,
    out: &std::path::Path,
) -> attnflow_figures::Result<()> {
    let id = figure.id();
    figure.render(
        record,
        &out.join(format!("{id}.svg")),
        &out.join(format!("{id}.png")),
    )?;
    attnflow_figures::output::write_json_atomic(&out.join(format!("{id}.json")), record)
}

/// The line that announces a skipped figure: what is missing and how to get it.
fn skip_notice(id: &str, reason: &str) -> String {
    let mut line = format!("WARNING: figure {id} SKIPPED, nothing was written for it: {reason}");
    if id == "glpr-fig1" {
        // the only figure that needs something beyond the repository: the MiniLM weights
        if !reason.contains("cargo xtask fetch-model") {
            line.push_str("; the model weights come from `cargo xtask fetch-model`");
        }
        line.push_str("; afterwards `cargo xtask figures --only glpr-fig1` draws it");
    }
    line
}

fn print_table(
    rows: &[(&str, Status, f64)],
    fidelity: Fidelity,
    out: &std::path::Path,
    golden_mode: bool,
) {
    println!();
    println!(
        "{:<12} {:>10}  status (fidelity {fidelity})",
        "figure", "runtime s"
    );
    println!("{}", "-".repeat(72));
    let mut total = 0.0;
    for (id, status, seconds) in rows {
        total += seconds;
        let text = match status {
            Status::Written => format!("written to {}", out.display()),
            Status::Match => "matches golden data".to_string(),
            Status::Drift(m) => format!("DRIFT: {} mismatching field(s) (listed below)", m.len()),
            Status::Blessed => "golden data rewritten".to_string(),
            Status::Skipped(reason) => format!("skipped: {reason}"),
            Status::NotImplemented => {
                "not implemented yet (no module in attnflow-figures)".to_string()
            }
            Status::Failed(e) => format!("FAILED: {e}"),
        };
        println!("{id:<12} {seconds:>10.2}  {text}");
    }
    println!("{}", "-".repeat(72));
    println!("{:<12} {total:>10.2}", "total");
    for (id, status, _) in rows {
        if let Status::Drift(mismatches) = status {
            for m in mismatches {
                println!("  {id}: {m}");
            }
        }
    }
    if golden_mode {
        println!("(golden data: golden/<id>.json, tolerances: golden/tolerances.json)");
    }
    let skipped: Vec<String> = rows
        .iter()
        .filter_map(|(id, status, _)| match status {
            Status::Skipped(reason) => Some(skip_notice(id, reason)),
            _ => None,
        })
        .collect();
    if !skipped.is_empty() {
        println!();
        for line in &skipped {
            println!("{line}");
        }
        // when stdout is redirected, the end of the run says it on stderr too
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            for line in &skipped {
                eprintln!("{line}");
            }
        }
    }
}

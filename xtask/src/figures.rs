//! `cargo xtask figures`: regenerate figures (`<out>/<id>.json`, `.svg`, `.png`), check them against the
//! golden data (`--check`) or rewrite the golden data (`--bless`). All logic lives in attnflow-figures;
//! this is the command-line driver with a progress bar and a runtime table. Records and pictures are
//! deterministic; the compute times go to `<out>/RUNTIMES.json`, the one file that regenerating
//! unchanged figures changes. Next to the record of a figure whose panels are particle-system runs go
//! its declared experiment specs, resolved: `<out>/<id>.specs/<panel>.toml` (`--specs-only` writes just
//! those, without computing), each rerun by [`rerun_command`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use attnflow_experiment::ResolvedSpec;
use attnflow_figures::golden::{CheckOutcome, bless_record, check_record};
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
    /// Write only the declared experiment specs (`<out>/<id>.specs/<panel>.toml`) of the selected
    /// figures at --fidelity, without computing or drawing.
    #[arg(long, conflicts_with_all = ["check", "bless", "render_only"])]
    pub specs_only: bool,
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
    Failed(String),
}

/// The figures selected by `--only` (all when empty), in presentation order; unknown ids are an error.
fn select(only: &[String]) -> Result<Vec<&'static dyn DynFigure>> {
    for id in only {
        if !ALL_IDS.contains(&id.as_str()) {
            bail!("unknown figure id `{id}`; known: {}", ALL_IDS.join(", "));
        }
    }
    Ok(registry()
        .iter()
        .copied()
        .filter(|figure| only.is_empty() || only.iter().any(|o| o == figure.id()))
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
    if args.specs_only {
        for figure in selected {
            let written = write_specs(figure, args.fidelity, args.seed, &out)
                .with_context(|| format!("writing the specs of {}", figure.id()))?;
            if !written.is_empty() {
                println!(
                    "{}: {} spec(s) in {}",
                    figure.id(),
                    written.len(),
                    specs_dir(&out, figure.id()).display()
                );
            }
        }
        return Ok(());
    }
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
    for (k, figure) in selected.iter().copied().enumerate() {
        let id = figure.id();
        let base = UNITS * k as u64;
        bar.set_position(base);
        bar.set_message(format!("{id} ({fidelity})"));
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
                    check_record(figure, &record, &golden_dir).map(|outcome| match outcome {
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
                    write_outputs(figure, &record, &out)
                        .and_then(|()| write_specs(figure, fidelity, args.seed, &out))
                        .map(|_| Status::Written)
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

/// The folder of a figure's declared experiment specs: `<out>/<id>.specs`.
pub fn specs_dir(out: &Path, id: &str) -> PathBuf {
    out.join(format!("{id}.specs"))
}

/// Writes the experiment specs `figure` declares at `fidelity` with `seed`, resolved (every default
/// filled, no paths), as `<out>/<id>.specs/<panel>.toml`, each atomically, and removes the `.toml`
/// files of that folder no panel declares; returns the files written (none, and no folder, for a
/// figure without particle-system runs).
pub fn write_specs(
    figure: &dyn DynFigure,
    fidelity: Fidelity,
    seed: u64,
    out: &Path,
) -> attnflow_figures::Result<Vec<PathBuf>> {
    let id = figure.id();
    let dir = specs_dir(out, id);
    let specs = figure.experiment_specs(fidelity, seed)?;
    let mut written = Vec::with_capacity(specs.len());
    for (panel, resolved) in &specs {
        let path = dir.join(format!("{panel}.toml"));
        // named from the workspace root when the file lies below it (the command is run from
        // there), else by its name: never an absolute path, so the bytes do not depend on the checkout
        let file_name = format!("{panel}.toml");
        let shown = if path.is_relative() {
            path.display().to_string()
        } else {
            path.strip_prefix(crate::workspace_root())
                .map_or(file_name, |relative| relative.display().to_string())
        };
        let text = format!(
            "# {id}, panel {panel}, {fidelity} fidelity, seed {seed}: the run the figure declares, written by \
             `cargo xtask figures`.\n# Rerun: {}\n\n{}",
            rerun_command(&shown, resolved),
            resolved.to_toml_string()?
        );
        attnflow_figures::output::write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    if dir.is_dir() {
        let io = |e| FigureError::Io {
            path: dir.clone(),
            source: e,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "toml") && !written.contains(&path) {
                std::fs::remove_file(&path).map_err(|source| FigureError::Io {
                    path: path.clone(),
                    source,
                })?;
            }
        }
    }
    Ok(written)
}

/// The command that reruns a declared spec stored at `path`: `attnflow phase-diagram` for a (t, beta)
/// phase diagram (the engine's runner, the figure's numbers bit for bit), `attnflow run` otherwise.
pub fn rerun_command(path: &str, resolved: &ResolvedSpec) -> String {
    if resolved.phase_diagram_spec().is_ok() {
        format!("attnflow phase-diagram --spec {path} --out x.json")
    } else {
        format!("attnflow run {path} --out x.json")
    }
}

/// The line that announces a skipped figure: what is missing (the figure's reason says how to get it,
/// e.g. `cargo xtask fetch-model` for glpr-fig1's weights) and how to draw it afterwards.
fn skip_notice(id: &str, reason: &str) -> String {
    format!(
        "WARNING: figure {id} SKIPPED, nothing was written for it: {reason}; afterwards `cargo xtask figures --only {id}` draws it"
    )
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
        println!(
            "(golden data: golden/<id>.json, tolerances: each figure's `Meta::tolerances` in crates/figures/src/figs/<id>.rs)"
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_specs_are_deterministic_relative_and_replace_stale_panels() {
        let out = std::env::temp_dir().join(format!("attnflow-xtask-specs-{}", std::process::id()));
        let figure = attnflow_figures::find("glpr-fig5").unwrap();
        let stale = specs_dir(&out, "glpr-fig5").join("e-removed.toml");
        attnflow_figures::output::write_atomic(&stale, b"n = 1\n").unwrap();
        let first = write_specs(figure, Fidelity::Ci, DEFAULT_SEED, &out).unwrap();
        let names: Vec<String> = first
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "a-ginibre.toml",
                "b-wigner-psd.toml",
                "c-ginibre-gf.toml",
                "d-wigner-gf.toml"
            ]
        );
        assert!(!stale.exists());
        let bytes: Vec<Vec<u8>> = first.iter().map(|p| std::fs::read(p).unwrap()).collect();
        write_specs(figure, Fidelity::Ci, DEFAULT_SEED, &out).unwrap();
        for (path, before) in first.iter().zip(&bytes) {
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(text.as_bytes(), before.as_slice());
            // outside the workspace the rerun command names the file alone
            assert!(!text.contains(&*out.to_string_lossy()), "{text}");
            assert!(
                text.contains("# Rerun: attnflow phase-diagram --spec a-ginibre.toml")
                    == (path == &first[0])
            );
            // the file is the spec: reading it back resolves to the figure's declaration
            let reread = attnflow_experiment::Spec::from_toml_str(&text)
                .unwrap()
                .resolve()
                .unwrap();
            let declared = figure.experiment_specs(Fidelity::Ci, DEFAULT_SEED).unwrap();
            assert!(declared.iter().any(|(_, r)| *r == reread), "{text}");
        }
        // a figure without particle-system runs writes nothing, not even its folder
        let theory = attnflow_figures::find("glpr-fig6").unwrap();
        assert!(
            write_specs(theory, Fidelity::Ci, DEFAULT_SEED, &out)
                .unwrap()
                .is_empty()
        );
        assert!(!specs_dir(&out, "glpr-fig6").exists());
        std::fs::remove_dir_all(&out).unwrap();
    }
}

//! `attnflow._native`: the engine of the `attnflow` command line as a Python extension (pyo3 +
//! rust-numpy). The Python package (`python/attnflow/__init__.py`) turns keyword arguments into the
//! command line's flags; this module parses them with the command line's own clap definitions
//! (`attnflow::cli::simulate::SimulateArgs`, `phase_diagram::PhaseDiagramArgs`, `theory::TheoryCommand`,
//! `verify::VerifyArgs`) and runs the same library code as the binary (`attnflow::cli::*::prepare`,
//! `attnflow_experiment::run`, `attnflow_experiment::phase_diagram`), so the same flags give the
//! same defaults, the same one-line messages and the same bits.
//!
//! Runs release the GIL; the calling thread waits for the run in slices of [`POLL`], polling
//! `Python::check_signals` between them: Ctrl-C requests the engine's interruption
//! (`attnflow_dynamics::interrupt`, read by every solver before every step), waits for the run to
//! stop and raises `KeyboardInterrupt`. A progress callback `progress(done, total)` (realisations)
//! is called from that same thread.

use anyhow::Context;
use attnflow::cli::{self, frontend, limits};
use attnflow_dynamics::interrupt;
use attnflow_experiment::{Format, Spec, export};
use clap::{Args, FromArgMatches, Parser};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

create_exception!(
    _native,
    AttnflowError,
    PyValueError,
    "A refused input or a failed run, with the command line's one-line message."
);

/// How often the waiting thread polls for signals and progress.
const POLL: Duration = Duration::from_millis(20);

/// An error of the library as the command line prints it (`error: {e:#}`, without `error: `).
fn refused(e: anyhow::Error) -> PyErr {
    AttnflowError::new_err(format!("{e:#}"))
}

/// A clap error in one line: the message without `error: `, usage and help hints.
fn clap_error(e: clap::Error) -> PyErr {
    let text = e.to_string();
    let body = text.split("\n\nUsage:").next().unwrap_or(&text);
    let body = body
        .split("\n\nFor more information")
        .next()
        .unwrap_or(body);
    let line = body
        .trim()
        .trim_start_matches("error: ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect::<Vec<_>>()
        .join(" ");
    AttnflowError::new_err(line)
}

/// Whether `e` is the engine's interruption (of this run or, the flag being process-wide, of a
/// run interrupted on another thread).
fn is_interrupted(e: &anyhow::Error) -> bool {
    use attnflow_dynamics::DynamicsError;
    use attnflow_experiment::ExperimentError;
    e.chain().any(|c| {
        c.downcast_ref::<DynamicsError>() == Some(&DynamicsError::Interrupted)
            || matches!(
                c.downcast_ref::<ExperimentError>(),
                Some(ExperimentError::Dynamics {
                    error: DynamicsError::Interrupted,
                    ..
                })
            )
    })
}

/// Runs `work` on its own thread with the GIL released; see the module doc.
fn watched<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    total: usize,
    work: impl FnOnce(&(dyn Fn(usize, usize) + Sync)) -> anyhow::Result<T> + Send,
) -> PyResult<T> {
    let done = AtomicUsize::new(0);
    interrupt::clear();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        // (a Mutex makes the receiver shareable with the GIL-free closure; only this thread locks it)
        let rx = std::sync::Mutex::new(rx);
        let done_ref = &done;
        scope.spawn(move || {
            let result = work(&|d, _| {
                done_ref.fetch_max(d, Ordering::Relaxed);
            });
            // the receiver waits for this message unless it is gone (it never leaves before it)
            let _ = tx.send(result);
        });
        let mut shown = 0;
        let mut pending: Option<PyErr> = None;
        loop {
            let received = py.detach(|| {
                rx.lock()
                    .map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected)?
                    .recv_timeout(POLL)
            });
            match received {
                Ok(result) => {
                    interrupt::clear();
                    if let Some(err) = pending {
                        return Err(err);
                    }
                    if let Some(cb) = progress {
                        let d = done.load(Ordering::Relaxed);
                        if d != shown {
                            cb.call1((d, total))?;
                        }
                    }
                    return result.map_err(|e| {
                        if is_interrupted(&e) {
                            PyKeyboardInterrupt::new_err("attnflow: run interrupted")
                        } else {
                            refused(e)
                        }
                    });
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    interrupt::clear();
                    return Err(AttnflowError::new_err(
                        "the run thread ended without a result",
                    ));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if pending.is_some() {
                continue;
            }
            if let Err(e) = py.check_signals() {
                interrupt::request();
                pending = Some(e);
                continue;
            }
            if let Some(cb) = progress {
                let d = done.load(Ordering::Relaxed);
                if d != shown {
                    shown = d;
                    if let Err(e) = cb.call1((d, total)) {
                        interrupt::request();
                        pending = Some(e);
                    }
                }
            }
        }
    })
}

/// Named float64 arrays as a dict of numpy arrays (C order, their shapes).
fn arrays_dict<'py>(py: Python<'py>, arrays: Vec<export::Array>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for a in arrays {
        let flat = PyArray1::from_vec(py, a.data);
        dict.set_item(a.name, flat.reshape(a.shape)?)?;
    }
    Ok(dict)
}

/// Rows of equal length as a 2-D numpy array.
fn matrix<'py>(py: Python<'py>, rows: &[Vec<f64>]) -> PyResult<Bound<'py, PyAny>> {
    let cols = rows.first().map_or(0, Vec::len);
    let flat = PyArray1::from_vec(py, rows.concat());
    Ok(flat.reshape(vec![rows.len(), cols])?.into_any())
}

fn json(value: &serde_json::Value) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| AttnflowError::new_err(e.to_string()))
}

/// `simulate`: `argv` are the flags of `attnflow simulate`. Returns the TOML of the resolved spec
/// with `print_spec`, else (arrays, metadata JSON).
#[pyfunction]
#[pyo3(signature = (argv, print_spec = false, progress = None))]
fn simulate<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    print_spec: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    // `--print-spec` only satisfies clap's "--out is required" (the Python call returns the
    // arrays); whether to print is the call's own `print_spec`
    let command = cli::simulate::SimulateArgs::augment_args(
        clap::Command::new("attnflow simulate").no_binary_name(true),
    );
    let matches = command
        .try_get_matches_from(argv.iter().map(String::as_str).chain(["--print-spec"]))
        .map_err(clap_error)?;
    let args = cli::simulate::SimulateArgs::from_arg_matches(&matches).map_err(clap_error)?;
    let format = cli::simulate::out_format(args.output.out.as_deref()).map_err(refused)?;
    let (resolved, steps) =
        cli::simulate::prepare(&args, &|id| frontend::given(&matches, id)).map_err(refused)?;
    if print_spec {
        let toml = resolved.to_toml_string().map_err(|e| refused(e.into()))?;
        return Ok(toml.into_pyobject(py)?.into_any());
    }
    cli::simulate::check_trajectory(&resolved).map_err(refused)?;
    if args.output.gif.is_some() {
        frontend::check_gif(&resolved).map_err(refused)?;
    }
    let start = std::time::Instant::now();
    let output = watched(py, progress.as_ref(), 1, |p| {
        Ok(attnflow_experiment::run(&resolved, p)?)
    })?;
    let runtime_s = start.elapsed().as_secs_f64();
    if let (Some(out), Some(format)) = (&args.output.out, format) {
        let bytes = match format {
            Format::Json => cli::simulate::record_json(&resolved, &output),
            other => attnflow_experiment::encode(&output, other).map_err(anyhow::Error::from),
        }
        .map_err(refused)?;
        attnflow::write_atomically(out, &bytes).map_err(refused)?;
    }
    if let Some(gif) = &args.output.gif {
        frontend::write_gif(gif, &output).map_err(refused)?;
    }
    let stats = output.points[0]
        .runs
        .as_ref()
        .and_then(|r| r.first())
        .map(|r| serde_json::to_value(r.stats))
        .transpose()
        .map_err(|e| AttnflowError::new_err(e.to_string()))?;
    let meta = serde_json::json!({
        "spec": resolved.spec(),
        "warnings": resolved.warnings(),
        "steps": steps,
        "integrator": resolved.points()[0].integrator.name(),
        "stats": stats,
        "runtime_s": runtime_s,
    });
    let arrays = export::arrays(&output).map_err(|e| refused(e.into()))?;
    Ok((arrays_dict(py, arrays)?, json(&meta)?)
        .into_pyobject(py)?
        .into_any())
}

/// `phase_diagram`: `argv` are the flags of `attnflow phase-diagram`. Returns the TOML of the
/// resolved spec with `print_spec`, else (arrays, record JSON without the arrays).
#[pyfunction]
#[pyo3(signature = (argv, print_spec = false, progress = None))]
fn phase_diagram<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    print_spec: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let command = cli::phase_diagram::PhaseDiagramArgs::augment_args(
        clap::Command::new("attnflow phase-diagram").no_binary_name(true),
    );
    let matches = command
        .try_get_matches_from(argv.iter().map(String::as_str).chain(["--print-spec"]))
        .map_err(clap_error)?;
    let args =
        cli::phase_diagram::PhaseDiagramArgs::from_arg_matches(&matches).map_err(clap_error)?;
    let (resolved, diagram_spec, steps) =
        cli::phase_diagram::prepare(&args, &|id| frontend::given(&matches, id)).map_err(refused)?;
    if print_spec {
        let toml = resolved.to_toml_string().map_err(|e| refused(e.into()))?;
        return Ok(toml.into_pyobject(py)?.into_any());
    }
    cli::phase_diagram::check_checkpoints(&diagram_spec, steps).map_err(refused)?;
    let total = diagram_spec.betas.len() * diagram_spec.realizations;
    let diagram = watched(py, progress.as_ref(), total, |p| {
        Ok(attnflow_experiment::phase_diagram(&resolved, p)?)
    })?;
    let mut record = cli::phase_diagram::record(&resolved, &diagram).map_err(refused)?;
    if let Some(out) = &args.out {
        let bytes = serde_json::to_vec(&record).map_err(|e| refused(e.into()))?;
        attnflow::write_atomically(out, &bytes).map_err(refused)?;
    }
    let arrays = PyDict::new(py);
    arrays.set_item("t", PyArray1::from_slice(py, &diagram.t))?;
    arrays.set_item("beta", PyArray1::from_slice(py, &diagram.beta))?;
    arrays.set_item("probability", matrix(py, &diagram.probability)?)?;
    arrays.set_item("stderr", matrix(py, &diagram.stderr)?)?;
    arrays.set_item(
        "pair12_probability",
        matrix(py, &diagram.pair12_probability)?,
    )?;
    if let Some(r) = record.as_object_mut() {
        for key in ["t", "beta", "probability", "stderr", "pair12_probability"] {
            r.remove(key);
        }
        r.insert(
            "warnings".into(),
            serde_json::to_value(resolved.warnings()).unwrap_or_default(),
        );
        r.insert("runtime_s".into(), diagram.runtime_s.into());
    }
    Ok((arrays, json(&record)?).into_pyobject(py)?.into_any())
}

/// `run`: an experiment spec, from a file (`path`) or JSON text (`text`, named `label` in
/// messages; relative paths are taken from the current directory). Returns the TOML of the
/// resolved spec with `print_spec`, else (arrays, metadata JSON).
#[pyfunction]
#[pyo3(signature = (path = None, text = None, label = "(dict)".to_string(), out = None, max_steps = None, max_memory = None, max_work = None, print_spec = false, progress = None))]
#[allow(clippy::too_many_arguments)]
fn run<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    text: Option<String>,
    label: String,
    out: Option<PathBuf>,
    max_steps: Option<String>,
    max_memory: Option<String>,
    max_work: Option<String>,
    print_spec: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    // the limits as the command line parses them
    let mut argv = Vec::new();
    for (flag, value) in [
        ("--max-steps", max_steps),
        ("--max-memory", max_memory),
        ("--max-work", max_work),
    ] {
        if let Some(v) = value {
            argv.push(format!("{flag}={v}"));
        }
    }
    let limit_args = frontend::LimitOptions::augment_args(
        clap::Command::new("attnflow run").no_binary_name(true),
    )
    .try_get_matches_from(argv)
    .map_err(clap_error)?;
    let limit_options =
        frontend::LimitOptions::from_arg_matches(&limit_args).map_err(clap_error)?;
    let format = out
        .as_deref()
        .map(Format::of_path)
        .transpose()
        .map_err(|e| refused(e.into()))?;
    let (spec, label) = match (&path, &text) {
        (Some(p), None) => (
            frontend::read_spec(p).map_err(refused)?,
            p.display().to_string(),
        ),
        (None, Some(t)) => (
            Spec::from_json_str(t)
                .map_err(|e| refused(anyhow::Error::from(e).context(format!("spec {label}"))))?,
            label,
        ),
        _ => return Err(AttnflowError::new_err("give a spec path or its JSON text")),
    };
    let resolved =
        cli::run::prepare(spec, &label, &limit_options.limits(), false).map_err(refused)?;
    if print_spec {
        let toml = resolved.to_toml_string().map_err(|e| refused(e.into()))?;
        return Ok(toml.into_pyobject(py)?.into_any());
    }
    let total: usize = resolved.points().iter().map(|p| p.realizations).sum();
    let start = std::time::Instant::now();
    let output = watched(py, progress.as_ref(), total, |p| {
        Ok(attnflow_experiment::run(&resolved, p)?)
    })?;
    let runtime_s = start.elapsed().as_secs_f64();
    if let (Some(out), Some(format)) = (&out, format) {
        let bytes = attnflow_experiment::encode(&output, format).map_err(|e| refused(e.into()))?;
        attnflow::write_atomically(out, &bytes).map_err(refused)?;
    }
    let stats: Vec<Vec<serde_json::Value>> = output
        .points
        .iter()
        .map(|p| {
            p.runs
                .iter()
                .flatten()
                .map(|r| serde_json::to_value(r.stats).unwrap_or_default())
                .collect()
        })
        .collect();
    let meta = serde_json::json!({
        "spec": resolved.spec(),
        "warnings": resolved.warnings(),
        "points": resolved.points().len(),
        "realizations": total,
        "stats": stats,
        "runtime_s": runtime_s,
    });
    let arrays = export::arrays(&output).map_err(|e| refused(e.into()))?;
    Ok((arrays_dict(py, arrays)?, json(&meta)?)
        .into_pyobject(py)?
        .into_any())
}

/// `attnflow theory ...` as a parser of its own (the command line's subcommands).
#[derive(Parser)]
#[command(name = "attnflow theory", no_binary_name = true)]
struct TheoryCli {
    #[command(subcommand)]
    command: cli::theory::TheoryCommand,
}

/// `theory`: `argv` = [subcommand, flags...]; returns the JSON object of `attnflow --json theory`.
#[pyfunction]
fn theory(argv: Vec<String>) -> PyResult<String> {
    let parsed = TheoryCli::try_parse_from(argv).map_err(clap_error)?;
    let (_, object) = cli::theory::evaluate(&parsed.command).map_err(refused)?;
    json(&object)
}

/// `verify`: `argv` are the flags of `attnflow verify`; returns (report JSON, failure message or
/// None). The checks run with the GIL released and can be interrupted between solver steps.
#[pyfunction]
fn verify<'py>(py: Python<'py>, argv: Vec<String>) -> PyResult<(String, Option<String>)> {
    let matches = cli::verify::VerifyArgs::augment_args(
        clap::Command::new("attnflow verify").no_binary_name(true),
    )
    .try_get_matches_from(argv)
    .map_err(clap_error)?;
    let args = cli::verify::VerifyArgs::from_arg_matches(&matches).map_err(clap_error)?;
    let report = watched(py, None, 0, |_| cli::verify::suite(&args))?;
    cli::verify::write_report(&args, &report).map_err(refused)?;
    let failure = cli::verify::failures(&report)
        .err()
        .map(|e| format!("{e:#}"));
    let text = serde_json::to_string(&report)
        .context("report")
        .map_err(refused)?;
    Ok((text, failure))
}

/// Test hook: whether an interruption is pending (never, between calls).
#[pyfunction]
fn _interrupt_pending() -> bool {
    interrupt::requested()
}

/// The limits' defaults, as the command line documents them.
#[pyfunction]
fn _defaults() -> (u64, f64) {
    (limits::DEFAULT_MAX_STEPS, limits::DEFAULT_MAX_WORK)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("AttnflowError", m.py().get_type::<AttnflowError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(phase_diagram, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(theory, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(_interrupt_pending, m)?)?;
    m.add_function(wrap_pyfunction!(_defaults, m)?)?;
    Ok(())
}

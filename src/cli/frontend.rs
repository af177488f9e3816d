//! What the experiment front ends (`run`, `simulate`, `phase-diagram`) share: each builds one
//! `attnflow_experiment::Spec` (from `--spec FILE` or the subcommand's defaults, then the flags
//! given on the command line), checks the limits before resolving it and again before running it
//! (`cli::limits`), resolves it (`--print-spec` prints the result and stops), runs it through the
//! experiment crate and writes every file through `write_atomically`. The flags they share are
//! defined here once: the limits (`LimitOptions`), the integrator (`IntegratorOptions`, `simulate`
//! and `phase-diagram`) and the outputs (`OutputOptions`: `--out`, `--gif` and the line or JSON
//! object printed after a run, `run` and `simulate`).

use super::limits::{DEFAULT_MAX_STEPS, DEFAULT_MAX_WORK, Limits, Names, Shape};
use anyhow::{Context, Result, anyhow, bail};
use attnflow_experiment::{
    ExperimentError, Format, Method, ObservableKind, ObservableSpec, Observed, Output,
    ResolvedSpec, Spec,
};
use clap::ArgMatches;
use clap::parser::ValueSource;
use std::path::{Path, PathBuf};

/// The time integrator (`integrator.method`, `rtol`, `atol`) of `simulate` and `phase-diagram`.
#[derive(clap::Args)]
pub struct IntegratorOptions {
    /// Time integrator (its order; whether the points are projected back onto the sphere).
    #[arg(long, value_enum, default_value = "paper-euler")]
    pub integrator: Method,
    /// Relative tolerance of dp54 and rkmk45.
    #[arg(long, default_value_t = 1e-8, allow_negative_numbers = true)]
    pub rtol: f64,
    /// Absolute tolerance of dp54 and rkmk45.
    #[arg(long, default_value_t = 1e-10, allow_negative_numbers = true)]
    pub atol: f64,
}

impl IntegratorOptions {
    /// Sets `spec.integrator` from the flags (`apply_all`: every flag, else those `given`); the
    /// tolerances only for the adaptive methods (dp54, rkmk45), the ones that take them.
    pub fn apply(&self, spec: &mut Spec, given: &dyn Fn(&str) -> bool, apply_all: bool) {
        let set = |id| apply_all || given(id);
        if set("integrator") {
            spec.integrator.method = self.integrator;
        }
        if spec.integrator.method.takes_tolerances() {
            if set("rtol") {
                spec.integrator.rtol = Some(self.rtol);
            }
            if set("atol") {
                spec.integrator.atol = Some(self.atol);
            }
        }
    }

    /// Checks the tolerances of an adaptive method (those of the spec, else the flags') and
    /// returns the number of steps t-max / dt (`--dt`, `--t-max`) under `max_steps`, before
    /// anything is resolved.
    pub fn check_steps(&self, spec: &Spec, max_steps: u64) -> Result<usize> {
        let rtol = spec.integrator.rtol.unwrap_or(self.rtol);
        let atol = spec.integrator.atol.unwrap_or(self.atol);
        match spec.integrator.method {
            Method::Dp54 => drop(attnflow_dynamics::DormandPrince54::new(rtol, atol)?),
            Method::Rkmk45 => drop(attnflow_dynamics::lie::Rkmk45::new(rtol, atol)?),
            _ => {}
        }
        super::limits::step_count_named(
            spec.time.t_max,
            spec.time.dt,
            max_steps,
            &("--dt", "--t-max"),
        )
    }
}

/// The files a run writes (`run`, `simulate`).
#[derive(clap::Args)]
pub struct OutputOptions {
    /// Output file: `.json` (the resolved spec and the observables at the checkpoints), `.csv`
    /// (one row per checkpoint), `.npz` (one array per observable) or `.npy` (a run with one
    /// observable array). Non-finite numbers: "inf", "-inf", "nan"; null / an empty field means
    /// undefined. Required unless --print-spec or --gif.
    #[arg(long, required_unless_present_any = ["print_spec", "gif"])]
    pub out: Option<PathBuf>,
    /// Also write an animated GIF of the first realisation (d = 2: circle, d = 3: sphere); adds the
    /// positions observable to the spec.
    #[arg(long, value_name = "PATH")]
    pub gif: Option<PathBuf>,
}

impl OutputOptions {
    /// Writes `--out` (`encode`: its bytes in `format`) and `--gif` (from `output`), then prints
    /// what was written: with `json` one object of `out`, `gif` and `fields`, else the line
    /// `wrote OUT and GIF (summary)`.
    pub fn write(
        &self,
        format: Option<Format>,
        encode: impl FnOnce(Format) -> Result<Vec<u8>>,
        output: &Output,
        json: bool,
        fields: Vec<(&str, serde_json::Value)>,
        summary: &str,
    ) -> Result<()> {
        if let (Some(out), Some(format)) = (&self.out, format) {
            crate::write_atomically(out, &encode(format)?)?;
        }
        if let Some(gif) = &self.gif {
            write_gif(gif, output)?;
        }
        if json {
            let mut record = serde_json::json!({"out": self.out, "gif": self.gif});
            for (key, value) in fields {
                record[key] = value;
            }
            super::io::print_line(&record.to_string())?;
        } else {
            let written: Vec<String> = self
                .out
                .iter()
                .chain(&self.gif)
                .map(|p| p.display().to_string())
                .collect();
            super::io::print_line(&format!("wrote {} ({summary})", written.join(" and ")))?;
        }
        Ok(())
    }
}

/// Caps checked before any work (see `cli::limits`).
#[derive(clap::Args)]
pub struct LimitOptions {
    /// Most steps of one trajectory (t-max / dt) accepted; raise it deliberately for long runs.
    #[arg(long, default_value_t = DEFAULT_MAX_STEPS, value_name = "STEPS", allow_negative_numbers = true)]
    pub max_steps: u64,
    /// Memory the run may use, e.g. 8G, 512M, 1e9 (bytes); default: MemAvailable of /proc/meminfo
    /// (8 GiB where unknown). The estimate is checked before anything is allocated.
    #[arg(long, value_parser = super::limits::parse_bytes, value_name = "BYTES", allow_hyphen_values = true)]
    pub max_memory: Option<u64>,
    /// Most work accepted: sweep points (betas) x realisations x steps x n^2 x d (d: the dimension
    /// evolved), checked before any work [default: 1e15, about a day on a 2-core laptop].
    #[arg(long, value_parser = super::limits::parse_work, value_name = "UNITS")]
    pub max_work: Option<f64>,
}

impl LimitOptions {
    pub fn limits(&self) -> Limits {
        Limits {
            max_memory: self.max_memory,
            max_steps: self.max_steps,
            max_work: self.max_work.unwrap_or(DEFAULT_MAX_WORK),
        }
    }
}

/// Whether the flag `id` was given on the command line (not a default).
pub fn given(matches: &ArgMatches, id: &str) -> bool {
    matches!(matches.value_source(id), Some(ValueSource::CommandLine))
}

/// Reads a spec file (one line naming the file, the line and the field on error).
pub fn read_spec(path: &Path) -> Result<Spec> {
    Ok(Spec::from_path(path)?)
}

/// A path given on the command line, made absolute (so that a printed spec names the same file
/// from any directory).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve the path {}", path.display()))
}

/// A spec error, with the flag that sets the field when there is one (`flag_of`).
pub fn explain(e: ExperimentError, flag_of: fn(&str) -> Option<&'static str>) -> anyhow::Error {
    match &e {
        ExperimentError::Invalid { field, message } | ExperimentError::File { field, message } => {
            match flag_of(field) {
                Some(flag) => anyhow!("{field} ({flag}): {message}"),
                None => anyhow!(e),
            }
        }
        _ => anyhow!(e),
    }
}

/// Adds the `positions` observable when the spec has none.
pub fn enable_positions(spec: &mut Spec) {
    if !spec
        .observables
        .iter()
        .any(|o| o.kind == ObservableKind::Positions)
    {
        spec.observables
            .insert(0, ObservableSpec::of(ObservableKind::Positions));
    }
}

/// Checks the spec before resolving it, resolves it (warnings to stderr) and checks it again.
pub fn resolve_checked(
    spec: &Spec,
    limits: &Limits,
    names: &Names,
    flag_of: fn(&str) -> Option<&'static str>,
    per_step_table: bool,
) -> Result<ResolvedSpec> {
    let mut before = Shape::of_spec(spec);
    before.per_step_table = per_step_table;
    before.check_steps(limits, names)?;
    before.memory(names).check(limits.max_memory)?;
    let resolved = spec.resolve().map_err(|e| explain(e, flag_of))?;
    for warning in resolved.warnings() {
        eprintln!("warning: {warning}");
    }
    let mut shape = Shape::of_resolved(&resolved);
    shape.per_step_table = per_step_table;
    shape.check(limits, names)?;
    Ok(resolved)
}

/// Prints the resolved spec as TOML (`--print-spec`).
pub fn print_spec(resolved: &ResolvedSpec) -> Result<()> {
    Ok(super::io::print_line(
        resolved.to_toml_string()?.trim_end(),
    )?)
}

/// A progress bar over `total` realisations (drawn only on a terminal).
pub fn progress_bar(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} realisations [{elapsed_precise} < {eta_precise}]",
        )
        .expect("static template"),
    );
    bar
}

/// `--gif` needs d = 2 (circle or plane) or d = 3 on the sphere: checked before running.
pub fn check_gif(resolved: &ResolvedSpec) -> Result<()> {
    for p in resolved.points() {
        if !(p.d == 2 || p.d == 3) {
            bail!(
                "--gif animates d = 2 (circle) or d = 3 (sphere), the run has d = {}",
                p.d
            );
        }
        if p.d == 3 && p.geometry != attnflow_experiment::GeometrySpec::Sphere {
            bail!(
                "--gif draws d = 3 on the unit sphere; a euclidean run in R^3 cannot be animated"
            );
        }
    }
    Ok(())
}

/// Writes the animation of the first realisation of the first sweep point (its `positions`).
pub fn write_gif(path: &Path, output: &Output) -> Result<()> {
    let name = output
        .spec
        .observables
        .iter()
        .find(|o| o.kind == ObservableKind::Positions)
        .and_then(|o| o.name.clone())
        .unwrap_or_else(|| ObservableKind::Positions.name().into());
    let point = output
        .points
        .first()
        .context("--gif: the run has no sweep point")?;
    let run = point
        .runs
        .as_ref()
        .and_then(|r| r.first())
        .context("--gif: the run kept no realisation (set ensemble.aggregate = \"none\")")?;
    let mut times = Vec::with_capacity(run.checkpoints.len());
    let mut frames = Vec::with_capacity(run.checkpoints.len());
    for c in &run.checkpoints {
        let Some(Observed::Rows(rows)) = c.values.get(&name) else {
            bail!("--gif: no positions at t = {}", c.t);
        };
        times.push(c.t);
        frames.push(rows.concat());
    }
    let trajectory = attnflow_figures::plot::animation::Trajectory {
        n: point.n,
        d: point.d,
        times: &times,
        frames: &frames,
    };
    let options = attnflow_figures::plot::animation::AnimationOptions {
        title: format!(
            "{}, beta = {}, n = {}",
            output.spec.field.model.name().to_uppercase(),
            point.beta,
            point.n
        ),
        ..Default::default()
    };
    attnflow_figures::plot::animation::write_gif(path, &trajectory, &options)
        .with_context(|| format!("cannot write {}", path.display()))
}

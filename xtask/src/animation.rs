//! `cargo xtask animate`: GIF animations of the self-attention dynamics
//! xdot_i = P_{x_i}((1 / Z_i) sum_j e^{beta <x_i, x_j>} x_j) (\[GLPR\] (2.3)), the particles clustering
//! on the sphere S^2 and on the circle S^1 over time.
//!
//! Each animation is an experiment spec of `crates/experiment/examples/specs` (one realisation, the
//! `positions` observable at every checkpoint), run by `attnflow_experiment::run` and drawn by
//! `attnflow_figures::plot::animation::write_gif`. Both are deterministic, so running this twice
//! writes the same bytes.

use anyhow::{Context, Result, bail};
use attnflow_experiment::{Observed, Spec};
use attnflow_figures::plot::animation::{AnimationOptions, Trajectory, write_gif};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct AnimateArgs {
    /// Output directory, relative to the workspace root.
    #[arg(long, default_value = "reports/animations")]
    out: PathBuf,
    /// Width and height of the frames in pixels.
    #[arg(long, default_value_t = 480)]
    size: u32,
    /// Display time of each frame in milliseconds.
    #[arg(long, default_value_t = 80)]
    frame_delay_ms: u32,
}

/// (spec in `crates/experiment/examples/specs`, output file, what is shown).
const ANIMATIONS: [(&str, &str, &str); 2] = [
    ("sa-sphere-gif.toml", "sa-sphere.gif", "SA on S^2"),
    ("sa-circle-gif.toml", "sa-circle.gif", "SA on S^1"),
];

pub fn animate(args: AnimateArgs) -> Result<()> {
    let root = crate::workspace_root();
    let specs = root.join("crates/experiment/examples/specs");
    let out_dir = root.join(&args.out);
    for (spec_name, gif_name, label) in ANIMATIONS {
        let start = Instant::now();
        let gif = out_dir.join(gif_name);
        render(&specs.join(spec_name), &gif, label, &args)
            .with_context(|| format!("animating {spec_name}"))?;
        let bytes = std::fs::metadata(&gif)
            .with_context(|| format!("reading {}", gif.display()))?
            .len();
        eprintln!(
            "{}: {bytes} bytes in {:.1} s",
            gif.strip_prefix(&root).unwrap_or(&gif).display(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Runs the spec at `spec_path` and writes its one trajectory as a GIF at `gif`.
fn render(spec_path: &Path, gif: &Path, label: &str, args: &AnimateArgs) -> Result<()> {
    let resolved = Spec::from_path(spec_path)?.resolve()?;
    let output = attnflow_experiment::run(&resolved, &|_, _| {})?;
    let [point] = output.points.as_slice() else {
        bail!("expected one sweep point, got {}", output.points.len());
    };
    let Some([realisation]) = point.runs.as_deref() else {
        bail!("expected exactly one realisation with ensemble.aggregate = \"none\"");
    };
    let mut times = Vec::with_capacity(realisation.checkpoints.len());
    let mut frames = Vec::with_capacity(realisation.checkpoints.len());
    for record in &realisation.checkpoints {
        let Some(Observed::Rows(rows)) = record.values.get("positions") else {
            bail!("checkpoint t = {} has no `positions` observable", record.t);
        };
        times.push(record.t);
        frames.push(rows.concat());
    }
    let trajectory = Trajectory {
        n: point.n,
        d: point.d,
        times: &times,
        frames: &frames,
    };
    let options = AnimationOptions {
        title: format!("{label}, n = {}, beta = {}", point.n, point.beta),
        size_px: args.size,
        frame_delay_ms: args.frame_delay_ms,
    };
    write_gif(gif, &trajectory, &options)?;
    Ok(())
}

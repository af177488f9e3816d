//! `attnflow merge SHARD... -o OUT`: combines the N shard files of `phase-diagram --shard i/N` or
//! `run SPEC --shard i/N` (i = 0 .. N-1, in any order) into the output of the single-process run,
//! byte for byte (`attnflow_experiment::distribute`: integer counts summed, the blocks of a sweep
//! point combined in index order). Refused with one line: a file that is not a shard, a missing or
//! repeated part, shards of different specs, commands, attnflow versions or N.

use super::distribute::merge_files;
use anyhow::{Result, bail};
use attnflow_experiment::Format;
use attnflow_experiment::distribute::Merged;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MergeArgs {
    /// The shard files, one per part 0/N .. N-1/N of one run (any order).
    #[arg(required = true, value_name = "SHARD")]
    pub shards: Vec<PathBuf>,
    /// Output file: `.json` for a phase diagram; `.json`, `.csv`, `.npz` or `.npy` for a run (as
    /// `run --out`).
    #[arg(short = 'o', long)]
    pub out: PathBuf,
}

pub fn merge(args: MergeArgs, json: bool) -> Result<()> {
    let start = std::time::Instant::now();
    let merged = merge_files(&args.shards)?;
    let out = &args.out;
    let summary = match &merged {
        Merged::PhaseDiagram { spec, diagram } => {
            if out.extension().and_then(|e| e.to_str()) != Some("json") {
                bail!(
                    "-o must be a .json file for a phase diagram, got {}",
                    out.display()
                );
            }
            let value = super::phase_diagram::record(spec, diagram)?;
            crate::write_atomically(out, &serde_json::to_vec(&value)?)?;
            format!(
                "phase diagram, {} betas x {} times x {} realisations",
                diagram.beta.len(),
                diagram.t.len(),
                diagram.params.spec.realizations
            )
        }
        Merged::Run(output) => {
            let format = Format::of_path(out)?;
            crate::write_atomically(out, &attnflow_experiment::encode(output, format)?)?;
            format!(
                "run, {} sweep point(s) x {} realisation(s)",
                output.points.len(),
                output.spec.ensemble.realizations
            )
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    if json {
        super::io::print_line(
            &serde_json::json!({"out": out, "shards": args.shards.len(), "runtime_s": seconds})
                .to_string(),
        )?;
    } else {
        super::io::print_line(&format!(
            "wrote {} (merged {} shards: {summary}, {seconds:.2} s)",
            out.display(),
            args.shards.len()
        ))?;
    }
    Ok(())
}

//! Distributed `phase-diagram` and `run`: the realisations split over processes, the output the
//! bytes of the single-process run (`attnflow_experiment::distribute`: part i of N computes the
//! jobs j = i, i + N, i + 2N, ... of 16 realisations each; realisation r of sweep point b draws
//! from the streams (seed, b R + r, purpose) wherever it runs; the parts are combined in job
//! order).
//!
//! - `--shard i/N` (no MPI needed; e.g. the tasks of a Slurm job array): computes part i of N and
//!   writes its shard file (JSON: command, resolved spec and its hash, part, counts) to `--out`;
//!   `attnflow merge SHARD... -o OUT` (`cli::merge`) combines the N shards.
//! - `mpirun -n K attnflow ...` (built with `--features mpi`): rank k computes part k of K, sends
//!   its shard to rank 0 (point to point, received in rank order), and rank 0 merges them exactly
//!   as `attnflow merge` does and alone writes `--out`. A failure on any rank is reported by rank 0
//!   (one line naming the rank). The process is taken as an MPI rank when a launcher set
//!   `OMPI_COMM_WORLD_SIZE`, `PMIX_RANK`, `PMI_RANK` or `PMI_SIZE` (mpirun, srun); otherwise, and
//!   in builds without the feature, it runs alone.

use anyhow::{Context, Result, anyhow, bail};
use attnflow_dynamics::PhaseDiagram;
use attnflow_experiment::distribute::{Merged, merge};
use attnflow_experiment::{Output, Part, ResolvedSpec, Shard};
use std::path::Path;

/// `--shard i/N` (`phase-diagram`, `run`).
#[derive(clap::Args, Clone, Default)]
pub struct DistributeOptions {
    /// Compute only part i of N (0 <= i < N: the blocks of 16 realisations j with j mod N = i) and
    /// write a shard file (JSON) to --out, to be combined by `attnflow merge` into the bytes of
    /// the whole run; e.g. `--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT` in a Slurm job
    /// array. Under mpirun (a build with --features mpi) the ranks split the work without it.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<String>,
}

impl DistributeOptions {
    /// The part of `--shard`, or `None` without it; one line for bad syntax.
    pub fn part(&self) -> Result<Option<Part>> {
        self.shard
            .as_deref()
            .map(|s| {
                s.parse::<Part>().map_err(|e| match e {
                    attnflow_dynamics::DynamicsError::InvalidParameter { reason, .. } => {
                        anyhow!("--shard: {reason}")
                    }
                    other => anyhow!("--shard: {other}"),
                })
            })
            .transpose()
    }
}

/// How this process takes part in the run.
enum Launch {
    /// The whole run in this process.
    Alone,
    /// Part i/N, written as a shard file.
    Shard(Part),
    /// One of several MPI ranks.
    #[cfg(feature = "mpi")]
    Ranks(ranks::Ranks),
}

fn launch(options: &DistributeOptions) -> Result<Launch> {
    let part = options.part()?;
    #[cfg(feature = "mpi")]
    if ranks::launched() {
        let ranks = ranks::Ranks::start()?;
        if ranks.size > 1 {
            if let Some(part) = part {
                bail!(
                    "--shard {part} under an MPI launch of {} ranks: use one or the other",
                    ranks.size
                );
            }
            return Ok(Launch::Ranks(ranks));
        }
    }
    Ok(match part {
        Some(part) => Launch::Shard(part),
        None => Launch::Alone,
    })
}

/// Writes the shard of part `part` to `out` and prints what was written.
fn write_shard(shard: &Shard, out: &Path, json: bool, seconds: f64) -> Result<()> {
    crate::write_atomically(out, &shard.to_bytes()?)?;
    if json {
        super::io::print_line(
            &serde_json::json!({
                "out": out,
                "shard": shard.part().to_string(),
                "realizations": shard.realizations(),
                "spec_hash": shard.spec_hash(),
                "runtime_s": seconds,
            })
            .to_string(),
        )?;
    } else {
        super::io::print_line(&format!(
            "wrote {} (shard {} of the {} {}: {} realisations, {seconds:.2} s; combine the shards with `attnflow merge`)",
            out.display(),
            shard.part(),
            shard.kind().name(),
            shard.spec_hash(),
            shard.realizations()
        ))?;
    }
    Ok(())
}

/// The phase diagram of `spec` as this process takes part in it: `Some` when this process writes
/// the output (alone, or rank 0 of an MPI run, after the merge), `None` when it is done (its shard
/// written to `out`, or a rank other than 0).
pub fn phase_diagram(
    options: &DistributeOptions,
    spec: &ResolvedSpec,
    out: &Path,
    json: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Option<PhaseDiagram>> {
    let start = std::time::Instant::now();
    match launch(options)? {
        Launch::Alone => Ok(Some(attnflow_experiment::phase_diagram(spec, progress)?)),
        Launch::Shard(part) => {
            let shard = Shard::phase_diagram(spec, part, progress)?;
            write_shard(&shard, out, json, start.elapsed().as_secs_f64())?;
            Ok(None)
        }
        #[cfg(feature = "mpi")]
        Launch::Ranks(ranks) => {
            let shard = Shard::phase_diagram(spec, ranks.part()?, progress);
            match ranks.combine(shard)? {
                Some(Merged::PhaseDiagram { mut diagram, .. }) => {
                    diagram.runtime_s = start.elapsed().as_secs_f64();
                    Ok(Some(diagram))
                }
                Some(Merged::Run(_)) => bail!("the ranks returned a run, not a phase diagram"),
                None => Ok(None),
            }
        }
    }
}

/// The run of `spec` as this process takes part in it (see [`phase_diagram`]); `out` is required
/// for a shard.
pub fn run(
    options: &DistributeOptions,
    spec: &ResolvedSpec,
    out: Option<&Path>,
    gif: Option<&Path>,
    json: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Option<Output>> {
    let start = std::time::Instant::now();
    match launch(options)? {
        Launch::Alone => Ok(Some(attnflow_experiment::run(spec, progress)?)),
        Launch::Shard(part) => {
            if gif.is_some() {
                bail!(
                    "--gif needs the whole run: render it from the merged output or without --shard"
                );
            }
            let Some(out) = out else {
                bail!("--shard needs --out, the shard file to write");
            };
            if out.extension().and_then(|e| e.to_str()) != Some("json") {
                bail!(
                    "--shard writes a shard file (JSON): --out must end in .json, got {}; `attnflow merge -o` chooses the output format",
                    out.display()
                );
            }
            let shard = Shard::run(spec, part, progress)?;
            write_shard(&shard, out, json, start.elapsed().as_secs_f64())?;
            Ok(None)
        }
        #[cfg(feature = "mpi")]
        Launch::Ranks(ranks) => {
            let shard = Shard::run(spec, ranks.part()?, progress);
            match ranks.combine(shard)? {
                Some(Merged::Run(mut output)) => {
                    output.runtime_s = start.elapsed().as_secs_f64();
                    Ok(Some(output))
                }
                Some(Merged::PhaseDiagram { .. }) => {
                    bail!("the ranks returned a phase diagram, not a run")
                }
                None => Ok(None),
            }
        }
    }
}

/// Reads the shard files and merges them (`attnflow merge`).
pub fn merge_files(paths: &[impl AsRef<Path>]) -> Result<Merged> {
    let mut shards = Vec::with_capacity(paths.len());
    for path in paths {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        shards.push((name.clone(), Shard::from_bytes(&bytes, &name)?));
    }
    Ok(merge(shards)?)
}

#[cfg(feature = "mpi")]
mod ranks {
    use super::*;
    use mpi::traits::*;

    /// Environment variables an MPI launcher sets in every process it starts (Open MPI's mpirun;
    /// PMIx and PMI, e.g. Slurm's srun --mpi=pmix or pmi2).
    const LAUNCHER_VARIABLES: [&str; 4] =
        ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"];

    /// Whether an MPI launcher started this process.
    pub fn launched() -> bool {
        LAUNCHER_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some())
    }

    /// The ranks of `MPI_COMM_WORLD` (MPI is finalised when this is dropped).
    pub struct Ranks {
        universe: mpi::environment::Universe,
        pub rank: usize,
        pub size: usize,
    }

    /// The first byte of a message to rank 0.
    const OK: u8 = 0;
    const FAILED: u8 = 1;
    /// The interval of the polls while waiting for another rank.
    const POLL: std::time::Duration = std::time::Duration::from_millis(2);

    impl Ranks {
        /// Initialises MPI (only the main thread calls MPI: rayon's workers never do).
        pub fn start() -> Result<Ranks> {
            let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
                .context("MPI was already initialised")?;
            let world = universe.world();
            let (rank, size) = (world.rank(), world.size());
            Ok(Ranks {
                universe,
                rank: usize::try_from(rank).context("negative MPI rank")?,
                size: usize::try_from(size).context("negative MPI size")?,
            })
        }

        /// This rank's part `rank/size`.
        pub fn part(&self) -> Result<Part> {
            Ok(Part::new(self.rank, self.size)?)
        }

        /// Sends this rank's shard (or its error) to rank 0, which receives every rank's in rank
        /// order and merges them: `Some` on rank 0, `None` on the others (whose failures rank 0
        /// reports, as the first failing rank's error).
        pub fn combine(&self, shard: attnflow_experiment::Result<Shard>) -> Result<Option<Merged>> {
            let message = |shard: attnflow_experiment::Result<Shard>| -> Vec<u8> {
                let bytes = shard
                    .and_then(|s| s.to_bytes())
                    .map_err(|e| e.to_string())
                    .and_then(|b| {
                        if b.len() >= i32::MAX as usize {
                            Err(format!(
                                "its shard has {} bytes, above the {} of one MPI message; use --shard i/N and attnflow merge",
                                b.len(),
                                i32::MAX
                            ))
                        } else {
                            Ok(b)
                        }
                    });
                match bytes {
                    Ok(mut b) => {
                        b.insert(0, OK);
                        b
                    }
                    Err(e) => {
                        let mut b = vec![FAILED];
                        b.extend_from_slice(e.as_bytes());
                        b
                    }
                }
            };
            let world = self.universe.world();
            // waits poll every POLL instead of blocking: Open MPI busy-waits in blocking calls,
            // and a rank done early would take a core from the ranks still computing
            if self.rank != 0 {
                let bytes = message(shard);
                mpi::request::scope(|scope| {
                    let mut request = world.process_at_rank(0).immediate_send(scope, &bytes[..]);
                    loop {
                        match request.test() {
                            Ok(_) => break,
                            Err(pending) => request = pending,
                        }
                        std::thread::sleep(POLL);
                    }
                });
                return Ok(None);
            }
            let mut messages = vec![message(shard)];
            for r in 1..self.size {
                let from = world.process_at_rank(i32::try_from(r).context("MPI rank")?);
                let bytes = loop {
                    if let Some(probed) = from.immediate_matched_probe() {
                        break probed.matched_receive_vec::<u8>().0;
                    }
                    std::thread::sleep(POLL);
                };
                messages.push(bytes);
            }
            let mut shards = Vec::with_capacity(self.size);
            for (r, m) in messages.iter().enumerate() {
                match m.split_first() {
                    Some((&OK, bytes)) => {
                        let name = format!("rank {r}");
                        shards.push((name.clone(), Shard::from_bytes(bytes, &name)?));
                    }
                    Some((_, text)) => {
                        bail!("rank {r}: {}", String::from_utf8_lossy(text))
                    }
                    None => bail!("rank {r} sent nothing"),
                }
            }
            Ok(Some(merge(shards)?))
        }
    }
}

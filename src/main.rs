//! The `attnflow` command line: simulations, phase diagrams, theory numbers and theorem checks.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

// the subcommands live in the library (`attnflow::cli`), shared with the Python module
use attnflow::cli;

#[derive(Parser)]
#[command(
    name = "attnflow",
    version,
    about = "Self-attention as an interacting particle system on the sphere ([GLPR], [BKKRW])",
    after_help = "Exit status: 0 on success (also when standard output is a pipe closed early: the --out file is \
written first), 1 for a refused input or a failed run (one line `error: ...` on stderr; a full standard output too), \
2 for a command line that cannot be parsed.\n\
Experiments: run, simulate and phase-diagram are front ends over one experiment spec (attnflow-experiment): \
--spec FILE starts from a spec and the flags given override it, --print-spec prints the resolved spec, and \
running the printed spec gives the same bytes.\n\
Limits: run, simulate and phase-diagram estimate their memory, step count and work before any work and refuse \
runs above --max-memory (default: MemAvailable), --max-steps (default 10000000) or --max-work (default 1e15).\n\
Numbers: JSON and CSV outputs write non-finite values as \"inf\", \"-inf\" or \"nan\" (null / an empty field means \
undefined); outputs are replaced atomically.\n\
Interrupts: Ctrl-C (SIGINT) or SIGTERM removes the temporary file of an output being written and exits with \
status 130 and one line."
)]
struct Cli {
    /// Machine-readable output (one JSON object) where a command prints a result.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Integrate one particle system (uniform random or given initial points) and write its
    /// trajectory; flags map to the fields of an experiment spec.
    Simulate(cli::simulate::SimulateArgs),
    /// Estimate P(<x_1(t), x_2(t)> > 1 - delta) on a (t, beta) grid ([GLPR] Figures 3 and 5);
    /// flags map to the fields of an experiment spec.
    PhaseDiagram(cli::phase_diagram::PhaseDiagramArgs),
    /// Numbers predicted by the theory (equiangular ODEs, phase curve, Wendel, energies, ...).
    #[command(subcommand)]
    Theory(cli::theory::TheoryCommand),
    /// Run the theorem checks of [GLPR] and [BKKRW] (measured vs predicted); exit 1 if any fails.
    Verify(cli::verify::VerifyArgs),
    /// Run an experiment written as data: a TOML or JSON spec (field, initial condition,
    /// integrator, observables, ensemble, sweep); see crates/experiment/examples/specs.
    Run(cli::run::RunArgs),
    /// Combine the shard files of `phase-diagram --shard i/N` or `run --shard i/N` (all N parts)
    /// into the output of the single-process run, byte for byte.
    Merge(cli::merge::MergeArgs),
}

/// Exit status of an interrupted run (128 + SIGINT, the shell's convention).
const INTERRUPTED: i32 = 130;

/// On Ctrl-C (SIGINT) or SIGTERM: removes the temporary file of any output being written
/// (`attnflow_dynamics::output::remove_in_flight`), says so in one line and exits with 130.
fn install_interrupt_handler() {
    let handler = || {
        use std::io::{IsTerminal, Write};
        let removed = attnflow_dynamics::output::remove_in_flight();
        let mut err = std::io::stderr().lock();
        if err.is_terminal() {
            // the progress bar's line
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(
            err,
            "error: interrupted{}",
            if removed > 0 {
                "; the partial output was removed"
            } else {
                ""
            }
        );
        std::process::exit(INTERRUPTED);
    };
    // fails only when a handler is already installed: then that one applies
    let _ = ctrlc::set_handler(handler);
}

fn main() {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    install_interrupt_handler();
    let sub = |name: &str| {
        matches
            .subcommand_matches(name)
            .cloned()
            .unwrap_or_default()
    };
    let result = match cli.command {
        Command::Simulate(args) => cli::simulate::simulate(args, &sub("simulate"), cli.json),
        Command::PhaseDiagram(args) => {
            cli::phase_diagram::phase_diagram(args, &sub("phase-diagram"), cli.json)
        }
        Command::Theory(cmd) => cli::theory::run(cmd, cli.json),
        Command::Verify(args) => cli::verify::run(args, cli.json),
        Command::Run(args) => cli::run::run(args, cli.json),
        Command::Merge(args) => cli::merge::merge(args, cli.json),
    };
    if let Err(e) = result {
        // a closed pipe: the reader wanted no more; whatever --out names is already written
        if e.chain().any(|c| {
            c.downcast_ref::<cli::io::StdoutError>()
                .is_some_and(cli::io::StdoutError::is_broken_pipe)
                || c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            std::process::exit(0);
        }
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every option and positional argument of every subcommand has a help text.
    #[test]
    fn every_option_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "attnflow", &mut missing);
        assert!(missing.is_empty(), "options without help: {missing:?}");
    }

    /// The `--help` of every (sub)command, one snapshot each (tests/snapshots/help__*.snap).
    #[test]
    fn help_of_every_subcommand() {
        fn walk(cmd: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
            out.push((path.to_string(), cmd.render_long_help().to_string()));
            // (clap's generated `help` subcommands print these same texts)
            for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
                let name = format!("{path}-{}", sub.get_name());
                walk(sub, &name, out);
            }
        }
        let mut root = Cli::command().term_width(100);
        root.build();
        let mut helps = Vec::new();
        walk(&mut root, "attnflow", &mut helps);
        assert!(helps.len() >= 6 + 8, "{} commands", helps.len());
        insta::with_settings!({
            snapshot_path => "../tests/snapshots",
            prepend_module_to_snapshot => false,
        }, {
            for (name, help) in helps {
                insta::assert_snapshot!(format!("help__{name}"), help);
            }
        });
    }
}

//! Golden-data regression tests, one per figure (`cargo test --test golden glpr_fig3` checks one): the
//! figure is recomputed at `ci` fidelity and compared field by field with `golden/<id>.json` under the
//! tolerances the figure declares (`Meta::tolerances`). A test fails when the golden data is stale or the
//! results drift. A figure whose inputs are not in the repository (glpr-fig1 needs the MiniLM weights) has
//! its test ignored with the reason; `cargo test --test golden -- --ignored` runs it. Regenerate the golden
//! data with `cargo xtask figures --bless`.

use std::path::Path;

use attnflow_figures::DEFAULT_SEED;
use attnflow_figures::figs;
use attnflow_figures::figure::Registered;
use attnflow_figures::golden::{CheckOutcome, check_figure};

/// Recomputes `figure` and compares it with its golden file; panics with every mismatch.
fn check(figure: &dyn attnflow_figures::DynFigure) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let start = std::time::Instant::now();
    match check_figure(figure, &dir, DEFAULT_SEED) {
        Ok(CheckOutcome::Match) => eprintln!(
            "{}: matches ({:.1} s)",
            figure.id(),
            start.elapsed().as_secs_f64()
        ),
        Ok(CheckOutcome::Skipped(reason)) => {
            panic!("{}: cannot be computed here: {reason}", figure.id())
        }
        Ok(CheckOutcome::Drift(mismatches)) => {
            let lines: Vec<String> = mismatches.iter().map(|m| m.to_string()).collect();
            panic!(
                "{}: {} mismatching field(s) (run `cargo xtask figures --check` for details):\n{}",
                figure.id(),
                mismatches.len(),
                lines.join("\n")
            )
        }
        Err(e) => panic!("{}: {e}", figure.id()),
    }
}

/// One test per figure of `attnflow_figures::figure_list!`, named after its module.
macro_rules! golden_tests {
    ($($module:ident :: $figure:ident $([$needs:literal])?),* $(,)?) => {
        $(
            #[test]
            $(#[ignore = $needs])?
            fn $module() {
                check(&Registered::<figs::$module::$figure>::new());
            }
        )*
    };
}

attnflow_figures::figure_list!(golden_tests);

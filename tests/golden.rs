//! Golden-data regression test (issue 4): every registered figure is recomputed at `ci` fidelity and compared
//! field by field with `golden/<id>.json` under the tolerances declared in `golden/tolerances.json`.
//! Fails when the golden data is stale or results drift; figures whose inputs are absent here (e.g. the
//! transformer model of glpr-fig1) are reported as skipped. Regenerate with `cargo xtask figures --bless`.

use std::path::Path;

use attnflow_figures::golden::{CheckOutcome, Tolerances, check_figure};
use attnflow_figures::{DEFAULT_SEED, registry};

#[test]
fn figures_match_golden_data() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let tolerances = Tolerances::load(&dir).expect("golden/tolerances.json");
    let mut failures = Vec::new();
    for figure in registry() {
        let start = std::time::Instant::now();
        match check_figure(figure, &dir, DEFAULT_SEED, &tolerances) {
            Ok(CheckOutcome::Match) => eprintln!(
                "{}: matches ({:.1} s)",
                figure.id(),
                start.elapsed().as_secs_f64()
            ),
            Ok(CheckOutcome::Skipped(reason)) => eprintln!("{}: skipped: {reason}", figure.id()),
            Ok(CheckOutcome::Drift(mismatches)) => {
                for m in &mismatches {
                    eprintln!("{}: {m}", figure.id());
                }
                failures.push(format!(
                    "{}: {} mismatching field(s)",
                    figure.id(),
                    mismatches.len()
                ));
            }
            Err(e) => failures.push(format!("{}: {e}", figure.id())),
        }
    }
    assert!(
        failures.is_empty(),
        "golden check failed (run `cargo xtask figures --check` for details):\n{}",
        failures.join("\n")
    );
}

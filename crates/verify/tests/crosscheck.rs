//! The reduced cross-check of \[GLPR\] Figures 3 and 5 against the NumPy transcription of the authors'
//! algorithm (`attnflow_verify::crosscheck`, level `ci`): every panel agrees cell by cell with the
//! authors' algorithm, and the negative control (V applied as a column map) is detected on panel (c).
//! It needs a Python with NumPy, named by `ATTNFLOW_PYTHON`: `.ci/run` sets one up and runs this test;
//! `cargo xtask crosscheck` runs the full version.

use attnflow_verify::crosscheck::{self, Level, Variant};

#[test]
#[ignore = "needs Python with NumPy in ATTNFLOW_PYTHON: run by .ci/run; `cargo xtask crosscheck` runs the full version"]
fn phase_diagrams_agree_with_the_authors_algorithm() {
    let python = std::env::var_os("ATTNFLOW_PYTHON")
        .expect("ATTNFLOW_PYTHON must name a Python interpreter with NumPy (see .ci/run)");
    let (grid, rows) =
        crosscheck::run(python.as_ref(), Level::Ci, &mut |_, _, _| {}).expect("cross-check");
    let table = crosscheck::markdown(&grid, &rows);
    eprintln!("{table}");
    let unexpected: Vec<_> = rows.iter().filter(|r| !r.expected()).collect();
    assert!(unexpected.is_empty(), "not as expected:\n{table}");
    // the negative control was run, and detected
    assert!(
        rows.iter()
            .any(|r| r.variant == Variant::ValueAsColumn && !r.agrees)
    );
}

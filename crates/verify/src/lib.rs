//! # attnflow-verify
//!
//! The theorem-check suite of attnflow (issue 3): every theorem of \[GLPR\] ("A mathematical perspective on
//! Transformers", arXiv 2312.10794 v4) and every extremiser claim of \[BKKRW\] (arXiv 2501.03096) becomes a
//! numerical check that prints what the theory predicts next to what a simulation measures.
//!
//! - [`registry`](mod@registry): the check type ([`Check`]: id, source, hypotheses, claim, run function), the outcome
//!   ([`CheckOutcome`]: predicted, measured, tolerance, method, verdict, runtime) and [`run_checks`];
//! - [`report`]: the text table, the JSON form and the Markdown report `reports/THEOREMS.md`;
//! - [`crosscheck`]: the phase diagrams of \[GLPR\] Figures 3 and 5 against an independent NumPy
//!   transcription of the authors' algorithm, cell by cell;
//! - [`checks`]: the checks themselves, grouped by topic (energy, clustering, rates and equiangular
//!   dynamics, \[BKKRW\] surrogate models), and [`support`]: the shared numerical helpers.
//!
//! Every check runs at two fidelities: [`Fidelity::Ci`] (seconds; run by `cargo test`) and
//! [`Fidelity::Full`] (minutes; `attnflow verify --fidelity full`). Every random draw comes from
//! `attnflow_dynamics::sampling::stream(seed, realisation, purpose)`.

pub mod checks;
pub mod crosscheck;
pub mod error;
pub mod registry;
pub mod report;
pub mod support;

pub use error::{Result, VerifyError};
pub use registry::{
    Check, CheckOutcome, Fidelity, Measurement, Verdict, find_check, registry, run_check,
    run_checks,
};
pub use report::SuiteReport;

//! Subcommand modules of the `attnflow` binary.
pub mod distribute;
pub mod frontend;
pub mod io;
pub mod limits;
pub mod merge;
pub mod phase_diagram;
pub mod run;
pub mod simulate;
pub mod theory;
pub mod verify;

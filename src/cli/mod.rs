//! Subcommand modules of the `attnflow` binary.
pub mod io;
pub mod limits;
pub mod run;
pub mod theory;
pub mod verify;

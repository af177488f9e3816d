//! Subcommand modules of the `attnflow` binary.
pub mod theory;

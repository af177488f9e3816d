//! Subcommand modules of the `attnflow` binary.
pub mod theory;
pub mod verify;

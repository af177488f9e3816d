//! Typed errors of experiment specs: every message is one line that names the field and the problem
//! (e.g. `field.heads[1].v: matrix is 3 x 4, expected square 3 x 3`).

use attnflow_dynamics::DynamicsError;

/// Everything that can go wrong when reading, resolving or running an experiment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExperimentError {
    /// The spec text is not valid TOML / JSON, or does not match the schema (unknown key, wrong type).
    #[error("{location}{path}: {message}")]
    Parse {
        /// `line L: ` when known, else empty.
        location: String,
        /// The field path (`field.heads[0].q`), `(root)` for the document itself.
        path: String,
        message: String,
    },
    /// A value is out of its domain or inconsistent with another one.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A file named by the spec cannot be read or has the wrong contents.
    #[error("{field}: {message}")]
    File { field: String, message: String },
    /// The engine refused the run (e.g. a non-finite state), with where it happened. The engine's
    /// error is part of the message (not a separate `source`, which error reports would print a
    /// second time).
    #[error("{context}: {error}")]
    Dynamics {
        context: String,
        error: DynamicsError,
    },
}

/// Result alias of the experiment crate.
pub type Result<T> = std::result::Result<T, ExperimentError>;

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ExperimentError {
    ExperimentError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub(crate) fn file_error(field: impl Into<String>, message: impl Into<String>) -> ExperimentError {
    ExperimentError::File {
        field: field.into(),
        message: message.into(),
    }
}

pub(crate) fn dynamics(
    context: impl Into<String>,
) -> impl FnOnce(DynamicsError) -> ExperimentError {
    let context = context.into();
    move |error| ExperimentError::Dynamics { context, error }
}

//! Errors of the figure pipelines: invalid parameters, unavailable inputs, drawing, I/O and JSON failures.

use std::path::PathBuf;

/// Everything that can go wrong while computing, drawing, writing or checking a figure.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// A parameter is out of its domain (e.g. a grid with fewer than two points, a negative beta).
    #[error("invalid parameter: {0}")]
    InvalidParams(String),
    /// The figure cannot be computed here (e.g. the transformer model of glpr-fig1 is absent).
    /// This is a skip with a reason, never a fake result.
    #[error("figure unavailable: {0}")]
    Unavailable(String),
    /// An upstream crate (dynamics, energy, kuramoto, transformer) reported an error.
    #[error("upstream computation failed: {0}")]
    Upstream(String),
    /// A figure's declared experiment spec is invalid or is not what the figure runs.
    #[error("experiment spec: {0}")]
    Experiment(#[from] attnflow_experiment::ExperimentError),
    /// No figure of that id is registered.
    #[error("unknown figure id `{0}`")]
    UnknownFigure(String),
    /// plotters failed to draw.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// A file could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// JSON (de)serialisation failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// A golden-data file is malformed (e.g. an unparsable tolerance pattern).
    #[error("golden data: {0}")]
    Golden(String),
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for FigureError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        FigureError::Draw(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = FigureError> = std::result::Result<T, E>;

/// Wraps an `std::io::Error` with the path it concerns.
pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FigureError {
    let path = path.into();
    move |source| FigureError::Io { path, source }
}

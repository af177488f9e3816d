//! Typed errors of the theorem-check suite: failures of the underlying crates while a check runs, and bad
//! requests (an unknown check id).

/// Everything that can go wrong while running checks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// The particle engine rejected a parameter or failed to integrate.
    #[error("dynamics: {0}")]
    Dynamics(#[from] attnflow_dynamics::DynamicsError),
    /// A closed form / quadrature of attnflow-energy failed.
    #[error("energy: {0}")]
    Energy(#[from] attnflow_energy::EnergyError),
    /// A circle / surrogate computation of attnflow-kuramoto failed.
    #[error("kuramoto: {0}")]
    Kuramoto(#[from] attnflow_kuramoto::KuramotoError),
    /// `--only ID` named no registered check.
    #[error("unknown check id `{id}`; known ids: {known}")]
    UnknownCheck { id: String, known: String },
    /// An external reference implementation (e.g. the NumPy transcription of the authors'
    /// algorithm) could not be run or gave unusable output.
    #[error("{what}: {reason}")]
    External { what: &'static str, reason: String },
    /// A numerical procedure of a check itself failed (e.g. a fit window without samples).
    #[error("check `{check}`: {reason}")]
    Numerical { check: &'static str, reason: String },
}

/// Result alias of the suite.
pub type Result<T> = std::result::Result<T, VerifyError>;

pub(crate) fn numerical(check: &'static str, reason: impl Into<String>) -> VerifyError {
    VerifyError::Numerical {
        check,
        reason: reason.into(),
    }
}

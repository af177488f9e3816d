//! Typed errors of the circle / Kuramoto / surrogate-model crate.

use attnflow_dynamics::validate::Domain;

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KuramotoError {
    /// A scalar, size or shape parameter is outside its domain (n = 0, NaN beta, negative step, ...).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// An iterative method did not converge.
    #[error("no convergence in {what}: {detail}")]
    NoConvergence { what: &'static str, detail: String },
    /// A computation produced a non-finite number (overflow of e^{beta cos} or a diverging run).
    #[error("non-finite value in {what}")]
    NonFinite { what: &'static str },
    /// An error of the particle engine (attnflow-dynamics).
    #[error("dynamics engine: {0}")]
    Dynamics(#[from] attnflow_dynamics::DynamicsError),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, KuramotoError>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> KuramotoError {
    KuramotoError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

/// `value` must lie in `domain` (the engine's parameter domains, [`Domain`]): else
/// `must be {domain}, got {value}`.
fn check_domain(name: &'static str, value: f64, domain: Domain) -> Result<()> {
    if domain.contains(value) {
        Ok(())
    } else {
        Err(invalid(name, format!("must be {domain}, got {value}")))
    }
}

/// `value` must be finite and >= 0.
pub(crate) fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    check_domain(name, value, Domain::NonNegative)
}

/// `value` must be finite and > 0.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<()> {
    check_domain(name, value, Domain::Positive)
}

/// Every entry must be finite.
pub(crate) fn check_finite_slice(name: &'static str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !Domain::Finite.contains(*v)) {
        None => Ok(()),
        Some(i) => Err(invalid(
            name,
            format!("entry {i} is not finite ({})", values[i]),
        )),
    }
}

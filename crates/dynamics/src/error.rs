//! Typed errors of the dynamics engine.

/// Everything that can go wrong when building or running a particle system.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DynamicsError {
    /// A scalar or size parameter is out of its domain (n = 0, d < 2, beta = NaN, dt <= 0, ...).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// A configuration does not describe points on the sphere (wrong length, non-finite, not unit norm).
    #[error("invalid configuration: {0}")]
    InvalidConfiguration(String),
    /// The unnormalised (USA) weights e^{beta <x_i, x_j>} do not fit in an f64.
    #[error(
        "USA weights overflow f64: beta * max <x_i, x_j> = {exponent:.1} > 709; rescale time (the authors use eta = 0.1 / max(sqrt(beta) e^(beta - 1/2), 1)) or use the softmax (SA) model"
    )]
    WeightOverflow { exponent: f64 },
    /// The integration produced a non-finite state.
    #[error("non-finite state after integration step at t = {t:?}")]
    NonFiniteState { t: f64 },
    /// The adaptive integrator could not meet its tolerance.
    #[error("adaptive step size underflow: h = {h:e} at t = {t:?}")]
    StepSizeUnderflow { t: f64, h: f64 },
    /// The adaptive integrator needed more than `limit` trial steps within one macro step.
    #[error(
        "dp54 needed more than {limit} trial steps within one macro step (at t = {t:?} of the step): the tolerances cannot be met at a reasonable cost; loosen rtol/atol"
    )]
    StepLimit { limit: usize, t: f64 },
    /// The run was interrupted ([`crate::interrupt::request`], e.g. Ctrl-C in the Python module).
    #[error("interrupted")]
    Interrupted,
}

/// Result alias of the dynamics crate.
pub type Result<T> = std::result::Result<T, DynamicsError>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> DynamicsError {
    DynamicsError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

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
    #[error("non-finite state after integration step at t = {t}")]
    NonFiniteState { t: f64 },
    /// The adaptive integrator could not meet its tolerance.
    #[error("adaptive step size underflow: h = {h:e} at t = {t}")]
    StepSizeUnderflow { t: f64, h: f64 },
}

/// Result alias of the dynamics crate.
pub type Result<T> = std::result::Result<T, DynamicsError>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> DynamicsError {
    DynamicsError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

/// `value` must be finite and >= 0.
pub fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            name,
            format!("must be finite and >= 0, got {value}"),
        ))
    }
}

/// `value` must be finite and > 0.
pub fn check_positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            name,
            format!("must be finite and > 0, got {value}"),
        ))
    }
}

/// Particle count and ambient dimension: n >= 1, d >= 2.
pub fn check_sizes(n: usize, d: usize) -> Result<()> {
    if n == 0 {
        return Err(invalid("n", "need at least one particle (n >= 1)"));
    }
    if d < 2 {
        return Err(invalid(
            "d",
            format!("the sphere S^(d-1) needs d >= 2, got d = {d}"),
        ));
    }
    Ok(())
}

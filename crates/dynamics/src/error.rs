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
            format!("must be finite and >= 0, got {value:?}"),
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
            format!("must be finite and > 0, got {value:?}"),
        ))
    }
}

/// Particle count and ambient dimension: n >= 1, d >= 2, and the state (n x d) and the Gram
/// matrix (n x n) addressable as f64 arrays (see [`element_count`]).
pub fn check_sizes(n: usize, d: usize) -> Result<()> {
    check_dimensions(n, d)?;
    element_count("n * d", n, d)?;
    element_count("n * n", n, n)?;
    Ok(())
}

/// Largest number of f64 entries of one array: isize::MAX bytes, the limit of a Rust allocation.
pub const MAX_ELEMENTS: usize = isize::MAX as usize / std::mem::size_of::<f64>();

/// `rows * cols` with checked arithmetic, as the entry count of an f64 array: an error naming
/// `what` when the product overflows or exceeds [`MAX_ELEMENTS`].
pub fn element_count(what: &'static str, rows: usize, cols: usize) -> Result<usize> {
    match rows.checked_mul(cols) {
        Some(count) if count <= MAX_ELEMENTS => Ok(count),
        _ => Err(invalid(
            "size",
            format!(
                "{what} = {rows} x {cols} entries is beyond what one array can hold ({MAX_ELEMENTS} f64 entries)"
            ),
        )),
    }
}

/// Particle count and ambient dimension alone: n >= 1, d >= 2 (no size checks: the reduced
/// representation never stores n x d entries).
pub fn check_dimensions(n: usize, d: usize) -> Result<()> {
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

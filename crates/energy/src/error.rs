//! Typed errors of attnflow-energy: every public function validates its inputs and reports bad parameters
//! (n = 0, d < 2, negative / NaN beta, delta outside (0, 1), ...) through [`EnergyError`] instead of panicking.

use attnflow_dynamics::validate::Domain;

/// Errors returned by the functions of this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnergyError {
    /// A scalar parameter is outside its domain.
    #[error("invalid parameter {name} = {value:?}: must be {requirement}")]
    InvalidParameter {
        /// Name of the parameter as it appears in the paper / CLI.
        name: &'static str,
        /// Offending value.
        value: f64,
        /// Human-readable requirement, e.g. "finite and >= 0".
        requirement: &'static str,
    },
    /// Slice lengths do not match the announced shape.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// The equation to invert has no solution for the given data (e.g. t below the beta = 0 clustering time).
    #[error("no solution: {0}")]
    NoSolution(String),
    /// A numerical procedure failed (overflow, no convergence).
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, EnergyError>;

/// `value` must lie in `domain` (the engine's parameter domains, [`Domain`]), else
/// [`EnergyError::InvalidParameter`] with `requirement` (the domain in words).
fn check_domain(
    name: &'static str,
    value: f64,
    domain: Domain,
    requirement: &'static str,
) -> Result<()> {
    if domain.contains(value) {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name,
            value,
            requirement,
        })
    }
}

/// Checks that `value` is finite and `>= 0`.
pub(crate) fn check_nonneg(name: &'static str, value: f64) -> Result<()> {
    check_domain(name, value, Domain::NonNegative, "finite and >= 0")
}

/// Checks that `value` is finite and `> 0`.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<()> {
    check_domain(name, value, Domain::Positive, "finite and > 0")
}

/// Largest size parameter (n, d) accepted: 2^53, the last integer every larger one of which would
/// be rounded as an f64.
pub const MAX_EXACT: usize = 1 << 53;

/// Checks the particle count `n >= 1`.
pub(crate) fn check_n(n: usize) -> Result<()> {
    if n > MAX_EXACT {
        return Err(EnergyError::InvalidParameter {
            name: "n",
            value: n as f64,
            requirement: "<= 2^53 (exactly representable in f64)",
        });
    }
    if n >= 1 {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name: "n",
            value: n as f64,
            requirement: ">= 1",
        })
    }
}

/// Checks the ambient dimension `d >= 2` (the sphere S^{d-1} is at least a circle).
pub(crate) fn check_d(d: usize) -> Result<()> {
    if d > MAX_EXACT {
        return Err(EnergyError::InvalidParameter {
            name: "d",
            value: d as f64,
            requirement: "<= 2^53 (exactly representable in f64)",
        });
    }
    if d >= 2 {
        Ok(())
    } else {
        Err(EnergyError::InvalidParameter {
            name: "d",
            value: d as f64,
            requirement: ">= 2",
        })
    }
}

/// Checks `0 < delta < 1`.
pub(crate) fn check_delta(delta: f64) -> Result<()> {
    check_domain(
        "delta",
        delta,
        Domain::Open(0.0, 1.0),
        "in the open interval (0, 1)",
    )
}

/// Checks that a row-major `n x d` slice has the right length and finite entries.
pub(crate) fn check_points(x: &[f64], n: usize, d: usize) -> Result<()> {
    check_n(n)?;
    check_d(d)?;
    if x.len() != n * d {
        return Err(EnergyError::ShapeMismatch(format!(
            "configuration slice has length {} but n * d = {} * {} = {}",
            x.len(),
            n,
            d,
            n * d
        )));
    }
    x.iter()
        .try_for_each(|&v| check_domain("x", v, Domain::Finite, "finite"))
}

//! The parameter domains of the engine, each checked in one place and reported as
//! [`DynamicsError::InvalidParameter`](crate::DynamicsError::InvalidParameter) naming the parameter:
//!
//! | parameter | domain | source |
//! |---|---|---|
//! | n, d | n >= 1, d >= 2 (S^{d-1} is at least a circle), n d and n^2 entries addressable | \[GLPR\] section 2 |
//! | beta | finite, >= 0 (weights e^{beta <Q x_i, K x_j>}) | \[GLPR\] (2.3) |
//! | dt, step sizes | finite, > 0 | |
//! | delta | 0 < delta < 2 (the Figure 3 pairs <x_i, x_j> > 1 - delta; delta >= 2 counts every pair) | \[GLPR\] Figure 3 |
//! | rtol, atol | finite, >= 100 machine epsilons (below, round-off alone exceeds the tolerance) | Dormand-Prince 5(4) |
//! | probabilities | 0 <= p <= 1 | |
//! | weight matrices | square d x d, finite entries | \[GLPR\] (2.3)-(2.5) |
//! | pair weights w_ij | n x n, finite, >= 0, every row with a positive entry (A_ij = w_ij e^{...} / N_i) | [`crate::model::PairWeights`] |
//!
//! [`Domain`] holds the scalar domains (membership and wording), so that crates with their own
//! error types (attnflow-energy, attnflow-kuramoto, attnflow-experiment) test the same sets and
//! word them the same way.

use crate::error::{Result, invalid};

/// A set of admissible f64 values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Domain {
    /// Every finite value.
    Finite,
    /// Finite and > 0.
    Positive,
    /// Finite and >= 0.
    NonNegative,
    /// lo < v < hi.
    Open(f64, f64),
    /// lo <= v <= hi.
    Closed(f64, f64),
    /// Finite and >= the bound.
    AtLeast(f64),
}

impl Domain {
    /// Whether `value` lies in the domain (NaN never does).
    ///
    /// ```
    /// use attnflow_dynamics::validate::Domain;
    /// assert!(Domain::NonNegative.contains(0.0));
    /// assert!(!Domain::Positive.contains(0.0));
    /// assert!(!Domain::Open(0.0, 2.0).contains(f64::NAN));
    /// ```
    pub fn contains(self, value: f64) -> bool {
        match self {
            Domain::Finite => value.is_finite(),
            Domain::Positive => value.is_finite() && value > 0.0,
            Domain::NonNegative => value.is_finite() && value >= 0.0,
            Domain::Open(lo, hi) => lo < value && value < hi,
            Domain::Closed(lo, hi) => lo <= value && value <= hi,
            Domain::AtLeast(lo) => value.is_finite() && value >= lo,
        }
    }
}

/// The requirement in words, as the error messages state it ("finite and > 0", "in (0, 2)").
impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Domain::Finite => write!(f, "finite"),
            Domain::Positive => write!(f, "finite and > 0"),
            Domain::NonNegative => write!(f, "finite and >= 0"),
            Domain::Open(lo, hi) => write!(f, "in ({lo}, {hi})"),
            Domain::Closed(lo, hi) => write!(f, "in [{lo}, {hi}]"),
            Domain::AtLeast(lo) => write!(f, "finite and >= {lo:?}"),
        }
    }
}

/// `value` must lie in `domain`: else the reason `must be {domain}, got {value:?}`.
pub fn check(name: &'static str, value: f64, domain: Domain) -> Result<()> {
    if domain.contains(value) {
        Ok(())
    } else {
        Err(invalid(name, format!("must be {domain}, got {value:?}")))
    }
}

/// `value` must be finite.
pub fn check_finite(name: &'static str, value: f64) -> Result<()> {
    check(name, value, Domain::Finite)
}

/// `value` must be finite and >= 0 (e.g. beta).
pub fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    check(name, value, Domain::NonNegative)
}

/// `value` must be finite and > 0 (e.g. dt).
pub fn check_positive(name: &'static str, value: f64) -> Result<()> {
    check(name, value, Domain::Positive)
}

/// A probability: 0 <= p <= 1.
pub fn check_probability(name: &'static str, p: f64) -> Result<()> {
    check(name, p, Domain::Closed(0.0, 1.0))
}

/// The domain of the Figure 3 threshold delta: pairs with <x_i, x_j> > 1 - delta count, so
/// delta >= 2 would count every pair and delta <= 0 none.
pub const DELTA: Domain = Domain::Open(0.0, 2.0);

/// The Figure 3 threshold: 0 < delta < 2.
pub fn check_delta(delta: f64) -> Result<()> {
    check("delta", delta, DELTA)
}

/// Smallest accepted integration tolerance: 100 machine epsilons.
pub const MIN_TOLERANCE: f64 = 100.0 * f64::EPSILON;

/// An error tolerance (rtol, atol): finite, > 0 and at least [`MIN_TOLERANCE`] (below it
/// round-off alone exceeds the tolerance and the step size collapses).
pub fn check_tolerance(name: &'static str, value: f64) -> Result<()> {
    check_positive(name, value)?;
    if value < MIN_TOLERANCE {
        return Err(invalid(
            name,
            format!(
                "{value:?} is below 100 machine epsilons ({MIN_TOLERANCE:?}): round-off alone exceeds it"
            ),
        ));
    }
    Ok(())
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

/// A state of n particles in R^d: valid sizes and exactly n * d entries (`name` says which array).
pub fn check_state_len(name: &'static str, len: usize, n: usize, d: usize) -> Result<()> {
    check_sizes(n, d)?;
    let count = n * d;
    if len != count {
        return Err(invalid(
            name,
            format!("state has {len} entries, expected n * d = {count}"),
        ));
    }
    Ok(())
}

/// A d x d matrix given row-major: d >= 1, d * d entries (checked), every entry finite.
pub fn check_square(name: &'static str, d: usize, data: &[f64]) -> Result<()> {
    let count = element_count("d * d", d, d)?;
    if d == 0 || data.len() != count {
        return Err(invalid(
            name,
            format!("expected {d} x {d} = {count} entries, got {}", data.len()),
        ));
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(invalid(name, "non-finite entry"));
    }
    Ok(())
}

/// Pair weights w_ij of an n x n mask, row-major: n * n entries (checked), each finite and >= 0,
/// and every row with a positive entry (else row i attends to nothing and A_i. is undefined).
pub fn check_pair_weights(n: usize, weights: &[f64]) -> Result<()> {
    let count = element_count("n * n", n, n)?;
    if n == 0 || weights.len() != count {
        return Err(invalid(
            "pair weights",
            format!(
                "expected {n} x {n} = {count} entries, got {}",
                weights.len()
            ),
        ));
    }
    if let Some(k) = weights
        .iter()
        .position(|w| !Domain::NonNegative.contains(*w))
    {
        return Err(invalid(
            "pair weights",
            format!(
                "w[{}][{}] must be {}, got {:?}",
                k / n,
                k % n,
                Domain::NonNegative,
                weights[k]
            ),
        ));
    }
    if let Some(i) = weights
        .chunks_exact(n)
        .position(|row| row.iter().all(|w| *w == 0.0))
    {
        return Err(invalid(
            "pair weights",
            format!("row {i} has no positive weight: particle {i} would attend to nothing"),
        ));
    }
    Ok(())
}

/// The pair weights of an `n_weights` x `n_weights` mask applied to n particles: the sizes must match.
pub fn check_pair_weights_match(n_weights: usize, n: usize) -> Result<()> {
    if n_weights != n {
        return Err(invalid(
            "pair weights",
            format!("the mask is {n_weights} x {n_weights} but there are n = {n} particles"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DynamicsError;
    use proptest::prelude::*;

    fn name_of(e: DynamicsError) -> &'static str {
        match e {
            DynamicsError::InvalidParameter { name, .. } => name,
            other => panic!("not a parameter error: {other:?}"),
        }
    }

    #[test]
    fn domains_by_hand() {
        let cases = [
            (Domain::Positive, 1e-300, true),
            (Domain::Positive, 0.0, false),
            (Domain::Positive, -0.0, false),
            (Domain::Positive, f64::INFINITY, false),
            (Domain::NonNegative, -0.0, true),
            (Domain::NonNegative, -1e-300, false),
            (Domain::Finite, f64::MAX, true),
            (Domain::Finite, f64::NEG_INFINITY, false),
            (Domain::Open(0.0, 2.0), 2.0, false),
            (Domain::Open(0.0, 2.0), 1.999, true),
            (Domain::Closed(0.0, 1.0), 1.0, true),
            (Domain::AtLeast(MIN_TOLERANCE), MIN_TOLERANCE, true),
            (Domain::AtLeast(1.0), f64::INFINITY, false),
        ];
        for (domain, v, inside) in cases {
            assert_eq!(domain.contains(v), inside, "{domain:?} {v:?}");
        }
        assert_eq!(
            check_positive("dt", -0.5).unwrap_err().to_string(),
            "invalid parameter `dt`: must be finite and > 0, got -0.5"
        );
        assert_eq!(
            check_delta(2.0).unwrap_err().to_string(),
            "invalid parameter `delta`: must be in (0, 2), got 2.0"
        );
    }

    #[test]
    fn sizes_overflow_is_an_error_not_a_panic() {
        assert_eq!(name_of(check_sizes(0, 3).unwrap_err()), "n");
        assert_eq!(name_of(check_sizes(3, 1).unwrap_err()), "d");
        assert_eq!(name_of(check_sizes(usize::MAX, 2).unwrap_err()), "size");
        assert_eq!(name_of(check_sizes(1 << 32, 1 << 32).unwrap_err()), "size");
        assert_eq!(
            name_of(check_state_len("x", 0, usize::MAX, usize::MAX).unwrap_err()),
            "size"
        );
        assert!(check_state_len("x", 6, 2, 3).is_ok());
        assert_eq!(name_of(check_state_len("x", 5, 2, 3).unwrap_err()), "x");
        assert!(check_square("matrix", usize::MAX, &[]).is_err());
    }

    #[test]
    fn pair_weights_by_hand() {
        assert!(check_pair_weights(2, &[1.0, 0.0, 0.5, 0.5]).is_ok());
        for bad in [
            vec![1.0, 0.0, 0.0, 0.0],
            vec![1.0, -1.0, 1.0, 1.0],
            vec![1.0, f64::NAN, 1.0, 1.0],
            vec![1.0, f64::INFINITY, 1.0, 1.0],
            vec![1.0, 1.0, 1.0],
        ] {
            assert_eq!(
                name_of(check_pair_weights(2, &bad).unwrap_err()),
                "pair weights"
            );
        }
        assert!(check_pair_weights(0, &[]).is_err());
        assert!(check_pair_weights_match(3, 4).is_err());
    }

    proptest! {
        #[test]
        fn scalar_checks_accept_exactly_their_domain(v in proptest::num::f64::ANY) {
            prop_assert_eq!(check_positive("p", v).is_ok(), v.is_finite() && v > 0.0);
            prop_assert_eq!(check_non_negative("p", v).is_ok(), v.is_finite() && v >= 0.0);
            prop_assert_eq!(check_finite("p", v).is_ok(), v.is_finite());
            prop_assert_eq!(check_probability("p", v).is_ok(), (0.0..=1.0).contains(&v));
            prop_assert_eq!(check_delta(v).is_ok(), v > 0.0 && v < 2.0);
            prop_assert_eq!(
                check_tolerance("rtol", v).is_ok(),
                v.is_finite() && v >= 100.0 * f64::EPSILON
            );
            if let Err(e) = check_positive("p", v) {
                prop_assert_eq!(name_of(e), "p");
            }
        }

        #[test]
        fn size_checks_are_total(n in any::<usize>(), d in any::<usize>(), len in any::<usize>()) {
            let fits = n.checked_mul(d).is_some_and(|c| c <= MAX_ELEMENTS)
                && n.checked_mul(n).is_some_and(|c| c <= MAX_ELEMENTS);
            prop_assert_eq!(check_sizes(n, d).is_ok(), n >= 1 && d >= 2 && fits);
            prop_assert_eq!(check_dimensions(n, d).is_ok(), n >= 1 && d >= 2);
            prop_assert_eq!(
                check_state_len("x", len, n, d).is_ok(),
                n >= 1 && d >= 2 && fits && Some(len) == n.checked_mul(d)
            );
        }

        #[test]
        fn small_sizes_are_accepted(n in 1usize..10_000, d in 2usize..10_000) {
            prop_assert!(check_sizes(n, d).is_ok());
            prop_assert!(check_state_len("x", n * d, n, d).is_ok());
        }

        #[test]
        fn square_matrices_accept_exactly_finite_d_by_d(
            d in 0usize..5,
            extra in 0usize..2,
            entries in proptest::collection::vec(proptest::num::f64::ANY, 0..30),
        ) {
            let data: Vec<f64> = entries.into_iter().take(d * d + extra).collect();
            let valid = d >= 1 && data.len() == d * d && data.iter().all(|v| v.is_finite());
            prop_assert_eq!(check_square("matrix", d, &data).is_ok(), valid);
        }

        #[test]
        fn pair_weights_accept_exactly_the_documented_domain(
            n in 0usize..5,
            entries in proptest::collection::vec(
                prop_oneof![Just(0.0), Just(1.0), Just(-1.0), Just(f64::NAN), 0.0f64..10.0],
                0..30,
            ),
        ) {
            let data: Vec<f64> = entries.into_iter().take(n * n).collect();
            let valid = n >= 1
                && data.len() == n * n
                && data.iter().all(|w| w.is_finite() && *w >= 0.0)
                && data.chunks_exact(n).all(|row| row.iter().any(|w| *w > 0.0));
            prop_assert_eq!(check_pair_weights(n, &data).is_ok(), valid);
        }
    }
}

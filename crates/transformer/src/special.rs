//! Vectorisable special functions of the encoder's non-linearities: the complementary error function,
//! the exact GELU of BERT, `gelu(x) = x (1 + erf(x / sqrt 2)) / 2` (Hendrycks-Gimpel; \[GLPR\] (2.8)'s
//! feed-forward non-linearity in a trained model), and the attention softmax.
//!
//! erfc(z), z >= 0: with t = 2 / (2 + z) and u = 2t - 1 in (-1, 1],
//!
//! ```text
//! erfc(z) = t exp(-z^2 + g(u)),   g(u) = sum_{k < 30} c_k T_k(u)
//! ```
//!
//! where g(u) = ln(erfc(z) / t) + z^2 is smooth on [-1, 1]; the Chebyshev coefficients were computed at 50
//! digits by `crates/transformer/tools/fit_erfc.py` (truncation error < 3e-18). g is summed by Clenshaw's
//! recurrence and the exponential is [`attnflow_dynamics::exp::exp`]: relative error about 1e-15 for
//! every z (tested against libm), with no branch, so loops over it vectorise. The GELU is written with
//! erfc, `1 + erf(x / sqrt 2) = 2 - erfc(|x| / sqrt 2)` for x >= 0 and `erfc(|x| / sqrt 2)` for x < 0, which
//! keeps its relative accuracy for negative x as well.
//!
//! The slice functions run through [`attnflow_dynamics::simd_dispatch`] (AVX-512 / AVX2 copies with FMA);
//! every reduction has a fixed order, so results are the same bits on every machine.

use attnflow_dynamics::exp::{exp, exp_in_place};
use attnflow_dynamics::simd_dispatch;

/// Chebyshev coefficients c_0..c_29 of g (see the module docs), as printed (20 digits) by
/// `tools/fit_erfc.py`; the compiler rounds each to the nearest f64.
#[allow(clippy::excessive_precision)]
const ERFC_CHEBYSHEV: [f64; 30] = [
    -6.513268598908547171e-1,
    6.419697923564902603e-1,
    1.9476473204185836312e-2,
    -9.5615147868086316419e-3,
    -9.465953444820368663e-4,
    3.6683949785276145187e-4,
    4.2523324806907771645e-5,
    -2.0278578112534243154e-5,
    -1.6242900046470255135e-6,
    1.3036558355805232018e-6,
    1.5626441722066143178e-8,
    -8.5238095914926542525e-8,
    6.5290544390988514964e-9,
    5.0593434955514689418e-9,
    -9.9136415649303308674e-10,
    -2.2736512229318358557e-10,
    9.646791102015526802e-11,
    2.3940380830391147447e-12,
    -6.8860275264975533984e-12,
    8.9448792730907257167e-13,
    3.1309213993429580783e-13,
    -1.1270822361367252366e-13,
    3.8109052551892320552e-16,
    7.1060976136092369878e-15,
    -1.5230282014571043043e-15,
    -9.4574945712912340005e-17,
    1.2102371892242789923e-16,
    -2.8166630877471769718e-17,
    5.0030055594459016536e-20,
    2.3281042579529252875e-18,
];

/// erfc(z) for z >= 0 (see the module docs); NaN for NaN, 0 for z above about 26.5 (underflow).
#[inline(always)]
pub fn erfc_nonnegative(z: f64) -> f64 {
    let (t, exponent) = erfc_parts(z);
    t * exp(exponent)
}

/// t = 2 / (2 + z) and the exponent -z^2 + g(u) of [`erfc_nonnegative`] = t exp(exponent).
#[inline(always)]
fn erfc_parts(z: f64) -> (f64, f64) {
    let t = 2.0 / (2.0 + z);
    let u = (t + t) - 1.0;
    let u2 = u + u;
    let (mut b1, mut b2) = (0.0f64, 0.0f64);
    for &c in ERFC_CHEBYSHEV[1..].iter().rev() {
        let b0 = u2.mul_add(b1, c - b2);
        b2 = b1;
        b1 = b0;
    }
    let g = u.mul_add(b1, ERFC_CHEBYSHEV[0] - b2);
    (t, (-z).mul_add(z, g))
}

/// The exact GELU `x (1 + erf(x / sqrt 2)) / 2`, through [`erfc_nonnegative`].
#[inline(always)]
pub fn gelu(x: f64) -> f64 {
    let e = erfc_nonnegative(x.abs() * std::f64::consts::FRAC_1_SQRT_2);
    let one_plus_erf = if x >= 0.0 { 2.0 - e } else { e };
    0.5 * x * one_plus_erf
}

/// `v_i <- gelu(v_i)`.
pub fn gelu_in_place(v: &mut [f64]) {
    simd_dispatch!(gelu_impl(v))
}

#[inline(always)]
fn gelu_impl(v: &mut [f64]) {
    // blocks of BLOCK: the exponent and t of erfc, then the exponentials in one call (eight per
    // AVX-512 instruction sequence), then the rest of `gelu`: the operations of `gelu`, so its bits
    const BLOCK: usize = 64;
    let (mut exponent, mut t) = ([0.0f64; BLOCK], [0.0f64; BLOCK]);
    for block in v.chunks_mut(BLOCK) {
        let m = block.len();
        // a plain loop, not a closure: the body must be inlined into the dispatched copy
        for k in 0..m {
            let z = block[k].abs() * std::f64::consts::FRAC_1_SQRT_2;
            (t[k], exponent[k]) = erfc_parts(z);
        }
        exp_in_place(&mut exponent[..m]);
        for k in 0..m {
            let x = block[k];
            let e = t[k] * exponent[k];
            let one_plus_erf = if x >= 0.0 { 2.0 - e } else { e };
            block[k] = 0.5 * x * one_plus_erf;
        }
    }
}

/// Lanes of the softmax sum (fixed, so the summation order does not depend on the machine).
const LANES: usize = 8;

/// Numerically stable softmax in place: `v_i <- exp(v_i - m) / sum_j exp(v_j - m)`, m = max_j v_j. The
/// sum runs in 8 lanes (entries j = 0..7 mod 8, each in index order), combined pairwise; the division
/// is a multiplication by the reciprocal.
pub fn softmax_in_place(v: &mut [f64]) {
    simd_dispatch!(softmax_impl(v))
}

#[inline(always)]
fn softmax_impl(v: &mut [f64]) {
    let m = v
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    for x in v.iter_mut() {
        *x -= m;
    }
    exp_in_place(v);
    let mut lanes = [0.0f64; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for c in chunks.by_ref() {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += *x;
        }
    }
    for (l, x) in lanes.iter_mut().zip(chunks.remainder()) {
        *l += *x;
    }
    let sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    let inv = 1.0 / sum;
    for x in v.iter_mut() {
        *x *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_libm_in_relative_terms() {
        // relative error in units of the rounding error of the exponent -z^2 + g (about
        // (z^2 + 1) eps), which no method with one exponential avoids
        let mut worst: f64 = 0.0;
        let mut z = 0.0;
        while z < 26.0 {
            let (ours, reference) = (erfc_nonnegative(z), libm::erfc(z));
            let rel = ((ours - reference) / reference).abs();
            worst = worst.max(rel / ((z * z + 1.0) * f64::EPSILON));
            z += 0.001_37;
        }
        assert!(worst < 16.0, "worst error {worst} (z^2 + 1) eps");
        assert!((erfc_nonnegative(0.0) - 1.0).abs() <= 2.0 * f64::EPSILON);
        assert_eq!(erfc_nonnegative(40.0), 0.0);
        assert!(erfc_nonnegative(f64::NAN).is_nan());
    }

    #[test]
    fn gelu_matches_the_erf_formula() {
        let mut x = -12.0;
        let mut v = Vec::new();
        while x < 12.0 {
            v.push(x);
            x += 0.003_1;
        }
        let mut fast = v.clone();
        gelu_in_place(&mut fast);
        for (&x, &g) in v.iter().zip(&fast) {
            // for x < 0, 1 + erf(x / sqrt 2) cancels in libm's erf: compare with its erfc there
            let reference = if x < 0.0 {
                0.5 * x * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
            } else {
                0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))
            };
            // absolute error for x >= 0 (values of size x), relative for x < 0
            let scale = if x >= 0.0 {
                x.max(1.0)
            } else {
                reference.abs()
            };
            let tolerance = 16.0 * (0.5 * x * x + 1.0) * f64::EPSILON;
            assert!(
                (g - reference).abs() <= tolerance * scale.max(f64::MIN_POSITIVE),
                "gelu({x}) = {g} vs {reference}"
            );
        }
    }

    #[test]
    fn softmax_sums_to_one_and_is_shift_invariant() {
        let v: Vec<f64> = (0..37)
            .map(|i| ((i * 17 % 11) as f64) * 0.7 - 3.0)
            .collect();
        let mut a = v.clone();
        softmax_in_place(&mut a);
        let mut b: Vec<f64> = v.iter().map(|x| x + 1000.0).collect();
        softmax_in_place(&mut b);
        let sum: f64 = a.iter().sum();
        assert!((sum - 1.0).abs() < 1e-15);
        let z: f64 = v.iter().map(|x| x.exp()).sum();
        for ((x, p), q) in v.iter().zip(&a).zip(&b) {
            assert!((p - x.exp() / z).abs() < 1e-15);
            assert!((p - q).abs() < 1e-13);
        }
    }
}

//! Numerical building blocks shared by the crate: adaptive Gauss-Legendre quadrature (20-point rule with
//! bisection; nodes computed once by Newton iteration on the Legendre polynomial P_20) and Brent's bracketing
//! root finder (inverse quadratic interpolation safeguarded by bisection, R. P. Brent 1973, ch. 4).
//! Used for the equiangular quadratures of \[GLPR\] (6.9)-(6.10) and for inverting them.

use crate::error::{EnergyError, Result};
use std::sync::OnceLock;

/// Number of Gauss-Legendre nodes of the base rule.
const GL_ORDER: usize = 20;

/// Nodes and weights of the `GL_ORDER`-point Gauss-Legendre rule on [-1, 1].
fn gauss_legendre_rule() -> &'static (Vec<f64>, Vec<f64>) {
    static RULE: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    RULE.get_or_init(|| {
        let m = GL_ORDER;
        let mut nodes = vec![0.0; m];
        let mut weights = vec![0.0; m];
        for i in 0..m {
            // Chebyshev-type initial guess for the i-th root of P_m, refined by Newton.
            let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (m as f64 + 0.5)).cos();
            let mut dp = 0.0;
            for _ in 0..100 {
                let (mut p0, mut p1) = (1.0_f64, z);
                for k in 2..=m {
                    let kf = k as f64;
                    let p2 = ((2.0 * kf - 1.0) * z * p1 - (kf - 1.0) * p0) / kf;
                    p0 = p1;
                    p1 = p2;
                }
                dp = m as f64 * (z * p1 - p0) / (z * z - 1.0);
                let dz = p1 / dp;
                z -= dz;
                if dz.abs() < 1e-17 {
                    break;
                }
            }
            nodes[i] = z;
            weights[i] = 2.0 / ((1.0 - z * z) * dp * dp);
        }
        (nodes, weights)
    })
}

/// One application of the 20-point Gauss-Legendre rule on [a, b]: (integral of f, integral of |f|).
fn gauss_legendre_fixed(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64) {
    let (nodes, weights) = gauss_legendre_rule();
    let half = 0.5 * (b - a);
    let mid = 0.5 * (a + b);
    let mut sum = 0.0;
    let mut abs_sum = 0.0;
    for (z, w) in nodes.iter().zip(weights) {
        let v = f(mid + half * z);
        sum += w * v;
        abs_sum += w * v.abs();
    }
    (sum * half, abs_sum * half.abs())
}

/// Maximum number of interval bisections in [`integrate`].
const MAX_BISECTIONS: usize = 200_000;

/// Adaptive Gauss-Legendre quadrature of `f` over the finite interval [a, b].
///
/// Each interval is accepted when the 20-point rule on it and the sum of the rules on its two halves agree
/// to `max(abs_tol, rel_tol * |I|) * (interval length / (b - a))`, `I` the global estimate, or to the
/// round-off floor `100 eps * int |f|` over the interval (so unreachable tolerances cannot loop).
/// Intervals are processed in a fixed (depth-first, left-to-right) order, so the result is deterministic.
/// Errors if an integrand value is not finite or the subdivision depth (60) is exhausted.
pub fn integrate(
    f: &dyn Fn(f64) -> f64,
    a: f64,
    b: f64,
    rel_tol: f64,
    abs_tol: f64,
) -> Result<f64> {
    if !(a.is_finite() && b.is_finite()) {
        return Err(EnergyError::Numerical(format!(
            "integration bounds must be finite: [{a}, {b}]"
        )));
    }
    if a == b {
        return Ok(0.0);
    }
    let total_len = (b - a).abs();
    let (whole, _) = gauss_legendre_fixed(f, a, b);
    if !whole.is_finite() {
        return Err(EnergyError::Numerical(format!(
            "integrand not finite on [{a}, {b}]"
        )));
    }
    let global = whole.abs();
    // Stack of (left, right, estimate, depth); right halves pushed first so the left is done first.
    let mut stack = vec![(a, b, whole, 0u32)];
    let mut result = 0.0;
    let mut bisections = 0usize;
    while let Some((lo, hi, estimate, depth)) = stack.pop() {
        bisections += 1;
        if bisections > MAX_BISECTIONS {
            return Err(EnergyError::Numerical(format!(
                "adaptive quadrature exceeded {MAX_BISECTIONS} bisections on [{a}, {b}]"
            )));
        }
        let mid = 0.5 * (lo + hi);
        let (left, left_abs) = gauss_legendre_fixed(f, lo, mid);
        let (right, right_abs) = gauss_legendre_fixed(f, mid, hi);
        let refined = left + right;
        let roundoff = 100.0 * f64::EPSILON * (left_abs + right_abs);
        if !refined.is_finite() {
            return Err(EnergyError::Numerical(format!(
                "integrand not finite on [{lo}, {hi}]"
            )));
        }
        let tol = (abs_tol.max(rel_tol * global.max(refined.abs()))
            * ((hi - lo).abs() / total_len))
            .max(roundoff);
        if (refined - estimate).abs() <= tol || (hi - lo).abs() <= 1e-15 * total_len {
            result += refined;
        } else if depth >= 60 {
            return Err(EnergyError::Numerical(format!(
                "adaptive quadrature did not converge on [{lo}, {hi}]"
            )));
        } else {
            stack.push((mid, hi, right, depth + 1));
            stack.push((lo, mid, left, depth + 1));
        }
    }
    Ok(result)
}

/// Brent's root finder for a continuous `f` on a bracket [a, b] with `f(a) f(b) <= 0`.
///
/// Stops when the bracket is shorter than `2 * (4 eps |x| + x_tol)` or `f(x) = 0`. Errors if the bracket
/// does not change sign or after 500 iterations.
pub fn brent_root(f: &dyn Fn(f64) -> Result<f64>, a: f64, b: f64, x_tol: f64) -> Result<f64> {
    let (mut a, mut b) = (a, b);
    let mut fa = f(a)?;
    let mut fb = f(b)?;
    if fa == 0.0 {
        return Ok(a);
    }
    if fb == 0.0 {
        return Ok(b);
    }
    if fa.signum() == fb.signum() {
        return Err(EnergyError::NoSolution(format!(
            "root not bracketed: f({a}) = {fa}, f({b}) = {fb}"
        )));
    }
    let (mut c, mut fc) = (a, fa);
    let mut e = b - a;
    let mut step = e;
    for _ in 0..500 {
        if fb.signum() == fc.signum() {
            c = a;
            fc = fa;
            e = b - a;
            step = e;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + 0.5 * x_tol;
        let m = 0.5 * (c - b);
        if m.abs() <= tol || fb == 0.0 {
            return Ok(b);
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * m * s;
                q = 1.0 - s;
            } else {
                let qa = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * m * qa * (qa - r) - (b - a) * (r - 1.0));
                q = (qa - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * m * q - (tol * q).abs()).min((e * q).abs()) {
                e = step;
                step = p / q;
            } else {
                step = m;
                e = m;
            }
        } else {
            step = m;
            e = m;
        }
        a = b;
        fa = fb;
        b += if step.abs() > tol {
            step
        } else {
            tol.copysign(m)
        };
        fb = f(b)?;
    }
    Err(EnergyError::Numerical(
        "Brent root finder did not converge in 500 iterations".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_and_exponentials() {
        // Degree 39 is integrated exactly by the 20-point rule.
        let v = integrate(&|x| x.powi(38), -1.0, 1.0, 1e-15, 0.0).unwrap();
        assert!((v - 2.0 / 39.0).abs() < 1e-15);
        let v = integrate(&|x: f64| x.exp(), 0.0, 10.0, 1e-15, 0.0).unwrap();
        let exact = 10f64.exp() - 1.0;
        assert!(((v - exact) / exact).abs() < 2e-15, "{v} vs {exact}");
        // Nearly singular integrand forces subdivision: int_0^1 1/(x + 1e-4) dx.
        let v = integrate(&|x| 1.0 / (x + 1e-4), 0.0, 1.0, 1e-14, 0.0).unwrap();
        let exact = ((1.0 + 1e-4) / 1e-4_f64).ln();
        assert!(((v - exact) / exact).abs() < 1e-13, "{v} vs {exact}");
    }

    #[test]
    fn brent_finds_roots() {
        let r = brent_root(&|x: f64| Ok(x.cos() - x), 0.0, 1.0, 1e-15).unwrap();
        assert!((r - 0.739_085_133_215_160_6).abs() < 1e-15);
        let r = brent_root(&|x: f64| Ok(x * x * x - 2.0), 0.0, 5.0, 0.0).unwrap();
        assert!((r - 2f64.cbrt()).abs() < 1e-15);
        assert!(brent_root(&|x: f64| Ok(x * x + 1.0), -1.0, 1.0, 0.0).is_err());
    }
}

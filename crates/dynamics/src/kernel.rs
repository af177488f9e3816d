//! Dense kernels of the attention vector field: Gram matrices, row-vector-times-matrix products,
//! row softmax weights and weighted averages, and a branch-free vectorisable exponential.
//!
//! Every reduction runs in a fixed index order, and vectorisation is always across independent
//! outputs (never across a reduction), so results are bit-identical whether LLVM emits SSE2 or AVX2
//! code. No fused multiply-add is used, for the same reason. The hot entry points dispatch at run
//! time to an AVX2 copy of the same code when the processor has it.

/// Run-time dispatch to an AVX2 copy of the same (inlined) code when available.
macro_rules! dispatch {
    ($f:ident ( $($arg:expr),* )) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            unsafe fn avx2_copy(f: impl FnOnce()) {
                f()
            }
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor supports AVX2 (checked just above).
                unsafe { avx2_copy(|| $f($($arg),*)) };
                return;
            }
        }
        $f($($arg),*)
    }};
}
#[allow(unused_imports)]
use dispatch;

/// `out_ij = sum_k a_ik b_jk` (a: n_a x d, b: n_b x d, out: n_a x n_b), sums over k in index order.
///
/// With `a = b = X` this is the Gram matrix, bitwise symmetric.
pub fn cross(a: &[f64], b: &[f64], n_a: usize, n_b: usize, d: usize, out: &mut [f64]) {
    let mut bt = vec![0.0; n_b * d];
    transpose(b, n_b, d, &mut bt);
    cross_with_transposed(a, &bt, n_a, n_b, d, out);
}

/// Gram matrix `G = X X^T` of n points in R^d (bitwise symmetric).
pub fn gram(x: &[f64], n: usize, d: usize, out: &mut [f64]) {
    let mut xt = vec![0.0; n * d];
    transpose(x, n, d, &mut xt);
    gram_with_transposed(x, &xt, n, d, out);
}

/// As [`gram`], with `xt` = X^T (d x n) given: computes the upper triangle (j >= i) with the same
/// summation order as [`cross`] and mirrors it, so the result equals `cross(x, x)` bit for bit.
pub fn gram_with_transposed(x: &[f64], xt: &[f64], n: usize, d: usize, out: &mut [f64]) {
    dispatch!(gram_impl(x, xt, n, d, out))
}

#[inline(always)]
fn gram_impl(x: &[f64], xt: &[f64], n: usize, d: usize, out: &mut [f64]) {
    for i in 0..n {
        let row = &mut out[i * n + i..(i + 1) * n];
        row.fill(0.0);
        for k in 0..d {
            let xik = x[i * d + k];
            let col = &xt[k * n + i..(k + 1) * n];
            for (o, c) in row.iter_mut().zip(col) {
                *o += xik * c;
            }
        }
    }
    for i in 1..n {
        for j in 0..i {
            out[i * n + j] = out[j * n + i];
        }
    }
}

/// `bt` (d x n) = transpose of `b` (n x d).
pub fn transpose(b: &[f64], n: usize, d: usize, bt: &mut [f64]) {
    for j in 0..n {
        for k in 0..d {
            bt[k * n + j] = b[j * d + k];
        }
    }
}

/// As [`cross`], with the second factor given transposed (`bt`: d x n_b).
pub fn cross_with_transposed(
    a: &[f64],
    bt: &[f64],
    n_a: usize,
    n_b: usize,
    d: usize,
    out: &mut [f64],
) {
    dispatch!(cross_impl(a, bt, n_a, n_b, d, out))
}

#[inline(always)]
fn cross_impl(a: &[f64], bt: &[f64], n_a: usize, n_b: usize, d: usize, out: &mut [f64]) {
    for i in 0..n_a {
        let row = &mut out[i * n_b..(i + 1) * n_b];
        row.fill(0.0);
        for k in 0..d {
            let aik = a[i * d + k];
            let col = &bt[k * n_b..(k + 1) * n_b];
            for (o, c) in row.iter_mut().zip(col) {
                *o += aik * c;
            }
        }
    }
}

/// `out_i = x_i M` for each row x_i of x (n x d) and M (d x d, row-major): `out_ik = sum_l x_il M_lk`.
pub fn rows_times_matrix(x: &[f64], n: usize, d: usize, m: &[f64], out: &mut [f64]) {
    dispatch!(rows_times_matrix_impl(x, n, d, m, out))
}

#[inline(always)]
fn rows_times_matrix_impl(x: &[f64], n: usize, d: usize, m: &[f64], out: &mut [f64]) {
    for i in 0..n {
        let o = &mut out[i * d..(i + 1) * d];
        o.fill(0.0);
        for l in 0..d {
            let xil = x[i * d + l];
            for (ok, mk) in o.iter_mut().zip(&m[l * d..(l + 1) * d]) {
                *ok += xil * mk;
            }
        }
    }
}

/// `out_i = sum_j w_ij x_j` (w: n x m, x: m x d, out: n x d); sums over j in index order.
pub fn weighted_rows(w: &[f64], x: &[f64], n: usize, m: usize, d: usize, out: &mut [f64]) {
    dispatch!(weighted_rows_impl(w, x, n, m, d, out))
}

#[inline(always)]
fn weighted_rows_impl(w: &[f64], x: &[f64], n: usize, m: usize, d: usize, out: &mut [f64]) {
    for i in 0..n {
        let o = &mut out[i * d..(i + 1) * d];
        o.fill(0.0);
        for j in 0..m {
            let wij = w[i * m + j];
            for (ok, xk) in o.iter_mut().zip(&x[j * d..(j + 1) * d]) {
                *ok += wij * xk;
            }
        }
    }
}

/// In place `v <- exp(v)` elementwise, with [`exp`].
pub fn exp_in_place(v: &mut [f64]) {
    dispatch!(exp_in_place_impl(v))
}

#[inline(always)]
fn exp_in_place_impl(v: &mut [f64]) {
    for x in v.iter_mut() {
        *x = exp(*x);
    }
}

/// Branch-free e^x, accurate to about 1 ulp for x in [-708, 709]; returns 0 below -708 (no
/// subnormals) and saturates at e^709 above. Cody-Waite reduction x = k ln 2 + r, |r| <= ln2/2, and
/// the degree-13 Taylor polynomial of e^r (truncation error < 5e-18 relative), scaled by 2^k through
/// the exponent bits. Written so that LLVM vectorises loops over it.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238_164_9e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: adding it rounds to an integer
    let xc = x.clamp(-708.0, 709.0);
    let t = xc * LOG2E + SHIFT;
    let kf = t - SHIFT;
    let k = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let r = (xc - kf * LN2_HI) - kf * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let scale = f64::from_bits((k.wrapping_add(1023) as u64) << 52);
    let y = p * scale;
    if x < -708.0 { 0.0 } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_to_two_ulp() {
        let mut worst: f64 = 0.0;
        let mut x = -707.9;
        while x < 709.0 {
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 4.5e-16, "worst relative error {worst:e}");
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        let mut v = vec![-1.0, 0.5, -30.0];
        exp_in_place(&mut v);
        assert!((v[1] - 0.5f64.exp()).abs() < 1e-15);
    }

    #[test]
    fn gram_is_bitwise_symmetric_and_correct() {
        let (n, d) = (5, 7);
        let x: Vec<f64> = (0..n * d)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut g = vec![0.0; n * n];
        gram(&x, n, d, &mut g);
        let mut full = vec![0.0; n * n];
        cross(&x, &x, n, n, d, &mut full);
        assert_eq!(g, full);
        for i in 0..n {
            for j in 0..n {
                assert_eq!(g[i * n + j].to_bits(), g[j * n + i].to_bits());
                let direct: f64 = (0..d).map(|k| x[i * d + k] * x[j * d + k]).sum();
                assert!((g[i * n + j] - direct).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn matrix_products_agree_with_naive() {
        let (n, d) = (3, 4);
        let x: Vec<f64> = (0..n * d).map(|i| (i as f64).sin()).collect();
        let m: Vec<f64> = (0..d * d).map(|i| (i as f64 * 0.7).cos()).collect();
        let mut out = vec![0.0; n * d];
        rows_times_matrix(&x, n, d, &m, &mut out);
        for i in 0..n {
            for k in 0..d {
                let direct: f64 = (0..d).map(|l| x[i * d + l] * m[l * d + k]).sum();
                assert!((out[i * d + k] - direct).abs() < 1e-14);
            }
        }
        let w: Vec<f64> = (0..n * n).map(|i| i as f64 * 0.1).collect();
        weighted_rows(&w, &x, n, n, d, &mut out);
        for i in 0..n {
            for k in 0..d {
                let direct: f64 = (0..n).map(|j| w[i * n + j] * x[j * d + k]).sum();
                assert!((out[i * d + k] - direct).abs() < 1e-14);
            }
        }
    }
}

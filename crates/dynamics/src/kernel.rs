//! Dense kernels of the attention vector field: Gram matrices, row-vector-times-matrix products,
//! row softmax weights and weighted averages, and a branch-free vectorisable exponential.
//!
//! Every reduction runs in a fixed index order, and vectorisation is always across independent
//! outputs (never across a reduction). Products are accumulated with `f64::mul_add`, which is the
//! correctly rounded fused multiply-add on every platform (a hardware FMA instruction, or libm's
//! software `fma` where there is none), so results are bit-identical whatever the instruction set.
//! The hot entry points dispatch at run time to an AVX2+FMA copy of the same code; without those
//! features the portable copy is correct but much slower.

/// Run-time dispatch to an AVX2+FMA copy of the same (inlined) code when available.
macro_rules! dispatch {
    ($f:ident ( $($arg:expr),* )) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2_copy(f: impl FnOnce()) {
                f()
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the processor supports AVX2 and FMA (checked just above).
                unsafe { avx2_copy(|| $f($($arg),*)) };
                return;
            }
        }
        $f($($arg),*)
    }};
}
#[allow(unused_imports)]
use dispatch;

/// `out = A B` for A (p x r), B (r x q), row-major: `out_ij = sum_l a_il b_lj`, accumulated over l in
/// index order from 0.0 with fused multiply-adds (`acc = fma(a_il, b_lj, acc)`). The one matrix-product
/// kernel of the crate: output columns in register blocks of 16, 4 and 1, two rows at a time, so the
/// accumulators live in vector registers; every output element sees the same sequence of roundings
/// whatever the block width, row pairing or instruction set.
pub fn matmul(a: &[f64], b: &[f64], p: usize, r: usize, q: usize, out: &mut [f64]) {
    assert!(
        a.len() >= p * r && b.len() >= r * q && out.len() >= p * q,
        "matmul: slice shorter than its shape"
    );
    dispatch!(matmul_impl(a, b, p, r, q, out))
}

#[inline(always)]
fn matmul_impl(a: &[f64], b: &[f64], p: usize, r: usize, q: usize, out: &mut [f64]) {
    let mut c0 = 0;
    while c0 + 16 <= q {
        matmul_block::<16>(a, b, p, r, q, c0, out);
        c0 += 16;
    }
    while c0 + 4 <= q {
        matmul_block::<4>(a, b, p, r, q, c0, out);
        c0 += 4;
    }
    while c0 < q {
        matmul_block::<1>(a, b, p, r, q, c0, out);
        c0 += 1;
    }
}

/// Columns c0..c0+W of the output, two rows at a time (the rows share the loads of B).
#[inline(always)]
fn matmul_block<const W: usize>(
    a: &[f64],
    b: &[f64],
    p: usize,
    r: usize,
    q: usize,
    c0: usize,
    out: &mut [f64],
) {
    let mut i = 0;
    while i + 2 <= p {
        let (mut acc0, mut acc1) = ([0.0f64; W], [0.0f64; W]);
        let (a0, a1) = (&a[i * r..(i + 1) * r], &a[(i + 1) * r..(i + 2) * r]);
        for ((&x0, &x1), brow) in a0.iter().zip(a1).zip(b.chunks_exact(q)) {
            let blk: &[f64; W] = brow[c0..c0 + W].try_into().expect("block of width W");
            for w in 0..W {
                acc0[w] = x0.mul_add(blk[w], acc0[w]);
                acc1[w] = x1.mul_add(blk[w], acc1[w]);
            }
        }
        out[i * q + c0..i * q + c0 + W].copy_from_slice(&acc0);
        out[(i + 1) * q + c0..(i + 1) * q + c0 + W].copy_from_slice(&acc1);
        i += 2;
    }
    if i < p {
        let mut acc = [0.0f64; W];
        for (&x, brow) in a[i * r..(i + 1) * r].iter().zip(b.chunks_exact(q)) {
            let blk: &[f64; W] = brow[c0..c0 + W].try_into().expect("block of width W");
            for w in 0..W {
                acc[w] = x.mul_add(blk[w], acc[w]);
            }
        }
        out[i * q + c0..i * q + c0 + W].copy_from_slice(&acc);
    }
}

/// `out_ij = sum_k a_ik b_jk` (a: n_a x d, b: n_b x d, out: n_a x n_b), sums over k in index order.
pub fn cross(a: &[f64], b: &[f64], n_a: usize, n_b: usize, d: usize, out: &mut [f64]) {
    let mut bt = vec![0.0; n_b * d];
    transpose(b, n_b, d, &mut bt);
    matmul(a, &bt, n_a, d, n_b, out);
}

/// Gram matrix `G = X X^T` of n points in R^d (bitwise symmetric: both triangles multiply the same
/// pairs in the same order).
pub fn gram(x: &[f64], n: usize, d: usize, out: &mut [f64]) {
    cross(x, x, n, n, d, out);
}

/// As [`gram`], with `xt` = X^T (d x n) already available.
pub fn gram_with_transposed(x: &[f64], xt: &[f64], n: usize, d: usize, out: &mut [f64]) {
    matmul(x, xt, n, d, n, out);
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
    matmul(a, bt, n_a, d, n_b, out);
}

/// `out_i = x_i M` for each row x_i of x (n x d) and M (d x d, row-major): `out_ik = sum_l x_il M_lk`.
pub fn rows_times_matrix(x: &[f64], n: usize, d: usize, m: &[f64], out: &mut [f64]) {
    matmul(x, m, n, d, d, out);
}

/// `out_i = sum_j w_ij x_j` (w: n x m, x: m x d, out: n x d); sums over j in index order.
pub fn weighted_rows(w: &[f64], x: &[f64], n: usize, m: usize, d: usize, out: &mut [f64]) {
    matmul(w, x, n, m, d, out);
}

/// max_j v_j (NEG_INFINITY for an empty slice; NaN entries are ignored), in four lanes so that the
/// loop vectorises (the maximum is exact, so the lane order does not matter).
pub fn max(v: &[f64]) -> f64 {
    let mut lanes = [f64::NEG_INFINITY; 4];
    let chunks = v.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            lanes[k] = if c[k] > lanes[k] { c[k] } else { lanes[k] };
        }
    }
    rest.iter()
        .chain(&lanes)
        .fold(f64::NEG_INFINITY, |m, &x| if x > m { x } else { m })
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
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    p = p.mul_add(r, 1.0 / 479_001_600.0);
    p = p.mul_add(r, 1.0 / 39_916_800.0);
    p = p.mul_add(r, 1.0 / 3_628_800.0);
    p = p.mul_add(r, 1.0 / 362_880.0);
    p = p.mul_add(r, 1.0 / 40_320.0);
    p = p.mul_add(r, 1.0 / 5_040.0);
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
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

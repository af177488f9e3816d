//! The exponential of the attention weights and of the transformer's softmax and GELU:
//!
//! ```text
//! e^x = 2^k 2^(j/16) e^r,   x = (16 k + j) ln2/16 + r,   |r| <= ln2/32,
//! e^r - 1 = r + r^2 (1/2 + r/6 + ... + r^5/5040)
//! ```
//!
//! (Tang's table-driven method; the Taylor truncation error is below 2e-18). Within 1 ulp of
//! libm on [-708, 709], branch-free, identical bits in its scalar form ([`exp`], which LLVM
//! vectorises), its eight-lane AVX-512 form ([`exp_avx512`]) and every dispatched copy.

use crate::simd_dispatch as dispatch;

/// Lanes of one AVX-512 register.
const LANES: usize = 8;

/// In place `v <- exp(v)` elementwise, with [`exp`] (eight at a time by [`exp_avx512`] where
/// AVX-512 is available: the same bits, without the gathers of the auto-vectorised table lookup).
pub fn exp_in_place(v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernel::avx512() {
        // SAFETY: AVX-512 is present (checked just above).
        let done = unsafe { exp_blocks_avx512(v, None) };
        v[done..].iter_mut().for_each(|x| *x = exp(*x));
        return;
    }
    dispatch!(exp_in_place_impl(v))
}

/// For the whole blocks of eight at the start of `out`: `out_k <- exp(out_k)`, or with
/// `shifted = Some((g, beta, c))`, `out_k <- exp(beta (g_k - c))` (the shifted attention weights).
/// The operations of [`exp`]; returns how many entries were written.
///
/// # Safety
/// AVX-512 F must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
pub(crate) unsafe fn exp_blocks_avx512(
    out: &mut [f64],
    shifted: Option<(&[f64], f64, f64)>,
) -> usize {
    use std::arch::x86_64::*;
    let len = shifted.map_or(out.len(), |(g, _, _)| g.len().min(out.len()));
    let whole = len / LANES * LANES;
    for k in (0..whole).step_by(LANES) {
        // SAFETY: k + 8 <= whole <= the lengths of out (and g); AVX-512 by the caller's contract.
        unsafe {
            let p = out.as_mut_ptr().add(k);
            let x = match shifted {
                Some((g, beta, c)) => _mm512_mul_pd(
                    _mm512_set1_pd(beta),
                    _mm512_sub_pd(_mm512_loadu_pd(g.as_ptr().add(k)), _mm512_set1_pd(c)),
                ),
                None => _mm512_loadu_pd(p),
            };
            _mm512_storeu_pd(p, exp_avx512(x));
        }
    }
    whole
}

#[inline(always)]
fn exp_in_place_impl(v: &mut [f64]) {
    for x in v.iter_mut() {
        *x = exp(*x);
    }
}

/// Branch-free e^x, within 1 ulp for x in [-708, 709]; returns 0 below -708 (no subnormals)
/// and saturates at e^709 above (NaN stays NaN). Table-driven (Tang's method):
/// x = (16 k + j) ln2/16 + r with |r| <= ln2/32, e^x = 2^k 2^(j/16) e^r, where 2^(j/16) comes
/// correctly rounded from a 16-entry table (`exp_table.rs`, generated with exact decimal
/// arithmetic) and e^r - 1 = r + r^2 P(r) with the degree-5 Taylor polynomial P evaluated by
/// Estrin's scheme (truncation error < 2e-18); the reduction uses fused multiply-adds with a
/// two-part ln2/16, and 2^k enters through the exponent bits. Written so that LLVM vectorises loops
/// over it; [`exp_avx512`] is the same arithmetic on eight lanes, with the table in two registers.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    use crate::exp_table::{EXP2_TABLE, LN2_16_HI, LN2_16_LO};
    let xc = x.clamp(-708.0, 709.0);
    let t = xc.mul_add(EXP_SCALE, EXP_SHIFT);
    // m = round(16 x / ln 2) = 16 k + j
    let m = (t.to_bits() as i64).wrapping_sub(EXP_SHIFT.to_bits() as i64);
    let mf = t - EXP_SHIFT;
    let r = (-mf).mul_add(LN2_16_HI, xc);
    let r = (-mf).mul_add(LN2_16_LO, r);
    let r2 = r * r;
    let [c2, c3, c4, c5, c6, c7] = EXP_TAYLOR;
    let p01 = r.mul_add(c3, c2);
    let p23 = r.mul_add(c5, c4);
    let p45 = r.mul_add(c7, c6);
    let p = r2.mul_add(r2.mul_add(p45, p23), p01);
    let expm1 = r2.mul_add(p, r);
    let tj = EXP2_TABLE[(m & 15) as usize];
    let y = tj.mul_add(expm1, tj);
    // times 2^k, k = floor(m / 16): the result is normal for x in [-708, 709]
    let y = f64::from_bits((y.to_bits() as i64).wrapping_add((m >> 4) << 52) as u64);
    if x < -708.0 { 0.0 } else { y }
}

/// 1.5 * 2^52: adding it rounds to an integer (in the low mantissa bits).
const EXP_SHIFT: f64 = 6_755_399_441_055_744.0;
/// 16 / ln 2 (exact scaling of log2(e) by a power of two).
const EXP_SCALE: f64 = 16.0 * std::f64::consts::LOG2_E;
/// 1 / k! for k = 2..=7.
const EXP_TAYLOR: [f64; 6] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
];

/// [`exp`] on eight lanes, the same operations in the same order (so the same bits), the table
/// 2^(j/16) held in two registers and indexed by one permutation instead of a gather.
///
/// # Safety
/// AVX-512 F must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
pub unsafe fn exp_avx512(x: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let splat = _mm512_set1_pd;
    // clamp: max/min return their second operand when either is NaN, so NaN stays NaN
    let xc = _mm512_min_pd(splat(709.0), _mm512_max_pd(splat(-708.0), x));
    // SAFETY: AVX-512 F by the caller's contract.
    let y = unsafe { exp_in_range_avx512(xc) };
    let below = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, splat(-708.0));
    _mm512_maskz_mov_pd(!below, y)
}

/// [`exp_avx512`] without the clamp to [-708, 709] and the flush to zero below it: the same bits
/// for every lane in [-708, 709] (where those steps change nothing), four instructions fewer.
/// Callers must know the range (the attention weights of [`crate::kernel`] do).
///
/// # Safety
/// AVX-512 F must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[inline]
pub unsafe fn exp_in_range_avx512(xc: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use crate::exp_table::{EXP2_TABLE, LN2_16_HI, LN2_16_LO};
    use std::arch::x86_64::*;
    let splat = _mm512_set1_pd;
    // SAFETY: the two loads read the 16 table entries (two rows of eight).
    let (low_half, high_half) = unsafe {
        (
            _mm512_loadu_pd(EXP2_TABLE.as_ptr()),
            _mm512_loadu_pd(EXP2_TABLE.as_ptr().add(8)),
        )
    };
    let t = _mm512_fmadd_pd(xc, splat(EXP_SCALE), splat(EXP_SHIFT));
    let m = _mm512_sub_epi64(
        _mm512_castpd_si512(t),
        _mm512_set1_epi64(EXP_SHIFT.to_bits() as i64),
    );
    let mf = _mm512_sub_pd(t, splat(EXP_SHIFT));
    let r = _mm512_fnmadd_pd(mf, splat(LN2_16_HI), xc);
    let r = _mm512_fnmadd_pd(mf, splat(LN2_16_LO), r);
    let r2 = _mm512_mul_pd(r, r);
    let [c2, c3, c4, c5, c6, c7] = EXP_TAYLOR;
    let p01 = _mm512_fmadd_pd(r, splat(c3), splat(c2));
    let p23 = _mm512_fmadd_pd(r, splat(c5), splat(c4));
    let p45 = _mm512_fmadd_pd(r, splat(c7), splat(c6));
    let p = _mm512_fmadd_pd(r2, _mm512_fmadd_pd(r2, p45, p23), p01);
    let expm1 = _mm512_fmadd_pd(r2, p, r);
    // the low four bits of m pick 2^(j/16) (bit 3: which register)
    let tj = _mm512_permutex2var_pd(low_half, m, high_half);
    let y = _mm512_fmadd_pd(tj, expm1, tj);
    let k = _mm512_slli_epi64::<52>(_mm512_srai_epi64::<4>(m));
    _mm512_castsi512_pd(_mm512_add_epi64(_mm512_castpd_si512(y), k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_one_ulp_of_libm() {
        // distance in units in the last place (same sign, finite)
        let ulps = |a: f64, b: f64| (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs();
        let mut worst = 0;
        let mut x = -708.0;
        while x <= 709.0 {
            worst = worst.max(ulps(exp(x), x.exp()));
            x += 0.001_37;
        }
        // densely where the attention weights live: beta (G_ij - c) in [-2 beta, 0]
        for i in 0..200_000 {
            let x = -40.0 * i as f64 / 200_000.0;
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        assert!(worst <= 1, "worst error {worst} ulp");
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-708.0) > 0.0 && exp(-708.0).is_normal());
        assert!(exp(709.0).is_finite() && exp(1e6).is_finite());
        assert!(exp(f64::NAN).is_nan());
        let mut v = vec![-1.0, 0.5, -30.0];
        exp_in_place(&mut v);
        assert_eq!(v[1], exp(0.5));
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn vector_exp_gives_the_bits_of_the_scalar_one() {
        if !crate::kernel::avx512() {
            return;
        }
        let mut xs: Vec<f64> = (0..40_000).map(|i| -720.0 + i as f64 * 0.03591).collect();
        xs.extend([
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -708.0,
            -708.0000001,
            709.0,
            0.0,
            -0.0,
            1e-300,
            -1e-17,
        ]);
        while !xs.len().is_multiple_of(8) {
            xs.push(0.5);
        }
        for chunk in xs.chunks_exact(8) {
            let mut out = [0.0; 8];
            // SAFETY: AVX-512 checked above; eight lanes in and out.
            unsafe {
                use std::arch::x86_64::*;
                _mm512_storeu_pd(
                    out.as_mut_ptr(),
                    exp_avx512(_mm512_loadu_pd(chunk.as_ptr())),
                );
            }
            for (&x, &y) in chunk.iter().zip(&out) {
                assert_eq!(y.to_bits(), exp(x).to_bits(), "x = {x:e}");
            }
        }
    }
}

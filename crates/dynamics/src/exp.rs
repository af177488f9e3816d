//! The exponential of the attention weights and of the transformer's softmax and GELU:
//!
//! ```text
//! e^x = 2^k 2^(j/16) e^r,   x = (16 k + j) ln2/16 + r,   |r| <= ln2/32,
//! e^r - 1 = r + r^2 (1/2 + r/6 + ... + r^5/5040)
//! ```
//!
//! (Tang's table-driven method; the Taylor truncation error is below 2e-18). Within 1 ulp of
//! libm on [-708, 709], branch-free, identical bits in its scalar form ([`exp`], which LLVM
//! vectorises) and its vector form, written once over pulp (`exp_lanes`: AVX-512, AVX2, NEON,
//! scalar through [`crate::simd::dispatch`]; [`exp_avx512`] is its AVX-512 instance).

use crate::simd::{Backend, Kernel};

/// In place `v <- exp(v)` elementwise, with [`exp`] (a register at a time by `exp_lanes`
/// through [`crate::simd::dispatch`]: the same bits, the table lookup a permutation with AVX-512).
pub fn exp_in_place(v: &mut [f64]) {
    crate::simd::run(ExpBlocks {
        out: v,
        shifted: None,
    });
}

/// `out_k <- exp(out_k)`, or with `shifted = Some((g, beta, c))`, `out_k <- exp(beta (g_k - c))`
/// (the shifted attention weights; `g` as long as `out`): whole registers by `exp_lanes`, the
/// rest by [`exp`] (the same operations).
pub(crate) struct ExpBlocks<'a> {
    pub(crate) out: &'a mut [f64],
    pub(crate) shifted: Option<(&'a [f64], f64, f64)>,
}

impl Kernel for ExpBlocks<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Backend>(self, simd: S) {
        let ExpBlocks { out, shifted } = self;
        let lanes = S::F64_LANES;
        let len = shifted.map_or(out.len(), |(g, _, _)| g.len().min(out.len()));
        let whole = len / lanes * lanes;
        let argument = |k: usize, x: f64| match shifted {
            Some((g, beta, c)) => beta * (g[k] - c),
            None => x,
        };
        for k in (0..whole).step_by(lanes) {
            // SAFETY: k + lanes <= whole <= the lengths of out (and g).
            unsafe {
                let p = out.as_mut_ptr().add(k);
                let x = match shifted {
                    Some((g, beta, c)) => simd.mul_f64s(
                        simd.splat_f64s(beta),
                        simd.sub_f64s(
                            g.as_ptr().add(k).cast::<S::f64s>().read_unaligned(),
                            simd.splat_f64s(c),
                        ),
                    ),
                    None => p.cast::<S::f64s>().read_unaligned(),
                };
                p.cast::<S::f64s>()
                    .write_unaligned(exp_lanes::<S, true>(simd, x));
            }
        }
        for (k, y) in out.iter_mut().enumerate().take(len).skip(whole) {
            *y = exp(argument(k, *y));
        }
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

/// [`exp`] on the lanes of one register of any backend of [`crate::simd::run`], the same
/// operations in the same order (so the same bits); the table 2^(j/16) by the backend's
/// [`Backend::lookup16`] (one permutation of two registers with AVX-512, a gather with AVX2) and
/// 2^k by its [`Backend::exponent_bits`]. With `CLAMP = false`, without the clamp to [-708, 709]
/// and the flush to zero below it: the same bits for every lane in [-708, 709] (where those
/// steps change nothing), four operations fewer; callers must know the range (the attention
/// weights of [`crate::kernel`] do). The clamp is by comparisons and selects (NaN stays NaN on
/// every backend, as with `f64::clamp`), not by minimum and maximum, whose NaN rules differ
/// between instruction sets.
#[inline(always)]
pub(crate) fn exp_lanes<S: Backend, const CLAMP: bool>(simd: S, x: S::f64s) -> S::f64s {
    use crate::exp_table::{EXP2_TABLE, LN2_16_HI, LN2_16_LO};
    let splat = |v: f64| simd.splat_f64s(v);
    let xc = if CLAMP {
        let high = simd.select_f64s(simd.greater_than_f64s(x, splat(709.0)), splat(709.0), x);
        simd.select_f64s(simd.less_than_f64s(x, splat(-708.0)), splat(-708.0), high)
    } else {
        x
    };
    let t = simd.mul_add_f64s(xc, splat(EXP_SCALE), splat(EXP_SHIFT));
    // m = round(16 x / ln 2) = 16 k + j
    let m = simd.sub_u64s(
        simd.transmute_u64s_f64s(t),
        simd.splat_u64s(EXP_SHIFT.to_bits()),
    );
    let mf = simd.sub_f64s(t, splat(EXP_SHIFT));
    let r = simd.mul_add_f64s(simd.neg_f64s(mf), splat(LN2_16_HI), xc);
    let r = simd.mul_add_f64s(simd.neg_f64s(mf), splat(LN2_16_LO), r);
    let r2 = simd.mul_f64s(r, r);
    let [c2, c3, c4, c5, c6, c7] = EXP_TAYLOR;
    let p01 = simd.mul_add_f64s(r, splat(c3), splat(c2));
    let p23 = simd.mul_add_f64s(r, splat(c5), splat(c4));
    let p45 = simd.mul_add_f64s(r, splat(c7), splat(c6));
    let p = simd.mul_add_f64s(r2, simd.mul_add_f64s(r2, p45, p23), p01);
    let expm1 = simd.mul_add_f64s(r2, p, r);
    let tj = simd.lookup16(&EXP2_TABLE, m);
    let y = simd.mul_add_f64s(tj, expm1, tj);
    // times 2^k, k = floor(m / 16): the result is normal for x in [-708, 709]
    let y =
        simd.transmute_f64s_u64s(simd.add_u64s(simd.transmute_u64s_f64s(y), simd.exponent_bits(m)));
    if CLAMP {
        simd.select_f64s(simd.less_than_f64s(x, splat(-708.0)), splat(0.0), y)
    } else {
        y
    }
}

/// [`exp`] on eight lanes: `exp_lanes` on pulp's AVX-512 backend.
///
/// # Safety
/// Every feature of pulp's `V4` must be available (AVX-512 F/VL/DQ/BW/CD, AVX2, FMA, ...).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
pub unsafe fn exp_avx512(x: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    // SAFETY: the caller's contract.
    let simd = unsafe { pulp::x86::V4::new_unchecked() };
    pulp::cast(exp_lanes::<_, true>(simd, pulp::cast(x)))
}

/// [`exp_avx512`] without the clamp to [-708, 709] and the flush to zero below it (see
/// `exp_lanes`): the same bits for every lane in [-708, 709].
///
/// # Safety
/// As [`exp_avx512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[inline]
pub unsafe fn exp_in_range_avx512(xc: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    // SAFETY: the caller's contract.
    let simd = unsafe { pulp::x86::V4::new_unchecked() };
    pulp::cast(exp_lanes::<_, false>(simd, pulp::cast(xc)))
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
    fn vector_exp_gives_the_bits_of_the_scalar_one() {
        let mut xs: Vec<f64> = (0..40_000).map(|i| -720.0 + i as f64 * 0.03591).collect();
        xs.extend([
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -708.0,
            -708.0000001,
            709.0,
            709.5,
            0.0,
            -0.0,
            1e-300,
            -1e-17,
        ]);
        let scalar: Vec<u64> = xs.iter().map(|&x| exp(x).to_bits()).collect();
        // every backend this processor has (the 51 lanes past whole registers by `exp`)
        let on = |run: &dyn Fn(ExpBlocks<'_>)| {
            let mut v = xs.clone();
            run(ExpBlocks {
                out: &mut v,
                shifted: None,
            });
            v.iter().map(|y| y.to_bits()).collect::<Vec<_>>()
        };
        let mut results = vec![("scalar", on(&|k| k.run(pulp::Scalar::new())))];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(simd) = pulp::x86::V3::try_new() {
                results.push(("avx2", on(&|k| simd.vectorize(move || k.run(simd)))));
            }
            if let Some(simd) = pulp::x86::V4::try_new() {
                results.push(("avx512", on(&|k| simd.vectorize(move || k.run(simd)))));
            }
        }
        for (backend, vector) in results {
            for ((x, &s), &v) in xs.iter().zip(&scalar).zip(&vector) {
                if x.is_nan() {
                    // a NaN's sign and payload are not specified by the language (LLVM may take
                    // either NaN operand of an FMA): NaN must stay NaN, its bits may differ
                    assert!(f64::from_bits(v).is_nan(), "{backend}, x = NaN");
                } else {
                    assert_eq!(v, s, "{backend}, x = {x:e}");
                }
            }
        }
        // the eight-lane AVX-512 instance, clamped and in range
        #[cfg(target_arch = "x86_64")]
        if crate::kernel::avx512() {
            for chunk in xs.chunks_exact(8) {
                let (mut out, mut in_range) = ([0.0; 8], [0.0; 8]);
                // SAFETY: AVX-512 (every feature of pulp's V4) checked above; eight lanes.
                unsafe {
                    use std::arch::x86_64::*;
                    let x = _mm512_loadu_pd(chunk.as_ptr());
                    _mm512_storeu_pd(out.as_mut_ptr(), exp_avx512(x));
                    _mm512_storeu_pd(in_range.as_mut_ptr(), exp_in_range_avx512(x));
                }
                for ((&x, &y), &z) in chunk.iter().zip(&out).zip(&in_range) {
                    if x.is_nan() {
                        assert!(y.is_nan(), "x = NaN");
                    } else {
                        assert_eq!(y.to_bits(), exp(x).to_bits(), "x = {x:e}");
                    }
                    if (-708.0..=709.0).contains(&x) {
                        assert_eq!(z.to_bits(), exp(x).to_bits(), "x = {x:e}");
                    }
                }
            }
        }
    }
}

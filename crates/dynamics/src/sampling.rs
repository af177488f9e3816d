//! Random inputs: seeded streams, a value-stable Gaussian sampler, uniform points on S^{d-1},
//! the Bartlett factor of a Gaussian Gram matrix (\[GLPR\] section 1, "An exact reduction"), and the
//! random weight ensembles of \[GLPR\] Figure 5 (Ginibre, GOE/Wigner, Wishart).
//!
//! Every random draw comes from a [`Pcg64`] stream keyed by (master seed, realisation index,
//! purpose) through [`stream`]; nothing reads OS entropy or a thread-local generator, so a
//! realisation's numbers do not depend on which thread runs it.

use crate::config::Configuration;
use crate::error::{Result, invalid};
use crate::matrix::SquareMatrix;
use crate::validate::{check_dimensions, check_sizes, element_count};
use rand_core::Rng;
pub use rand_pcg::Pcg64;

/// What a random stream is used for; part of the stream key so that purposes never share numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Purpose {
    InitialCondition,
    Matrices,
    Noise,
    Perturbation,
    Other(u64),
}

impl Purpose {
    fn code(self) -> u64 {
        match self {
            Purpose::InitialCondition => 1,
            Purpose::Matrices => 2,
            Purpose::Noise => 3,
            Purpose::Perturbation => 4,
            Purpose::Other(k) => 0x1000_0000_0000 ^ k,
        }
    }
}

/// SplitMix64 finaliser: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The Pcg64 stream of (master seed, realisation index, purpose). State and stream selector are
/// both derived by chained SplitMix64 mixing of the three keys.
///
/// ```
/// use attnflow_dynamics::sampling::{Purpose, stream, uniform01};
/// let mut a = stream(7, 3, Purpose::InitialCondition);
/// let mut b = stream(7, 3, Purpose::InitialCondition);
/// let mut other = stream(7, 3, Purpose::Matrices);
/// let (x, y, z) = (uniform01(&mut a), uniform01(&mut b), uniform01(&mut other));
/// assert_eq!(x.to_bits(), y.to_bits()); // same key, same numbers
/// assert_ne!(x, z); // another purpose, another stream
/// ```
pub fn stream(master_seed: u64, realisation: u64, purpose: Purpose) -> Pcg64 {
    let h1 = mix64(master_seed ^ mix64(realisation ^ mix64(purpose.code())));
    let h2 = mix64(h1 ^ 0x5851_F42D_4C95_7F2D);
    let h3 = mix64(h2 ^ 0x1405_7B7E_F767_814F);
    let h4 = mix64(h3 ^ 0x2545_F491_4F6C_DD1D);
    Pcg64::new(
        ((h1 as u128) << 64) | h2 as u128,
        ((h3 as u128) << 64) | h4 as u128,
    )
}

/// Uniform in [0, 1) with 53 random bits.
pub fn uniform01(rng: &mut Pcg64) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal variate by the Marsaglia polar method (libm's log and sqrt, so values are the
/// same on every platform). One variate per call: the second of each pair is discarded so that
/// the k-th call always consumes the same part of the stream.
pub fn standard_normal(rng: &mut Pcg64) -> f64 {
    loop {
        let u = 2.0 * uniform01(rng) - 1.0;
        let v = 2.0 * uniform01(rng) - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * libm::sqrt(-2.0 * libm::log(s) / s);
        }
    }
}

/// Fills `out` with standard normal variates: the values of `out.len()` calls of
/// [`standard_normal`], and the stream is left where those calls leave it. Eight candidate pairs
/// at a time (while at least eight variates are missing, so that no candidate is drawn that the
/// calls would not draw), written once over pulp ([`crate::simd::dispatch`]): the same uniforms,
/// the acceptance test, and libm's logarithm (FreeBSD's e_log.c, see `log_lanes`) and sqrt
/// with the same operations in the same order on every backend, so the same bits.
pub fn fill_standard_normal(rng: &mut Pcg64, out: &mut [f64]) {
    let filled = crate::simd::run(PolarBatches {
        rng: &mut *rng,
        out: &mut *out,
    });
    for v in &mut out[filled..] {
        *v = standard_normal(rng);
    }
}

/// Candidate pairs of the polar method eight at a time while at least eight variates are
/// missing; the accepted variates in order at the start of `out`; returns how many.
struct PolarBatches<'a> {
    rng: &'a mut Pcg64,
    out: &'a mut [f64],
}

impl crate::simd::Kernel for PolarBatches<'_> {
    type Output = usize;
    #[inline(always)]
    fn run<S: crate::simd::Backend>(self, simd: S) -> usize {
        const PAIRS: usize = 8;
        let PolarBatches { rng, out } = self;
        let lanes = S::F64_LANES;
        debug_assert!(PAIRS.is_multiple_of(lanes));
        let mut filled = 0;
        while out.len() - filled >= PAIRS {
            let (mut u, mut v) = ([0.0f64; PAIRS], [0.0f64; PAIRS]);
            for (u, v) in u.iter_mut().zip(v.iter_mut()) {
                *u = 2.0 * uniform01(rng) - 1.0;
                *v = 2.0 * uniform01(rng) - 1.0;
            }
            let (mut s, mut y) = ([0.0f64; PAIRS], [0.0f64; PAIRS]);
            for k in (0..PAIRS).step_by(lanes) {
                // SAFETY: k + lanes <= PAIRS: the registers lie inside the four arrays.
                unsafe {
                    let load =
                        |a: &[f64; PAIRS]| a.as_ptr().add(k).cast::<S::f64s>().read_unaligned();
                    let (uk, vk) = (load(&u), load(&v));
                    let sk = simd.add_f64s(simd.mul_f64s(uk, uk), simd.mul_f64s(vk, vk));
                    // in the accepted lanes s is normal (s >= 2^-104): the main branch of the
                    // logarithm; the other lanes are not used
                    let factor = simd.sqrt_f64s(simd.div_f64s(
                        simd.mul_f64s(simd.splat_f64s(-2.0), log_lanes(simd, sk)),
                        sk,
                    ));
                    s.as_mut_ptr().add(k).cast::<S::f64s>().write_unaligned(sk);
                    y.as_mut_ptr()
                        .add(k)
                        .cast::<S::f64s>()
                        .write_unaligned(simd.mul_f64s(uk, factor));
                }
            }
            for (&s, &y) in s.iter().zip(&y) {
                if s > 0.0 && s < 1.0 {
                    out[filled] = y;
                    filled += 1;
                }
            }
        }
        filled
    }
}

/// libm's `log` (FreeBSD e_log.c) on the lanes of one register of any backend of
/// [`crate::simd::run`], for normal, positive, finite x: the same operations in the same order
/// (separate multiplications and additions, no fused ones), so the same bits; other lanes get
/// unspecified values.
#[inline(always)]
#[allow(
    clippy::excessive_precision,
    reason = "constants kept digit for digit as in FreeBSD's e_log.c, so they can be audited against it"
)]
fn log_lanes<S: crate::simd::Backend>(simd: S, x: S::f64s) -> S::f64s {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const LG: [f64; 7] = [
        6.666_666_666_666_735_130e-1,
        3.999_999_999_940_941_908e-1,
        2.857_142_874_366_239_149e-1,
        2.222_219_843_214_978_396e-1,
        1.818_357_216_161_805_012e-1,
        1.531_383_769_920_937_332e-1,
        1.479_819_860_511_658_591e-1,
    ];
    /// 1.5 * 2^52: its bits plus a small integer k are the bits of 1.5 * 2^52 + k.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    let splat = |v: f64| simd.splat_f64s(v);
    let int = |v: u64| simd.splat_u64s(v);
    let add = |a, b| simd.add_f64s(a, b);
    let mul = |a, b| simd.mul_f64s(a, b);
    // reduce x into [sqrt(2)/2, sqrt(2)]: x = 2^k (1 + f), on the high 32 bits
    let ui = simd.transmute_u64s_f64s(x);
    let hx = simd.add_u64s(simd.shift_right(ui, 32), int(0x3ff0_0000 - 0x3fe6_a09e));
    // k as a two's complement integer (|k| < 1100)
    let k = simd.sub_u64s(simd.shift_right(hx, 20), int(0x3ff));
    let hx = simd.add_u64s(simd.and_u64s(hx, int(0x000f_ffff)), int(0x3fe6_a09e));
    let ui = simd.or_u64s(simd.shift_left(hx, 32), simd.and_u64s(ui, int(0xffff_ffff)));
    let f = simd.sub_f64s(simd.transmute_f64s_u64s(ui), splat(1.0));
    let hfsq = mul(mul(splat(0.5), f), f);
    let s = simd.div_f64s(f, add(splat(2.0), f));
    let z = mul(s, s);
    let w = mul(z, z);
    let t1 = mul(
        w,
        add(
            splat(LG[1]),
            mul(w, add(splat(LG[3]), mul(w, splat(LG[5])))),
        ),
    );
    let t2 = mul(
        z,
        add(
            splat(LG[0]),
            mul(
                w,
                add(
                    splat(LG[2]),
                    mul(w, add(splat(LG[4]), mul(w, splat(LG[6])))),
                ),
            ),
        ),
    );
    let r = add(t2, t1);
    // k as f64, exactly
    let dk = simd.sub_f64s(
        simd.transmute_f64s_u64s(simd.add_u64s(int(SHIFT.to_bits()), k)),
        splat(SHIFT),
    );
    let sum = add(mul(s, add(hfsq, r)), mul(dk, splat(LN2_LO)));
    add(add(simd.sub_f64s(sum, hfsq), f), mul(dk, splat(LN2_HI)))
}

/// Gamma(shape, 1) variate by Marsaglia-Tsang (with the U^{1/a} boost for shape < 1).
pub fn gamma(shape: f64, rng: &mut Pcg64) -> f64 {
    if shape < 1.0 {
        let g = gamma(shape + 1.0, rng);
        let u = uniform01(rng);
        return g * libm::pow(u, 1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / libm::sqrt(9.0 * d);
    loop {
        let z = standard_normal(rng);
        let v = 1.0 + c * z;
        if v <= 0.0 {
            continue;
        }
        let v3 = v * v * v;
        let u = uniform01(rng);
        if u < 1.0 - 0.0331 * z * z * z * z
            || libm::log(u) < 0.5 * z * z + d * (1.0 - v3 + libm::log(v3))
        {
            return d * v3;
        }
    }
}

/// Chi-square variate with `k` degrees of freedom (2 Gamma(k/2)).
pub fn chi_square(k: f64, rng: &mut Pcg64) -> f64 {
    2.0 * gamma(0.5 * k, rng)
}

/// n points i.i.d. uniform on S^{d-1}: standard Gaussian vectors (drawn row by row) normalised.
///
/// ```
/// use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
/// let mut rng = stream(0, 0, Purpose::InitialCondition);
/// let x = uniform_sphere(32, 3, &mut rng)?;
/// for i in 0..32 {
///     let norm = x.row(i).iter().map(|v| v * v).sum::<f64>().sqrt();
///     assert!((norm - 1.0).abs() < 1e-15);
/// }
/// // deterministic: the same stream gives the same points
/// let again = uniform_sphere(32, 3, &mut stream(0, 0, Purpose::InitialCondition))?;
/// assert_eq!(x, again);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
pub fn uniform_sphere(n: usize, d: usize, rng: &mut Pcg64) -> Result<Configuration> {
    check_sizes(n, d)?;
    let mut data = vec![0.0; n * d];
    fill_standard_normal(rng, &mut data);
    Configuration::normalized(n, d, data)
}

/// Reduced coordinates (n x min(n, d)) of n i.i.d. uniform points on S^{d-1}.
///
/// For d > n, X = G / row norms with G an n x d Gaussian matrix; G G^T is Wishart and its Cholesky
/// factor L has the Bartlett law: L_kk^2 ~ chi^2_{d-k+1} (k = 1..n), L_kj ~ N(0, 1) for j < k,
/// all independent. Normalising the rows of L gives points whose Gram matrix has exactly the law of
/// the Gram matrix of X, at a cost independent of d. For d <= n this is [`uniform_sphere`].
pub fn uniform_sphere_reduced(n: usize, d: usize, rng: &mut Pcg64) -> Result<Configuration> {
    check_dimensions(n, d)?;
    element_count("n * n", n, n)?;
    if d <= n {
        return uniform_sphere(n, d, rng);
    }
    let mut l = vec![0.0; n * n];
    for k in 0..n {
        for j in 0..k {
            l[k * n + j] = standard_normal(rng);
        }
        l[k * n + k] = libm::sqrt(chi_square((d - k) as f64, rng));
    }
    Configuration::normalized(n, n, l)
}

/// Real Ginibre matrix: i.i.d. N(0, 1) entries.
pub fn ginibre(d: usize, rng: &mut Pcg64) -> Result<SquareMatrix> {
    if d == 0 {
        return Err(invalid("d", "matrix dimension must be >= 1"));
    }
    element_count("d * d", d, d)?;
    SquareMatrix::new(d, (0..d * d).map(|_| standard_normal(rng)).collect())
}

/// GOE / Wigner matrix (G + G^T) / sqrt(2): symmetric, N(0, 1) off the diagonal, N(0, 2) on it.
pub fn goe(d: usize, rng: &mut Pcg64) -> Result<SquareMatrix> {
    let g = ginibre(d, rng)?;
    g.add(&g.transpose())
        .map(|m| m.scaled(std::f64::consts::FRAC_1_SQRT_2))
}

/// Wishart matrix G G^T with G Ginibre (positive semidefinite).
pub fn wishart(d: usize, rng: &mut Pcg64) -> Result<SquareMatrix> {
    let g = ginibre(d, rng)?;
    g.matmul(&g.transpose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_normals_equal_one_at_a_time() {
        // values and stream position, for lengths around the batch size and many seeds
        for seed in 0..40 {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 200] {
                let mut one = stream(seed, len as u64, Purpose::Other(5));
                let mut batched = one.clone();
                let expected: Vec<u64> = (0..len)
                    .map(|_| standard_normal(&mut one).to_bits())
                    .collect();
                let mut out = vec![0.0; len];
                fill_standard_normal(&mut batched, &mut out);
                let got: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, expected, "seed {seed}, len {len}");
                assert_eq!(one.next_u64(), batched.next_u64(), "stream position");
            }
        }
    }

    #[test]
    fn vector_log_equals_libm() {
        use crate::simd::{Backend, Kernel};
        // the polar method's range (0, 1) densely, down to 2^-104, and normal values beyond
        let mut values: Vec<f64> = (1..200_000).map(|i| i as f64 / 200_000.0).collect();
        values.extend((0..2000).map(|i| 2f64.powf(-104.0 + i as f64 * 0.052)));
        values.extend((0..2000).map(|i| 1.0 + i as f64 * 0.37));
        values.extend([f64::MIN_POSITIVE, f64::MAX, 1.0, 0.5, 2.0]);
        values.resize(values.len().div_ceil(8) * 8, 0.75);
        /// The logarithms of `values` by whole registers.
        struct Logs<'a>(&'a [f64]);
        impl Kernel for Logs<'_> {
            type Output = Vec<f64>;
            fn run<S: Backend>(self, simd: S) -> Vec<f64> {
                let mut out = vec![0.0; self.0.len()];
                for (x, y) in self
                    .0
                    .chunks_exact(S::F64_LANES)
                    .zip(out.chunks_exact_mut(S::F64_LANES))
                {
                    // SAFETY: both chunks hold one register.
                    unsafe {
                        let v = log_lanes(simd, x.as_ptr().cast::<S::f64s>().read_unaligned());
                        y.as_mut_ptr().cast::<S::f64s>().write_unaligned(v);
                    }
                }
                out
            }
        }
        let mut results = vec![("scalar", Logs(&values).run(pulp::Scalar::new()))];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(simd) = pulp::x86::V3::try_new() {
                results.push(("avx2", simd.vectorize(|| Logs(&values).run(simd))));
            }
            if let Some(simd) = pulp::x86::V4::try_new() {
                results.push(("avx512", simd.vectorize(|| Logs(&values).run(simd))));
            }
        }
        for (backend, got) in results {
            for (g, &x) in got.iter().zip(&values) {
                assert_eq!(g.to_bits(), libm::log(x).to_bits(), "{backend}: log({x:e})");
            }
        }
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = stream(7, 3, Purpose::InitialCondition);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = stream(7, 3, Purpose::InitialCondition);
        assert_eq!(a[0], r.next_u64());
        assert_ne!(stream(7, 3, Purpose::Matrices).next_u64(), a[0]);
        assert_ne!(stream(7, 4, Purpose::InitialCondition).next_u64(), a[0]);
        assert_ne!(stream(8, 3, Purpose::InitialCondition).next_u64(), a[0]);
    }

    #[test]
    fn normal_moments() {
        let mut rng = stream(1, 0, Purpose::Other(9));
        let m = 200_000;
        let xs: Vec<f64> = (0..m).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / m as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m as f64;
        let kurt = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / m as f64 / (var * var);
        // standard errors: mean 1/sqrt(m) = 2.2e-3, var sqrt(2/m) = 3.2e-3, kurtosis sqrt(24/m) = 1.1e-2
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.015, "{var}");
        assert!((kurt - 3.0).abs() < 0.06, "{kurt}");
    }

    #[test]
    fn chi_square_mean_and_variance() {
        let mut rng = stream(2, 0, Purpose::Other(1));
        for k in [1.0, 3.0, 40.0, 1000.0] {
            let m = 50_000;
            let xs: Vec<f64> = (0..m).map(|_| chi_square(k, &mut rng)).collect();
            let mean = xs.iter().sum::<f64>() / m as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m as f64;
            assert!(
                (mean - k).abs() < 5.0 * (2.0 * k / m as f64).sqrt(),
                "k={k} mean={mean}"
            );
            assert!((var / (2.0 * k) - 1.0).abs() < 0.06, "k={k} var={var}");
        }
    }

    /// The Bartlett sampler and the full Gaussian sampler give the same law of <x_1, x_2>
    /// (mean 0, variance 1/d) and of <x_2, x_3>^2.
    #[test]
    fn reduced_sampler_matches_full_inner_product_law() {
        let (n, d, reps) = (6, 50, 20_000);
        let stats = |reduced: bool| {
            let (mut s1, mut s2) = (0.0, 0.0);
            for r in 0..reps {
                let mut rng = stream(11, r, Purpose::InitialCondition);
                let c = if reduced {
                    uniform_sphere_reduced(n, d, &mut rng)
                } else {
                    uniform_sphere(n, d, &mut rng)
                }
                .unwrap();
                let g = c.gram();
                s1 += g[1];
                s2 += g[n + 2] * g[n + 2];
            }
            (s1 / reps as f64, s2 / reps as f64)
        };
        let (full, red) = (stats(false), stats(true));
        let se = (1.0 / d as f64 / reps as f64).sqrt();
        assert!(full.0.abs() < 4.0 * se && red.0.abs() < 4.0 * se);
        // E<x,y>^2 = 1/d; Var(<x,y>^2) ~ 2/d^2
        let se2 = (2.0f64).sqrt() / d as f64 / (reps as f64).sqrt();
        assert!((full.1 - 1.0 / d as f64).abs() < 4.0 * se2, "{full:?}");
        assert!((red.1 - 1.0 / d as f64).abs() < 4.0 * se2, "{red:?}");
    }
}

//! # attnflow-dynamics
//!
//! Particle dynamics of self-attention on the sphere, after Geshkovski, Letrouit, Polyanskiy and
//! Rigollet, "A mathematical perspective on Transformers" (\[GLPR\]): n tokens x_i in S^{d-1} move by
//!
//! ```text
//! xdot_i = P_{x_i}( (1/Z_i) sum_j e^{beta <Q x_i, K x_j>} V x_j ),     \[GLPR\] (2.3)-(2.6)
//! ```
//!
//! - [`config`]: validated configurations of points on the sphere;
//! - [`model`]: the vector fields (SA, USA, general Q/K/V, multi-head, repulsive, causal, (9.1));
//! - [`integrate`](mod@integrate): the integrators (the authors' Euler + renormalisation, RK4, Dormand-Prince 5(4));
//! - [`lie`]: Lie-group integrators on (S^{d-1})^n (Lie-Euler, Crouch-Grossman 3, RKMK 4, commutator-free 4, adaptive RKMK 5(4));
//! - [`noise`]: Euler-Maruyama for the noisy dynamics (Brownian motion on the sphere, geodesic or projected);
//! - [`solver`]: the solver that owns state and time and drives a stepper, with its observers;
//! - [`events`]: event detection as observers (cluster merges);
//! - [`time_change`]: integration in a rescaled time dt = lambda(x) ds (closest-pair factor) and its clock;
//! - [`reduced`]: the exact n-dimensional reduction for V = I when d > n;
//! - [`sampling`]: seeded streams, uniform points, Bartlett factors, random matrices;
//! - [`observables`]: Gram matrix, Figure 3 statistic, clusters, energy, checkpoints;
//! - [`ensemble`]: parallel, deterministic phase diagrams (Figures 3-5).
//! - [`output`]: the atomic file writer every binary of the workspace uses.
//! - [`partition`]: static parts `i/N` of an ensemble's work, for MPI ranks and job arrays.
//! - [`precision`]: phase diagrams integrated in f32 (`Precision`; f64 is the default and the reference).
//! - [`spectral`]: exact fast (spectral) summation of (SA) / (USA) with Q = K = V = I on S^1 and S^2.
//! - [`streaming`]: the direct sums for large n without n x n matrices (tiles, online softmax).
//! - [`validate`]: the parameter domains (n, d, beta, dt, delta, tolerances, matrices, pair weights).

/// `simd_dispatch!(f(args))`: calls `f(args)` through a copy compiled for AVX-512 (F, VL, DQ) + FMA
/// or AVX2 + FMA when the processor has them (detected at run time) and [`simd::allows`] them, else
/// the portable build. `f` must be `#[inline(always)]` so that its body is compiled with those
/// features. Without FMA in the build, `f64::mul_add` becomes a slow (correctly rounded) library
/// call; with it, a single instruction: the results are the same bits either way, only the speed
/// differs (tested: `tests/simd_paths.rs`).
#[macro_export]
macro_rules! simd_dispatch {
    ($f:ident ( $($arg:expr),* )) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
            unsafe fn avx512_copy<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2_copy<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            if $crate::simd::allows($crate::simd::Level::Avx512)
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512dq")
                && std::is_x86_feature_detected!("fma")
            {
                // SAFETY: the processor supports these features (checked just above).
                unsafe { avx512_copy(#[inline(always)] || $f($($arg),*)) }
            } else if $crate::simd::allows($crate::simd::Level::Avx2)
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
            {
                // SAFETY: the processor supports AVX2 and FMA (checked just above).
                unsafe { avx2_copy(#[inline(always)] || $f($($arg),*)) }
            } else {
                $f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $f($($arg),*)
        }
    }};
}

/// The instruction sets [`simd_dispatch!`] may use: the best the processor has, unless capped
/// process-wide with [`simd::set_cap`] (for checking that every code path gives the same bits, or
/// for timing them).
pub mod simd {
    use std::sync::atomic::{AtomicU8, Ordering};

    /// Instruction-set levels, in increasing order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Level {
        /// The portable build (no run-time features).
        Portable = 0,
        /// AVX2 + FMA (for [`dispatch`] on aarch64: NEON).
        Avx2 = 1,
        /// AVX-512 F/VL/DQ + FMA.
        Avx512 = 2,
    }

    static CAP: AtomicU8 = AtomicU8::new(Level::Avx512 as u8);

    /// Caps every later dispatch at `level` (process-wide; the default is no cap).
    pub fn set_cap(level: Level) {
        CAP.store(level as u8, Ordering::Relaxed);
    }

    /// True when the cap allows `level` (whether the processor has it is checked separately).
    #[inline(always)]
    pub fn allows(level: Level) -> bool {
        CAP.load(Ordering::Relaxed) >= level as u8
    }

    /// True when this processor has `level` (the feature tests of [`simd_dispatch!`] and of
    /// pulp's `V4` / `V3` used by [`dispatch`]); the portable build is always available.
    ///
    /// [`simd_dispatch!`]: crate::simd_dispatch
    pub fn available(level: Level) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::is_x86_feature_detected!("fma");
            match level {
                Level::Portable => true,
                Level::Avx2 => {
                    fma && std::is_x86_feature_detected!("avx2") && pulp::x86::V3::is_available()
                }
                Level::Avx512 => {
                    fma && std::is_x86_feature_detected!("avx512f")
                        && std::is_x86_feature_detected!("avx512vl")
                        && std::is_x86_feature_detected!("avx512dq")
                        && pulp::x86::V4::is_available()
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            level == Level::Portable
        }
    }

    /// Runs `op` (a kernel written once over pulp's [`pulp::Simd`]) on the best instruction set
    /// the processor has and the cap allows. On x86-64: pulp's `V4` (AVX-512, 8 lanes, 32
    /// registers) for [`Level::Avx512`], `V3` (AVX2 + FMA, 4 lanes, 16 registers) for
    /// [`Level::Avx2`], `Scalar` (one lane) for [`Level::Portable`]; on aarch64: `Neon` (2 lanes,
    /// 32 registers) unless capped to [`Level::Portable`]. Every backend's `mul_add_f64s` is a
    /// fused multiply-add (`_mm512_fmadd_pd`, `_mm256_fmadd_pd`, `vfmaq_f64`, and `f64::mul_add`
    /// for `Scalar`; never the unfused `mul_add_e_f64s`), so a kernel that vectorises across
    /// independent outputs gives the same bits on each.
    #[inline(always)]
    pub fn dispatch<Op: pulp::WithSimd>(op: Op) -> Op::Output {
        struct Simd<Op>(Op);
        impl<Op: pulp::WithSimd> Kernel for Simd<Op> {
            type Output = Op::Output;
            #[inline(always)]
            fn run<S: Backend>(self, simd: S) -> Op::Output {
                self.0.with_simd(simd)
            }
        }
        run(Simd(op))
    }

    /// A kernel written once over [`Backend`] (pulp's [`pulp::Simd`] and the few width-specific
    /// operations it lacks); run by [`run`].
    pub(crate) trait Kernel {
        type Output;
        fn run<S: Backend>(self, simd: S) -> Self::Output;
    }

    /// Runs `kernel` on the backend [`dispatch`] would choose, inside pulp's `vectorize` (so that
    /// its inlined body is compiled with that backend's instruction set).
    #[inline(always)]
    pub(crate) fn run<K: Kernel>(kernel: K) -> K::Output {
        #[cfg(target_arch = "x86_64")]
        {
            if allows(Level::Avx512)
                && let Some(simd) = pulp::x86::V4::try_new()
            {
                return pulp::Simd::vectorize(
                    simd,
                    #[inline(always)]
                    move || kernel.run(simd),
                );
            }
            if allows(Level::Avx2)
                && let Some(simd) = pulp::x86::V3::try_new()
            {
                return pulp::Simd::vectorize(
                    simd,
                    #[inline(always)]
                    move || kernel.run(simd),
                );
            }
        }
        #[cfg(target_arch = "aarch64")]
        if allows(Level::Avx2)
            && let Some(simd) = pulp::aarch64::Neon::try_new()
        {
            return pulp::Simd::vectorize(
                simd,
                #[inline(always)]
                move || kernel.run(simd),
            );
        }
        kernel.run(pulp::Scalar::new())
    }

    /// The width-specific operations of the kernels that pulp 0.22's [`pulp::Simd`] trait lacks
    /// (64-bit integer shifts, a lane-indexed table lookup), for each backend of [`run`]: the
    /// lookups and shifts of the exponential [`crate::exp`] and of the logarithm of
    /// [`crate::sampling`] (pure data movement and integer arithmetic: exact, the same bits on
    /// every backend).
    pub(crate) trait Backend: pulp::Simd {
        /// `table[m_k & 15]` in every lane k.
        fn lookup16(self, table: &[f64; 16], m: Self::u64s) -> Self::f64s;
        /// `((m_k as i64) >> 4) << 52` in every lane k (2^floor(m_k / 16) as exponent bits).
        fn exponent_bits(self, m: Self::u64s) -> Self::u64s;
        /// `m_k >> n` (logical) in every lane k, n < 64.
        fn shift_right(self, m: Self::u64s, n: u32) -> Self::u64s;
        /// `m_k << n` in every lane k, n < 64.
        fn shift_left(self, m: Self::u64s, n: u32) -> Self::u64s;
    }

    impl Backend for pulp::Scalar {
        #[inline(always)]
        fn lookup16(self, table: &[f64; 16], m: u64) -> f64 {
            table[(m & 15) as usize]
        }
        #[inline(always)]
        fn exponent_bits(self, m: u64) -> u64 {
            (((m as i64) >> 4) << 52) as u64
        }
        #[inline(always)]
        fn shift_right(self, m: u64, n: u32) -> u64 {
            m >> n
        }
        #[inline(always)]
        fn shift_left(self, m: u64, n: u32) -> u64 {
            m << n
        }
    }

    /// A `V4` value exists only where its features are present (`V4::try_new`), so its
    /// intrinsics may run.
    #[cfg(target_arch = "x86_64")]
    impl Backend for pulp::x86::V4 {
        #[inline(always)]
        fn lookup16(self, table: &[f64; 16], m: pulp::u64x8) -> pulp::f64x8 {
            use std::arch::x86_64::*;
            // SAFETY: AVX-512 F is present (see above); the loads read the 16 entries.
            unsafe {
                let (low, high) = (
                    _mm512_loadu_pd(table.as_ptr()),
                    _mm512_loadu_pd(table.as_ptr().add(8)),
                );
                // the low four bits of each index pick an entry (bit 3: which register)
                pulp::cast(_mm512_permutex2var_pd(low, pulp::cast(m), high))
            }
        }
        #[inline(always)]
        fn exponent_bits(self, m: pulp::u64x8) -> pulp::u64x8 {
            use std::arch::x86_64::*;
            // SAFETY: AVX-512 F is present (see above).
            unsafe {
                pulp::cast(_mm512_slli_epi64::<52>(_mm512_srai_epi64::<4>(pulp::cast(
                    m,
                ))))
            }
        }
        #[inline(always)]
        fn shift_right(self, m: pulp::u64x8, n: u32) -> pulp::u64x8 {
            use std::arch::x86_64::*;
            // SAFETY: AVX-512 F is present (see above).
            unsafe {
                pulp::cast(_mm512_srlv_epi64(
                    pulp::cast(m),
                    _mm512_set1_epi64(n.into()),
                ))
            }
        }
        #[inline(always)]
        fn shift_left(self, m: pulp::u64x8, n: u32) -> pulp::u64x8 {
            use std::arch::x86_64::*;
            // SAFETY: AVX-512 F is present (see above).
            unsafe {
                pulp::cast(_mm512_sllv_epi64(
                    pulp::cast(m),
                    _mm512_set1_epi64(n.into()),
                ))
            }
        }
    }

    /// As for `V4`: AVX2 is present wherever a `V3` value exists.
    #[cfg(target_arch = "x86_64")]
    impl Backend for pulp::x86::V3 {
        #[inline(always)]
        fn lookup16(self, table: &[f64; 16], m: pulp::u64x4) -> pulp::f64x4 {
            use std::arch::x86_64::*;
            // SAFETY: AVX2 is present (see above); the indices are below 16.
            unsafe {
                let j = _mm256_and_si256(pulp::cast(m), _mm256_set1_epi64x(15));
                pulp::cast(_mm256_i64gather_pd::<8>(table.as_ptr(), j))
            }
        }
        #[inline(always)]
        fn exponent_bits(self, m: pulp::u64x4) -> pulp::u64x4 {
            use std::arch::x86_64::*;
            // SAFETY: AVX2 is present (see above). Without a 64-bit arithmetic shift in AVX2:
            // (m >> 4) << 52 = (m & !15) << 48 modulo 2^64.
            unsafe {
                pulp::cast(_mm256_slli_epi64::<48>(_mm256_and_si256(
                    pulp::cast(m),
                    _mm256_set1_epi64x(!15),
                )))
            }
        }
        #[inline(always)]
        fn shift_right(self, m: pulp::u64x4, n: u32) -> pulp::u64x4 {
            use std::arch::x86_64::*;
            // SAFETY: AVX2 is present (see above).
            unsafe {
                pulp::cast(_mm256_srlv_epi64(
                    pulp::cast(m),
                    _mm256_set1_epi64x(n.into()),
                ))
            }
        }
        #[inline(always)]
        fn shift_left(self, m: pulp::u64x4, n: u32) -> pulp::u64x4 {
            use std::arch::x86_64::*;
            // SAFETY: AVX2 is present (see above).
            unsafe {
                pulp::cast(_mm256_sllv_epi64(
                    pulp::cast(m),
                    _mm256_set1_epi64x(n.into()),
                ))
            }
        }
    }

    /// Two lanes, each as in `Scalar`.
    #[cfg(target_arch = "aarch64")]
    impl Backend for pulp::aarch64::Neon {
        #[inline(always)]
        fn lookup16(self, table: &[f64; 16], m: pulp::u64x2) -> pulp::f64x2 {
            let m: [u64; 2] = pulp::cast(m);
            pulp::cast(m.map(|m| table[(m & 15) as usize]))
        }
        #[inline(always)]
        fn exponent_bits(self, m: pulp::u64x2) -> pulp::u64x2 {
            let m: [u64; 2] = pulp::cast(m);
            pulp::cast(m.map(|m| (((m as i64) >> 4) << 52) as u64))
        }
        #[inline(always)]
        fn shift_right(self, m: pulp::u64x2, n: u32) -> pulp::u64x2 {
            let m: [u64; 2] = pulp::cast(m);
            pulp::cast(m.map(|m| m >> n))
        }
        #[inline(always)]
        fn shift_left(self, m: pulp::u64x2, n: u32) -> pulp::u64x2 {
            let m: [u64; 2] = pulp::cast(m);
            pulp::cast(m.map(|m| m << n))
        }
    }

    /// Runs `f` once under each instruction-set level this processor has (capped to it, the cap
    /// restored afterwards) and returns (level, result) pairs; prints which levels ran and which
    /// this processor lacks, so a comparison of the results says what it compared.
    pub fn on_every_available_level<T>(mut f: impl FnMut() -> T) -> Vec<(Level, T)> {
        let all = [Level::Avx512, Level::Avx2, Level::Portable];
        let missing: Vec<Level> = all.into_iter().filter(|&l| !available(l)).collect();
        if !missing.is_empty() {
            eprintln!("instruction sets this processor lacks, not compared: {missing:?}");
        }
        let results = all
            .into_iter()
            .filter(|&l| available(l))
            .map(|level| {
                set_cap(level);
                let start = std::time::Instant::now();
                let result = f();
                eprintln!(
                    "{level:?}: ran in {:.1} ms",
                    start.elapsed().as_secs_f64() * 1e3
                );
                (level, result)
            })
            .collect();
        set_cap(Level::Avx512);
        results
    }
}

pub mod config;
pub mod energy_stable;
pub mod ensemble;
pub mod error;
pub mod events;
pub mod exp;
mod exp_table;
pub mod integrate;
pub mod interrupt;
pub mod kernel;
pub mod lie;
pub mod matrix;
pub mod model;
pub mod noise;
pub mod observables;
pub mod output;
pub mod partition;
pub mod precision;
pub mod reduced;
pub mod sampling;
pub mod solver;
pub mod spectral;
pub mod streaming;
pub mod time_change;
pub mod validate;

pub use config::Configuration;
pub use energy_stable::{EnergyStable, GradientFlow};
pub use ensemble::{
    MatrixEnsemble, PhaseDiagram, PhaseDiagramCounts, PhaseDiagramSpec, WeightDraw,
    finish_phase_diagram, phase_diagram_counts, run_phase_diagram,
};
pub use error::{DynamicsError, Result};
pub use integrate::{
    AttentionStepper, DormandPrince54, FusedPaperEuler, IntegrationStats, Integrator,
    IntegratorKind, PaperEuler, Rk4, integrate,
};
pub use lie::{CommutatorFree4, CrouchGrossman3, LieEuler, Rkmk4, Rkmk45};
pub use matrix::SquareMatrix;
pub use model::{
    AttentionHead, Geometry, Mask, ModelKind, Normalization, PairWeights, SelfAttention,
    SelfAttentionBuilder, Value, VectorField, Workspace,
};
pub use partition::Part;
pub use precision::Precision;
pub use reduced::Representation;
pub use solver::{FinalStep, Observer, Solver, State, Stepper, Stop};

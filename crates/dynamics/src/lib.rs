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
//! - [`spectral`]: exact fast (spectral) summation of (SA) / (USA) with Q = K = V = I on S^1 and S^2.
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
        /// AVX2 + FMA.
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

    /// True when this processor has `level` (the same feature tests as [`simd_dispatch!`]); the
    /// portable build is always available.
    ///
    /// [`simd_dispatch!`]: crate::simd_dispatch
    pub fn available(level: Level) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::is_x86_feature_detected!("fma");
            match level {
                Level::Portable => true,
                Level::Avx2 => fma && std::is_x86_feature_detected!("avx2"),
                Level::Avx512 => {
                    fma && std::is_x86_feature_detected!("avx512f")
                        && std::is_x86_feature_detected!("avx512vl")
                        && std::is_x86_feature_detected!("avx512dq")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            level == Level::Portable
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
pub mod reduced;
pub mod sampling;
pub mod solver;
pub mod spectral;
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
pub use reduced::Representation;
pub use solver::{FinalStep, Observer, Solver, State, Stepper, Stop};

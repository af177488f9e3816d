//! attnflow-kuramoto: particle models on the circle (SA, USA, Kuramoto; \[GLPR\] section 7), the circle energy
//! landscape (\[GLPR\] (7.4), App. B, Thms 4.3 and 5.1), the BBGKY Monte-Carlo observable (\[GLPR\] section 8), and
//! the surrogate extremiser models of \[BKKRW\] (energy with a symmetric matrix D on the sphere, tfdy.md).
//!
//! - [`circle`]: SA / USA / Kuramoto velocities in angles, order parameter, angle RK4;
//! - [`landscape`]: E_beta (7.4), gradient, Hessian, critical-point search and classification (n <= 8);
//! - [`bbgky`]: Monte-Carlo law of theta_2 - theta_1 and 1-point density (engine RK4);
//! - [`surrogate`]: E_code with matrix D, the \[BKKRW\] ascent/descent scheme (engine paper Euler), signed
//!   cluster counting, extremiser checks M1-M3 / m1-m3, the M4 split experiment (bkkrw-fig2), the candidate
//!   energies of M3 (bkkrw-fig7);
//! - [`four_particle`]: closed form, tanh law and flow of the four-particle system m4 (bkkrw-fig4);
//! - [`density`]: optimal density on S^1 by exponentiated gradient, the two ansaetze and the Funk-Hecke
//!   linear response of m5 (bkkrw-fig5);
//! - [`sync`]: synchronisation on S^1 for every real beta: circulant Jacobian and stability threshold of the
//!   equispaced configuration, random-start synchronisation sweeps (Polyanskiy-Rigollet-Yao 2025).
//! - [`lost_in_middle`]: causal ALiBi attention on S^1 (engine field, the four-cluster start, the Monte-Carlo
//!   retrieval profile; Duerinckx-Geshkovski-Rossi 2026).
//! - [`meanfield`]: the mean-field PDE of SA / USA on S^1 (spectral and positivity-preserving finite-volume
//!   solvers, optional diffusion), the linear growth rates of the uniform density and mode selection
//!   (Bruno-Pasqualotto-Agazzi 2024).
//! - [`causal`]: causal self-attention on S^{d-1}: consensus at x_1(0) for random key-query matrices, strong
//!   and sequential Rényi centres, their census along trajectories (Karagodin-Polyanskiy-Rigollet 2024).
//! - [`metastability`]: dynamic metastability on S^1: the n = 5 movie, the energy staircase in rescaled time
//!   with merge events, the closest-pair merge order and the merging law log T ~ beta (1 - cos psi)
//!   (Geshkovski-Koubbi-Polyanskiy-Rigollet 2024; Bruno-Pasqualotto-Agazzi 2025).

pub mod bbgky;
pub mod causal;
pub mod circle;
pub mod density;
pub mod error;
pub mod four_particle;
pub mod landscape;
pub mod lost_in_middle;
pub mod meanfield;
pub mod metastability;
pub mod noisy;
pub mod surrogate;
pub mod sync;

pub use error::{KuramotoError, Result};

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

pub mod bbgky;
pub mod circle;
pub mod density;
pub mod error;
pub mod four_particle;
pub mod landscape;
pub mod lost_in_middle;
pub mod surrogate;
pub mod sync;

pub use error::{KuramotoError, Result};

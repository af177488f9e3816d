//! # attnflow-dynamics
//!
//! Particle dynamics of self-attention on the sphere, after Geshkovski, Letrouit, Polyanskiy and
//! Rigollet, "A mathematical perspective on Transformers" ([GLPR]): n tokens x_i in S^{d-1} move by
//!
//! ```text
//! xdot_i = P_{x_i}( (1/Z_i) sum_j e^{beta <Q x_i, K x_j>} V x_j ),     [GLPR] (2.3)-(2.6)
//! ```
//!
//! - [`config`]: validated configurations of points on the sphere;
//! - [`model`]: the vector fields (SA, USA, general Q/K/V, multi-head, repulsive, causal, (9.1));
//! - [`integrate`]: the integrators (the authors' Euler + renormalisation, RK4, Dormand-Prince 5(4));
//! - [`reduced`]: the exact n-dimensional reduction for V = I when d > n;
//! - [`sampling`]: seeded streams, uniform points, Bartlett factors, random matrices;
//! - [`observables`]: Gram matrix, Figure 3 statistic, clusters, energy, checkpoints;
//! - [`ensemble`]: parallel, deterministic phase diagrams (Figures 3-5).

pub mod config;
pub mod ensemble;
pub mod error;
pub mod integrate;
pub mod kernel;
pub mod matrix;
pub mod model;
pub mod observables;
pub mod reduced;
pub mod sampling;

pub use config::Configuration;
pub use ensemble::{MatrixEnsemble, ModelKind, PhaseDiagram, PhaseDiagramSpec, run_phase_diagram};
pub use error::{DynamicsError, Result};
pub use integrate::{
    DormandPrince54, IntegrationStats, Integrator, IntegratorKind, PaperEuler, Rk4, integrate,
};
pub use matrix::SquareMatrix;
pub use model::{
    AttentionHead, Geometry, Mask, Normalization, SelfAttention, Value, VectorField, Workspace,
};
pub use reduced::Representation;

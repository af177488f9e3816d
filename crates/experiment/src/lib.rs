//! # attnflow-experiment: an experiment is data
//!
//! One [`Spec`] describes a run of the self-attention particle system of Geshkovski, Letrouit,
//! Polyanskiy and Rigollet, "A mathematical perspective on Transformers" (\[GLPR\], arXiv
//! 2312.10794) completely: n tokens x_i on S^{d-1} (or in R^d) moving by
//!
//! ```text
//! xdot_i = P_{x_i}( sum_h sum_j A^h_ij V_h x_j ),                                   \[GLPR\] (2.3)-(2.7)
//! A^h_ij = exp(beta <Q_h x_i, K_h x_j>) / N_i,  N_i = sum_k exp(beta <Q_h x_i, K_h x_k>)  (SA, (2.3))
//!                                                N_i = n                                 (USA, (2.6))
//! P_x y = y - <x, y> x                       (sphere; the tangent projection)
//! xdot_i = sum_j A_ij V x_j                  (pure attention in R^d, \[GLPR\] (9.1): no projection)
//! ```
//!
//! with optional causal mask (j <= i) or pair weights w_ij (A_ij proportional to
//! w_ij exp(beta <Q_h x_i, K_h x_j>): a given n x n matrix or ALiBi's exp(-m |i - j|)), V = -I
//! (repulsive), heads summed (2.7), the \[GLPR\] Figure 5 random ensembles; an initial condition;
//! an integrator and time grid; observables at checkpoints; an ensemble of realisations; and a
//! sweep over one scalar parameter.
//!
//! - [`Spec::from_toml_str`], [`Spec::from_json_str`], [`Spec::from_path`]: read (unknown keys
//!   and wrong types are one-line errors naming the field);
//! - [`Spec::resolve`] -> [`ResolvedSpec`]: every default filled, files loaded, every sweep point
//!   validated; [`ResolvedSpec::to_toml_string`] / [`ResolvedSpec::to_json_string`] print it back
//!   (reading that and resolving again is a fixed point);
//! - [`run()`](fn@run) -> [`Output`]: per sweep point, per realisation or mean / standard error over
//!   realisations, per checkpoint the observables next to `t`; [`encode`] writes it as JSON, CSV,
//!   `.npy` or `.npz` ([`export`]; non-finite numbers as "inf", "-inf", "nan": [`number`]);
//! - [`Shard`] and [`distribute::merge`]: part `i/N` of the realisations of a run or phase diagram
//!   (MPI ranks, job arrays) and the merge of the N parts into the single-process output, bit for
//!   bit ([`distribute`]);
//! - [`phase_diagram()`](fn@phase_diagram): a (t, beta) phase-diagram spec (\[GLPR\] Figures 3 and
//!   5) run by the engine's phase-diagram runner, with its record ([`phase`]).
//!
//! Conventions are the engine's (`attnflow-dynamics`, see its README table): B = Q^T K, a value
//! matrix in a spec always means the velocity V y (the mathematical convention); the Figure 5
//! ensembles apply the authors' V^T exactly as `PhaseDiagramSpec` does; realisation r of sweep point b
//! uses the streams (seed, b R + r, InitialCondition / Matrices), so a Figure 3 spec reproduces
//! `run_phase_diagram` bit for bit.

// `!(x > 0.0)` rejects NaN along with the out-of-range values, on purpose.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod distribute;
pub mod error;
pub mod export;
pub mod init;
pub mod io;
pub mod number;
pub mod observe;
pub mod phase;
pub mod resolve;
pub mod run;
pub mod spec;

pub use distribute::{Merged, Part, Shard, ShardKind};
pub use error::{ExperimentError, Result};
pub use export::{Format, encode};
pub use observe::Observed;
pub use phase::phase_diagram;
pub use resolve::{Point, ResolvedSpec};
pub use run::{
    CheckpointRecord, Output, PointOutput, RealisationOutput, Summary, SummaryRecord, run,
};
pub use spec::{
    Aggregate, CheckpointRule, Checkpoints, EnsembleSpec, FieldSpec, GeometrySpec, HeadSpec,
    InitSpec, IntegratorSpec, Linspace, MaskSpec, MatrixSource, Method, ObservableKind,
    ObservableSpec, RandomLaw, RepresentationSpec, Spec, SweepSpec, TimeSpec,
};

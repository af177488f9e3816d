//! attnflow-energy: the interaction energy of self-attention dynamics and the closed-form / semi-analytic
//! predictions of \[GLPR\] ("A mathematical perspective on Transformers", arXiv 2312.10794 v4) and of the
//! mean-field follow-up \[beyond\] item 3 (Bruno-Pasqualotto-Agazzi 2024).
//!
//! Modules: [`bessel`] (I_nu of real order), [`funk_hecke`] (Prop 3.4 closed forms), [`particle`] (energy,
//! gradient and the section 3 identities on plain slices), [`equiangular`] (Thm 6.8 ODEs, exact quadratures,
//! phase curve (6.12)), [`wendel`] (Thm 6.7 and the LP hemisphere test), [`rates`] (Lemma 6.4 / Thm 6.3),
//! [`landscape`] (Thm 5.1 / App. B), [`instability`] (\[beyond\] item 3), [`numerics`] (quadrature, roots),
//! [`long_context`] (one Pre-LN layer with beta = gamma ln n, arXiv 2510.05554), [`lost_in_middle`] (the
//! retrieval profile of causal ALiBi attention on S^1, arXiv 2605.09213), [`normalization`] (equiangular
//! ODEs of Post-LN, Pre-LN, Peri-LN and nGPT, arXiv 2510.22026).

pub mod bessel;
pub mod emergence;
pub mod equiangular;
pub mod error;
pub mod funk_hecke;
pub mod hardmax;
pub mod instability;
pub mod landscape;
pub mod long_context;
pub mod lost_in_middle;
pub mod normalization;
pub mod numerics;
pub mod particle;
pub mod rates;
pub mod wendel;

pub use error::{EnergyError, Result};

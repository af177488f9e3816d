//! attnflow: self-attention as an interacting particle system on the sphere.
pub use attnflow_dynamics as dynamics;

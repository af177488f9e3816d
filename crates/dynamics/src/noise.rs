//! Noisy self-attention dynamics: the particle system of \[GLPR\] (2.3)-(2.6) driven by independent
//! Brownian motions on the sphere (Rigollet, "The mean-field dynamics of Transformers", arXiv
//! 2512.01868, section 8; Shalova and Schlichting, arXiv 2412.14813; Balasubramanian, Banerjee and
//! Rigollet, arXiv 2510.20094):
//!
//! ```text
//! dX_i = P_{X_i}( drift_i(X) ) dt + sqrt(2/kappa) dB_i,     B_i Brownian motions on S^{d-1},
//! ```
//!
//! with drift_i the field's drift (for USA, (1/n) sum_j e^{beta <X_i, X_j>} X_j) and kappa > 0 the
//! inverse temperature: the generator of sqrt(2/kappa) B is kappa^{-1} times the Laplace-Beltrami
//! operator, so the one-particle law solves d_t rho = kappa^{-1} Lap rho - div(rho v).
//!
//! **Extrinsic form.** In R^d, Brownian motion on S^{d-1} is the Stratonovich SDE
//! dX = P_X o dW (W a Brownian motion in R^d); its Ito form carries the curvature drift:
//!
//! ```text
//! dX_i = [ P_{X_i}(drift_i(X)) - ((d-1)/kappa) X_i ] dt + sqrt(2/kappa) P_{X_i} dW_i.
//! ```
//!
//! Both schemes of [`EulerMaruyama`] approximate this SDE with the tangent increment
//! a_i = h P_{x_i}(drift_i(x)) + sigma P_{x_i}(Delta W_i), sigma = sqrt(2/kappa),
//! Delta W_i ~ N(0, h I_d), and neither adds the curvature drift by hand: the retraction produces
//! it. Both retractions agree to second order, x + a - (|a|^2 / 2) x + O(|a|^3), and
//! E |sigma P_x Delta W|^2 = sigma^2 (d-1) h = 2 (d-1) h / kappa, which is exactly the Ito drift
//! -((d-1)/kappa) x h; the fluctuation of |a|^2 about its mean is a martingale increment of size
//! O(h) that does not move the limit. (Adding the drift explicitly *and* retracting would count it
//! twice.)
//!
//! - [`NoiseScheme::Geodesic`]: geodesic Euler-Maruyama, x_i <- cos|a_i| x_i + sin|a_i| a_i/|a_i|
//!   (the exponential map of the sphere; norms stay 1 to round-off);
//! - [`NoiseScheme::Projected`]: projected Euler-Maruyama, x_i <- (x_i + a_i)/|x_i + a_i| (the step
//!   in R^d, then the engine's row normalisation `kernel::normalize_rows`).
//!
//! Orders (the noise coefficients P_x e_k do not commute, so without Levy areas): strong order 1/2
//! and weak order 1 for both; measured in `tests/noise.rs` (strong: against a run at a 64 times
//! finer step driven by the same Brownian path, the coarse increments being sums of the fine ones,
//! see [`EulerMaruyama::with_substeps`]; weak: E<x(t), x(0)> = e^{-(d-1) t / kappa} for Brownian
//! motion on S^{d-1}, a single particle, whose drift P_x x vanishes).
//!
//! **Randomness.** The stepper owns one seeded stream (give it
//! `sampling::stream(seed, realisation, Purpose::Noise)`): each step draws the n x d standard
//! normals of Delta W in row-major order (particle by particle, coordinate by coordinate) with
//! `sampling::fill_standard_normal`, so a realisation's path does not depend on threads.

use crate::error::{Result, invalid};
use crate::integrate::IntegrationStats;
use crate::model::{Geometry, VectorField, Workspace, project_tangent};
use crate::sampling::{Pcg64, fill_standard_normal};
use crate::solver::{Layout, Stepper};

/// How a noisy step returns to the sphere (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseScheme {
    /// Geodesic Euler-Maruyama: the exponential map of the tangent increment.
    Geodesic,
    /// Projected Euler-Maruyama: the step in R^d, then normalisation.
    Projected,
}

impl NoiseScheme {
    /// Short name used in metadata (`geodesic`, `projected`).
    pub fn name(self) -> &'static str {
        match self {
            NoiseScheme::Geodesic => "geodesic",
            NoiseScheme::Projected => "projected",
        }
    }
}

/// The noise option: inverse temperature kappa (noise sqrt(2/kappa) dB) and the scheme.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noise {
    /// Inverse temperature kappa > 0.
    pub kappa: f64,
    /// The retraction of the Euler-Maruyama step.
    pub scheme: NoiseScheme,
}

impl Noise {
    /// Checks kappa (finite, > 0).
    pub fn new(kappa: f64, scheme: NoiseScheme) -> Result<Self> {
        let noise = Noise { kappa, scheme };
        noise.validate()?;
        Ok(noise)
    }

    /// Errors unless kappa is finite and positive.
    pub fn validate(&self) -> Result<()> {
        if !(self.kappa.is_finite() && self.kappa > 0.0) {
            return Err(invalid(
                "kappa",
                format!("must be finite and > 0, got {}", self.kappa),
            ));
        }
        Ok(())
    }

    /// The noise amplitude sigma = sqrt(2/kappa).
    pub fn sigma(&self) -> f64 {
        (2.0 / self.kappa).sqrt()
    }
}

/// Euler-Maruyama on (S^{d-1})^n for any field on the sphere (see the module docs): a [`Stepper`]
/// that a [`crate::Solver`] drives like any deterministic scheme.
///
/// ```
/// use attnflow_dynamics::noise::{EulerMaruyama, Noise, NoiseScheme};
/// use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
/// use attnflow_dynamics::{SelfAttention, Solver};
///
/// let field = SelfAttention::usa(1.0)?;
/// let x0 = uniform_sphere(16, 3, &mut stream(1, 0, Purpose::InitialCondition))?;
/// let noise = Noise::new(4.0, NoiseScheme::Geodesic)?;
/// let stepper = EulerMaruyama::new(noise, stream(1, 0, Purpose::Noise));
/// let mut solver = Solver::new(&field, stepper, &x0, 0.01)?;
/// solver.advance_to(1.0)?;
/// for i in 0..16 {
///     let norm: f64 = solver.state().row(i).iter().map(|v| v * v).sum::<f64>().sqrt();
///     assert!((norm - 1.0).abs() < 1e-12);
/// }
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct EulerMaruyama {
    noise: Noise,
    rng: Pcg64,
    substeps: usize,
    ws: Workspace,
    velocity: Vec<f64>,
    increment: Vec<f64>,
    normals: Vec<f64>,
    stats: IntegrationStats,
}

impl EulerMaruyama {
    /// The stepper with its noise stream (one Brownian increment per step).
    pub fn new(noise: Noise, rng: Pcg64) -> Self {
        EulerMaruyama {
            noise,
            rng,
            substeps: 1,
            ws: Workspace::default(),
            velocity: Vec::new(),
            increment: Vec::new(),
            normals: Vec::new(),
            stats: IntegrationStats::default(),
        }
    }

    /// Draws the Brownian increment of each step of size h as the sum of `m` increments over h/m
    /// (sqrt(h/m) times m blocks of n x d normals, summed block by block): a run at step h with
    /// m sub-increments sees the same Brownian path as a run at step h/m with one, which is what a
    /// strong-error measurement compares.
    pub fn with_substeps(mut self, m: usize) -> Result<Self> {
        if m == 0 {
            return Err(invalid("substeps", "must be >= 1"));
        }
        self.substeps = m;
        Ok(self)
    }

    /// The noise option.
    pub fn noise(&self) -> Noise {
        self.noise
    }

    /// Fills `self.increment` with the Brownian increments Delta W (n x d) over a step h.
    fn draw_increment(&mut self, len: usize, h: f64) {
        self.increment.clear();
        self.increment.resize(len, 0.0);
        self.normals.resize(len, 0.0);
        let scale = (h / self.substeps as f64).sqrt();
        for _ in 0..self.substeps {
            fill_standard_normal(&mut self.rng, &mut self.normals);
            for (w, z) in self.increment.iter_mut().zip(&self.normals) {
                *w += scale * z;
            }
        }
    }
}

impl<F: VectorField + ?Sized> Stepper<F> for EulerMaruyama {
    fn scheme(&self) -> &'static str {
        match self.noise.scheme {
            NoiseScheme::Geodesic => "em-geodesic",
            NoiseScheme::Projected => "em-projected",
        }
    }

    fn layout(&self) -> Layout {
        Layout::Rows
    }

    fn step_state(&mut self, field: &F, x: &mut [f64], n: usize, d: usize, h: f64) -> Result<()> {
        if field.geometry() != Geometry::Sphere {
            return Err(invalid(
                "noise",
                "Brownian motion on the sphere needs the sphere geometry",
            ));
        }
        let len = n * d;
        if x.len() != len {
            return Err(invalid("x", "state length is not n * d"));
        }
        self.velocity.resize(len, 0.0);
        field.velocity_into(x, n, d, &mut self.velocity, &mut self.ws)?;
        self.draw_increment(len, h);
        project_tangent(x, d, &mut self.increment);
        let sigma = self.noise.sigma();
        // a_i = h P(drift_i) + sigma P(Delta W_i), kept in `increment`
        for (a, v) in self.increment.iter_mut().zip(&self.velocity) {
            *a = h * v + sigma * *a;
        }
        match self.noise.scheme {
            NoiseScheme::Geodesic => {
                for (xi, ai) in x.chunks_exact_mut(d).zip(self.increment.chunks_exact(d)) {
                    let norm = crate::config::dot(ai, ai).sqrt();
                    if norm > 0.0 {
                        let (s, c) = norm.sin_cos();
                        let s = s / norm;
                        xi.iter_mut().zip(ai).for_each(|(p, q)| *p = c * *p + s * q);
                    }
                }
            }
            NoiseScheme::Projected => {
                x.iter_mut().zip(&self.increment).for_each(|(p, q)| *p += q);
                if !crate::kernel::normalize_rows(x, d) {
                    return Err(invalid("x", "a row became zero or non-finite"));
                }
            }
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(invalid(
                "x",
                "the noisy step produced a non-finite coordinate",
            ));
        }
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 1;
        Ok(())
    }

    fn gram_before_step(&self) -> Option<&[f64]> {
        None
    }

    fn work(&self) -> IntegrationStats {
        self.stats
    }
}

//! Time changes: integrating xdot = F(x) in a rescaled time s with
//!
//! ```text
//! dt = lambda(x) ds,    dx/ds = lambda(x) F(x),    t(s) = int_0^s lambda(x(s')) ds',
//! ```
//!
//! for a positive factor lambda(x) that depends on the Gram matrix G_ij = <x_i, x_j> only. The
//! trajectories are the same curves; only their parametrisation changes, so x(s) here equals x(t(s))
//! of the unrescaled run.
//!
//! The factor of the metastability papers (Geshkovski, Koubbi, Polyanskiy, Rigollet, arXiv 2410.06833;
//! Bruno, Pasqualotto, Agazzi, arXiv 2509.25040) is the closest-pair factor ([`ClosestPair`]):
//!
//! ```text
//! lambda(x) = e^{beta (1 - <x_a, x_b>) + c},   <x_a, x_b> = max_{i < j} <x_i, x_j>,
//! ```
//!
//! the closest pair of points (<x_a, x_b> = 1 for n = 1). The factor is continuous in x; a collapsed
//! cluster is its own closest pair and sets lambda to about e^{c}, so a caller that wants the clock to
//! follow the closest pair of *clusters* replaces merged clusters by one point (of their mass) at each
//! merge event, which is also what removes the stiffness below. Excluding merged pairs inside the factor
//! instead would make it jump where a pair crosses the threshold, and an RK4 stage that crosses it
//! overshoots by the next pair's factor. The constant c = `log_scale` adapts the factor to the normalisation of
//! the field: the papers' drift is (1/n) sum_j e^{beta (<x_i, x_j> - 1)} P_{x_i} x_j, which is the
//! engine's USA field times e^{-beta}, so c = -beta with the engine's USA and c = 0 with a field
//! normalised like the papers'. With this factor the closest pair's own interaction
//! e^{beta (<x_a, x_b> - 1)} is cancelled: in s that pair moves at unit rate while every pair further
//! apart is slowed by e^{-beta (<x_a, x_b> - <x_i, x_j>)}.
//!
//! [`TimeChanged`] is the field lambda(x) F(x) (a [`VectorField`] whose drift is lambda times the
//! projected velocity of F at the normalised rows x_i / |x_i|, so the paper's Euler step on it is
//! Euler on the tangent velocity followed by renormalisation; every integrator and the
//! [`crate::Solver`] apply unchanged, with step ds), and [`Clock`] an [`crate::Observer`] that
//! accumulates t(s) over the states it is shown (it asks for every step) with log lambda
//! interpolated linearly over each step: t_{k+1} = t_k + ds (lambda_{k+1} - lambda_k) /
//! (log lambda_{k+1} - log lambda_k) (the trapezoidal rule when the two are within 1e-6 in log),
//! second order in ds and exact when log lambda is linear in s, the shape of e^{beta (1 - <x_a, x_b>)}
//! over a step at large beta.
//!
//! Stiffness: lambda multiplies every relative motion, including the collapse inside clusters, so an
//! explicit step needs ds lambda << 1 on those modes; a caller that rescales by large factors merges
//! clusters exactly (replaces them by one point) at merge events ([`crate::events`]).

use std::ops::ControlFlow;

use crate::config::Configuration;
use crate::error::{DynamicsError, Result};
use crate::model::{Geometry, VectorField, Workspace};
use crate::solver::Observer;
use crate::validate::check_positive;

/// A time-change factor lambda(x) > 0, through its logarithm, as a function of the Gram matrix
/// (row-major n x n). Closures `Fn(&[f64], usize) -> f64` returning log lambda are factors.
pub trait TimeFactor: Sync {
    /// log lambda(x) for the configuration with Gram matrix `gram`.
    fn log_factor(&self, gram: &[f64], n: usize) -> f64;
}

impl<T: Fn(&[f64], usize) -> f64 + Sync> TimeFactor for T {
    fn log_factor(&self, gram: &[f64], n: usize) -> f64 {
        self(gram, n)
    }
}

/// The closest-pair factor e^{beta (1 - <x_a, x_b>) + log_scale} of the module docs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClosestPair {
    /// beta of the factor (the field's).
    pub beta: f64,
    /// The constant c added to the exponent (-beta with the engine's USA field).
    pub log_scale: f64,
}

impl ClosestPair {
    /// The factor for the engine's USA field at `beta` (log_scale = -beta).
    pub fn for_usa(beta: f64) -> Result<Self> {
        check_positive("beta", beta)?;
        Ok(Self {
            beta,
            log_scale: -beta,
        })
    }

    /// max_{i < j} <x_i, x_j>, or None for n < 2.
    pub fn closest(gram: &[f64], n: usize) -> Option<f64> {
        let mut best: Option<f64> = None;
        for i in 0..n {
            for &g in &gram[i * n + i + 1..(i + 1) * n] {
                if best.is_none_or(|b| g > b) {
                    best = Some(g);
                }
            }
        }
        best
    }
}

impl TimeFactor for ClosestPair {
    fn log_factor(&self, gram: &[f64], n: usize) -> f64 {
        let g = Self::closest(gram, n).unwrap_or(1.0);
        self.beta * (1.0 - g) + self.log_scale
    }
}

/// The field lambda(x) F(x): `F` integrated in the rescaled time s (module docs).
pub struct TimeChanged<'a, F: ?Sized, C> {
    field: &'a F,
    factor: C,
}

impl<'a, F: VectorField + ?Sized, C: TimeFactor> TimeChanged<'a, F, C> {
    /// `field` in the time s with dt = lambda(x) ds, lambda = `factor`.
    pub fn new(field: &'a F, factor: C) -> Self {
        Self { field, factor }
    }

    /// The factor.
    pub fn factor(&self) -> &C {
        &self.factor
    }

    /// lambda(x) for a configuration (an error when it is not a finite positive number).
    pub fn lambda(&self, x: &Configuration) -> Result<f64> {
        lambda_of(&self.factor, &x.gram(), x.n())
    }
}

fn lambda_of<C: TimeFactor + ?Sized>(factor: &C, gram: &[f64], n: usize) -> Result<f64> {
    let log = factor.log_factor(gram, n);
    if log.is_nan() || log > 709.0 {
        return Err(DynamicsError::WeightOverflow { exponent: log });
    }
    Ok(log.exp())
}

impl<F: VectorField + ?Sized, C: TimeFactor> VectorField for TimeChanged<'_, F, C> {
    fn geometry(&self) -> Geometry {
        self.field.geometry()
    }

    fn drift_into(
        &self,
        x: &[f64],
        n: usize,
        d: usize,
        out: &mut [f64],
        ws: &mut Workspace,
    ) -> Result<()> {
        // On the sphere the field is evaluated at the rows x_i / |x_i| (the flow extended
        // 0-homogeneously off the sphere) and its tangent velocity, not the raw drift, is scaled:
        // at the off-sphere stages of RK4 the raw drift's radial part (the self term e^{beta} x_i / n
        // of USA) and P_x x = (1 - |x|^2) x would otherwise enter multiplied by e^{beta}.
        let unit;
        let x = if self.field.geometry() == Geometry::Sphere {
            let mut y = x[..n * d].to_vec();
            for row in y.chunks_exact_mut(d) {
                let r = crate::config::dot(row, row).sqrt();
                row.iter_mut().for_each(|v| *v /= r);
            }
            unit = y;
            &unit[..]
        } else {
            x
        };
        self.field.velocity_into(x, n, d, out, ws)?;
        let mut gram = vec![0.0; n * n];
        crate::kernel::gram(x, n, d, &mut gram);
        let lambda = lambda_of(&self.factor, &gram, n)?;
        for v in &mut out[..n * d] {
            *v *= lambda;
        }
        Ok(())
    }
}

/// Accumulates the original time t(s) = int lambda(x(s)) ds of a run in rescaled time on the
/// solver's step grid, log lambda linear over each step (module docs). It asks for every state; a state
/// missing from the sequence (never, with [`crate::Solver::advance_to`] and a clock from the start)
/// is bridged by one step of the same rule over the gap.
pub struct Clock<C> {
    factor: C,
    n: usize,
    h: f64,
    step: usize,
    t: f64,
    lambda: f64,
    error: Option<DynamicsError>,
}

impl<C: TimeFactor> Clock<C> {
    /// A clock at t = 0 for a solver of step `h` (= ds) started at `x0`.
    pub fn new(factor: C, x0: &Configuration, h: f64) -> Result<Self> {
        check_positive("dt", h)?;
        let lambda = lambda_of(&factor, &x0.gram(), x0.n())?;
        Ok(Self {
            factor,
            n: x0.n(),
            h,
            step: 0,
            t: 0.0,
            lambda,
            error: None,
        })
    }

    /// The original time t at the last state shown ([`Self::step`]).
    pub fn t(&self) -> f64 {
        self.t
    }

    /// The last state shown (0 at the start).
    pub fn step(&self) -> usize {
        self.step
    }

    /// lambda at the last state shown.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// The overflow that stopped the clock, if any.
    pub fn error(&self) -> Option<&DynamicsError> {
        self.error.as_ref()
    }
}

/// The mean of e^{l(s)} over a step on which l = log lambda is linear from log a to log b:
/// (b - a) / (log b - log a), the arithmetic mean (a + b) / 2 when the two are within 1e-6.
fn mean_exp(a: f64, b: f64) -> f64 {
    let dl = b.ln() - a.ln();
    if dl.abs() < 1e-6 {
        0.5 * (a + b)
    } else {
        (b - a) / dl
    }
}

impl<C: TimeFactor> Observer for Clock<C> {
    fn wants(&self, _: usize) -> bool {
        true
    }

    fn observe(&mut self, step: usize, gram: &[f64]) -> ControlFlow<()> {
        if step <= self.step {
            return ControlFlow::Continue(());
        }
        match lambda_of(&self.factor, gram, self.n) {
            Ok(lambda) => {
                self.t += (step - self.step) as f64 * self.h * mean_exp(self.lambda, lambda);
                self.lambda = lambda;
                self.step = step;
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rk4, SelfAttention, Solver, Stop};

    /// The rescaled run, read at s, equals the unrescaled run read at the mapped time t(s).
    #[test]
    fn rescaled_and_unrescaled_runs_agree_at_mapped_times() {
        let beta = 6.0;
        let x0 = Configuration::from_angles(&[0.0, 0.5, 1.4, 2.6, 4.0]).unwrap();
        let field = SelfAttention::usa(beta).unwrap();
        let factor = ClosestPair::for_usa(beta).unwrap();
        let rescaled = TimeChanged::new(&field, factor);
        let ds = 1e-4;
        let mut clock = Clock::new(factor, &x0, ds).unwrap();
        let mut solver = Solver::new(&rescaled, Rk4::default(), &x0, ds)
            .unwrap()
            .with_observer(&mut clock);
        assert_eq!(solver.advance_to(0.5).unwrap(), Stop::Reached);
        let xs = solver.state().to_configuration().unwrap();
        drop(solver);
        let t = clock.t();
        // the factor grows along the run: the mapped time is not a constant multiple of s
        assert!(t > 0.0 && clock.lambda() != Clock::new(factor, &x0, ds).unwrap().lambda());
        // the unrescaled run to exactly t (shortened final step)
        let dt = t / 20_000.0;
        let mut plain = Solver::new(&field, Rk4::default(), &x0, dt)
            .unwrap()
            .with_final_step(crate::FinalStep::Shorten);
        plain.advance_to(t).unwrap();
        let xt = plain.state().to_configuration().unwrap();
        let err = xs
            .as_slice()
            .iter()
            .zip(xt.as_slice())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        // the clock's O(ds^2) relative error in t, times the speed
        assert!(err < 1e-6, "max |x(s) - x(t(s))| = {err:e}, t = {t}");
        // and the motion is not trivial
        let moved = x0
            .as_slice()
            .iter()
            .zip(xt.as_slice())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(moved > 1e-2, "{moved}");
    }

    /// A constant factor rescales time linearly: t(s) = lambda s exactly.
    #[test]
    fn constant_factor_is_a_linear_time_change() {
        let x0 = Configuration::from_angles(&[0.0, 1.0, 2.0]).unwrap();
        let log2 = |_: &[f64], _: usize| 2.0f64.ln();
        let mut clock = Clock::new(log2, &x0, 0.01).unwrap();
        let field = SelfAttention::sa(1.0).unwrap();
        let rescaled = TimeChanged::new(&field, log2);
        let mut solver = Solver::new(&rescaled, Rk4::default(), &x0, 0.01)
            .unwrap()
            .with_observer(&mut clock);
        solver.advance_to(1.0).unwrap();
        let xs = solver.state().to_configuration().unwrap();
        drop(solver);
        assert!((clock.t() - 2.0).abs() < 1e-12, "{}", clock.t());
        let mut plain = Solver::new(&field, Rk4::default(), &x0, 0.02).unwrap();
        plain.advance_to(2.0).unwrap();
        let xt = plain.state().to_configuration().unwrap();
        // the same RK4 steps in t; the time-changed field evaluates its stages at the normalised
        // rows, the plain one off the sphere: the two differ by the local error of RK4
        for (a, b) in xs.as_slice().iter().zip(xt.as_slice()) {
            assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        }
    }

    #[test]
    fn closest_pair_factor_and_overflow_is_an_error() {
        let x = Configuration::from_angles(&[0.0, 0.5, 1.7, 2.0]).unwrap();
        let f = ClosestPair {
            beta: 10.0,
            log_scale: -1.0,
        };
        let g = ClosestPair::closest(&x.gram(), 4).unwrap();
        assert!((g - 0.3f64.cos()).abs() < 1e-15);
        assert!((f.log_factor(&x.gram(), 4) - (10.0 * (1.0 - 0.3f64.cos()) - 1.0)).abs() < 1e-13);
        let one = Configuration::from_angles(&[0.3]).unwrap();
        assert_eq!(ClosestPair::closest(&one.gram(), 1), None);
        assert_eq!(f.log_factor(&one.gram(), 1), -1.0);
        let huge = ClosestPair { beta: 1e5, ..f };
        assert!(Clock::new(huge, &x, 0.1).is_err());
        assert!(ClosestPair::for_usa(-1.0).is_err());
    }
}

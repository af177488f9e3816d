//! Time integration of xdot = F(x) on (S^{d-1})^n behind one trait, [`Integrator`]:
//!
//! - [`PaperEuler`]: the scheme of the authors' code (\[GLPR\] section 1, "How the paper's figures were
//!   integrated"): `x_i <- normalize(x_i + h sum_j A_ij V x_j)`, explicit Euler on the unprojected
//!   drift followed by renormalisation. First order (a retraction of the projected Euler step).
//! - [`Rk4`]: classical fourth-order Runge-Kutta on the projected velocity, then each x_i is
//!   renormalised (projection onto the sphere; keeps order 4).
//! - [`DormandPrince54`]: the embedded Dormand-Prince 5(4) pair with error control (mixed
//!   absolute/relative RMS norm), a standard step-size controller and projection after every
//!   accepted step; statistics of accepted/rejected steps and field evaluations. Its `fixed` mode
//!   takes exactly one fifth-order step per call (no error control), for order studies.
//!
//! On the Euclidean geometry (model (9.1)) no renormalisation takes place.

use crate::error::{DynamicsError, Result, check_positive, invalid};
use crate::kernel::AlignedBuf;
use crate::model::{Geometry, VectorField, Workspace};

/// Work counters of an integrator since its creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntegrationStats {
    /// Calls of [`Integrator::step`].
    pub steps: u64,
    /// Internal steps accepted (equal to `steps` for fixed-step schemes).
    pub accepted: u64,
    /// Internal steps rejected by error control.
    pub rejected: u64,
    /// Vector-field evaluations.
    pub evaluations: u64,
}

/// One way to advance particles in time.
pub trait Integrator: Send {
    /// Short name used in metadata (`paper-euler`, `rk4`, `dp54`).
    fn name(&self) -> &'static str;
    /// Theoretical order of convergence.
    fn order(&self) -> u32;
    /// Advances the state `x` (row-major n x d) by time `h`: one step for fixed-step schemes, as
    /// many internal steps as the tolerance needs for adaptive ones. Rows stay on the sphere.
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()>;
    /// Work counters.
    fn stats(&self) -> IntegrationStats;
    /// The Gram matrix of the state *before* the last step, when the step computed it anyway
    /// (paper Euler on single-head B = I models); saves the observables a Gram product.
    fn gram_before_last_step(&self) -> Option<&[f64]> {
        None
    }
    /// Takes `steps` steps of size h from x (row-major, n x d; it holds the last state on return),
    /// showing the states to `observer` through their Gram matrices: every state whose Gram
    /// matrix a step computed anyway, and every state the observer [`Observer::wants`] (a Gram
    /// product then). Stops early when [`Observer::observe`] returns true. Returns the number of
    /// steps taken.
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
        steps: usize,
        observer: &mut dyn Observer,
    ) -> Result<usize> {
        advance_by_steps(self, field, x, n, d, h, 1..=steps, observer)
    }
}

/// What [`Integrator::advance`] shows the states to (the ensembles' statistics).
pub trait Observer {
    /// Whether state k (after k steps) must be observed even when no step computed its Gram matrix.
    fn wants(&self, k: usize) -> bool;
    /// Observes state k through its Gram matrix G_ij = <x_i, x_j>; true stops the run.
    fn observe(&mut self, k: usize, gram: &[f64]) -> bool;
}

/// [`Integrator::advance`] by [`Integrator::step`], for steps `ks` (the numbers of the states they
/// reach). Returns the number of the last step taken.
#[allow(clippy::too_many_arguments)]
fn advance_by_steps<I: Integrator + ?Sized>(
    integrator: &mut I,
    field: &dyn VectorField,
    x: &mut [f64],
    n: usize,
    d: usize,
    h: f64,
    ks: std::ops::RangeInclusive<usize>,
    observer: &mut dyn Observer,
) -> Result<usize> {
    let last = *ks.end();
    let mut gram = AlignedBuf::zeros(n * n);
    for k in ks {
        integrator
            .step(field, x, n, d, h)
            .map_err(|e| at_time(e, k as f64 * h))?;
        // the step computed the Gram matrix of state k - 1: observe it
        let free = integrator.gram_before_last_step();
        if let Some(g) = free
            && observer.observe(k - 1, g)
        {
            return Ok(k);
        }
        // with free Gram matrices, state k is seen at the next step (the last one excepted)
        if (free.is_none() || k == last) && observer.wants(k) {
            crate::kernel::gram(x, n, d, &mut gram);
            if observer.observe(k, &gram) {
                return Ok(k);
            }
        }
    }
    Ok(last)
}

/// Integrator choice by name (CLI, parameter files).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntegratorKind {
    PaperEuler,
    Rk4,
    /// Adaptive Dormand-Prince 5(4) with the given relative and absolute tolerances.
    Dp54 {
        rtol: f64,
        atol: f64,
    },
}

impl IntegratorKind {
    pub fn build(self) -> Result<Box<dyn Integrator>> {
        Ok(match self {
            IntegratorKind::PaperEuler => Box::new(PaperEuler::default()),
            IntegratorKind::Rk4 => Box::new(Rk4::default()),
            IntegratorKind::Dp54 { rtol, atol } => Box::new(DormandPrince54::new(rtol, atol)?),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            IntegratorKind::PaperEuler => "paper-euler",
            IntegratorKind::Rk4 => "rk4",
            IntegratorKind::Dp54 { .. } => "dp54",
        }
    }
}

/// Renormalises on the sphere and checks that the state is finite (on the sphere: every norm was
/// finite and positive, which bounds every coordinate by 1).
fn finish_step(field: &dyn VectorField, x: &mut [f64], d: usize) -> Result<()> {
    finite_state(if field.geometry() == Geometry::Sphere {
        crate::kernel::normalize_rows(x, d)
    } else {
        x.iter().all(|v| v.is_finite())
    })
}

/// Stamps the time `t` on a [`DynamicsError::NonFiniteState`] whose time is unknown (NaN).
fn at_time(e: DynamicsError, t: f64) -> DynamicsError {
    match e {
        DynamicsError::NonFiniteState { t: unknown } if unknown.is_nan() => {
            DynamicsError::NonFiniteState { t }
        }
        other => other,
    }
}

fn finite_state(finite: bool) -> Result<()> {
    if finite {
        Ok(())
    } else {
        Err(DynamicsError::NonFiniteState { t: f64::NAN })
    }
}

fn check_step(h: f64, x: &[f64], n: usize, d: usize) -> Result<()> {
    check_positive("dt", h)?;
    crate::error::check_sizes(n, d)?;
    if x.len() != n * d {
        return Err(invalid(
            "x",
            format!("state has {} entries, expected n * d = {}", x.len(), n * d),
        ));
    }
    Ok(())
}

/// The authors' scheme: explicit Euler on the unprojected drift, then renormalisation.
#[derive(Debug, Default, Clone)]
pub struct PaperEuler {
    ws: Workspace,
    drift: AlignedBuf,
    /// The state transposed (d x n) for the fused step.
    transposed: AlignedBuf,
    stats: IntegrationStats,
}

impl Integrator for PaperEuler {
    fn name(&self) -> &'static str {
        "paper-euler"
    }
    fn order(&self) -> u32 {
        1
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        self.drift.resize(n * d);
        self.transposed.resize(n * d);
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 1;
        if field.geometry() == Geometry::Sphere {
            crate::kernel::transpose(x, n, d, &mut self.transposed);
            if let Some(finite) =
                field.fused_paper_euler_transposed(&mut self.transposed, n, d, h, &mut self.ws)?
            {
                crate::kernel::transpose(&self.transposed, d, n, x);
                return finite_state(finite);
            }
        }
        field.drift_into(x, n, d, &mut self.drift, &mut self.ws)?;
        if field.geometry() == Geometry::Sphere {
            // update and renormalisation in one pass
            return finite_state(crate::kernel::euler_normalize_rows(x, &self.drift, h, d));
        }
        x.iter_mut()
            .zip(self.drift.iter())
            .for_each(|(xi, fi)| *xi += h * fi);
        finish_step(field, x, d)
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
    fn gram_before_last_step(&self) -> Option<&[f64]> {
        self.ws.last_gram()
    }
    /// On the sphere, with a field that has a fused step
    /// ([`VectorField::fused_paper_euler_transposed`]), the state stays transposed from the first
    /// step to the last (no transposes in between; the same bits as [`Integrator::step`]).
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
        steps: usize,
        observer: &mut dyn Observer,
    ) -> Result<usize> {
        check_step(h, x, n, d)?;
        if field.geometry() != Geometry::Sphere || steps == 0 {
            return advance_by_steps(self, field, x, n, d, h, 1..=steps, observer);
        }
        self.transposed.resize(n * d);
        crate::kernel::transpose(x, n, d, &mut self.transposed);
        let mut gram = AlignedBuf::default();
        for k in 1..=steps {
            let Some(finite) =
                field.fused_paper_euler_transposed(&mut self.transposed, n, d, h, &mut self.ws)?
            else {
                // no fused step (at all, or for this state): row-major steps from here on
                crate::kernel::transpose(&self.transposed, d, n, x);
                return advance_by_steps(self, field, x, n, d, h, k..=steps, observer);
            };
            self.stats.steps += 1;
            self.stats.accepted += 1;
            self.stats.evaluations += 1;
            finite_state(finite).map_err(|e| at_time(e, k as f64 * h))?;
            // as in `advance_by_steps`: state k - 1 through the Gram matrix the step computed,
            // state k when wanted and not seen at the next step
            let free = self.ws.last_gram();
            let mut stop = free.is_some_and(|g| observer.observe(k - 1, g));
            if !stop && (free.is_none() || k == steps) && observer.wants(k) {
                gram.resize(n * n);
                crate::kernel::gram_from_transposed(&self.transposed, n, d, &mut gram);
                stop = observer.observe(k, &gram);
            }
            if stop {
                crate::kernel::transpose(&self.transposed, d, n, x);
                return Ok(k);
            }
        }
        crate::kernel::transpose(&self.transposed, d, n, x);
        Ok(steps)
    }
}

/// Classical RK4 on the projected velocity, followed by renormalisation.
#[derive(Debug, Default, Clone)]
pub struct Rk4 {
    ws: Workspace,
    k: [AlignedBuf; 4],
    stage: AlignedBuf,
    stats: IntegrationStats,
}

impl Integrator for Rk4 {
    fn name(&self) -> &'static str {
        "rk4"
    }
    fn order(&self) -> u32 {
        4
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        let len = n * d;
        self.k.iter_mut().for_each(|k| k.resize(len));
        self.stage.resize(len);
        let [k1, k2, k3, k4] = &mut self.k;
        field.velocity_into(x, n, d, k1, &mut self.ws)?;
        for (s, (xi, k)) in self.stage.iter_mut().zip(x.iter().zip(k1.iter())) {
            *s = xi + 0.5 * h * k;
        }
        field.velocity_into(&self.stage, n, d, k2, &mut self.ws)?;
        for (s, (xi, k)) in self.stage.iter_mut().zip(x.iter().zip(k2.iter())) {
            *s = xi + 0.5 * h * k;
        }
        field.velocity_into(&self.stage, n, d, k3, &mut self.ws)?;
        for (s, (xi, k)) in self.stage.iter_mut().zip(x.iter().zip(k3.iter())) {
            *s = xi + h * k;
        }
        field.velocity_into(&self.stage, n, d, k4, &mut self.ws)?;
        for i in 0..len {
            x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 4;
        finish_step(field, x, d)
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

// Dormand-Prince 5(4) tableau (Dormand & Prince 1980).
// The nodes c = (0, 1/5, 3/10, 4/5, 8/9, 1, 1) are not needed: the fields are autonomous.
const DP_A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// Fifth-order weights (= last row of A: first same as last).
const DP_B: [f64; 7] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
    0.0,
];
/// Fourth-order embedded weights.
const DP_B_HAT: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// Adaptive embedded Dormand-Prince 5(4) with projection onto the sphere after each accepted step.
#[derive(Debug, Clone)]
pub struct DormandPrince54 {
    rtol: f64,
    atol: f64,
    adaptive: bool,
    /// Internal step size carried over between calls.
    h_internal: Option<f64>,
    ws: Workspace,
    k: Vec<AlignedBuf>,
    stage: AlignedBuf,
    candidate: AlignedBuf,
    stats: IntegrationStats,
}

impl DormandPrince54 {
    /// Smallest accepted tolerance: 100 machine epsilons.
    pub const MIN_TOLERANCE: f64 = 100.0 * f64::EPSILON;
    /// Largest number of trial steps (accepted + rejected) within one call of
    /// [`Integrator::step`]; beyond it the step fails with [`DynamicsError::StepLimit`].
    pub const MAX_TRIAL_STEPS: usize = 1_000_000;

    /// Adaptive integrator with RMS error norm e_j / (atol + rtol max(|x_j|, |x_new_j|)) <= 1.
    /// Both tolerances must be finite and at least [`Self::MIN_TOLERANCE`] (100 machine epsilons:
    /// below that round-off alone exceeds the tolerance and the step size collapses).
    pub fn new(rtol: f64, atol: f64) -> Result<Self> {
        check_positive("rtol", rtol)?;
        check_positive("atol", atol)?;
        for (name, value) in [("rtol", rtol), ("atol", atol)] {
            if value < Self::MIN_TOLERANCE {
                return Err(invalid(
                    name,
                    format!(
                        "{value:?} is below 100 machine epsilons ({:?}): round-off alone exceeds it",
                        Self::MIN_TOLERANCE
                    ),
                ));
            }
        }
        Ok(Self {
            rtol,
            atol,
            adaptive: true,
            h_internal: None,
            ws: Workspace::default(),
            k: vec![AlignedBuf::default(); 7],
            stage: AlignedBuf::default(),
            candidate: AlignedBuf::default(),
            stats: IntegrationStats::default(),
        })
    }
    /// One fifth-order step per call, no error control (for convergence-order studies).
    pub fn fixed() -> Self {
        let mut s = Self::new(1.0, 1.0).expect("constant tolerances are valid");
        s.adaptive = false;
        s
    }

    /// One trial step of size h from x: fills `candidate` and returns the scaled error norm.
    // i indexes x, the stage buffer and every k[s] at once: an index loop reads clearest
    #[allow(clippy::needless_range_loop)]
    fn trial(
        &mut self,
        field: &dyn VectorField,
        x: &[f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<f64> {
        let len = n * d;
        for s in 1..7 {
            for i in 0..len {
                let mut acc = 0.0;
                for (r, a) in DP_A[s][..s].iter().enumerate() {
                    acc += a * self.k[r][i];
                }
                self.stage[i] = x[i] + h * acc;
            }
            field.velocity_into(&self.stage, n, d, &mut self.k[s], &mut self.ws)?;
        }
        self.stats.evaluations += 6;
        let mut sum = 0.0;
        for i in 0..len {
            let (mut hi, mut lo) = (0.0, 0.0);
            for s in 0..7 {
                hi += DP_B[s] * self.k[s][i];
                lo += DP_B_HAT[s] * self.k[s][i];
            }
            self.candidate[i] = x[i] + h * hi;
            let scale = self.atol + self.rtol * x[i].abs().max(self.candidate[i].abs());
            let e = h * (hi - lo) / scale;
            sum += e * e;
        }
        Ok((sum / len as f64).sqrt())
    }
}

impl Integrator for DormandPrince54 {
    fn name(&self) -> &'static str {
        "dp54"
    }
    fn order(&self) -> u32 {
        5
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        let len = n * d;
        self.k.iter_mut().for_each(|k| k.resize(len));
        self.stage.resize(len);
        self.candidate.resize(len);
        self.stats.steps += 1;
        let mut t = 0.0;
        let mut h_try = if self.adaptive {
            self.h_internal.unwrap_or(h).min(h)
        } else {
            h
        };
        let mut trials = 0usize;
        while t < h {
            trials += 1;
            if trials > Self::MAX_TRIAL_STEPS {
                return Err(DynamicsError::StepLimit {
                    limit: Self::MAX_TRIAL_STEPS,
                    t,
                });
            }
            let last = h_try >= h - t;
            let h_now = if last { h - t } else { h_try };
            field.velocity_into(x, n, d, &mut self.k[0], &mut self.ws)?;
            self.stats.evaluations += 1;
            let err = self.trial(field, x, n, d, h_now)?;
            if !err.is_finite() {
                return Err(DynamicsError::NonFiniteState { t });
            }
            let factor = if err == 0.0 {
                5.0
            } else {
                (0.9 * err.powf(-0.2)).clamp(0.2, 5.0)
            };
            if !self.adaptive || err <= 1.0 {
                x.copy_from_slice(&self.candidate);
                finish_step(field, x, d)?;
                self.stats.accepted += 1;
                t = if last { h } else { t + h_now };
                if self.adaptive {
                    // keep the controller's proposal, not the truncated last step
                    h_try = if last {
                        h_try.max(h_now * factor.min(1.0))
                    } else {
                        h_now * factor
                    };
                }
            } else {
                self.stats.rejected += 1;
                h_try = h_now * factor;
                if h_try < 1e-14 * h.max(1.0) {
                    return Err(DynamicsError::StepSizeUnderflow { t, h: h_try });
                }
            }
        }
        self.h_internal = Some(h_try);
        Ok(())
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

/// Integrates `steps` steps of size `dt` from `x0`, calling `observe(step, t, state)` before the
/// first step and after each step. Returns the final configuration.
pub fn integrate(
    field: &dyn VectorField,
    integrator: &mut dyn Integrator,
    x0: &crate::config::Configuration,
    dt: f64,
    steps: usize,
    mut observe: impl FnMut(usize, f64, &[f64]),
) -> Result<crate::config::Configuration> {
    check_positive("dt", dt)?;
    let (n, d) = (x0.n(), x0.d());
    let mut x = x0.as_slice().to_vec();
    observe(0, 0.0, &x);
    for k in 1..=steps {
        integrator
            .step(field, &mut x, n, d, dt)
            .map_err(|e| match e {
                DynamicsError::NonFiniteState { .. } => {
                    DynamicsError::NonFiniteState { t: k as f64 * dt }
                }
                other => other,
            })?;
        observe(k, k as f64 * dt, &x);
    }
    crate::config::Configuration::euclidean(n, d, x)
}

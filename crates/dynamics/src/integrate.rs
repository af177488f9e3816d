//! The time-stepping schemes for xdot = F(x) on (S^{d-1})^n (\[GLPR\] (2.3)-(2.6)), each one step
//! of size h at a time; the [`Solver`] owns the state and the time and drives
//! them:
//!
//! - [`PaperEuler`]: the scheme of the authors' code (\[GLPR\] section 1, "How the paper's figures were
//!   integrated"): `x_i <- normalize(x_i + h sum_j A_ij V x_j)`, explicit Euler on the unprojected
//!   drift followed by renormalisation. First order (a retraction of the projected Euler step).
//! - [`FusedPaperEuler`]: the same step for single-head B = V = I self-attention on the sphere, on
//!   the transposed state X^T with the drift fused into the update (the same bits, two passes).
//! - [`Rk4`]: classical fourth-order Runge-Kutta on the projected velocity, then each x_i is
//!   renormalised (projection onto the sphere; keeps order 4).
//! - [`DormandPrince54`]: the embedded Dormand-Prince 5(4) pair with error control (mixed
//!   absolute/relative RMS norm), a standard step-size controller (`EmbeddedStepControl`, shared
//!   with [`crate::lie::Rkmk45`]) and projection after every accepted step; statistics of accepted/rejected steps and field evaluations. Its `fixed` mode
//!   takes exactly one fifth-order step per call (no error control), for order studies.
//!
//! - [`crate::energy_stable::EnergyStable`]: the minimising-movement (implicit Euler) step of the
//!   gradient-flow fields of \[GLPR\] section 3, energy non-decreasing at every step size.
//!
//! On the Euclidean geometry (model (9.1)) no renormalisation takes place. [`PaperEuler`],
//! [`Rk4`] and [`DormandPrince54`] are [`Integrator`]s (row-major state, any field);
//! [`AttentionStepper`] picks the fused step for an [`IntegratorKind`] where the field has it.

use crate::error::{DynamicsError, Result, invalid};
use crate::kernel::AlignedBuf;
use crate::model::{Geometry, SelfAttention, VectorField, Workspace};
use crate::solver::{Layout, Solver, Stepper};
use crate::validate::check_positive;

/// Work counters of an integrator since its creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntegrationStats {
    /// Steps taken (calls of [`Integrator::step`] or [`Stepper::step_state`]).
    pub steps: u64,
    /// Internal steps accepted (equal to `steps` for fixed-step schemes).
    pub accepted: u64,
    /// Internal steps rejected by error control.
    pub rejected: u64,
    /// Vector-field evaluations.
    pub evaluations: u64,
}

/// One step of a scheme on the row-major state of any field: the building block a
/// [`Solver`] drives (every integrator is a [`Stepper`] for every field).
///
/// ```
/// use attnflow_dynamics::{Integrator, Rk4, SelfAttention, sampling};
///
/// let field = SelfAttention::usa(1.0)?;
/// let x0 = sampling::uniform_sphere(5, 3, &mut sampling::stream(3, 0, sampling::Purpose::Other(0)))?;
/// let mut x = x0.as_slice().to_vec();
/// let mut rk4 = Rk4::default();
/// rk4.step(&field, &mut x, 5, 3, 0.1)?;
/// assert_eq!((rk4.order(), rk4.stats().evaluations), (4, 4));
/// for row in x.chunks_exact(3) {
///     assert!((row.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-14);
/// }
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
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
    /// (paper Euler on single-head B = I models); saves the observers a Gram product.
    fn gram_before_last_step(&self) -> Option<&[f64]> {
        None
    }
}

impl<I: Integrator + ?Sized> Integrator for Box<I> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn order(&self) -> u32 {
        (**self).order()
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        (**self).step(field, x, n, d, h)
    }
    fn stats(&self) -> IntegrationStats {
        (**self).stats()
    }
    fn gram_before_last_step(&self) -> Option<&[f64]> {
        (**self).gram_before_last_step()
    }
}

impl<I: Integrator + ?Sized> Integrator for &mut I {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn order(&self) -> u32 {
        (**self).order()
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        (**self).step(field, x, n, d, h)
    }
    fn stats(&self) -> IntegrationStats {
        (**self).stats()
    }
    fn gram_before_last_step(&self) -> Option<&[f64]> {
        (**self).gram_before_last_step()
    }
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
    /// Lie-Euler on the sphere ([`crate::lie::LieEuler`]; the Lie-group methods never project
    /// and refuse the Euclidean model).
    LieEuler,
    /// Crouch-Grossman order 3 ([`crate::lie::CrouchGrossman3`]).
    Cg3,
    /// Runge-Kutta-Munthe-Kaas order 4 ([`crate::lie::Rkmk4`]).
    Rkmk4,
    /// Commutator-free order 4 ([`crate::lie::CommutatorFree4`]).
    Cf4,
    /// Adaptive RKMK with the Dormand-Prince 5(4) pair ([`crate::lie::Rkmk45`]), tolerances as
    /// for `Dp54`.
    Rkmk45 {
        rtol: f64,
        atol: f64,
    },
    /// The energy-stable minimising-movement step for the gradient-flow fields
    /// ([`crate::energy_stable::EnergyStable`], default tolerance; refuses other fields).
    EnergyStable,
}

impl IntegratorKind {
    pub fn build(self) -> Result<Box<dyn Integrator>> {
        Ok(match self {
            IntegratorKind::PaperEuler => Box::new(PaperEuler::default()),
            IntegratorKind::Rk4 => Box::new(Rk4::default()),
            IntegratorKind::Dp54 { rtol, atol } => Box::new(DormandPrince54::new(rtol, atol)?),
            IntegratorKind::LieEuler => Box::new(crate::lie::LieEuler::default()),
            IntegratorKind::Cg3 => Box::new(crate::lie::CrouchGrossman3::default()),
            IntegratorKind::Rkmk4 => Box::new(crate::lie::Rkmk4::default()),
            IntegratorKind::Cf4 => Box::new(crate::lie::CommutatorFree4::default()),
            IntegratorKind::Rkmk45 { rtol, atol } => Box::new(crate::lie::Rkmk45::new(rtol, atol)?),
            IntegratorKind::EnergyStable => Box::new(crate::energy_stable::EnergyStable::default()),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            IntegratorKind::PaperEuler => "paper-euler",
            IntegratorKind::Rk4 => "rk4",
            IntegratorKind::Dp54 { .. } => "dp54",
            IntegratorKind::LieEuler => "lie-euler",
            IntegratorKind::Cg3 => "cg3",
            IntegratorKind::Rkmk4 => "rkmk4",
            IntegratorKind::Cf4 => "cf4",
            IntegratorKind::Rkmk45 { .. } => "rkmk45",
            IntegratorKind::EnergyStable => "energy-stable",
        }
    }
    /// The stepper of this scheme for `field`: [`FusedPaperEuler`] for the paper's Euler step
    /// where the field has the fused kernel, else the row-major [`Self::build`].
    pub fn stepper_for(self, field: &SelfAttention) -> Result<AttentionStepper> {
        if self == IntegratorKind::PaperEuler
            && let Some(fused) = FusedPaperEuler::for_field(field)
        {
            return Ok(AttentionStepper::Fused(fused));
        }
        Ok(AttentionStepper::Rows(self.build()?))
    }
}

/// The stepper [`IntegratorKind::stepper_for`] picks for a [`SelfAttention`] field.
///
/// ```
/// use attnflow_dynamics::{AttentionStepper, IntegratorKind, SelfAttention};
///
/// let sa = SelfAttention::sa(2.0)?;
/// let fused = IntegratorKind::PaperEuler.stepper_for(&sa)?;
/// assert!(matches!(fused, AttentionStepper::Fused(_)));
/// let causal = SelfAttention::sa(2.0)?.with_causal_mask();
/// let rows = IntegratorKind::PaperEuler.stepper_for(&causal)?;
/// assert!(matches!(rows, AttentionStepper::Rows(_)));
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
// one per solver: the size does not matter, and the fused step stays one indirection away
#[allow(clippy::large_enum_variant)]
pub enum AttentionStepper {
    /// The paper's Euler step on the transposed state.
    Fused(FusedPaperEuler),
    /// A row-major integrator.
    Rows(Box<dyn Integrator>),
}

impl AttentionStepper {
    /// Work counters since the stepper's creation.
    pub fn stats(&self) -> IntegrationStats {
        self.work()
    }
}

/// A borrowed stepper (to read its counters after [`integrate`]).
impl Stepper<SelfAttention> for &mut AttentionStepper {
    fn scheme(&self) -> &'static str {
        (**self).scheme()
    }
    fn layout(&self) -> Layout {
        (**self).layout()
    }
    fn step_state(
        &mut self,
        field: &SelfAttention,
        state: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        (**self).step_state(field, state, n, d, h)
    }
    fn gram_before_step(&self) -> Option<&[f64]> {
        (**self).gram_before_step()
    }
    fn work(&self) -> IntegrationStats {
        (**self).work()
    }
}

impl Stepper<SelfAttention> for AttentionStepper {
    fn scheme(&self) -> &'static str {
        match self {
            AttentionStepper::Fused(s) => s.scheme(),
            AttentionStepper::Rows(s) => s.name(),
        }
    }
    fn layout(&self) -> Layout {
        match self {
            AttentionStepper::Fused(_) => Layout::Transposed,
            AttentionStepper::Rows(_) => Layout::Rows,
        }
    }
    fn step_state(
        &mut self,
        field: &SelfAttention,
        state: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        match self {
            AttentionStepper::Fused(s) => s.step_state(field, state, n, d, h),
            AttentionStepper::Rows(s) => s.step(field, state, n, d, h),
        }
    }
    fn gram_before_step(&self) -> Option<&[f64]> {
        match self {
            AttentionStepper::Fused(s) => s.gram_before_step(),
            AttentionStepper::Rows(s) => s.gram_before_last_step(),
        }
    }
    fn work(&self) -> IntegrationStats {
        match self {
            AttentionStepper::Fused(s) => s.work(),
            AttentionStepper::Rows(s) => s.stats(),
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

pub(crate) fn finite_state(finite: bool) -> Result<()> {
    if finite {
        Ok(())
    } else {
        Err(DynamicsError::NonFiniteState { t: f64::NAN })
    }
}

pub(crate) fn check_step(h: f64, x: &[f64], n: usize, d: usize) -> Result<()> {
    check_positive("dt", h)?;
    crate::validate::check_sizes(n, d)?;
    if x.len() != n * d {
        return Err(invalid(
            "x",
            format!("state has {} entries, expected n * d = {}", x.len(), n * d),
        ));
    }
    Ok(())
}

/// The authors' scheme: explicit Euler on the unprojected drift, then renormalisation, on the
/// row-major state of any field.
///
/// ```
/// use attnflow_dynamics::{Integrator, PaperEuler, SelfAttention, sampling};
///
/// // beta = 0 (SA): every drift is the mean m of the points, x_i <- (x_i + h m) / |x_i + h m|
/// let field = SelfAttention::sa(0.0)?;
/// let x0 = sampling::uniform_sphere(4, 3, &mut sampling::stream(2, 0, sampling::Purpose::Other(0)))?;
/// let mean: Vec<f64> = (0..3).map(|k| (0..4).map(|i| x0.row(i)[k]).sum::<f64>() / 4.0).collect();
/// let mut x = x0.as_slice().to_vec();
/// PaperEuler::default().step(&field, &mut x, 4, 3, 0.1)?;
/// for i in 0..4 {
///     let y: Vec<f64> = (0..3).map(|k| x0.row(i)[k] + 0.1 * mean[k]).collect();
///     let r = y.iter().map(|v| v * v).sum::<f64>().sqrt();
///     for k in 0..3 {
///         assert!((x[i * 3 + k] - y[k] / r).abs() < 1e-15);
///     }
/// }
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct PaperEuler {
    ws: Workspace,
    drift: AlignedBuf,
    stats: IntegrationStats,
}

/// The paper's Euler step on the row-major state x: drift, update and renormalisation (in one pass
/// on the sphere).
fn paper_euler_rows(
    field: &dyn VectorField,
    x: &mut [f64],
    n: usize,
    d: usize,
    h: f64,
    ws: &mut Workspace,
    drift: &mut AlignedBuf,
) -> Result<()> {
    drift.resize(n * d);
    field.drift_into(x, n, d, drift, ws)?;
    if field.geometry() == Geometry::Sphere {
        return finite_state(crate::kernel::euler_normalize_rows(x, drift, h, d));
    }
    x.iter_mut()
        .zip(drift.iter())
        .for_each(|(xi, fi)| *xi += h * fi);
    finish_step(field, x, d)
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
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 1;
        paper_euler_rows(field, x, n, d, h, &mut self.ws, &mut self.drift)
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
    fn gram_before_last_step(&self) -> Option<&[f64]> {
        self.ws.last_gram()
    }
}

/// The paper's Euler step for [`SelfAttention`] on the transposed state X^T (d x n), which the
/// [`Solver`] keeps from the first step to the last: where the field has the fused kernel
/// ([`SelfAttention::has_fused_paper_euler`]: one head, B = V = I, no mask, on the sphere), two
/// passes per step (Gram matrix and weights; average, update and renormalisation), else (or for
/// a state whose norms are too uneven for the symmetric weights) [`PaperEuler`]'s row-major step.
/// The same bits as [`PaperEuler`] either way.
///
/// ```
/// use attnflow_dynamics::{FusedPaperEuler, PaperEuler, SelfAttention, Solver, sampling};
///
/// let field = SelfAttention::sa(3.0)?;
/// let x0 = sampling::uniform_sphere(16, 5, &mut sampling::stream(4, 0, sampling::Purpose::Other(0)))?;
/// let fused = FusedPaperEuler::for_field(&field).expect("SA has the fused step");
/// let mut a = Solver::new(&field, fused, &x0, 0.1)?;
/// let mut b = Solver::new(&field, PaperEuler::default(), &x0, 0.1)?;
/// a.advance_to(3.0)?;
/// b.advance_to(3.0)?;
/// assert_eq!(a.state().as_slice(), b.state().as_slice());
/// assert!(FusedPaperEuler::for_field(&field.clone().with_causal_mask()).is_none());
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FusedPaperEuler {
    ws: Workspace,
    /// Row-major copies of the state and the drift for the row-major fallback.
    rows: AlignedBuf,
    drift: AlignedBuf,
    stats: IntegrationStats,
}

impl FusedPaperEuler {
    /// The fused stepper, when `field` has the fused kernel.
    pub fn for_field(field: &SelfAttention) -> Option<Self> {
        field.has_fused_paper_euler().then(|| Self {
            ws: Workspace::default(),
            rows: AlignedBuf::default(),
            drift: AlignedBuf::default(),
            stats: IntegrationStats::default(),
        })
    }
}

impl Stepper<SelfAttention> for FusedPaperEuler {
    fn scheme(&self) -> &'static str {
        "paper-euler"
    }
    fn layout(&self) -> Layout {
        Layout::Transposed
    }
    fn step_state(
        &mut self,
        field: &SelfAttention,
        xt: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, xt, n, d)?;
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 1;
        if let Some(finite) = field.fused_paper_euler_transposed(xt, n, d, h, &mut self.ws)? {
            return finite_state(finite);
        }
        // no fused step for this field or state: the row-major step
        self.rows.resize(n * d);
        crate::kernel::transpose(xt, d, n, &mut self.rows);
        let done = paper_euler_rows(
            field,
            &mut self.rows,
            n,
            d,
            h,
            &mut self.ws,
            &mut self.drift,
        );
        crate::kernel::transpose(&self.rows, n, d, xt);
        done
    }
    fn gram_before_step(&self) -> Option<&[f64]> {
        self.ws.last_gram()
    }
    fn work(&self) -> IntegrationStats {
        self.stats
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
pub(crate) const DP_A: [[f64; 6]; 7] = [
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
pub(crate) const DP_B: [f64; 7] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
    0.0,
];
/// Fourth-order embedded weights.
pub(crate) const DP_B_HAT: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// Adaptive embedded Dormand-Prince 5(4) with projection onto the sphere after each accepted step.
/// One call of [`Integrator::step`] (a macro step of size h) takes as many internal steps as the
/// tolerances need, each trial evaluating the field 7 times.
///
/// ```
/// use attnflow_dynamics::{DormandPrince54, SelfAttention, Solver, sampling};
///
/// let field = SelfAttention::usa(1.0)?;
/// let x0 = sampling::uniform_sphere(6, 3, &mut sampling::stream(6, 0, sampling::Purpose::Other(0)))?;
/// let mut solver = Solver::new(&field, DormandPrince54::new(1e-9, 1e-11)?, &x0, 0.5)?;
/// solver.advance_to(2.0)?;
/// let stats = solver.stats();
/// assert_eq!(stats.steps, 4);
/// assert!(stats.accepted > stats.steps);
/// assert_eq!(stats.evaluations, 7 * (stats.accepted + stats.rejected));
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DormandPrince54 {
    control: EmbeddedStepControl,
    ws: Workspace,
    k: Vec<AlignedBuf>,
    stage: AlignedBuf,
    candidate: AlignedBuf,
    stats: IntegrationStats,
}

impl DormandPrince54 {
    /// Smallest accepted tolerance: 100 machine epsilons.
    pub const MIN_TOLERANCE: f64 = crate::validate::MIN_TOLERANCE;
    /// Largest number of trial steps (accepted + rejected) within one call of
    /// [`Integrator::step`]; beyond it the step fails with [`DynamicsError::StepLimit`].
    pub const MAX_TRIAL_STEPS: usize = EmbeddedStepControl::MAX_TRIAL_STEPS;

    /// Adaptive integrator with RMS error norm e_j / (atol + rtol max(|x_j|, |x_new_j|)) <= 1.
    /// Both tolerances must be finite and at least [`Self::MIN_TOLERANCE`] (100 machine epsilons:
    /// below that round-off alone exceeds the tolerance and the step size collapses).
    pub fn new(rtol: f64, atol: f64) -> Result<Self> {
        Ok(Self::with_control(EmbeddedStepControl::new(rtol, atol)?))
    }
    /// One fifth-order step per call, no error control (for convergence-order studies).
    pub fn fixed() -> Self {
        Self::with_control(EmbeddedStepControl::fixed())
    }
    fn with_control(control: EmbeddedStepControl) -> Self {
        Self {
            control,
            ws: Workspace::default(),
            k: vec![AlignedBuf::default(); 7],
            stage: AlignedBuf::default(),
            candidate: AlignedBuf::default(),
            stats: IntegrationStats::default(),
        }
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
        field.velocity_into(x, n, d, &mut self.k[0], &mut self.ws)?;
        self.stats.evaluations += 1;
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
            let e = self
                .control
                .scaled_error(x[i], self.candidate[i], h * (hi - lo));
            sum += e * e;
        }
        Ok(EmbeddedStepControl::rms(sum, len))
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
        let mut macro_step = self.control.macro_step(h);
        while let Some(h_now) = macro_step.next_trial()? {
            let err = self.trial(field, x, n, d, h_now)?;
            if macro_step.judge(err, &mut self.stats)? {
                x.copy_from_slice(&self.candidate);
                finish_step(field, x, d)?;
            }
        }
        self.control.end(macro_step);
        Ok(())
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

/// The step-size control of an embedded pair of orders 5(4) (Hairer, Norsett and Wanner, "Solving
/// Ordinary Differential Equations I", section II.4), shared by [`DormandPrince54`] and
/// [`crate::lie::Rkmk45`]: the mixed absolute/relative RMS norm
/// sqrt(mean_j (e_j / (atol + rtol max(|x_j|, |x_new_j|)))^2) of the error estimate e, a trial
/// step accepted when the norm is at most 1 (always in the `fixed` mode), the next step size
/// h err^(-1/5) times the safety factor 0.9, within [0.2, 5] times the last one, at most
/// [`Self::MAX_TRIAL_STEPS`] trials per macro step, and the proposal carried over between macro
/// steps.
#[derive(Debug, Clone)]
pub(crate) struct EmbeddedStepControl {
    rtol: f64,
    atol: f64,
    adaptive: bool,
    /// Internal step size carried over between calls.
    h_internal: Option<f64>,
}

impl EmbeddedStepControl {
    pub(crate) const MAX_TRIAL_STEPS: usize = 1_000_000;

    /// Adaptive control; both tolerances finite and at least 100 machine epsilons.
    pub(crate) fn new(rtol: f64, atol: f64) -> Result<Self> {
        crate::validate::check_tolerance("rtol", rtol)?;
        crate::validate::check_tolerance("atol", atol)?;
        Ok(Self {
            rtol,
            atol,
            adaptive: true,
            h_internal: None,
        })
    }
    /// Every trial accepted, one per macro step.
    pub(crate) fn fixed() -> Self {
        Self {
            rtol: 1.0,
            atol: 1.0,
            adaptive: false,
            h_internal: None,
        }
    }
    /// The error estimate `error` of coordinate j scaled by atol + rtol max(|x_j|, |x_new_j|).
    #[inline]
    pub(crate) fn scaled_error(&self, x: f64, candidate: f64, error: f64) -> f64 {
        error / (self.atol + self.rtol * x.abs().max(candidate.abs()))
    }
    /// The RMS norm of `len` scaled errors whose squares sum to `sum_of_squares`.
    #[inline]
    pub(crate) fn rms(sum_of_squares: f64, len: usize) -> f64 {
        (sum_of_squares / len as f64).sqrt()
    }
    /// The control of one macro step of size h (one call of [`Integrator::step`]).
    pub(crate) fn macro_step(&self, h: f64) -> MacroStep {
        MacroStep {
            h,
            t: 0.0,
            h_try: if self.adaptive {
                self.h_internal.unwrap_or(h).min(h)
            } else {
                h
            },
            h_now: h,
            last: false,
            trials: 0,
            adaptive: self.adaptive,
        }
    }
    /// Keeps the proposal of a finished macro step for the next one.
    pub(crate) fn end(&mut self, step: MacroStep) {
        self.h_internal = Some(step.h_try);
    }
}

/// One macro step under [`EmbeddedStepControl`]: [`Self::next_trial`] gives the size of the next
/// trial step (none when the macro step is done), [`Self::judge`] accepts or rejects it by its
/// error norm, counts it in the statistics and proposes the next size.
#[derive(Debug, Clone)]
pub(crate) struct MacroStep {
    h: f64,
    /// Time covered within the macro step.
    t: f64,
    h_try: f64,
    h_now: f64,
    /// Whether the current trial ends the macro step.
    last: bool,
    trials: usize,
    adaptive: bool,
}

impl MacroStep {
    /// The size of the next trial step, `None` once the macro step is covered; fails beyond
    /// [`EmbeddedStepControl::MAX_TRIAL_STEPS`] trials.
    pub(crate) fn next_trial(&mut self) -> Result<Option<f64>> {
        if self.t >= self.h {
            return Ok(None);
        }
        self.trials += 1;
        if self.trials > EmbeddedStepControl::MAX_TRIAL_STEPS {
            return Err(DynamicsError::StepLimit {
                limit: EmbeddedStepControl::MAX_TRIAL_STEPS,
                t: self.t,
            });
        }
        self.last = self.h_try >= self.h - self.t;
        self.h_now = if self.last {
            self.h - self.t
        } else {
            self.h_try
        };
        Ok(Some(self.h_now))
    }
    /// Accepts (true: the caller takes the candidate) or rejects the trial with error norm `err`,
    /// counts it in `stats` and proposes the next step size.
    pub(crate) fn judge(&mut self, err: f64, stats: &mut IntegrationStats) -> Result<bool> {
        let (h, t, h_now) = (self.h, self.t, self.h_now);
        if !err.is_finite() {
            return Err(DynamicsError::NonFiniteState { t });
        }
        let factor = if err == 0.0 {
            5.0
        } else {
            (0.9 * err.powf(-0.2)).clamp(0.2, 5.0)
        };
        if !self.adaptive || err <= 1.0 {
            stats.accepted += 1;
            self.t = if self.last { h } else { t + h_now };
            if self.adaptive {
                // keep the controller's proposal, not the truncated last step
                self.h_try = if self.last {
                    self.h_try.max(h_now * factor.min(1.0))
                } else {
                    h_now * factor
                };
            }
            Ok(true)
        } else {
            stats.rejected += 1;
            self.h_try = h_now * factor;
            if self.h_try < 1e-14 * h.max(1.0) {
                return Err(DynamicsError::StepSizeUnderflow { t, h: self.h_try });
            }
            Ok(false)
        }
    }
}

/// Integrates `steps` steps of size `dt` from `x0` with a [`Solver`], calling
/// `observe(step, t, state)` (state row-major n x d, t = step dt) before the first step and after
/// each step. Returns the final configuration.
///
/// ```
/// use attnflow_dynamics::{Rk4, SelfAttention, integrate, sampling};
///
/// let field = SelfAttention::sa(1.0)?;
/// let x0 = sampling::uniform_sphere(4, 3, &mut sampling::stream(5, 0, sampling::Purpose::Other(0)))?;
/// let mut times = vec![];
/// let end = integrate(&field, Rk4::default(), &x0, 0.5, 4, |_, t, _| times.push(t))?;
/// assert_eq!(times, [0.0, 0.5, 1.0, 1.5, 2.0]);
/// assert_eq!(end.n(), 4);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
pub fn integrate<F: ?Sized, S: Stepper<F>>(
    field: &F,
    stepper: S,
    x0: &crate::config::Configuration,
    dt: f64,
    steps: usize,
    mut observe: impl FnMut(usize, f64, &[f64]),
) -> Result<crate::config::Configuration> {
    let mut solver = Solver::new(field, stepper, x0, dt)?;
    observe(0, 0.0, x0.as_slice());
    for _ in 0..steps {
        solver.step()?;
        let state = solver.state();
        observe(state.step, state.t, state.as_slice());
    }
    solver.state().to_configuration()
}

//! The solver: a vector field, a stepper, and the state it owns at its time, for the initial-value
//! problem of n particles on the sphere S^{d-1} (\[GLPR\] (2.3)-(2.6)):
//!
//! ```text
//! xdot_i(t) = P_{x_i(t)}( (1/N_i) sum_j e^{beta <Q x_i(t), K x_j(t)>} V x_j(t) ),   x_i(0) = x_i^0,
//! ```
//!
//! with P_x y = y - <x, y> x, N_i = Z_i = sum_k e^{beta <Q x_i, K x_k>} (SA) or n (USA); in R^d
//! (\[GLPR\] (9.1)) without the projection. The field ([`VectorField`]) says what is integrated, the
//! stepper ([`Stepper`]: one step of size h of a scheme) how, and the [`Solver`] owns the state
//! x(t), its time t and step count k, and the one observation mechanism ([`Observer`]).
//!
//! Time: fixed-step schemes take the step h given at construction; after k steps from t = 0 the
//! time is exactly `k as f64 * h` (the k dt grid of the paper's figures, never accumulated).
//! [`Solver::advance_to`] reaches a time t_end by whole steps by default
//! ([`FinalStep::Overshoot`]: the first k with k h >= t_end, up to 1e-9 of a step, the authors'
//! checkpoint rule); [`FinalStep::Shorten`] instead ends with one shorter step exactly at t_end.

use std::ops::ControlFlow;

use crate::config::Configuration;
use crate::error::{DynamicsError, Result, invalid};
use crate::integrate::{IntegrationStats, Integrator};
use crate::kernel::AlignedBuf;
use crate::model::VectorField;
use crate::validate::check_positive;

/// Slack, in steps, of the rule "the first k with k h >= t": a time within 1e-9 of a step of the
/// grid point k h counts as reached at k (the authors' checkpoint rule,
/// [`crate::observables::checkpoint_steps`]).
const GRID_SLACK: f64 = 1e-9;

/// How a stepper stores the state it advances (the solver keeps it that way between steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Row-major n x d: `x[i * d + k]` is coordinate k of particle i.
    Rows,
    /// Transposed, d x n: `x[k * n + i]` is coordinate k of particle i.
    Transposed,
}

/// One step of size h of a time-stepping scheme on the field `F`, as a [`Solver`] drives it: the
/// solver owns the state (in the stepper's [`Layout`]) and the time, the stepper its scratch
/// buffers and work counters.
///
/// Every [`Integrator`] (row-major, any field: [`crate::PaperEuler`], [`crate::Rk4`],
/// [`crate::DormandPrince54`], and boxed or borrowed integrators) is a stepper for every field;
/// [`crate::FusedPaperEuler`] is one for [`crate::SelfAttention`] on the transposed state, and
/// [`crate::AttentionStepper`] picks between them by [`crate::IntegratorKind`].
///
/// ```
/// use attnflow_dynamics::solver::{Layout, Stepper};
/// use attnflow_dynamics::{FusedPaperEuler, Rk4, SelfAttention};
///
/// let field = SelfAttention::sa(1.0)?;
/// assert_eq!(Stepper::<SelfAttention>::layout(&Rk4::default()), Layout::Rows);
/// let fused = FusedPaperEuler::for_field(&field).expect("SA has the fused step");
/// assert_eq!(fused.layout(), Layout::Transposed);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
pub trait Stepper<F: ?Sized> {
    /// Short name used in metadata (`paper-euler`, `rk4`, `dp54`).
    fn scheme(&self) -> &'static str;
    /// How the state is stored for this stepper.
    fn layout(&self) -> Layout;
    /// Advances `state` (n particles in R^d, in [`Self::layout`]) by time h. Rows stay on the
    /// sphere on the sphere geometry.
    fn step_state(
        &mut self,
        field: &F,
        state: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()>;
    /// The Gram matrix G_ij = <x_i, x_j> of the state before the last step, when that step
    /// computed it anyway (the paper's Euler step on single-head B = I fields).
    fn gram_before_step(&self) -> Option<&[f64]>;
    /// Work counters since the stepper's creation.
    fn work(&self) -> IntegrationStats;
}

impl<F: VectorField, I: Integrator + ?Sized> Stepper<F> for I {
    fn scheme(&self) -> &'static str {
        self.name()
    }
    fn layout(&self) -> Layout {
        Layout::Rows
    }
    fn step_state(&mut self, field: &F, x: &mut [f64], n: usize, d: usize, h: f64) -> Result<()> {
        self.step(field, x, n, d, h)
    }
    fn gram_before_step(&self) -> Option<&[f64]> {
        self.gram_before_last_step()
    }
    fn work(&self) -> IntegrationStats {
        self.stats()
    }
}

impl<'v, I: Integrator + ?Sized> Stepper<dyn VectorField + 'v> for I {
    fn scheme(&self) -> &'static str {
        self.name()
    }
    fn layout(&self) -> Layout {
        Layout::Rows
    }
    fn step_state(
        &mut self,
        field: &(dyn VectorField + 'v),
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        self.step(field, x, n, d, h)
    }
    fn gram_before_step(&self) -> Option<&[f64]> {
        self.gram_before_last_step()
    }
    fn work(&self) -> IntegrationStats {
        self.stats()
    }
}

/// What a [`Solver`] shows its states to, through their Gram matrices G_ij = <x_i, x_j> (the
/// ensembles' statistics). State k is the state after k steps.
///
/// Which states are shown (by [`Solver::advance_to`] and [`Solver::advance_to_step`], each state at
/// most once, in increasing order): every state whose Gram matrix a step computed anyway (state
/// k - 1 during step k, with the paper's Euler step on single-head B = I fields), and every state
/// the observer [`Self::wants`] that would not be shown otherwise (a Gram product then: at once
/// for steppers without free Gram matrices, at the end of the advance for the last state). The
/// start (state 0) and the states [`Solver::step`] reaches are shown only through later Gram
/// matrices.
///
/// ```
/// use std::ops::ControlFlow;
/// use attnflow_dynamics::{Observer, Rk4, SelfAttention, Solver, Stop, sampling};
///
/// /// Stops once every pair of points has <x_i, x_j> > 0.9.
/// struct Cluster(Option<usize>);
/// impl Observer for Cluster {
///     fn wants(&self, _step: usize) -> bool {
///         true
///     }
///     fn observe(&mut self, step: usize, gram: &[f64]) -> ControlFlow<()> {
///         if gram.iter().all(|&g| g > 0.9) {
///             self.0 = Some(step);
///             return ControlFlow::Break(());
///         }
///         ControlFlow::Continue(())
///     }
/// }
///
/// let field = SelfAttention::sa(1.0)?;
/// let x0 = sampling::uniform_sphere(6, 3, &mut sampling::stream(1, 0, sampling::Purpose::Other(0)))?;
/// let mut seen = Cluster(None);
/// let mut solver = Solver::new(&field, Rk4::default(), &x0, 0.1)?.with_observer(&mut seen);
/// assert_eq!(solver.advance_to(100.0)?, Stop::Observer);
/// let k = solver.state().step;
/// drop(solver);
/// assert_eq!(seen.0, Some(k));
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
pub trait Observer {
    /// Whether state `step` must be shown even when no step computes its Gram matrix.
    fn wants(&self, step: usize) -> bool;
    /// Observes state `step` through its Gram matrix (row-major n x n); `Break` stops the solver.
    fn observe(&mut self, step: usize, gram: &[f64]) -> ControlFlow<()>;
}

/// Watches nothing.
impl Observer for () {
    fn wants(&self, _: usize) -> bool {
        false
    }
    fn observe(&mut self, _: usize, _: &[f64]) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

impl<O: Observer + ?Sized> Observer for &mut O {
    fn wants(&self, step: usize) -> bool {
        (**self).wants(step)
    }
    fn observe(&mut self, step: usize, gram: &[f64]) -> ControlFlow<()> {
        (**self).observe(step, gram)
    }
}

/// Two observers watching one solver (e.g. a merge detector and the clock of a time change): a
/// state is shown when either wants it, to both (each in order, `A` first); either one's `Break`
/// stops the solver, after both have seen the state.
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn wants(&self, step: usize) -> bool {
        self.0.wants(step) || self.1.wants(step)
    }
    fn observe(&mut self, step: usize, gram: &[f64]) -> ControlFlow<()> {
        let a = self.0.observe(step, gram);
        let b = self.1.observe(step, gram);
        if a.is_break() || b.is_break() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Why [`Solver::advance_to`] or [`Solver::advance_to_step`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The requested time (or step) was reached.
    Reached,
    /// The observer returned [`ControlFlow::Break`]; the state is the one after the last step
    /// taken.
    Observer,
}

/// How [`Solver::advance_to`] ends when t_end is not on the step grid t + k h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalStep {
    /// Whole steps only: stop at the first step k with k h >= t_end (up to 1e-9 of a step),
    /// overshooting t_end by less than one step. Keeps the k dt grid of the paper's figures.
    #[default]
    Overshoot,
    /// Whole steps while they stay within t_end, then one shorter step that ends exactly at t_end
    /// (none when t_end is within 1e-9 of a step of the grid). Later times count from t_end.
    Shorten,
}

/// The state of a [`Solver`]: time, step count and positions (row-major n x d).
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    /// The time.
    pub t: f64,
    /// Steps taken since the start.
    pub step: usize,
    n: usize,
    d: usize,
    x: &'a [f64],
}

impl<'a> State<'a> {
    /// Number of particles.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Dimension of the ambient space R^d.
    pub fn d(&self) -> usize {
        self.d
    }
    /// The positions, row-major n x d.
    pub fn as_slice(&self) -> &'a [f64] {
        self.x
    }
    /// Particle i.
    pub fn row(&self, i: usize) -> &'a [f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
    /// The positions as an owned [`Configuration`].
    pub fn to_configuration(&self) -> Result<Configuration> {
        Configuration::euclidean(self.n, self.d, self.x.to_vec())
    }
}

/// Integrates xdot = F(x) (see the module docs): owns the state x (n particles in R^d), its time t
/// and step count, the stepper and an [`Observer`] (none by default); borrows the field.
///
/// ```
/// use attnflow_dynamics::{PaperEuler, SelfAttention, Solver, Stop, sampling};
///
/// let field = SelfAttention::sa(1.0)?;
/// let x0 = sampling::uniform_sphere(8, 3, &mut sampling::stream(7, 0, sampling::Purpose::Other(0)))?;
/// let mut solver = Solver::new(&field, PaperEuler::default(), &x0, 0.1)?;
/// solver.step()?;
/// assert_eq!((solver.state().step, solver.state().t), (1, 0.1));
/// // 0.25 is not on the grid: whole steps up to t = 3 * 0.1
/// assert_eq!(solver.advance_to(0.25)?, Stop::Reached);
/// let state = solver.state();
/// assert_eq!((state.step, state.t), (3, 3.0 * 0.1));
/// assert!((state.row(0).iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-14);
/// assert_eq!(solver.stats().evaluations, 3);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
pub struct Solver<'f, F: ?Sized, S, O = ()> {
    field: &'f F,
    stepper: S,
    observer: O,
    n: usize,
    d: usize,
    h: f64,
    final_step: FinalStep,
    /// The state in the stepper's layout.
    state: AlignedBuf,
    /// The state row-major, kept equal to `state` between calls when the layout is transposed.
    rows: AlignedBuf,
    /// Time and step count of the last point the step grid restarted from (t = 0 at the start,
    /// t_end after a shortened final step): t = t_base + (step - step_base) h.
    t_base: f64,
    step_base: usize,
    step: usize,
    /// The last state shown to the observer.
    shown: Option<usize>,
    gram: AlignedBuf,
}

impl<'f, F: ?Sized, S: Stepper<F>> Solver<'f, F, S> {
    /// A solver at t = 0 in the state `x0` (n x d), taking steps of size `h` (finite, > 0).
    pub fn new(field: &'f F, stepper: S, x0: &Configuration, h: f64) -> Result<Self> {
        check_positive("dt", h)?;
        let (n, d) = (x0.n(), x0.d());
        crate::validate::check_sizes(n, d)?;
        let (state, rows) = match stepper.layout() {
            Layout::Rows => (AlignedBuf::from_slice(x0.as_slice()), AlignedBuf::default()),
            Layout::Transposed => {
                let mut xt = AlignedBuf::zeros(n * d);
                crate::kernel::transpose(x0.as_slice(), n, d, &mut xt);
                (xt, AlignedBuf::from_slice(x0.as_slice()))
            }
        };
        Ok(Self {
            field,
            stepper,
            observer: (),
            n,
            d,
            h,
            final_step: FinalStep::default(),
            state,
            rows,
            t_base: 0.0,
            step_base: 0,
            step: 0,
            shown: None,
            gram: AlignedBuf::default(),
        })
    }
}

impl<'f, F: ?Sized, S: Stepper<F>, O: Observer> Solver<'f, F, S, O> {
    /// The same solver, showing its states to `observer` from now on.
    pub fn with_observer<P: Observer>(self, observer: P) -> Solver<'f, F, S, P> {
        Solver {
            field: self.field,
            stepper: self.stepper,
            observer,
            n: self.n,
            d: self.d,
            h: self.h,
            final_step: self.final_step,
            state: self.state,
            rows: self.rows,
            t_base: self.t_base,
            step_base: self.step_base,
            step: self.step,
            shown: self.shown,
            gram: self.gram,
        }
    }

    /// The same solver with the policy `final_step` for [`Self::advance_to`].
    pub fn with_final_step(mut self, final_step: FinalStep) -> Self {
        self.final_step = final_step;
        self
    }

    /// The current state: time, step count, positions.
    pub fn state(&self) -> State<'_> {
        State {
            t: self.time_at(self.step),
            step: self.step,
            n: self.n,
            d: self.d,
            x: match self.stepper.layout() {
                Layout::Rows => &self.state,
                Layout::Transposed => &self.rows,
            },
        }
    }

    /// The stepper's work counters.
    pub fn stats(&self) -> IntegrationStats {
        self.stepper.work()
    }

    /// The stepper.
    pub fn stepper(&self) -> &S {
        &self.stepper
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }

    /// The step size h.
    pub fn step_size(&self) -> f64 {
        self.h
    }

    /// One step of size h (no observation: observers watch [`Self::advance_to`]). On an error the
    /// time and step count stay those before the failed step; the positions are then unspecified.
    pub fn step(&mut self) -> Result<()> {
        let h = self.h;
        self.take_step(h)?;
        self.sync_rows();
        Ok(())
    }

    /// Advances to time `t_end` by the [`FinalStep`] policy (no steps when the state is already
    /// there or beyond), showing the states to the observer.
    pub fn advance_to(&mut self, t_end: f64) -> Result<Stop> {
        if !t_end.is_finite() {
            return Err(invalid("t_end", format!("must be finite, got {t_end:?}")));
        }
        // the grid point k = step_base + m reaches t_end when m >= (t_end - t_base) / h - slack
        let span = (t_end - self.t_base) / self.h;
        if span > (1u64 << 53) as f64 {
            return Err(invalid(
                "t_end",
                format!("{t_end:?} is {span:e} steps of {:?} away", self.h),
            ));
        }
        let whole = match self.final_step {
            FinalStep::Overshoot => (span - GRID_SLACK).ceil(),
            FinalStep::Shorten => (span + GRID_SLACK).floor(),
        };
        let k_end = self.step_base + whole.max(0.0) as usize;
        let stop = self.advance_to_step(k_end)?;
        let t = self.time_at(self.step);
        if stop == Stop::Reached
            && self.final_step == FinalStep::Shorten
            && t_end - t > GRID_SLACK * self.h
        {
            self.take_step(t_end - t)?;
            (self.t_base, self.step_base) = (t_end, self.step);
            let stop = self.show_after_step(true);
            self.sync_rows();
            if stop.is_break() {
                return Ok(Stop::Observer);
            }
        }
        Ok(stop)
    }

    /// Takes whole steps of size h up to step `k_end` (none when the solver is there or beyond),
    /// showing the states to the observer.
    pub fn advance_to_step(&mut self, k_end: usize) -> Result<Stop> {
        let h = self.h;
        let mut stop = Stop::Reached;
        while self.step < k_end {
            self.take_step(h)?;
            if self.show_after_step(self.step == k_end).is_break() {
                stop = Stop::Observer;
                break;
            }
        }
        self.sync_rows();
        Ok(stop)
    }

    /// Time of state k on the current grid.
    fn time_at(&self, k: usize) -> f64 {
        self.t_base + (k - self.step_base) as f64 * self.h
    }

    /// One step of size `h` on the stored state; a non-finite state is reported at the time the
    /// step reaches.
    fn take_step(&mut self, h: f64) -> Result<()> {
        if crate::interrupt::requested() {
            return Err(DynamicsError::Interrupted);
        }
        let t_next = self.time_at(self.step) + h;
        self.stepper
            .step_state(self.field, &mut self.state, self.n, self.d, h)
            .map_err(|e| match e {
                DynamicsError::NonFiniteState { .. } => DynamicsError::NonFiniteState { t: t_next },
                other => other,
            })?;
        self.step += 1;
        Ok(())
    }

    /// After step k: state k - 1 through the Gram matrix the step computed anyway, then state k
    /// when wanted and not shown at the next step (always at the `last` step of an advance).
    fn show_after_step(&mut self, last: bool) -> ControlFlow<()> {
        let k = self.step;
        let Self {
            stepper,
            observer,
            shown,
            gram,
            state,
            n,
            d,
            ..
        } = self;
        let free = stepper.gram_before_step();
        if let Some(g) = free
            && shown.is_none_or(|s| s < k - 1)
        {
            *shown = Some(k - 1);
            observer.observe(k - 1, g)?;
        }
        if (free.is_none() || last) && observer.wants(k) {
            gram.resize(*n * *n);
            match stepper.layout() {
                Layout::Rows => crate::kernel::gram(state, *n, *d, gram),
                Layout::Transposed => crate::kernel::gram_from_transposed(state, *n, *d, gram),
            }
            *shown = Some(k);
            observer.observe(k, gram)?;
        }
        ControlFlow::Continue(())
    }

    /// Brings the row-major copy up to date (transposed layout).
    fn sync_rows(&mut self) {
        if self.stepper.layout() == Layout::Transposed {
            crate::kernel::transpose(&self.state, self.d, self.n, &mut self.rows);
        }
    }
}

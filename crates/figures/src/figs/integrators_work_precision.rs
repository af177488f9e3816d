//! `integrators-work-precision`: work-precision diagrams of the time-stepping schemes of attnflow on the
//! particle system of \[GLPR\] (2.6) on (S^{d-1})^n,
//!
//! ```text
//! xdot_i = P_{x_i}( (1/Z_i) sum_j e^{beta <Q x_i, K x_j>} V x_j ),   P_x y = y - <x, y> x,
//! ```
//!
//! (SA; Q = K = V = I except in problem (c)), drawn the way numerical analysts compare integrators
//! (the SciML work-precision diagrams): the final error of a run against its cost in evaluations of
//! the vector field, for every scheme at a ladder of settings. Fixed-step schemes (paper-euler, rk4,
//! lie-euler, cg3, rkmk4, cf4) run at h_k = h_max 2^-k, the adaptive ones (dp54, rkmk45) at
//! rtol = atol = tol over a ladder of tolerances (macro steps of `adaptive_macro_step`, the internal
//! step carried over between them; the macro step caps the internal one and each macro step ends on
//! its boundary, as in the phase-diagram runs: the engine's controller tries the whole macro step
//! first and stops on a non-finite trial, so one macro step over the whole interval is not safe).
//!
//! The problems:
//! - (a) the equiangular start x_i(0) = e_i, n = d = 8, whose exact solution \[GLPR\] Thm 6.8 gives:
//!   every <x_i, x_j> equals gamma(t) of (6.9) (SA), so by the permutation symmetry
//!   x_i(t) = c e_i + b (e_1 + ... + e_n) with c = sqrt(1 - gamma) and b = (sqrt(n - (n - 1) c^2) - c) / n
//!   (|x_i| = 1 and <x_i, x_j> = gamma); 1 - gamma(t) from the exact quadrature of attnflow-energy;
//! - (b) 16 uniform points on S^2, beta = 4;
//! - (c) the \[GLPR\] Figure 5 (a) set-up: Ginibre Q, K, V (`MatrixEnsemble::Ginibre`), n = 32,
//!   d = 128, beta = 1;
//! - (d) a metastable circle: 64 uniform points on S^1 at beta = 16, where clusters form fast and
//!   merge over long times; besides the positions, the number of clusters at the final time
//!   (components of {<x_i, x_j> > 1 - delta}) is compared with the reference's.
//!
//! Every run records the final error (max over particles of the Euclidean distance to the reference
//! solution: the exact one for (a), else adaptive Dormand-Prince 5(4) at rtol = atol =
//! `reference_tolerance`), the field evaluations (`IntegrationStats::evaluations`), the sphere
//! drift max_i ||x_i| - 1| and the cluster count. The reference is checked against a second
//! independent accurate solution (dp54 against the exact solution for (a), the Lie-group rkmk45 at
//! the reference tolerance for the others): `reference_check`. Per fixed-step scheme the observed
//! order is the least-squares slope of ln error against ln h over the `fit_points` finest runs above
//! the round-off floor `error_floor` (a ladder stops after its first run below the floor); per scheme
//! the evaluations needed for `target_error` are interpolated linearly in log-log between the runs
//! that bracket it. Wall times are measured by [`compute_timed`] but are not part of the record
//! (records are a function of the parameters only); `cargo xtask accuracy` reports them.

use std::ops::ControlFlow;
use std::time::Instant;

use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{
    Configuration, GradientFlow, IntegratorKind, MatrixEnsemble, ModelKind, Observer,
    SelfAttention, Solver, Value, observables,
};
use plotters::style::RGBColor;
use serde::{Deserialize, Serialize};

use super::surrogate_views::upstream;
use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::golden::FieldTolerance;
use crate::layout::{Block, Layout, Panel};
use crate::plot::SERIES_COLORS;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};

/// A benchmarked scheme (the [`IntegratorKind`]s compared here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    PaperEuler,
    Rk4,
    LieEuler,
    Cg3,
    Rkmk4,
    Cf4,
    Dp54,
    Rkmk45,
    EnergyStable,
}

impl Method {
    /// Every benchmarked scheme: the explicit fixed-step ones, the adaptive ones, then the
    /// energy-stable step (gradient-flow problems only).
    pub const ALL: [Method; 9] = [
        Method::PaperEuler,
        Method::Rk4,
        Method::LieEuler,
        Method::Cg3,
        Method::Rkmk4,
        Method::Cf4,
        Method::Dp54,
        Method::Rkmk45,
        Method::EnergyStable,
    ];

    /// Whether the scheme controls its own step (settings are tolerances, not step sizes).
    pub fn is_adaptive(self) -> bool {
        matches!(self, Method::Dp54 | Method::Rkmk45)
    }

    /// The scheme; `tolerance` is rtol = atol of the adaptive ones (ignored by the others).
    pub fn kind(self, tolerance: f64) -> IntegratorKind {
        match self {
            Method::PaperEuler => IntegratorKind::PaperEuler,
            Method::Rk4 => IntegratorKind::Rk4,
            Method::LieEuler => IntegratorKind::LieEuler,
            Method::Cg3 => IntegratorKind::Cg3,
            Method::Rkmk4 => IntegratorKind::Rkmk4,
            Method::Cf4 => IntegratorKind::Cf4,
            Method::Dp54 => IntegratorKind::Dp54 {
                rtol: tolerance,
                atol: tolerance,
            },
            Method::Rkmk45 => IntegratorKind::Rkmk45 {
                rtol: tolerance,
                atol: tolerance,
            },
            Method::EnergyStable => IntegratorKind::EnergyStable,
        }
    }

    /// Whether the scheme runs only on gradient-flow fields (\[GLPR\] section 3).
    pub fn needs_gradient_flow(self) -> bool {
        self == Method::EnergyStable
    }

    /// The scheme's name (`rk4`, `dp54`, ...).
    pub fn name(self) -> &'static str {
        self.kind(1.0).name()
    }
}

/// The initial condition of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// x_i = e_i (needs d >= n, identity weights): the exact solution of \[GLPR\] Thm 6.8 is the
    /// reference.
    Equiangular,
    /// Uniform on the sphere, stream (seed, problem index, `InitialCondition`); reference by dp54.
    Uniform,
}

/// One initial-value problem of the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub label: String,
    pub start: Start,
    pub model: ModelKind,
    pub n: usize,
    pub d: usize,
    pub beta: f64,
    /// Q, K, V; drawn from stream (seed, problem index, `Matrices`).
    pub matrices: MatrixEnsemble,
    pub t_end: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub problems: Vec<Problem>,
    pub methods: Vec<Method>,
    /// Fixed-step ladder h_k = h_max 2^-k, k = 0 .. num_steps - 1 (each h divides every t_end).
    pub h_max: f64,
    pub num_steps: usize,
    /// Tolerance ladder of the adaptive schemes (rtol = atol), coarse to fine.
    pub tolerances: Vec<f64>,
    /// Macro step of the adaptive schemes (divides every t_end).
    pub adaptive_macro_step: f64,
    /// rtol = atol of the dp54 reference (and of the rkmk45 check).
    pub reference_tolerance: f64,
    /// Round-off floor: a fixed-step ladder stops after its first error below it, and the order fit
    /// ignores such errors.
    pub error_floor: f64,
    /// The order fit uses at most this many of the finest runs above the floor.
    pub fit_points: usize,
    /// The error at which the evaluations of the schemes are compared.
    pub target_error: f64,
    /// Clusters: components of the graph {<x_i, x_j> > 1 - cluster_delta}.
    pub cluster_delta: f64,
}

crate::figure_params!(Params);

/// One run of a scheme at one setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Step size h (fixed-step) or rtol = atol (adaptive).
    pub setting: f64,
    /// max_i |x_i(t_end) - x_i^ref(t_end)|.
    pub error: f64,
    pub evaluations: u64,
    /// max_i ||x_i(t_end)| - 1|.
    pub sphere_drift: f64,
    pub clusters: usize,
    /// Steps (macro steps of the adaptive schemes) over which the energy E_beta decreased by more
    /// than `ENERGY_DECREASE_SLACK` relative; `None` when the field is not a gradient flow of
    /// E_beta (B = V = I).
    pub energy_decreases: Option<u64>,
}

/// Relative decrease of E_beta above which a step counts as an energy decrease (the round-off of
/// E_beta summed over n^2 terms stays below it).
pub const ENERGY_DECREASE_SLACK: f64 = 1e-12;

/// Counts the steps over which E_beta(X) = (1/(2 beta n^2)) sum_ij e^{beta <x_i, x_j>} (\[GLPR\]
/// (3.5)), non-decreasing along the exact gradient flows (SA and USA with B = V = I, \[GLPR\] (3.6),
/// (3.11)), decreased by more than [`ENERGY_DECREASE_SLACK`] relative. Sees every state.
struct EnergyMonitor {
    n: usize,
    beta: f64,
    /// E_beta of the last state seen.
    previous: f64,
    decreases: u64,
}

impl EnergyMonitor {
    fn new(x0: &Configuration, beta: f64) -> Self {
        Self {
            n: x0.n(),
            beta,
            previous: observables::energy_of_gram(&x0.gram(), x0.n(), beta),
            decreases: 0,
        }
    }
}

impl Observer for EnergyMonitor {
    fn wants(&self, _step: usize) -> bool {
        true
    }
    fn observe(&mut self, step: usize, gram: &[f64]) -> ControlFlow<()> {
        let energy = observables::energy_of_gram(gram, self.n, self.beta);
        // state 0 is the start itself, shown by steppers whose first step computes its Gram matrix
        if step > 0 && self.previous - energy > ENERGY_DECREASE_SLACK * self.previous.abs() {
            self.decreases += 1;
        }
        self.previous = energy;
        ControlFlow::Continue(())
    }
}

/// Every run of one scheme on one problem, with the fitted order and the cost at the target error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodRuns {
    pub method: Method,
    pub theory_order: u32,
    pub runs: Vec<Run>,
    /// Least-squares slope of ln error against ln h (fixed-step schemes with two fit points).
    pub fitted_order: Option<f64>,
    /// Evaluations at `target_error` (log-log interpolation), `None` when no two runs bracket it.
    pub evaluations_at_target: Option<f64>,
}

/// The results of one problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemRuns {
    pub label: String,
    /// What the errors are measured against.
    pub reference: String,
    /// max_i distance between the reference and a second independent accurate solution.
    pub reference_check: f64,
    pub reference_clusters: usize,
    pub methods: Vec<MethodRuns>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub problems: Vec<ProblemRuns>,
}

/// Wall seconds of every run, indexed like [`Data`]: problem, scheme, run.
pub type RunSeconds = Vec<Vec<Vec<f64>>>;

pub struct IntegratorsWorkPrecision;

/// The field of a problem (Q, K, V from stream (seed, index, `Matrices`)).
fn field(p: &Params, index: usize, problem: &Problem) -> Result<SelfAttention> {
    let mut rng = stream(p.seed, index as u64, Purpose::Matrices);
    let builder = SelfAttention::builder()
        .beta(problem.beta)
        .model(problem.model);
    let builder = match problem
        .matrices
        .draw(problem.d, &mut rng)
        .map_err(upstream)?
    {
        None => builder,
        Some(draw) => builder.head_interaction(
            Some(draw.interaction.clone()),
            Value::Matrix(draw.value_applied()),
        ),
    };
    builder.build().map_err(upstream)
}

/// The exact solution of \[GLPR\] Thm 6.8 from x_i(0) = e_i at time t (see the module docs).
pub fn equiangular_positions(model: ModelKind, n: usize, beta: f64, t: f64) -> Result<Vec<f64>> {
    let gap = attnflow_energy::equiangular::gap_at(model, n, beta, 0.0, t).map_err(upstream)?;
    let c = gap.sqrt();
    let b = ((n as f64 - (n as f64 - 1.0) * gap).sqrt() - c) / n as f64;
    let mut x = vec![b; n * n];
    for i in 0..n {
        x[i * n + i] += c;
    }
    Ok(x)
}

/// max_i |x_i - y_i| over the rows of two n x d states.
fn max_distance(x: &[f64], y: &[f64], d: usize) -> f64 {
    x.chunks_exact(d)
        .zip(y.chunks_exact(d))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(u, v)| (u - v) * (u - v))
                .sum::<f64>()
                .sqrt()
        })
        .fold(0.0, f64::max)
}

/// Whether `step` divides `t` (up to 1e-9 of a step).
fn divides(step: f64, t: f64) -> bool {
    let ratio = t / step;
    (ratio - ratio.round()).abs() <= 1e-9
}

fn check(p: &Params) -> Result<()> {
    let bad = |what: String| Err(FigureError::InvalidParams(format!("{}: {what}", META.id)));
    if p.problems.is_empty() || p.methods.is_empty() || p.num_steps == 0 {
        return bad("needs at least one problem, one scheme and one step size".into());
    }
    if p.fit_points < 2 {
        return bad(format!(
            "fit_points must be at least 2, got {}",
            p.fit_points
        ));
    }
    for (name, value) in [
        ("h_max", p.h_max),
        ("adaptive_macro_step", p.adaptive_macro_step),
        ("error_floor", p.error_floor),
        ("target_error", p.target_error),
        ("cluster_delta", p.cluster_delta),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return bad(format!("{name} must be finite and positive, got {value}"));
        }
    }
    for problem in &p.problems {
        let label = &problem.label;
        if !(problem.t_end.is_finite() && problem.t_end > 0.0) {
            return bad(format!("{label}: t_end must be positive"));
        }
        if !divides(p.h_max, problem.t_end) || !divides(p.adaptive_macro_step, problem.t_end) {
            return bad(format!(
                "{label}: h_max and adaptive_macro_step must divide t_end = {}",
                problem.t_end
            ));
        }
        if problem.start == Start::Equiangular
            && (problem.d != problem.n || problem.matrices != MatrixEnsemble::Identity)
        {
            return bad(format!(
                "{label}: the equiangular start needs d = n and identity weights"
            ));
        }
    }
    Ok(())
}

/// A problem ready to run: its field, start and reference solution.
struct Prepared {
    field: SelfAttention,
    x0: Configuration,
    reference: Vec<f64>,
    reference_label: String,
    reference_check: f64,
}

/// The final state, evaluations and wall seconds of `method` at `setting` on `field` from `x0`,
/// showing every state the solver shows to `observer`.
fn solve<O: Observer>(
    p: &Params,
    field: &SelfAttention,
    x0: &Configuration,
    t_end: f64,
    method: Method,
    setting: f64,
    observer: O,
) -> Result<(Configuration, u64, f64)> {
    let stepper = method.kind(setting).stepper_for(field).map_err(upstream)?;
    let h = if method.is_adaptive() {
        p.adaptive_macro_step
    } else {
        setting
    };
    let start = Instant::now();
    let mut solver = Solver::new(field, stepper, x0, h)
        .map_err(upstream)?
        .with_observer(observer);
    solver.advance_to(t_end).map_err(upstream)?;
    let seconds = start.elapsed().as_secs_f64();
    let state = solver.state();
    if (state.t - t_end).abs() > 1e-9 * h {
        return Err(FigureError::InvalidParams(format!(
            "{}: {} ended at t = {} instead of {t_end}",
            META.id,
            method.name(),
            state.t
        )));
    }
    Ok((
        state.to_configuration().map_err(upstream)?,
        solver.stats().evaluations,
        seconds,
    ))
}

fn prepare(p: &Params, index: usize, problem: &Problem) -> Result<Prepared> {
    let field = field(p, index, problem)?;
    let tol = p.reference_tolerance;
    match problem.start {
        Start::Equiangular => {
            let x0 = Configuration::orthonormal(problem.n, problem.d).map_err(upstream)?;
            let reference =
                equiangular_positions(problem.model, problem.n, problem.beta, problem.t_end)?;
            let (check, _, _) = solve(p, &field, &x0, problem.t_end, Method::Dp54, tol, ())?;
            Ok(Prepared {
                reference_check: max_distance(check.as_slice(), &reference, problem.d),
                reference_label:
                    "exact ([GLPR] Thm 6.8, gamma(t) by the exact quadrature of (6.9))".into(),
                field,
                x0,
                reference,
            })
        }
        Start::Uniform => {
            let x0 = uniform_sphere(
                problem.n,
                problem.d,
                &mut stream(p.seed, index as u64, Purpose::InitialCondition),
            )
            .map_err(upstream)?;
            let (reference, _, _) = solve(p, &field, &x0, problem.t_end, Method::Dp54, tol, ())?;
            let (check, _, _) = solve(p, &field, &x0, problem.t_end, Method::Rkmk45, tol, ())?;
            Ok(Prepared {
                reference_check: max_distance(check.as_slice(), reference.as_slice(), problem.d),
                reference_label: format!("dp54, rtol = atol = {tol:e}"),
                reference: reference.into_vec(),
                field,
                x0,
            })
        }
    }
}

/// Least-squares slope of y against x.
fn least_squares_slope(x: &[f64], y: &[f64]) -> f64 {
    let m = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / m, y.iter().sum::<f64>() / m);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let var: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    cov / var
}

/// The observed order: slope of ln error against ln h over the `fit_points` finest runs whose error
/// is above `floor`; `None` with fewer than two such runs.
pub fn fitted_order(runs: &[Run], floor: f64, fit_points: usize) -> Option<f64> {
    let above: Vec<&Run> = runs.iter().filter(|r| r.error > floor).collect();
    let used = &above[above.len().saturating_sub(fit_points)..];
    if used.len() < 2 {
        return None;
    }
    let (x, y): (Vec<f64>, Vec<f64>) = used.iter().map(|r| (r.setting.ln(), r.error.ln())).unzip();
    Some(least_squares_slope(&x, &y))
}

/// The value of `cost` at error `target`, interpolated linearly in (ln error, ln cost) between the
/// first two consecutive runs whose errors bracket it (error_k > target >= error_{k+1}); the first
/// run's cost when it is already within the target; `None` when no run reaches it.
pub fn interpolate_at_error(errors: &[f64], costs: &[f64], target: f64) -> Option<f64> {
    if errors.first().is_some_and(|&e| e <= target) {
        return costs.first().copied();
    }
    (1..errors.len().min(costs.len()))
        .find(|&k| errors[k - 1] > target && errors[k] <= target)
        .map(|k| {
            let (e0, e1) = (errors[k - 1].ln(), errors[k].ln());
            let (c0, c1) = (costs[k - 1].ln(), costs[k].ln());
            let s = if e1 == e0 {
                1.0
            } else {
                (target.ln() - e0) / (e1 - e0)
            };
            (c0 + s * (c1 - c0)).exp()
        })
}

/// Length of energy-stable's step ladder at every fidelity (h_max .. h_max / 32).
pub const ENERGY_STABLE_STEPS: usize = 6;

/// The settings of `method`: the step ladder or the tolerance ladder.
fn settings(p: &Params, method: Method) -> Vec<f64> {
    if method.is_adaptive() {
        p.tolerances.clone()
    } else {
        // energy-stable solves an implicit problem per step: its first-order ladder stops at the
        // ci length (h_max / 32), which already shows its order
        let steps = if method == Method::EnergyStable {
            p.num_steps.min(ENERGY_STABLE_STEPS)
        } else {
            p.num_steps
        };
        (0..steps)
            .map(|k| p.h_max / f64::powi(2.0, k as i32))
            .collect()
    }
}

/// The figure's data and the wall seconds of every run (not part of the record).
pub fn compute_timed(p: &Params, progress: &dyn Progress) -> Result<(Data, RunSeconds)> {
    compute_runs(p, progress, true)
}

/// The runs of every scheme on every problem. Timed (`timed`), each run is taken without an
/// observer and the energy monitor follows in a second, untimed run (its Gram matrices and
/// exponentials would weigh on the wall times); untimed, one run with the monitor does both (the
/// same states and counts: observing a state does not change it) and the seconds are NaN.
fn compute_runs(p: &Params, progress: &dyn Progress, timed: bool) -> Result<(Data, RunSeconds)> {
    check(p)?;
    let total = (p.problems.len() * p.methods.len()) as u64;
    let mut problems = Vec::new();
    let mut seconds = Vec::new();
    for (index, problem) in p.problems.iter().enumerate() {
        let prepared = prepare(p, index, problem)?;
        let clusters_of =
            |x: &Configuration| observables::cluster_count(&x.gram(), problem.n, p.cluster_delta);
        let reference_config =
            Configuration::euclidean(problem.n, problem.d, prepared.reference.clone())
                .map_err(upstream)?;
        let gradient_flow = GradientFlow::of_self_attention(&prepared.field).ok();
        // E_beta is the energy of the flow when B = V = I (then a function of the Gram matrix)
        let energy_beta = gradient_flow
            .as_ref()
            .filter(|flow| flow.interaction().is_none() && flow.beta() > 0.0)
            .map(GradientFlow::beta);
        let mut methods = Vec::new();
        let mut problem_seconds = Vec::new();
        for (m, &method) in p.methods.iter().enumerate() {
            if method.needs_gradient_flow() && gradient_flow.is_none() {
                continue;
            }
            let mut runs = Vec::new();
            let mut run_seconds = Vec::new();
            for setting in settings(p, method) {
                let (x0, t_end) = (&prepared.x0, problem.t_end);
                let field = &prepared.field;
                let mut monitor = energy_beta.map(|beta| EnergyMonitor::new(x0, beta));
                let (end, evaluations, wall) = match (&mut monitor, timed) {
                    (Some(monitor), false) => {
                        let (end, evaluations, _) =
                            solve(p, field, x0, t_end, method, setting, monitor)?;
                        (end, evaluations, f64::NAN)
                    }
                    _ => solve(p, field, x0, t_end, method, setting, ())?,
                };
                if timed && let Some(monitor) = &mut monitor {
                    solve(p, field, x0, t_end, method, setting, monitor)?;
                }
                let energy_decreases = monitor.map(|m| m.decreases);
                let error = max_distance(end.as_slice(), &prepared.reference, problem.d);
                runs.push(Run {
                    setting,
                    error,
                    evaluations,
                    sphere_drift: end.max_norm_defect(),
                    clusters: clusters_of(&end),
                    energy_decreases,
                });
                run_seconds.push(wall);
                if !method.is_adaptive() && error < p.error_floor {
                    break;
                }
            }
            let errors: Vec<f64> = runs.iter().map(|r| r.error).collect();
            let evaluations: Vec<f64> = runs.iter().map(|r| r.evaluations as f64).collect();
            methods.push(MethodRuns {
                method,
                theory_order: method.kind(1.0).build().map_err(upstream)?.order(),
                fitted_order: if method.is_adaptive() {
                    None
                } else {
                    fitted_order(&runs, p.error_floor, p.fit_points)
                },
                evaluations_at_target: interpolate_at_error(&errors, &evaluations, p.target_error),
                runs,
            });
            problem_seconds.push(run_seconds);
            progress.update((index * p.methods.len() + m + 1) as u64, total);
        }
        problems.push(ProblemRuns {
            label: problem.label.clone(),
            reference: prepared.reference_label,
            reference_check: prepared.reference_check,
            reference_clusters: clusters_of(&reference_config),
            methods,
        });
        seconds.push(problem_seconds);
    }
    Ok((Data { problems }, seconds))
}

/// The colour of a scheme on every panel.
fn color(method: Method) -> RGBColor {
    if method == Method::EnergyStable {
        return RGBColor(0, 0, 0);
    }
    let k = Method::ALL.iter().position(|&m| m == method).unwrap_or(0);
    match SERIES_COLORS.get(k) {
        Some(&c) => c,
        None => RGBColor(130, 130, 130),
    }
}

/// (min, max) of finite values, padded by `pad` on both sides; (0, 1) without finite values.
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo <= hi {
        (lo - pad, hi + pad)
    } else {
        (0.0, 1.0)
    }
}

/// Error against evaluations of every scheme on one problem, in log10 coordinates.
fn work_precision_panel(p: &Params, problem: &ProblemRuns) -> LinePanel {
    let mut series: Vec<Overlay> = Vec::new();
    for m in &problem.methods {
        let points: Vec<(f64, f64)> = m
            .runs
            .iter()
            .map(|r| ((r.evaluations as f64).log10(), r.error.log10()))
            .collect();
        let color = color(m.method);
        series.push(Overlay {
            label: Some(m.method.name().to_string()),
            points: points.clone(),
            color,
            stroke: if m.method.is_adaptive() {
                Stroke::Dashed { width: 2 }
            } else {
                Stroke::Solid { width: 2 }
            },
        });
        series.push(Overlay {
            label: None,
            points,
            color,
            stroke: Stroke::Markers { radius: 3 },
        });
    }
    let runs = || problem.methods.iter().flat_map(|m| m.runs.iter());
    let x_range = padded_range(runs().map(|r| (r.evaluations as f64).log10()), 0.1);
    let (y_lo, y_hi) = padded_range(runs().map(|r| r.error.log10()), 0.3);
    let y_range = (y_lo.max(-16.5), y_hi);
    let target = p.target_error.log10();
    series.push(Overlay {
        label: Some(format!("error {:e}", p.target_error)),
        points: vec![(x_range.0, target), (x_range.1, target)],
        color: RGBColor(150, 150, 150),
        stroke: Stroke::Dashed { width: 1 },
    });
    LinePanel {
        title: problem.label.clone(),
        x_label: "log₁₀ field evaluations".into(),
        y_label: "log₁₀ max_i |x_i - x_i^ref|".into(),
        x_range,
        y_range,
        series,
        marks: Vec::new(),
        zero_line: false,
        legend: LegendCorner::LowerLeft,
    }
}

/// Final cluster count against evaluations on one problem, with the reference's count.
fn cluster_panel(problem: &ProblemRuns) -> LinePanel {
    let mut series: Vec<Overlay> = problem
        .methods
        .iter()
        .map(|m| Overlay {
            label: Some(m.method.name().to_string()),
            points: m
                .runs
                .iter()
                .map(|r| ((r.evaluations as f64).log10(), r.clusters as f64))
                .collect(),
            color: color(m.method),
            stroke: if m.method.is_adaptive() {
                Stroke::Dashed { width: 2 }
            } else {
                Stroke::Solid { width: 2 }
            },
        })
        .collect();
    let runs = || problem.methods.iter().flat_map(|m| m.runs.iter());
    let x_range = padded_range(runs().map(|r| (r.evaluations as f64).log10()), 0.1);
    let counts = runs()
        .map(|r| r.clusters as f64)
        .chain([problem.reference_clusters as f64]);
    let y_range = padded_range(counts, 1.0);
    series.push(Overlay {
        label: Some(format!("reference: {}", problem.reference_clusters)),
        points: vec![
            (x_range.0, problem.reference_clusters as f64),
            (x_range.1, problem.reference_clusters as f64),
        ],
        color: RGBColor(150, 150, 150),
        stroke: Stroke::Dashed { width: 1 },
    });
    LinePanel {
        title: format!("{}: clusters at t_end", problem.label),
        x_label: "log₁₀ field evaluations".into(),
        y_label: "clusters".into(),
        x_range,
        y_range,
        series,
        marks: Vec::new(),
        zero_line: false,
        legend: LegendCorner::UpperRight,
    }
}

/// `value` rounded to an integer below 10^6, else with three significant digits.
fn compact(value: f64) -> String {
    if value >= 1e6 {
        format!("{value:.2e}")
    } else {
        format!("{value:.0}")
    }
}

const META: Meta = Meta {
    id: "integrators-work-precision",
    paper: Paper::Attnflow,
    number: 1,
    title: "Work-precision of the integrators on the sphere: error against field evaluations",
    claim: "Not a paper figure: the project's integrators compared as in the SciML work-precision diagrams (error against field evaluations). Expected: fitted orders equal to the theoretical ones (paper-euler and lie-euler 1, cg3 3, rk4, rkmk4, cf4 4); error 1e-6 within a few hundred evaluations for the fourth- and fifth-order schemes on t = 5, out of reach of the first-order ones on the ladder (their error at 2560 steps is still 1e-4 to 3e-3); every scheme keeps the points on the sphere to round-off; wall times and the speed-ups in time: ACCURACY.md section 4.",
    tolerances: &[
        FieldTolerance::new(
            "problems.*.methods.*.runs.*.error",
            1e-13,
            1e-6,
            "errors near the round-off floor are sums of rounding errors",
        ),
        FieldTolerance::new(
            "problems.*.methods.*.runs.*.sphere_drift",
            1e-13,
            0.0,
            "round-off only",
        ),
        FieldTolerance::new("problems.*.reference_check", 1e-13, 1e-6, "as the errors"),
        FieldTolerance::new(
            "problems.*.methods.*.fitted_order",
            1e-9,
            1e-6,
            "derived from the errors",
        ),
        FieldTolerance::new(
            "problems.*.methods.*.evaluations_at_target",
            1e-9,
            1e-6,
            "derived from the errors",
        ),
    ],
};

impl Figure for IntegratorsWorkPrecision {
    const META: Meta = META;
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let uniform = |label: &str, n, d, beta, matrices, t_end| Problem {
            label: label.into(),
            start: Start::Uniform,
            model: ModelKind::Sa,
            n,
            d,
            beta,
            matrices,
            t_end,
        };
        let d_random = fidelity.pick(16, 128, 128);
        Params {
            fidelity,
            seed,
            problems: vec![
                Problem {
                    label: "(a) equiangular, SA, n = d = 8, β = 1, t = 5".into(),
                    start: Start::Equiangular,
                    model: ModelKind::Sa,
                    n: 8,
                    d: 8,
                    beta: 1.0,
                    matrices: MatrixEnsemble::Identity,
                    t_end: 5.0,
                },
                uniform(
                    "(b) 16 uniform points on S², β = 4, t = 5",
                    16,
                    3,
                    4.0,
                    MatrixEnsemble::Identity,
                    5.0,
                ),
                uniform(
                    &format!("(c) Ginibre Q, K, V, n = 32, d = {d_random}, β = 1, t = 5"),
                    32,
                    d_random,
                    1.0,
                    MatrixEnsemble::Ginibre,
                    5.0,
                ),
                {
                    let (n, t_end) = fidelity.pick((32, 20.0), (64, 100.0), (64, 100.0));
                    uniform(
                        &format!("(d) metastable, n = {n} on S¹, β = 16, t = {t_end}"),
                        n,
                        2,
                        16.0,
                        MatrixEnsemble::Identity,
                        t_end,
                    )
                },
            ],
            methods: Method::ALL.to_vec(),
            h_max: 0.5,
            num_steps: fidelity.pick(6, 9, 11),
            tolerances: fidelity.pick(
                vec![1e-3, 1e-5, 1e-7, 1e-9],
                (3..=10).map(|k| 10f64.powi(-k)).collect(),
                (3..=10).map(|k| 10f64.powi(-k)).collect(),
            ),
            adaptive_macro_step: 1.0,
            reference_tolerance: fidelity.pick(1e-12, 1e-13, 1e-13),
            error_floor: 1e-11,
            fit_points: 4,
            target_error: 1e-6,
            cluster_delta: 1e-3,
        }
    }

    fn integrator(p: &Params) -> String {
        let names: Vec<&str> = p.methods.iter().map(|m| m.name()).collect();
        format!(
            "{} (fixed h = {} 2^-k, k < {}; adaptive rtol = atol in {:?}, macro step {}); reference dp54 rtol = atol = {:e} or exact",
            names.join(", "),
            p.h_max,
            p.num_steps,
            p.tolerances,
            p.adaptive_macro_step,
            p.reference_tolerance
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        Ok(compute_runs(p, progress, false)?.0)
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let mut cells: Vec<Block<'a>> = data
            .problems
            .iter()
            .map(|problem| Block::panel(Panel::Lines(work_precision_panel(p, problem))))
            .collect();
        if let Some(last) = data.problems.last() {
            cells.push(Block::panel(Panel::Lines(cluster_panel(last))));
        }
        let cols = 3;
        let rows = cells.len().div_ceil(cols);
        Ok(Layout {
            size: (1800, 560 * rows as u32 + 40),
            body: Block::titled(META.title, 22, Block::grid(rows, cols, cells)),
        })
    }

    fn summary(p: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut lines = Vec::new();
        for problem in &data.problems {
            let letter = problem.label.split(' ').next().unwrap_or("");
            lines.push(SummaryLine::new(
                format!("{letter} reference"),
                format!(
                    "{}; independent check {:.1e}; clusters at t_end: {}",
                    problem.reference, problem.reference_check, problem.reference_clusters
                ),
            ));
            let rk4 = problem
                .methods
                .iter()
                .find(|m| m.method == Method::Rk4)
                .and_then(|m| m.evaluations_at_target);
            for m in &problem.methods {
                let cost = match (m.evaluations_at_target, rk4) {
                    (Some(e), Some(r)) if m.method != Method::Rk4 => {
                        format!("{} (speed-up over rk4: {:.2}x)", compact(e), r / e)
                    }
                    (Some(e), _) => compact(e),
                    (None, _) => "not reached".into(),
                };
                let order = match m.fitted_order {
                    Some(q) => format!("; fitted order {q:.2} (theory {})", m.theory_order),
                    None => String::new(),
                };
                lines.push(SummaryLine::new(
                    format!(
                        "{letter} {}: evaluations for error {:e}",
                        m.method.name(),
                        p.target_error
                    ),
                    format!("{cost}{order}"),
                ));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The monitor counts real decreases: RK4 at h = 10 on SA (n = 16 on S^2, beta = 4) lowers
    /// E_beta, the energy-stable step at the same h never does.
    #[test]
    fn energy_monitor_catches_a_decrease_and_energy_stable_has_none() {
        let p = IntegratorsWorkPrecision::params(Fidelity::Ci, 1);
        let beta = 4.0;
        let field = SelfAttention::sa(beta).unwrap();
        let x0 = attnflow_dynamics::sampling::uniform_sphere(
            16,
            3,
            &mut attnflow_dynamics::sampling::stream(
                1,
                0,
                attnflow_dynamics::sampling::Purpose::InitialCondition,
            ),
        )
        .unwrap();
        let count = |method| {
            let mut monitor = EnergyMonitor::new(&x0, beta);
            solve(&p, &field, &x0, 200.0, method, 10.0, &mut monitor).unwrap();
            monitor.decreases
        };
        assert!(count(Method::Rk4) > 0, "RK4 at h = 10 should lower the energy");
        assert_eq!(count(Method::EnergyStable), 0);
    }

    #[test]
    fn equiangular_positions_are_unit_with_gram_entries_gamma() {
        let (n, beta, t) = (8, 1.0, 1.3);
        let x = equiangular_positions(ModelKind::Sa, n, beta, t).unwrap();
        let gamma = attnflow_energy::equiangular::gamma_at(ModelKind::Sa, n, beta, 0.0, t).unwrap();
        let g = Configuration::euclidean(n, n, x).unwrap().gram();
        for i in 0..n {
            for j in 0..n {
                let expected = if i == j { 1.0 } else { gamma };
                assert!((g[i * n + j] - expected).abs() < 1e-15, "{i} {j}");
            }
        }
        // t = 0: the start e_i itself
        let x0 = equiangular_positions(ModelKind::Sa, n, beta, 0.0).unwrap();
        assert_eq!(x0, Configuration::orthonormal(n, n).unwrap().into_vec());
    }

    #[test]
    fn order_fit_and_interpolation_recover_power_laws() {
        // error = 3 h^4 down to the floor, then round-off
        let runs: Vec<Run> = [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625]
            .iter()
            .map(|&h: &f64| Run {
                setting: h,
                error: (3.0 * h.powi(4)).max(1e-12),
                evaluations: (4.0 / h) as u64,
                sphere_drift: 0.0,
                clusters: 1,
                energy_decreases: None,
            })
            .collect();
        let order = fitted_order(&runs, 1e-11, 4).unwrap();
        assert!((order - 4.0).abs() < 1e-12, "{order}");
        // evaluations = 4 / h = 4 (error / 3)^(-1/4): at error 3e-4, h = 0.1 and 40 evaluations
        let errors: Vec<f64> = runs.iter().map(|r| r.error).collect();
        let evals: Vec<f64> = runs.iter().map(|r| r.evaluations as f64).collect();
        let at = interpolate_at_error(&errors, &evals, 3e-4).unwrap();
        assert!((at - 40.0).abs() < 1e-9, "{at}");
        assert_eq!(interpolate_at_error(&errors, &evals, 1.0), Some(8.0));
        assert_eq!(interpolate_at_error(&errors, &evals, 1e-13), None);
        assert_eq!(fitted_order(&runs[..1], 1e-11, 4), None);
    }

    #[test]
    fn ci_runs_reach_the_theoretical_orders_and_stay_on_the_sphere() {
        let p = IntegratorsWorkPrecision::params(Fidelity::Ci, crate::DEFAULT_SEED);
        let data = IntegratorsWorkPrecision::compute(&p, &crate::NoProgress).unwrap();
        assert_eq!(data.problems.len(), 4);
        for problem in &data.problems {
            assert!(problem.reference_check < 1e-9, "{}", problem.label);
            for m in &problem.methods {
                for r in &m.runs {
                    assert!(r.sphere_drift < 1e-13, "{} {:?}", problem.label, m.method);
                }
            }
        }
        // the smooth problems (a), (b): observed orders within 0.35 of the theory
        for problem in &data.problems[..2] {
            for m in &problem.methods {
                if let Some(q) = m.fitted_order {
                    assert!(
                        (q - m.theory_order as f64).abs() < 0.35,
                        "{} {:?}: fitted {q}",
                        problem.label,
                        m.method
                    );
                }
            }
            let rk4 = &problem.methods[1];
            assert_eq!(rk4.method, Method::Rk4);
            assert!(rk4.fitted_order.is_some());
        }
        // fixed-step evaluations: stages x steps
        let a = &data.problems[0];
        let rk4 = &a.methods[1].runs[0];
        assert_eq!(rk4.evaluations, 4 * 10);
    }
}

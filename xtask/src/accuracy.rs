//! `cargo xtask accuracy`: integrator accuracy against theoretical rates, written to `reports/ACCURACY.md`.
//!
//! 1. Error versus step size for each integrator on problems with a known answer (the equiangular
//!    solution of \[GLPR\] Thm 6.8, from the exact quadrature of (6.9)/(6.10) in attnflow-energy) and on
//!    a random SA problem against a tight reference; fitted orders beside the theoretical ones.
//! 2. The exponential clustering rate near consensus, measured, beside the linearised rates (2 for SA,
//!    2 e^beta for USA) and the Lemma 6.4 bound.
//! 3. How much the paper's integrator (Euler + renormalisation, eta = 0.1) moves the Figure 3 statistic
//!    against a converged integration from the same initial points.
//! 4. Work-precision of every integrator (the figure `integrators-work-precision`, recomputed here with
//!    the wall time of every run): evaluations and wall time needed for the figure's target error,
//!    speed-ups over rk4 + projection at that error, fitted orders against the theory.
//! 5. Stiffness: the largest step of each fixed-step scheme that reproduces a converged reference of
//!    (SA) \[GLPR\] (2.6) at t = 20 within 1e-2 with a non-decreasing interaction energy
//!    E = sum_ij e^{beta <x_i, x_j>} (\[GLPR\] (3.5), increasing along the flow by (3.11)), against
//!    beta, on S^1 and S^2; fitted exponents of h_max ~ beta^-p and the work at h_max.

use anyhow::{Context, Result};
use attnflow_dynamics::{
    Configuration, DormandPrince54, Integrator, IntegratorKind, MatrixEnsemble, ModelKind,
    PaperEuler, PhaseDiagram, PhaseDiagramSpec, Rk4, SelfAttention, VectorField, integrate,
    observables, run_phase_diagram, sampling,
};
use attnflow_energy::{equiangular, rates};
use attnflow_figures::figs::integrators_work_precision::{
    self as work_precision, IntegratorsWorkPrecision, Method,
};
use attnflow_figures::{DEFAULT_SEED, Fidelity, Figure, NoProgress};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::time::Instant;

#[derive(clap::Args)]
pub struct AccuracyArgs {
    /// Realisations per beta in the Figure 3 comparison.
    #[arg(long, default_value_t = 64)]
    realizations: usize,
    /// Number of betas in the Figure 3 comparison.
    #[arg(long, default_value_t = 24)]
    betas: usize,
    /// Output file.
    #[arg(long, default_value = "reports/ACCURACY.md")]
    out: std::path::PathBuf,
    /// Fidelity of the work-precision study (the parameters of `integrators-work-precision`).
    #[arg(long, default_value = "default")]
    work_precision_fidelity: Fidelity,
}

fn fitted_slope(x: &[f64], y: &[f64]) -> f64 {
    let m = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / m, y.iter().sum::<f64>() / m);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let var: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    cov / var
}

fn make(name: &str) -> Box<dyn Integrator> {
    match name {
        "paper-euler" => Box::new(PaperEuler::default()),
        "rk4" => Box::new(Rk4::default()),
        _ => Box::new(DormandPrince54::fixed()),
    }
}

fn final_state(
    field: &dyn VectorField,
    integ: &mut dyn Integrator,
    x0: &Configuration,
    h: f64,
    t: f64,
) -> Result<Vec<f64>> {
    let steps = (t / h).round() as usize;
    Ok(integrate(field, integ, x0, h, steps, |_, _, _| {})?.into_vec())
}

struct OrderProblem {
    label: &'static str,
    field: SelfAttention,
    x0: Configuration,
    t: f64,
    /// error of a final state
    error: ErrorOfFinalState,
}

/// The error of a final state (flattened n x d) against the problem's reference.
type ErrorOfFinalState = Box<dyn Fn(&[f64]) -> f64>;

fn order_problems() -> Result<Vec<OrderProblem>> {
    let (n, t) = (8usize, 2.0);
    let mut out = Vec::new();
    for (label, model, field) in [
        (
            "SA, x_i(0) = e_i, n = d = 8, beta = 1 (Thm 6.8, exact quadrature)",
            ModelKind::Sa,
            SelfAttention::sa(1.0)?,
        ),
        (
            "USA, x_i(0) = e_i, n = d = 8, beta = 1 (Thm 6.8, exact quadrature)",
            ModelKind::Usa,
            SelfAttention::usa(1.0)?,
        ),
    ] {
        let gamma = equiangular::gamma_at(model, n, 1.0, 0.0, t)?;
        out.push(OrderProblem {
            label,
            field,
            x0: Configuration::orthonormal(n, n)?,
            t,
            error: Box::new(move |x| {
                let g = Configuration::euclidean(n, n, x.to_vec())
                    .expect("finite")
                    .gram();
                (0..n * n)
                    .filter(|k| k / n != k % n)
                    .map(|k| (g[k] - gamma).abs())
                    .fold(0.0, f64::max)
            }),
        });
    }
    let x0 = sampling::uniform_sphere(
        16,
        3,
        &mut sampling::stream(7, 0, sampling::Purpose::InitialCondition),
    )?;
    let field = SelfAttention::sa(4.0)?;
    let reference = final_state(&field, &mut DormandPrince54::fixed(), &x0, 1.0 / 4096.0, t)?;
    out.push(OrderProblem {
        label: "SA, 16 uniform points on S^2, beta = 4 (reference: DP5, h = 1/4096)",
        field,
        x0,
        t,
        error: Box::new(move |x| {
            x.iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        }),
    });
    Ok(out)
}

fn section_orders(md: &mut String) -> Result<()> {
    let hs = [0.2, 0.1, 0.05, 0.025, 0.0125];
    writeln!(md, "## 1. Error versus step size\n")?;
    writeln!(
        md,
        "Error at T = 2: max over off-diagonal Gram entries of |G_ij - gamma(T)| (equiangular problems) or max"
    )?;
    writeln!(
        md,
        "coordinate error (random problem). Orders are least-squares slopes of log error against log h over the"
    )?;
    writeln!(md, "steps whose error is above 1e-13 (round-off floor).\n")?;
    for p in order_problems()? {
        writeln!(md, "### {}\n", p.label)?;
        writeln!(
            md,
            "| integrator | theory | fitted | {} |",
            hs.map(|h| format!("h = {h}")).join(" | ")
        )?;
        writeln!(md, "|---|---|---|{}", "---|".repeat(hs.len()))?;
        for name in ["paper-euler", "rk4", "dp54 (fixed step)"] {
            let errs: Vec<f64> = hs
                .iter()
                .map(|&h| {
                    Ok((p.error)(&final_state(
                        &p.field,
                        make(name).as_mut(),
                        &p.x0,
                        h,
                        p.t,
                    )?))
                })
                .collect::<Result<_>>()?;
            let (lx, ly): (Vec<f64>, Vec<f64>) = hs
                .iter()
                .zip(&errs)
                .filter(|(_, e)| **e > 1e-13)
                .map(|(h, e)| (h.ln(), e.ln()))
                .unzip();
            let order = if lx.len() >= 2 {
                format!("{:.2}", fitted_slope(&lx, &ly))
            } else {
                "n/a".into()
            };
            let theory = make(name).order();
            writeln!(
                md,
                "| {name} | {theory} | {order} | {} |",
                errs.iter()
                    .map(|e| format!("{e:.2e}"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )?;
        }
        writeln!(md)?;
    }
    // work-precision of the adaptive pair on the random problem
    let problems = order_problems()?;
    let p = &problems[2];
    writeln!(
        md,
        "### Adaptive Dormand-Prince 5(4) on the random problem (macro step 0.5)\n"
    )?;
    writeln!(
        md,
        "| rtol | atol | error | accepted | rejected | evaluations |\n|---|---|---|---|---|---|"
    )?;
    for (rtol, atol) in [(1e-4, 1e-6), (1e-6, 1e-8), (1e-8, 1e-10), (1e-10, 1e-12)] {
        let mut integ = DormandPrince54::new(rtol, atol)?;
        let err = (p.error)(&final_state(&p.field, &mut integ, &p.x0, 0.5, p.t)?);
        let s = integ.stats();
        writeln!(
            md,
            "| {rtol:e} | {atol:e} | {err:.2e} | {} | {} | {} |",
            s.accepted, s.rejected, s.evaluations
        )?;
    }
    writeln!(md)?;
    Ok(())
}

fn section_rates(md: &mut String) -> Result<()> {
    writeln!(md, "## 2. Exponential clustering rate near consensus\n")?;
    writeln!(
        md,
        "16 uniform points on S^2 (seed 11), RK4 with h = 0.01; gap(t) = 1 - min_(i != j) <x_i, x_j>, least-squares"
    )?;
    writeln!(
        md,
        "rate of ln gap over the window where 1e-11 < gap < 1e-5. Linearisation at consensus: all weights equal,"
    )?;
    writeln!(
        md,
        "deviations decay at rate 1 (SA) or e^beta (USA), so the gap decays at twice that.\n"
    )?;
    writeln!(
        md,
        "| model | beta | measured rate | linearised rate | ratio | Lemma 6.4 bound 1/(2 n e^(2 beta)) |\n|---|---|---|---|---|---|"
    )?;
    let n = 16;
    let x0 = sampling::uniform_sphere(
        n,
        3,
        &mut sampling::stream(11, 0, sampling::Purpose::InitialCondition),
    )?;
    for (model, beta) in [
        (ModelKind::Sa, 0.5),
        (ModelKind::Sa, 2.0),
        (ModelKind::Usa, 0.5),
        (ModelKind::Usa, 1.0),
    ] {
        let field = match model {
            ModelKind::Sa => SelfAttention::sa(beta)?,
            ModelKind::Usa => SelfAttention::usa(beta)?,
        };
        let (mut ts, mut gaps) = (Vec::new(), Vec::new());
        integrate(&field, &mut Rk4::default(), &x0, 0.01, 6000, |_, t, x| {
            let g = Configuration::euclidean(n, 3, x.to_vec())
                .expect("finite")
                .gram();
            let gap = 1.0 - observables::min_inner_product(&g, n);
            if gap > 1e-11 && gap < 1e-5 {
                ts.push(t);
                gaps.push(gap);
            }
        })?;
        let predicted = rates::linearised_consensus_rate(model, beta)?;
        let bound = rates::lemma_6_4_rate_bound(n, beta)?;
        match (ts.first(), ts.last()) {
            (Some(&a), Some(&b)) if ts.len() > 10 => {
                let fit = rates::fit_exponential_rate(&ts, &gaps, a, b)?;
                writeln!(
                    md,
                    "| {} | {beta} | {:.4} | {predicted:.4} | {:.4} | {bound:.2e} |",
                    model.name(),
                    fit.rate,
                    fit.rate / predicted
                )?;
            }
            _ => writeln!(
                md,
                "| {} | {beta} | (window not reached by t = 60) | {predicted:.4} | - | {bound:.2e} |",
                model.name()
            )?,
        }
    }
    writeln!(md)?;
    Ok(())
}

/// t at which p(t) first reaches 0.5 (linear interpolation), per beta row.
fn crossing(xs: &[f64], ps: &[f64]) -> Option<f64> {
    (1..ps.len())
        .find(|&k| ps[k - 1] < 0.5 && ps[k] >= 0.5)
        .map(|k| {
            let (x0, x1, p0, p1) = (xs[k - 1], xs[k], ps[k - 1], ps[k]);
            x0 + (0.5 - p0) / (p1 - p0) * (x1 - x0)
        })
}

struct Shift {
    max_cell: f64,
    mean_cell: f64,
    t_shift: f64,
    beta_shift: f64,
}

fn compare(a: &PhaseDiagram, b: &PhaseDiagram) -> Shift {
    let cells: Vec<f64> = a
        .probability
        .iter()
        .zip(&b.probability)
        .flat_map(|(ra, rb)| ra.iter().zip(rb).map(|(x, y)| (x - y).abs()))
        .collect();
    let t_shift = a
        .probability
        .iter()
        .zip(&b.probability)
        .filter_map(|(ra, rb)| Some((crossing(&a.t, ra)? - crossing(&b.t, rb)?).abs()))
        .fold(0.0, f64::max);
    let column =
        |pd: &PhaseDiagram, c: usize| pd.probability.iter().map(|row| row[c]).collect::<Vec<_>>();
    let beta_shift = (0..a.t.len())
        .filter_map(|c| {
            // p decreases with beta: cross 0.5 on the reversed column
            let (mut ca, mut cb, mut bs) = (column(a, c), column(b, c), a.beta.clone());
            ca.reverse();
            cb.reverse();
            bs.reverse();
            Some((crossing(&bs, &ca)? - crossing(&bs, &cb)?).abs())
        })
        .fold(0.0, f64::max);
    Shift {
        max_cell: cells.iter().copied().fold(0.0, f64::max),
        mean_cell: cells.iter().sum::<f64>() / cells.len() as f64,
        t_shift,
        beta_shift,
    }
}

fn section_figure3(md: &mut String, args: &AccuracyArgs) -> Result<()> {
    writeln!(
        md,
        "## 3. The paper's integrator on the Figure 3 statistic\n"
    )?;
    writeln!(
        md,
        "Same initial points (seed 0) for every integrator; n = 32, delta = 1e-3, {} betas in [0.1, 9],",
        args.betas
    )?;
    writeln!(
        md,
        "200 checkpoint times in [0, 30], {} realisations per beta. 'Converged' is adaptive Dormand-Prince 5(4)",
        args.realizations
    )?;
    writeln!(
        md,
        "(rtol 1e-8, atol 1e-10, read every 0.1); RK4 with h = 0.1 and h = 0.05 are shown to confirm convergence."
    )?;
    writeln!(
        md,
        "Boundary shifts: largest change of the 50% crossing time per beta, and of the 50% crossing beta per t."
    )?;
    writeln!(
        md,
        "The h = 0.05 run reads its checkpoints at the times rounded up to multiples of 0.1 (the cells compared are"
    )?;
    writeln!(
        md,
        "the same), so its small t-shift is an interpolation-grid artefact, not a change of the statistic.\n"
    )?;
    writeln!(
        md,
        "| d | compared | max cell change | mean cell change | 50% boundary shift in t | in beta | runtimes (s) |\n|---|---|---|---|---|---|---|"
    )?;
    for d in [2usize, 32] {
        let spec = |integrator: IntegratorKind, dt: f64| PhaseDiagramSpec {
            n: 32,
            d,
            betas: observables::linspace(0.1, 9.0, args.betas),
            times: observables::linspace(0.0, 30.0, 200),
            dt,
            realizations: args.realizations,
            delta: 1e-3,
            seed: 0,
            model: ModelKind::Sa,
            matrices: MatrixEnsemble::Identity,
            integrator,
            representation: None,
            consensus_exit: true,
            precision: attnflow_dynamics::Precision::F64,
        };
        let run = |s: PhaseDiagramSpec| -> Result<PhaseDiagram> {
            eprintln!(
                "  fig3 accuracy d = {d}: {} dt = {}",
                s.integrator.name(),
                s.dt
            );
            Ok(run_phase_diagram(&s, &|_, _| {})?)
        };
        let paper = run(spec(IntegratorKind::PaperEuler, 0.1))?;
        let rk4 = run(spec(IntegratorKind::Rk4, 0.1))?;
        // checkpoints are read at multiples of the macro step 0.1, so use the same times for h = 0.05
        let rk4_half = {
            let mut s = spec(IntegratorKind::Rk4, 0.05);
            s.times = observables::linspace(0.0, 30.0, 200)
                .iter()
                .map(|t| ((t / 0.1 - 1e-9).ceil().max(1.0)) * 0.1)
                .collect();
            run(s)?
        };
        let converged = run(spec(
            IntegratorKind::Dp54 {
                rtol: 1e-8,
                atol: 1e-10,
            },
            0.1,
        ))?;
        for (label, a, b) in [
            ("paper Euler 0.1 vs converged", &paper, &converged),
            ("RK4 0.1 vs converged", &rk4, &converged),
            ("RK4 0.05 vs converged", &rk4_half, &converged),
        ] {
            let s = compare(a, b);
            writeln!(
                md,
                "| {d} | {label} | {:.4} | {:.5} | {:.2} | {:.2} | {:.1} / {:.1} |",
                s.max_cell, s.mean_cell, s.t_shift, s.beta_shift, a.runtime_s, b.runtime_s
            )?;
        }
    }
    writeln!(md)?;
    Ok(())
}

/// `value` with `digits` decimals, or "-" when absent.
fn or_dash(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn section_work_precision(md: &mut String, fidelity: Fidelity) -> Result<()> {
    let p = IntegratorsWorkPrecision::params(fidelity, DEFAULT_SEED);
    let (data, seconds) = work_precision::compute_timed(&p, &NoProgress)?;
    let target = p.target_error;
    writeln!(
        md,
        "## 4. Work-precision of all integrators
"
    )?;
    writeln!(
        md,
        "The figure `integrators-work-precision` at {fidelity} fidelity (seed {DEFAULT_SEED}; picture and record in"
    )?;
    writeln!(
        md,
        "`reports/figures/integrators-work-precision.*`), recomputed with the wall time of every run (sequential,"
    )?;
    writeln!(
        md,
        "one thread; wall times depend on the machine's load, evaluations do not). Fixed steps h = {} 2^-k (k < {},",
        p.h_max, p.num_steps
    )?;
    writeln!(
        md,
        "a ladder stops after its first error below {:e}), adaptive rtol = atol in {:?} (macro step {}: the",
        p.error_floor, p.tolerances, p.adaptive_macro_step
    )?;
    writeln!(
        md,
        "adaptive steps are capped at it and land on its multiples; in (d) the cap binds over most of the metastable phase)."
    )?;
    writeln!(
        md,
        "Error: max over particles of |x_i(t) - x_i^ref(t)|. Cost for error {target:e}: evaluations and wall time"
    )?;
    writeln!(
        md,
        "interpolated in log-log between the two runs that bracket it (\"-\": not reached on the ladder); speed-up:"
    )?;
    writeln!(
        md,
        "rk4's cost over the scheme's at that error. Fitted order: least-squares slope of ln error against ln h over"
    )?;
    writeln!(
        md,
        "the {} finest runs above the floor. Clusters: components of {{<x_i, x_j> > 1 - {}}} at t_end, coarse to fine.",
        p.fit_points, p.cluster_delta
    )?;
    writeln!(
        md,
        "Energy decreases, coarse to fine: the steps (macro steps of the adaptive schemes) over which E_beta of [GLPR] (3.5),"
    )?;
    writeln!(
        md,
        "non-decreasing along the exact flow, decreased by more than {:e} relative (n/a: (c) is not a gradient flow of E_beta).",
        work_precision::ENERGY_DECREASE_SLACK
    )?;
    writeln!(
        md,
        "energy-stable (the minimising-movement step, first order) runs on the gradient-flow problems only, on the fixed-step ladder.\n"
    )?;
    for (problem, times) in data.problems.iter().zip(&seconds) {
        writeln!(md, "### {}\n", problem.label)?;
        writeln!(
            md,
            "Reference: {} (independent check {:.1e}); clusters of the reference at t_end: {}.\n",
            problem.reference, problem.reference_check, problem.reference_clusters
        )?;
        let wall_at_target = |runs: &[work_precision::Run], wall: &[f64]| {
            let errors: Vec<f64> = runs.iter().map(|r| r.error).collect();
            work_precision::interpolate_at_error(&errors, wall, target)
        };
        let rk4 = problem
            .methods
            .iter()
            .zip(times)
            .find(|(m, _)| m.method == Method::Rk4)
            .map(|(m, wall)| (m.evaluations_at_target, wall_at_target(&m.runs, wall)));
        writeln!(
            md,
            "| integrator | theory order | fitted order | evaluations for {target:e} | wall ms for {target:e} | speed-up over rk4 (evaluations) | speed-up over rk4 (wall time) | max sphere drift | clusters | energy decreases |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|---|---|---|---|")?;
        let mut best: Vec<(f64, f64, &str)> = Vec::new();
        for (m, wall) in problem.methods.iter().zip(times) {
            let evaluations = m.evaluations_at_target;
            let ms = wall_at_target(&m.runs, wall).map(|s| 1e3 * s);
            let (speed_evaluations, speed_wall) = match rk4 {
                Some((rk4_evaluations, rk4_wall)) => (
                    rk4_evaluations.zip(evaluations).map(|(r, e)| r / e),
                    rk4_wall.zip(ms).map(|(r, w)| 1e3 * r / w),
                ),
                None => (None, None),
            };
            if let (Some(e), Some(w)) = (evaluations, ms) {
                best.push((e, w, m.method.name()));
            }
            let drift = m.runs.iter().map(|r| r.sphere_drift).fold(0.0, f64::max);
            let clusters: Vec<String> = m.runs.iter().map(|r| r.clusters.to_string()).collect();
            let decreases: Vec<String> = m
                .runs
                .iter()
                .map(|r| r.energy_decreases.map_or("n/a".into(), |k| k.to_string()))
                .collect();
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {drift:.1e} | {} | {} |",
                m.method.name(),
                m.theory_order,
                or_dash(m.fitted_order, 2),
                or_dash(evaluations, 0),
                or_dash(ms, 2),
                or_dash(speed_evaluations, 2),
                or_dash(speed_wall, 2),
                clusters.join(" "),
                decreases.join(" ")
            )?;
        }
        let fewest = best.iter().min_by(|a, b| a.0.total_cmp(&b.0));
        let fastest = best.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(fewest), Some(fastest)) = (fewest, fastest) {
            writeln!(
                md,
                "\nFewest evaluations for {target:e}: {} ({:.0}); least wall time: {} ({:.2} ms).",
                fewest.2, fewest.0, fastest.2, fastest.1
            )?;
        }
        writeln!(md)?;
    }
    Ok(())
}

/// The largest x in [lo, hi] with `pred(x)` true, for a predicate true at `lo`, false at `hi` and
/// assumed monotone (true below a threshold, false above), by bisection on ln x until hi / lo <=
/// `ratio`. Returns the bracket (largest true, smallest false) found.
fn bisect_log(
    mut lo: f64,
    mut hi: f64,
    ratio: f64,
    mut pred: impl FnMut(f64) -> Result<bool>,
) -> Result<(f64, f64)> {
    while hi / lo > ratio {
        let mid = (lo * hi).sqrt();
        if pred(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((lo, hi))
}

/// Where a predicate on step sizes switches: the largest step found true and the smallest found
/// false above it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Threshold {
    /// true at `lo`, false at `hi` (hi / lo <= the search ratio)
    Between { lo: f64, hi: f64 },
    /// true already at the largest step searched
    AtLeast(f64),
    /// false already at the smallest step searched
    Below(f64),
}

/// The largest step in [h_min, h_max] with `pred` true: a scan h_max, h_max / 2, ... down to the
/// first true step (so a true island above a false range is found), then [`bisect_log`] between it
/// and the false step above it.
fn largest_true_step(
    h_min: f64,
    h_max: f64,
    ratio: f64,
    mut pred: impl FnMut(f64) -> Result<bool>,
) -> Result<Threshold> {
    if pred(h_max)? {
        return Ok(Threshold::AtLeast(h_max));
    }
    let mut hi = h_max;
    loop {
        let lo = (hi / 2.0).max(h_min);
        if pred(lo)? {
            let (lo, hi) = bisect_log(lo, hi, ratio, &mut pred)?;
            return Ok(Threshold::Between { lo, hi });
        }
        if lo <= h_min {
            return Ok(Threshold::Below(h_min));
        }
        hi = lo;
    }
}

/// End time, accuracy tolerance and search range of the stiffness study.
const STIFFNESS_T: f64 = 20.0;
const STIFFNESS_TOL: f64 = 1e-2;
const STIFFNESS_H: (f64, f64) = (1e-4, 10.0);
/// Search resolution: the reported h_max is within this factor of the threshold.
const STIFFNESS_RATIO: f64 = 1.1;
/// Relative energy decrease between consecutive steps above which a run counts as unstable.
const ENERGY_DROP: f64 = 1e-9;
const STIFFNESS_SEED: u64 = 13;
const STIFFNESS_BETAS: [f64; 5] = [1.0, 4.0, 16.0, 32.0, 64.0];
const STIFFNESS_METHODS: [IntegratorKind; 7] = [
    IntegratorKind::PaperEuler,
    IntegratorKind::Rk4,
    IntegratorKind::LieEuler,
    IntegratorKind::Cg3,
    IntegratorKind::Rkmk4,
    IntegratorKind::Cf4,
    IntegratorKind::EnergyStable,
];

/// Reference states per unit time in the stiffness study (cubic Hermite interpolation between them).
const REFERENCE_RATE: usize = 256;

/// The (SA) problem of the stiffness study: n uniform points on S^{d-1} (seed [`STIFFNESS_SEED`],
/// realisation 0) and its reference trajectory by dp54 at rtol = atol = 1e-12, stored with its
/// velocities every 1 / [`REFERENCE_RATE`] up to t = [`STIFFNESS_T`].
struct StiffProblem {
    n: usize,
    d: usize,
    beta: f64,
    field: SelfAttention,
    x0: Configuration,
    /// states and velocities at t_j = j / REFERENCE_RATE, one n x d block each
    reference: Vec<f64>,
    velocities: Vec<f64>,
}

/// What a stiffness run checks.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Criterion {
    /// energy never drops and every step stays within the tolerance of the reference trajectory
    Trajectory,
    /// energy never drops and the state at t = T is within the tolerance of the reference
    FinalState,
    /// energy never drops
    Energy,
}

impl StiffProblem {
    fn new(n: usize, d: usize, beta: f64) -> Result<Self> {
        let field = SelfAttention::sa(beta)?;
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(STIFFNESS_SEED, 0, sampling::Purpose::InitialCondition),
        )?;
        let points = (STIFFNESS_T as usize) * REFERENCE_RATE + 1;
        let (mut reference, mut velocities) = (
            Vec::with_capacity(points * n * d),
            Vec::with_capacity(points * n * d),
        );
        let mut v = vec![0.0; n * d];
        let mut solver = attnflow_dynamics::Solver::new(
            &field,
            DormandPrince54::new(1e-12, 1e-12)?,
            &x0,
            1.0 / REFERENCE_RATE as f64,
        )?;
        for j in 0..points {
            if j > 0 {
                solver.step()?;
            }
            let x = solver.state().as_slice();
            field.velocity(x, n, d, &mut v)?;
            reference.extend_from_slice(x);
            velocities.extend_from_slice(&v);
        }
        Ok(Self {
            n,
            d,
            beta,
            field,
            x0,
            reference,
            velocities,
        })
    }

    /// The reference at time t in [0, T]: cubic Hermite interpolation of the stored states and
    /// velocities (error about max |x^(4)| / (384 REFERENCE_RATE^4)).
    fn reference_at(&self, t: f64, out: &mut [f64]) {
        let m = self.n * self.d;
        let scaled = t * REFERENCE_RATE as f64;
        let last = self.reference.len() / m - 1;
        let j = (scaled.floor() as usize).min(last - 1);
        let s = scaled - j as f64;
        let dt = 1.0 / REFERENCE_RATE as f64;
        let (h00, h10) = (
            2.0 * s.powi(3) - 3.0 * s * s + 1.0,
            s.powi(3) - 2.0 * s * s + s,
        );
        let (h01, h11) = (-2.0 * s.powi(3) + 3.0 * s * s, s.powi(3) - s * s);
        let (x0, x1) = (
            &self.reference[j * m..(j + 1) * m],
            &self.reference[(j + 1) * m..(j + 2) * m],
        );
        let (v0, v1) = (
            &self.velocities[j * m..(j + 1) * m],
            &self.velocities[(j + 1) * m..(j + 2) * m],
        );
        for k in 0..m {
            out[k] = h00 * x0[k] + h10 * dt * v0[k] + h01 * x1[k] + h11 * dt * v1[k];
        }
    }

    /// Max over particles of |x_i - y_i| (NaN when any is NaN).
    fn distance(&self, x: &[f64], y: &[f64]) -> f64 {
        x.chunks_exact(self.d)
            .zip(y.chunks_exact(self.d))
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(p, q)| (p - q).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(
                0.0,
                |m: f64, e| if e.is_nan() { f64::NAN } else { m.max(e) },
            )
    }

    /// E e^{-beta} = sum_(i < j) e^{beta (<x_i, x_j> - 1)} (the diagonal and the factor 2 dropped).
    fn energy(&self, x: &[f64]) -> f64 {
        let (n, d) = (self.n, self.d);
        let mut e = 0.0;
        for i in 0..n {
            for j in i + 1..n {
                let dot: f64 = (0..d).map(|k| x[i * d + k] * x[j * d + k]).sum();
                e += (self.beta * (dot - 1.0)).exp();
            }
        }
        e
    }

    /// Runs `kind` with ceil(T / h) equal steps to T and checks `criterion`.
    fn run(&self, kind: IntegratorKind, h: f64, criterion: Criterion) -> Result<StiffRun> {
        let steps = (STIFFNESS_T / h).ceil() as usize;
        let h = STIFFNESS_T / steps as f64;
        let mut solver = attnflow_dynamics::Solver::new(
            &self.field,
            kind.stepper_for(&self.field)?,
            &self.x0,
            h,
        )?;
        let mut energy = self.energy(self.x0.as_slice());
        let mut reference = vec![0.0; self.n * self.d];
        let mut passed = true;
        for k in 1..=steps {
            if solver.step().is_err() {
                passed = false;
                break;
            }
            let x = solver.state().as_slice();
            let next = self.energy(x);
            if !next.is_finite() || next < energy * (1.0 - ENERGY_DROP) {
                passed = false;
                break;
            }
            energy = next;
            let checked = match criterion {
                Criterion::Trajectory => true,
                Criterion::FinalState => k == steps,
                Criterion::Energy => false,
            };
            if checked {
                self.reference_at((k as f64 * h).min(STIFFNESS_T), &mut reference);
                let distance = self.distance(x, &reference);
                if distance.is_nan() || distance > STIFFNESS_TOL {
                    passed = false;
                    break;
                }
            }
        }
        Ok(StiffRun {
            passed,
            evaluations: solver.stats().evaluations,
        })
    }
}

struct StiffRun {
    passed: bool,
    evaluations: u64,
}

/// One search: h_max (the trajectory criterion), h_end (the final state only), h_stab (the
/// energy alone), whether h_max / 2 passes too (a check of monotonicity below the threshold) and
/// the evaluations at h_max.
struct StiffResult {
    h_max: Threshold,
    h_end: Threshold,
    h_stab: Threshold,
    half_ok: bool,
    evaluations: Option<u64>,
}

fn stiff_search(p: &StiffProblem, kind: IntegratorKind) -> Result<StiffResult> {
    let (h_min, h_top) = STIFFNESS_H;
    // a search only moves its passing end up, so its last passing run is the one at the threshold
    let search = |criterion| -> Result<(Threshold, Option<u64>)> {
        let mut evaluations = None;
        let threshold = largest_true_step(h_min, h_top, STIFFNESS_RATIO, |h| {
            let run = p.run(kind, h, criterion)?;
            if run.passed {
                evaluations = Some(run.evaluations);
            }
            Ok(run.passed)
        })?;
        Ok((threshold, evaluations))
    };
    let (h_max, evaluations) = search(Criterion::Trajectory)?;
    let (h_end, _) = search(Criterion::FinalState)?;
    let (h_stab, _) = search(Criterion::Energy)?;
    let half_ok = match h_max {
        Threshold::Between { lo, .. } | Threshold::AtLeast(lo) => {
            p.run(kind, lo / 2.0, Criterion::Trajectory)?.passed
        }
        Threshold::Below(_) => true,
    };
    Ok(StiffResult {
        h_max,
        h_end,
        h_stab,
        half_ok,
        evaluations,
    })
}

fn threshold_cell(t: Threshold) -> String {
    match t {
        Threshold::Between { lo, .. } => format!("{lo:.3e}"),
        Threshold::AtLeast(h) => format!(">= {h}"),
        Threshold::Below(h) => format!("< {h:e}"),
    }
}

fn section_stiffness(md: &mut String) -> Result<()> {
    let start = Instant::now();
    let shapes = [(2usize, 16usize), (2, 64), (3, 16), (3, 64)];
    let problems: Vec<StiffProblem> = shapes
        .iter()
        .flat_map(|&(d, n)| STIFFNESS_BETAS.map(|beta| (n, d, beta)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(n, d, beta)| StiffProblem::new(n, d, beta))
        .collect::<Result<_>>()?;
    let jobs: Vec<(usize, IntegratorKind)> = (0..problems.len())
        .flat_map(|k| STIFFNESS_METHODS.map(|m| (k, m)))
        .collect();
    let results: Vec<StiffResult> = jobs
        .par_iter()
        .map(|&(k, m)| stiff_search(&problems[k], m))
        .collect::<Result<_>>()?;
    let result = |k: usize, m: usize| &results[k * STIFFNESS_METHODS.len() + m];
    let (h_min, h_top) = STIFFNESS_H;
    let header = format!(
        "(SA) from n uniform points on S^(d-1) (seed {STIFFNESS_SEED}, realisation 0, the same start for every beta), \
         integrated with ceil({STIFFNESS_T} / h) equal steps to t = {STIFFNESS_T}. A step h is **stable** when the run \
         (a) never lets the interaction energy E = sum_ij e^(beta <x_i, x_j>) drop by more than {ENERGY_DROP:e} (relative) \
         from one step to the next (E increases along the exact flow, \\[GLPR\\] (3.11); a drop is the signature of an \
         overshooting, oscillating or exploding step) and (b) stays within {STIFFNESS_TOL:e} of the reference trajectory \
         at every step, max over particles of |x_i - x_i^ref| (reference: dp54 at rtol = atol = 1e-12, stored every \
         1/{REFERENCE_RATE} and interpolated by cubic Hermite). Criterion (b) is checked along the whole trajectory, \
         not only at t = {STIFFNESS_T}: the state at t = {STIFFNESS_T} is a clustered configuration that attracts \
         the numerical solution too, so a final-state test passes with steps that do not follow the dynamics \
         (h_end below). h_max: the largest stable h, found by a scan h = {h_top}, {h_top}/2, ... down to the first \
         stable step (floor {h_min:e}), then bisection on ln h to a ratio {STIFFNESS_RATIO} (the stable end is shown). \
         Cells: h_max (h_end; h_stab), where h_end is the same search with (b) at t = {STIFFNESS_T} only and h_stab \
         with criterion (a) alone; h_max close to h_stab means a stability-limited step, h_max far below h_stab an \
         accuracy-limited one. (a) alone is not monotone at the largest steps: a run of two steps of {h_top} can \
         pass it where longer runs of smaller steps fail (h_stab = \">= {h_top}\" after a lower h_stab elsewhere). A `*` marks a search where h_max / 2 is not stable (stability not monotone in h). \
         p: least-squares slope of -ln h_max against ln beta over the five betas (h_max ~ beta^-p)."
    );
    writeln!(
        md,
        "## 5. Stiffness: the largest stable step against beta\n"
    )?;
    writeln!(md, "{header}\n")?;
    // per method: the fitted p of each shape, and at beta >= 32 the ratios h_stab / h_max
    let mut exponents: Vec<Vec<f64>> = vec![Vec::new(); STIFFNESS_METHODS.len()];
    let mut margins: Vec<Vec<f64>> = vec![Vec::new(); STIFFNESS_METHODS.len()];
    let mut large_beta_h: Vec<Vec<f64>> = vec![Vec::new(); STIFFNESS_METHODS.len()];
    for (s, &(d, n)) in shapes.iter().enumerate() {
        writeln!(md, "### d = {d} (S^{}), n = {n}\n", d - 1)?;
        writeln!(
            md,
            "| method | {} | p |",
            STIFFNESS_BETAS.map(|b| format!("beta = {b}")).join(" | ")
        )?;
        writeln!(md, "|---|{}---|", "---|".repeat(STIFFNESS_BETAS.len()))?;
        for (m, kind) in STIFFNESS_METHODS.iter().enumerate() {
            let mut cells = Vec::new();
            let (mut lx, mut ly) = (Vec::new(), Vec::new());
            for (b, &beta) in STIFFNESS_BETAS.iter().enumerate() {
                let r = result(s * STIFFNESS_BETAS.len() + b, m);
                cells.push(format!(
                    "{}{} ({}; {})",
                    threshold_cell(r.h_max),
                    if r.half_ok { "" } else { "*" },
                    threshold_cell(r.h_end),
                    threshold_cell(r.h_stab)
                ));
                if let Threshold::Between { lo, .. } = r.h_max {
                    lx.push(beta.ln());
                    ly.push(-lo.ln());
                    if beta >= 32.0 {
                        large_beta_h[m].push(lo);
                        let stab = match r.h_stab {
                            Threshold::Between { lo: s, .. } | Threshold::AtLeast(s) => s,
                            Threshold::Below(s) => s,
                        };
                        margins[m].push(stab / lo);
                    }
                }
            }
            let p = (lx.len() == STIFFNESS_BETAS.len()).then(|| fitted_slope(&lx, &ly));
            if let Some(p) = p {
                exponents[m].push(p);
            }
            writeln!(
                md,
                "| {} | {} | {} |",
                kind.name(),
                cells.join(" | "),
                or_dash(p, 2)
            )?;
        }
        writeln!(md)?;
    }
    writeln!(
        md,
        "### Work to reach t = {STIFFNESS_T} at h_max, beta >= 32 (field evaluations; energy-stable counts its inner iterations)\n"
    )?;
    writeln!(
        md,
        "| d | n | beta | {} | fewest |",
        STIFFNESS_METHODS.map(|m| m.name()).join(" | ")
    )?;
    writeln!(
        md,
        "|---|---|---|{}---|",
        "---|".repeat(STIFFNESS_METHODS.len())
    )?;
    let mut beats_rk4 = Vec::new();
    for (s, &(d, n)) in shapes.iter().enumerate() {
        for (b, &beta) in STIFFNESS_BETAS.iter().enumerate() {
            if beta < 32.0 {
                continue;
            }
            let k = s * STIFFNESS_BETAS.len() + b;
            let evals: Vec<Option<u64>> = (0..STIFFNESS_METHODS.len())
                .map(|m| result(k, m).evaluations)
                .collect();
            let fewest = evals
                .iter()
                .enumerate()
                .filter_map(|(m, e)| e.map(|e| (e, m)))
                .min();
            let rk4 = evals[1];
            if let (Some((e, m)), Some(r)) = (fewest, rk4)
                && e < r
            {
                beats_rk4.push(format!(
                    "{} at d = {d}, n = {n}, beta = {beta} ({e} against {r})",
                    STIFFNESS_METHODS[m].name()
                ));
            }
            writeln!(
                md,
                "| {d} | {n} | {beta} | {} | {} |",
                evals
                    .iter()
                    .map(|e| e.map_or("-".into(), |e| e.to_string()))
                    .collect::<Vec<_>>()
                    .join(" | "),
                fewest.map_or("-", |(_, m)| STIFFNESS_METHODS[m].name())
            )?;
        }
    }
    writeln!(md)?;
    // the reading, from the numbers above
    let range = |v: &[f64], digits: usize| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if v.is_empty() {
            "-".to_string()
        } else {
            format!("{lo:.digits$} to {hi:.digits$}")
        }
    };
    let per_method: Vec<String> = STIFFNESS_METHODS
        .iter()
        .enumerate()
        .map(|(m, kind)| {
            format!(
                "{} p = {} (h_max at beta >= 32: {}; h_stab / h_max there: {})",
                kind.name(),
                range(&exponents[m], 2),
                range(&large_beta_h[m], 3),
                range(&margins[m], 1)
            )
        })
        .collect();
    let p_max = exponents
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let stability_limited: usize = margins
        .iter()
        .map(|v| v.iter().filter(|&&r| r < 1.5).count())
        .sum();
    let cases: usize = margins.iter().map(Vec::len).sum();
    writeln!(
        md,
        "**Reading.** Fitted exponents over the four (d, n): {}. The largest p of any method and shape is {p_max:.2} \
         ({}). At beta >= 32, {stability_limited} of the {cases} (method, d, n) cases \
         have h_stab < 1.5 h_max (stability-limited); in the others the energy criterion alone allows steps well above \
         h_max, so the explicit methods there are limited by accuracy, not by stability. {}",
        per_method.join("; "),
        if p_max < 0.5 {
            "over beta = 1 to 64 the largest stable step does not fall like beta^-1, as a field with a Lipschitz \
             constant growing like beta would make it"
        } else {
            "h_max falls with beta for at least one method"
        },
        if beats_rk4.is_empty() {
            format!(
                "No method reaches t = {STIFFNESS_T} at its h_max with fewer evaluations than rk4 at beta >= 32."
            )
        } else {
            format!(
                "Fewer evaluations than rk4 at beta >= 32 (each at its own h_max): {}.",
                beats_rk4.join("; ")
            )
        }
    )?;
    writeln!(
        md,
        "\nSection runtime: {:.0} s.\n",
        start.elapsed().as_secs_f64()
    )?;
    Ok(())
}

pub fn accuracy(args: AccuracyArgs) -> Result<()> {
    let start = Instant::now();
    let mut md = String::from("# Accuracy of the integrators against theoretical rates\n\n");
    writeln!(
        md,
        "Generated by `cargo xtask accuracy` (attnflow {}). All numbers below are measured by that command.\n",
        env!("CARGO_PKG_VERSION")
    )?;
    eprintln!("accuracy: convergence orders");
    section_orders(&mut md)?;
    eprintln!("accuracy: consensus rates");
    section_rates(&mut md)?;
    eprintln!("accuracy: figure 3 statistic");
    section_figure3(&mut md, &args)?;
    eprintln!("accuracy: work-precision of all integrators");
    section_work_precision(&mut md, args.work_precision_fidelity)?;
    eprintln!("accuracy: stiffness (largest stable step against beta)");
    section_stiffness(&mut md)?;
    writeln!(md, "Total runtime: {:.0} s.", start.elapsed().as_secs_f64())?;
    let path = crate::workspace_root().join(&args.out);
    attnflow_dynamics::output::write_atomic(&path, md.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisection_brackets_the_threshold_of_a_monotone_predicate() {
        let threshold = 0.0123;
        let mut calls = 0;
        let t = largest_true_step(1e-4, 10.0, 1.01, |h| {
            calls += 1;
            Ok(h <= threshold)
        })
        .unwrap();
        let Threshold::Between { lo, hi } = t else {
            panic!("not bracketed: {t:?}")
        };
        assert!(
            lo <= threshold && threshold < hi && hi / lo <= 1.01,
            "{lo} {hi}"
        );
        // scan 10, 5, ..., 10 / 2^10 (10 calls), then ln(2) / ln(1.01) -> 7 halvings
        assert!(calls <= 10 + 8, "{calls} calls");
        assert_eq!(
            largest_true_step(1e-4, 10.0, 1.01, |_| Ok(true)).unwrap(),
            Threshold::AtLeast(10.0)
        );
        assert_eq!(
            largest_true_step(1e-4, 10.0, 1.01, |_| Ok(false)).unwrap(),
            Threshold::Below(1e-4)
        );
        // a true island above a false range is found by the scan from above
        let t = largest_true_step(1e-4, 10.0, 1.01, |h| {
            Ok(h <= 1e-3 || (2.0..=3.0).contains(&h))
        });
        let Threshold::Between { lo, hi } = t.unwrap() else {
            panic!("island not bracketed")
        };
        assert!((2.97..=3.0).contains(&lo) && hi > 3.0, "{lo} {hi}");
    }

    #[test]
    fn reference_interpolation_matches_a_direct_integration() {
        let p = StiffProblem::new(16, 2, 16.0).unwrap();
        // a time between two stored states
        let t = 3.0 + 0.37 / REFERENCE_RATE as f64;
        let direct = final_state(
            &p.field,
            &mut DormandPrince54::new(1e-12, 1e-12).unwrap(),
            &p.x0,
            t,
            t,
        )
        .unwrap();
        let mut interpolated = vec![0.0; 32];
        p.reference_at(t, &mut interpolated);
        let error = p.distance(&direct, &interpolated);
        assert!(error < 1e-8, "{error:e}");
        // at a stored time the interpolation is the stored state
        p.reference_at(1.0, &mut interpolated);
        assert_eq!(
            interpolated,
            p.reference[REFERENCE_RATE * 32..(REFERENCE_RATE + 1) * 32]
        );
    }

    #[test]
    fn stiffness_search_on_the_circle_at_beta_1() {
        let p = StiffProblem::new(16, 2, 1.0).unwrap();
        let euler = stiff_search(&p, IntegratorKind::PaperEuler).unwrap();
        let rk4 = stiff_search(&p, IntegratorKind::Rk4).unwrap();
        let Threshold::Between { lo: euler_h, hi } = euler.h_max else {
            panic!("{:?}", euler.h_max)
        };
        // first order: error ~ C h along the trajectory, 1e-2 reached at a few 1e-3
        assert!((1e-3..2e-2).contains(&euler_h), "{euler_h}");
        assert!(hi / euler_h <= STIFFNESS_RATIO);
        let Threshold::Between { lo: rk4_h, .. } = rk4.h_max else {
            panic!("{:?}", rk4.h_max)
        };
        assert!(rk4_h > 50.0 * euler_h, "{rk4_h} {euler_h}");
        assert!(euler.half_ok && rk4.half_ok);
        // the trajectory criterion implies the final-state and energy criteria
        let passing = |t: Threshold| match t {
            Threshold::Between { lo, .. } | Threshold::AtLeast(lo) => lo,
            Threshold::Below(_) => 0.0,
        };
        for r in [&euler, &rk4] {
            assert!(passing(r.h_end) >= passing(r.h_max));
            assert!(passing(r.h_stab) >= passing(r.h_max));
        }
        // rk4 at its h_max: 4 evaluations per step, ceil(T / h) steps
        assert_eq!(
            rk4.evaluations,
            Some(4 * (STIFFNESS_T / rk4_h).ceil() as u64)
        );
    }
}

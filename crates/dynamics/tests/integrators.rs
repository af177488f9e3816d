//! Integrator accuracy: sphere invariance, observed convergence orders, and the equiangular solution of
//! [GLPR] Thm 6.8.

use std::ops::ControlFlow;

use attnflow_dynamics::{
    Configuration, DormandPrince54, FinalStep, Integrator, IntegratorKind, Observer, PaperEuler,
    Rk4, SelfAttention, Solver, Stop, VectorField, integrate, kernel, observables, sampling,
};

fn random_start(n: usize, d: usize, seed: u64) -> Configuration {
    sampling::uniform_sphere(
        n,
        d,
        &mut sampling::stream(seed, 0, sampling::Purpose::InitialCondition),
    )
    .unwrap()
}

fn run(
    model: &dyn VectorField,
    integrator: &mut dyn Integrator,
    x0: &Configuration,
    h: f64,
    t: f64,
) -> Vec<f64> {
    let steps = (t / h).round() as usize;
    integrate(model, integrator, x0, h, steps, |_, _, _| {})
        .unwrap()
        .into_vec()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Least-squares slope of log(err) against log(h).
fn fitted_order(h: &[f64], err: &[f64]) -> f64 {
    let (lx, ly): (Vec<f64>, Vec<f64>) = h.iter().zip(err).map(|(a, b)| (a.ln(), b.ln())).unzip();
    let m = lx.len() as f64;
    let (mx, my) = (lx.iter().sum::<f64>() / m, ly.iter().sum::<f64>() / m);
    let cov: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    cov / var
}

#[test]
fn every_integrator_keeps_points_on_the_sphere() {
    let x0 = random_start(12, 5, 1);
    let model = SelfAttention::sa(3.0).unwrap();
    let integrators: Vec<Box<dyn Integrator>> = vec![
        Box::new(PaperEuler::default()),
        Box::new(Rk4::default()),
        Box::new(DormandPrince54::new(1e-8, 1e-10).unwrap()),
    ];
    for mut integ in integrators {
        let mut worst: f64 = 0.0;
        integrate(&model, integ.as_mut(), &x0, 0.1, 200, |_, _, x| {
            let c = Configuration::euclidean(12, 5, x.to_vec()).unwrap();
            worst = worst.max(c.max_norm_defect());
        })
        .unwrap();
        assert!(worst < 1e-12, "{}: norm defect {worst:e}", integ.name());
    }
}

/// Error at T = 1 against a DP5 solution with h = 1/2048 (error ~1e-16), for h = 1/10 ... 1/80.
#[test]
fn observed_convergence_orders() {
    let (n, d, t) = (6, 3, 1.0);
    let x0 = random_start(n, d, 2);
    let model = SelfAttention::sa(2.0).unwrap();
    let reference = run(&model, &mut DormandPrince54::fixed(), &x0, 1.0 / 2048.0, t);
    let hs = [0.1, 0.05, 0.025, 0.0125];
    // (integrator, expected order, tolerance on the observed order)
    type Case = (fn() -> Box<dyn Integrator>, f64, f64);
    let cases: [Case; 3] = [
        (|| Box::new(PaperEuler::default()), 1.0, 0.15),
        (|| Box::new(Rk4::default()), 4.0, 0.3),
        (|| Box::new(DormandPrince54::fixed()), 5.0, 0.4),
    ];
    for (make, expected, tol) in cases {
        let errors: Vec<f64> = hs
            .iter()
            .map(|&h| max_abs_diff(&run(&model, make().as_mut(), &x0, h, t), &reference))
            .collect();
        let order = fitted_order(&hs, &errors);
        assert!(
            (order - expected).abs() < tol,
            "{}: order {order:.3} (errors {errors:?})",
            make().name()
        );
    }
}

#[test]
fn adaptive_dp54_meets_its_tolerance_and_counts_work() {
    let (n, d) = (6, 3);
    let x0 = random_start(n, d, 3);
    let model = SelfAttention::usa(1.0).unwrap();
    let reference = run(
        &model,
        &mut DormandPrince54::fixed(),
        &x0,
        1.0 / 4096.0,
        2.0,
    );
    let mut loose = DormandPrince54::new(1e-5, 1e-7).unwrap();
    let mut tight = DormandPrince54::new(1e-10, 1e-12).unwrap();
    let e_loose = max_abs_diff(&run(&model, &mut loose, &x0, 0.5, 2.0), &reference);
    let e_tight = max_abs_diff(&run(&model, &mut tight, &x0, 0.5, 2.0), &reference);
    assert!(e_tight < 1e-8, "{e_tight:e}");
    assert!(
        e_loose < 1e-3 && e_tight < e_loose,
        "{e_loose:e} {e_tight:e}"
    );
    let (sl, st) = (loose.stats(), tight.stats());
    assert!(
        st.accepted > sl.accepted && st.evaluations > sl.evaluations,
        "{sl:?} {st:?}"
    );
    assert_eq!(sl.steps, 4);
}

/// Right-hand sides of (6.9) (SA) and (6.10) (USA).
fn gamma_dot(g: f64, n: f64, beta: f64, usa: bool) -> f64 {
    let core = (beta * g).exp() * (1.0 - g) * ((n - 1.0) * g + 1.0);
    if usa {
        2.0 / n * core
    } else {
        2.0 * core / (beta.exp() + (n - 1.0) * (beta * g).exp())
    }
}

/// The scalar ODE by RK4 with a fine step.
fn gamma_scalar(t: f64, n: usize, beta: f64, usa: bool) -> f64 {
    let steps = 20_000;
    let h = t / steps as f64;
    let (mut g, nf) = (0.0, n as f64);
    for _ in 0..steps {
        let k1 = gamma_dot(g, nf, beta, usa);
        let k2 = gamma_dot(g + 0.5 * h * k1, nf, beta, usa);
        let k3 = gamma_dot(g + 0.5 * h * k2, nf, beta, usa);
        let k4 = gamma_dot(g + h * k3, nf, beta, usa);
        g += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    }
    g
}

/// [GLPR] Thm 6.8: from x_i(0) = e_i all off-diagonal inner products coincide (to 1e-12) and follow
/// gamma(t) of (6.9) / (6.10); at beta = 0, gamma(t) = (e^{2t} - 1) / (e^{2t} + n - 1).
#[test]
fn orthogonal_start_follows_the_equiangular_ode() {
    let (n, d) = (8, 10);
    let x0 = Configuration::orthonormal(n, d).unwrap();
    for (beta, usa) in [
        (0.0, false),
        (1.0, false),
        (4.0, false),
        (1.0, true),
        (0.0, true),
    ] {
        let model = if usa {
            SelfAttention::usa(beta)
        } else {
            SelfAttention::sa(beta)
        }
        .unwrap();
        let mut integ = DormandPrince54::new(1e-11, 1e-13).unwrap();
        let mut worst_spread: f64 = 0.0;
        let mut worst_error: f64 = 0.0;
        integrate(&model, &mut integ, &x0, 0.25, 12, |_, t, x| {
            let g = Configuration::euclidean(n, d, x.to_vec()).unwrap().gram();
            let off: Vec<f64> = (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| g[i * n + j])
                .collect();
            let (lo, hi) = off
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            worst_spread = worst_spread.max(hi - lo);
            let predicted = if beta == 0.0 {
                ((2.0 * t).exp() - 1.0) / ((2.0 * t).exp() + n as f64 - 1.0)
            } else if t == 0.0 {
                0.0
            } else {
                gamma_scalar(t, n, beta, usa)
            };
            worst_error = worst_error.max((off[0] - predicted).abs());
        })
        .unwrap();
        assert!(
            worst_spread < 1e-12,
            "beta={beta} usa={usa}: spread {worst_spread:e}"
        );
        assert!(
            worst_error < 1e-9,
            "beta={beta} usa={usa}: error {worst_error:e}"
        );
    }
}

#[test]
fn bad_steps_are_errors_not_panics() {
    let x0 = random_start(4, 3, 4);
    let model = SelfAttention::sa(1.0).unwrap();
    let mut x = x0.as_slice().to_vec();
    for h in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        assert!(PaperEuler::default().step(&model, &mut x, 4, 3, h).is_err());
        assert!(Rk4::default().step(&model, &mut x, 4, 3, h).is_err());
    }
    assert!(DormandPrince54::new(0.0, 1e-9).is_err());
    assert!(
        PaperEuler::default()
            .step(&model, &mut x, 4, 2, 0.1)
            .is_err()
    );
}

/// Permuting the initial particles permutes the solution ([GLPR] section 1), for every integrator.
#[test]
fn permutation_equivariance_of_trajectories() {
    let (n, d) = (7, 4);
    let x0 = random_start(n, d, 5);
    let perm = [6, 2, 0, 5, 1, 3, 4];
    let xp = x0.permuted(&perm).unwrap();
    let model = SelfAttention::sa(2.0).unwrap();
    for make in [
        || Box::new(PaperEuler::default()) as Box<dyn Integrator>,
        || Box::new(Rk4::default()) as Box<dyn Integrator>,
        || Box::new(DormandPrince54::new(1e-9, 1e-11).unwrap()) as Box<dyn Integrator>,
    ] {
        let a = run(&model, make().as_mut(), &x0, 0.1, 5.0);
        let b = run(&model, make().as_mut(), &xp, 0.1, 5.0);
        for (i, &p) in perm.iter().enumerate() {
            for k in 0..d {
                assert!(
                    (b[i * d + k] - a[p * d + k]).abs() < 1e-12,
                    "{}",
                    make().name()
                );
            }
        }
    }
}

/// Records the states it is shown (number and Gram bits); wants every third state, stops at
/// `stop_at`.
struct Recorder {
    seen: Vec<(usize, Vec<u64>)>,
    stop_at: usize,
}

impl Observer for Recorder {
    fn wants(&self, k: usize) -> bool {
        k.is_multiple_of(3)
    }
    fn observe(&mut self, k: usize, gram: &[f64]) -> ControlFlow<()> {
        self.seen
            .push((k, gram.iter().map(|g| g.to_bits()).collect()));
        if k >= self.stop_at {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[test]
fn solver_equals_single_steps_and_shows_the_states() {
    // the paper's Euler step runs fused on X^T where the field has it (SA, USA; n = 16: the
    // AVX-512 kernels, n = 7: the portable ones), row-major otherwise (causal mask) and for RK4
    let masked = SelfAttention::sa(2.0).unwrap().with_causal_mask();
    for (n, d) in [(16, 5), (7, 12)] {
        let x0 = random_start(n, d, 21);
        let fields = [
            SelfAttention::sa(2.0).unwrap(),
            SelfAttention::usa(1.0).unwrap(),
            masked.clone(),
        ];
        for field in &fields {
            for kind in [IntegratorKind::PaperEuler, IntegratorKind::Rk4] {
                let steps = 10;
                let mut stepped = x0.as_slice().to_vec();
                let mut expected = Vec::new();
                let mut single = kind.build().unwrap();
                let mut gram = vec![0.0; n * n];
                for k in 0..=steps {
                    if k > 0 {
                        single.step(field, &mut stepped, n, d, 0.1).unwrap();
                    }
                    kernel::gram(&stepped, n, d, &mut gram);
                    let bits = gram.iter().map(|g| g.to_bits()).collect::<Vec<_>>();
                    expected.push((stepped.clone(), bits));
                }
                let mut all = Recorder {
                    seen: Vec::new(),
                    stop_at: usize::MAX,
                };
                let stepper = kind.stepper_for(field).unwrap();
                let fused = matches!(stepper, attnflow_dynamics::AttentionStepper::Fused(_));
                assert_eq!(
                    fused,
                    kind == IntegratorKind::PaperEuler && field != &masked
                );
                let mut solver = Solver::new(field, stepper, &x0, 0.1)
                    .unwrap()
                    .with_observer(&mut all);
                assert_eq!(solver.advance_to_step(steps).unwrap(), Stop::Reached);
                let state = solver.state();
                assert_eq!((state.step, state.t), (steps, steps as f64 * 0.1));
                assert_eq!(
                    state.as_slice(),
                    &expected[steps].0[..],
                    "n = {n}, {kind:?}"
                );
                assert_eq!(solver.stats().steps, steps as u64);
                // every state shown is the state of that number, each once and in order; the
                // wanted ones are all there
                for (k, bits) in &all.seen {
                    assert_eq!(bits, &expected[*k].1, "state {k}");
                }
                let shown: Vec<usize> = all.seen.iter().map(|(k, _)| *k).collect();
                assert!(shown.windows(2).all(|w| w[0] < w[1]), "{shown:?}");
                assert!(
                    (1..=steps)
                        .filter(|k| k % 3 == 0)
                        .all(|k| shown.contains(&k))
                );
                // stopping early: the state at the stop is the stepped one
                let mut early = Recorder {
                    seen: Vec::new(),
                    stop_at: 6,
                };
                let mut solver = Solver::new(field, kind.stepper_for(field).unwrap(), &x0, 0.1)
                    .unwrap()
                    .with_observer(&mut early);
                assert_eq!(solver.advance_to(1.0).unwrap(), Stop::Observer);
                let taken = solver.state().step;
                assert_eq!(solver.state().as_slice(), &expected[taken].0[..]);
                let (last, bits) = early.seen.last().unwrap();
                assert_eq!(*last, 6);
                assert_eq!(bits, &expected[6].1);
                // the paper's Euler step computes the Gram matrix (B = I): state 6 is seen during
                // step 7; RK4 shows it after step 6
                let free = kind == IntegratorKind::PaperEuler;
                assert_eq!(taken, if free { 7 } else { 6 }, "{kind:?}");
            }
        }
    }
}

/// A state is shown at most once, also across advances: the last state of one advance (shown at
/// its end) is not shown again when the next step computes its Gram matrix.
#[test]
fn states_are_shown_once_across_advances() {
    let (n, d) = (8, 4);
    let x0 = random_start(n, d, 22);
    let field = SelfAttention::sa(1.0).unwrap();
    let mut all = Recorder {
        seen: Vec::new(),
        stop_at: usize::MAX,
    };
    let stepper = IntegratorKind::PaperEuler.stepper_for(&field).unwrap();
    let mut solver = Solver::new(&field, stepper, &x0, 0.1)
        .unwrap()
        .with_observer(&mut all);
    for k in [3, 4, 9] {
        assert_eq!(solver.advance_to_step(k).unwrap(), Stop::Reached);
    }
    // before the target: no steps
    assert_eq!(solver.advance_to_step(2).unwrap(), Stop::Reached);
    assert_eq!(solver.state().step, 9);
    let shown: Vec<usize> = all.seen.iter().map(|(k, _)| *k).collect();
    // free Gram matrices show 0..=8 during the steps, 9 is shown (wanted) at the end
    assert_eq!(shown, (0..=9).collect::<Vec<_>>());
}

/// `advance_to(t)` stops at the first k with k dt >= t (the authors' checkpoint rule,
/// `observables::checkpoint_steps`), at the time k dt exactly, and never goes back.
#[test]
fn advance_to_follows_the_checkpoint_grid() {
    let (n, d, dt) = (5, 3, 0.1);
    let x0 = random_start(n, d, 23);
    let field = SelfAttention::sa(1.0).unwrap();
    let mut times = observables::linspace(0.0, 10.0, 6);
    times.extend(observables::linspace(0.0, 30.0, 200));
    times.sort_by(f64::total_cmp);
    let ck = observables::checkpoint_steps_from(&times, dt, 0, usize::MAX).unwrap();
    // multiples of dt are read at their own step despite 6 / 0.1 = 59.99999999999999
    let coarse = observables::linspace(0.0, 10.0, 6);
    let coarse_ck = observables::checkpoint_steps_from(&coarse, dt, 0, usize::MAX).unwrap();
    assert_eq!(coarse_ck, [0, 20, 40, 60, 80, 100]);
    let mut solver = Solver::new(&field, PaperEuler::default(), &x0, dt).unwrap();
    for (&t, &k) in times.iter().zip(&ck) {
        assert_eq!(solver.advance_to(t).unwrap(), Stop::Reached);
        let state = solver.state();
        assert_eq!(state.step, k, "t = {t}");
        assert_eq!(state.t.to_bits(), (k as f64 * dt).to_bits());
    }
    assert!(solver.advance_to(f64::NAN).is_err());
    assert!(Solver::new(&field, PaperEuler::default(), &x0, 0.0).is_err());
}

/// [`FinalStep::Shorten`]: whole steps, then one shorter step landing on t_end; by hand with
/// single steps of the integrator.
#[test]
fn shortened_final_step_lands_on_the_end_time() {
    let (n, d) = (6, 3);
    let x0 = random_start(n, d, 24);
    let field = SelfAttention::usa(1.5).unwrap();
    let mut solver = Solver::new(&field, Rk4::default(), &x0, 0.1)
        .unwrap()
        .with_final_step(FinalStep::Shorten);
    assert_eq!(solver.advance_to(0.25).unwrap(), Stop::Reached);
    assert_eq!((solver.state().step, solver.state().t), (3, 0.25));
    let mut x = x0.as_slice().to_vec();
    let mut rk4 = Rk4::default();
    for h in [0.1, 0.1, 0.25 - 0.2] {
        rk4.step(&field, &mut x, n, d, h).unwrap();
    }
    assert_eq!(solver.state().as_slice(), &x[..]);
    // later times count from 0.25; 0.45 is on that grid (up to round-off): two whole steps
    assert_eq!(solver.advance_to(0.45).unwrap(), Stop::Reached);
    assert_eq!(solver.state().step, 5);
    assert!((solver.state().t - 0.45).abs() < 1e-15);
    // the overshooting policy takes whole steps past 0.25
    let mut whole = Solver::new(&field, Rk4::default(), &x0, 0.1).unwrap();
    whole.advance_to(0.25).unwrap();
    assert_eq!((whole.state().step, whole.state().t), (3, 3.0 * 0.1));
}

/// The work of adaptive DP5(4) on a fixed small problem (SA, beta = 2, n = 6, d = 3, t = 2 in
/// macro steps of 0.5, rtol 1e-6, atol 1e-8): pinned by a snapshot; each trial step evaluates the
/// field 7 times (no first-same-as-last reuse).
#[test]
fn dp54_solver_statistics() {
    let x0 = random_start(6, 3, 3);
    let field = SelfAttention::sa(2.0).unwrap();
    let mut solver =
        Solver::new(&field, DormandPrince54::new(1e-6, 1e-8).unwrap(), &x0, 0.5).unwrap();
    assert_eq!(solver.advance_to(2.0).unwrap(), Stop::Reached);
    let stats = solver.stats();
    assert_eq!(stats.steps, 4);
    assert_eq!(stats.evaluations, 7 * (stats.accepted + stats.rejected));
    assert!(stats.accepted >= stats.steps);
    insta::assert_json_snapshot!(stats);
}

/// A field whose drift turns non-finite from its `healthy`-th evaluation on (drift x_i before).
struct BlowsUp {
    evaluations: std::sync::atomic::AtomicUsize,
    healthy: usize,
}

impl VectorField for BlowsUp {
    fn geometry(&self) -> attnflow_dynamics::Geometry {
        attnflow_dynamics::Geometry::Sphere
    }
    fn drift_into(
        &self,
        x: &[f64],
        _n: usize,
        _d: usize,
        out: &mut [f64],
        _ws: &mut attnflow_dynamics::Workspace,
    ) -> attnflow_dynamics::Result<()> {
        let k = self
            .evaluations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let value = if k < self.healthy { 1.0 } else { f64::NAN };
        out.iter_mut().zip(x).for_each(|(o, xi)| *o = value * xi);
        Ok(())
    }
}

/// A non-finite state is reported at the solver's time: the end of the failed step (of the
/// macro step for DP5(4)), k h on the grid.
#[test]
fn non_finite_states_are_reported_at_the_solver_time() {
    let x0 = random_start(3, 3, 25);
    let cases: [(Box<dyn Integrator>, usize); 2] = [
        // paper Euler: one evaluation per step, the 4th step fails
        (Box::new(PaperEuler::default()), 3),
        // RK4: four per step, the 2nd step fails
        (Box::new(Rk4::default()), 5),
    ];
    for (integrator, healthy) in cases {
        let field = BlowsUp {
            evaluations: 0.into(),
            healthy,
        };
        let name = integrator.name();
        let mut solver = Solver::new(&field, integrator, &x0, 0.25).unwrap();
        let err = solver.advance_to(10.0).unwrap_err();
        let failed_step = if name == "rk4" { 2 } else { 4 };
        assert_eq!(
            err,
            attnflow_dynamics::DynamicsError::NonFiniteState {
                t: failed_step as f64 * 0.25
            },
            "{name}"
        );
        assert_eq!(solver.state().step, failed_step - 1);
    }
}

/// [`FusedPaperEuler`] on a field without the fused kernel takes the row-major step on its
/// transposed state: the same bits as [`PaperEuler`].
#[test]
fn fused_stepper_falls_back_to_the_row_major_step() {
    let (n, d) = (9, 4);
    let x0 = random_start(n, d, 26);
    let sa = SelfAttention::sa(1.5).unwrap();
    let causal = sa.clone().with_causal_mask();
    let fused = attnflow_dynamics::FusedPaperEuler::for_field(&sa).unwrap();
    let mut a = Solver::new(&causal, fused, &x0, 0.1).unwrap();
    let mut b = Solver::new(&causal, PaperEuler::default(), &x0, 0.1).unwrap();
    a.advance_to(2.0).unwrap();
    b.advance_to(2.0).unwrap();
    assert_eq!(a.state().as_slice(), b.state().as_slice());
    assert_eq!(a.stats(), b.stats());
    // and it differs from the unmasked dynamics
    let mut c = Solver::new(&sa, PaperEuler::default(), &x0, 0.1).unwrap();
    c.advance_to(2.0).unwrap();
    assert_ne!(a.state().as_slice(), c.state().as_slice());
}

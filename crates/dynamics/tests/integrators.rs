//! Integrator accuracy: sphere invariance, observed convergence orders, and the equiangular solution of
//! [GLPR] Thm 6.8.

use attnflow_dynamics::{
    Configuration, DormandPrince54, Integrator, Observer, PaperEuler, Rk4, SelfAttention,
    VectorField, integrate, kernel, sampling,
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
    fn observe(&mut self, k: usize, gram: &[f64]) -> bool {
        self.seen
            .push((k, gram.iter().map(|g| g.to_bits()).collect()));
        k >= self.stop_at
    }
}

#[test]
fn advance_equals_single_steps_and_shows_the_states() {
    // PaperEuler keeps the state transposed between fused steps (n = 16: the AVX-512 kernels,
    // n = 7: the portable ones); fields without a fused step and RK4 take single steps
    let mut masked = SelfAttention::sa(2.0).unwrap().with_causal_mask();
    for (n, d) in [(16, 5), (7, 12)] {
        let x0 = random_start(n, d, 21);
        let fields: [&dyn VectorField; 3] = [
            &SelfAttention::sa(2.0).unwrap(),
            &SelfAttention::usa(1.0).unwrap(),
            &mut masked,
        ];
        for field in fields {
            for rk4 in [false, true] {
                let build = || -> Box<dyn Integrator> {
                    if rk4 {
                        Box::new(Rk4::default())
                    } else {
                        Box::new(PaperEuler::default())
                    }
                };
                let steps = 10;
                let mut stepped = x0.as_slice().to_vec();
                let mut expected = Vec::new();
                let mut single = build();
                let mut gram = vec![0.0; n * n];
                for k in 0..=steps {
                    if k > 0 {
                        single.step(field, &mut stepped, n, d, 0.1).unwrap();
                    }
                    kernel::gram(&stepped, n, d, &mut gram);
                    expected.push((k, gram.iter().map(|g| g.to_bits()).collect::<Vec<_>>()));
                }
                let mut x = x0.as_slice().to_vec();
                let mut all = Recorder {
                    seen: Vec::new(),
                    stop_at: usize::MAX,
                };
                let taken = build()
                    .advance(field, &mut x, n, d, 0.1, steps, &mut all)
                    .unwrap();
                assert_eq!(taken, steps);
                assert_eq!(x, stepped, "the last state, n = {n}, rk4 = {rk4}");
                // every state shown is the state of that number; the wanted ones are all there
                for (k, bits) in &all.seen {
                    assert_eq!(bits, &expected[*k].1, "state {k}");
                }
                let shown: Vec<usize> = all.seen.iter().map(|(k, _)| *k).collect();
                assert!(
                    (0..=steps)
                        .filter(|k| k % 3 == 0 && *k > 0)
                        .all(|k| shown.contains(&k))
                );
                // stopping early: the state at the stop is the stepped one
                let mut x = x0.as_slice().to_vec();
                let mut early = Recorder {
                    seen: Vec::new(),
                    stop_at: 6,
                };
                let taken = build()
                    .advance(field, &mut x, n, d, 0.1, steps, &mut early)
                    .unwrap();
                let (last, bits) = early.seen.last().unwrap();
                assert_eq!(*last, 6);
                assert_eq!(bits, &expected[6].1);
                // with free Gram matrices state 6 is seen during step 7
                assert!(taken == 6 || taken == 7, "taken {taken}");
            }
        }
    }
}

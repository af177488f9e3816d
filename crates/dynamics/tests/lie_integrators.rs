//! The Lie-group integrators of `attnflow_dynamics::lie` on (S^{d-1})^n: fitted orders against the
//! equiangular solution of [GLPR] Thm 6.8 and against a fine reference run, norms kept to
//! round-off without projection, one Lie-Euler step by hand, and the refusal of the Euclidean
//! model (9.1).

use attnflow_dynamics::{
    AttentionStepper, CommutatorFree4, Configuration, CrouchGrossman3, DormandPrince54,
    DynamicsError, Integrator, IntegratorKind, LieEuler, Rkmk4, Rkmk45, SelfAttention, Solver,
    Stop, VectorField, integrate, sampling,
};

type Fresh = fn() -> Box<dyn Integrator>;

/// A constructor of every Lie-group integrator (fixed-step `rkmk45`) with its theoretical order.
fn lie_integrators() -> [(Fresh, f64); 5] {
    [
        (|| Box::new(LieEuler::default()), 1.0),
        (|| Box::new(CrouchGrossman3::default()), 3.0),
        (|| Box::new(Rkmk4::default()), 4.0),
        (|| Box::new(CommutatorFree4::default()), 4.0),
        (|| Box::new(Rkmk45::fixed()), 5.0),
    ]
}

/// Step counts on [0, t] for an order-`p` method: the asymptotic range above round-off.
fn step_counts(p: f64) -> [usize; 4] {
    match p as u32 {
        1 => [40, 80, 160, 320],
        3 => [10, 20, 40, 80],
        4 => [8, 16, 32, 64],
        _ => [6, 12, 24, 48],
    }
}

fn run(
    model: &dyn VectorField,
    integrator: &mut dyn Integrator,
    x0: &Configuration,
    t: f64,
    steps: usize,
) -> Vec<f64> {
    integrate(model, integrator, x0, t / steps as f64, steps, |_, _, _| {})
        .unwrap()
        .into_vec()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn max_norm_defect(x: &[f64], d: usize) -> f64 {
    x.chunks_exact(d)
        .map(|r| (r.iter().map(|v| v * v).sum::<f64>().sqrt() - 1.0).abs())
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

/// Fits the order of every Lie-group integrator against `exact` at time t and checks it is within
/// 0.3 of the theory.
fn check_orders(model: &dyn VectorField, x0: &Configuration, t: f64, exact: &[f64], what: &str) {
    for (fresh, p) in lie_integrators() {
        let name = fresh().name();
        assert_eq!(fresh().order() as f64, p);
        let counts = step_counts(p);
        let h: Vec<f64> = counts.iter().map(|&k| t / k as f64).collect();
        let err: Vec<f64> = counts
            .iter()
            .map(|&k| max_abs_diff(&run(model, &mut *fresh(), x0, t, k), exact))
            .collect();
        let q = fitted_order(&h, &err);
        eprintln!("{what}: {name} errors {err:?}, fitted order {q:.3}");
        assert!(
            (q - p).abs() <= 0.3,
            "{what}: {name} order {q} (errors {err:?})"
        );
    }
}

/// The equiangular solution of [GLPR] Thm 6.8: from the orthonormal frame x_i(0) = e_i (n = d),
/// x_i(t) = a(t) e_i + b(t) (1, ..., 1) with every <x_i, x_j> = gamma(t), gamma the solution of
/// (6.9) (SA): gammadot = 2 (1 - gamma)((n - 1) gamma + 1) / (e^{beta (1 - gamma)} + n - 1),
/// gamma(0) = 0, integrated here by classical RK4 with 10^5 steps (error far below 1e-15).
fn equiangular_state(n: usize, beta: f64, t: f64) -> Vec<f64> {
    let nm1 = (n - 1) as f64;
    let rhs = |g: f64| 2.0 * (1.0 - g) * (nm1 * g + 1.0) / ((beta * (1.0 - g)).exp() + nm1);
    let steps = 100_000;
    let h = t / steps as f64;
    let mut g = 0.0;
    for _ in 0..steps {
        let k1 = rhs(g);
        let k2 = rhs(g + 0.5 * h * k1);
        let k3 = rhs(g + 0.5 * h * k2);
        let k4 = rhs(g + h * k3);
        g += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    }
    // |x_i|^2 = a^2 + 2ab + n b^2 = 1 and <x_i, x_j> = 2ab + n b^2 = gamma
    let a = (1.0 - g).sqrt();
    let b = (-a + (a * a + n as f64 * g).sqrt()) / n as f64;
    let mut x = vec![b; n * n];
    for i in 0..n {
        x[i * n + i] += a;
    }
    x
}

fn identity_start(n: usize) -> Configuration {
    let mut x = vec![0.0; n * n];
    for i in 0..n {
        x[i * n + i] = 1.0;
    }
    Configuration::new(n, n, x).unwrap()
}

#[test]
fn equiangular_solution_gives_the_theoretical_orders() {
    let (n, beta, t) = (8, 1.0, 1.0);
    let model = SelfAttention::sa(beta).unwrap();
    let exact = equiangular_state(n, beta, t);
    // the reference itself: a fine Dormand-Prince run agrees with the reduced solution
    let dp = run(
        &model,
        &mut DormandPrince54::fixed(),
        &identity_start(n),
        t,
        2000,
    );
    assert!(
        max_abs_diff(&dp, &exact) < 1e-14,
        "{}",
        max_abs_diff(&dp, &exact)
    );
    check_orders(
        &model,
        &identity_start(n),
        t,
        &exact,
        "equiangular n = d = 8",
    );
}

#[test]
fn uniform_points_on_the_sphere_give_the_theoretical_orders() {
    let x0 = sampling::uniform_sphere(
        16,
        3,
        &mut sampling::stream(11, 0, sampling::Purpose::InitialCondition),
    )
    .unwrap();
    let model = SelfAttention::sa(4.0).unwrap();
    let t = 1.0;
    let reference = run(&model, &mut DormandPrince54::fixed(), &x0, t, 4000);
    check_orders(&model, &x0, t, &reference, "16 points on S^2, beta = 4");
}

#[test]
fn norms_stay_one_to_round_off_over_ten_thousand_steps() {
    for (n, d, beta) in [(16, 3, 4.0), (6, 2, 1.0), (8, 12, 9.0)] {
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(12, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        let model = SelfAttention::sa(beta).unwrap();
        for (fresh, _) in lie_integrators() {
            let mut integ = fresh();
            let mut x = x0.as_slice().to_vec();
            let mut worst: f64 = 0.0;
            for _ in 0..10_000 {
                integ.step(&model, &mut x, n, d, 0.01).unwrap();
                worst = worst.max(max_norm_defect(&x, d));
            }
            eprintln!(
                "n = {n}, d = {d}: {} max ||x_i| - 1| = {worst:.2e}",
                integ.name()
            );
            assert!(worst <= 1e-13, "{} at d = {d}: {worst:e}", integ.name());
        }
    }
}

#[test]
fn lie_euler_step_of_two_particles_by_hand() {
    // SA, beta = 2, x_1 = e_1, x_2 = (cos phi, sin phi, 0). The velocity of x_1 is
    // w (x_2 - cos phi x_1), w = e^{beta cos phi} / (e^beta + e^{beta cos phi}), of length
    // w sin phi along e_2: the geodesic step turns x_1 by h w sin phi towards x_2, and x_2 by the
    // same angle towards x_1.
    let (beta, phi, h): (f64, f64, f64) = (2.0, 1.1, 0.3);
    let model = SelfAttention::sa(beta).unwrap();
    let mut x = vec![1.0, 0.0, 0.0, phi.cos(), phi.sin(), 0.0];
    let mut euler = LieEuler::default();
    euler.step(&model, &mut x, 2, 3, h).unwrap();
    let w = (beta * phi.cos()).exp() / (beta.exp() + (beta * phi.cos()).exp());
    let turn = h * w * phi.sin();
    let want = [
        turn.cos(),
        turn.sin(),
        0.0,
        (phi - turn).cos(),
        (phi - turn).sin(),
        0.0,
    ];
    assert!(max_abs_diff(&x, &want) < 2e-16, "{x:?} vs {want:?}");
    assert_eq!(euler.stats().evaluations, 1);
}

#[test]
fn euclidean_model_is_refused_with_a_typed_error() {
    let model = SelfAttention::builder()
        .beta(1.0)
        .euclidean()
        .build()
        .unwrap();
    let x0 = vec![1.0, 0.0, 0.0, 1.0];
    for (fresh, _) in lie_integrators() {
        let mut integ = fresh();
        let mut x = x0.clone();
        let err = integ.step(&model, &mut x, 2, 2, 0.1).unwrap_err();
        assert!(
            matches!(&err, DynamicsError::InvalidParameter { name: "geometry", reason } if reason.contains("sphere")),
            "{}: {err}",
            integ.name()
        );
        assert_eq!(x, x0, "a refused step leaves the state alone");
    }
}

#[test]
fn adaptive_rkmk45_meets_its_tolerance_and_counts_its_work() {
    let x0 = sampling::uniform_sphere(
        10,
        4,
        &mut sampling::stream(13, 0, sampling::Purpose::InitialCondition),
    )
    .unwrap();
    let model = SelfAttention::sa(5.0).unwrap();
    let reference = run(&model, &mut DormandPrince54::fixed(), &x0, 2.0, 4000);
    let mut adaptive = Rkmk45::new(1e-10, 1e-10).unwrap();
    let x = run(&model, &mut adaptive, &x0, 2.0, 4);
    let err = max_abs_diff(&x, &reference);
    let stats = adaptive.stats();
    eprintln!("rkmk45 at 1e-10: error {err:e}, {stats:?}");
    assert!(err < 1e-8, "{err:e}");
    assert_eq!(stats.steps, 4);
    assert!(stats.accepted > 4);
    assert_eq!(stats.evaluations, 7 * (stats.accepted + stats.rejected));
    assert!(max_norm_defect(&x, 4) < 1e-14);
    for bad in [1e-15, f64::NAN, 0.0] {
        assert!(matches!(
            Rkmk45::new(bad, 1e-8),
            Err(DynamicsError::InvalidParameter { name: "rtol", .. })
        ));
    }
}

/// The work of the adaptive Lie pair rkmk45 on the fixed small problem of the DP5(4) statistics in
/// `integrators.rs` (SA, beta = 2, n = 6, d = 3, t = 2 in macro steps of 0.5, rtol 1e-6,
/// atol 1e-8): pinned by a snapshot; each trial step evaluates the field 7 times (no
/// first-same-as-last reuse).
#[test]
fn rkmk45_solver_statistics() {
    let x0 = sampling::uniform_sphere(
        6,
        3,
        &mut sampling::stream(3, 0, sampling::Purpose::InitialCondition),
    )
    .unwrap();
    let field = SelfAttention::sa(2.0).unwrap();
    let mut solver = Solver::new(&field, Rkmk45::new(1e-6, 1e-8).unwrap(), &x0, 0.5).unwrap();
    assert_eq!(solver.advance_to(2.0).unwrap(), Stop::Reached);
    let stats = solver.stats();
    assert_eq!(stats.steps, 4);
    assert_eq!(stats.evaluations, 7 * (stats.accepted + stats.rejected));
    assert!(stats.accepted >= stats.steps);
    insta::assert_json_snapshot!(stats);
}

#[test]
fn integrator_kinds_name_and_build_the_lie_group_methods() {
    let kinds = [
        (IntegratorKind::LieEuler, "\"lie-euler\""),
        (IntegratorKind::Cg3, "\"cg3\""),
        (IntegratorKind::Rkmk4, "\"rkmk4\""),
        (IntegratorKind::Cf4, "\"cf4\""),
        (
            IntegratorKind::Rkmk45 {
                rtol: 1e-8,
                atol: 1e-10,
            },
            "{\"rkmk45\":{\"rtol\":1e-8,\"atol\":1e-10}}",
        ),
    ];
    let field = SelfAttention::sa(1.0).unwrap();
    for (kind, json) in kinds {
        assert_eq!(serde_json::to_string(&kind).unwrap(), json);
        assert_eq!(serde_json::from_str::<IntegratorKind>(json).unwrap(), kind);
        assert_eq!(kind.build().unwrap().name(), kind.name());
        let stepper = kind.stepper_for(&field).unwrap();
        assert!(matches!(&stepper, AttentionStepper::Rows(s) if s.name() == kind.name()));
    }
    let too_tight = IntegratorKind::Rkmk45 {
        rtol: 1e-17,
        atol: 1e-10,
    };
    assert!(matches!(
        too_tight.build(),
        Err(DynamicsError::InvalidParameter { name: "rtol", .. })
    ));
}

//! The energy-stable step of `attnflow_dynamics::energy_stable` on the gradient flows of [GLPR]
//! section 3: the energy never decreases over 200 steps at h = 1 and h = 10, on set-ups where RK4
//! (and, with a symmetric indefinite B = V, the paper's Euler step) break monotonicity, the observed order 1 against a fine RK4 run, the energy
//! level against the direct formula (3.5), the first proposal against the paper's Euler step (the
//! gradient and the metric weights against the engine's drift), the refusal of fields that are not
//! gradient flows, the points kept on the sphere and the work counters.

use attnflow_dynamics::{
    Configuration, DynamicsError, EnergyStable, Integrator, IntegratorKind, ModelKind, PaperEuler,
    Rk4, SelfAttention, SquareMatrix, Value, VectorField, model::AttentionHead, observables,
    sampling,
};

const N: usize = 16;
const D: usize = 3;

fn uniform_start(seed: u64) -> Configuration {
    let mut rng = sampling::stream(seed, 0, sampling::Purpose::InitialCondition);
    sampling::uniform_sphere(N, D, &mut rng).unwrap()
}

fn field(model: ModelKind, beta: f64) -> SelfAttention {
    SelfAttention::builder()
        .model(model)
        .beta(beta)
        .build()
        .unwrap()
}

/// The energy E_beta of [GLPR] (3.5) by the direct formula.
fn energy(x: &[f64], beta: f64) -> f64 {
    observables::energy(&Configuration::new(N, D, x.to_vec()).unwrap(), beta).unwrap()
}

fn max_norm_defect(x: &[f64]) -> f64 {
    x.chunks_exact(D)
        .map(|r| (r.iter().map(|v| v * v).sum::<f64>().sqrt() - 1.0).abs())
        .fold(0.0, f64::max)
}

/// A symmetric indefinite interaction (GOE, seeded) for the flows with B = V.
fn goe_interaction() -> SquareMatrix {
    let mut rng = sampling::stream(9, 0, sampling::Purpose::Matrices);
    sampling::goe(D, &mut rng).unwrap()
}

/// Largest relative decrease of the energy level over `steps` steps of `integrator` from the
/// uniform start (0 when it never decreases), or None when the scheme leaves the states the field
/// can evaluate (USA weights overflowing f64).
fn largest_energy_decrease(
    integrator: &mut dyn Integrator,
    f: &SelfAttention,
    h: f64,
    steps: usize,
) -> Option<f64> {
    let flow = f.gradient_flow().unwrap();
    let mut x = uniform_start(7).as_slice().to_vec();
    let mut e = flow.energy_level(&x, N, D).unwrap();
    let mut worst: f64 = 0.0;
    for _ in 0..steps {
        integrator.step(f, &mut x, N, D, h).ok()?;
        let next = flow.energy_level(&x, N, D).unwrap();
        worst = worst.max((e - next) / e.abs());
        e = next;
    }
    Some(worst)
}

#[test]
fn energy_never_decreases_at_large_steps() {
    for model in [ModelKind::Usa, ModelKind::Sa] {
        for beta in [4.0, 1.0] {
            for h in [1.0, 10.0] {
                let f = field(model, beta);
                let flow = f.gradient_flow().unwrap();
                let mut x = uniform_start(7).as_slice().to_vec();
                let mut step = EnergyStable::default();
                let mut level = flow.energy_level(&x, N, D).unwrap();
                let mut e = energy(&x, beta);
                let e0 = e;
                for k in 0..200 {
                    step.step(&f, &mut x, N, D, h).unwrap();
                    // exactly, for the level the step compares
                    let next_level = flow.energy_level(&x, N, D).unwrap();
                    assert!(
                        next_level >= level,
                        "{model:?} beta {beta} h {h} step {k}: level {level} -> {next_level}"
                    );
                    level = next_level;
                    // the direct formula of E agrees to its own round-off
                    let next = energy(&x, beta);
                    assert!(
                        next >= e * (1.0 - 1e-14),
                        "{model:?} beta {beta} h {h} step {k}"
                    );
                    e = next;
                    assert!(max_norm_defect(&x) <= 1e-13);
                }
                // the flow went somewhere: the energy grew towards the Dirac value e^beta / (2 beta)
                assert!(e > e0 * 1.05, "{model:?} beta {beta} h {h}: {e0} -> {e}");
                assert!(e <= beta.exp() / (2.0 * beta) * (1.0 + 1e-14));
            }
        }
    }
}

#[test]
fn explicit_schemes_break_monotonicity_where_the_energy_stable_step_does_not() {
    let usa = |beta| field(ModelKind::Usa, beta);
    let goe = goe_interaction();
    let usa_goe =
        SelfAttention::general(4.0, Some(goe.clone()), Value::Matrix(goe), ModelKind::Usa).unwrap();
    // RK4 (projected) at h = 1 on the set-ups of `energy_never_decreases_at_large_steps`: USA,
    // beta = 1 loses 40 % of the energy level in one step; USA, beta = 4 leaves the states the
    // field can evaluate (e^{beta <x_i, x_j>} beyond f64 at an unnormalised stage)
    let decrease = largest_energy_decrease(&mut Rk4::default(), &usa(1.0), 1.0, 200).unwrap();
    assert!(decrease > 0.1, "{decrease}");
    assert!(largest_energy_decrease(&mut Rk4::default(), &usa(4.0), 1.0, 200).is_none());
    // the paper's Euler step x_i <- normalize(x_i + h drift_i) is the first iterate of the
    // energy-stable step; with B = I it did not decrease E beyond round-off on any of those
    // set-ups (nor at h = 10 or beta = 9). With the symmetric indefinite B = V (GOE, USA,
    // beta = 4) it does, at h = 1
    for beta in [4.0, 1.0] {
        for model in [ModelKind::Usa, ModelKind::Sa] {
            let f = field(model, beta);
            let d = largest_energy_decrease(&mut PaperEuler::default(), &f, 1.0, 200).unwrap();
            eprintln!("paper-euler {model:?} beta {beta} h 1: largest relative decrease {d:e}");
        }
    }
    let decrease = largest_energy_decrease(&mut PaperEuler::default(), &usa_goe, 1.0, 200).unwrap();
    assert!(decrease > 1e-6, "{decrease}");
    // the energy-stable step on those three set-ups: never
    for f in [usa(1.0), usa(4.0), usa_goe] {
        let decrease = largest_energy_decrease(&mut EnergyStable::default(), &f, 1.0, 200).unwrap();
        assert_eq!(decrease, 0.0);
    }
}

/// Least-squares slope of log(error) against log(h).
fn fitted_order(hs: &[f64], errors: &[f64]) -> f64 {
    let xs: Vec<f64> = hs.iter().map(|h| h.ln()).collect();
    let ys: Vec<f64> = errors.iter().map(|e| e.ln()).collect();
    let (mx, my) = (
        xs.iter().sum::<f64>() / xs.len() as f64,
        ys.iter().sum::<f64>() / ys.len() as f64,
    );
    let num: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    num / den
}

fn run_to(
    integrator: &mut dyn Integrator,
    f: &SelfAttention,
    x0: &[f64],
    t: f64,
    steps: usize,
) -> Vec<f64> {
    let mut x = x0.to_vec();
    let h = t / steps as f64;
    for _ in 0..steps {
        integrator.step(f, &mut x, N, D, h).unwrap();
    }
    x
}

#[test]
fn observed_order_is_one() {
    let t = 1.0;
    let symmetric = {
        let mut rng = sampling::stream(3, 0, sampling::Purpose::Matrices);
        sampling::goe(D, &mut rng).unwrap().scaled(0.5)
    };
    let fields = [
        field(ModelKind::Usa, 1.0),
        field(ModelKind::Sa, 4.0),
        SelfAttention::general(
            1.0,
            Some(symmetric.clone()),
            Value::Matrix(symmetric),
            ModelKind::Sa,
        )
        .unwrap(),
    ];
    for f in &fields {
        let x0 = uniform_start(11).as_slice().to_vec();
        let reference = run_to(&mut Rk4::default(), f, &x0, t, 4000);
        let counts = [20, 40, 80, 160];
        let hs: Vec<f64> = counts.iter().map(|&k| t / k as f64).collect();
        let errors: Vec<f64> = counts
            .iter()
            .map(|&k| {
                let x = run_to(&mut EnergyStable::default(), f, &x0, t, k);
                x.iter()
                    .zip(&reference)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
            })
            .collect();
        let order = fitted_order(&hs, &errors);
        eprintln!(
            "{:?} beta {}: errors {errors:?}, order {order:.3}",
            f.model(),
            f.beta()
        );
        assert!((order - 1.0).abs() <= 0.3, "order {order}");
        // and it converges to the flow, not to another curve
        assert!(errors[3] < 0.05, "{errors:?}");
    }
}

#[test]
fn energy_level_is_an_increasing_affine_function_of_the_energy() {
    let x = uniform_start(5).as_slice().to_vec();
    // beta m <= 1: E - 1/(2 beta); beta m > 1: e^{-beta} E
    for beta in [0.5, 4.0, 30.0] {
        let flow = field(ModelKind::Sa, beta).gradient_flow().unwrap();
        let direct = energy(&x, beta);
        let from_level = flow.energy(&x, N, D).unwrap();
        assert!(
            (from_level - direct).abs() <= 1e-13 * direct,
            "beta {beta}: {from_level} vs {direct}"
        );
        let level = flow.energy_level(&x, N, D).unwrap();
        let expected = if beta <= 1.0 {
            direct - 0.5 / beta
        } else {
            (-beta).exp() * direct
        };
        assert!((level - expected).abs() <= 1e-12 * expected.abs());
    }
    // beta = 0: the limit (1/(2 n^2)) sum_ij <x_i, x_j> = |mean|^2 / 2
    let flow = field(ModelKind::Usa, 0.0).gradient_flow().unwrap();
    let mean: Vec<f64> = (0..D)
        .map(|k| x.chunks_exact(D).map(|r| r[k]).sum::<f64>() / N as f64)
        .collect();
    let half_square = 0.5 * mean.iter().map(|v| v * v).sum::<f64>();
    let level = flow.energy_level(&x, N, D).unwrap();
    assert!((level - half_square).abs() <= 1e-15);
}

#[test]
fn symmetric_interaction_with_value_equal_to_it_is_monotone() {
    let b = goe_interaction();
    for model in [ModelKind::Usa, ModelKind::Sa] {
        let f =
            SelfAttention::general(2.0, Some(b.clone()), Value::Matrix(b.clone()), model).unwrap();
        let flow = f.gradient_flow().unwrap();
        let mut x = uniform_start(2).as_slice().to_vec();
        let mut step = EnergyStable::default();
        let mut level = flow.energy_level(&x, N, D).unwrap();
        for _ in 0..50 {
            step.step(&f, &mut x, N, D, 5.0).unwrap();
            let next = flow.energy_level(&x, N, D).unwrap();
            assert!(next >= level);
            level = next;
            assert!(max_norm_defect(&x) <= 1e-13);
        }
    }
}

fn refusal(f: &SelfAttention) -> String {
    let mut x = uniform_start(1).as_slice().to_vec();
    let before = x.clone();
    let err = EnergyStable::default()
        .step(f, &mut x, N, D, 0.1)
        .unwrap_err();
    assert_eq!(x, before, "a refused step leaves the state alone");
    match err {
        DynamicsError::InvalidParameter { name, reason } => {
            assert_eq!(name, "integrator");
            assert!(reason.starts_with("energy-stable needs a gradient-flow field"));
            reason
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn fields_that_are_not_gradient_flows_are_refused() {
    let mut rng = sampling::stream(4, 0, sampling::Purpose::Matrices);
    let b = sampling::ginibre(D, &mut rng).unwrap();
    let v = sampling::ginibre(D, &mut rng).unwrap();
    let general =
        SelfAttention::general(1.0, Some(b.clone()), Value::Matrix(v), ModelKind::Sa).unwrap();
    assert!(refusal(&general).contains("V differs from B"));
    // B symmetric but V != B
    let s = b.add(&b.transpose()).unwrap();
    let other_value =
        SelfAttention::general(1.0, Some(s.clone()), Value::Identity, ModelKind::Usa).unwrap();
    assert!(refusal(&other_value).contains("V differs from B"));
    // B not symmetric, V = B
    let nonsymmetric =
        SelfAttention::general(1.0, Some(b.clone()), Value::Matrix(b), ModelKind::Usa).unwrap();
    assert!(refusal(&nonsymmetric).contains("not symmetric"));
    assert!(refusal(&field(ModelKind::Sa, 1.0).with_causal_mask()).contains("mask"));
    let two_heads = SelfAttention::multi_head(
        1.0,
        vec![
            AttentionHead::new(None, Value::Identity),
            AttentionHead::new(None, Value::Identity),
        ],
        ModelKind::Sa,
    )
    .unwrap();
    assert!(refusal(&two_heads).contains("2 heads"));
    let repulsive = SelfAttention::builder().repulsive().build().unwrap();
    assert!(refusal(&repulsive).contains("V differs from B"));
    let euclidean = SelfAttention::pure_attention(1.0, None, Value::Identity).unwrap();
    assert!(refusal(&euclidean).contains("R^d"));
    // B = I spelled as a matrix, V = I: the (SA) gradient flow
    let spelled = SelfAttention::general(
        1.0,
        Some(SquareMatrix::identity(D)),
        Value::Identity,
        ModelKind::Sa,
    )
    .unwrap();
    assert!(spelled.gradient_flow().is_ok());
    // V = B up to the round-off of a product computed elsewhere (one unit in the last place)
    let g = goe_interaction();
    let mut nudged = g.as_slice().to_vec();
    nudged[1] = f64::from_bits(nudged[1].to_bits() + 1);
    let nudged = SquareMatrix::new(D, nudged).unwrap();
    let close =
        SelfAttention::general(1.0, Some(g), Value::Matrix(nudged), ModelKind::Usa).unwrap();
    assert!(close.gradient_flow().is_ok());
}

#[test]
fn kind_name_and_work_counters() {
    let kind: IntegratorKind = serde_json::from_str("\"energy-stable\"").unwrap();
    assert_eq!(kind, IntegratorKind::EnergyStable);
    assert_eq!(kind.name(), "energy-stable");
    let built = kind.build().unwrap();
    assert_eq!((built.name(), built.order()), ("energy-stable", 1));
    assert!(EnergyStable::new(0.0).is_err());
    assert!(EnergyStable::new(f64::NAN).is_err());
    // cost per step: evaluations and accepted inner iterations at h = 0.1, 1, 10
    for model in [ModelKind::Usa, ModelKind::Sa] {
        for h in [0.1, 1.0, 10.0] {
            let f = field(model, 4.0);
            let mut step = EnergyStable::default();
            let mut x = uniform_start(7).as_slice().to_vec();
            let steps = 200;
            let mut transient = None;
            for k in 0..steps {
                step.step(&f, &mut x, N, D, h).unwrap();
                if k == 9 {
                    transient = Some(step.stats());
                }
            }
            let first = transient.unwrap();
            eprintln!(
                "{model:?} beta 4 h {h}: first 10 steps, per step {:.1} evaluations, {:.1} inner iterations",
                first.evaluations as f64 / 10.0,
                first.accepted as f64 / 10.0
            );
            let s = step.stats();
            assert_eq!(s.steps, steps);
            // one evaluation at X^k and one per trial iterate, accepted or rejected
            assert_eq!(s.evaluations, s.steps + s.accepted + s.rejected);
            // (a step can end at its start: no iterate kept the energy, stationary to round-off)
            assert!(s.accepted > 0 && s.rejected < s.evaluations);
            eprintln!(
                "{model:?} beta 4 h {h}: per step {:.1} evaluations, {:.1} inner iterations, {:.1} rejected trials; {} of {steps} steps at the iteration cap",
                s.evaluations as f64 / steps as f64,
                s.accepted as f64 / steps as f64,
                s.rejected as f64 / steps as f64,
                step.capped_steps()
            );
        }
    }
}

/// With a tolerance above every displacement the step is its first proposal
/// normalize(w_i x_i^k + h grad_i E(X^k)) with w_i = 1/n (USA) or Z_i/n^2 (SA): the paper's Euler
/// step normalize(x_i + h drift_i) with the field's own drift (same direction, another scaling of
/// the sum, so equal to round-off). This pins the gradient and the metric weights against the
/// engine's attention drift.
#[test]
fn first_proposal_is_the_paper_euler_step() {
    let goe = goe_interaction();
    let fields = [
        field(ModelKind::Usa, 4.0),
        field(ModelKind::Sa, 4.0),
        field(ModelKind::Usa, 0.5),
        SelfAttention::general(2.0, Some(goe.clone()), Value::Matrix(goe), ModelKind::Sa).unwrap(),
    ];
    for f in &fields {
        let x0 = uniform_start(3).as_slice().to_vec();
        let h = 1e-3;
        let mut euler = x0.clone();
        PaperEuler::default().step(f, &mut euler, N, D, h).unwrap();
        let mut stable = x0.clone();
        let mut step = EnergyStable::new(1.0).unwrap();
        step.step(f, &mut stable, N, D, h).unwrap();
        assert_eq!(
            step.stats().accepted,
            1,
            "{:?} beta {}",
            f.model(),
            f.beta()
        );
        let diff = euler
            .iter()
            .zip(&stable)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff <= 1e-14, "{:?} beta {}: {diff:e}", f.model(), f.beta());
        // and the step moved: h |drift| is far above round-off
        assert!(stable != x0);
    }
}

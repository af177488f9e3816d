//! Spectral summation (`attnflow_dynamics::spectral`) against the direct sums of the engine and
//! against closed forms of the Bessel coefficients.

use attnflow_dynamics::model::Mask;
use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere, uniform01};
use attnflow_dynamics::spectral::{
    CircleSeries, DEFAULT_TOL, SphereSeries, Summation, circle_angular_velocity,
};
use attnflow_dynamics::{
    DynamicsError, IntegratorKind, ModelKind, SelfAttention, Solver, SquareMatrix, Value,
    VectorField,
};

const BETAS: [f64; 5] = [0.0, 0.5, 1.0, 7.0, 20.0];

fn field(beta: f64, model: ModelKind, summation: Summation) -> SelfAttention {
    SelfAttention::builder()
        .beta(beta)
        .model(model)
        .summation(summation)
        .build()
        .unwrap()
}

/// max_i |a_i - b_i| / max_i |b_i| (entries of the velocity).
fn relative(a: &[f64], b: &[f64]) -> f64 {
    let err = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    err / scale
}

/// Uniform points, or (`clustered`) points within angle ~0.3 of 3 random centres.
fn points(n: usize, d: usize, seed: u64, clustered: bool) -> Vec<f64> {
    let mut rng = stream(seed, 0, Purpose::InitialCondition);
    let mut x = uniform_sphere(n, d, &mut rng).unwrap().as_slice().to_vec();
    if clustered {
        let centres = uniform_sphere(3, d, &mut rng).unwrap().as_slice().to_vec();
        for row in x.chunks_exact_mut(d) {
            let c = &centres[d * ((uniform01(&mut rng) * 3.0) as usize).min(2)..][..d];
            row.iter_mut().zip(c).for_each(|(a, b)| *a = b + 0.3 * *a);
            let r = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            row.iter_mut().for_each(|v| *v /= r);
        }
    }
    x
}

fn compare(d: usize, n: usize, clustered: bool) -> f64 {
    let mut worst: f64 = 0.0;
    for (s, &beta) in BETAS.iter().enumerate() {
        for model in [ModelKind::Sa, ModelKind::Usa] {
            let x = points(n, d, 10 + s as u64, clustered);
            let mut direct = vec![0.0; n * d];
            let mut spectral = vec![0.0; n * d];
            field(beta, model, Summation::Direct)
                .velocity(&x, n, d, &mut direct)
                .unwrap();
            field(beta, model, Summation::spectral())
                .velocity(&x, n, d, &mut spectral)
                .unwrap();
            let e = relative(&spectral, &direct);
            eprintln!(
                "d = {d}, n = {n}, clustered = {clustered}, beta = {beta}, {}: relative error {e:.2e}",
                model.name()
            );
            assert!(e < 1e-13, "beta = {beta}, {model:?}: {e:e}");
            worst = worst.max(e);
        }
    }
    worst
}

#[test]
fn circle_spectral_matches_direct() {
    compare(2, 300, false);
    compare(2, 300, true);
}

#[test]
fn sphere_spectral_matches_direct() {
    compare(3, 300, false);
    compare(3, 300, true);
}

#[test]
fn angular_velocity_matches_the_formula() {
    let n = 257;
    let mut rng = stream(3, 0, Purpose::InitialCondition);
    // angles far outside [0, 2 pi) too
    let theta: Vec<f64> = (0..n).map(|_| 40.0 * (uniform01(&mut rng) - 0.5)).collect();
    for beta in BETAS {
        for model in [ModelKind::Sa, ModelKind::Usa] {
            let mut v = vec![0.0; n];
            let t = circle_angular_velocity(&theta, beta, model, DEFAULT_TOL, &mut v).unwrap();
            assert!(t.tail <= DEFAULT_TOL);
            let direct: Vec<f64> = theta
                .iter()
                .map(|&ti| {
                    let (mut num, mut z) = (0.0, 0.0);
                    for &tj in &theta {
                        let w = (beta * (ti - tj).cos()).exp();
                        num += w * (tj - ti).sin();
                        z += w;
                    }
                    match model {
                        ModelKind::Usa => num / n as f64,
                        ModelKind::Sa => num / z,
                    }
                })
                .collect();
            let e = relative(&v, &direct);
            assert!(e < 1e-13, "beta = {beta}, {model:?}: {e:e}");
        }
    }
}

#[test]
fn bessel_coefficients_match_closed_forms() {
    // I_k(1) (DLMF 10.25.2, summed to 17 digits)
    let s = CircleSeries::new(1.0, 1e-15).unwrap();
    let e = 1f64.exp();
    for (k, want) in [
        1.266_065_877_752_008_4,
        0.565_159_103_992_485_1,
        0.135_747_669_767_038_3,
        0.022_168_424_924_331_9,
    ]
    .into_iter()
    .enumerate()
    {
        let got = s.scaled_bessel(k) * e;
        assert!(
            (got - want).abs() < 2e-15 * want,
            "I_{k}(1) = {got}, want {want}"
        );
    }
    // i_l(beta) = beta^l sum_k (beta^2 / 2)^k / (k! (2l + 2k + 1)!!) (DLMF 10.53.1) for small beta
    for beta in [0.5f64, 1.0] {
        let s = SphereSeries::new(beta, 1e-15).unwrap();
        for l in 0..6 {
            let (mut term, mut sum) = (beta.powi(l), 0.0);
            for j in 1..=l {
                term /= (2 * j + 1) as f64;
            }
            for k in 0..40 {
                sum += term;
                term *= beta * beta / 2.0 / (k + 1) as f64 / (2 * l + 2 * k + 3) as f64;
            }
            let want = sum * (-beta).exp();
            let got = s.scaled_bessel(l as usize);
            assert!(
                (got - want).abs() < 1e-14 * want,
                "beta = {beta}, l = {l}: {got} vs {want}"
            );
        }
    }
    // i_0, i_1, i_2 (DLMF 10.49.8), scaled by e^{-beta}
    for beta in [7.0f64, 20.0] {
        let s = SphereSeries::new(beta, 1e-15).unwrap();
        let em = (-2.0 * beta).exp();
        let (sh, ch) = ((1.0 - em) / 2.0, (1.0 + em) / 2.0); // e^{-beta} sinh, cosh
        let want = [
            sh / beta,
            (beta * ch - sh) / beta.powi(2),
            ((beta * beta + 3.0) * sh - 3.0 * beta * ch) / beta.powi(3),
        ];
        for (l, w) in want.into_iter().enumerate() {
            let got = s.scaled_bessel(l);
            // the closed forms cancel for small beta: allow their rounding
            assert!(
                (got - w).abs() < 1e-14 * w.max(1e-2),
                "beta = {beta}, l = {l}: {got} vs {w}"
            );
        }
    }
}

#[test]
fn truncation_follows_the_tolerance() {
    let n = 400;
    let x = points(n, 2, 5, false);
    let y = points(n, 3, 6, false);
    for beta in [1.0, 7.0, 20.0] {
        let mut last = (usize::MAX, usize::MAX);
        for tol in [1e-4, 1e-8, 1e-13] {
            let c = CircleSeries::new(beta, tol).unwrap().truncation();
            let s = SphereSeries::new(beta, tol).unwrap().truncation();
            assert!(c.tail <= tol && s.tail <= tol);
            // tighter tolerance: never a lower degree
            if last.0 != usize::MAX {
                assert!(c.degree >= last.0 && s.degree >= last.1);
            }
            last = (c.degree, s.degree);
            for (d, pts) in [(2, &x), (3, &y)] {
                let mut direct = vec![0.0; n * d];
                let mut spectral = vec![0.0; n * d];
                field(beta, ModelKind::Sa, Summation::Direct)
                    .velocity(pts, n, d, &mut direct)
                    .unwrap();
                field(beta, ModelKind::Sa, Summation::Spectral { tol })
                    .velocity(pts, n, d, &mut spectral)
                    .unwrap();
                let e = relative(&spectral, &direct);
                eprintln!(
                    "beta = {beta}, tol = {tol:e}, d = {d}: degree {} / {}, error {e:.2e}",
                    c.degree, s.degree
                );
                // the error is bounded by (a small multiple of) the tolerance
                assert!(e < 50.0 * tol + 1e-14, "beta {beta} tol {tol} d {d}: {e:e}");
            }
        }
        // degrees grow with beta: about sqrt(2 beta ln(1/tol)) for large beta
        assert!(last.0 >= 10 && last.1 >= 10, "{last:?}");
    }
}

#[test]
fn hostile_input_is_a_typed_error() {
    let name = |e: DynamicsError| match e {
        DynamicsError::InvalidParameter { name, .. } => name,
        other => panic!("unexpected {other:?}"),
    };
    for tol in [0.0, -1e-13, f64::NAN, f64::INFINITY, 1.0] {
        let e = SelfAttention::builder()
            .summation(Summation::Spectral { tol })
            .build()
            .unwrap_err();
        assert_eq!(name(e), "summation.tol");
        assert_eq!(
            name(CircleSeries::new(1.0, tol).unwrap_err()),
            "summation.tol"
        );
        let mut v = [0.0; 2];
        let e = circle_angular_velocity(&[0.0, 1.0], 1.0, ModelKind::Sa, tol, &mut v);
        assert_eq!(name(e.unwrap_err()), "summation.tol");
    }
    assert_eq!(
        name(SphereSeries::new(f64::NAN, 1e-13).unwrap_err()),
        "beta"
    );
    assert_eq!(name(CircleSeries::new(-1.0, 1e-13).unwrap_err()), "beta");
    // NaN angle, wrong lengths, no particle
    let mut v = [0.0; 2];
    assert!(matches!(
        circle_angular_velocity(&[0.0, f64::NAN], 1.0, ModelKind::Sa, 1e-13, &mut v),
        Err(DynamicsError::InvalidConfiguration(_))
    ));
    assert!(circle_angular_velocity(&[0.0], 1.0, ModelKind::Sa, 1e-13, &mut v).is_err());
    assert!(circle_angular_velocity(&[], 1.0, ModelKind::Sa, 1e-13, &mut []).is_err());
    // fields the series do not cover
    let spectral = || SelfAttention::builder().summation(Summation::spectral());
    let refused = [
        spectral().mask(Mask::Causal).build(),
        spectral()
            .head(
                Some(SquareMatrix::diagonal(&[1.0, 2.0])),
                None,
                Value::Identity,
            )
            .build(),
        spectral()
            .head(None, None, Value::Identity)
            .head(None, None, Value::Identity)
            .build(),
        spectral().euclidean().build(),
    ];
    for r in refused {
        assert_eq!(name(r.unwrap_err()), "summation");
    }
    // d = 4 at evaluation; a NaN point
    let f = field(1.0, ModelKind::Sa, Summation::spectral());
    let mut out = vec![0.0; 8];
    assert_eq!(
        name(
            f.velocity(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], 2, 4, &mut out)
                .unwrap_err()
        ),
        "summation"
    );
    let mut out = vec![0.0; 4];
    assert!(matches!(
        f.velocity(&[1.0, 0.0, f64::NAN, 1.0], 2, 2, &mut out),
        Err(DynamicsError::InvalidConfiguration(_))
    ));
    // USA overflow as in the direct sum
    let usa = field(800.0, ModelKind::Usa, Summation::spectral());
    assert!(matches!(
        usa.velocity(&[1.0, 0.0, 0.0, 1.0], 2, 2, &mut out),
        Err(DynamicsError::WeightOverflow { .. })
    ));
}

#[test]
fn scalar_multiples_of_the_identity() {
    let (n, d) = (200, 3);
    let x = points(n, d, 8, false);
    let b = SquareMatrix::diagonal(&[2.0; 3]);
    let v = Value::Matrix(SquareMatrix::diagonal(&[-0.5; 3]));
    let build = |s| {
        SelfAttention::builder()
            .beta(1.5)
            .head_interaction(Some(b.clone()), v.clone())
            .summation(s)
            .build()
            .unwrap()
    };
    let (mut a, mut c) = (vec![0.0; n * d], vec![0.0; n * d]);
    build(Summation::Direct).velocity(&x, n, d, &mut a).unwrap();
    build(Summation::spectral())
        .velocity(&x, n, d, &mut c)
        .unwrap();
    assert!(relative(&c, &a) < 1e-13);
}

#[test]
fn same_bits_with_one_or_several_threads() {
    let n = 10_000; // several chunks
    for d in [2, 3] {
        let x = points(n, d, 9, true);
        let f = field(7.0, ModelKind::Sa, Summation::spectral());
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut out = vec![0.0; n * d];
                f.velocity(&x, n, d, &mut out).unwrap();
                out
            })
        };
        let one = run(1);
        for threads in [2, 3, 4] {
            let many = run(threads);
            assert!(
                one.iter()
                    .zip(&many)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "d = {d}, {threads} threads"
            );
        }
    }
}

#[test]
fn trajectories_agree() {
    // RKMK4 on S^1 and S^2: spectral and direct trajectories stay within round-off
    for d in [2, 3] {
        let n = 64;
        let x0 = attnflow_dynamics::Configuration::new(n, d, points(n, d, 11, false)).unwrap();
        let run = |s| {
            let f = field(4.0, ModelKind::Usa, s);
            // a Lie-group integrator evaluates the field on the sphere only, where both agree
            let stepper = IntegratorKind::Rkmk4.stepper_for(&f).unwrap();
            let mut solver = Solver::new(&f, stepper, &x0, 0.01).unwrap();
            solver.advance_to_step(200).unwrap();
            solver.state().as_slice().to_vec()
        };
        let (a, b) = (run(Summation::Direct), run(Summation::spectral()));
        let e = a
            .iter()
            .zip(&b)
            .map(|(u, v)| (u - v).abs())
            .fold(0.0, f64::max);
        eprintln!("d = {d}: trajectories differ by {e:.2e}");
        assert!(e < 1e-11, "d = {d}: {e:e}");
    }
}

//! Conventions a transposition, a sign or a normalisation could flip silently, checked against something
//! independent of the code under test: steps computed by hand with explicit numbers, finite-difference
//! derivatives of the energy, closed forms.
//!
//! - [BKKRW] scheme (tfdy.md section 1): x_i <- normalize(x_i - sgn (tau/n) sum_j exp(x_i^T D x_j) D x_j),
//!   sgn = -1 ascent, +1 descent; its velocity is (n/2) grad E_code (ascent) / -(n/2) grad E_code (descent)
//!   with E_code(X) = (1/n^2) sum_ij exp(x_i^T D x_j) = 2 E(mu_n);
//! - the extremal energies e^{lambda_max} (M1) and cosh|lambda_min| (M2) are energies of explicit states;
//! - the circle reduction ([GLPR] (7.1)) equals the sphere model at d = 2, and the circle energy (7.4) is
//!   the sphere energy (3.5) of the same points.

use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{Configuration, SelfAttention, SquareMatrix, VectorField};
use attnflow_kuramoto::circle::CircleModel;
use attnflow_kuramoto::surrogate::{
    Direction, RunParams, check_m1, check_m2, energy_code, run_scheme, scheme_field,
};
use std::f64::consts::{E, FRAC_PI_2};

fn random_config(n: usize, d: usize, seed: u64) -> Configuration {
    uniform_sphere(n, d, &mut stream(seed, 0, Purpose::Other(77))).unwrap()
}

/// Moves particle i along the great circle through x_i with unit tangent u by angle h (other rows fixed).
fn move_one(x: &Configuration, i: usize, u: &[f64], h: f64) -> Configuration {
    let (n, d) = (x.n(), x.d());
    let mut y = x.as_slice().to_vec();
    let (s, c) = h.sin_cos();
    for k in 0..d {
        y[i * d + k] = c * x.row(i)[k] + s * u[k];
    }
    Configuration::new(n, d, y).unwrap()
}

/// One [BKKRW] step for D = [[1, 1/2], [1/2, 2]] from x_1 = e_1, x_2 = e_2, n = 2, tau = 0.1, computed by
/// hand: x_1^T D x_1 = 1, x_1^T D x_2 = 1/2, x_2^T D x_2 = 2, D e_1 = (1, 1/2), D e_2 = (1/2, 2), so for
/// ascent y_1 = e_1 + 0.05 (e (1, 1/2) + e^{1/2} (1/2, 2)), y_2 = e_2 + 0.05 (e^{1/2} (1, 1/2) + e^2 (1/2, 2)),
/// then normalised (descent: minus signs). The literals below were evaluated separately (Python, math.exp).
#[test]
fn bkkrw_step_matches_hand_computation() {
    let d_mat = SquareMatrix::new(2, vec![1.0, 0.5, 0.5, 2.0]).unwrap();
    let x0 = Configuration::new(2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
    let cases = [
        (
            Direction::Ascent,
            [
                0.9809947150347774,
                0.19403445331650745,
                0.14841864587210557,
                0.9889246207661586,
            ],
        ),
        (
            Direction::Descent,
            [
                0.9622238037443714,
                -0.2722597133395124,
                -0.7721284538613636,
                0.6354664827806893,
            ],
        ),
    ];
    for (dir, expected) in cases {
        let x1 = run_scheme(&d_mat, dir, &x0, 0.1, 1).unwrap();
        for (a, b) in x1.as_slice().iter().zip(&expected) {
            assert!(
                (a - b).abs() < 1e-14,
                "{dir:?}: {:?} vs {expected:?}",
                x1.as_slice()
            );
        }
    }
    // the same numbers from the symbolic hand formula (guards the literals)
    let y1 = [
        1.0 + 0.05 * (E + 0.5 * E.sqrt()),
        0.05 * (0.5 * E + 2.0 * E.sqrt()),
    ];
    let r = y1[0].hypot(y1[1]);
    assert!((y1[0] / r - 0.9809947150347774).abs() < 1e-15);
    // a non-symmetric D is rejected, so "which side D acts on" cannot arise in the surrogate models
    let nonsym = SquareMatrix::new(2, vec![1.0, 0.3, -0.3, 2.0]).unwrap();
    assert!(scheme_field(&nonsym, Direction::Ascent).is_err());
    assert!(run_scheme(&nonsym, Direction::Ascent, &x0, 0.1, 1).is_err());
    assert!(energy_code(&x0, &nonsym).is_err());
}

/// The scheme's velocity is +-(n/2) times the spherical gradient of E_code, the gradient measured by central
/// finite differences of E_code along great circles (each particle, each tangent direction): pins the sign
/// (ascent = +), the factor 1/n of the scheme against 1/n^2 of E_code (factor n/2, the 2 from the symmetric
/// pair sum), and D x_j (not x_j, not D^2 x_j).
#[test]
fn bkkrw_velocity_is_half_n_times_the_gradient_of_e_code() {
    let (n, d) = (5, 3);
    let d_mat = SquareMatrix::new(3, vec![0.8, -0.4, 0.3, -0.4, -1.1, 0.6, 0.3, 0.6, 0.5]).unwrap();
    let x = random_config(n, d, 3);
    let h = 1e-5;
    for (dir, sign) in [(Direction::Ascent, 1.0), (Direction::Descent, -1.0)] {
        let field = scheme_field(&d_mat, dir).unwrap();
        let mut v = vec![0.0; n * d];
        field.velocity(x.as_slice(), n, d, &mut v).unwrap();
        for i in 0..n {
            let xi = x.row(i);
            // velocity is tangent
            let radial: f64 = (0..d).map(|k| xi[k] * v[i * d + k]).sum();
            assert!(radial.abs() < 1e-14);
            // gradient component along each projected basis vector
            for basis in 0..d {
                let mut u: Vec<f64> = (0..d).map(|k| f64::from(k == basis)).collect();
                let c: f64 = (0..d).map(|k| u[k] * xi[k]).sum();
                u.iter_mut().zip(xi).for_each(|(uk, xk)| *uk -= c * xk);
                let norm = u.iter().map(|a| a * a).sum::<f64>().sqrt();
                u.iter_mut().for_each(|uk| *uk /= norm);
                let fd = (energy_code(&move_one(&x, i, &u, h), &d_mat).unwrap()
                    - energy_code(&move_one(&x, i, &u, -h), &d_mat).unwrap())
                    / (2.0 * h);
                let vel_u: f64 = (0..d).map(|k| v[i * d + k] * u[k]).sum();
                let predicted = sign * 0.5 * n as f64 * fd;
                assert!(
                    (vel_u - predicted).abs() < 1e-8,
                    "{dir:?} particle {i} direction {basis}: velocity {vel_u} vs (n/2) dE {predicted}"
                );
            }
        }
    }
}

/// One small ascent step raises E_code by tau (2/n) sum_i ||v_i||^2 to first order, one descent step lowers it
/// by the same amount.
#[test]
fn one_step_moves_e_code_in_the_scheme_direction() {
    let (n, d) = (6, 3);
    let d_mat = SquareMatrix::diagonal(&[1.0, -0.5, 2.0]);
    let x = random_config(n, d, 4);
    let e0 = energy_code(&x, &d_mat).unwrap();
    let tau = 1e-4;
    for (dir, sign) in [(Direction::Ascent, 1.0), (Direction::Descent, -1.0)] {
        let mut v = vec![0.0; n * d];
        scheme_field(&d_mat, dir)
            .unwrap()
            .velocity(x.as_slice(), n, d, &mut v)
            .unwrap();
        let speed2: f64 = v.iter().map(|a| a * a).sum();
        let e1 = energy_code(&run_scheme(&d_mat, dir, &x, tau, 1).unwrap(), &d_mat).unwrap();
        let predicted = sign * tau * 2.0 / n as f64 * speed2;
        assert!(
            (e1 - e0 - predicted).abs() < 1e-3 * predicted.abs(),
            "{dir:?}: dE = {} vs {predicted}",
            e1 - e0
        );
    }
}

/// E_code(X) = (1/n^2) sum_ij exp(x_i^T D x_j) = 2 E(mu_n) with E(mu) = (1/2) iint exp(<x, D y>) dmu dmu; for
/// D = beta I this is 2 beta E_beta(X) of [GLPR] (3.5) ((1/(2 beta n^2)) sum_ij e^{beta <x_i, x_j>}).
#[test]
fn e_code_is_twice_the_mean_field_energy() {
    let (n, d) = (7, 3);
    let x = random_config(n, d, 5);
    for beta in [0.5, 1.0, 2.5] {
        let code = energy_code(&x, &SquareMatrix::identity(d).scaled(beta)).unwrap();
        let glpr = attnflow_energy::particle::particle_energy(x.as_slice(), n, d, beta).unwrap();
        assert!(
            (code - 2.0 * beta * glpr).abs() < 1e-13 * code,
            "beta {beta}"
        );
    }
    // explicit: two orthogonal points, D = diag(2, -1): (e^2 + e^{-1} + 2 e^0) / 4
    let x = Configuration::new(2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
    let e = energy_code(&x, &SquareMatrix::diagonal(&[2.0, -1.0])).unwrap();
    assert!((e - (2f64.exp() + (-1f64).exp() + 2.0) / 4.0).abs() < 1e-15);
}

/// The predicted maxima of M1 (e^{lambda_max}) and M2 (cosh|lambda_min|) are the energies of the explicit
/// extremal states (Dirac at a top eigenvector; the balanced pair at +-w, w a bottom eigenvector), and no
/// random configuration beats them. Catches e.g. cosh <-> exp or lambda_min <-> lambda_max.
#[test]
fn m1_m2_predictions_are_energies_of_the_extremal_states() {
    let rp = RunParams {
        n: 3,
        steps: 1,
        tau: 0.1,
        seed: 1,
        realisation: 0,
        delta: 1e-3,
    };
    // M1: D = diag(1, 3, 4): Dirac at e3 has e^4
    let d1 = SquareMatrix::diagonal(&[1.0, 3.0, 4.0]);
    let p1 = check_m1(&d1, &rp).unwrap().predicted;
    let dirac = Configuration::new(2, 3, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
    assert!((p1 - energy_code(&dirac, &d1).unwrap()).abs() < 1e-13 * p1);
    // M2: D = diag(-1, -3, -4): pair at +-e3 has cosh 4, far above the Dirac at e3 (e^{-4})
    let d2 = SquareMatrix::diagonal(&[-1.0, -3.0, -4.0]);
    let p2 = check_m2(&d2, &rp).unwrap().predicted;
    let pair = Configuration::new(2, 3, vec![0.0, 0.0, 1.0, 0.0, 0.0, -1.0]).unwrap();
    assert!((p2 - energy_code(&pair, &d2).unwrap()).abs() < 1e-13 * p2);
    assert!((p2 - 4f64.cosh()).abs() < 1e-13 * p2);
    assert!(energy_code(&dirac, &d2).unwrap() < 0.01 * p2);
    for seed in 0..50 {
        let y = random_config(6, 3, 100 + seed);
        assert!(energy_code(&y, &d1).unwrap() <= p1);
        assert!(energy_code(&y, &d2).unwrap() <= p2);
    }
}

/// [GLPR] (7.1) by hand for theta = (0, pi/2), beta = 1: USA thetadot = (1/2, -1/2) (attraction: particle 1
/// turns towards particle 2), SA thetadot = (1/(e+1), -1/(e+1)); the engine's sphere velocity at d = 2 projected
/// on (-sin theta_i, cos theta_i) gives the same, also at random angles (velocity level; the trajectory level is
/// `circle::tests::angle_rk4_matches_engine_on_the_circle`).
#[test]
fn circle_velocity_equals_sphere_velocity_at_d_2() {
    let theta = [0.0, FRAC_PI_2];
    let hand_usa = [0.5, -0.5];
    let hand_sa = [1.0 / (E + 1.0), -1.0 / (E + 1.0)];
    let mut out = [0.0; 2];
    CircleModel::Usa { beta: 1.0 }
        .velocity(&theta, &mut out)
        .unwrap();
    assert!((out[0] - hand_usa[0]).abs() < 1e-15 && (out[1] - hand_usa[1]).abs() < 1e-15);
    CircleModel::Sa { beta: 1.0 }
        .velocity(&theta, &mut out)
        .unwrap();
    assert!((out[0] - hand_sa[0]).abs() < 1e-15 && (out[1] - hand_sa[1]).abs() < 1e-15);

    let tangential = |field: &SelfAttention, th: &[f64]| -> Vec<f64> {
        let n = th.len();
        let x = Configuration::from_angles(th).unwrap();
        let mut v = vec![0.0; 2 * n];
        field.velocity(x.as_slice(), n, 2, &mut v).unwrap();
        (0..n)
            .map(|i| -th[i].sin() * v[2 * i] + th[i].cos() * v[2 * i + 1])
            .collect()
    };
    let t = tangential(&SelfAttention::usa(1.0).unwrap(), &theta);
    assert!((t[0] - hand_usa[0]).abs() < 1e-15 && (t[1] - hand_usa[1]).abs() < 1e-15);
    let t = tangential(&SelfAttention::sa(1.0).unwrap(), &theta);
    assert!((t[0] - hand_sa[0]).abs() < 1e-15 && (t[1] - hand_sa[1]).abs() < 1e-15);

    let th = [0.3, -2.1, 1.4, 2.9, -0.6, 0.35];
    for beta in [0.0, 1.7, 5.0] {
        for (model, field) in [
            (CircleModel::Usa { beta }, SelfAttention::usa(beta).unwrap()),
            (CircleModel::Sa { beta }, SelfAttention::sa(beta).unwrap()),
        ] {
            let mut a = vec![0.0; th.len()];
            model.velocity(&th, &mut a).unwrap();
            let b = tangential(&field, &th);
            for i in 0..th.len() {
                assert!(
                    (a[i] - b[i]).abs() < 1e-13 * beta.exp(),
                    "{model:?} i {i}: {} vs {}",
                    a[i],
                    b[i]
                );
            }
        }
    }
}

/// The circle energy (7.4) is the sphere energy (3.5) of the points (cos theta_i, sin theta_i), and at
/// theta = (0, pi/2) it is (2 e^beta + 2) / (8 beta).
#[test]
fn circle_energy_is_the_sphere_energy() {
    use attnflow_kuramoto::landscape::energy;
    let beta = 1.3;
    let e = energy(&[0.0, FRAC_PI_2], beta).unwrap();
    assert!((e - (2.0 * beta.exp() + 2.0) / (8.0 * beta)).abs() < 1e-15);
    let th = [0.3, -2.1, 1.4, 2.9, -0.6];
    let x = Configuration::from_angles(&th).unwrap();
    let sphere = attnflow_energy::particle::particle_energy(x.as_slice(), 5, 2, beta).unwrap();
    assert!((energy(&th, beta).unwrap() - sphere).abs() < 1e-14 * sphere);
}

//! The energy identities of [GLPR] section 3 checked along real flows of attnflow-dynamics (RK4 + projection):
//! (3.11) USA velocity = n grad E; dE/dt along USA = (1/n) sum ||xdot||^2 and along SA = (1/n^2) sum Z_i ||xdot||^2
//! against central finite differences of the measured energy; energy decrease for V = -I; section 3.4
//! (SA with symmetric V = Q^T K is Z_i^{-1} d_i E); Thm 6.8 (orthogonal start tracks gamma(t));
//! Thm 6.7 by Monte Carlo with the project's seeded uniform sampler.

use attnflow_dynamics::sampling::{self, Purpose};
use attnflow_dynamics::{
    Configuration, ModelKind, Rk4, SelfAttention, Value, VectorField, integrate, observables,
};
use attnflow_energy::{equiangular, particle, wendel};

fn uniform(n: usize, d: usize, seed: u64) -> Configuration {
    let mut rng = sampling::stream(seed, 0, Purpose::InitialCondition);
    sampling::uniform_sphere(n, d, &mut rng).unwrap()
}

/// Integrates with RK4 (step dt) and returns the states at every step.
fn trajectory(field: &dyn VectorField, x0: &Configuration, dt: f64, steps: usize) -> Vec<Vec<f64>> {
    let mut states = Vec::with_capacity(steps + 1);
    let mut rk4 = Rk4::default();
    integrate(field, &mut rk4, x0, dt, steps, |_, _, x| {
        states.push(x.to_vec())
    })
    .unwrap();
    states
}

/// Compares the predicted dE/dt with a central finite difference of the energy along the trajectory.
fn check_rates(
    field: &dyn VectorField,
    beta: f64,
    x0: &Configuration,
    predicted: &dyn Fn(&[f64], &[f64]) -> f64,
) {
    let (n, d) = (x0.n(), x0.d());
    let dt = 1e-3;
    let states = trajectory(field, x0, dt, 400);
    let energy = |x: &[f64]| particle::particle_energy(x, n, d, beta).unwrap();
    for k in [50usize, 150, 250, 399] {
        let fd = (energy(&states[k + 1]) - energy(&states[k - 1])) / (2.0 * dt);
        let mut v = vec![0.0; n * d];
        field.velocity(&states[k], n, d, &mut v).unwrap();
        let rate = predicted(&states[k], &v);
        let chain = particle::energy_rate(&states[k], n, d, beta, &v).unwrap();
        // Central difference error ~ dt^2 E''' / 6.
        assert!(
            (fd - rate).abs() < 1e-6 * rate.abs().max(1e-3),
            "step {k}: finite difference {fd} vs formula {rate}"
        );
        assert!(
            (chain - rate).abs() < 1e-12 * rate.abs().max(1e-12),
            "step {k}: chain rule {chain} vs {rate}"
        );
    }
    // Monotone increase of the measured energy.
    let e: Vec<f64> = states.iter().map(|x| energy(x)).collect();
    assert!(
        e.windows(2).all(|w| w[1] >= w[0] - 1e-14),
        "energy must not decrease"
    );
}

#[test]
fn usa_is_gradient_ascent_and_energy_rate_matches() {
    let (n, d, beta) = (8, 3, 1.5);
    let x0 = uniform(n, d, 1);
    let usa = SelfAttention::usa(beta).unwrap();
    let mut v = vec![0.0; n * d];
    usa.velocity(x0.as_slice(), n, d, &mut v).unwrap();
    let mut g = vec![0.0; n * d];
    particle::energy_gradient(x0.as_slice(), n, d, beta, &mut g).unwrap();
    for (a, b) in v.iter().zip(&g) {
        assert!((a - n as f64 * b).abs() < 1e-14, "(3.11): {a} vs n * {b}");
    }
    // The crate's particle energy agrees with the dynamics observable.
    let e_dyn = observables::energy(&x0, beta).unwrap();
    let e = particle::particle_energy(x0.as_slice(), n, d, beta).unwrap();
    assert!((e - e_dyn).abs() < 1e-14 * e);
    check_rates(&usa, beta, &x0, &|_, v| {
        particle::usa_energy_rate(v, n, d).unwrap()
    });
}

#[test]
fn sa_energy_rate_matches_finite_differences() {
    let (n, d, beta) = (10, 4, 2.0);
    let x0 = uniform(n, d, 2);
    let sa = SelfAttention::sa(beta).unwrap();
    check_rates(&sa, beta, &x0, &|x, v| {
        particle::sa_energy_rate(x, n, d, beta, v).unwrap()
    });
}

#[test]
fn repulsive_dynamics_decreases_the_energy() {
    let (n, d, beta) = (6, 3, 1.0);
    let x0 = uniform(n, d, 3);
    let field = SelfAttention::general(beta, None, Value::NegIdentity, ModelKind::Sa).unwrap();
    let dt = 1e-3;
    let states = trajectory(&field, &x0, dt, 300);
    let energy = |x: &[f64]| particle::particle_energy(x, n, d, beta).unwrap();
    for k in [20usize, 150, 299] {
        let mut v = vec![0.0; n * d];
        field.velocity(&states[k], n, d, &mut v).unwrap();
        let rate = particle::energy_rate(&states[k], n, d, beta, &v).unwrap();
        let fd = (energy(&states[k + 1]) - energy(&states[k - 1])) / (2.0 * dt);
        assert!(rate < 0.0, "V = -I must decrease E (rate {rate})");
        assert!(
            (fd - rate).abs() < 1e-6 * rate.abs().max(1e-3),
            "{fd} vs {rate}"
        );
    }
}

#[test]
fn section_3_4_metric_gradient_equals_general_sa() {
    let (n, d, beta) = (7, 3, 0.9);
    let x0 = uniform(n, d, 4);
    let mut rng = sampling::stream(4, 0, Purpose::Matrices);
    let v = sampling::goe(d, &mut rng).unwrap().scaled(0.5);
    let field = SelfAttention::general(
        beta,
        Some(v.clone()),
        Value::Matrix(v.clone()),
        ModelKind::Sa,
    )
    .unwrap();
    let mut sa = vec![0.0; n * d];
    field.velocity(x0.as_slice(), n, d, &mut sa).unwrap();
    let mut metric = vec![0.0; n * d];
    particle::metric_gradient_velocity(x0.as_slice(), n, d, beta, v.as_slice(), &mut metric)
        .unwrap();
    for (a, b) in sa.iter().zip(&metric) {
        assert!((a - b).abs() < 1e-13, "SA {a} vs Z^-1 grad E {b}");
    }
}

#[test]
fn orthogonal_start_tracks_the_equiangular_solution() {
    let (n, d) = (5, 6);
    let x0 = Configuration::orthonormal(n, d).unwrap();
    for (model, beta) in [(ModelKind::Sa, 2.0), (ModelKind::Usa, 1.0)] {
        let field = match model {
            ModelKind::Sa => SelfAttention::sa(beta).unwrap(),
            ModelKind::Usa => SelfAttention::usa(beta).unwrap(),
        };
        let dt = 0.01;
        let states = trajectory(&field, &x0, dt, 200);
        for k in [50usize, 200] {
            let gamma = equiangular::gamma_at(model, n, beta, 0.0, k as f64 * dt).unwrap();
            let cfg = Configuration::new(n, d, states[k].clone()).unwrap();
            let gram = cfg.gram();
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        assert!(
                            (gram[i * n + j] - gamma).abs() < 1e-8,
                            "{model:?} t = {}: {} vs {gamma}",
                            k as f64 * dt,
                            gram[i * n + j]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn wendel_monte_carlo_with_project_sampler() {
    for &(n, d, seed) in &[(6usize, 3usize, 21u64), (9, 4, 22)] {
        let est = wendel::hemisphere_monte_carlo(n, d, 1500, |trial, x| {
            let mut rng = sampling::stream(seed, trial as u64, Purpose::InitialCondition);
            x.copy_from_slice(sampling::uniform_sphere(n, d, &mut rng).unwrap().as_slice());
            Ok(())
        })
        .unwrap();
        let p = wendel::wendel_probability(n, d).unwrap();
        let se = (p * (1.0 - p) / est.trials as f64).sqrt();
        assert!(
            (est.probability - p).abs() < 4.0 * se,
            "n {n} d {d}: {} vs {p}",
            est.probability
        );
    }
}

//! The equiangular ODEs of `attnflow_energy::normalization` against the engine's particle system
//! (the normalised attention field, RK4) started from exactly equiangular tokens.

use attnflow_dynamics::{Configuration, ModelKind, Normalization, SelfAttention};
use attnflow_energy::normalization::{particle_run, trajectory};

/// th_i = sqrt(1 - rho) e_i + sqrt(rho) e_n in R^{n+1}: unit vectors with all cosines rho >= 0.
fn equiangular(n: usize, rho: f64) -> Configuration {
    let d = n + 1;
    let mut data = vec![0.0; n * d];
    for i in 0..n {
        data[i * d + i] = (1.0 - rho).sqrt();
        data[i * d + n] = rho.sqrt();
    }
    Configuration::normalized(n, d, data).unwrap()
}

#[test]
fn particles_from_an_equiangular_start_follow_the_reduced_odes() {
    // RK4 at dt = 1e-3 on both sides: the discretisation errors are ~1e-13, so the tolerance 1e-9 on
    // max_t |rho_particles - rho_ode| (and on the radius) measures the reduction itself
    let (dt, per, samples) = (1e-3, 100, 40); // t in [0, 4]
    for norm in [
        Normalization::PostLn,
        Normalization::PreLn,
        Normalization::PeriLn,
        Normalization::Ngpt,
    ] {
        for (n, beta, rho0, r0) in [(6, 1.0, 0.0, 1.0), (5, 3.0, 0.3, 0.5)] {
            let field = SelfAttention::builder()
                .beta(beta)
                .model(ModelKind::Sa)
                .normalization(norm)
                .build()
                .unwrap();
            let start = equiangular(n, rho0);
            let particles = particle_run(&field, &start, r0, dt, per, samples).unwrap();
            let ode = trajectory(norm, ModelKind::Sa, n, beta, rho0, r0, 4.0, samples, dt).unwrap();
            let mut worst: f64 = 0.0;
            for (p, o) in particles.iter().zip(&ode) {
                worst = worst
                    .max((p.mean - o.rho()).abs())
                    .max((p.min - o.rho()).abs())
                    .max((p.max - o.rho()).abs())
                    .max(if norm.carries_radii() {
                        (p.radius - o.radius).abs()
                    } else {
                        (p.radius - 1.0).abs()
                    });
            }
            assert_eq!(particles.len(), ode.len());
            assert!(worst < 1e-9, "{norm:?} n={n} beta={beta}: {worst:e}");
            // and the flow did move: rho rose by a visible amount
            assert!(ode[samples].rho() > rho0 + 0.1, "{norm:?}");
        }
    }
}

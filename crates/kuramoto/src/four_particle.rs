//! The four-particle system of \[BKKRW\] m4 (spec tfdy.md section 2): D = diag(d1, d2) in 2-D, particles at
//! (+-a, +-b) with a^2 + b^2 = 1. Averaging over the independent signs gives the closed form
//!
//!   E_code = cosh(d1 a^2) cosh(d2 b^2),
//!
//! whose minimiser over u = a^2 in [0, 1] (d1, d2 > 0) is the unique root of the tanh law
//!
//!   d1 tanh(d1 a^2) = d2 tanh(d2 b^2)
//!
//! (the left side increases and the right side decreases in u; solved by Brent's method from attnflow-energy).
//! The flow is the \[BKKRW\] descent scheme from the square rotated by pi/4 (engine paper Euler, see
//! [`crate::surrogate::run_scheme`]); with tau = 0.05 it becomes unstable for d2 >= 6 (the first step
//! overshoots onto the maximum-energy axis +-e2), with tau = 0.0005 it converges to the tanh-law minimiser.

use crate::error::{Result, check_positive, invalid};
use crate::surrogate::{Direction, energy_code, run_scheme};
use attnflow_dynamics::{Configuration, SquareMatrix};

/// E_code = cosh(d1 a^2) cosh(d2 (1 - a^2)) of the four particles (+-a, +-b).
pub fn closed_form_energy(d1: f64, d2: f64, a2: f64) -> f64 {
    (d1 * a2).cosh() * (d2 * (1.0 - a2)).cosh()
}

/// The minimiser a^2 of the closed form: the root of d1 tanh(d1 u) - d2 tanh(d2 (1 - u)) on [0, 1] (d1, d2 > 0).
pub fn tanh_law_minimiser(d1: f64, d2: f64) -> Result<f64> {
    check_positive("d1", d1)?;
    check_positive("d2", d2)?;
    let h = |u: f64| -> std::result::Result<f64, attnflow_energy::EnergyError> {
        Ok(d1 * (d1 * u).tanh() - d2 * (d2 * (1.0 - u)).tanh())
    };
    attnflow_energy::numerics::brent_root(&h, 0.0, 1.0, 1e-15)
        .map_err(|e| invalid("tanh law", e.to_string()))
}

/// The starting square rotated by pi/4: (+-1/sqrt 2, +-1/sqrt 2).
pub fn rotated_square() -> Result<Configuration> {
    use std::f64::consts::PI;
    Ok(Configuration::from_angles(&[
        PI / 4.0,
        3.0 * PI / 4.0,
        5.0 * PI / 4.0,
        7.0 * PI / 4.0,
    ])?)
}

/// Terminal state of one descent run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FourParticleRun {
    pub tau: f64,
    pub steps: usize,
    /// Final positions, row-major 4 x 2.
    pub positions: Vec<f64>,
    /// Mean of x_{i1}^2 (= a^2 while the four-fold symmetry holds).
    pub a2: f64,
    /// Final E_code.
    pub energy: f64,
    /// max_i |x_{i1}^2 - a2|: loss of the four-fold symmetry.
    pub symmetry_defect: f64,
}

/// Descent scheme for D = diag(d1, d2) from the rotated square.
pub fn run_four_particles(d1: f64, d2: f64, tau: f64, steps: usize) -> Result<FourParticleRun> {
    let d_mat = SquareMatrix::diagonal(&[d1, d2]);
    let x = run_scheme(&d_mat, Direction::Descent, &rotated_square()?, tau, steps)?;
    let sq: Vec<f64> = (0..4).map(|i| x.row(i)[0].powi(2)).collect();
    let a2 = sq.iter().sum::<f64>() / 4.0;
    Ok(FourParticleRun {
        tau,
        steps,
        a2,
        energy: energy_code(&x, &d_mat)?,
        symmetry_defect: sq.iter().map(|s| (s - a2).abs()).fold(0.0, f64::max),
        positions: x.into_vec(),
    })
}

/// Parameters of the bkkrw-fig4 study.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FourParticleParams {
    pub d1: f64,
    pub d2_values: Vec<f64>,
    pub steps: usize,
    pub tau_stable: f64,
    pub tau_unstable: f64,
}

impl FourParticleParams {
    /// The paper's values: d1 = 1, d2 in {0.5, 1, ..., 10}, 10000 steps, tau = 0.0005 and 0.05.
    pub fn paper() -> Self {
        Self {
            d1: 1.0,
            d2_values: (1..=20).map(|k| 0.5 * k as f64).collect(),
            steps: 10_000,
            tau_stable: 0.0005,
            tau_unstable: 0.05,
        }
    }
}

/// Result at one d2.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FourParticleResult {
    pub d2: f64,
    /// Tanh-law minimiser a^2 and its closed-form energy.
    pub predicted_a2: f64,
    pub predicted_energy: f64,
    pub stable: FourParticleRun,
    pub unstable: FourParticleRun,
}

/// Runs the study (bkkrw-fig4).
pub fn four_particle_study(p: &FourParticleParams) -> Result<Vec<FourParticleResult>> {
    p.d2_values
        .iter()
        .map(|&d2| {
            let a2 = tanh_law_minimiser(p.d1, d2)?;
            Ok(FourParticleResult {
                d2,
                predicted_a2: a2,
                predicted_energy: closed_form_energy(p.d1, d2, a2),
                stable: run_four_particles(p.d1, d2, p.tau_stable, p.steps)?,
                unstable: run_four_particles(p.d1, d2, p.tau_unstable, p.steps)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_input() {
        assert!(tanh_law_minimiser(0.0, 1.0).is_err());
        assert!(tanh_law_minimiser(1.0, f64::NAN).is_err());
        assert!(run_four_particles(1.0, 2.0, -0.1, 10).is_err());
    }

    #[test]
    fn closed_form_matches_particle_energy() {
        let (d1, d2, a2): (f64, f64, f64) = (1.0, 3.0, 0.3);
        let (a, b) = (a2.sqrt(), (1.0 - a2).sqrt());
        let x = Configuration::new(4, 2, vec![a, b, -a, b, a, -b, -a, -b]).unwrap();
        let e = energy_code(&x, &SquareMatrix::diagonal(&[d1, d2])).unwrap();
        assert!((e - closed_form_energy(d1, d2, a2)).abs() < 1e-13);
    }

    #[test]
    fn tanh_law_root_minimises_closed_form() {
        for d2 in [0.5, 1.0, 2.0, 8.0] {
            let u = tanh_law_minimiser(1.0, d2).unwrap();
            assert!((1.0 * (1.0 * u).tanh() - d2 * (d2 * (1.0 - u)).tanh()).abs() < 1e-12);
            let e = closed_form_energy(1.0, d2, u);
            for k in 0..=200 {
                assert!(closed_form_energy(1.0, d2, k as f64 / 200.0) >= e - 1e-12);
            }
        }
        assert!((tanh_law_minimiser(1.0, 1.0).unwrap() - 0.5).abs() < 1e-14);
    }

    #[test]
    fn small_step_flow_reaches_tanh_law_large_step_is_unstable_at_d2_8() {
        let d2 = 8.0;
        let u = tanh_law_minimiser(1.0, d2).unwrap();
        let stable = run_four_particles(1.0, d2, 0.0005, 10_000).unwrap();
        assert!((stable.a2 - u).abs() < 1e-6, "{} vs {u}", stable.a2);
        assert!(stable.symmetry_defect < 1e-12);
        let unstable = run_four_particles(1.0, d2, 0.05, 10_000).unwrap();
        // jumps to the maximum-energy axis +-e2 (a^2 ~ 0) with far higher energy than the minimum
        assert!(unstable.a2 < 1e-3, "{unstable:?}");
        assert!(unstable.energy > 100.0 * closed_form_energy(1.0, d2, u));
        // at d2 = 2 the large step is still fine
        let ok = run_four_particles(1.0, 2.0, 0.05, 2_000).unwrap();
        assert!(
            (ok.a2 - tanh_law_minimiser(1.0, 2.0).unwrap()).abs() < 1e-6,
            "{ok:?}"
        );
    }
}

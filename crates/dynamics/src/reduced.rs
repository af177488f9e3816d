//! The exact span reduction of \[GLPR\]-type dynamics with V = I and B = I (spec section 1, "An exact
//! reduction"): every update is a linear combination of the current points followed by a rescaling,
//! so x_i(t) stays in span{x_1(0), ..., x_n(0)} and every observable is a function of the Gram
//! matrix. For d > n write X(0) = L U^T with L the (lower-triangular) Cholesky factor of the Gram
//! matrix and U (d x n) orthonormal; then X(t) = L(t) U^T where L(t) solves the same dynamics in R^n.
//! This holds for the exact flow and for every integrator here (they only form linear combinations
//! of rows and renormalise rows). Cost per step drops from O(n^2 d) to O(n^3).

use crate::config::Configuration;
use crate::error::{DynamicsError, Result};
use serde::{Deserialize, Serialize};

/// Which coordinates a simulation evolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Representation {
    /// The n x d configuration itself.
    Full,
    /// The n x min(n, d) factor L (only for span-preserving models).
    Reduced,
}

/// Dimension of the reduced coordinates.
pub fn reduced_dimension(n: usize, d: usize) -> usize {
    n.min(d)
}

/// X = L U^T: reduced coordinates L (n x r) and the orthonormal basis U (d x r, row-major).
#[derive(Debug, Clone)]
pub struct SpanReduction {
    pub factor: Configuration,
    pub basis: Vec<f64>,
    pub ambient_dim: usize,
}

/// Lower-triangular Cholesky factor of a symmetric positive-definite n x n matrix.
pub fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                // NaN fails too: only a positive pivot continues the factorisation.
                if s.is_nan() || s <= 0.0 {
                    return Err(DynamicsError::InvalidConfiguration(format!(
                        "Gram matrix is not positive definite (pivot {i} = {s:e}); points are linearly dependent"
                    )));
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// Reduces a configuration with d > n and linearly independent points; returns it unchanged
/// (U = I) when d <= n.
pub fn reduce(cfg: &Configuration) -> Result<SpanReduction> {
    let (n, d) = (cfg.n(), cfg.d());
    if d <= n {
        let mut basis = vec![0.0; d * d];
        (0..d).for_each(|k| basis[k * d + k] = 1.0);
        return Ok(SpanReduction {
            factor: cfg.clone(),
            basis,
            ambient_dim: d,
        });
    }
    let l = cholesky(&cfg.gram(), n)?;
    // U^T = L^{-1} X by forward substitution, row by row.
    let x = cfg.as_slice();
    let mut ut = vec![0.0; n * d];
    for i in 0..n {
        for k in 0..d {
            let mut s = x[i * d + k];
            for j in 0..i {
                s -= l[i * n + j] * ut[j * d + k];
            }
            ut[i * d + k] = s / l[i * n + i];
        }
    }
    let mut basis = vec![0.0; d * n];
    crate::kernel::transpose(&ut, n, d, &mut basis);
    Ok(SpanReduction {
        factor: Configuration::new(n, n, l)?,
        basis,
        ambient_dim: d,
    })
}

impl SpanReduction {
    /// The configuration in R^d of reduced coordinates `factor` (n x r): X = L U^T.
    pub fn lift(&self, factor: &Configuration) -> Result<Configuration> {
        let (n, r, d) = (factor.n(), factor.d(), self.ambient_dim);
        let mut x = vec![0.0; n * d];
        crate::kernel::cross(factor.as_slice(), &self.basis, n, d, r, &mut x);
        Configuration::euclidean(n, d, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrate::{Integrator, PaperEuler, Rk4};
    use crate::model::SelfAttention;
    use crate::sampling::{Purpose, stream, uniform_sphere};

    #[test]
    fn reduced_equals_full_from_the_same_gram_matrix() {
        let (n, d) = (16, 64);
        let x0 = uniform_sphere(n, d, &mut stream(3, 0, Purpose::InitialCondition)).unwrap();
        let red = reduce(&x0).unwrap();
        let lifted = red.lift(&red.factor).unwrap();
        for (a, b) in lifted.as_slice().iter().zip(x0.as_slice()) {
            assert!((a - b).abs() < 1e-13);
        }
        for (model, integrator) in [
            (
                SelfAttention::sa(4.0).unwrap(),
                Box::new(PaperEuler::default()) as Box<dyn Integrator>,
            ),
            (SelfAttention::usa(1.0).unwrap(), Box::new(Rk4::default())),
        ] {
            let mut integ_full = integrator;
            let mut integ_red: Box<dyn Integrator> = if integ_full.name() == "rk4" {
                Box::new(Rk4::default())
            } else {
                Box::new(PaperEuler::default())
            };
            let (mut xf, mut xr) = (x0.as_slice().to_vec(), red.factor.as_slice().to_vec());
            for _ in 0..300 {
                integ_full.step(&model, &mut xf, n, d, 0.1).unwrap();
                integ_red.step(&model, &mut xr, n, n, 0.1).unwrap();
            }
            let gf = Configuration::euclidean(n, d, xf).unwrap().gram();
            let gr = Configuration::euclidean(n, n, xr).unwrap().gram();
            let worst = gf
                .iter()
                .zip(&gr)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(
                worst < 1e-12,
                "{}: max Gram difference {worst:e}",
                integ_full.name()
            );
        }
    }

    #[test]
    fn cholesky_rejects_singular() {
        assert!(cholesky(&[1.0, 1.0, 1.0, 1.0], 2).is_err());
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        assert!(
            (l[0] - 2.0).abs() < 1e-15
                && (l[2] - 1.0).abs() < 1e-15
                && (l[3] - 2f64.sqrt()).abs() < 1e-15
        );
    }
}

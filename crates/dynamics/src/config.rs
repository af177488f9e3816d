//! Configurations: n particles x_1, ..., x_n on the unit sphere S^{d-1} of R^d (\[GLPR\] section 2),
//! or in R^d for the pure-attention model (9.1). Stored row-major, one particle per row.

use crate::error::{DynamicsError, Result};
use crate::validate::check_sizes;

/// Tolerance on |‖x_i‖ - 1| accepted when a configuration is built from user data.
pub const UNIT_NORM_TOLERANCE: f64 = 1e-9;

/// n points in R^d, row-major (`data[i * d + k]` is coordinate k of particle i).
///
/// ```
/// use attnflow_dynamics::Configuration;
/// // three points of the circle S^1
/// let x = Configuration::new(3, 2, vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0])?;
/// assert_eq!((x.n(), x.d()), (3, 2));
/// assert_eq!(x.row(1), &[0.0, 1.0]);
/// assert_eq!(x.gram()[0 * 3 + 2], -1.0); // <x_1, x_3>
/// // off the sphere: refused, unless normalised explicitly
/// assert!(Configuration::new(1, 2, vec![3.0, 4.0]).is_err());
/// let y = Configuration::normalized(1, 2, vec![3.0, 4.0])?;
/// assert_eq!(y.row(0), &[0.6, 0.8]);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Configuration {
    n: usize,
    d: usize,
    data: Vec<f64>,
}

impl Configuration {
    /// Points on the sphere: checks n >= 1, d >= 2, finite entries and unit norms (to [`UNIT_NORM_TOLERANCE`]).
    pub fn new(n: usize, d: usize, data: Vec<f64>) -> Result<Self> {
        let cfg = Self::euclidean(n, d, data)?;
        for i in 0..n {
            let norm = norm(cfg.row(i));
            if (norm - 1.0).abs() > UNIT_NORM_TOLERANCE {
                return Err(DynamicsError::InvalidConfiguration(format!(
                    "particle {i} has norm {norm}, expected 1 (tolerance {UNIT_NORM_TOLERANCE:e})"
                )));
            }
        }
        Ok(cfg)
    }

    /// Points of R^d (no norm check), for the model (9.1) without layer normalisation.
    pub fn euclidean(n: usize, d: usize, data: Vec<f64>) -> Result<Self> {
        check_sizes(n, d)?;
        if data.len() != n * d {
            return Err(DynamicsError::InvalidConfiguration(format!(
                "expected n * d = {} coordinates, got {}",
                n * d,
                data.len()
            )));
        }
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            return Err(DynamicsError::InvalidConfiguration(format!(
                "non-finite coordinate {} of particle {}",
                pos % d,
                pos / d
            )));
        }
        Ok(Self { n, d, data })
    }

    /// Arbitrary non-zero vectors, each normalised onto the sphere.
    pub fn normalized(n: usize, d: usize, mut data: Vec<f64>) -> Result<Self> {
        check_sizes(n, d)?;
        if data.len() != n * d {
            return Err(DynamicsError::InvalidConfiguration(format!(
                "expected n * d = {} coordinates, got {}",
                n * d,
                data.len()
            )));
        }
        for (i, row) in data.chunks_exact_mut(d).enumerate() {
            let r = norm(row);
            if !(r.is_finite() && r > 0.0) {
                return Err(DynamicsError::InvalidConfiguration(format!(
                    "particle {i} has norm {r}; cannot normalise"
                )));
            }
            row.iter_mut().for_each(|v| *v /= r);
        }
        Ok(Self { n, d, data })
    }

    /// Points on the circle S^1: x_i = (cos theta_i, sin theta_i).
    pub fn from_angles(theta: &[f64]) -> Result<Self> {
        let data = theta.iter().flat_map(|&t| [t.cos(), t.sin()]).collect();
        Self::new(theta.len(), 2, data)
    }

    /// The orthonormal frame x_i = e_i of \[GLPR\] Thm 6.8 (needs d >= n).
    pub fn orthonormal(n: usize, d: usize) -> Result<Self> {
        check_sizes(n, d)?;
        if d < n {
            return Err(crate::error::invalid(
                "d",
                format!("pairwise orthogonal start needs d >= n = {n}, got {d}"),
            ));
        }
        let mut data = vec![0.0; n * d];
        for i in 0..n {
            data[i * d + i] = 1.0;
        }
        Ok(Self { n, d, data })
    }

    pub fn n(&self) -> usize {
        self.n
    }
    pub fn d(&self) -> usize {
        self.d
    }
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }
    /// Mutable access for integrators; callers keep the rows on the sphere.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.data
    }
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }
    /// Angles theta_i = atan2(x_i2, x_i1) of a circle configuration (d = 2).
    pub fn angles(&self) -> Result<Vec<f64>> {
        if self.d != 2 {
            return Err(crate::error::invalid(
                "d",
                format!("angles need d = 2, got {}", self.d),
            ));
        }
        Ok(self
            .data
            .chunks_exact(2)
            .map(|p| p[1].atan2(p[0]))
            .collect())
    }
    /// Gram matrix G_ij = <x_i, x_j> (n x n, row-major).
    pub fn gram(&self) -> Vec<f64> {
        let mut g = vec![0.0; self.n * self.n];
        crate::kernel::gram(&self.data, self.n, self.d, &mut g);
        g
    }
    /// The particles permuted: row i of the result is row `perm[i]` of self.
    pub fn permuted(&self, perm: &[usize]) -> Result<Self> {
        if perm.len() != self.n || {
            let mut seen = vec![false; self.n];
            perm.iter()
                .any(|&p| p >= self.n || std::mem::replace(&mut seen[p], true))
        } {
            return Err(crate::error::invalid("perm", "not a permutation of 0..n"));
        }
        let data = perm
            .iter()
            .flat_map(|&p| self.row(p).iter().copied())
            .collect();
        Ok(Self {
            n: self.n,
            d: self.d,
            data,
        })
    }
    /// max_i |‖x_i‖ - 1|: how far the configuration is from the sphere.
    pub fn max_norm_defect(&self) -> f64 {
        self.data
            .chunks_exact(self.d)
            .map(|r| (norm(r) - 1.0).abs())
            .fold(0.0, f64::max)
    }
}

/// Euclidean norm, summed in index order.
pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Inner product, summed in index order.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_input() {
        assert!(Configuration::new(0, 3, vec![]).is_err());
        assert!(Configuration::new(1, 1, vec![1.0]).is_err());
        assert!(Configuration::new(1, 2, vec![1.0]).is_err());
        assert!(Configuration::new(1, 2, vec![f64::NAN, 0.0]).is_err());
        assert!(Configuration::new(1, 2, vec![2.0, 0.0]).is_err());
        assert!(Configuration::normalized(1, 2, vec![0.0, 0.0]).is_err());
        assert!(Configuration::orthonormal(4, 3).is_err());
        let c = Configuration::from_angles(&[0.0, 1.0]).unwrap();
        assert!(c.permuted(&[0, 0]).is_err());
        assert!(c.permuted(&[1, 0]).is_ok());
    }

    #[test]
    fn angles_round_trip() {
        let theta = [0.1, -2.0, 3.0];
        let c = Configuration::from_angles(&theta).unwrap();
        for (a, b) in c.angles().unwrap().iter().zip(theta) {
            assert!((a - b).abs() < 1e-15);
        }
    }
}

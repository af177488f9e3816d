//! Small dense square matrices (row-major) for the weights Q, K, V and B = Q^T K of \[GLPR\] (2.3)-(2.5).

use crate::error::{Result, invalid};
use crate::validate;

/// A d x d real matrix, row-major (`data[r * d + c]`).
///
/// ```
/// use attnflow_dynamics::SquareMatrix;
/// // B = e_1 e_2^T: x^T B y = x_1 y_2
/// let b = SquareMatrix::new(2, vec![0.0, 1.0, 0.0, 0.0])?;
/// assert_eq!(b.bilinear(&[3.0, 0.0], &[0.0, 5.0]), 15.0);
/// assert_eq!(b.transpose().get(1, 0), 1.0);
/// let i2 = SquareMatrix::identity(2);
/// assert_eq!(b.matmul(&i2)?, b);
/// assert!(SquareMatrix::new(2, vec![1.0, f64::NAN, 0.0, 1.0]).is_err());
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SquareMatrix {
    d: usize,
    data: Vec<f64>,
}

impl SquareMatrix {
    /// The matrix with entries `data[r * d + c]`: d >= 1, d * d entries, all finite
    /// ([`validate::check_square`]).
    pub fn new(d: usize, data: Vec<f64>) -> Result<Self> {
        validate::check_square("matrix", d, &data)?;
        Ok(Self { d, data })
    }
    pub fn identity(d: usize) -> Self {
        Self::diagonal(&vec![1.0; d])
    }
    pub fn diagonal(diag: &[f64]) -> Self {
        let d = diag.len();
        let mut data = vec![0.0; d * d];
        for (i, v) in diag.iter().enumerate() {
            data[i * d + i] = *v;
        }
        Self { d, data }
    }
    pub fn dim(&self) -> usize {
        self.d
    }
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }
    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.d + c]
    }
    pub fn transpose(&self) -> Self {
        let d = self.d;
        let mut data = vec![0.0; d * d];
        crate::kernel::transpose(&self.data, d, d, &mut data);
        Self { d, data }
    }
    /// Matrix product self * other (sums in index order).
    pub fn matmul(&self, other: &Self) -> Result<Self> {
        if self.d != other.d {
            return Err(invalid(
                "matrix",
                format!("dimension mismatch {} vs {}", self.d, other.d),
            ));
        }
        let mut data = vec![0.0; self.d * self.d];
        crate::kernel::rows_times_matrix(&self.data, self.d, self.d, &other.data, &mut data);
        Ok(Self { d: self.d, data })
    }
    pub fn scaled(&self, s: f64) -> Self {
        Self {
            d: self.d,
            data: self.data.iter().map(|v| v * s).collect(),
        }
    }
    pub fn add(&self, other: &Self) -> Result<Self> {
        if self.d != other.d {
            return Err(invalid(
                "matrix",
                format!("dimension mismatch {} vs {}", self.d, other.d),
            ));
        }
        Ok(Self {
            d: self.d,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| a + b)
                .collect(),
        })
    }
    pub fn is_symmetric(&self, tol: f64) -> bool {
        (0..self.d).all(|r| (0..r).all(|c| (self.get(r, c) - self.get(c, r)).abs() <= tol))
    }
    /// Quadratic form x^T M y.
    pub fn bilinear(&self, x: &[f64], y: &[f64]) -> f64 {
        (0..self.d)
            .map(|r| x[r] * crate::config::dot(&self.data[r * self.d..(r + 1) * self.d], y))
            .sum()
    }
}

//! Spectra of the attention matrices of a trained layer, the quantities the theory is stated in.
//!
//! In \[GLPR\] (2.3)-(2.7) a head acts through `B = Q^T K` (only the bilinear form `<Q x, K y> = x^T B y` enters
//! the weights) and through the value matrix `V`. For BERT head `a` with `W_Q^a, W_K^a, W_V^a` the `d_h x d` row
//! blocks of the query/key/value weights and `W_O^a` the `d x d_h` column block of the output weight:
//!
//! - `B_a = (W_Q^a)^T W_K^a / sqrt(d_h)` (the softmax temperature folded in); we report the eigenvalues of its
//!   symmetric part `(B_a + B_a^T) / 2` (real; rank at most `2 d_h`), cf. \[GLPR\] section 3.4 and Problem 2;
//! - `V_a = W_O^a W_V^a` (`d x d`, rank at most `d_h`, the map added to the residual stream); its nonzero
//!   eigenvalues are those of the small `d_h x d_h` matrix `W_V^a W_O^a` (complex in general), cf. \[GLPR\]
//!   Table 1 / Problem 5 where the sign of the top eigenvalue of `V` decides the clustering geometry.
//!
//! Eigenvalues come from faer's self-adjoint and general eigen solvers, in f64.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par, Side};
use serde::{Deserialize, Serialize};

use crate::bert::{BertEncoder, Scalar};
use crate::error::TransformerError;

/// Relative threshold below which an eigenvalue counts as numerically zero (the matrices are low rank).
pub const ZERO_EIGENVALUE_TOLERANCE: f64 = 1e-9;

/// Summary of a real spectrum (eigenvalues of a symmetric matrix).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymmetricSpectrumSummary {
    /// Largest eigenvalue.
    pub top: f64,
    /// Smallest eigenvalue.
    pub bottom: f64,
    /// Number of eigenvalues with `|lambda| > ZERO_EIGENVALUE_TOLERANCE * max |lambda|`.
    pub n_nonzero: usize,
    /// Fraction of the nonzero eigenvalues that are positive.
    pub fraction_positive: f64,
    /// Sum of all eigenvalues (the trace).
    pub trace: f64,
}

/// Summary of a complex spectrum (eigenvalues of a general matrix).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneralSpectrumSummary {
    /// Largest modulus.
    pub spectral_radius: f64,
    /// Largest real part.
    pub max_real: f64,
    /// Smallest real part.
    pub min_real: f64,
    /// Number of eigenvalues with modulus above `ZERO_EIGENVALUE_TOLERANCE * spectral_radius`.
    pub n_nonzero: usize,
    /// Fraction of the nonzero eigenvalues with positive real part.
    pub fraction_positive_real: f64,
    /// Real part of the sum of the eigenvalues (the trace).
    pub trace: f64,
}

/// Spectra of one head of one trained layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadSpectrum {
    /// Trained layer index, 1-based (layer 1 is the first encoder layer, as in the Figure-1 rows).
    pub layer: usize,
    /// Head index, 0-based.
    pub head: usize,
    /// Nonzero eigenvalues of the symmetric part of `B_a = Q_a^T K_a / sqrt(d_h)`, ascending.
    pub qk_symmetric_eigenvalues: Vec<f64>,
    pub qk_symmetric_summary: SymmetricSpectrumSummary,
    /// Nonzero eigenvalues `[re, im]` of `V_a = W_O^a W_V^a`, sorted by decreasing real part.
    pub value_eigenvalues: Vec<[f64; 2]>,
    pub value_summary: GeneralSpectrumSummary,
}

/// Spectra of a whole trained layer: every head plus the summed value map `V = W_O W_V = sum_a V_a`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSpectrum {
    /// Trained layer index, 1-based.
    pub layer: usize,
    pub heads: Vec<HeadSpectrum>,
    /// Summary of the eigenvalues of the full `d x d` value map `W_O W_V` of the layer.
    pub value_summary: GeneralSpectrumSummary,
}

/// Summarise a real spectrum.
pub fn summarize_symmetric(eigenvalues: &[f64]) -> SymmetricSpectrumSummary {
    let max_abs = eigenvalues.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let nonzero: Vec<f64> = eigenvalues
        .iter()
        .copied()
        .filter(|v| v.abs() > ZERO_EIGENVALUE_TOLERANCE * max_abs)
        .collect();
    let positive = nonzero.iter().filter(|&&v| v > 0.0).count();
    SymmetricSpectrumSummary {
        top: eigenvalues
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max),
        bottom: eigenvalues.iter().copied().fold(f64::INFINITY, f64::min),
        n_nonzero: nonzero.len(),
        fraction_positive: if nonzero.is_empty() {
            0.0
        } else {
            positive as f64 / nonzero.len() as f64
        },
        trace: eigenvalues.iter().sum(),
    }
}

/// Summarise a complex spectrum given as `[re, im]` pairs.
pub fn summarize_general(eigenvalues: &[[f64; 2]]) -> GeneralSpectrumSummary {
    let modulus = |z: &[f64; 2]| z[0].hypot(z[1]);
    let radius = eigenvalues.iter().fold(0.0_f64, |m, z| m.max(modulus(z)));
    let nonzero: Vec<&[f64; 2]> = eigenvalues
        .iter()
        .filter(|z| modulus(z) > ZERO_EIGENVALUE_TOLERANCE * radius)
        .collect();
    let positive = nonzero.iter().filter(|z| z[0] > 0.0).count();
    GeneralSpectrumSummary {
        spectral_radius: radius,
        max_real: eigenvalues
            .iter()
            .map(|z| z[0])
            .fold(f64::NEG_INFINITY, f64::max),
        min_real: eigenvalues
            .iter()
            .map(|z| z[0])
            .fold(f64::INFINITY, f64::min),
        n_nonzero: nonzero.len(),
        fraction_positive_real: if nonzero.is_empty() {
            0.0
        } else {
            positive as f64 / nonzero.len() as f64
        },
        trace: eigenvalues.iter().map(|z| z[0]).sum(),
    }
}

fn general_eigenvalues(m: &Mat<f64>) -> Result<Vec<[f64; 2]>, TransformerError> {
    let values = m
        .eigenvalues()
        .map_err(|e| TransformerError::Eigen(format!("{e:?}")))?;
    let mut pairs: Vec<[f64; 2]> = values.iter().map(|z| [z.re, z.im]).collect();
    pairs.sort_by(|a, b| b[0].total_cmp(&a[0]).then(b[1].total_cmp(&a[1])));
    Ok(pairs)
}

/// Spectra of every head of every trained layer of `encoder`.
pub fn attention_spectra<T: Scalar>(
    encoder: &BertEncoder<T>,
) -> Result<Vec<LayerSpectrum>, TransformerError> {
    let cfg = encoder.config();
    let d = cfg.hidden_size;
    let dh = cfg.head_dim();
    let inv_sqrt_dh = 1.0 / (dh as f64).sqrt();
    let mut layers = Vec::with_capacity(encoder.num_layers());
    for l in 0..encoder.num_layers() {
        let w = encoder
            .attention_weights(l)
            .ok_or_else(|| TransformerError::InvalidInput(format!("no layer {l}")))?;
        let widen =
            |m: faer::MatRef<'_, T>| Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].to_f64());
        let (wq, wk, wv, wo) = (
            widen(w.query),
            widen(w.key),
            widen(w.value),
            widen(w.output),
        );
        let mut heads = Vec::with_capacity(cfg.num_attention_heads);
        for a in 0..cfg.num_attention_heads {
            let q = wq.as_ref().subrows(a * dh, dh);
            let k = wk.as_ref().subrows(a * dh, dh);
            let v = wv.as_ref().subrows(a * dh, dh);
            let o = wo.as_ref().subcols(a * dh, dh);
            let mut b = Mat::<f64>::zeros(d, d);
            matmul(
                b.as_mut(),
                Accum::Replace,
                q.transpose(),
                k,
                inv_sqrt_dh,
                Par::Seq,
            );
            let sym = Mat::from_fn(d, d, |i, j| 0.5 * (b[(i, j)] + b[(j, i)]));
            let all = sym
                .self_adjoint_eigenvalues(Side::Lower)
                .map_err(|e| TransformerError::Eigen(format!("{e:?}")))?;
            let qk_summary = summarize_symmetric(&all);
            let max_abs = all.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
            let qk_nonzero: Vec<f64> = all
                .iter()
                .copied()
                .filter(|x| x.abs() > ZERO_EIGENVALUE_TOLERANCE * max_abs)
                .collect();
            // Nonzero spectrum of W_O^a W_V^a (d x d) equals the spectrum of W_V^a W_O^a (d_h x d_h).
            let mut small = Mat::<f64>::zeros(dh, dh);
            matmul(small.as_mut(), Accum::Replace, v, o, 1.0, Par::Seq);
            let value_eigenvalues = general_eigenvalues(&small)?;
            let value_summary = summarize_general(&value_eigenvalues);
            heads.push(HeadSpectrum {
                layer: l + 1,
                head: a,
                qk_symmetric_eigenvalues: qk_nonzero,
                qk_symmetric_summary: qk_summary,
                value_eigenvalues,
                value_summary,
            });
        }
        let mut full_value = Mat::<f64>::zeros(d, d);
        matmul(
            full_value.as_mut(),
            Accum::Replace,
            wo.as_ref(),
            wv.as_ref(),
            1.0,
            Par::Seq,
        );
        let value_summary = summarize_general(&general_eigenvalues(&full_value)?);
        layers.push(LayerSpectrum {
            layer: l + 1,
            heads,
            value_summary,
        });
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_summary_counts_signs_and_ignores_numerical_zeros() {
        let s = summarize_symmetric(&[-2.0, 1e-15, 0.0, 1.0, 3.0]);
        assert_eq!(s.n_nonzero, 3);
        assert!((s.fraction_positive - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(s.top, 3.0);
        assert_eq!(s.bottom, -2.0);
        assert!((s.trace - 2.0).abs() < 1e-12);
    }

    #[test]
    fn general_eigenvalues_of_a_rotation_scaled_matrix() {
        // [[a, -b], [b, a]] has eigenvalues a +- i b.
        let m = Mat::from_fn(2, 2, |i, j| match (i, j) {
            (0, 0) | (1, 1) => 0.5,
            (0, 1) => -2.0,
            _ => 2.0,
        });
        let ev = general_eigenvalues(&m).expect("2x2 eigenvalues");
        assert_eq!(ev.len(), 2);
        for z in &ev {
            assert!((z[0] - 0.5).abs() < 1e-12 && (z[1].abs() - 2.0).abs() < 1e-12);
        }
        let s = summarize_general(&ev);
        assert!((s.spectral_radius - 0.5f64.hypot(2.0)).abs() < 1e-12);
        assert_eq!(s.fraction_positive_real, 1.0);
    }
}

//! Streaming evaluation of the attention drift for large n, without n x n matrices, \[GLPR\]
//! (2.5)-(2.7):
//!
//! ```text
//! out_i = sum_h sum_j A^h_ij V_h x_j,   A^h_ij = e^{beta x_i^T B_h x_j} / N_i,
//! N_i = Z_i = sum_k e^{beta x_i^T B_h x_k} (SA)  or  N_i = n (USA)
//! ```
//!
//! (the causal mask restricts j, and k, to j <= i). The dense evaluation of [`crate::model`] forms
//! the logits and weights as n x n matrices (2 GiB each at n = 16384); this one runs over blocks of
//! [`ROW_BLOCK`] query rows and, for each block, over tiles of [`COLUMN_TILE`] key columns in
//! increasing order, with an online (streaming) softmax per row i: after the tiles up to column c,
//!
//! ```text
//! m_i = max_{j <= c} L_ij,   z_i = sum_{j <= c} e^{beta (L_ij - m_i)},   a_i = sum_{j <= c} e^{beta (L_ij - m_i)} y_j
//! ```
//!
//! with L_ij = x_i^T B x_j and y_j = x_j (or x_j^T B for a head declared with V = c B^T). A tile
//! that raises the maximum from m to m' first multiplies z_i and a_i by e^{beta (m - m')} (a tile
//! that does not raise it multiplies by nothing: e^0 = 1 exactly); the exponents stay <= 0, so no
//! weight overflows for any beta >= 0. At the end the average is a_i / z_i (SA) or
//! a_i e^{beta m_i} / n (USA; [`DynamicsError::WeightOverflow`] when beta m_i > 709, as in the dense
//! evaluation), and the value matrix is applied as there.
//!
//! Memory: O((n + [`ROW_BLOCK`] x [`COLUMN_TILE`] per thread) d), see [`footprint_bytes`]. Work:
//! the same products as the dense evaluation (n^2 d for the logits, n^2 d for the average, n d^2
//! for X B and for V), in register tiles ([`kernel::matmul`] on each tile: logits = (rows of X B)
//! (keys X^T of the tile), part = (weights of the tile) (rows y_j of the tile)).
//!
//! Determinism: each row sees a fixed sequence of tiles, each logit is the fused multiply-add chain
//! of [`kernel::matmul`] (the same bits on every instruction set and tile shape), each sum of a
//! tile's weights runs in eight fixed lanes; the blocks are independent, distributed over rayon's
//! threads, so the bits do not depend on the number of threads or on [`crate::simd::set_cap`]. They
//! differ from the dense evaluation's in the last bits (relative 1e-15..1e-13: the weights are
//! summed tile by tile, and rescaled when the maximum moves; for B = I the dense evaluation uses one
//! common shift, see [`crate::model`]).
//!
//! When it is used ([`Evaluation`], [`crate::SelfAttentionBuilder::evaluation`]): by default for
//! n > [`DENSE_MAX_N`] (an n x n f64 matrix above 32 MiB; the dense workspace holds two of them, so
//! at n = 2048 it already needs 64 MiB, twice the processor's 32 MiB L3 cache, and every pass over
//! the weights runs from main memory), for every field the dense evaluation supports except pair
//! weights (which are an n x n matrix themselves: [`crate::model::Mask::Weighted`] keeps the dense
//! evaluation, and asking for streaming with them is an error). The attention matrices
//! ([`crate::SelfAttention::attention_matrices`], asked for by observables) are always dense.

use rayon::prelude::*;

use crate::error::{DynamicsError, Result, invalid};
use crate::kernel::{self, AlignedBuf};
use crate::model::{Mask, ModelKind, SelfAttention, Value};

/// Query rows per block: the unit of parallel work.
pub const ROW_BLOCK: usize = 64;
/// Key columns per tile: the weights of a block and tile (64 x 256 f64, 128 KiB) stay in the L2
/// cache, as do the tile's keys and values (d x 256 each).
pub const COLUMN_TILE: usize = 256;
/// The largest n evaluated densely by default ([`Evaluation::Auto`]): an n x n f64 matrix of
/// n = 2048 is 32 MiB.
pub const DENSE_MAX_N: usize = 2048;

/// How the sums over j of the attention field are evaluated when they are direct sums: with n x n
/// matrices of logits and weights (dense) or tile by tile with an online softmax (streaming, this
/// module). Written "auto" / "dense" / "streaming"; absent in records of the default.
///
/// ```
/// use attnflow_dynamics::streaming::Evaluation;
/// assert!(!Evaluation::Auto.streams(2048) && Evaluation::Auto.streams(2049));
/// assert!(Evaluation::Streaming.streams(8) && !Evaluation::Dense.streams(1 << 20));
/// assert_eq!(serde_json::to_string(&Evaluation::Streaming).unwrap(), "\"streaming\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evaluation {
    /// Streaming for n > [`DENSE_MAX_N`] (unless pair weights are given), dense otherwise.
    #[default]
    Auto,
    /// Always the n x n matrices (the evaluation of [`crate::model`]).
    Dense,
    /// Always streaming (an error with pair weights or spectral summation).
    Streaming,
}

impl Evaluation {
    /// True for [`Evaluation::Auto`] (serde's `skip_serializing_if`).
    pub fn is_auto(&self) -> bool {
        matches!(self, Evaluation::Auto)
    }
    /// The name as serialised.
    pub fn name(&self) -> &'static str {
        match self {
            Evaluation::Auto => "auto",
            Evaluation::Dense => "dense",
            Evaluation::Streaming => "streaming",
        }
    }
    /// Whether n particles are evaluated by streaming (for fields without pair weights).
    pub fn streams(&self, n: usize) -> bool {
        match self {
            Evaluation::Auto => n > DENSE_MAX_N,
            Evaluation::Dense => false,
            Evaluation::Streaming => true,
        }
    }
}

/// Bytes the streaming evaluation of n particles in R^d holds besides the state and the
/// integrator's stages, on `threads` threads: the queries X B, the keys X^T, the averages, the
/// value product and the directions of Pre-LN / Peri-LN (n d each), the row sums and maxima (n
/// each), and per thread the weights of one block and tile and its partial product.
pub fn footprint_bytes(n: usize, d: usize, threads: usize) -> f64 {
    let (n, d, threads) = (n as f64, d as f64, threads as f64);
    let per_thread = ROW_BLOCK as f64 * (COLUMN_TILE as f64 + d);
    8.0 * (5.0 * n * d + 2.0 * n + threads * per_thread)
}

/// Buffers of the streaming evaluation, O(n d), reused across evaluations (held by
/// [`crate::Workspace`]).
#[derive(Debug, Default, Clone)]
pub struct Buffers {
    /// The rows x_i^T B of the current head (n x d).
    queries: AlignedBuf,
    /// X^T tile by tile: the tile starting at column j0 of width w is d x w at offset j0 d.
    keys: AlignedBuf,
    /// The accumulators a_i, then the averages (n x d).
    average: AlignedBuf,
    /// The value product (n x d).
    value_out: AlignedBuf,
    /// The running sums z_i.
    sums: AlignedBuf,
    /// The running maxima m_i.
    maxima: AlignedBuf,
    /// (n, d) the buffers are sized for.
    shape: (usize, usize),
}

impl Buffers {
    fn ensure(&mut self, n: usize, d: usize) {
        if self.shape == (n, d) {
            return;
        }
        self.shape = (n, d);
        for b in [
            &mut self.queries,
            &mut self.keys,
            &mut self.average,
            &mut self.value_out,
        ] {
            b.resize(n * d);
        }
        self.sums.resize(n);
        self.maxima.resize(n);
    }
}

/// Per-thread scratch: the weights of one block and tile, and their product with the tile's values.
#[derive(Default)]
struct Scratch {
    weights: AlignedBuf,
    part: AlignedBuf,
}

/// The error for pair weights (they are an n x n matrix; the dense evaluation takes them).
pub(crate) fn pair_weights_refused() -> DynamicsError {
    invalid(
        "evaluation",
        "the streaming evaluation does not take pair weights (they are an n x n matrix already); use the dense evaluation",
    )
}

/// The attention output `out_i = sum_h sum_j A^h_ij V_h x_j` of `field` at the points `x` (n x d,
/// row-major), by streaming (see the module docs). Mask: full or causal; pair weights are refused.
pub(crate) fn attention_output(
    field: &SelfAttention,
    x: &[f64],
    n: usize,
    d: usize,
    out: &mut [f64],
    buffers: &mut Buffers,
) -> Result<()> {
    let causal = match field.mask() {
        Mask::Full => false,
        Mask::Causal => true,
        Mask::Weighted(_) => return Err(pair_weights_refused()),
    };
    let heads = field.heads();
    // as in the dense evaluation: with V = I the first head's average is written, not added
    let assign_first = heads[0].value == Value::Identity;
    if !assign_first {
        out.fill(0.0);
    }
    buffers.ensure(n, d);
    let Buffers {
        queries,
        keys,
        average,
        value_out,
        sums,
        maxima,
        ..
    } = buffers;
    let mut j0 = 0;
    while j0 < n {
        let w = COLUMN_TILE.min(n - j0);
        kernel::transpose(
            &x[j0 * d..(j0 + w) * d],
            w,
            d,
            &mut keys[j0 * d..(j0 + w) * d],
        );
        j0 += w;
    }
    let beta = field.beta();
    let softmax = field.model() == ModelKind::Sa;
    for (h, head) in heads.iter().enumerate() {
        head.check_dim(d)?;
        let q: &[f64] = match &head.interaction {
            None => x,
            Some(b) => {
                kernel::rows_times_matrix(x, n, d, b.as_slice(), queries);
                queries
            }
        };
        // V = c B^T: the velocity c sum_j A_ij (x_j^T B) from the rows of X B
        let from_interaction = head
            .value_factor_of_interaction()
            .filter(|_| head.interaction.is_some());
        let values = if from_interaction.is_some() { q } else { x };
        let shape = Shape {
            n,
            d,
            beta,
            causal,
            softmax,
        };
        stream_rows(&shape, q, keys, values, average, sums, maxima)?;
        for (i, row) in average.chunks_exact_mut(d).enumerate() {
            let mut factor = if softmax {
                1.0 / sums[i]
            } else {
                crate::model::uniform_factor(beta * maxima[i], n)?
            };
            if let Some(c) = from_interaction {
                factor *= c;
            }
            row.iter_mut().for_each(|a| *a *= factor);
        }
        if h == 0 && assign_first {
            out.copy_from_slice(average);
            continue;
        }
        match (&head.value, from_interaction) {
            (Value::Identity, _) | (Value::Matrix(_), Some(_)) => out
                .iter_mut()
                .zip(average.iter())
                .for_each(|(o, a)| *o += a),
            (Value::NegIdentity, _) => out
                .iter_mut()
                .zip(average.iter())
                .for_each(|(o, a)| *o -= a),
            (Value::Matrix(v), None) => {
                match head.value_transposed() {
                    Some(vt) => kernel::rows_times_matrix(average, n, d, vt.as_slice(), value_out),
                    None => kernel::rows_times_matrix(
                        average,
                        n,
                        d,
                        v.transpose().as_slice(),
                        value_out,
                    ),
                }
                out.iter_mut()
                    .zip(value_out.iter())
                    .for_each(|(o, a)| *o += a);
            }
        }
    }
    Ok(())
}

/// The sizes and options of one streaming pass.
struct Shape {
    n: usize,
    d: usize,
    beta: f64,
    causal: bool,
    /// (SA): the row sums z_i are needed.
    softmax: bool,
}

/// For every row i: `average_i = a_i`, `sums_i = z_i`, `maxima_i = m_i` of the module docs, with
/// queries `q` (rows x_i^T B), `keys` (X^T tile by tile) and values `values` (rows y_j). Blocks of
/// [`ROW_BLOCK`] rows in parallel; the first error in block order is returned.
fn stream_rows(
    shape: &Shape,
    q: &[f64],
    keys: &[f64],
    values: &[f64],
    average: &mut [f64],
    sums: &mut [f64],
    maxima: &mut [f64],
) -> Result<()> {
    let d = shape.d;
    let results: Vec<Result<()>> = average
        .par_chunks_mut(ROW_BLOCK * d)
        .zip(sums.par_chunks_mut(ROW_BLOCK))
        .zip(maxima.par_chunks_mut(ROW_BLOCK))
        .enumerate()
        .map_init(Scratch::default, |scratch, (b, ((a, z), m))| {
            row_block(shape, q, keys, values, b * ROW_BLOCK, a, z, m, scratch)
        })
        .collect();
    results.into_iter().collect()
}

/// Rows i0..i0 + z.len() of [`stream_rows`]: the tiles of key columns in increasing order.
#[allow(clippy::too_many_arguments)]
fn row_block(
    shape: &Shape,
    q: &[f64],
    keys: &[f64],
    values: &[f64],
    i0: usize,
    acc: &mut [f64],
    z: &mut [f64],
    m: &mut [f64],
    scratch: &mut Scratch,
) -> Result<()> {
    let Shape {
        n,
        d,
        beta,
        causal,
        softmax,
    } = *shape;
    let rows = z.len();
    acc.fill(0.0);
    z.fill(0.0);
    m.fill(f64::NEG_INFINITY);
    scratch.weights.resize(ROW_BLOCK * COLUMN_TILE);
    scratch.part.resize(ROW_BLOCK * d);
    let block_q = &q[i0 * d..(i0 + rows) * d];
    let last = i0 + rows - 1;
    let mut j0 = 0;
    // causal: the tiles right of the block's last row hold no visible column
    while j0 < n && !(causal && j0 > last) {
        let w = COLUMN_TILE.min(n - j0);
        let weights = &mut scratch.weights[..rows * w];
        kernel::matmul(block_q, &keys[j0 * d..(j0 + w) * d], rows, d, w, weights);
        for (r, row) in weights.chunks_exact_mut(w).enumerate() {
            let i = i0 + r;
            let visible = if causal {
                (i + 1).saturating_sub(j0).min(w)
            } else {
                w
            };
            let (seen, hidden) = row.split_at_mut(visible);
            let old = m[r];
            let tile_max = kernel::max(seen);
            let new = if tile_max > old { tile_max } else { old };
            if !new.is_finite() {
                return Err(DynamicsError::InvalidConfiguration(format!(
                    "non-finite logits in row {i}"
                )));
            }
            seen.iter_mut().for_each(|l| *l = beta * (*l - new));
            hidden.fill(f64::NEG_INFINITY);
            crate::exp::exp_in_place(row);
            // the first tile sets the maximum (nothing accumulated yet: no factor e^{-inf beta})
            if new > old && old != f64::NEG_INFINITY {
                let alpha = crate::exp::exp(beta * (old - new));
                z[r] *= alpha;
                acc[r * d..(r + 1) * d].iter_mut().for_each(|a| *a *= alpha);
            }
            m[r] = new;
            if softmax {
                z[r] += crate::simd_dispatch!(lane_sum(row));
            }
        }
        let part = &mut scratch.part[..rows * d];
        kernel::matmul(weights, &values[j0 * d..(j0 + w) * d], rows, w, d, part);
        acc.iter_mut().zip(part.iter()).for_each(|(a, p)| *a += p);
        j0 += w;
    }
    Ok(())
}

/// sum_k v_k in eight lanes (k mod 8, each in index order, the remainder into lanes 0..), combined
/// as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)): a fixed order, so the same bits on every
/// instruction set.
#[inline(always)]
fn lane_sum(v: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            lanes[k] += c[k];
        }
    }
    for (l, r) in lanes.iter_mut().zip(rest) {
        *l += r;
    }
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sum_is_the_stated_order() {
        let v: Vec<f64> = (0..21).map(|k| 1.0 / (k as f64 + 1.0)).collect();
        let mut lanes = [0.0; 8];
        for (k, x) in v.iter().enumerate().take(16) {
            lanes[k % 8] += x;
        }
        for (k, x) in v[16..].iter().enumerate() {
            lanes[k] += x;
        }
        let want = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        assert_eq!(lane_sum(&v).to_bits(), want.to_bits());
        assert_eq!(lane_sum(&[]), 0.0);
    }

    #[test]
    fn footprint_is_linear_in_n() {
        let a = footprint_bytes(16384, 64, 2);
        let b = footprint_bytes(32768, 64, 2);
        assert!(b < 2.01 * a && a < 64e6, "{a} {b}");
    }
}

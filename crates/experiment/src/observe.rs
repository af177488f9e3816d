//! Observables at a checkpoint, from the evolved coordinates X (n x m, m = d or the reduced
//! dimension) and their Gram matrix G = X X^T:
//!
//! ```text
//! cos_ij        = G_ij on the sphere, G_ij / sqrt(G_ii G_jj) in R^d
//! pair-fraction = #{(i, j): i != j, cos_ij > 1 - delta} / (n (n - 1))          \[GLPR\] Figure 3
//! cluster-count = components of the graph {cos_ij > 1 - delta}
//! energy        = (1 / (2 beta n^2)) sum_ij exp(beta G_ij)                     \[GLPR\] (3.5)
//! min-cosine    = min_{i != j} cos_ij,   mean-cosine = mean_{i != j} cos_ij
//! diameter      = max_ij arccos(cos_ij) (sphere), max_ij |x_i - x_j| (R^d)
//! attention     = A^h_ij = exp(beta x_i^T B_h x_j) / N_i over j (j <= i when causal),
//!                 N_i = sum_j exp(...) (SA) or n (USA)                          \[GLPR\] (2.3)-(2.7)
//! attention-rank: #{s_k > tol s_1} and exp(-sum_k p_k ln p_k), p_k = s_k / sum_l s_l
//! ```
//!
//! The pair statistic and the clusters are the engine's (`attnflow_dynamics::observables`), on the
//! raw Gram matrix on the sphere, so that counts agree bit for bit with `run_phase_diagram`.

use crate::error::{Result, invalid};
use crate::resolve::Point;
use crate::spec::{GeometrySpec, ObservableKind};
use attnflow_dynamics::observables::{cluster_labels, min_inner_product, pairs_above};
use attnflow_dynamics::{Configuration, SelfAttention};
use serde::{Deserialize, Serialize};

/// The value of one observable at one checkpoint of one realisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Observed {
    /// pair-fraction, energy, min-cosine, mean-cosine, diameter (non-finite values as "inf",
    /// "-inf", "nan": [`crate::number`]).
    Number(#[serde(with = "crate::number::scalar")] f64),
    /// cluster-count without labels.
    Count(u64),
    /// cluster-count with labels.
    Clusters { count: u64, labels: Vec<usize> },
    /// attention-rank, per head.
    Rank {
        rank: Vec<u64>,
        #[serde(rename = "effective-rank", with = "crate::number::vec1")]
        effective_rank: Vec<f64>,
    },
    /// positions (n rows).
    Rows(#[serde(with = "crate::number::vec2")] Vec<Vec<f64>>),
    /// attention matrices, per head (n x n each).
    Heads(#[serde(with = "crate::number::vec3")] Vec<Vec<Vec<f64>>>),
}

/// An observation with what aggregation needs (the integer hit count of the pair statistic).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measured {
    pub value: Observed,
    /// pair-fraction: the number of ordered pairs above the threshold.
    pub hits: Option<u64>,
}

/// Cosines: the Gram matrix itself on the sphere, normalised in R^d.
fn cosines(gram: &[f64], n: usize, geometry: GeometrySpec) -> Vec<f64> {
    match geometry {
        GeometrySpec::Sphere => gram.to_vec(),
        GeometrySpec::Euclidean => {
            let mut c = gram.to_vec();
            for i in 0..n {
                for j in 0..n {
                    c[i * n + j] = gram[i * n + j] / (gram[i * n + i] * gram[j * n + j]).sqrt();
                }
            }
            c
        }
    }
}

/// Singular values (descending) of an n x n row-major matrix.
pub fn singular_values(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    m.singular_values().ok()
}

/// Numerical rank (#{s_k > tol s_1}) and effective rank exp(H(s / sum s)).
pub fn ranks(s: &[f64], tol: f64) -> (u64, f64) {
    let top = s.iter().copied().fold(0.0, f64::max);
    let rank = s.iter().filter(|&&v| v > tol * top).count() as u64;
    let total: f64 = s.iter().sum();
    if !(total > 0.0) {
        return (0, 0.0);
    }
    let entropy: f64 = s
        .iter()
        .map(|&v| v / total)
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    (rank, entropy.exp())
}

/// Every observable of `point` at the coordinates `x` (n x m).
pub(crate) fn observe(
    point: &Point,
    model: &SelfAttention,
    x: &[f64],
    m: usize,
) -> Result<Vec<Measured>> {
    let n = point.n;
    // the n x n Gram matrix only when an observable reads pairs (positions alone do not: large-n
    // runs of the spectral field stay O(n) in memory)
    let pairwise = point
        .observables
        .iter()
        .any(|o| o.kind != ObservableKind::Positions);
    let (gram, cos) = if pairwise {
        let mut gram = vec![0.0; n * n];
        attnflow_dynamics::kernel::gram(x, n, m, &mut gram);
        let cos = cosines(&gram, n, point.geometry);
        (gram, cos)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut attention: Option<Vec<Vec<f64>>> = None;
    let mut out = Vec::with_capacity(point.observables.len());
    for (idx, o) in point.observables.iter().enumerate() {
        let plain = |value| Measured { value, hits: None };
        out.push(match o.kind {
            ObservableKind::Positions => plain(Observed::Rows(
                x.chunks_exact(m).map(<[f64]>::to_vec).collect(),
            )),
            ObservableKind::PairFraction => {
                let hits = pairs_above(&cos, n, 1.0 - o.delta);
                let value = if n < 2 {
                    0.0
                } else {
                    hits as f64 / (n * (n - 1)) as f64
                };
                Measured {
                    value: Observed::Number(value),
                    hits: Some(hits),
                }
            }
            ObservableKind::ClusterCount => {
                let labels = cluster_labels(&cos, n, o.delta);
                let count = labels.iter().max().map_or(0, |m| m + 1) as u64;
                plain(if o.labels {
                    Observed::Clusters { count, labels }
                } else {
                    Observed::Count(count)
                })
            }
            ObservableKind::Energy => {
                let cfg = Configuration::euclidean(n, m, x.to_vec())
                    .map_err(crate::error::dynamics(format!("observables[{idx}]")))?;
                plain(Observed::Number(
                    attnflow_dynamics::observables::energy(&cfg, point.beta)
                        .map_err(crate::error::dynamics(format!("observables[{idx}]")))?,
                ))
            }
            ObservableKind::MinCosine => plain(Observed::Number(min_inner_product(&cos, n))),
            ObservableKind::MeanCosine => {
                let mut s = 0.0;
                for i in 0..n {
                    for j in 0..n {
                        if i != j {
                            s += cos[i * n + j];
                        }
                    }
                }
                plain(Observed::Number(if n < 2 {
                    1.0
                } else {
                    s / (n * (n - 1)) as f64
                }))
            }
            ObservableKind::Diameter => {
                let mut diam: f64 = 0.0;
                for i in 0..n {
                    for j in i + 1..n {
                        let dist = match point.geometry {
                            GeometrySpec::Sphere => cos[i * n + j].clamp(-1.0, 1.0).acos(),
                            GeometrySpec::Euclidean => (gram[i * n + i] + gram[j * n + j]
                                - 2.0 * gram[i * n + j])
                                .max(0.0)
                                .sqrt(),
                        };
                        diam = diam.max(dist);
                    }
                }
                plain(Observed::Number(diam))
            }
            ObservableKind::AttentionMatrix | ObservableKind::AttentionRank => {
                if attention.is_none() {
                    let weights = model
                        .attention_matrices(x, n, m)
                        .map_err(|e| invalid(format!("observables[{idx}]"), e.to_string()))?;
                    attention = Some(weights);
                }
                let a = attention.as_ref().expect("computed just above");
                if a.iter().flatten().any(|v| !v.is_finite()) {
                    return Err(invalid(
                        format!("observables[{idx}]"),
                        "attention weights overflow f64 (USA with large beta)",
                    ));
                }
                if o.kind == ObservableKind::AttentionMatrix {
                    plain(Observed::Heads(
                        a.iter()
                            .map(|h| h.chunks_exact(n).map(<[f64]>::to_vec).collect())
                            .collect(),
                    ))
                } else {
                    let (mut rank, mut effective_rank) = (vec![], vec![]);
                    for h in a.iter() {
                        let s = singular_values(h, n).ok_or_else(|| {
                            invalid(format!("observables[{idx}]"), "the SVD did not converge")
                        })?;
                        let (r, e) = ranks(&s, o.tol);
                        rank.push(r);
                        effective_rank.push(e);
                    }
                    plain(Observed::Rank {
                        rank,
                        effective_rank,
                    })
                }
            }
        });
    }
    Ok(out)
}

//! Conventions a comparison, a normalisation or a matrix law could flip silently:
//!
//! - the Figure 3 pair statistic: strict '>' on 1 - delta (the authors' test), ordered pairs i != j,
//!   divided by n (n - 1); the same strictness for the cluster graph and the all-pairs test;
//! - the random-matrix laws of `sampling` (Ginibre N(0, 1) entries; GOE (G + G^T)/sqrt 2 with variance 2 on
//!   the diagonal and 1 off it; Wishart G G^T with mean d I) and the scaling of B = Q^T K / sqrt(d);
//! - the tangent projection P_x y = y - <x, y> x, by a velocity computed by hand;
//! - pair weights multiply the attention weights (A_ij proportional to w_ij e^{beta <x_i, x_j>}, so
//!   ALiBi's w_ij = e^{-m |i - j|} is the logit bias -m |i - j|), with row i of w for particle i.

use attnflow_dynamics::observables::{
    all_pairs_above, cluster_count, fraction_pairs_above, pairs_above,
};
use attnflow_dynamics::sampling::{Purpose, ginibre, goe, stream, wishart};
use attnflow_dynamics::{Configuration, Mask, ModelKind, PairWeights, SelfAttention, VectorField};

/// Symmetric n x n "Gram" matrix with unit diagonal and g_ij = f(|i - j|).
fn toeplitz(n: usize, f: impl Fn(usize) -> f64) -> Vec<f64> {
    let mut g = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            g[i * n + j] = if i == j { 1.0 } else { f(i.abs_diff(j)) };
        }
    }
    g
}

#[test]
fn pair_statistic_is_strict_and_counts_ordered_pairs() {
    // n = 3 by hand: off-diagonal entries 0.5 (|i-j| = 1, 4 ordered pairs) and 0.25 (|i-j| = 2, 2 ordered pairs)
    let g = toeplitz(3, |k| if k == 1 { 0.5 } else { 0.25 });
    assert_eq!(
        pairs_above(&g, 3, 0.5),
        0,
        "equality must not count (strict >)"
    );
    assert_eq!(pairs_above(&g, 3, 0.25), 4);
    assert_eq!(
        pairs_above(&g, 3, 0.2),
        6,
        "ordered pairs: 2 per unordered pair"
    );
    assert_eq!(pairs_above(&g, 3, 0.999), 0, "the diagonal never counts");
    assert!((fraction_pairs_above(&g, 3, 0.25) - 4.0 / 6.0).abs() < 1e-15);
    assert!(!all_pairs_above(&g, 3, 0.25));
    assert!(all_pairs_above(&g, 3, 0.2));
    // cluster graph {<x_i, x_j> > 1 - delta}: at equality the points are not linked
    assert_eq!(cluster_count(&g, 3, 0.5), 3);
    assert_eq!(cluster_count(&g, 3, 0.5 + 1e-12), 1);
    // larger n (vectorised count), many entries exactly at the threshold
    for n in [8usize, 17, 33] {
        let g = toeplitz(n, |k| if k % 2 == 0 { 0.75 } else { 0.5 });
        let even = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .filter(|&(i, j)| i != j && i.abs_diff(j) % 2 == 0)
            .count() as u64;
        assert_eq!(pairs_above(&g, n, 0.5), even, "n {n}");
        assert_eq!(pairs_above(&g, n, 0.75), 0, "n {n}");
        assert_eq!(pairs_above(&g, n, 0.5 - 1e-12), (n * (n - 1)) as u64);
        let f = fraction_pairs_above(&g, n, 0.5);
        assert!((f - even as f64 / (n * (n - 1)) as f64).abs() < 1e-15);
    }
}

#[test]
fn random_matrix_laws_and_scalings() {
    let d = 3;
    let m = 20_000u64;
    let (mut gin2, mut goe_diag2, mut goe_off2, mut goe_off_mean, mut b2) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut wish_diag = 0.0;
    for r in 0..m {
        let mut rng = stream(3, r, Purpose::Matrices);
        let g = ginibre(d, &mut rng).unwrap();
        gin2 += g.as_slice().iter().map(|v| v * v).sum::<f64>() / (d * d) as f64;
        let w = goe(d, &mut rng).unwrap();
        assert!(w.is_symmetric(0.0));
        goe_diag2 += (0..d).map(|a| w.get(a, a).powi(2)).sum::<f64>() / d as f64;
        goe_off2 += w.get(0, 1).powi(2);
        goe_off_mean += w.get(0, 1);
        let q = ginibre(d, &mut rng).unwrap();
        let k = ginibre(d, &mut rng).unwrap();
        let b = q
            .transpose()
            .matmul(&k)
            .unwrap()
            .scaled(1.0 / (d as f64).sqrt());
        b2 += b.as_slice().iter().map(|v| v * v).sum::<f64>() / (d * d) as f64;
        let s = wishart(d, &mut rng).unwrap();
        wish_diag += (0..d).map(|a| s.get(a, a)).sum::<f64>() / d as f64;
    }
    let mf = m as f64;
    let tol = 0.05;
    assert!(
        (gin2 / mf - 1.0).abs() < tol,
        "Ginibre E g^2 = 1: {}",
        gin2 / mf
    );
    assert!(
        (goe_diag2 / mf - 2.0).abs() < 2.0 * tol,
        "GOE diagonal variance 2: {}",
        goe_diag2 / mf
    );
    assert!(
        (goe_off2 / mf - 1.0).abs() < tol,
        "GOE off-diagonal variance 1: {}",
        goe_off2 / mf
    );
    assert!((goe_off_mean / mf).abs() < 0.03);
    assert!(
        (b2 / mf - 1.0).abs() < tol,
        "Q^T K / sqrt(d) entry variance 1: {}",
        b2 / mf
    );
    assert!(
        (wish_diag / mf - d as f64).abs() < d as f64 * tol,
        "Wishart G G^T: E diag = d: {}",
        wish_diag / mf
    );
    // matmul / transpose conventions: (Q^T K)_ab = sum_c Q_ca K_cb, by hand
    let q = attnflow_dynamics::SquareMatrix::new(2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let k = attnflow_dynamics::SquareMatrix::new(2, vec![5.0, 6.0, 7.0, 8.0]).unwrap();
    let qtk = q.transpose().matmul(&k).unwrap();
    assert_eq!(qtk.as_slice(), &[26.0, 30.0, 38.0, 44.0]);
    // x^T M y with M = Q^T K: x = e1, y = e2 picks (Q^T K)_{12} = 30
    assert_eq!(qtk.bilinear(&[1.0, 0.0], &[0.0, 1.0]), 30.0);
}

/// P_x y = y - <x, y> x by hand: USA at beta = 0 with x_1 = e_1, x_2 = (0.6, 0.8), d = 2:
/// average (1/2)(x_1 + x_2) = (0.8, 0.4); at x_1: minus <x_1, (0.8, 0.4)> x_1 = (0, 0.4);
/// at x_2: <x_2, (0.8, 0.4)> = 0.8, so (0.8, 0.4) - 0.8 (0.6, 0.8) = (0.32, -0.24).
#[test]
fn tangent_projection_by_hand() {
    let x = Configuration::new(2, 2, vec![1.0, 0.0, 0.6, 0.8]).unwrap();
    let mut v = vec![0.0; 4];
    SelfAttention::usa(0.0)
        .unwrap()
        .velocity(x.as_slice(), 2, 2, &mut v)
        .unwrap();
    let expected = [0.0, 0.4, 0.32, -0.24];
    for (a, b) in v.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-15, "{v:?} vs {expected:?}");
    }
}

/// x_1 = e_1, x_2 = e_2, x_3 = e_1 (d = 2), beta = 1, causal ALiBi with slope m: row 3 sees
/// w_31 = e^{-2m}, w_32 = e^{-m}, w_33 = 1 and the logits 1, 0, 1, so (SA)
/// y_3 = ((e^{1-2m} + e) e_1 + e^{-m} e_2) / (e^{1-2m} + e^{-m} + e), and (USA) the same sum
/// divided by n = 3; the velocity is P_{x_3} y_3 = (0, y_3[2]).
#[test]
fn alibi_pair_weights_by_hand() {
    let m = 0.7_f64;
    let x = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
    let e = 1f64.exp();
    let (w31, w32) = ((-2.0 * m).exp(), (-m).exp());
    let (y1, y2) = (w31 * e + e, w32);
    for (kind, norm) in [(ModelKind::Sa, w31 * e + w32 + e), (ModelKind::Usa, 3.0)] {
        let model = SelfAttention::builder()
            .model(kind)
            .mask(Mask::Weighted(PairWeights::causal_alibi(3, m).unwrap()))
            .build()
            .unwrap();
        let (mut drift, mut velocity) = ([0.0; 6], [0.0; 6]);
        model.drift(&x, 3, 2, &mut drift).unwrap();
        model.velocity(&x, 3, 2, &mut velocity).unwrap();
        assert!(
            (drift[4] - y1 / norm).abs() < 1e-15,
            "{kind:?}: {}",
            drift[4]
        );
        assert!(
            (drift[5] - y2 / norm).abs() < 1e-15,
            "{kind:?}: {}",
            drift[5]
        );
        assert!(velocity[4].abs() < 1e-15 && (velocity[5] - y2 / norm).abs() < 1e-15);
        // row 1 sees only itself: A_11 = 1 (SA), e / 3 (USA), along x_1: no velocity
        let a11 = if kind == ModelKind::Sa { 1.0 } else { e / 3.0 };
        assert!((drift[0] - a11).abs() < 1e-15 && drift[1] == 0.0);
    }
}

//! Each observable against a direct formula on a small hand-made configuration (read at t = 0 with
//! the exact checkpoint rule, i.e. before any step).

mod common;
use attnflow_experiment::{Observed, Output};

/// Four points on S^2: two close to e_1, one at e_2, one at -e_1 rotated slightly.
fn points() -> Vec<[f64; 3]> {
    let a: f64 = 0.02;
    let b: f64 = 0.3;
    vec![
        [1.0, 0.0, 0.0],
        [a.cos(), a.sin(), 0.0],
        [0.0, 1.0, 0.0],
        [-b.cos(), 0.0, b.sin()],
    ]
}

fn dot(x: &[f64; 3], y: &[f64; 3]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

fn observed_at_zero(extra: &str, observables: &str) -> Output {
    let dir = common::scratch("observables");
    let path = dir.join("x.json");
    std::fs::write(&path, serde_json::to_string(&points()).unwrap()).unwrap();
    let r = common::resolve(&format!(
        "observables = [{observables}]\n[field]\nbeta = 1.5\n{extra}\n[init]\nkind = \"points\"\npath = \"{}\"\n[time]\ncheckpoints = [0.0]\nt-max = 0.1\ncheckpoint-rule = \"exact\"",
        path.display()
    ));
    common::run_quiet(&r)
}

fn value<'a>(out: &'a Output, name: &str) -> &'a Observed {
    let run = &out.points[0].runs.as_ref().unwrap()[0];
    assert_eq!(run.checkpoints[0].step, 0);
    &run.checkpoints[0].values[name]
}

fn number(o: &Observed) -> f64 {
    match o {
        Observed::Number(v) => *v,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn scalar_observables_match_direct_formulas() {
    let x = points();
    let n = x.len();
    let out = observed_at_zero(
        "",
        "\"positions\", {kind = \"pair-fraction\", delta = 1e-3}, {kind = \"cluster-count\", delta = 1e-3, labels = true}, \"energy\", \"min-cosine\", \"mean-cosine\", \"diameter\"",
    );
    // positions
    match value(&out, "positions") {
        Observed::Rows(rows) => {
            for (r, p) in rows.iter().zip(&x) {
                for (a, b) in r.iter().zip(p) {
                    assert!((a - b).abs() < 1e-15);
                }
            }
        }
        other => panic!("{other:?}"),
    }
    let g = |i: usize, j: usize| dot(&x[i], &x[j]);
    // pairs above 1 - 1e-3: (0, 1) and (1, 0) only (cos 0.02 = 0.9998)
    assert_eq!(number(value(&out, "pair-fraction")), 2.0 / 12.0);
    match value(&out, "cluster-count") {
        Observed::Clusters { count, labels } => {
            assert_eq!(*count, 3);
            assert_eq!(labels, &vec![0, 0, 1, 2]);
        }
        other => panic!("{other:?}"),
    }
    let beta: f64 = 1.5;
    let energy: f64 = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| (beta * g(i, j)).exp())
        .sum::<f64>()
        / (2.0 * beta * (n * n) as f64);
    assert!((number(value(&out, "energy")) - energy).abs() < 1e-14);
    let offdiag: Vec<f64> = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| g(i, j))
        .collect();
    let min = offdiag.iter().copied().fold(f64::INFINITY, f64::min);
    assert!((number(value(&out, "min-cosine")) - min).abs() < 1e-15);
    assert!((min - (-(0.3f64).cos())).abs() < 1e-15);
    let mean = offdiag.iter().sum::<f64>() / offdiag.len() as f64;
    assert!((number(value(&out, "mean-cosine")) - mean).abs() < 1e-15);
    // diameter: the largest angle, between x_1 (or x_2) and x_4: pi - 0.3 from x_1
    let diam = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| g(i, j).clamp(-1.0, 1.0).acos())
        .fold(0.0, f64::max);
    assert!((number(value(&out, "diameter")) - diam).abs() < 1e-12);
    assert!((diam - (std::f64::consts::PI - 0.3 + 0.0)).abs() < 0.03);
}

/// Softmax rows of exp(beta x_i^T B x_j), B = Q^T K, by hand.
fn attention_by_hand(x: &[[f64; 3]], b: [[f64; 3]; 3], beta: f64, causal: bool) -> Vec<Vec<f64>> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let last = if causal { i + 1 } else { n };
            let logits: Vec<f64> = (0..n)
                .map(|j| {
                    let bx: Vec<f64> = (0..3)
                        .map(|r| (0..3).map(|c| b[r][c] * x[j][c]).sum())
                        .collect();
                    beta * (0..3).map(|r| x[i][r] * bx[r]).sum::<f64>()
                })
                .collect();
            let z: f64 = logits[..last].iter().map(|l| l.exp()).sum();
            (0..n)
                .map(|j| if j < last { logits[j].exp() / z } else { 0.0 })
                .collect()
        })
        .collect()
}

#[test]
fn attention_matrix_and_ranks_match_direct_formulas() {
    let x = points();
    // Q = diag(1, 2, 1), K = I: B = diag(1, 2, 1); second head Q = K = I
    let out = observed_at_zero(
        "mask = \"causal\"\n[[field.heads]]\nq = {diagonal = [1.0, 2.0, 1.0]}\n[[field.heads]]",
        "\"attention-matrix\", {kind = \"attention-rank\", tol = 1e-10}",
    );
    let heads = match value(&out, "attention-matrix") {
        Observed::Heads(h) => h.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(heads.len(), 2);
    let b1 = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]];
    let b2 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for (h, b) in heads.iter().zip([b1, b2]) {
        let expected = attention_by_hand(&x, b, 1.5, true);
        for (r, e) in h.iter().zip(&expected) {
            for (a, b) in r.iter().zip(e) {
                assert!((a - b).abs() < 1e-14, "{h:?} vs {expected:?}");
            }
        }
    }
    // a lower-triangular matrix with positive diagonal has full rank; effective rank by hand
    match value(&out, "attention-rank") {
        Observed::Rank {
            rank,
            effective_rank,
        } => {
            assert_eq!(rank, &vec![4, 4]);
            for (h, e) in heads.iter().zip(effective_rank) {
                let flat: Vec<f64> = h.iter().flatten().copied().collect();
                let s = attnflow_experiment::observe::singular_values(&flat, 4).unwrap();
                let total: f64 = s.iter().sum();
                let entropy: f64 = s.iter().map(|v| v / total).map(|p| -p * p.ln()).sum();
                assert!((e - entropy.exp()).abs() < 1e-12);
                assert!(*e > 1.0 && *e <= 4.0);
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn singular_values_and_ranks_of_known_matrices() {
    // diag(3, 2, 0) rotated by a permutation: singular values 3, 2, 0
    let a = [0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0];
    let s = attnflow_experiment::observe::singular_values(&a, 3).unwrap();
    assert!((s[0] - 3.0).abs() < 1e-14 && (s[1] - 2.0).abs() < 1e-14 && s[2].abs() < 1e-14);
    let (rank, erank) = attnflow_experiment::observe::ranks(&s, 1e-10);
    assert_eq!(rank, 2);
    let (p, q): (f64, f64) = (0.6, 0.4);
    assert!((erank - (-(p * p.ln() + q * q.ln())).exp()).abs() < 1e-14);
    // a rank-one attention matrix (every row the same): numerical rank 1, effective rank 1
    let (rank, erank) = attnflow_experiment::observe::ranks(&[2.0, 1e-17, 0.0], 1e-10);
    assert_eq!(rank, 1);
    assert!((erank - 1.0).abs() < 1e-14);
}

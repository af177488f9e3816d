//! The normalisation option of the attention field (arXiv 2510.22026): every scheme moves the
//! directions by th_i' = (1/s_i) P_{th_i} A_i(Theta), checked against the Post-LN field evaluated at
//! the directions (A_i = its drift) and a central difference of th_i = x_i / |x_i| along the flow.

use attnflow_dynamics::sampling::{self, Purpose};
use attnflow_dynamics::{ModelKind, Normalization, SelfAttention, Value, VectorField};

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn field(norm: Normalization, model: ModelKind) -> SelfAttention {
    let mut rng = sampling::stream(3, 0, Purpose::Matrices);
    let b = sampling::ginibre(4, &mut rng).unwrap();
    let v = sampling::ginibre(4, &mut rng).unwrap();
    SelfAttention::builder()
        .beta(1.3)
        .model(model)
        .head_interaction(Some(b), Value::Matrix(v))
        .normalization(norm)
        .build()
        .unwrap()
}

/// Directions th (n x d) and radii r of a seeded random state.
fn state(n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut rng = sampling::stream(11, 0, Purpose::InitialCondition);
    let th = sampling::uniform_sphere(n, d, &mut rng).unwrap().into_vec();
    let r = (0..n).map(|i| 0.5 + 0.4 * i as f64).collect();
    (th, r)
}

#[test]
fn directions_move_by_the_speed_factor_of_each_scheme() {
    let (n, d) = (5, 4);
    let (th, r) = state(n, d);
    for model in [ModelKind::Sa, ModelKind::Usa] {
        let post = field(Normalization::PostLn, model);
        let mut a = vec![0.0; n * d];
        post.drift(&th, n, d, &mut a).unwrap(); // A_i(Theta)
        for scheme in [
            Normalization::PostLn,
            Normalization::PreLn,
            Normalization::PeriLn,
            Normalization::Ngpt,
        ] {
            let f = field(scheme, model);
            let x: Vec<f64> = if scheme.carries_radii() {
                th.iter().enumerate().map(|(k, t)| r[k / d] * t).collect()
            } else {
                th.clone()
            };
            let mut v = vec![0.0; n * d];
            f.velocity(&x, n, d, &mut v).unwrap();
            // th_i(eps) = (x_i + eps v_i) / |x_i + eps v_i|, central difference (exact to O(eps^2))
            let eps = 1e-6;
            for i in 0..n {
                let ai = &a[i * d..(i + 1) * d];
                let ti = &th[i * d..(i + 1) * d];
                let s = match scheme {
                    Normalization::PostLn => 1.0,
                    Normalization::PreLn => r[i],
                    Normalization::PeriLn => r[i] * norm(ai),
                    Normalization::Ngpt => norm(ai),
                };
                let radial: f64 = ti.iter().zip(ai).map(|(p, q)| p * q).sum();
                let dir = |sign: f64| -> Vec<f64> {
                    let y: Vec<f64> = (0..d)
                        .map(|k| x[i * d + k] + sign * eps * v[i * d + k])
                        .collect();
                    let m = norm(&y);
                    y.iter().map(|c| c / m).collect()
                };
                let (plus, minus) = (dir(1.0), dir(-1.0));
                for k in 0..d {
                    let measured = (plus[k] - minus[k]) / (2.0 * eps);
                    let predicted = (ai[k] - radial * ti[k]) / s;
                    assert!(
                        (measured - predicted).abs() < 1e-7,
                        "{scheme:?} {model:?} i={i} k={k}: {measured} vs {predicted}"
                    );
                }
                // the radius law: r' = <th, x'>; Pre-LN <th, A>, Peri-LN <th, A> / |A|, else 0
                let dr: f64 = ti
                    .iter()
                    .zip(&v[i * d..(i + 1) * d])
                    .map(|(p, q)| p * q)
                    .sum();
                let expected = match scheme {
                    Normalization::PreLn => radial,
                    Normalization::PeriLn => radial / norm(ai),
                    _ => 0.0,
                };
                assert!(
                    (dr - expected).abs() < 1e-13,
                    "{scheme:?}: r' {dr} vs {expected}"
                );
            }
        }
    }
}

#[test]
fn pre_ln_ignores_the_radii_and_peri_ln_has_unit_speed() {
    let (n, d) = (5, 4);
    let (th, r) = state(n, d);
    let x: Vec<f64> = th.iter().enumerate().map(|(k, t)| r[k / d] * t).collect();
    let pre = field(Normalization::PreLn, ModelKind::Sa);
    let (mut u, mut w) = (vec![0.0; n * d], vec![0.0; n * d]);
    pre.velocity(&x, n, d, &mut u).unwrap();
    pre.velocity(&th, n, d, &mut w).unwrap();
    for (a, b) in u.iter().zip(&w) {
        assert!((a - b).abs() < 1e-15);
    }
    let peri = field(Normalization::PeriLn, ModelKind::Sa);
    peri.velocity(&x, n, d, &mut u).unwrap();
    for row in u.chunks_exact(d) {
        assert!((norm(row) - 1.0).abs() < 1e-14);
    }
}

#[test]
fn post_ln_is_the_default_and_records_do_not_change() {
    let sa = SelfAttention::sa(2.0).unwrap();
    assert_eq!(sa.normalization(), Normalization::PostLn);
    let json = serde_json::to_string(&sa).unwrap();
    assert!(!json.contains("normalization"));
    let back: SelfAttention = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sa);
    let pre = SelfAttention::builder()
        .normalization(Normalization::PreLn)
        .build()
        .unwrap();
    let back: SelfAttention = serde_json::from_str(&serde_json::to_string(&pre).unwrap()).unwrap();
    assert_eq!(back.normalization(), Normalization::PreLn);
    assert!(!pre.has_fused_paper_euler());
    assert!(!pre.preserves_span());
    let ngpt = SelfAttention::builder()
        .normalization(Normalization::Ngpt)
        .build()
        .unwrap();
    assert!(!ngpt.has_fused_paper_euler());
    assert!(ngpt.gradient_flow().is_err());
}

#[test]
fn bad_states_are_errors() {
    let pre = field(Normalization::PreLn, ModelKind::Sa);
    let mut v = vec![0.0; 8];
    let x = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]; // second particle at the origin
    assert!(pre.velocity(&x, 2, 4, &mut v).is_err());
    assert!(
        SelfAttention::builder()
            .normalization(Normalization::Ngpt)
            .euclidean()
            .build()
            .is_err()
    );
    // Peri-LN with V = 0: the attention output vanishes
    let zero = SelfAttention::builder()
        .head_interaction(
            None,
            Value::Matrix(attnflow_dynamics::SquareMatrix::diagonal(&[0.0; 4])),
        )
        .normalization(Normalization::PeriLn)
        .build()
        .unwrap();
    assert!(
        zero.velocity(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], 2, 4, &mut v)
            .is_err()
    );
}

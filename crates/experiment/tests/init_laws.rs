//! The law of each initial condition.

use attnflow_dynamics::sampling::{Purpose, stream};
use attnflow_experiment::init::{clusters, equiangular, hemisphere};

#[test]
fn equiangular_cosines_are_exact() {
    for (n, d, rho) in [
        (5, 5, 0.3),
        (8, 10, -1.0 / 7.0),
        (6, 6, 0.0),
        (4, 7, 0.95),
        (10, 10, -0.05),
    ] {
        let x = equiangular(n, d, rho).unwrap();
        let g = x.gram();
        for i in 0..n {
            assert!((g[i * n + i] - 1.0).abs() < 1e-14);
            for j in 0..n {
                if i != j {
                    assert!(
                        (g[i * n + j] - rho).abs() < 1e-14,
                        "n={n} rho={rho}: {}",
                        g[i * n + j]
                    );
                }
            }
        }
    }
    // rho = 0 is the orthonormal frame of [GLPR] Thm 6.8
    let x = equiangular(3, 4, 0.0).unwrap();
    assert_eq!(
        x.as_slice(),
        attnflow_dynamics::Configuration::orthonormal(3, 4)
            .unwrap()
            .as_slice()
    );
}

#[test]
fn hemisphere_points_are_in_the_open_hemisphere_and_uniform_there() {
    let (n, d) = (4000, 3);
    let x = hemisphere(n, d, &mut stream(3, 0, Purpose::InitialCondition)).unwrap();
    assert!(x.as_slice().chunks_exact(d).all(|p| p[0] > 0.0));
    // uniform on the half-sphere of S^2: <x, e_1> is uniform on (0, 1) (Archimedes), mean 1/2,
    // the other coordinates have mean 0
    let mean: Vec<f64> = (0..d)
        .map(|k| x.as_slice().chunks_exact(d).map(|p| p[k]).sum::<f64>() / n as f64)
        .collect();
    let se = (1.0 / 12.0 / n as f64).sqrt();
    assert!((mean[0] - 0.5).abs() < 4.0 * se, "{mean:?}");
    assert!(mean[1].abs() < 0.05 && mean[2].abs() < 0.05, "{mean:?}");
}

#[test]
fn cluster_points_spread_around_their_centres() {
    let (n, d, k, spread) = (3000, 5, 3, 0.05);
    let x = clusters(
        n,
        d,
        k,
        spread,
        &mut stream(9, 0, Purpose::InitialCondition),
    )
    .unwrap();
    // the centres are the first draws of the stream: recompute them
    let centres = attnflow_dynamics::sampling::uniform_sphere(
        k,
        d,
        &mut stream(9, 0, Purpose::InitialCondition),
    )
    .unwrap();
    // tan(angle to the centre) = spread |P_c g|: E tan^2 = spread^2 (d - 1)
    let mut tan2 = 0.0;
    for i in 0..n {
        let c = centres.row(i % k);
        let cos: f64 = x.row(i).iter().zip(c).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9, "particle {i} is far from its centre: {cos}");
        tan2 += (1.0 - cos * cos) / (cos * cos);
    }
    let estimate = (tan2 / n as f64 / (d - 1) as f64).sqrt();
    assert!((estimate / spread - 1.0).abs() < 0.03, "{estimate}");
}

#[test]
fn uniform_start_has_mean_zero() {
    // through the runner: the positions at t = 0 of a uniform start
    let r = attnflow_experiment::Spec::from_toml_str(
        "n = 3000\nd = 3\nobservables = [\"positions\"]\n[time]\ncheckpoints = [0.0]\nt-max = 0.1\ncheckpoint-rule = \"exact\"",
    )
    .unwrap()
    .resolve()
    .unwrap();
    let out = attnflow_experiment::run(&r, &|_, _| {}).unwrap();
    let rows = match &out.points[0].runs.as_ref().unwrap()[0].checkpoints[0].values["positions"] {
        attnflow_experiment::Observed::Rows(r) => r.clone(),
        other => panic!("{other:?}"),
    };
    let se = (1.0 / 3.0 / 3000.0f64).sqrt();
    for k in 0..3 {
        let m = rows.iter().map(|r| r[k]).sum::<f64>() / 3000.0;
        assert!(m.abs() < 4.0 * se, "coordinate {k}: {m}");
    }
    for r in &rows {
        assert!((r.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-14);
    }
}

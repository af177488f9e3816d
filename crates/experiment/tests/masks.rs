//! Pair-weight masks in specs: `{weights = {npy = ...}}` and `{alibi = {slope}}` give the attention
//! matrix A_ij = w_ij e^{beta <x_i, x_j>} / sum_k w_ik e^{beta <x_i, x_k>} (checked by hand), and
//! weights 1[j <= i] from a file run like `mask = "causal"`.

mod common;
use attnflow_experiment::Observed;

fn points(dir: &std::path::Path) -> std::path::PathBuf {
    let x = [
        [1.0, 0.0, 0.0],
        [0.6, 0.8, 0.0],
        [0.0, 0.6, 0.8],
        [0.0, 0.0, 1.0],
    ];
    let path = dir.join("x.npy");
    attnflow_experiment::io::write_npy(&path, 4, 3, &x.concat()).unwrap();
    path
}

/// The attention matrix at t = 0 of a spec with mask `mask`.
fn attention_at_start(mask: &str, x: &std::path::Path) -> Vec<Vec<f64>> {
    let out = common::run_quiet(&common::resolve(&format!(
        "observables = [\"attention-matrix\"]\n[field]\nbeta = 2.0\nmask = {mask}\n[init]\nkind = \"points\"\npath = \"{}\"\n[time]\nt-max = 0.1\ncheckpoints = 1\ncheckpoint-rule = \"exact\"",
        x.display()
    )));
    match &out.points[0].runs.as_ref().unwrap()[0].checkpoints[0].values["attention-matrix"] {
        Observed::Heads(h) => h[0].clone(),
        other => panic!("{other:?}"),
    }
}

fn by_hand(x: &[[f64; 3]; 4], w: impl Fn(usize, usize) -> f64) -> Vec<Vec<f64>> {
    (0..4)
        .map(|i| {
            let e: Vec<f64> = (0..4)
                .map(|j| {
                    let dot: f64 = (0..3).map(|k| x[i][k] * x[j][k]).sum();
                    w(i, j) * (2.0 * dot).exp()
                })
                .collect();
            let z: f64 = e.iter().sum();
            e.iter().map(|v| v / z).collect()
        })
        .collect()
}

#[test]
fn alibi_and_file_weights_give_the_attention_by_hand() {
    let dir = common::scratch("masks");
    let x_path = points(&dir);
    let x = [
        [1.0, 0.0, 0.0],
        [0.6, 0.8, 0.0],
        [0.0, 0.6, 0.8],
        [0.0, 0.0, 1.0],
    ];
    let close = |a: &[Vec<f64>], b: &[Vec<f64>]| {
        for (ra, rb) in a.iter().zip(b) {
            for (u, v) in ra.iter().zip(rb) {
                assert!((u - v).abs() < 1e-14, "{a:?}\n{b:?}");
            }
        }
    };
    let m = 0.7;
    close(
        &attention_at_start("{alibi = {slope = 0.7}}", &x_path),
        &by_hand(&x, |i, j| (-m * i.abs_diff(j) as f64).exp()),
    );
    close(
        &attention_at_start("{alibi = {slope = 0.7, causal = true}}", &x_path),
        &by_hand(&x, |i, j| {
            if j <= i {
                (-m * (i - j) as f64).exp()
            } else {
                0.0
            }
        }),
    );
    let w = [
        [1.0, 2.0, 0.0, 0.5],
        [0.0, 1.0, 1.0, 0.0],
        [3.0, 0.0, 1.0, 1.0],
        [1.0, 1.0, 1.0, 1.0],
    ];
    let w_path = dir.join("w.npy");
    attnflow_experiment::io::write_npy(&w_path, 4, 4, &w.concat()).unwrap();
    close(
        &attention_at_start(
            &format!("{{weights = {{npy = \"{}\"}}}}", w_path.display()),
            &x_path,
        ),
        &by_hand(&x, |i, j| w[i][j]),
    );
    // weights 1[j <= i] from a file: the causal mask
    let causal: Vec<f64> = (0..4)
        .flat_map(|i| (0..4).map(move |j| if j <= i { 1.0 } else { 0.0 }))
        .collect();
    let c_path = dir.join("causal.csv");
    let text: String = causal
        .chunks(4)
        .map(|r| {
            r.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    std::fs::write(&c_path, text).unwrap();
    close(
        &attention_at_start(
            &format!("{{weights = {{npy = \"{}\"}}}}", c_path.display()),
            &x_path,
        ),
        &attention_at_start("\"causal\"", &x_path),
    );
}

#[test]
fn bad_pair_weights_are_one_line_naming_the_field() {
    let dir = common::scratch("masks-bad");
    let w = dir.join("w3.npy");
    attnflow_experiment::io::write_npy(&w, 3, 3, &[1.0; 9]).unwrap();
    let neg = dir.join("neg.npy");
    attnflow_experiment::io::write_npy(&neg, 4, 4, &[-1.0; 16]).unwrap();
    for (mask, fragment) in [
        (
            format!("{{weights = {{npy = \"{}\"}}}}", w.display()),
            "field.mask.weights: w3.npy has shape (3, 3), expected n x n = 4 x 4",
        ),
        (
            format!("{{weights = {{npy = \"{}\"}}}}", neg.display()),
            "field.mask.weights: neg.npy:",
        ),
        ("{alibi = {slope = -1.0}}".into(), "field.mask.alibi.slope:"),
        ("{alibi = {slope = 1.0, causl = true}}".into(), "causl"),
        ("\"sliding\"".into(), "sliding"),
    ] {
        let e = common::error_of(&format!("n = 4\n[field]\nmask = {mask}"));
        assert!(e.contains(fragment), "{mask}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn masks_print_back_to_the_same_spec() {
    for mask in [
        "{alibi = {slope = 0.5}}",
        "{alibi = {slope = 0.5, causal = true}}",
    ] {
        let r = common::resolve(&format!("n = 5\n[field]\nmask = {mask}"));
        let again = common::resolve(&r.to_toml_string().unwrap());
        assert_eq!(r.spec(), again.spec());
        assert_eq!(r.points(), again.points());
    }
}

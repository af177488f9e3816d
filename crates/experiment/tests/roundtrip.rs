//! file -> resolved -> file -> resolved is a fixed point, in TOML and JSON, for every example spec
//! and a few hand-written ones.

mod common;
use attnflow_experiment::Spec;

fn assert_fixed_point(spec: &Spec, what: &str) {
    let first = spec.resolve().unwrap();
    let toml1 = first.to_toml_string().unwrap();
    let second = Spec::from_toml_str(&toml1)
        .unwrap_or_else(|e| panic!("{what}: {e}\n{toml1}"))
        .resolve()
        .unwrap();
    assert_eq!(first.spec(), second.spec(), "{what}: toml");
    assert_eq!(first.points(), second.points(), "{what}: toml points");
    assert_eq!(toml1, second.to_toml_string().unwrap(), "{what}: toml text");
    let json1 = first.to_json_string().unwrap();
    let third = Spec::from_json_str(&json1).unwrap().resolve().unwrap();
    assert_eq!(first.spec(), third.spec(), "{what}: json");
    assert_eq!(json1, third.to_json_string().unwrap(), "{what}: json text");
}

#[test]
fn example_specs_are_fixed_points() {
    let mut count = 0;
    for entry in std::fs::read_dir(common::specs_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml" || e == "json") {
            let spec = Spec::from_path(&path).unwrap();
            assert_fixed_point(&spec, &path.display().to_string());
            count += 1;
        }
    }
    assert!(count >= 5);
}

#[test]
fn defaults_and_hand_written_specs_are_fixed_points() {
    for text in [
        "",
        "n = 5\nd = 7\n[init]\nkind = \"hemisphere\"",
        "[field]\nmodel = \"usa\"\nbeta = 0.0\nrepulsive = true\n[time]\ncheckpoints = [0.0, 0.5, 2.5]\nt-max = 3.0",
        "n = 4\nd = 4\n[init]\nkind = \"equiangular\"\nrho = -0.2\n[sweep]\nparameter = \"rho\"\nvalues = [-0.3, 0.0, 0.5]",
        "[[field.heads]]\nq = {matrix = [[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]}\nv = {random = \"psd\", scale = 0.1}\n[integrator]\nmethod = \"dp54\"",
        "observables = [\"energy\", {kind = \"cluster-count\", name = \"clusters\", delta = 0.01}]\n[ensemble]\nrealizations = 3",
    ] {
        assert_fixed_point(&Spec::from_toml_str(text).unwrap(), text);
    }
}

#[test]
fn defaults_are_the_papers() {
    let r = Spec::from_toml_str("").unwrap().resolve().unwrap();
    insta::assert_snapshot!("default_spec", r.to_toml_string().unwrap());
}

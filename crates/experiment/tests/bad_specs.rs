//! Every bad spec fails with a one-line message naming the field and the problem.

mod common;
use attnflow_experiment::Spec;

#[test]
fn bad_specs_give_one_line_messages() {
    let dir = common::scratch("bad-specs");
    let x = dir.join("x.npy");
    attnflow_experiment::io::write_npy(&x, 5, 3, &[0.6, 0.8, 0.0].repeat(5)).unwrap();
    let q34 = dir.join("q34.npy");
    attnflow_experiment::io::write_npy(&q34, 3, 4, &[0.0; 12]).unwrap();
    std::fs::write(dir.join("empty.csv"), "").unwrap();
    std::fs::write(dir.join("ragged.csv"), "1, 0, 0\n0, 1\n").unwrap();
    std::fs::write(dir.join("nan.json"), "[[1, 0, 0], [0, 1]]").unwrap();
    let p = |name: &str| dir.join(name).display().to_string();
    let cases: Vec<(&str, String)> = vec![
        ("unknown top-level key", "nn = 3".into()),
        ("unknown key in a table", "[field]\nbeta = 1.0\ntemperature = 2.0".into()),
        ("unknown key in a head", "[[field.heads]]\nw = \"identity\"".into()),
        ("unknown key in init", "[init]\nkind = \"uniform\"\nrho = 0.5".into()),
        ("unknown observable option", "observables = [{kind = \"energy\", delta = 0.1}]".into()),
        ("unknown observable", "observables = [\"entropy\"]".into()),
        ("wrong type", "[field]\nbeta = \"hot\"".into()),
        ("invalid toml", "[field\nbeta = 1".into()),
        ("matrix name", "[[field.heads]]\nq = \"eye\"".into()),
        ("two matrix sources", "[[field.heads]]\nq = {scalar = 1.0, diagonal = [1.0, 1.0, 1.0]}".into()),
        ("non-square matrix", "d = 3\n[[field.heads]]\n[[field.heads]]\nv = {matrix = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]}".into()),
        ("matrix of the wrong size", "d = 4\n[[field.heads]]\nq = {matrix = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]}".into()),
        ("NaN entry", "[[field.heads]]\nk = {matrix = [[1.0, 0.0, 0.0], [0.0, nan, 0.0], [0.0, 0.0, 1.0]]}".into()),
        ("diagonal length", "d = 3\n[[field.heads]]\nv = {diagonal = [1.0, 2.0]}".into()),
        ("non-square npy", format!("d = 3\n[[field.heads]]\nq = {{npy = \"{}\"}}", q34.display())),
        ("n x d mismatch", format!("n = 6\n[init]\nkind = \"points\"\npath = \"{}\"", x.display())),
        ("d mismatch", format!("d = 4\n[init]\nkind = \"points\"\npath = \"{}\"", x.display())),
        ("empty file", format!("[init]\nkind = \"points\"\npath = \"{}\"", p("empty.csv"))),
        ("ragged csv", format!("[init]\nkind = \"points\"\npath = \"{}\"", p("ragged.csv"))),
        ("ragged json", format!("[init]\nkind = \"points\"\npath = \"{}\"", p("nan.json"))),
        ("missing file", format!("[init]\nkind = \"points\"\npath = \"{}\"", p("absent.npy"))),
        ("tiny rtol", "[integrator]\nmethod = \"dp54\"\nrtol = 1e-30".into()),
        ("tolerance without dp54", "[integrator]\nrtol = 1e-6".into()),
        ("tiny rkmk45 atol", "[integrator]\nmethod = \"rkmk45\"\natol = 1e-15".into()),
        ("lie method on euclidean", "[field]\ngeometry = \"euclidean\"\n[integrator]\nmethod = \"cg3\"".into()),
        ("negative beta", "[field]\nbeta = -1.0".into()),
        ("NaN beta", "[field]\nbeta = nan".into()),
        ("energy at beta 0", "observables = [\"energy\"]\n[field]\nbeta = 0.0".into()),
        ("heads and matrices", "[field]\nmatrices = \"ginibre\"\n[[field.heads]]".into()),
        ("repulsive with a value", "[field]\nrepulsive = true\n[[field.heads]]\nv = {scalar = 2.0}".into()),
        ("euclidean usa", "[field]\nmodel = \"usa\"\ngeometry = \"euclidean\"".into()),
        ("equiangular too few dims", "n = 5\nd = 3\n[init]\nkind = \"equiangular\"\nrho = 0.1".into()),
        ("equiangular rho", "n = 5\nd = 5\n[init]\nkind = \"equiangular\"\nrho = -0.5".into()),
        ("clusters k", "n = 4\n[init]\nkind = \"clusters\"\nk = 5\nspread = 0.1".into()),
        ("checkpoint beyond t-max", "[time]\nt-max = 2.0\ncheckpoints = [0.0, 3.0]".into()),
        ("checkpoints descending", "[time]\ncheckpoints = [1.0, 0.5]".into()),
        ("no checkpoints", "[time]\ncheckpoints = 0".into()),
        ("dt", "[time]\ndt = 0.0".into()),
        ("delta", "observables = [{kind = \"pair-fraction\", delta = 3.0}]".into()),
        ("duplicate names", "observables = [\"energy\", \"energy\"]".into()),
        ("positions averaged", "observables = [\"positions\"]\n[ensemble]\nrealizations = 4".into()),
        ("no realisations", "[ensemble]\nrealizations = 0".into()),
        ("unknown sweep parameter", "[sweep]\nparameter = \"temperature\"\nvalues = [1.0]".into()),
        ("sweep needs equiangular", "[sweep]\nparameter = \"rho\"\nvalues = [0.1]".into()),
        ("sweep integer", "[sweep]\nparameter = \"n\"\nvalues = [4.0, 4.5]".into()),
        ("sweep point invalid", "[sweep]\nparameter = \"beta\"\nvalues = [1.0, -2.0]".into()),
        ("sweep d with fixed matrix", "d = 3\n[[field.heads]]\nq = {diagonal = [1.0, 2.0, 3.0]}\n[sweep]\nparameter = \"d\"\nvalues = [3, 4]".into()),
        ("reduced with matrices", "[field]\nmatrices = \"ginibre\"\n[integrator]\nrepresentation = \"reduced\"".into()),
    ];
    let mut report = String::new();
    for (what, text) in &cases {
        let message = common::error_of(text).replace(&dir.display().to_string(), "DIR");
        assert!(
            !message.contains('\n'),
            "{what}: more than one line: {message}"
        );
        report.push_str(&format!("{what}: {message}\n"));
    }
    insta::assert_snapshot!("bad_specs", report);
}

#[test]
fn bad_json_and_files() {
    let dir = common::scratch("bad-json");
    let cases = [
        ("unknown key", "{\"n\": 3, \"colour\": 1}"),
        ("wrong type", "{\"field\": {\"heads\": [{\"q\": 3}]}}"),
        ("trailing", "{} {}"),
    ];
    let mut report = String::new();
    for (what, text) in cases {
        let e = Spec::from_json_str(text).unwrap_err().to_string();
        report.push_str(&format!("{what}: {e}\n"));
    }
    std::fs::write(dir.join("empty.toml"), "  \n").unwrap();
    std::fs::write(dir.join("spec.yaml"), "n: 3").unwrap();
    std::fs::write(dir.join("bad.toml"), "n = 3\nseed = -1\n").unwrap();
    for name in ["empty.toml", "spec.yaml", "bad.toml", "absent.toml"] {
        let e = Spec::from_path(dir.join(name)).unwrap_err().to_string();
        report.push_str(&format!(
            "{name}: {}\n",
            e.replace(&dir.display().to_string(), "DIR")
        ));
    }
    insta::assert_snapshot!("bad_json_and_files", report);
}

#[test]
fn off_sphere_points_are_renormalised_with_a_warning() {
    let dir = common::scratch("renormalise");
    let path = dir.join("x.csv");
    std::fs::write(&path, "# three points\n2, 0, 0\n0, 1, 0\n0, 0.6, 0.8\n").unwrap();
    let spec = Spec::from_toml_str(&format!(
        "[init]\nkind = \"points\"\npath = \"{}\"",
        path.display()
    ))
    .unwrap();
    let r = spec.resolve().unwrap();
    assert_eq!((r.n(), r.d()), (3, 3));
    assert_eq!(r.warnings().len(), 1, "{:?}", r.warnings());
    assert!(
        r.warnings()[0].contains("renormalised 1 of 3 points"),
        "{:?}",
        r.warnings()
    );
    assert!(
        r.to_toml_string()
            .unwrap()
            .starts_with("# warning: init.path: renormalised")
    );
}

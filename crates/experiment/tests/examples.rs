//! Every example spec parses and resolves; the cheap ones run at reduced size.

mod common;
use attnflow_experiment::{Spec, Summary};

fn example(name: &str) -> Spec {
    Spec::from_path(common::specs_dir().join(name)).unwrap()
}

#[test]
fn every_example_resolves() {
    for (name, points, n, d) in [
        ("glpr-fig3-d32.toml", 150, 32, 32),
        ("glpr-fig5a.toml", 150, 32, 128),
        ("causal-s2-npy.toml", 1, 8, 3),
        ("multi-head.toml", 1, 16, 4),
        ("pure-rd.toml", 1, 12, 3),
    ] {
        let r = example(name)
            .resolve()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((r.points().len(), r.n(), r.d()), (points, n, d), "{name}");
        assert!(r.warnings().is_empty(), "{name}: {:?}", r.warnings());
    }
}

#[test]
fn figure_specs_run_at_reduced_size() {
    for name in ["glpr-fig3-d32.toml", "glpr-fig5a.toml"] {
        let mut spec = example(name);
        spec.ensemble.realizations = 2;
        spec.d = Some(spec.d.unwrap().min(16));
        spec.time.checkpoints = attnflow_experiment::Checkpoints::Count(4);
        spec.time.t_max = 3.0;
        spec.sweep.as_mut().unwrap().linspace = Some(attnflow_experiment::Linspace {
            start: 0.1,
            stop: 9.0,
            count: 2,
        });
        let out = common::run_quiet(&spec.resolve().unwrap());
        assert_eq!(out.points.len(), 2);
        for p in &out.points {
            let mean = p.mean.as_ref().unwrap();
            assert_eq!(mean.len(), 4);
            for rec in mean {
                match rec.values["pair-fraction"] {
                    Summary::Scalar { mean, .. } => assert!((0.0..=1.0).contains(&mean)),
                    ref other => panic!("{other:?}"),
                }
            }
        }
    }
}

#[test]
fn small_examples_run() {
    for name in ["causal-s2-npy.toml", "multi-head.toml", "pure-rd.toml"] {
        let mut spec = example(name);
        spec.ensemble.realizations = spec.ensemble.realizations.min(4);
        let out = common::run_quiet(&spec.resolve().unwrap());
        let text = serde_json::to_string(&out).unwrap();
        assert!(
            !text.contains("null") && !text.contains("NaN"),
            "{name}: {text}"
        );
        let back: attnflow_experiment::Output = serde_json::from_str(&text).unwrap();
        assert_eq!(back.points.len(), out.points.len());
    }
    // the multi-head example reports per-head ranks
    let out = common::run_quiet(&example("multi-head.toml").resolve().unwrap());
    let rec = &out.points[0].mean.as_ref().unwrap()[0];
    match &rec.values["attention-rank.rank"] {
        Summary::PerHead { mean, .. } => assert_eq!(mean.len(), 2),
        other => panic!("{other:?}"),
    }
}

/// The resolved form of every example spec (every default filled in), with the absolute path of
/// the examples directory replaced by `<specs>`.
#[test]
fn resolved_examples_snapshot() {
    let dir = common::specs_dir().canonicalize().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 5);
    for name in names {
        let text = example(&name).resolve().unwrap().to_toml_string().unwrap();
        let text = text.replace(&dir.display().to_string(), "<specs>");
        insta::assert_snapshot!(format!("resolved_{}", name.trim_end_matches(".toml")), text);
    }
}

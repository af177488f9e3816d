//! Phase diagrams in f32 (`attnflow_dynamics::precision`) against the f64 reference on the same
//! draws, their determinism across thread counts and their golden record (instruction sets:
//! `tests/precision_simd.rs`, a binary of its own because the cap is process-wide).
//!
//! The golden `golden/phase-diagram-f32.json` (a small ci-size \[GLPR\] Figure 5 spec in f32, every
//! ensemble) is compared byte for byte; after an intended change of the f32 path rewrite it with
//! `ATTNFLOW_BLESS=1 cargo test -p attnflow-dynamics --test precision_f32 golden`.

use attnflow_dynamics::observables::linspace;
use attnflow_dynamics::{
    IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagram, PhaseDiagramSpec, Precision,
    run_phase_diagram,
};
use std::path::PathBuf;

const FIGURE5: [MatrixEnsemble; 4] = [
    MatrixEnsemble::Ginibre,
    MatrixEnsemble::WignerPsd,
    MatrixEnsemble::GinibreGf,
    MatrixEnsemble::WignerGf,
];

/// A small Figure 5-like spec: n = 16 points in d = 32, betas 1, 5, 9, t in [0, 15], dt = 0.1.
fn small_spec(matrices: MatrixEnsemble, precision: Precision) -> PhaseDiagramSpec {
    PhaseDiagramSpec {
        n: 16,
        d: 32,
        betas: linspace(1.0, 9.0, 3),
        times: linspace(0.0, 15.0, 16),
        dt: 0.1,
        realizations: 64,
        delta: 1e-3,
        seed: 11,
        model: ModelKind::Sa,
        matrices,
        integrator: IntegratorKind::PaperEuler,
        representation: None,
        consensus_exit: true,
        precision,
    }
}

fn run(spec: &PhaseDiagramSpec) -> PhaseDiagram {
    run_phase_diagram(spec, &|_, _| {}).unwrap()
}

/// Every number of a diagram that must not depend on threads or instruction sets.
fn bits(pd: &PhaseDiagram) -> Vec<u64> {
    let cells = [&pd.probability, &pd.stderr, &pd.pair12_probability];
    let mut out: Vec<u64> = cells
        .iter()
        .flat_map(|m| m.iter().flatten().map(|v| v.to_bits()))
        .collect();
    out.push(pd.steps_integrated);
    out
}

/// f32 and f64 integrate the same draws: their probabilities agree cell by cell within sampling
/// error (|p32 - p64| <= 4 standard errors of the difference of two independent means, a
/// conservative bound for these paired runs; cells without spread must agree exactly), for every
/// ensemble of the f64 path and both models.
#[test]
fn f32_and_f64_phase_diagrams_agree_statistically() {
    let mut cases: Vec<(MatrixEnsemble, ModelKind)> =
        FIGURE5.iter().map(|&e| (e, ModelKind::Sa)).collect();
    cases.push((MatrixEnsemble::Identity, ModelKind::Sa));
    cases.push((MatrixEnsemble::Identity, ModelKind::Usa));
    let mut informative = 0;
    for (ensemble, model) in cases {
        let mut spec64 = small_spec(ensemble, Precision::F64);
        spec64.model = model;
        let spec32 = PhaseDiagramSpec {
            precision: Precision::F32,
            ..spec64.clone()
        };
        let (a, b) = (run(&spec64), run(&spec32));
        let (mut worst, mut differing, mut cells) = (0.0f64, 0, 0);
        for (bi, (ra, rb)) in a.probability.iter().zip(&b.probability).enumerate() {
            for (c, (pa, pb)) in ra.iter().zip(rb).enumerate() {
                let se = (a.stderr[bi][c].powi(2) + b.stderr[bi][c].powi(2)).sqrt();
                cells += 1;
                if pa != pb {
                    differing += 1;
                    assert!(
                        se > 0.0,
                        "{ensemble:?} {model:?} beta {bi} t {c}: {pa} vs {pb} without spread"
                    );
                    worst = worst.max((pa - pb).abs() / se);
                }
                if *pa > 0.05 && *pa < 0.95 {
                    informative += 1;
                }
            }
        }
        eprintln!(
            "{ensemble:?} {model:?}: {differing}/{cells} cells differ, max |z| = {worst:.2}, \
             final p f64 {:?} f32 {:?}",
            a.probability.iter().map(|r| r[15]).collect::<Vec<_>>(),
            b.probability.iter().map(|r| r[15]).collect::<Vec<_>>()
        );
        assert!(worst <= 4.0, "{ensemble:?} {model:?}: max |z| = {worst}");
        // f32 integrates every step (no consensus exit)
        assert_eq!(
            b.steps_integrated,
            (spec32.steps() * spec32.betas.len() * spec32.realizations) as u64
        );
        assert_eq!(b.params.spec.precision, Precision::F32);
    }
    // the comparison is not between two empty (or two saturated) diagrams
    assert!(informative > 20, "only {informative} informative cells");
}

#[test]
fn f32_gives_the_same_bits_with_one_and_three_threads() {
    for ensemble in [MatrixEnsemble::Ginibre, MatrixEnsemble::GinibreGf] {
        let mut spec = small_spec(ensemble, Precision::F32);
        spec.realizations = 40;
        let with = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| run(&spec))
        };
        assert_eq!(bits(&with(1)), bits(&with(3)), "{ensemble:?}");
    }
}

#[test]
fn f32_needs_the_paper_euler_integrator() {
    let mut spec = small_spec(MatrixEnsemble::Identity, Precision::F32);
    spec.integrator = IntegratorKind::Rk4;
    let err = run_phase_diagram(&spec, &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--precision f32 supports the paper-euler integrator"),
        "{err}"
    );
}

#[test]
fn precision_is_recorded_only_when_f32() {
    let spec = small_spec(MatrixEnsemble::Identity, Precision::F64);
    let json = serde_json::to_value(&spec).unwrap();
    assert!(json.get("precision").is_none(), "{json}");
    let back: PhaseDiagramSpec = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.precision, Precision::F64);
    let mut json32 = json;
    json32["precision"] = "f32".into();
    let spec32: PhaseDiagramSpec = serde_json::from_value(json32.clone()).unwrap();
    assert_eq!(spec32.precision, Precision::F32);
    assert_eq!(serde_json::to_value(&spec32).unwrap(), json32);
    json32["precision"] = "f16".into();
    let err = serde_json::from_value::<PhaseDiagramSpec>(json32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `f16`"), "{err}");
}

/// The golden record: Figure 5's four ensembles at n = 32, d = 128, 2 betas, 4 realisations,
/// t in [0, 10] (6 checkpoints), in f32; the runtime zeroed.
fn golden_json() -> String {
    let panels: Vec<(String, PhaseDiagram)> = FIGURE5
        .iter()
        .map(|&ensemble| {
            let spec = PhaseDiagramSpec {
                n: 32,
                d: 128,
                betas: linspace(0.1, 9.0, 2),
                times: linspace(0.0, 10.0, 6),
                realizations: 4,
                seed: 0,
                ..small_spec(ensemble, Precision::F32)
            };
            let mut pd = run(&spec);
            pd.runtime_s = 0.0;
            let name = serde_json::to_value(ensemble).unwrap();
            (name.as_str().unwrap().to_string(), pd)
        })
        .collect();
    let map: serde_json::Map<String, serde_json::Value> = panels
        .into_iter()
        .map(|(k, v)| (k, serde_json::to_value(v).unwrap()))
        .collect();
    serde_json::to_string_pretty(&map).unwrap() + "\n"
}

#[test]
fn golden_f32_phase_diagram_is_reproduced_bit_for_bit() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../golden/phase-diagram-f32.json");
    let computed = golden_json();
    if std::env::var_os("ATTNFLOW_BLESS").is_some() {
        std::fs::write(&path, &computed).unwrap();
        eprintln!("blessed {}", path.display());
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; bless with ATTNFLOW_BLESS=1 cargo test -p attnflow-dynamics --test precision_f32 golden",
            path.display()
        )
    });
    assert!(
        golden == computed,
        "the f32 phase diagram differs from {} (bless an intended change with ATTNFLOW_BLESS=1)",
        path.display()
    );
}

//! The experiment specs the phase-diagram figures declare ([GLPR] Figures 3, 4 (d = 2 panel) and 5,
//! `Figure::experiment_specs`) are what they run: each resolves to the engine's phase-diagram spec
//! written out directly from the figure's parameters (betas = linspace(beta_min, beta_max, num_beta),
//! checkpoints = linspace(0, t_max, num_t), SA, uniform start, consensus exit), and rerunning a
//! declared spec from its TOML text with `attnflow_experiment::phase_diagram` gives the figure's
//! probabilities bit for bit.

use attnflow_dynamics::observables::linspace;
use attnflow_dynamics::{IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec};
use attnflow_experiment::{ResolvedSpec, Spec, phase_diagram};
use attnflow_figures::figs::{glpr_fig3, glpr_fig4, glpr_fig5};
use attnflow_figures::{DEFAULT_SEED, Fidelity, Figure, NoProgress, find};

/// The phase diagram of a panel as the figures built it before they declared specs.
#[allow(clippy::too_many_arguments)]
fn direct(
    n: usize,
    d: usize,
    matrices: MatrixEnsemble,
    (beta_min, beta_max, num_beta): (f64, f64, usize),
    (t_max, num_t): (f64, usize),
    dt: f64,
    realizations: usize,
    delta: f64,
    seed: u64,
    integrator: IntegratorKind,
) -> PhaseDiagramSpec {
    PhaseDiagramSpec {
        n,
        d,
        betas: linspace(beta_min, beta_max, num_beta),
        times: linspace(0.0, t_max, num_t),
        dt,
        realizations,
        delta,
        seed,
        model: ModelKind::Sa,
        matrices,
        integrator,
        representation: None,
        consensus_exit: true,
        precision: attnflow_dynamics::Precision::F64,
    }
}

fn engine_specs(declared: Vec<(String, Spec)>) -> Vec<(String, PhaseDiagramSpec)> {
    declared
        .into_iter()
        .map(|(name, spec)| {
            let diagram = spec.resolve().unwrap().phase_diagram_spec().unwrap();
            (name, diagram)
        })
        .collect()
}

fn fig3_direct(p: &glpr_fig3::Params, d: usize) -> PhaseDiagramSpec {
    direct(
        p.n,
        d,
        MatrixEnsemble::Identity,
        (p.beta_min, p.beta_max, p.num_beta),
        (p.t_max, p.num_t),
        p.dt,
        p.realizations,
        p.delta,
        p.seed,
        p.integrator,
    )
}

#[test]
fn declared_specs_resolve_to_the_phase_diagrams_the_figures_run() {
    for fidelity in Fidelity::ALL {
        let p = glpr_fig3::GlprFig3::params(fidelity, DEFAULT_SEED);
        let expected: Vec<(String, PhaseDiagramSpec)> = [2, 8, 32, 128, 512, 1024]
            .into_iter()
            .map(|d| (format!("d{d}"), fig3_direct(&p, d)))
            .collect();
        let got = engine_specs(glpr_fig3::GlprFig3::experiment_specs(&p).unwrap());
        assert_eq!(got, expected, "glpr-fig3 at {fidelity}");

        let p4 = glpr_fig4::GlprFig4::params(fidelity, DEFAULT_SEED);
        let got = engine_specs(glpr_fig4::GlprFig4::experiment_specs(&p4).unwrap());
        assert_eq!(
            got,
            vec![("d2".to_string(), fig3_direct(&p4.phase, 2))],
            "glpr-fig4 at {fidelity}"
        );

        let p = glpr_fig5::GlprFig5::params(fidelity, DEFAULT_SEED);
        let expected: Vec<(String, PhaseDiagramSpec)> = [
            ("a-ginibre", MatrixEnsemble::Ginibre),
            ("b-wigner-psd", MatrixEnsemble::WignerPsd),
            ("c-ginibre-gf", MatrixEnsemble::GinibreGf),
            ("d-wigner-gf", MatrixEnsemble::WignerGf),
        ]
        .into_iter()
        .map(|(name, matrices)| {
            let spec = direct(
                32,
                128,
                matrices,
                (0.1, 9.0, p.num_beta),
                (p.t_max, p.num_t),
                0.1,
                p.realizations,
                1e-3,
                DEFAULT_SEED,
                IntegratorKind::PaperEuler,
            );
            (name.to_string(), spec)
        })
        .collect();
        let got = engine_specs(glpr_fig5::GlprFig5::experiment_specs(&p).unwrap());
        assert_eq!(got, expected, "glpr-fig5 at {fidelity}");
    }
}

#[test]
fn figures_without_particle_runs_declare_no_specs() {
    for id in [
        "glpr-fig1",
        "glpr-fig2",
        "glpr-fig6",
        "bkkrw-fig1",
        "bkkrw-fig7",
    ] {
        let specs = find(id)
            .unwrap()
            .experiment_specs(Fidelity::Ci, DEFAULT_SEED)
            .unwrap();
        assert!(specs.is_empty(), "{id}");
    }
}

/// The TOML a user reruns, read back.
fn reread(resolved: &ResolvedSpec) -> ResolvedSpec {
    let text = resolved.to_toml_string().unwrap();
    assert_eq!(text, resolved.to_toml_string().unwrap());
    assert!(
        !text.contains('/') && !text.contains('\\'),
        "a path in\n{text}"
    );
    Spec::from_toml_str(&text).unwrap().resolve().unwrap()
}

#[test]
fn rerunning_a_declared_ci_spec_gives_the_figure_panel_bit_for_bit() {
    let p = glpr_fig3::GlprFig3::params(Fidelity::Ci, DEFAULT_SEED);
    let data = glpr_fig3::GlprFig3::compute(&p, &NoProgress).unwrap();
    let declared = find("glpr-fig3")
        .unwrap()
        .experiment_specs(Fidelity::Ci, DEFAULT_SEED)
        .unwrap();
    assert_eq!(declared.len(), data.panels.len());
    for name in ["d2", "d32"] {
        let k = declared.iter().position(|(n, _)| n == name).unwrap();
        let panel = &data.panels[k];
        assert_eq!(panel.label, format!("d={}", &name[1..]));
        let diagram = phase_diagram(&reread(&declared[k].1), &|_, _| {}).unwrap();
        assert_eq!(diagram.t, panel.t, "{name}");
        assert_eq!(diagram.beta, panel.beta, "{name}");
        let bits = |rows: &[Vec<f64>]| -> Vec<u64> {
            rows.iter().flatten().map(|v| v.to_bits()).collect()
        };
        assert_eq!(
            bits(&diagram.probability),
            bits(&panel.probability),
            "{name}"
        );
        assert_eq!(bits(&diagram.stderr), bits(&panel.stderr), "{name}");
        assert_eq!(diagram.steps_integrated, panel.steps_integrated, "{name}");
        // the probabilities say something: some beta reaches consensus pairs by t = 30
        assert!(
            panel.probability.iter().flatten().any(|&v| v > 0.5),
            "{name}"
        );
    }
}

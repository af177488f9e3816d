//! `phase_diagram` (the engine's runner) and `run` (the spec runner) agree bit for bit on a phase
//! diagram spec, with and without the consensus exit; other specs are refused naming the field.

mod common;
use attnflow_experiment::{Summary, phase_diagram};

const TOP: &str = "n = 6\nd = 8\nseed = 4\n";
const SPEC: &str = "[time]\nt-max = 6.0\ncheckpoints = 7\n[ensemble]\nrealizations = 20\n[sweep]\nparameter = \"beta\"\nvalues = [0.5, 4.0]";

#[test]
fn phase_diagram_and_run_agree_bit_for_bit() {
    for exit in ["", "[integrator]\nconsensus-exit = false\n"] {
        let r = common::resolve(&format!("{TOP}{exit}{SPEC}"));
        let diagram = phase_diagram(&r, &|_, _| {}).unwrap();
        let out = common::run_quiet(&r);
        for (b, p) in out.points.iter().enumerate() {
            for (c, rec) in p.mean.as_ref().unwrap().iter().enumerate() {
                let Summary::Scalar { mean, stderr } = rec.values["pair-fraction"] else {
                    panic!()
                };
                assert_eq!(mean.to_bits(), diagram.probability[b][c].to_bits());
                assert_eq!(stderr.to_bits(), diagram.stderr[b][c].to_bits());
            }
        }
        assert_eq!(diagram.params.spec.consensus_exit, exit.is_empty());
        assert!(diagram.probability.iter().flatten().any(|&p| p > 0.0));
    }
}

#[test]
fn other_specs_are_not_phase_diagrams() {
    for (extra, field) in [
        (
            "observables = [\"energy\"]\n[field]\nbeta = 1.0\n",
            "observables[0].kind",
        ),
        ("[init]\nkind = \"hemisphere\"\n", "init.kind"),
        ("[field]\nmask = \"causal\"\n", "field"),
    ] {
        let r = common::resolve(&format!("{TOP}{extra}{SPEC}"));
        let e = r.phase_diagram_spec().unwrap_err().to_string();
        assert!(e.starts_with(field) && e.contains("attnflow run"), "{e}");
    }
    let r = common::resolve(
        "n = 4\nd = 3\n[sweep]\nparameter = \"n\"\nvalues = [4, 5]\n[ensemble]\nrealizations = 2",
    );
    assert!(
        r.phase_diagram_spec()
            .unwrap_err()
            .to_string()
            .starts_with("sweep.parameter")
    );
}

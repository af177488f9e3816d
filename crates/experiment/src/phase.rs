//! Phase diagrams as specs: \[GLPR\] Figures 3 and 5 estimate, on a (t, beta) grid,
//!
//! ```text
//! P(t, beta) = E[ #{(i, j): i != j, <x_i(t), x_j(t)> > 1 - delta} / (n (n - 1)) ]     [GLPR] Figure 3
//! ```
//!
//! over realisations of n uniform points on S^{d-1} moving by SA or USA with Q = K = V = I or a
//! Figure 5 ensemble. A spec is such a phase diagram when its only observable is the pair fraction,
//! averaged over realisations (`aggregate = "mean"`), read by the authors' checkpoint rule, from a
//! uniform start on the sphere, without mask or repulsion, and its sweep (if any) is over beta.
//! [`phase_diagram`] runs it with the engine's phase-diagram runner
//! (`attnflow_dynamics::run_phase_diagram`), which also records the literal event
//! <x_1, x_2> > 1 - delta and can stop realisations locked in consensus (`integrator.consensus-exit`).
//! Its probabilities and standard errors are the bits [`crate::run()`](fn@crate::run) gives for the
//! same spec (realisation r of beta index b uses the streams (seed, b R + r, purpose) on both sides;
//! tested in `tests/engine.rs`).

use crate::error::{Result, invalid};
use crate::resolve::{MatrixPlan, ResolvedSpec, WeightsPlan};
use crate::spec::{Aggregate, CheckpointRule, GeometrySpec, ObservableKind, RepresentationSpec};
use attnflow_dynamics::{MatrixEnsemble, PhaseDiagram, PhaseDiagramSpec};

impl ResolvedSpec {
    /// The engine's phase-diagram spec of this spec, or an error naming the field that makes it
    /// something else than a (t, beta) phase diagram (see the module docs).
    pub fn phase_diagram_spec(&self) -> Result<PhaseDiagramSpec> {
        let spec = self.spec();
        let points = self.points();
        let first = points
            .first()
            .ok_or_else(|| invalid("sweep", "no sweep point"))?;
        let not = |field: &str, why: &str| {
            invalid(
                field,
                format!(
                    "{why}: the spec is not a (t, beta) phase diagram; run it with `attnflow run`"
                ),
            )
        };
        if let Some(sw) = &spec.sweep
            && sw.parameter != "beta"
        {
            return Err(not("sweep.parameter", "a phase diagram sweeps beta only"));
        }
        let [observable] = first.observables.as_slice() else {
            return Err(not(
                "observables",
                "a phase diagram has exactly one observable, pair-fraction",
            ));
        };
        if observable.kind != ObservableKind::PairFraction {
            return Err(not(
                "observables[0].kind",
                "a phase diagram measures pair-fraction",
            ));
        }
        if first.aggregate != Aggregate::Mean {
            return Err(not(
                "ensemble.aggregate",
                "a phase diagram reports the mean over realisations",
            ));
        }
        if spec.time.checkpoint_rule != CheckpointRule::Paper {
            return Err(not(
                "time.checkpoint-rule",
                "a phase diagram reads checkpoints by the authors' rule (paper)",
            ));
        }
        if first.geometry != GeometrySpec::Sphere
            || first.causal
            || first.pair_weights.is_some()
            || first.repulsive
        {
            return Err(not(
                "field",
                "a phase diagram runs on the sphere, without mask or repulsion",
            ));
        }
        if first.init != crate::resolve::InitPlan::Uniform {
            return Err(not(
                "init.kind",
                "a phase diagram starts from uniform points",
            ));
        }
        let matrices = match &first.weights {
            WeightsPlan::Ensemble(e) => *e,
            WeightsPlan::Heads(h)
                if h.len() == 1
                    && [&h[0].q, &h[0].k, &h[0].v]
                        .iter()
                        .all(|m| **m == MatrixPlan::Identity) =>
            {
                MatrixEnsemble::Identity
            }
            WeightsPlan::Heads(_) => {
                return Err(not(
                    "field.heads",
                    "a phase diagram has Q = K = V = I or a Figure 5 ensemble (field.matrices)",
                ));
            }
        };
        let diagram = PhaseDiagramSpec {
            n: first.n,
            d: first.d,
            betas: points.iter().map(|p| p.beta).collect(),
            times: first.times.clone(),
            dt: first.dt,
            realizations: first.realizations,
            delta: observable.delta,
            seed: first.seed,
            model: first.model,
            matrices,
            integrator: first.integrator,
            // `auto` stays the engine's choice, recorded as such (the same choice: reduced for
            // Q = K = V = I and d > n)
            representation: match spec.integrator.representation {
                RepresentationSpec::Auto => None,
                _ => Some(first.representation),
            },
            consensus_exit: spec.integrator.consensus_exit.unwrap_or(true),
            precision: spec.integrator.precision,
        };
        diagram
            .validate()
            .map_err(crate::error::dynamics("phase diagram"))?;
        Ok(diagram)
    }
}

/// Runs the phase diagram of `spec` (see [`ResolvedSpec::phase_diagram_spec`]) with the engine's
/// runner; `progress(done, total)` after each realisation.
pub fn phase_diagram(
    spec: &ResolvedSpec,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<PhaseDiagram> {
    let diagram = spec.phase_diagram_spec()?;
    attnflow_dynamics::run_phase_diagram(&diagram, progress)
        .map_err(crate::error::dynamics("phase diagram"))
}

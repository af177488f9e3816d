//! Cross-check of the phase diagrams of \[GLPR\] Figures 3 and 5 against the authors' algorithm.
//!
//! The reference is an independent NumPy transcription of the authors' `phase-diagrams.py`
//! ([`TRANSCRIPTION`], kept in `tools/crosscheck/authors_phase_diagram.py`): particles as rows,
//! logits beta x_i^T B x_j, row softmax, the velocity the row vector (sum_j A_ij x_j)^T V, Euler step
//! and renormalisation, the all-pairs statistic with the strict `> 1 - delta`, and their clock
//! (t accumulated in floating point, each checkpoint read at the first step with t >= t_c). Both
//! sides draw their own random numbers, so the comparison is statistical, cell by cell:
//!
//! ```text
//! z = (p_ours - p_theirs) / sqrt(se_ours^2 + se_theirs^2 + (1/R)^2)
//! ```
//!
//! with se the standard errors of the two means over R realisations each and 1/R a floor for cells
//! where both sides saw no spread (one realisation's worth). A panel passes when max |z| over its
//! cells stays below the two-sided Bonferroni bound for a family-wise false-alarm rate of
//! [`FAMILY_ALPHA`] ([`bonferroni_z`]), and when both sides read every checkpoint after the same
//! step. The negative control runs the transcription with V applied as a column map (the slip of
//! an earlier Figure 5 (c)): there the test must fail.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use attnflow_dynamics::{
    IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagram, PhaseDiagramSpec, observables,
    run_phase_diagram,
};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VerifyError};

/// The NumPy transcription of the authors' algorithm (run as `python - ARGS` with this on stdin).
pub const TRANSCRIPTION: &str = include_str!("../../../tools/crosscheck/authors_phase_diagram.py");

/// Family-wise false-alarm rate of one panel's cell-by-cell test.
pub const FAMILY_ALPHA: f64 = 1e-3;

/// One phase-diagram panel: Figure 3 at dimension d, or a Figure 5 ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    pub id: String,
    pub d: usize,
    pub matrices: MatrixEnsemble,
}

/// The grid every panel runs on (SA, the paper's Euler step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub n: usize,
    pub betas: Vec<f64>,
    pub realizations: usize,
    pub t_max: f64,
    pub checkpoints: usize,
    pub dt: f64,
    pub delta: f64,
    pub seed: u64,
}

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Two betas, 128 realisations: a few minutes, run by CI.
    Ci,
    /// Four betas, 256 realisations: `cargo xtask crosscheck`.
    Full,
}

impl Level {
    /// Figure 3 at d = 2 and 32, the four Figure 5 ensembles at d = 128; n = 32, the paper's clock
    /// (dt = 0.1, 200 checkpoints on [0, 30]) and delta = 1e-3.
    pub fn plan(self) -> (Grid, Vec<Panel>) {
        let (betas, realizations) = match self {
            Level::Ci => (vec![2.0, 9.0], 128),
            Level::Full => (vec![1.0, 3.0, 5.0, 9.0], 256),
        };
        let panel = |id: &str, d, matrices| Panel {
            id: id.into(),
            d,
            matrices,
        };
        let panels = vec![
            panel("glpr-fig3 d = 2", 2, MatrixEnsemble::Identity),
            panel("glpr-fig3 d = 32", 32, MatrixEnsemble::Identity),
            panel("glpr-fig5 (a)", 128, MatrixEnsemble::Ginibre),
            panel("glpr-fig5 (b)", 128, MatrixEnsemble::WignerPsd),
            panel("glpr-fig5 (c)", 128, MatrixEnsemble::GinibreGf),
            panel("glpr-fig5 (d)", 128, MatrixEnsemble::WignerGf),
        ];
        let grid = Grid {
            n: 32,
            betas,
            realizations,
            t_max: 30.0,
            checkpoints: 200,
            dt: 0.1,
            delta: 1e-3,
            seed: 2026,
        };
        (grid, panels)
    }
}

/// Which algorithm the transcription runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// The authors' algorithm (V applied to row vectors).
    Authors,
    /// The negative control: V applied as a column map.
    ValueAsColumn,
}

/// What the transcription prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcription {
    pub numpy: String,
    pub steps: usize,
    pub checkpoint_steps: Vec<usize>,
    pub t: Vec<f64>,
    pub beta: Vec<f64>,
    pub probability: Vec<Vec<f64>>,
    pub stderr: Vec<Vec<f64>>,
    pub runtime_s: f64,
}

fn ensemble_name(m: MatrixEnsemble) -> &'static str {
    match m {
        MatrixEnsemble::Identity => "identity",
        MatrixEnsemble::Ginibre => "ginibre",
        MatrixEnsemble::WignerPsd => "wigner-psd",
        MatrixEnsemble::GinibreGf => "ginibre-gf",
        MatrixEnsemble::WignerGf => "wigner-gf",
    }
}

fn external(reason: impl Into<String>) -> VerifyError {
    VerifyError::External {
        what: "NumPy transcription",
        reason: reason.into(),
    }
}

/// Runs the transcription for one panel with `python` (which must import numpy). Its seed is
/// `grid.seed + 1`: a different generator and a different seed from attnflow's streams.
pub fn run_transcription(
    python: &Path,
    grid: &Grid,
    panel: &Panel,
    variant: Variant,
) -> Result<Transcription> {
    let betas: Vec<String> = grid.betas.iter().map(|b| format!("{b:?}")).collect();
    let mut cmd = Command::new(python);
    cmd.arg("-")
        .args(["--n", &grid.n.to_string(), "--d", &panel.d.to_string()])
        .args(["--ensemble", ensemble_name(panel.matrices)])
        .args(["--betas", &betas.join(",")])
        .args(["--realizations", &grid.realizations.to_string()])
        .args(["--t-max", &format!("{:?}", grid.t_max)])
        .args(["--checkpoints", &grid.checkpoints.to_string()])
        .args(["--dt", &format!("{:?}", grid.dt)])
        .args(["--delta", &format!("{:?}", grid.delta)])
        .args(["--seed", &(grid.seed + 1).to_string()]);
    if variant == Variant::ValueAsColumn {
        cmd.arg("--value-as-column");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| external(format!("cannot start {}: {e}", python.display())))?;
    child
        .stdin
        .take()
        .ok_or_else(|| external("no stdin"))?
        .write_all(TRANSCRIPTION.as_bytes())
        .map_err(|e| external(format!("writing the script: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| external(format!("waiting for python: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("no message");
        return Err(external(format!(
            "python exited with {}: {last}",
            out.status
        )));
    }
    serde_json::from_slice(out.stdout.trim_ascii())
        .map_err(|e| external(format!("unreadable output: {e}")))
}

/// The same panel with attnflow (SA, paper Euler, consensus exit on where it is exact).
pub fn run_attnflow(grid: &Grid, panel: &Panel) -> Result<PhaseDiagram> {
    let spec = PhaseDiagramSpec {
        n: grid.n,
        d: panel.d,
        betas: grid.betas.clone(),
        times: observables::linspace(0.0, grid.t_max, grid.checkpoints),
        dt: grid.dt,
        realizations: grid.realizations,
        delta: grid.delta,
        seed: grid.seed,
        model: ModelKind::Sa,
        matrices: panel.matrices,
        integrator: IntegratorKind::PaperEuler,
        representation: None,
        consensus_exit: true,
        precision: attnflow_dynamics::Precision::F64,
    };
    Ok(run_phase_diagram(&spec, &|_, _| {})?)
}

/// Runs every panel of `level`: attnflow, the transcription of the authors' algorithm, and on
/// panel (c) also the negative control. `on_row` sees each comparison as it is done, with the
/// seconds attnflow and the transcription took.
pub fn run(
    python: &Path,
    level: Level,
    on_row: &mut dyn FnMut(&PanelComparison, f64, f64),
) -> Result<(Grid, Vec<PanelComparison>)> {
    let (grid, panels) = level.plan();
    let mut rows = Vec::new();
    for panel in &panels {
        let start = std::time::Instant::now();
        let ours = run_attnflow(&grid, panel)?;
        let ours_s = start.elapsed().as_secs_f64();
        let mut variants = vec![Variant::Authors];
        if panel.matrices == MatrixEnsemble::GinibreGf {
            variants.push(Variant::ValueAsColumn);
        }
        for variant in variants {
            let theirs = run_transcription(python, &grid, panel, variant)?;
            let row = compare(panel, variant, &ours, &theirs)?;
            on_row(&row, ours_s, theirs.runtime_s);
            rows.push(row);
        }
    }
    Ok((grid, rows))
}

/// The cell where |z| is largest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorstCell {
    pub beta: f64,
    pub t: f64,
    pub ours: f64,
    pub ours_se: f64,
    pub theirs: f64,
    pub theirs_se: f64,
    pub z: f64,
}

/// Where the transition lies at one beta, on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub beta: f64,
    /// First time P reaches 1/2 (linear interpolation between checkpoints), if it does.
    pub half_time_ours: Option<f64>,
    pub half_time_theirs: Option<f64>,
    /// P and its standard error at the last checkpoint.
    pub last_ours: (f64, f64),
    pub last_theirs: (f64, f64),
}

/// The first time a curve p(t) reaches 1/2, interpolating linearly between checkpoints.
pub fn half_time(t: &[f64], p: &[f64]) -> Option<f64> {
    let k = p.iter().position(|&v| v >= 0.5)?;
    if k == 0 {
        return t.first().copied();
    }
    let (t0, t1, p0, p1) = (t[k - 1], t[k], p[k - 1], p[k]);
    Some(t0 + (t1 - t0) * (0.5 - p0) / (p1 - p0))
}

/// One panel compared cell by cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelComparison {
    pub panel: Panel,
    pub variant: Variant,
    pub realizations: usize,
    pub cells: usize,
    pub max_abs_diff: f64,
    pub mean_abs_diff: f64,
    pub max_z: f64,
    pub z_limit: f64,
    pub worst: WorstCell,
    /// Both sides read every checkpoint after the same step.
    pub same_checkpoint_steps: bool,
    /// Every cell within the bound and the same clock.
    pub agrees: bool,
    /// Per beta: where P crosses 1/2 and P at the last checkpoint.
    pub transitions: Vec<Transition>,
}

impl PanelComparison {
    /// What the check expects: agreement with the authors' algorithm, disagreement with the
    /// negative control (on panels where V is not symmetric; elsewhere the control equals the
    /// authors' algorithm up to round-off, so it must agree too).
    pub fn expected(&self) -> bool {
        match (self.variant, self.panel.matrices) {
            (Variant::ValueAsColumn, MatrixEnsemble::GinibreGf) => !self.agrees,
            _ => self.agrees,
        }
    }
}

/// The two-sided standard normal quantile z with P(|Z| > z) = alpha / cells (Bonferroni), by
/// bisection on erfc: P(|Z| > z) = erfc(z / sqrt(2)).
pub fn bonferroni_z(alpha: f64, cells: usize) -> f64 {
    let target = alpha / cells.max(1) as f64;
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if libm::erfc(mid / std::f64::consts::SQRT_2) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Compares attnflow's diagram with the transcription's, cell by cell (see the module docs).
pub fn compare(
    panel: &Panel,
    variant: Variant,
    ours: &PhaseDiagram,
    theirs: &Transcription,
) -> Result<PanelComparison> {
    let shape = |p: &[Vec<f64>]| (p.len(), p.first().map_or(0, Vec::len));
    if ours.beta != theirs.beta
        || ours.t.len() != theirs.t.len()
        || shape(&ours.probability) != shape(&theirs.probability)
        || shape(&theirs.stderr) != shape(&theirs.probability)
    {
        return Err(external(format!(
            "{}: grids differ (betas {:?} vs {:?}, {} vs {} checkpoints)",
            panel.id,
            ours.beta,
            theirs.beta,
            ours.t.len(),
            theirs.t.len()
        )));
    }
    let r = ours.params.spec.realizations;
    let floor = 1.0 / r as f64;
    let (mut max_abs, mut sum_abs, mut cells) = (0.0f64, 0.0, 0usize);
    let mut worst: Option<WorstCell> = None;
    for (b, &beta) in ours.beta.iter().enumerate() {
        for (c, &t) in ours.t.iter().enumerate() {
            let (po, so) = (ours.probability[b][c], ours.stderr[b][c]);
            let (pt, st) = (theirs.probability[b][c], theirs.stderr[b][c]);
            let diff = (po - pt).abs();
            let z = diff / (so * so + st * st + floor * floor).sqrt();
            (max_abs, sum_abs, cells) = (max_abs.max(diff), sum_abs + diff, cells + 1);
            if worst.as_ref().is_none_or(|w| z > w.z) {
                worst = Some(WorstCell {
                    beta,
                    t,
                    ours: po,
                    ours_se: so,
                    theirs: pt,
                    theirs_se: st,
                    z,
                });
            }
        }
    }
    let worst = worst.ok_or_else(|| external(format!("{}: no cells", panel.id)))?;
    let z_limit = bonferroni_z(FAMILY_ALPHA, cells);
    let same_checkpoint_steps = ours.params.checkpoint_steps == theirs.checkpoint_steps
        && ours.params.steps == theirs.steps;
    let last = ours.t.len() - 1;
    let transitions = ours
        .beta
        .iter()
        .enumerate()
        .map(|(b, &beta)| Transition {
            beta,
            half_time_ours: half_time(&ours.t, &ours.probability[b]),
            half_time_theirs: half_time(&ours.t, &theirs.probability[b]),
            last_ours: (ours.probability[b][last], ours.stderr[b][last]),
            last_theirs: (theirs.probability[b][last], theirs.stderr[b][last]),
        })
        .collect();
    Ok(PanelComparison {
        panel: panel.clone(),
        variant,
        realizations: r,
        cells,
        max_abs_diff: max_abs,
        mean_abs_diff: sum_abs / cells as f64,
        max_z: worst.z,
        z_limit,
        agrees: same_checkpoint_steps && worst.z <= z_limit,
        worst,
        same_checkpoint_steps,
        transitions,
    })
}

/// The Markdown table of a cross-check (no runtimes: regenerating unchanged results leaves the file
/// unchanged).
pub fn markdown(grid: &Grid, rows: &[PanelComparison]) -> String {
    let mut md = format!(
        "n = {}, SA, paper Euler dt = {}, {} checkpoints on [0, {}], delta = {}, betas {:?}, {} \
         realisations per beta on each side; test: max |z| over a panel's cells <= the two-sided \
         Bonferroni bound for a family-wise false-alarm rate of {FAMILY_ALPHA}, \
         z = (p_ours - p_theirs) / sqrt(se_ours^2 + se_theirs^2 + (1/R)^2), and the same checkpoint \
         steps on both sides.\n\n",
        grid.n, grid.dt, grid.checkpoints, grid.t_max, grid.delta, grid.betas, grid.realizations
    );
    md.push_str(
        "| panel | d | transcription | cells | max abs diff | mean abs diff | max z (bound) | worst cell: beta, t, ours +- se vs theirs +- se | same clock | expected | verdict |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let w = &row.worst;
        let (variant, expected) = match (row.variant, row.panel.matrices) {
            (Variant::Authors, _) => ("authors' algorithm", "agree"),
            (Variant::ValueAsColumn, MatrixEnsemble::GinibreGf) => {
                ("negative control: V as column map", "disagree")
            }
            (Variant::ValueAsColumn, _) => ("negative control: V as column map", "agree"),
        };
        md.push_str(&format!(
            "| {} | {} | {variant} | {} | {:.3} | {:.4} | {:.1} ({:.1}) | {}, {:.2}: {:.3} +- {:.3} vs {:.3} +- {:.3} | {} | {expected} | {} |\n",
            row.panel.id,
            row.panel.d,
            row.cells,
            row.max_abs_diff,
            row.mean_abs_diff,
            row.max_z,
            row.z_limit,
            w.beta,
            w.t,
            w.ours,
            w.ours_se,
            w.theirs,
            w.theirs_se,
            if row.same_checkpoint_steps { "yes" } else { "no" },
            if row.expected() { "pass" } else { "FAIL" },
        ));
    }
    md.push_str(
        "\nWhere the transition lies: the first time P reaches 1/2 (linear interpolation between \
         checkpoints; - if it does not by the last one) and P at the last checkpoint, attnflow vs the \
         transcription.\n\n| panel | transcription | beta | t(P = 1/2) ours | theirs | P(t_max) ours | theirs |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let time = |t: Option<f64>| t.map_or("-".to_string(), |t| format!("{t:.2}"));
    for row in rows {
        let variant = match row.variant {
            Variant::Authors => "authors",
            Variant::ValueAsColumn => "V as column map",
        };
        for tr in &row.transitions {
            md.push_str(&format!(
                "| {} | {variant} | {} | {} | {} | {:.3} +- {:.3} | {:.3} +- {:.3} |\n",
                row.panel.id,
                tr.beta,
                time(tr.half_time_ours),
                time(tr.half_time_theirs),
                tr.last_ours.0,
                tr.last_ours.1,
                tr.last_theirs.0,
                tr.last_theirs.1
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_time_interpolates_between_checkpoints() {
        let t = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(half_time(&t, &[0.0, 0.2, 0.8, 1.0]), Some(1.5));
        assert_eq!(half_time(&t, &[0.6, 0.7, 0.8, 1.0]), Some(0.0));
        assert_eq!(half_time(&t, &[0.0, 0.1, 0.2, 0.3]), None);
    }

    #[test]
    fn bonferroni_bound_matches_normal_quantiles() {
        // two-sided 5 % -> 1.959964; 1e-3 / 1000 cells -> 1e-6 two-sided -> 4.891638
        assert!((bonferroni_z(0.05, 1) - 1.959_963_985).abs() < 1e-8);
        assert!((bonferroni_z(1e-3, 1000) - 4.891_638_475).abs() < 1e-6);
    }

    fn diagram(p: Vec<Vec<f64>>, se: Vec<Vec<f64>>) -> (PhaseDiagram, Transcription) {
        let (grid, panels) = Level::Ci.plan();
        let mut small = grid.clone();
        (small.realizations, small.checkpoints, small.t_max) = (2, 3, 0.2);
        small.betas = vec![1.0];
        let ours = run_attnflow(&small, &panels[0]).unwrap();
        let theirs = Transcription {
            numpy: "test".into(),
            steps: ours.params.steps,
            checkpoint_steps: ours.params.checkpoint_steps.clone(),
            t: ours.t.clone(),
            beta: ours.beta.clone(),
            probability: p,
            stderr: se,
            runtime_s: 0.0,
        };
        (ours, theirs)
    }

    #[test]
    fn comparison_flags_a_cell_outside_the_bound_and_a_different_clock() {
        let (mut ours, theirs) = diagram(vec![vec![0.0; 3]], vec![vec![0.0; 3]]);
        let panel = Level::Ci.plan().1[0].clone();
        ours.probability = vec![vec![0.0; 3]];
        ours.stderr = vec![vec![0.0; 3]];
        let same = compare(&panel, Variant::Authors, &ours, &theirs).unwrap();
        assert!(same.agrees && same.max_z == 0.0 && same.expected());
        // R = 2: floor 1/2; a difference of 0.5 with se 0.1 on both sides: z = 0.5 / sqrt(0.27)
        ours.probability[0][1] = 0.5;
        ours.stderr[0][1] = 0.1;
        let mut theirs_se = theirs.clone();
        theirs_se.stderr[0][1] = 0.1;
        let close = compare(&panel, Variant::Authors, &ours, &theirs_se).unwrap();
        assert!((close.max_z - 0.5 / 0.27f64.sqrt()).abs() < 1e-12 && close.agrees);
        // far outside: 40 standard errors
        ours.params.spec.realizations = 10_000;
        ours.probability[0][1] = 0.4;
        ours.stderr[0][1] = 0.01;
        let far = compare(&panel, Variant::Authors, &ours, &theirs).unwrap();
        assert!(!far.agrees && far.max_z > 30.0, "{far:?}");
        assert_eq!((far.worst.t, far.worst.ours), (ours.t[1], 0.4));
        // a different clock fails even with equal cells
        ours.probability[0][1] = 0.0;
        let mut late = theirs.clone();
        late.checkpoint_steps[2] += 1;
        assert!(
            !compare(&panel, Variant::Authors, &ours, &late)
                .unwrap()
                .agrees
        );
        // different grids are an error, not a verdict
        let mut short = theirs.clone();
        short.beta = vec![2.0];
        assert!(compare(&panel, Variant::Authors, &ours, &short).is_err());
    }

    #[test]
    fn negative_control_is_expected_to_disagree_only_on_panel_c() {
        let (ours, theirs) = diagram(vec![vec![0.0; 3]], vec![vec![0.0; 3]]);
        let panels = Level::Full.plan().1;
        let c = panels.iter().find(|p| p.id == "glpr-fig5 (c)").unwrap();
        let row = compare(c, Variant::ValueAsColumn, &ours, &theirs).unwrap();
        assert!(row.agrees && !row.expected());
        let a = panels.iter().find(|p| p.id == "glpr-fig5 (a)").unwrap();
        assert!(
            compare(a, Variant::ValueAsColumn, &ours, &theirs)
                .unwrap()
                .expected()
        );
    }

    #[test]
    fn paper_clock_matches_the_authors_accumulated_time() {
        // the authors' clock: t += dt after every step (floating point), checkpoint t_c read at the
        // first step with t >= t_c; attnflow: the first k >= 1 with k dt >= t_c - 1e-9 dt
        let authors = |times: &[f64], dt: f64| -> Vec<usize> {
            let (mut t, mut k, mut out) = (0.0f64, 0usize, Vec::new());
            for &tc in times {
                while k == 0 || t < tc {
                    t += dt;
                    k += 1;
                }
                out.push(k);
            }
            out
        };
        let (grid, _) = Level::Full.plan();
        let times = observables::linspace(0.0, grid.t_max, grid.checkpoints);
        let ours = observables::checkpoint_steps(&times, grid.dt, 300).unwrap();
        assert_eq!(ours, authors(&times, grid.dt));
        // on grids whose checkpoints fall on multiples of dt the accumulated clock lags: t = 6, 8,
        // 10 of linspace(0, 10, 6) are read one step later by the authors (documented convention)
        let coarse = observables::linspace(0.0, 10.0, 6);
        let ours = observables::checkpoint_steps(&coarse, 0.1, 100).unwrap();
        assert_eq!(ours, vec![1, 20, 40, 60, 80, 100]);
        assert_eq!(authors(&coarse, 0.1), vec![1, 20, 40, 61, 81, 101]);
    }
}

//! Checks of the extremiser claims of \[BKKRW\] (spec tfdy.md section 2) for the surrogate energy
//! E_code(X) = (1/n^2) sum_ij exp(x_i^T D x_j) with the \[BKKRW\] ascent / descent scheme
//! x_i <- normalize(x_i -+ (tau/n) sum_j exp(x_i^T D x_j) D x_j) (attnflow-kuramoto):
//! maximisers M1-M4 and minimisers m1-m5 (m4: four-particle tanh law and the tau = 0.05 instability;
//! m5: optimal density on S^1 and the Funk-Hecke linear-response slope I_1(1)/(2 I_2(1))).

use crate::error::Result;
use crate::registry::{Check, Fidelity, Measurement};
use crate::support::{SUITE_SEED, num};
use attnflow_dynamics::SquareMatrix;
use attnflow_kuramoto::density::{DensityStudyParams, optimal_density_study};
use attnflow_kuramoto::four_particle::{
    closed_form_energy, run_four_particles, tanh_law_minimiser,
};
use attnflow_kuramoto::surrogate::{
    ClusterShape, RunParams, SplitParams, antipodal_split_energy, check_m1, check_m1_min, check_m2,
    check_m2_min, check_m3, check_m3_min, m3_crossing, split_statistics,
};

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "bkkrw-max1",
            source: "[BKKRW] maximisers, M1",
            hypotheses: "D symmetric, lambda_max >= |lambda_min| (here D = diag(1, 3, 4)), beta = 1",
            claim: "max E_code = e^{lambda_max}, attained by a Dirac at a top eigenvector",
            run: m1_max,
        },
        Check {
            id: "bkkrw-max2",
            source: "[BKKRW] maximisers, M2",
            hypotheses: "D negative definite (here diag(-1, -3, -4))",
            claim: "max E_code = cosh|lambda_min| at (delta_w + delta_-w)/2; particle runs land on +-w with a frozen split",
            run: m2_max,
        },
        Check {
            id: "bkkrw-max3",
            source: "[BKKRW] maximisers, M3",
            hypotheses: "D = diag(-1, s), |s| < 1 (indefinite, |lambda_min| > lambda_max)",
            claim: "candidates e^s (Dirac at e2) and cosh 1 (pair at +-e1); the Dirac wins iff s > ln cosh 1",
            run: m3_max,
        },
        Check {
            id: "bkkrw-max4",
            source: "[BKKRW] maximisers, M4 (Fig. 2)",
            hypotheses: "D = diag(s, 1) in 2-D, ascent from uniform data",
            claim: "one cluster when D is near isotropic, two antipodal clusters (stable, non-optimal) otherwise",
            run: m4_split,
        },
        Check {
            id: "bkkrw-min1",
            source: "[BKKRW] minimisers, m1",
            hypotheses: "D = c I, c > 0 (here c = 1 on S^1)",
            claim: "the uniform measure is the unique minimiser; min E_code = I_0(1) on S^1",
            run: m1_min,
        },
        Check {
            id: "bkkrw-min2",
            source: "[BKKRW] minimisers, m2",
            hypotheses: "D positive definite, not a multiple of I (here diag(1, 1.5) on S^1)",
            claim: "unique minimiser, not uniform: its energy is strictly below the uniform measure's",
            run: m2_min,
        },
        Check {
            id: "bkkrw-min3",
            source: "[BKKRW] minimisers, m3",
            hypotheses: "D positive semidefinite, singular (here diag(0, 0, 1))",
            claim: "min E_code = 1, attained by measures on ker D",
            run: m3_min,
        },
        Check {
            id: "bkkrw-min4",
            source: "[BKKRW] minimisers, m4 (Fig. 4)",
            hypotheses: "four particles (+-a, +-b), D = diag(1, d2), descent",
            claim: "E_code = cosh(a^2) cosh(d2 b^2), minimiser d1 tanh(d1 a^2) = d2 tanh(d2 b^2); tau = 0.05 unstable for d2 >= 6",
            run: m4_four_particles,
        },
        Check {
            id: "bkkrw-min5",
            source: "[BKKRW] minimisers, m5 (Fig. 5)",
            hypotheses: "D = diag(1, 1 + eps) on S^1, minimisation over densities",
            claim: "cos 2theta amplitude of the optimal density ~ slope * eps; slope I_1(1)/(2 I_2(1)) (Funk-Hecke, derived)",
            run: m5_density,
        },
    ]
}

const KEY_BKKRW: u64 = 0xB000;

fn rp(n: usize, steps: usize, tau: f64, realisation: u64) -> RunParams {
    RunParams {
        n,
        steps,
        tau,
        seed: SUITE_SEED ^ KEY_BKKRW,
        realisation,
        delta: 1e-3,
    }
}

fn m1_max(f: Fidelity) -> Result<Measurement> {
    let d_mat = SquareMatrix::diagonal(&[1.0, 3.0, 4.0]);
    let seeds = f.pick(5, 30);
    let mut worst_single: f64 = 0.0;
    for r in 0..seeds {
        let c = check_m1(&d_mat, &rp(1, 500, 0.1, r))?;
        worst_single = worst_single.max((c.measured - c.predicted).abs() / c.predicted);
    }
    let many = check_m1(&d_mat, &rp(f.pick(12, 100), 500, 0.1, 1000))?;
    let split = many.reference.unwrap_or(f64::NAN);
    let shape_ok = many
        .clusters
        .as_ref()
        .is_some_and(|c| c.shape != ClusterShape::More);
    let passed = worst_single < 1e-9
        && many.measured <= many.predicted * (1.0 + 1e-12)
        && (many.measured - split).abs() < 1e-6 * split
        && shape_ok;
    Ok(Measurement {
        predicted: format!("max E_code = e^4 = {}", num(many.predicted)),
        measured: format!(
            "single particle ({seeds} seeds): max rel. error {}; {} particles: E = {} (<= e^4), terminal {:?} with split energy {}",
            num(worst_single),
            f.pick(12, 100),
            num(many.measured),
            many.clusters.as_ref().map(|c| c.shape),
            num(split)
        ),
        tolerance: "single particle 1e-9 relative; many particles: E <= e^4 and equal to the energy of its terminal mass split (1e-6)".into(),
        method: "[BKKRW] ascent scheme (paper Euler + normalisation), tau = 0.1, 500 steps, uniform seeded starts".into(),
        passed,
        trend_only: false,
        note: Some("With many particles the ascent may freeze an antipodal split on the top axis, a stationary non-maximal state (as in the paper's code).".into()),
    })
}

fn m2_max(f: Fidelity) -> Result<Measurement> {
    let d_mat = SquareMatrix::diagonal(&[-1.0, -3.0, -4.0]);
    let reps = f.pick(3, 20);
    let mut ok = (antipodal_split_energy(0.5, -4.0) - 4f64.cosh()).abs() < 1e-12 * 4f64.cosh();
    let mut rows = Vec::new();
    let mut predicted = 0.0;
    for r in 0..reps {
        let c = check_m2(&d_mat, &rp(f.pick(12, 100), 500, 0.1, 2000 + r))?;
        predicted = c.predicted;
        let split = c.reference.unwrap_or(f64::NAN);
        let pair = c
            .clusters
            .as_ref()
            .is_some_and(|s| s.shape == ClusterShape::AntipodalPair);
        ok &= pair
            && (c.measured - split).abs() < 1e-6 * split
            && c.measured <= c.predicted * (1.0 + 1e-12);
        rows.push(format!(
            "E = {} (split {:?})",
            num(c.measured),
            c.clusters
                .as_ref()
                .map(|s| s.sizes.clone())
                .unwrap_or_default()
        ));
    }
    Ok(Measurement {
        predicted: format!("max E_code = cosh 4 = {} at the balanced pair on +-e3; runs end on +-e3 with energy of their split", num(predicted)),
        measured: rows.join("; "),
        tolerance: "antipodal pair; E equal to its split energy (1e-6), <= cosh 4".into(),
        method: "[BKKRW] ascent, tau = 0.1, 500 steps, seeded uniform starts".into(),
        passed: ok,
        trend_only: false,
        note: Some("The maximum cosh 4 needs an exactly balanced split; particle runs freeze whatever split they reach, so the check is on the axis and the split energy.".into()),
    })
}

fn m3_max(f: Fidelity) -> Result<Measurement> {
    let crossing = m3_crossing();
    let s_values: Vec<f64> = f.pick(vec![0.0, 0.8], vec![-0.5, 0.0, 0.3, 0.6, 0.8, 0.95]);
    let mut ok = (crossing.exp() - 1f64.cosh()).abs() < 1e-14;
    let mut rows = Vec::new();
    for (k, &s) in s_values.iter().enumerate() {
        let n = f.pick(10, 40);
        let c = check_m3(s, &rp(n, 800, 0.1, 3000 + k as u64))?;
        // the run ends in a single cluster or an antipodal pair on an eigen-axis (e1: lambda = -1, e2: lambda = s),
        // with the mass split q it froze; its energy is antipodal_split_energy(q, lambda)
        let split = c
            .clusters
            .as_ref()
            .filter(|cl| cl.shape != ClusterShape::More)
            .map(|cl| cl.sizes[0] as f64 / n as f64);
        let state = split.and_then(|q| {
            [(-1.0, "e1"), (s, "e2")]
                .into_iter()
                .map(|(lambda, axis)| (antipodal_split_energy(q, lambda), axis, q))
                .find(|(e, _, _)| (c.measured - e).abs() < 1e-6 * e)
        });
        ok &= state.is_some() && c.measured <= c.predicted + 1e-9;
        rows.push(format!(
            "s={s}: predicted max {}; run ended at {} ({})",
            num(c.predicted),
            num(c.measured),
            state
                .map(|(_, axis, q)| format!("axis {axis}, mass split {}", num(q)))
                .unwrap_or_else(|| "no candidate state".into())
        ));
    }
    Ok(Measurement {
        predicted: format!("crossing at s = ln cosh 1 = {}; global max = max(e^s, cosh 1)", num(crossing)),
        measured: rows.join("; "),
        tolerance: "e^{crossing} = cosh 1 to 1e-14; each run ends on an eigen-axis with the energy of its mass split (1e-6), not above the global max".into(),
        method: "[BKKRW] ascent, tau = 0.1, 800 steps, seeded uniform starts".into(),
        passed: ok,
        trend_only: false,
        note: Some("Ascent from random data may end in the non-optimal candidate (a stable state) and freezes its mass split. Only 'ends on a candidate axis with its split energy, never above the max' is asserted.".into()),
    })
}

fn m4_split(f: Fidelity) -> Result<Measurement> {
    let p = SplitParams {
        s_values: f.pick(
            vec![1.0, 0.6, 0.2],
            vec![1.0, 0.9, 0.7, 0.5, 0.3, 0.1, 1.2, 1.5],
        ),
        n: f.pick(20, 100),
        steps: f.pick(600, 1500),
        tau: 0.1,
        reps: f.pick(8, 25),
        seed: SUITE_SEED ^ KEY_BKKRW ^ 4,
        delta: 1e-3,
    };
    let pts = split_statistics(&p)?;
    let iso = pts.iter().find(|q| q.s == 1.0);
    let far = pts
        .iter()
        .filter(|q| (q.s - 1.0).abs() >= 0.5)
        .map(|q| q.two)
        .sum::<usize>();
    let iso_single = iso.map(|q| q.single == p.reps).unwrap_or(false);
    let energy_ok = pts
        .iter()
        .all(|q| q.mean_energy <= q.dirac_energy * (1.0 + 1e-9));
    Ok(Measurement {
        predicted: "s = 1: all runs one cluster; far from isotropic (|s - 1| >= 0.5): antipodal two-cluster states appear; energies <= e^{max(s,1)}".into(),
        measured: pts
            .iter()
            .map(|q| format!("s={}: single {} / two {} / more {}", num(q.s), q.single, q.two, q.more))
            .collect::<Vec<_>>()
            .join("; "),
        tolerance: "qualitative (counts)".into(),
        method: format!("[BKKRW] ascent, n = {}, tau = {}, {} steps, {} seeded reps per s; clusters by sign-aware components (delta 1e-3)", p.n, p.tau, p.steps, p.reps),
        passed: iso_single && far > 0 && energy_ok,
        trend_only: true,
        note: Some("M4 is a qualitative statement (a split experiment); only the trend is tested.".into()),
    })
}

fn m1_min(f: Fidelity) -> Result<Measurement> {
    let c = check_m1_min(1.0, 2, &rp(24, f.pick(3000, 6000), 0.5, 4000))?;
    let rel = (c.measured - c.predicted) / c.predicted;
    Ok(Measurement {
        predicted: format!("min E_code = I_0(1) = {}", num(c.predicted)),
        measured: format!("terminal E_code = {} (rel. excess {})", num(c.measured), num(rel)),
        tolerance: "0 <= excess < 1e-6 (equispaced n-point configurations reproduce I_0(1) by the trapezoidal rule)".into(),
        method: format!("[BKKRW] descent, n = 24 on S^1, tau = 0.5, {} steps", f.pick(3000, 6000)),
        passed: rel > -1e-12 && rel < 1e-6,
        trend_only: false,
        note: None,
    })
}

fn m2_min(f: Fidelity) -> Result<Measurement> {
    let n_angles = f.pick(128, 1000);
    let c = check_m2_min(
        1.0,
        1.5,
        &rp(f.pick(24, 64), f.pick(3000, 8000), 0.2, 5000),
        n_angles,
    )?;
    let uniform = c.reference.unwrap_or(f64::NAN);
    let gap = (uniform - c.predicted) / uniform;
    let particle_rel = (c.measured - c.predicted) / c.predicted;
    Ok(Measurement {
        predicted: format!("continuum minimum {} strictly below the uniform measure's {}", num(c.predicted), num(uniform)),
        measured: format!("relative gap to uniform {}; particle descent E = {} (rel. to continuum min {})", num(gap), num(c.measured), num(particle_rel)),
        tolerance: "gap > 1e-4; particle energy within 1e-4 (relative) of the continuum minimum".into(),
        method: format!("exponentiated-gradient descent on {n_angles} angles (lr 0.1, 1500 steps); particle descent tau = 0.2"),
        passed: gap > 1e-4 && particle_rel.abs() < 1e-4,
        trend_only: false,
        note: Some("On S^1 an n-point configuration following the optimal density is a spectrally accurate quadrature of it, so particle and continuum minima agree closely. The uniqueness part of m2 is not tested.".into()),
    })
}

fn m3_min(f: Fidelity) -> Result<Measurement> {
    let d_mat = SquareMatrix::diagonal(&[0.0, 0.0, 1.0]);
    let c = check_m3_min(&d_mat, &rp(30, f.pick(3000, 10000), 0.75, 6000))?;
    Ok(Measurement {
        predicted: "min E_code = 1".into(),
        measured: format!(
            "terminal E_code = {} (|E - 1| = {})",
            num(c.measured),
            num((c.measured - 1.0).abs())
        ),
        tolerance: "|E - 1| < 1e-6".into(),
        method: format!(
            "[BKKRW] descent, n = 30 on S^2, tau = 0.75, {} steps",
            f.pick(3000, 10000)
        ),
        passed: (c.measured - 1.0).abs() < 1e-6,
        trend_only: false,
        note: None,
    })
}

fn m4_four_particles(f: Fidelity) -> Result<Measurement> {
    let d2s: Vec<f64> = f.pick(
        vec![0.5, 2.0, 8.0],
        vec![0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0],
    );
    let steps = 10_000;
    let mut rows = Vec::new();
    let mut ok = true;
    for &d2 in &d2s {
        let a2 = tanh_law_minimiser(1.0, d2)?;
        let e = closed_form_energy(1.0, d2, a2);
        let stable = run_four_particles(1.0, d2, 0.0005, steps)?;
        let fast = run_four_particles(1.0, d2, 0.05, steps)?;
        let matches = |r: &attnflow_kuramoto::four_particle::FourParticleRun| {
            (r.a2 - a2).abs() < 1e-3 && (r.energy - e).abs() < 1e-4 * e
        };
        // tau = 0.05 (t = 500) converges below d2 = 6 and jumps to the maximum-energy axis from d2 >= 6;
        // tau = 5e-4 (t = 5) never jumps: it moves from the start a^2 = 1/2 towards the minimiser, and at
        // d2 >= 6 (fast dynamics) it has converged
        let stable_ok =
            (stable.a2 - a2).abs() <= (0.5 - a2).abs() + 1e-12 && (d2 < 6.0 || matches(&stable));
        let fast_ok = if d2 >= 6.0 {
            (fast.a2 - a2).abs() > 0.1
        } else {
            matches(&fast)
        };
        ok &= stable_ok && fast_ok;
        rows.push(format!(
            "d2={d2}: a^2 predicted {} / tau=5e-4 {} / tau=0.05 {}",
            num(a2),
            num(stable.a2),
            num(fast.a2)
        ));
    }
    Ok(Measurement {
        predicted: "tanh-law minimiser a^2; tau = 0.05 reaches it for d2 < 6 and jumps away (to the maximum-energy axis) for d2 >= 6; tau = 5e-4 never jumps".into(),
        measured: rows.join("; "),
        tolerance: "converged runs: a^2 within 1e-3, energy within 1e-4 relative; unstable: a^2 off by > 0.1".into(),
        method: format!("[BKKRW] descent from the square rotated by pi/4, {steps} steps, tau = 5e-4 and 0.05"),
        passed: ok,
        trend_only: false,
        note: Some("tau = 5e-4 for 10000 steps covers only t = 5: for small d2 (slow dynamics) it has not converged yet (d2 = 0.5: a^2 = 0.216 vs 0.194), so there only the direction of motion is asserted and convergence is checked with tau = 0.05.".into()),
    })
}

fn m5_density(f: Fidelity) -> Result<Measurement> {
    let p = DensityStudyParams {
        d2_values: vec![0.98, 0.99, 1.01, 1.02],
        n_angles: f.pick(128, 1000),
        lr: 0.1,
        steps: 1500,
    };
    let st = optimal_density_study(&p)?;
    let rel = (st.measured_slope - st.funk_hecke_slope).abs() / st.funk_hecke_slope;
    let fh_best = st.entries.iter().all(|e| {
        e.funk_hecke_error < e.code_ansatz_error && e.funk_hecke_error < e.exp_guess_error
    });
    Ok(Measurement {
        predicted: format!(
            "slope I_1(1)/(2 I_2(1)) = {} (Funk-Hecke); the authors' first-order ansatz gives {}, the exp guess e/2 = {}",
            num(st.funk_hecke_slope),
            num(st.code_ansatz_slope),
            num(st.exp_guess_slope)
        ),
        measured: format!("fitted slope {} (rel. dev. {}); Funk-Hecke profile closest at every eps: {fh_best}", num(st.measured_slope), num(rel)),
        tolerance: "1e-3 relative; Funk-Hecke closest".into(),
        method: format!("exponentiated gradient on {} angles, lr 0.1, 1500 steps, eps in +-0.01, +-0.02; quadratic fit A = s eps + c eps^2", p.n_angles),
        passed: rel < 1e-3 && fh_best,
        trend_only: false,
        note: Some("The slope is derived here (spec: derived); the code's C1 uses sin^{n-1} where Funk-Hecke needs sin^{n-2}, and the data support Funk-Hecke.".into()),
    })
}

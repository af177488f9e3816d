//! Check of dynamic metastability on S^1 (Geshkovski, Koubbi, Polyanskiy, Rigollet, arXiv 2410.06833) and
//! the merging law (Bruno, Pasqualotto, Agazzi, arXiv 2509.25040), with `attnflow_kuramoto::metastability`:
//!
//! - the energy staircase E = (1/n^2) sum_ij e^{beta (<x_i, x_j> - 1)} of the papers' USA from the authors'
//!   five-point staircase start, in the rescaled time d tau = e^{beta (1 - <x_a, x_b>)} ds of the closest
//!   pair: the median of E on each plateau (clusters at the interaction scale 1 - 1/beta) against
//!   sum_c m_c^2 / n^2, and the order of the merge events against the closest-pair prediction;
//! - two points at angle psi: the fitted slope of log tau_merge against beta against 1 - cos psi (the
//!   measured tau is also compared with the quadrature of the two-point ODE).

use crate::error::Result;
use crate::registry::{Check, Fidelity, Measurement};
use crate::support::num;
use attnflow_kuramoto::metastability::{
    StaircaseParams, closest_pair_merges, plateaus, run_staircase, slope, staircase_start,
    two_point_merge,
};

pub(crate) fn checks() -> Vec<Check> {
    vec![Check {
        id: "metastability-staircase",
        source: "Geshkovski-Koubbi-Polyanskiy-Rigollet, arXiv 2410.06833; Bruno-Pasqualotto-Agazzi, arXiv 2509.25040",
        hypotheses: "USA on S^1 (papers' normalisation), n = 5 from the authors' staircase start, large beta; two points at angle psi",
        claim: "in rescaled time E is a staircase with plateaus at sum_c m_c^2/n^2; closest pair merges first; log T_merge ~ beta (1 - cos psi)",
        run: metastability,
    }]
}

/// Largest accepted |median E - sum m^2/n^2| on a plateau.
const LEVEL_TOL: f64 = 0.03;
/// Largest accepted relative gap between the fitted slope and 1 - cos psi.
const SLOPE_TOL: f64 = 0.06;

fn metastability(fidelity: Fidelity) -> Result<Measurement> {
    use std::f64::consts::PI;
    let betas: Vec<f64> = fidelity.pick(vec![1000.0, 4000.0], vec![500.0, 1000.0, 2000.0, 4000.0]);
    let ds = fidelity.pick(4e-3, 1e-3);
    let prediction = closest_pair_merges(&staircase_start());
    let predicted: Vec<_> = prediction.iter().map(|m| m.clusters.clone()).collect();
    let mut rows = Vec::new();
    let mut passed = true;
    for &beta in &betas {
        let run = run_staircase(&StaircaseParams {
            beta,
            angles: staircase_start(),
            ds,
            delta: 1e-6,
            s_max: 80.0,
            sample_ds: fidelity.pick(0.25, 0.05),
        })?;
        let observed: Vec<_> = run.merges.iter().map(|m| m.clusters.clone()).collect();
        let order = observed == predicted;
        let plats = plateaus(&run);
        let worst = plats
            .iter()
            .map(|q| (q.energy_median - q.level).abs())
            .fold(0.0f64, f64::max);
        passed &= order && worst <= LEVEL_TOL && plats.len() >= 4;
        rows.push(format!(
            "beta = {beta}: merge order {} the closest pair; plateaus (level: median E) {}",
            if order { "=" } else { "!=" },
            plats
                .iter()
                .map(|q| format!("{}: {}", num(q.level), num(q.energy_median)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let law_betas: Vec<f64> = (1..=fidelity.pick(5, 10))
        .map(|k| fidelity.pick(20.0, 10.0) * k as f64)
        .collect();
    for psi in [PI / 3.0, PI / 2.0, 2.0 * PI / 3.0] {
        let mut log_tau = Vec::new();
        let mut gap: f64 = 0.0;
        for &beta in &law_betas {
            let (m, q) = two_point_merge(beta, psi, 1e-6, ds)?;
            gap = gap.max((m - q).abs());
            log_tau.push(m);
        }
        let fitted = slope(&law_betas, &log_tau);
        let predicted = 1.0 - psi.cos();
        passed &= (fitted / predicted - 1.0).abs() <= SLOPE_TOL && gap < 1e-3;
        rows.push(format!(
            "psi = {}: slope {} vs 1 - cos psi = {} (max |log tau - quadrature| = {:.1e})",
            num(psi),
            num(fitted),
            num(predicted),
            gap
        ));
    }
    Ok(Measurement {
        predicted: format!(
            "merges {:?}; levels {}; slopes 1 - cos psi = 0.5, 1, 1.5",
            predicted,
            prediction
                .iter()
                .map(|m| num(m.level_after))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        measured: rows.join("; "),
        tolerance: format!(
            "merge order equal; |median E - level| <= {LEVEL_TOL} on every plateau; fitted slope within {:.0}% of 1 - cos psi",
            100.0 * SLOPE_TOL
        ),
        method: format!(
            "papers' USA (self term left out), RK4 in rescaled time s (d tau = e^(beta (1 - <x_a, x_b>)) ds, closest pair), ds = {ds}, \
             merge events at <x_i, x_j> > 1 - 1e-6 (merged clusters become one weighted point); staircase betas {betas:?}; \
             law betas {law_betas:?}"
        ),
        passed,
        trend_only: false,
        note: Some(
            "The fitted slope sits 2-5% below 1 - cos psi: log tau = beta (1 - cos psi) - log beta + O(1), and the log beta term \
             lowers the slope over a finite beta range (the quadrature of the two-point ODE agrees with the measured tau). \
             At beta = 300 the third merge of the staircase start goes against the closest pair (the 3-point cluster at \
             angle 0.269 attracts x_3 more than x_4 at 0.255: mass beats distance while beta (cos 0.255 - cos 0.269) < log 3); \
             in runs at beta = 350, 400, 450 the prediction holds."
                .into(),
        ),
    })
}

//! Check of the lost-in-the-middle closed form (Duerinckx, Geshkovski and Rossi, arXiv 2605.09213): causal
//! ALiBi attention on S^1 from i.i.d. uniform tokens,
//!
//! ```text
//! th_j' = sum_{k<j} W_jk (-beta sin(th_j - th_k) e^{beta cos(th_j - th_k)}),
//! W_jk  = e^{-(lambda/n)(j-k)} / sum_{k'<j} e^{-(lambda/n)(j-k')},
//! ```
//!
//! whose retrieval profile of the last token, n E[phi(th_{n-1}(t) - th_k(0))] with
//! phi(x) = sum_{m=1}^{20} w_m cos(m x), is predicted in closed form by S_t(s) (n -> infinity, linear response)
//! and at finite n by n sum_m w_m [exp(a_m t W)]_{n-1,k} (`attnflow_energy::lost_in_middle`). The measurement
//! is the Monte-Carlo sensitivity estimator of `attnflow_kuramoto::lost_in_middle`; the comparison is per
//! bin of source positions with s >= 1/4 (the first tokens average over O(1) predecessors, where the
//! linearisation does not apply), at times inside the linear regime.

use crate::error::Result;
use crate::registry::{Check, Fidelity, Measurement};
use crate::support::{SUITE_SEED, num};
use attnflow_energy::lost_in_middle::{AUTHORS_MODE_WIDTH, AUTHORS_MODES, LostInMiddle};
use attnflow_kuramoto::lost_in_middle::{ProfileParams, bin_average, bin_ranges, measure_profile};

pub(crate) fn checks() -> Vec<Check> {
    vec![Check {
        id: "lost-in-middle",
        source: "Duerinckx-Geshkovski-Rossi, arXiv 2605.09213 (closed form of their scripts)",
        hypotheses: "causal ALiBi USA on S^1, i.i.d. uniform tokens, beta = 1, lambda = 1, M = 8, n_max = 20, t in the linear regime",
        claim: "the retrieval profile of the last token against the source position is S_t(s) (U-shaped for t < t_crit)",
        run: lost_in_middle,
    }]
}

const KEY: u64 = 0x2605_0921;
/// The largest accepted |measured - predicted| / standard error over the bins.
const Z_MAX: f64 = 4.0;

fn lost_in_middle(fidelity: Fidelity) -> Result<Measurement> {
    let (beta, lambda) = (1.0, 1.0);
    let n = fidelity.pick(32, 64);
    let realisations = fidelity.pick(160, 1000);
    let dt = fidelity.pick(0.05, 0.025);
    let bin_width = 8;
    let times = vec![0.5, 1.0];
    let theory = LostInMiddle::authors(beta, lambda)?;
    let snapshots = measure_profile(&ProfileParams {
        beta,
        lambda,
        mode_width: AUTHORS_MODE_WIDTH,
        modes: AUTHORS_MODES,
        n,
        realisations,
        times: times.clone(),
        dt,
        bin_width,
        seed: SUITE_SEED ^ KEY,
    })?;
    let ranges = bin_ranges(n, bin_width);
    let mut rows = Vec::new();
    let mut worst_z: f64 = 0.0;
    let mut worst_gap: f64 = 0.0;
    for snap in &snapshots {
        let linear = bin_average(&theory.discrete_profile(n, snap.t)?, &ranges);
        let closed: Vec<f64> = (0..n - 1)
            .map(|k| theory.profile(snap.t, (k + 1) as f64 / n as f64))
            .collect::<attnflow_energy::Result<_>>()?;
        let closed = bin_average(&closed, &ranges);
        for ((bin, lin), cf) in snap.bins.iter().zip(&linear).zip(&closed) {
            if bin.s < 0.25 {
                continue;
            }
            let z = (bin.mean - lin) / bin.stderr;
            worst_z = worst_z.max(z.abs());
            worst_gap = worst_gap.max((lin - cf).abs() / cf);
            rows.push(format!(
                "t = {}, s = {:.3}: measured {} +- {} vs finite-n {} (closed form {}), z = {:.1}",
                snap.t,
                bin.s,
                num(bin.mean),
                num(bin.stderr),
                num(*lin),
                num(*cf),
                z
            ));
        }
    }
    Ok(Measurement {
        predicted: format!(
            "n sum_m w_m [exp(a_m t W)]_(n-1,k) per bin (-> S_t(s) as n -> infinity; here within {:.1}% of S_t); t_crit(1) = {}",
            100.0 * worst_gap,
            num(theory.t_crit())
        ),
        measured: rows.join("; "),
        tolerance: format!(
            "|measured - predicted| <= {Z_MAX} standard errors in every bin with s >= 1/4"
        ),
        method: format!(
            "n = {n}, {realisations} i.i.d. uniform starts, RK4 in angles with the tangent flow, dt = {dt}; \
             sensitivity estimator n J_(n-1,k)(t) phi(th_(n-1)(t) - th_k(0)), bins of {bin_width} sources, t in {times:?}"
        ),
        passed: worst_z <= Z_MAX,
        trend_only: false,
        note: Some(
            "The deviation from the linear prediction is one-sided and grows with t: at n = 64, t = 1 the measured bins lie \
             1-6 % below it (z down to -3.4 at full fidelity), from t ~ 2 on far below (at t = 3 about half of it): \
             the closed form is the linear response of the n -> infinity limit, and the finite system leaves the linear \
             regime; the lost-in-middle figure shows it. The first tokens (s < 1/4) are excluded for the same reason."
                .into(),
        ),
    })
}

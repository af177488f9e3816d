//! Convergence rates near consensus (\[GLPR\] Lemma 6.4 and Thm 6.3):
//!
//! * Lemma 6.4 bound: if all points start in an open hemisphere, alpha(t) = min_i <x_i(t), x*> satisfies
//!   alphadot >= lambda (1 - alpha) for t >= t0 with lambda = 1/(2 n e^{2 beta}) as in (6.7); the printed (6.8)
//!   has e^{beta} instead of e^{2 beta} (a known inconsistency of v4; both are provided);
//! * linearised rates at consensus (from (6.9)/(6.10), and for any configuration near a single cluster):
//!   1 - alpha ~ e^{-2t} for SA and e^{-2 e^beta t} for USA;
//! * a least-squares fit of the exponential rate from a measured time series of 1 - alpha(t).

use crate::error::{EnergyError, Result, check_n, check_nonneg};
use attnflow_dynamics::ModelKind;

/// Lemma 6.4 rate bound as in (6.7): lambda = 1/(2 n e^{2 beta}).
pub fn lemma_6_4_rate_bound(n: usize, beta: f64) -> Result<f64> {
    check_n(n)?;
    check_nonneg("beta", beta)?;
    Ok(0.5 / (n as f64) * (-2.0 * beta).exp())
}

/// The variant printed in (6.8): lambda = 1/(2 n e^{beta}) (inconsistent with (6.7); reported side by side).
pub fn lemma_6_4_rate_bound_printed(n: usize, beta: f64) -> Result<f64> {
    check_n(n)?;
    check_nonneg("beta", beta)?;
    Ok(0.5 / (n as f64) * (-beta).exp())
}

/// Linearised exponential rate of 1 - alpha near consensus: 2 for SA, 2 e^beta for USA.
pub fn linearised_consensus_rate(model: ModelKind, beta: f64) -> Result<f64> {
    check_nonneg("beta", beta)?;
    Ok(match model {
        ModelKind::Sa => 2.0,
        ModelKind::Usa => 2.0 * beta.exp(),
    })
}

/// Result of [`fit_exponential_rate`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RateFit {
    /// Fitted rate r in gap(t) ~ C e^{-r t}.
    pub rate: f64,
    /// Fitted ln C.
    pub intercept: f64,
    /// Root-mean-square residual of ln gap about the fitted line.
    pub rms_residual: f64,
    /// Number of samples in the window.
    pub points: usize,
}

/// Least-squares fit of ln gap(t) = ln C - r t over the samples with t in [t_start, t_end], where
/// gap = 1 - alpha(t) > 0 (e.g. 1 - min_i <x_i, x*>). Errors if fewer than 2 samples fall in the window,
/// a gap in the window is not positive, or the window has a single distinct time.
pub fn fit_exponential_rate(
    times: &[f64],
    gaps: &[f64],
    t_start: f64,
    t_end: f64,
) -> Result<RateFit> {
    if times.len() != gaps.len() {
        return Err(EnergyError::ShapeMismatch(format!(
            "{} times but {} gaps",
            times.len(),
            gaps.len()
        )));
    }
    if !(t_start.is_finite() && t_end.is_finite() && t_start <= t_end) {
        return Err(EnergyError::InvalidParameter {
            name: "t_start",
            value: t_start,
            requirement: "finite and <= t_end",
        });
    }
    let mut pts = Vec::new();
    for (&t, &g) in times.iter().zip(gaps) {
        if !t.is_finite() {
            return Err(EnergyError::InvalidParameter {
                name: "time",
                value: t,
                requirement: "finite",
            });
        }
        if t >= t_start && t <= t_end {
            if !(g.is_finite() && g > 0.0) {
                return Err(EnergyError::InvalidParameter {
                    name: "gap",
                    value: g,
                    requirement: "finite and > 0",
                });
            }
            pts.push((t, g.ln()));
        }
    }
    let m = pts.len();
    if m < 2 {
        return Err(EnergyError::NoSolution(format!(
            "only {m} samples in the window [{t_start}, {t_end}]"
        )));
    }
    let mean_t = pts.iter().map(|p| p.0).sum::<f64>() / m as f64;
    let mean_y = pts.iter().map(|p| p.1).sum::<f64>() / m as f64;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    if sxx == 0.0 {
        return Err(EnergyError::NoSolution(
            "all samples in the window have the same time".into(),
        ));
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_t;
    let rss: f64 = pts
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    Ok(RateFit {
        rate: -slope,
        intercept,
        rms_residual: (rss / m as f64).sqrt(),
        points: m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equiangular::gap_at;

    #[test]
    fn bounds_and_linearised_rates() {
        assert!((lemma_6_4_rate_bound(4, 1.0).unwrap() - 1.0 / (8.0 * 2f64.exp())).abs() < 1e-17);
        assert!(
            (lemma_6_4_rate_bound_printed(4, 1.0).unwrap() - 1.0 / (8.0 * 1f64.exp())).abs()
                < 1e-17
        );
        assert_eq!(linearised_consensus_rate(ModelKind::Sa, 3.0).unwrap(), 2.0);
        assert!(
            (linearised_consensus_rate(ModelKind::Usa, 1.0).unwrap() - 2.0 * 1f64.exp()).abs()
                < 1e-15
        );
        assert!(lemma_6_4_rate_bound(0, 1.0).is_err());
        assert!(lemma_6_4_rate_bound(3, -1.0).is_err());
    }

    #[test]
    fn fit_recovers_exact_exponential_and_equiangular_rates() {
        let times: Vec<f64> = (0..50).map(|k| 0.1 * k as f64).collect();
        let gaps: Vec<f64> = times.iter().map(|t| 0.3 * (-1.7 * t).exp()).collect();
        let fit = fit_exponential_rate(&times, &gaps, 1.0, 4.0).unwrap();
        assert!((fit.rate - 1.7).abs() < 1e-12 && (fit.intercept - 0.3f64.ln()).abs() < 1e-12);
        assert_eq!(fit.points, 31);
        // The exact equiangular solution approaches the linearised rates; the fitted rate is above the
        // Lemma 6.4 bound (which is far from sharp).
        for (model, beta) in [(ModelKind::Sa, 1.0), (ModelKind::Usa, 1.0)] {
            let ts: Vec<f64> = (0..40).map(|k| 4.0 + 0.05 * k as f64).collect();
            let gs: Vec<f64> = ts
                .iter()
                .map(|&t| gap_at(model, 5, beta, 0.0, t).unwrap())
                .collect();
            let fit = fit_exponential_rate(&ts, &gs, 4.0, 6.0).unwrap();
            let lin = linearised_consensus_rate(model, beta).unwrap();
            assert!(
                ((fit.rate - lin) / lin).abs() < 1e-3,
                "{model:?}: fitted {} vs {lin}",
                fit.rate
            );
            assert!(fit.rate > lemma_6_4_rate_bound(5, beta).unwrap());
        }
    }

    #[test]
    fn fit_rejects_bad_windows() {
        assert!(fit_exponential_rate(&[0.0, 1.0], &[1.0], 0.0, 1.0).is_err());
        assert!(fit_exponential_rate(&[0.0, 1.0], &[1.0, 0.5], 2.0, 3.0).is_err());
        assert!(fit_exponential_rate(&[0.0, 1.0], &[1.0, 0.0], 0.0, 1.0).is_err());
        assert!(fit_exponential_rate(&[1.0, 1.0], &[1.0, 0.5], 0.0, 1.0).is_err());
    }
}

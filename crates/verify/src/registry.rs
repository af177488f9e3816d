//! The registry of theorem checks (\[GLPR\] sections 3-6, \[BKKRW\] section 2): one [`Check`] per claim, each
//! run at a [`Fidelity`] into a [`CheckOutcome`] holding the predicted value or property, the measured one,
//! the tolerance, the numerical method (integrator, step, tolerance, sample sizes), the verdict and the
//! runtime.

use crate::error::{Result, VerifyError};
use std::time::Instant;

/// How much work a check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fidelity {
    /// Seconds per check (run by `cargo test`).
    Ci,
    /// Minutes for the whole suite (run on demand).
    Full,
}

impl Fidelity {
    pub fn name(self) -> &'static str {
        match self {
            Fidelity::Ci => "ci",
            Fidelity::Full => "full",
        }
    }
    /// `ci_value` at [`Fidelity::Ci`], `full_value` at [`Fidelity::Full`].
    pub fn pick<T>(self, ci_value: T, full_value: T) -> T {
        match self {
            Fidelity::Ci => ci_value,
            Fidelity::Full => full_value,
        }
    }
}

/// Verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The measured value agrees with the prediction within the tolerance.
    Pass,
    /// Only a qualitative trend can be tested (no sharp prediction at finite size); the trend was observed.
    TrendOnly,
    /// The measurement contradicts the prediction (or the check could not run).
    Fail,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::TrendOnly => "trend-only",
            Verdict::Fail => "FAIL",
        }
    }
    pub fn is_failure(self) -> bool {
        self == Verdict::Fail
    }
}

/// What a check's run function returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Measurement {
    /// The predicted value or property, with its numbers.
    pub predicted: String,
    /// The measured value, with its numbers.
    pub measured: String,
    /// The acceptance criterion.
    pub tolerance: String,
    /// Integrator, step, tolerance and sample sizes behind the measured numbers.
    pub method: String,
    /// Whether the criterion holds.
    pub passed: bool,
    /// True when only a trend is tested (a pass is then reported as [`Verdict::TrendOnly`]).
    pub trend_only: bool,
    /// Honest remark: looser tolerance, known limits, inconsistencies of the paper.
    pub note: Option<String>,
}

impl Measurement {
    /// The verdict implied by `passed` and `trend_only`.
    pub fn verdict(&self) -> Verdict {
        match (self.passed, self.trend_only) {
            (false, _) => Verdict::Fail,
            (true, false) => Verdict::Pass,
            (true, true) => Verdict::TrendOnly,
        }
    }
}

/// One registered check.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Short stable id used by `--only` (e.g. `thm-6.8`).
    pub id: &'static str,
    /// Where the claim comes from (e.g. "\[GLPR\] Thm 6.8").
    pub source: &'static str,
    /// Hypotheses of the claim used by the check.
    pub hypotheses: &'static str,
    /// The claim in words.
    pub claim: &'static str,
    /// Runs the check.
    pub run: fn(Fidelity) -> Result<Measurement>,
}

/// The result of running one check.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckOutcome {
    pub id: String,
    pub source: String,
    pub hypotheses: String,
    pub claim: String,
    pub fidelity: Fidelity,
    pub predicted: String,
    pub measured: String,
    pub tolerance: String,
    pub method: String,
    pub verdict: Verdict,
    pub note: Option<String>,
    /// Error message when the check could not run (verdict Fail).
    pub error: Option<String>,
    pub runtime_s: f64,
}

/// Every check of the suite, in report order.
pub fn registry() -> Vec<Check> {
    let mut all = Vec::new();
    all.extend(crate::checks::energy::checks());
    all.extend(crate::checks::clustering::checks());
    all.extend(crate::checks::rates::checks());
    all.extend(crate::checks::bkkrw::checks());
    all.extend(crate::checks::frontier_sync::checks());
    all.extend(crate::checks::frontier_long_context::checks());
    all.extend(crate::checks::frontier_lost_in_middle::checks());
    all.extend(crate::checks::frontier_metastability::checks());
    all.extend(crate::checks::frontier_meanfield::checks());
    all.extend(crate::checks::frontier_emergence::checks());
    all.extend(crate::checks::frontier_hardmax::checks());
    all.extend(crate::checks::frontier_normalization::checks());
    all.extend(crate::checks::frontier_causal::checks());
    all.extend(crate::checks::frontier_noisy::checks());
    all
}

/// The check with id `id`.
pub fn find_check(id: &str) -> Result<Check> {
    let all = registry();
    all.iter()
        .find(|c| c.id == id)
        .copied()
        .ok_or_else(|| VerifyError::UnknownCheck {
            id: id.to_string(),
            known: all.iter().map(|c| c.id).collect::<Vec<_>>().join(", "),
        })
}

/// Runs one check (an error of the run becomes a failed outcome carrying the message).
pub fn run_check(check: &Check, fidelity: Fidelity) -> CheckOutcome {
    let start = Instant::now();
    let result = (check.run)(fidelity);
    let runtime_s = start.elapsed().as_secs_f64();
    let base = |predicted: String,
                measured: String,
                tolerance: String,
                method: String,
                verdict: Verdict,
                note: Option<String>,
                error: Option<String>| CheckOutcome {
        id: check.id.into(),
        source: check.source.into(),
        hypotheses: check.hypotheses.into(),
        claim: check.claim.into(),
        fidelity,
        predicted,
        measured,
        tolerance,
        method,
        verdict,
        note,
        error,
        runtime_s,
    };
    match result {
        Ok(m) => {
            let verdict = m.verdict();
            base(
                m.predicted,
                m.measured,
                m.tolerance,
                m.method,
                verdict,
                m.note,
                None,
            )
        }
        Err(e) => base(
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            Verdict::Fail,
            None,
            Some(e.to_string()),
        ),
    }
}

/// Runs the checks whose ids are in `only` (all when `only` is empty), in registry order.
/// Errors if an id of `only` is unknown.
pub fn run_checks(fidelity: Fidelity, only: &[String]) -> Result<Vec<CheckOutcome>> {
    for id in only {
        find_check(id)?;
    }
    Ok(registry()
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| o == c.id))
        .map(|c| run_check(c, fidelity))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_unknown_ids_are_rejected() {
        let all = registry();
        for (k, c) in all.iter().enumerate() {
            assert!(
                all[k + 1..].iter().all(|o| o.id != c.id),
                "duplicate id {}",
                c.id
            );
            assert!(!c.source.is_empty() && !c.hypotheses.is_empty() && !c.claim.is_empty());
        }
        assert!(matches!(
            find_check("no-such-check"),
            Err(VerifyError::UnknownCheck { .. })
        ));
        assert!(run_checks(Fidelity::Ci, &["no-such-check".to_string()]).is_err());
    }

    #[test]
    fn verdict_logic() {
        let mut m = Measurement {
            predicted: String::new(),
            measured: String::new(),
            tolerance: String::new(),
            method: String::new(),
            passed: true,
            trend_only: false,
            note: None,
        };
        assert_eq!(m.verdict(), Verdict::Pass);
        m.trend_only = true;
        assert_eq!(m.verdict(), Verdict::TrendOnly);
        m.passed = false;
        assert_eq!(m.verdict(), Verdict::Fail);
        assert!(Verdict::Fail.is_failure() && !Verdict::TrendOnly.is_failure());
    }
}

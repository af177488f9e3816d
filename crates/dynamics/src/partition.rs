//! Static partitions of an ensemble's work over processes (MPI ranks, the tasks of a scheduler's
//! job array): the work of a phase diagram or an experiment is a list of jobs in a fixed order,
//! job j = b * ceil(R / BLOCK) + k being block k (realisations k BLOCK .. (k + 1) BLOCK) of sweep
//! point b, and part i of N owns the jobs
//!
//! ```text
//! jobs(i / N) = { j : j mod N = i },    0 <= i < N.
//! ```
//!
//! The assignment depends on the job index only (never on timing or on which process is free), so
//! the same part always computes the same realisations; every realisation draws from its own
//! streams (seed, b R + r, purpose) (`crate::sampling`), so it gives the same bits wherever it
//! runs. Interleaving the jobs spreads every sweep point over all parts (the cost of a
//! realisation depends strongly on beta: consensus exits early at small beta). Combining the
//! parts' results in job order gives the bits of a single-process run (see
//! [`crate::ensemble::phase_diagram_counts`]).

use crate::error::{DynamicsError, Result};
use std::fmt;
use std::str::FromStr;

/// Part `index` of `count` (0 <= index < count) of a job list: the jobs j with j mod count =
/// index. Written and read as `i/N` (e.g. `0/3`, `1/3`, `2/3`).
///
/// ```
/// use attnflow_dynamics::partition::Part;
///
/// let part: Part = "1/3".parse()?;
/// assert_eq!(part.jobs(8).collect::<Vec<_>>(), vec![1, 4, 7]);
/// assert!("3/3".parse::<Part>().is_err());
/// assert_eq!(Part::WHOLE.jobs(3).count(), 3);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Part {
    index: usize,
    count: usize,
}

impl Part {
    /// All jobs (`0/1`): a single-process run.
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    /// Part `index` of `count`; an error unless 0 <= index < count.
    pub fn new(index: usize, count: usize) -> Result<Part> {
        if count == 0 {
            return Err(invalid("the number of parts N must be >= 1, got 0"));
        }
        if index >= count {
            return Err(invalid(format!(
                "the part index i must be in 0..{count} (0 <= i < N), got {index}/{count}"
            )));
        }
        Ok(Part { index, count })
    }

    /// The index i (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of parts N.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether job `job` belongs to this part.
    pub fn owns(&self, job: usize) -> bool {
        job % self.count == self.index
    }

    /// The jobs of this part among `total`, ascending.
    pub fn jobs(&self, total: usize) -> impl Iterator<Item = usize> + use<> {
        (self.index..total).step_by(self.count)
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Part {
    type Err = DynamicsError;

    /// `i/N` with decimal integers 0 <= i < N (no signs, no spaces).
    fn from_str(s: &str) -> Result<Part> {
        let syntax = || {
            invalid(format!(
                "expected i/N with integers 0 <= i < N (e.g. 0/4), got {s:?}"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(syntax)?;
        let number = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            t.parse::<usize>()
                .map_err(|_| invalid(format!("{t} in {s:?} does not fit in an index")))
        };
        Part::new(number(i)?, number(n)?)
    }
}

fn invalid(reason: impl Into<String>) -> DynamicsError {
    DynamicsError::InvalidParameter {
        name: "part",
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_job_once() {
        for count in 1..6 {
            let mut seen = vec![0; 23];
            for index in 0..count {
                let part = Part::new(index, count).unwrap();
                for j in part.jobs(23) {
                    assert!(part.owns(j));
                    seen[j] += 1;
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{count}: {seen:?}");
        }
    }

    #[test]
    fn syntax() {
        assert_eq!("2/5".parse::<Part>().unwrap(), Part::new(2, 5).unwrap());
        assert_eq!(Part::new(2, 5).unwrap().to_string(), "2/5");
        for bad in [
            "", "1", "1/", "/2", "-1/2", "+1/2", " 1/2", "1/2/3", "a/b", "2/2", "0/0",
        ] {
            assert!(bad.parse::<Part>().is_err(), "{bad:?}");
        }
        assert!("1/99999999999999999999999".parse::<Part>().is_err());
    }

    /// The counts of parts 0/N .. N-1/N add up to the single-process counts (N = 1, 2, 3, 5), and
    /// the finished phase diagram has the bits of `run_phase_diagram`.
    #[test]
    fn parts_add_up_to_the_whole_phase_diagram() {
        use crate::ensemble::{
            PhaseDiagramCounts, finish_phase_diagram, phase_diagram_counts, run_phase_diagram,
        };
        let spec = crate::PhaseDiagramSpec {
            n: 6,
            d: 3,
            betas: vec![0.5, 2.0, 5.0],
            times: crate::observables::linspace(0.0, 3.0, 4),
            dt: 0.1,
            // 3 blocks per beta, the last one partial
            realizations: 37,
            delta: 1e-3,
            seed: 9,
            model: crate::ModelKind::Sa,
            matrices: crate::MatrixEnsemble::Identity,
            integrator: crate::IntegratorKind::PaperEuler,
            representation: None,
            consensus_exit: true,
            precision: crate::Precision::F64,
        };
        let whole = run_phase_diagram(&spec, &|_, _| {}).unwrap();
        let mut reference = whole.clone();
        reference.runtime_s = 0.0;
        for count in [1, 2, 3, 5] {
            let mut sum = PhaseDiagramCounts::new(3, 4);
            for index in 0..count {
                let part = Part::new(index, count).unwrap();
                sum.add(&phase_diagram_counts(&spec, part, &|_, _| {}).unwrap())
                    .unwrap();
            }
            let merged = finish_phase_diagram(&spec, &sum, 0.0).unwrap();
            assert_eq!(merged, reference, "{count} parts");
            for (a, b) in merged
                .stderr
                .iter()
                .flatten()
                .zip(whole.stderr.iter().flatten())
            {
                assert_eq!(a.to_bits(), b.to_bits());
            }
        }
        // a missing part is refused, not silently rescaled
        let half = phase_diagram_counts(&spec, Part::new(0, 2).unwrap(), &|_, _| {}).unwrap();
        let e = finish_phase_diagram(&spec, &half, 0.0).unwrap_err();
        assert!(e.to_string().contains("realisations"), "{e}");
    }
}

//! Event detection on the solver's observer mechanism ([`crate::Observer`]): cluster merges.
//!
//! Clusters are the connected components of the threshold graph {(i, j): <x_i, x_j> > 1 - delta}
//! ([`crate::observables::cluster_labels`], the engine's one cluster count). A merge event is a state
//! whose cluster count at the threshold is below the count at the previous state inspected; the event
//! records the step, the clusters (as particle lists, labelled at the previous inspected state) that
//! joined, and the counts before and after. A count that grows (a cluster splitting, possible in
//! non-gradient fields) is recorded as an event without merged groups.
//!
//! Time: the observer knows steps only. On the fixed step grid of [`crate::Solver`]
//! ([`crate::FinalStep::Overshoot`], the default) state k is at time k h, which [`MergeEvent::t`]
//! records; for a time-changed field ([`crate::time_change`]) that is the rescaled time s, and the
//! original time of the event is the clock's time at that step ([`crate::time_change::Clock`], e.g.
//! observed together with this observer as the pair `(merges, clock)` and read when the solver stops).

use std::ops::ControlFlow;

use crate::config::Configuration;
use crate::error::{Result, invalid};
use crate::observables::cluster_labels;
use crate::solver::Observer;
use crate::validate::check_positive;

/// One change of the cluster count (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergeEvent {
    /// The first inspected state with the new count.
    pub step: usize,
    /// `step * h` (the solver's time on its fixed grid).
    pub t: f64,
    /// Cluster count at the previous inspected state.
    pub clusters_before: usize,
    /// Cluster count at this state.
    pub clusters_after: usize,
    /// For every cluster of this state that contains several clusters of the previous inspected
    /// state: those clusters, each as its sorted particle indices (ordered by smallest index).
    pub merged: Vec<Vec<Vec<usize>>>,
}

/// Detects cluster merges at the threshold 1 - delta every `every` steps and records them; stops the
/// solver at the first merge when asked to ([`Self::stop_on_merge`]).
///
/// ```
/// use attnflow_dynamics::events::MergeObserver;
/// use attnflow_dynamics::{Configuration, Rk4, SelfAttention, Solver, Stop};
///
/// // two points at angle 1 under SA: they merge (<x_1, x_2> > 1 - 1e-4) at a finite time
/// let x0 = Configuration::from_angles(&[0.0, 1.0])?;
/// let field = SelfAttention::sa(1.0)?;
/// let mut merges = MergeObserver::new(&x0, 1e-4, 0.01)?.stop_on_merge(true);
/// let mut solver = Solver::new(&field, Rk4::default(), &x0, 0.01)?.with_observer(&mut merges);
/// assert_eq!(solver.advance_to(100.0)?, Stop::Observer);
/// drop(solver);
/// let e = &merges.events()[0];
/// assert_eq!((e.clusters_before, e.clusters_after), (2, 1));
/// assert_eq!(e.merged, vec![vec![vec![0], vec![1]]]);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MergeObserver {
    delta: f64,
    h: f64,
    every: usize,
    stop: bool,
    n: usize,
    labels: Vec<usize>,
    count: usize,
    events: Vec<MergeEvent>,
}

impl MergeObserver {
    /// Starts from the clusters of `x0` at threshold 1 - `delta` (delta in (0, 2]), on a solver of
    /// step `h`, inspecting every step.
    pub fn new(x0: &Configuration, delta: f64, h: f64) -> Result<Self> {
        check_positive("delta", delta)?;
        check_positive("dt", h)?;
        if delta > 2.0 {
            return Err(invalid("delta", format!("must be <= 2, got {delta:?}")));
        }
        let n = x0.n();
        let labels = cluster_labels(&x0.gram(), n, delta);
        let count = labels.iter().max().map_or(0, |m| m + 1);
        Ok(Self {
            delta,
            h,
            every: 1,
            stop: false,
            n,
            labels,
            count,
            events: Vec::new(),
        })
    }

    /// Inspects every `every`-th step only (>= 1; a merge is then dated to within `every` steps).
    pub fn every(mut self, every: usize) -> Self {
        self.every = every.max(1);
        self
    }

    /// Whether the first merge event stops the solver ([`crate::Stop::Observer`]).
    pub fn stop_on_merge(mut self, stop: bool) -> Self {
        self.stop = stop;
        self
    }

    /// The events so far, in order.
    pub fn events(&self) -> &[MergeEvent] {
        &self.events
    }

    /// The cluster count at the last inspected state.
    pub fn clusters(&self) -> usize {
        self.count
    }

    /// The cluster labels at the last inspected state.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
}

/// The groups of old clusters that share a new cluster (see [`MergeEvent::merged`]).
fn merged_groups(old: &[usize], new: &[usize]) -> Vec<Vec<Vec<usize>>> {
    let new_count = new.iter().max().map_or(0, |m| m + 1);
    let mut out = Vec::new();
    for c in 0..new_count {
        // old labels inside new cluster c, in order of first appearance (= smallest index)
        let mut olds: Vec<usize> = Vec::new();
        for (i, _) in new.iter().enumerate().filter(|&(_, &l)| l == c) {
            if !olds.contains(&old[i]) {
                olds.push(old[i]);
            }
        }
        if olds.len() > 1 {
            out.push(
                olds.iter()
                    .map(|&o| (0..old.len()).filter(|&i| old[i] == o).collect())
                    .collect(),
            );
        }
    }
    out
}

impl Observer for MergeObserver {
    fn wants(&self, step: usize) -> bool {
        step.is_multiple_of(self.every)
    }

    fn observe(&mut self, step: usize, gram: &[f64]) -> ControlFlow<()> {
        if !self.wants(step) {
            return ControlFlow::Continue(());
        }
        let labels = cluster_labels(gram, self.n, self.delta);
        let count = labels.iter().max().map_or(0, |m| m + 1);
        if count != self.count {
            let merged = if count < self.count {
                merged_groups(&self.labels, &labels)
            } else {
                Vec::new()
            };
            self.events.push(MergeEvent {
                step,
                t: step as f64 * self.h,
                clusters_before: self.count,
                clusters_after: count,
                merged,
            });
            let merge = count < self.count;
            self.labels = labels;
            self.count = count;
            if merge && self.stop {
                return ControlFlow::Break(());
            }
        } else {
            self.labels = labels;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rk4, SelfAttention, Solver, Stop};

    /// Merge time of two points on S^1 at angle theta0 under SA at beta = 0: theta' = -sin theta, so
    /// the time to reach cos theta = 1 - delta is log(tan(theta0 / 2) / tan(theta_delta / 2)).
    #[test]
    fn two_point_merge_time_matches_the_closed_form() {
        let (theta0, delta, h) = (2.0f64, 1e-6, 1e-3);
        let x0 = Configuration::from_angles(&[0.0, theta0]).unwrap();
        let field = SelfAttention::sa(0.0).unwrap();
        let mut merges = MergeObserver::new(&x0, delta, h).unwrap();
        let mut solver = Solver::new(&field, Rk4::default(), &x0, h)
            .unwrap()
            .with_observer(&mut merges);
        assert_eq!(solver.advance_to(30.0).unwrap(), Stop::Reached);
        drop(solver);
        let theta_d = (1.0 - delta).acos();
        let exact = ((theta0 / 2.0).tan() / (theta_d / 2.0).tan()).ln();
        let events = merges.events();
        assert_eq!(events.len(), 1, "{events:?}");
        // the event is the first grid state past the merge: within one step of the exact time
        assert!(
            events[0].t >= exact && events[0].t - exact <= h,
            "{} vs {exact}",
            events[0].t
        );
        assert_eq!(events[0].merged, vec![vec![vec![0], vec![1]]]);
    }

    /// At beta = 2 the merge time is the quadrature of dtheta / (sin theta e^{2 cos theta} / Z) with
    /// Z = e^2 + e^{2 cos theta} (SA, n = 2), computed here by composite Simpson in theta.
    #[test]
    fn two_point_merge_time_matches_quadrature() {
        let (beta, theta0, delta, h) = (2.0f64, 2.5f64, 1e-5, 1e-3);
        let x0 = Configuration::from_angles(&[0.3, 0.3 + theta0]).unwrap();
        let field = SelfAttention::sa(beta).unwrap();
        let mut merges = MergeObserver::new(&x0, delta, h)
            .unwrap()
            .stop_on_merge(true);
        let mut solver = Solver::new(&field, Rk4::default(), &x0, h)
            .unwrap()
            .with_observer(&mut merges);
        assert_eq!(solver.advance_to(100.0).unwrap(), Stop::Observer);
        drop(solver);
        // theta' = -2 sin theta e^{beta cos theta} / (e^beta + e^{beta cos theta}) (both points move)
        let rate = |th: f64| {
            2.0 * th.sin() * (beta * th.cos()).exp() / (beta.exp() + (beta * th.cos()).exp())
        };
        let theta_d = (1.0 - delta).acos();
        // substitute theta = e^u to resolve the 1/theta behaviour near 0
        let (a, b) = (theta_d.ln(), theta0.ln());
        let m = 20_000;
        let hh = (b - a) / m as f64;
        let f = |u: f64| u.exp() / rate(u.exp());
        let mut s = f(a) + f(b);
        for k in 1..m {
            s += f(a + k as f64 * hh) * if k % 2 == 1 { 4.0 } else { 2.0 };
        }
        let exact = s * hh / 3.0;
        let t = merges.events()[0].t;
        assert!(t >= exact - 1e-9 && t - exact <= h, "{t} vs {exact}");
    }

    #[test]
    fn reports_which_clusters_merged() {
        let old = [0, 0, 1, 2, 3];
        let new = [0, 0, 0, 1, 1];
        assert_eq!(
            merged_groups(&old, &new),
            vec![vec![vec![0, 1], vec![2]], vec![vec![3], vec![4]]]
        );
        let x0 = Configuration::from_angles(&[0.0, 1.0]).unwrap();
        assert!(MergeObserver::new(&x0, 0.0, 0.1).is_err());
        assert!(MergeObserver::new(&x0, 3.0, 0.1).is_err());
        assert!(MergeObserver::new(&x0, 1e-3, -0.1).is_err());
    }
}

//! Dynamic metastability on the circle (Geshkovski, Koubbi, Polyanskiy, Rigollet, arXiv 2410.06833) and
//! the merging law (Bruno, Pasqualotto, Agazzi, arXiv 2509.25040), on the engine's fields.
//!
//! - The n = 5 movie of the authors' `particles.py`: SA, d = 2, beta = 4, T = 400, dt = 0.1, their Euler
//!   step with renormalisation, their fixed five-point start ([`MOVIE_START`]); merge events from the
//!   engine's merge observer ([`attnflow_dynamics::events`]).
//! - The energy staircase: the papers' normalisation of USA on S^1,
//!
//!   ```text
//!   x_i' = (1/n) sum_j e^{beta (<x_i, x_j> - 1)} P_{x_i} x_j,     E = (1/n^2) sum_ij e^{beta (<x_i, x_j> - 1)},
//!   ```
//!
//!   ([`WeightedUsa`]: the engine's USA field times e^{-beta}, without its self term), run in
//!   the rescaled time s with d tau = e^{beta (1 - <x_a, x_b>)} ds for the closest pair (a, b) of clusters
//!   ([`attnflow_dynamics::time_change`]). At each merge event (threshold 1 - delta) the merged clusters are
//!   replaced by one point of their total mass at the mass-weighted geodesic mean: the exact reduction of
//!   the flow of coincident points (pair weights w_ij = m_j, normalisation n), which removes the
//!   collapse modes inside clusters that the rescaling would make stiff. The error of the replacement is
//!   the move of the merged points, at most their distance (2 delta)^{1/2}.
//! - The merging law: two points at angle psi (papers' USA, n = 2) merge (<x_a, x_b> > 1 - delta) at
//!   tau = int_{theta_delta}^{psi} dtheta / (e^{beta (cos theta - 1)} sin theta) ~ e^{beta (1 - cos psi)},
//!   measured with the time change and compared with that quadrature ([`merge_time_quadrature`]).
//!
//! The closest-pair prediction ([`closest_pair_merges`]): in the limit beta -> infinity the closest pair
//! of clusters merges first, at the mass-weighted point of their geodesic (in USA each cluster moves
//! towards the other at a speed proportional to the other's mass); the staircase levels are then
//! sum_c m_c^2 / n^2 over the clusters between merges.

use attnflow_dynamics::events::{MergeEvent, MergeObserver};
use attnflow_dynamics::time_change::{Clock, ClosestPair, TimeChanged};
use attnflow_dynamics::{
    Configuration, Geometry, PaperEuler, Rk4, SelfAttention, Solver, Stop, VectorField, Workspace,
};
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// The papers' USA with point masses m_j (sum m_j = n):
/// x_i' = (1/n) sum_{j != i} m_j e^{beta (<x_i, x_j> - 1)} P_{x_i} x_j. The self term (radial, removed by
/// P_{x_i}) is left out of the drift, so no weight exceeds 1: unlike the engine's USA (weights e^{beta <x_i, x_j>}
/// next to the self term e^{beta}, whose rounding, e^{beta} times 1e-16, swamps an interaction below
/// e^{beta - 37}) it resolves pairs with beta (1 - <x_i, x_j>) up to ~700 at any beta. With unit masses
/// it is e^{-beta} times the engine's USA field.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedUsa {
    pub beta: f64,
    pub masses: Vec<f64>,
}

impl VectorField for WeightedUsa {
    fn geometry(&self) -> Geometry {
        Geometry::Sphere
    }

    fn drift_into(
        &self,
        x: &[f64],
        n: usize,
        d: usize,
        out: &mut [f64],
        _ws: &mut Workspace,
    ) -> attnflow_dynamics::Result<()> {
        if self.masses.len() != n || x.len() != n * d || out.len() != n * d {
            return Err(attnflow_dynamics::DynamicsError::InvalidParameter {
                name: "masses",
                reason: format!("{} masses for n = {n} points", self.masses.len()),
            });
        }
        let total: f64 = self.masses.iter().sum();
        out.fill(0.0);
        for i in 0..n {
            let xi = &x[i * d..(i + 1) * d];
            for j in (0..n).filter(|&j| j != i) {
                let xj = &x[j * d..(j + 1) * d];
                let g: f64 = xi.iter().zip(xj).map(|(a, b)| a * b).sum();
                let w = self.masses[j] * (self.beta * (g - 1.0)).exp() / total;
                for k in 0..d {
                    out[i * d + k] += w * xj[k];
                }
            }
        }
        Ok(())
    }
}

/// The authors' fixed five-point start of the n = 5 movie (`particles.py`, rows (x, y); renormalised
/// by [`movie_start`], the printed digits are unit to 1e-8).
pub const MOVIE_START: [[f64; 2]; 5] = [
    [0.99806638, 0.06215705],
    [0.97712061, 0.21268594],
    [-0.24578194, 0.96932515],
    [-0.97354734, 0.2284854],
    [-0.99892629, -0.04632772],
];

/// The authors' staircase start (`staircase-thekingoflimbs.py`): theta = 0.5 c log(beta_ref) / beta_ref^{1/2}
/// with c = (0, 0.5, 2, 4, 7), evaluated once at beta_ref = 2000 and used for every beta.
pub fn staircase_start() -> Vec<f64> {
    let b: f64 = 2000.0;
    [0.0, 0.5, 2.0, 4.0, 7.0]
        .iter()
        .map(|c| 0.5 * c * b.ln() / b.sqrt())
        .collect()
}

/// [`MOVIE_START`] on the unit circle.
pub fn movie_start() -> Result<Configuration> {
    let data = MOVIE_START
        .iter()
        .flat_map(|r| {
            let s = (r[0] * r[0] + r[1] * r[1]).sqrt();
            [r[0] / s, r[1] / s]
        })
        .collect();
    Ok(Configuration::new(5, 2, data)?)
}

/// E = (1/n^2) sum_ij m_i m_j e^{beta (G_ij - 1)} for points of masses m (sum m = n).
pub fn staircase_energy(gram: &[f64], masses: &[f64], beta: f64) -> f64 {
    let k = masses.len();
    let n: f64 = masses.iter().sum();
    let mut e = 0.0;
    for i in 0..k {
        for j in 0..k {
            e += masses[i] * masses[j] * (beta * (gram[i * k + j] - 1.0)).exp();
        }
    }
    e / (n * n)
}

/// sum_c m_c^2 / n^2 for the cluster labels `labels` of points of masses `masses`.
pub fn level(labels: &[usize], masses: &[f64]) -> f64 {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    let mut mc = vec![0.0; k];
    for (&l, &m) in labels.iter().zip(masses) {
        mc[l] += m;
    }
    let n: f64 = masses.iter().sum();
    mc.iter().map(|m| m * m).sum::<f64>() / (n * n)
}

/// One predicted merge: the two clusters (sorted particle lists, ordered by smallest index), the angle
/// between them, and the level sum m_c^2 / n^2 after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictedMerge {
    pub clusters: [Vec<usize>; 2],
    pub psi: f64,
    pub level_after: f64,
}

/// The closest-pair merge sequence from angles (unit masses): repeatedly merge the two clusters with
/// the largest cos(theta_a - theta_b) into one at the mass-weighted point of their geodesic.
pub fn closest_pair_merges(angles: &[f64]) -> Vec<PredictedMerge> {
    let n = angles.len() as f64;
    let mut cl: Vec<(f64, f64, Vec<usize>)> = angles
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, 1.0, vec![i]))
        .collect();
    let mut out = Vec::new();
    while cl.len() > 1 {
        let (mut a, mut b, mut best) = (0, 1, f64::NEG_INFINITY);
        for i in 0..cl.len() {
            for j in i + 1..cl.len() {
                let c = (cl[i].0 - cl[j].0).cos();
                if c > best {
                    (a, b, best) = (i, j, c);
                }
            }
        }
        let (ta, ma, _) = cl[a].clone();
        let (tb, mb, _) = cl[b].clone();
        // signed geodesic difference in (-pi, pi]
        let diff = (tb - ta).sin().atan2((tb - ta).cos());
        let t = ta + diff * mb / (ma + mb);
        let cb = cl.remove(b);
        let mut members = cl[a].2.clone();
        let mut pair = [cl[a].2.clone(), cb.2.clone()];
        pair.sort();
        members.extend(cb.2);
        members.sort_unstable();
        cl[a] = (t, ma + mb, members);
        let level_after = cl.iter().map(|c| c.1 * c.1).sum::<f64>() / (n * n);
        out.push(PredictedMerge {
            clusters: pair,
            psi: diff.abs(),
            level_after,
        });
    }
    out
}

/// The merged pairs of a list of merge events, as [`PredictedMerge::clusters`] (events that join more
/// than two clusters at once give their first two).
pub fn observed_pairs(events: &[MergeEvent]) -> Vec<[Vec<usize>; 2]> {
    events
        .iter()
        .flat_map(|e| e.merged.iter())
        .filter(|g| g.len() >= 2)
        .map(|g| {
            let mut p = [g[0].clone(), g[1].clone()];
            p.sort();
            p
        })
        .collect()
}

/// The n = 5 movie run: checkpoints and merge events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movie {
    pub t: Vec<f64>,
    /// E = (1/n^2) sum_ij e^{beta (<x_i, x_j> - 1)} at the checkpoints.
    pub energy: Vec<f64>,
    pub clusters: Vec<usize>,
    pub events: Vec<MergeEvent>,
    /// Angles of the final state.
    pub final_angles: Vec<f64>,
}

/// SA from [`movie_start`] with the authors' Euler step `dt` to `t_max`, merges at 1 - `delta`,
/// checkpoints every `every` time units.
pub fn run_movie(beta: f64, t_max: f64, dt: f64, delta: f64, every: f64) -> Result<Movie> {
    if !(every > 0.0 && t_max > 0.0) {
        return Err(invalid("every", "checkpoint spacing and t_max must be > 0"));
    }
    let x0 = movie_start()?;
    let field = SelfAttention::sa(beta)?;
    let mut merges = MergeObserver::new(&x0, delta, dt)?;
    let mut solver =
        Solver::new(&field, PaperEuler::default(), &x0, dt)?.with_observer(&mut merges);
    let masses = [1.0; 5];
    let (mut t, mut energy, mut clusters) = (vec![0.0], Vec::new(), Vec::new());
    let g0 = x0.gram();
    energy.push(staircase_energy(&g0, &masses, beta));
    clusters.push(attnflow_dynamics::observables::cluster_count(&g0, 5, delta));
    let count = (t_max / every).round() as usize;
    for k in 1..=count {
        solver.advance_to(k as f64 * every)?;
        let st = solver.state();
        let g = st.to_configuration()?.gram();
        t.push(st.t);
        energy.push(staircase_energy(&g, &masses, beta));
        clusters.push(attnflow_dynamics::observables::cluster_count(&g, 5, delta));
    }
    let final_angles = solver.state().to_configuration()?.angles()?;
    drop(solver);
    Ok(Movie {
        t,
        energy,
        clusters,
        events: merges.events().to_vec(),
        final_angles,
    })
}

/// One merge of a staircase run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StairMerge {
    /// Rescaled time s of the event.
    pub s: f64,
    /// log tau of the event (tau: the papers' time).
    pub log_tau: f64,
    pub clusters: [Vec<usize>; 2],
}

/// A staircase run: samples in s and the merges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Staircase {
    pub beta: f64,
    pub s: Vec<f64>,
    /// log tau at the samples (tau: the papers' time; None at tau = 0).
    pub log_tau: Vec<Option<f64>>,
    pub energy: Vec<f64>,
    /// sum_c m_c^2 / n^2 of the clusters at the interaction scale, <x_i, x_j> > 1 - 1/beta.
    pub level: Vec<f64>,
    pub merges: Vec<StairMerge>,
}

/// A plateau of a staircase: a maximal run of samples with the same clusters at the interaction scale
/// <x_i, x_j> > 1 - 1/beta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    /// sum_c m_c^2 / n^2 of those clusters.
    pub level: f64,
    /// Median of E over the run.
    pub energy_median: f64,
    pub samples: usize,
}

/// The plateaus of a run (runs of >= 3 samples).
pub fn plateaus(run: &Staircase) -> Vec<Plateau> {
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..=run.level.len() {
        if k == run.level.len() || run.level[k] != run.level[start] {
            if k - start >= 3 {
                let mut e: Vec<f64> = run.energy[start..k].to_vec();
                e.sort_by(f64::total_cmp);
                out.push(Plateau {
                    level: run.level[start],
                    energy_median: e[e.len() / 2],
                    samples: k - start,
                });
            }
            start = k;
        }
    }
    out
}

/// Parameters of a staircase run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaircaseParams {
    pub beta: f64,
    pub angles: Vec<f64>,
    /// Step in s (RK4).
    pub ds: f64,
    /// Merge threshold 1 - delta.
    pub delta: f64,
    /// Final rescaled time.
    pub s_max: f64,
    /// Sample spacing in s.
    pub sample_ds: f64,
}

/// The staircase run of the module docs: papers' USA in rescaled time, RK4 with step ds, merged
/// clusters replaced by one weighted point at each merge.
pub fn run_staircase(p: &StaircaseParams) -> Result<Staircase> {
    if !(p.ds > 0.0 && p.sample_ds >= p.ds && p.s_max > 0.0 && p.beta > 0.0 && p.beta.is_finite()) {
        return Err(invalid(
            "staircase",
            "need 0 < ds <= sample_ds, s_max > 0, beta > 0 finite",
        ));
    }
    let n = p.angles.len();
    let mut x = Configuration::from_angles(&p.angles)?;
    let mut masses = vec![1.0; n];
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let (mut s, mut tau) = (0.0f64, 0.0f64);
    let mut out = Staircase {
        beta: p.beta,
        s: Vec::new(),
        log_tau: Vec::new(),
        energy: Vec::new(),
        level: Vec::new(),
        merges: Vec::new(),
    };
    let record = |out: &mut Staircase, x: &Configuration, masses: &[f64], s: f64, tau: f64| {
        let g = x.gram();
        out.s.push(s);
        out.log_tau.push((tau > 0.0).then(|| tau.ln()));
        out.energy.push(staircase_energy(&g, masses, p.beta));
        let labels = attnflow_dynamics::observables::cluster_labels(&g, x.n(), 1.0 / p.beta);
        out.level.push(level(&labels, masses));
    };
    record(&mut out, &x, &masses, s, tau);
    let mut next_sample = p.sample_ds;
    while s < p.s_max - 1e-12 && x.n() > 1 {
        let field = WeightedUsa {
            beta: p.beta,
            masses: masses.clone(),
        };
        // the papers' normalisation: d tau = e^{beta (1 - <x_a, x_b>)} ds
        let factor = ClosestPair {
            beta: p.beta,
            log_scale: 0.0,
        };
        let rescaled = TimeChanged::new(&field, factor);
        let mut obs = (
            MergeObserver::new(&x, p.delta, p.ds)?.stop_on_merge(true),
            Clock::new(factor, &x, p.ds)?,
        );
        let mut solver = Solver::new(&rescaled, Rk4::default(), &x, p.ds)?.with_observer(&mut obs);
        let stop = solver.advance_to(next_sample - s)?;
        let st = solver.state();
        let ds_run = st.t;
        x = st.to_configuration()?;
        drop(solver);
        if let Some(e) = obs.1.error() {
            return Err(e.clone().into());
        }
        s += ds_run;
        tau += obs.1.t();
        if stop == Stop::Observer {
            let labels = obs.0.labels().to_vec();
            let event = &obs.0.events()[0];
            for group in &event.merged {
                let mut pair: Vec<Vec<usize>> = group
                    .iter()
                    .map(|g| {
                        let mut m: Vec<usize> =
                            g.iter().flat_map(|&i| members[i].clone()).collect();
                        m.sort_unstable();
                        m
                    })
                    .collect();
                pair.sort();
                if pair.len() >= 2 {
                    out.merges.push(StairMerge {
                        s,
                        log_tau: tau.ln(),
                        clusters: [pair[0].clone(), pair[1].clone()],
                    });
                }
            }
            // replace each cluster by one point of its mass at the mass-weighted mean direction
            let kk = labels.iter().max().map_or(0, |m| m + 1);
            let mut data = vec![0.0; kk * 2];
            let mut new_mass = vec![0.0; kk];
            let mut new_members = vec![Vec::new(); kk];
            for (i, &l) in labels.iter().enumerate() {
                data[l * 2] += masses[i] * x.row(i)[0];
                data[l * 2 + 1] += masses[i] * x.row(i)[1];
                new_mass[l] += masses[i];
                new_members[l].extend(members[i].iter().copied());
            }
            for c in 0..kk {
                let r = data[c * 2].hypot(data[c * 2 + 1]);
                data[c * 2] /= r;
                data[c * 2 + 1] /= r;
                new_members[c].sort_unstable();
            }
            x = Configuration::new(kk, 2, data)?;
            masses = new_mass;
            members = new_members;
        }
        if s >= next_sample - 1e-9 * p.ds || x.n() == 1 {
            record(&mut out, &x, &masses, s, tau);
            next_sample = s + p.sample_ds;
        }
    }
    Ok(out)
}

/// Two points at angle psi (papers' USA, n = 2, theta' = -e^{beta (cos theta - 1)} sin theta): the merge
/// time tau at <x_a, x_b> > 1 - delta, measured with the time change and RK4 step ds in s. Returns
/// (log tau measured, log tau of [`merge_time_quadrature`]).
pub fn two_point_merge(beta: f64, psi: f64, delta: f64, ds: f64) -> Result<(f64, f64)> {
    let x0 = Configuration::from_angles(&[0.0, psi])?;
    let field = WeightedUsa {
        beta,
        masses: vec![1.0, 1.0],
    };
    let factor = ClosestPair {
        beta,
        log_scale: 0.0,
    };
    let rescaled = TimeChanged::new(&field, factor);
    let mut obs = (
        MergeObserver::new(&x0, delta, ds)?.stop_on_merge(true),
        Clock::new(factor, &x0, ds)?,
    );
    let mut solver = Solver::new(&rescaled, Rk4::default(), &x0, ds)?.with_observer(&mut obs);
    let stop = solver.advance_to(1e4)?;
    drop(solver);
    if stop != Stop::Observer {
        return Err(invalid("psi", "no merge by s = 1e4"));
    }
    Ok((
        obs.1.t().ln(),
        merge_time_quadrature(beta, psi, delta)?.ln(),
    ))
}

/// tau = int_{theta_delta}^{psi} dtheta / (e^{beta (cos theta - 1)} sin theta), cos theta_delta = 1 - delta,
/// by composite Simpson in u = log theta (20000 intervals), the integrand scaled by e^{-beta (1 - cos psi)}.
pub fn merge_time_quadrature(beta: f64, psi: f64, delta: f64) -> Result<f64> {
    let theta_d = (1.0 - delta).acos();
    if !(psi > theta_d && psi < std::f64::consts::PI) {
        return Err(invalid("psi", "must lie between the merge angle and pi"));
    }
    let shift = beta * (1.0 - psi.cos());
    let f = |u: f64| {
        let th = u.exp();
        th * (beta * (1.0 - th.cos()) - shift).exp() / th.sin()
    };
    let (a, b) = (theta_d.ln(), psi.ln());
    let m = 20_000;
    let h = (b - a) / m as f64;
    let mut sum = f(a) + f(b);
    for k in 1..m {
        sum += f(a + k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
    }
    Ok(sum * h / 3.0 * shift.exp())
}

/// Least-squares slope of y against x.
pub fn slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    sxy / sxx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_pair_sequence_of_the_staircase_start() {
        let m = closest_pair_merges(&staircase_start());
        let pairs: Vec<_> = m.iter().map(|p| p.clusters.clone()).collect();
        assert_eq!(pairs[0], [vec![0], vec![1]]);
        assert_eq!(pairs[1], [vec![0, 1], vec![2]]);
        assert_eq!(pairs[2], [vec![3], vec![4]]);
        let levels: Vec<f64> = m.iter().map(|p| p.level_after * 25.0).collect();
        for (l, e) in levels.iter().zip([7.0, 11.0, 13.0, 25.0]) {
            assert!((l - e).abs() < 1e-12);
        }
    }

    #[test]
    fn two_point_merge_time_matches_quadrature() {
        let (measured, exact) =
            two_point_merge(30.0, std::f64::consts::FRAC_PI_2, 1e-6, 1e-3).unwrap();
        assert!((measured - exact).abs() < 1e-5, "{measured} vs {exact}");
    }

    #[test]
    fn below_beta_350_mass_beats_distance() {
        // the 3-point cluster at angle ~0.269 from x_3 attracts it more than x_4 at 0.255 while
        // beta (cos 0.255 - cos 0.269) < log 3: the third merge then goes against the closest pair
        let p = StaircaseParams {
            beta: 300.0,
            angles: staircase_start(),
            ds: 2e-3,
            delta: 1e-6,
            s_max: 80.0,
            sample_ds: 0.1,
        };
        let run = run_staircase(&p).unwrap();
        assert_eq!(run.merges[2].clusters, [vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn staircase_follows_the_closest_pair_order() {
        let p = StaircaseParams {
            beta: 600.0,
            angles: staircase_start(),
            ds: 2e-3,
            delta: 1e-6,
            s_max: 60.0,
            sample_ds: 0.1,
        };
        let run = run_staircase(&p).unwrap();
        let predicted: Vec<_> = closest_pair_merges(&p.angles)
            .into_iter()
            .map(|m| m.clusters)
            .collect();
        let observed: Vec<_> = run.merges.iter().map(|m| m.clusters.clone()).collect();
        assert_eq!(observed, predicted);
    }
}

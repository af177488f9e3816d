//! Causal self-attention and the Rényi parking process (Karagodin, Polyanskiy, Rigollet, "Clustering in
//! causal attention masking", arXiv 2411.04990). Token k attends only to the tokens j <= k:
//!
//! ```text
//! x_k' = P_{x_k}( sum_{j <= k} e^{beta <Q x_k, K x_j>} x_j / sum_{j <= k} e^{beta <Q x_k, K x_j>} ),   V = I,
//! ```
//!
//! the engine's SA field with `Mask::Causal` and one head B = Q^T K, V = I ([`causal_field`]). The first
//! token sees only itself, P_{x_1}(x_1) = 0, so x_1(t) = x_1(0); the paper proves (V = I, any Q, K) that
//! every token converges to x_1(0). [`consensus_runs`] measures both on random draws of B.
//!
//! **Rényi centres** at scale delta (the paper uses delta = 4 beta^{-1/2}, [`parking_delta`]), distances
//! being Euclidean (chordal) distances |x_i - x_j| in R^d:
//! - a *strong Rényi centre* is a token k with |x_k - x_j| >= delta for every earlier token j < k
//!   ([`strong_renyi_centres`]; token 1 always is one); the paper shows they stay nearly still for long times;
//! - the *Rényi centres* are the greedy sequential delta-packing: scan k = 1, ..., n and keep k when it is
//!   at distance >= delta from every centre kept so far ([`renyi_centres`]); every strong centre is one.
//!
//! For n i.i.d. uniform tokens and n -> infinity, both counts tend to constants of order delta^{-(d-1)}, i.e.
//! beta^{(d-1)/2} (the strong centres to 1/p with p the normalised area of a cap of chordal radius delta, the
//! Rényi centres to the random-sequential-packing number of the sphere). [`census`] follows the counts and
//! the number of clusters along causal SA trajectories.
//!
//! Numerics: the engine's RK4 with renormalisation after every step, at a fixed step; time grids are the
//! solver's k dt (checkpoints reached at the first step k with k dt >= t).

use attnflow_dynamics::ensemble::MatrixEnsemble;
use attnflow_dynamics::observables::cluster_count;
use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{
    Configuration, ModelKind, Rk4, SelfAttention, Solver, SquareMatrix, Value,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, check_positive, invalid};

/// The paper's parking scale delta = 4 beta^{-1/2} (beta > 0).
pub fn parking_delta(beta: f64) -> Result<f64> {
    check_positive("beta", beta)?;
    Ok(4.0 / beta.sqrt())
}

/// Whether |x_i - x_j| >= delta (rows of `x`).
fn apart(x: &Configuration, i: usize, j: usize, delta: f64) -> bool {
    let d2: f64 = x
        .row(i)
        .iter()
        .zip(x.row(j))
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    d2 >= delta * delta
}

/// The strong Rényi centres of `x` at scale `delta` > 0 (module docs), in increasing index order.
pub fn strong_renyi_centres(x: &Configuration, delta: f64) -> Result<Vec<usize>> {
    check_positive("delta", delta)?;
    Ok((0..x.n())
        .filter(|&k| (0..k).all(|j| apart(x, k, j, delta)))
        .collect())
}

/// The Rényi centres of `x` at scale `delta` > 0: the greedy sequential delta-packing (module docs), in
/// increasing index order.
pub fn renyi_centres(x: &Configuration, delta: f64) -> Result<Vec<usize>> {
    check_positive("delta", delta)?;
    let mut centres: Vec<usize> = Vec::new();
    for k in 0..x.n() {
        if centres.iter().all(|&c| apart(x, k, c, delta)) {
            centres.push(k);
        }
    }
    Ok(centres)
}

/// Causal SA with one head: interaction B = Q^T K (`None`: Q = K = I), V = I, at inverse temperature beta.
pub fn causal_field(beta: f64, interaction: Option<SquareMatrix>) -> Result<SelfAttention> {
    Ok(SelfAttention::builder()
        .model(ModelKind::Sa)
        .beta(beta)
        .head_interaction(interaction, Value::Identity)
        .build()?
        .with_causal_mask())
}

/// The states of `field` from `x0` at the checkpoint `times` (ascending, >= 0; t = 0 is the start itself),
/// engine RK4 at step `dt`, each checkpoint at the first step k with k dt >= t.
pub fn trajectory(
    field: &SelfAttention,
    x0: &Configuration,
    dt: f64,
    times: &[f64],
) -> Result<Vec<Configuration>> {
    check_positive("dt", dt)?;
    if times.windows(2).any(|w| w[1] < w[0]) || times.iter().any(|t| t.is_nan() || *t < 0.0) {
        return Err(invalid("times", "must be ascending and >= 0"));
    }
    let mut solver = Solver::new(field, Rk4::default(), x0, dt)?;
    times
        .iter()
        .map(|&t| {
            solver.advance_to(t)?;
            Ok(solver.state().to_configuration()?)
        })
        .collect()
}

/// Random-key-query consensus runs ([`consensus_runs`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsensusParams {
    pub n: usize,
    pub d: usize,
    pub beta: f64,
    /// B = Q^T K is the interaction of a draw of this ensemble (V = I whatever the ensemble's V).
    pub ensemble: MatrixEnsemble,
    pub draws: usize,
    /// Checkpoint times (ascending); the last one is the final time.
    pub times: Vec<f64>,
    pub dt: f64,
    pub seed: u64,
}

/// One draw of [`consensus_runs`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsensusRun {
    /// max over the checkpoints of |x_1(t) - x_1(0)|.
    pub first_token_drift: f64,
    /// Per checkpoint: max_k |x_k(t) - x_1(0)|.
    pub max_distance: Vec<f64>,
}

/// Causal SA with V = I and B = Q^T K drawn from `p.ensemble` (draw r: start from the stream
/// (seed, r, InitialCondition), B from (seed, r, Matrices), both keyed also by d), i.i.d. uniform starts;
/// per draw the drift of the first token and the distance of the farthest token to x_1(0). Draws run in
/// parallel, each its own streams: the same bits on any number of threads.
pub fn consensus_runs(p: &ConsensusParams) -> Result<Vec<ConsensusRun>> {
    if p.n < 2 || p.d < 2 || p.draws == 0 || p.times.is_empty() {
        return Err(invalid(
            "consensus",
            "needs n >= 2, d >= 2, draws >= 1 and checkpoint times",
        ));
    }
    let key = |r: usize| ((p.d as u64) << 32) ^ r as u64;
    (0..p.draws)
        .into_par_iter()
        .map(|r| {
            let x0 = uniform_sphere(
                p.n,
                p.d,
                &mut stream(p.seed, key(r), Purpose::InitialCondition),
            )?;
            let b = p
                .ensemble
                .draw(p.d, &mut stream(p.seed, key(r), Purpose::Matrices))?
                .map(|w| w.interaction);
            let field = causal_field(p.beta, b)?;
            let states = trajectory(&field, &x0, p.dt, &p.times)?;
            let first = x0.row(0);
            let dist = |x: &Configuration, k: usize| -> f64 {
                x.row(k)
                    .iter()
                    .zip(first)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt()
            };
            Ok(ConsensusRun {
                first_token_drift: states.iter().map(|x| dist(x, 0)).fold(0.0, f64::max),
                max_distance: states
                    .iter()
                    .map(|x| (0..p.n).map(|k| dist(x, k)).fold(0.0, f64::max))
                    .collect(),
            })
        })
        .collect()
}

/// The parking census along causal SA trajectories ([`census`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CensusParams {
    pub n: usize,
    pub d: usize,
    pub beta: f64,
    /// Parking scale; the paper's 4 beta^{-1/2} is [`parking_delta`].
    pub delta: f64,
    /// Two tokens are in one cluster when 1 - <x_i, x_j> < this (components of that graph, the engine's
    /// `cluster_count`).
    pub cluster_threshold: f64,
    /// Checkpoint times (ascending, >= 0).
    pub times: Vec<f64>,
    pub dt: f64,
    pub realisations: usize,
    pub seed: u64,
}

/// The counts of one realisation at every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CensusRun {
    pub strong: Vec<usize>,
    pub renyi: Vec<usize>,
    pub clusters: Vec<usize>,
}

/// The i.i.d. uniform start of census realisation `r` (stream (seed, r, InitialCondition)).
pub fn census_start(p: &CensusParams, r: usize) -> Result<Configuration> {
    Ok(uniform_sphere(
        p.n,
        p.d,
        &mut stream(p.seed, r as u64, Purpose::InitialCondition),
    )?)
}

/// Causal SA with Q = K = V = I from i.i.d. uniform starts ([`census_start`]): per realisation and checkpoint
/// the numbers of strong Rényi centres, Rényi centres and clusters. Realisations run in parallel on their
/// own streams.
pub fn census(p: &CensusParams) -> Result<Vec<CensusRun>> {
    check_positive("delta", p.delta)?;
    check_positive("cluster_threshold", p.cluster_threshold)?;
    if p.realisations == 0 || p.times.is_empty() {
        return Err(invalid(
            "census",
            "needs realisations >= 1 and checkpoint times",
        ));
    }
    let field = causal_field(p.beta, None)?;
    (0..p.realisations)
        .into_par_iter()
        .map(|r| {
            let x0 = census_start(p, r)?;
            let states = trajectory(&field, &x0, p.dt, &p.times)?;
            let mut run = CensusRun {
                strong: Vec::new(),
                renyi: Vec::new(),
                clusters: Vec::new(),
            };
            for x in &states {
                run.strong.push(strong_renyi_centres(x, p.delta)?.len());
                run.renyi.push(renyi_centres(x, p.delta)?.len());
                run.clusters
                    .push(cluster_count(&x.gram(), p.n, p.cluster_threshold));
            }
            Ok(run)
        })
        .collect()
}

/// Rényi's parking constant c_R = 0.7475979202534114... (Rényi 1958): cars of unit length parked at random on
/// an interval of length x fill on average c_R x + c_R - 1 + o(1) places.
pub const RENYI_PARKING_CONSTANT: f64 = 0.747_597_920_253_411_4;

/// The normalised area p of a cap {y : |y - x| < delta} of S^{d-1} (chordal radius delta in (0, 2]): the
/// probability that a uniform point falls in it, p = int_0^theta sin^{d-2} / int_0^pi sin^{d-2} with
/// theta = 2 asin(delta / 2) (composite Simpson rule on 4096 intervals for d >= 4; d = 2: theta / pi,
/// d = 3: (1 - cos theta) / 2 = delta^2 / 4).
pub fn cap_fraction(d: usize, delta: f64) -> Result<f64> {
    check_positive("delta", delta)?;
    if d < 2 || delta > 2.0 {
        return Err(invalid("cap", "needs d >= 2 and delta <= 2"));
    }
    let theta = 2.0 * (delta / 2.0).asin();
    Ok(match d {
        2 => theta / std::f64::consts::PI,
        3 => delta * delta / 4.0,
        _ => {
            let simpson = |b: f64| {
                let m = 4096;
                let h = b / m as f64;
                let f = |u: f64| u.sin().powi(d as i32 - 2);
                let inner: f64 = (1..m)
                    .map(|k| if k % 2 == 1 { 4.0 } else { 2.0 } * f(k as f64 * h))
                    .sum();
                (f(0.0) + f(b) + inner) * h / 3.0
            };
            simpson(theta) / simpson(std::f64::consts::PI)
        }
    })
}

/// The expected number of strong Rényi centres of n i.i.d. uniform tokens on S^{d-1} at scale delta:
/// token k (0-based) is one when its k predecessors avoid its cap, with probability (1 - p)^k, so the mean is
/// sum_{k < n} (1 - p)^k = (1 - (1 - p)^n) / p with p = [`cap_fraction`] (-> 1/p ~ beta^{(d-1)/2} as n grows).
pub fn expected_strong_centres(n: usize, d: usize, delta: f64) -> Result<f64> {
    let p = cap_fraction(d, delta)?;
    Ok((1.0 - (1.0 - p).powf(n as f64)) / p)
}

/// The n -> infinity mean number of Rényi centres on the circle S^1 at chordal scale delta: centres are the
/// random sequential packing of arcs of length theta = 2 asin(delta / 2) on a circle of length 2 pi; the first
/// centre leaves an interval of length 2 pi - theta for cars of length theta, so the mean is
/// 1 + c_R (2 pi - theta) / theta + c_R - 1 = c_R 2 pi / theta (up to Rényi's exponentially small remainder).
pub fn circle_renyi_limit(delta: f64) -> Result<f64> {
    check_positive("delta", delta)?;
    if delta > 2.0 {
        return Err(invalid("delta", "must be <= 2"));
    }
    let theta = 2.0 * (delta / 2.0).asin();
    Ok(RENYI_PARKING_CONSTANT * 2.0 * std::f64::consts::PI / theta)
}

/// Centre counts of i.i.d. uniform tokens (no dynamics): per draw r (stream (seed, r, InitialCondition), keyed
/// also by d) the numbers of strong Rényi centres and Rényi centres of n tokens on S^{d-1} at scale delta.
pub fn static_counts(
    n: usize,
    d: usize,
    delta: f64,
    draws: usize,
    seed: u64,
) -> Result<Vec<(usize, usize)>> {
    check_positive("delta", delta)?;
    (0..draws)
        .into_par_iter()
        .map(|r| {
            let x = uniform_sphere(
                n,
                d,
                &mut stream(
                    seed,
                    ((d as u64) << 32) ^ r as u64,
                    Purpose::InitialCondition,
                ),
            )?;
            Ok((
                strong_renyi_centres(&x, delta)?.len(),
                renyi_centres(&x, delta)?.len(),
            ))
        })
        .collect()
}

/// Least-squares slope and intercept of log y against log x (points with x, y > 0; at least two distinct x).
pub fn log_log_fit(points: &[(f64, f64)]) -> Result<(f64, f64)> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let m = pts.len() as f64;
    let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / m, sy / m);
    let sxx: f64 = pts.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    if pts.len() < 2 || sxx.is_nan() || sxx <= 0.0 {
        return Err(invalid("points", "a fit needs two distinct positive x"));
    }
    let sxy: f64 = pts.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    Ok((slope, my - slope * mx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circle(angles: &[f64]) -> Configuration {
        Configuration::from_angles(angles).unwrap()
    }

    #[test]
    fn centres_of_a_hand_made_sequence() {
        // angles 0, 0.3, 1.0, 0.8, 2.0 with delta = 2 sin(0.25) (chord of an angle 0.5): token 1 is within
        // 0.3 of token 0; token 2 is 1.0 and 0.7 from 0 and 1 (strong); token 3 is 0.2 from token 2 (neither);
        // token 4 is 1.0 from token 2 (strong).
        let x = circle(&[0.0, 0.3, 1.0, 0.8, 2.0]);
        let delta = 2.0 * (0.25f64).sin();
        assert_eq!(strong_renyi_centres(&x, delta).unwrap(), vec![0, 2, 4]);
        assert_eq!(renyi_centres(&x, delta).unwrap(), vec![0, 2, 4]);
        // the two notions differ: 0, 0.4, 0.8 with an arc scale 0.5: token 2 is within 0.5 of token 1
        // (not strong) but 0.8 from the only centre 0 (a Rényi centre)
        let y = circle(&[0.0, 0.4, 0.8]);
        assert_eq!(strong_renyi_centres(&y, delta).unwrap(), vec![0]);
        assert_eq!(renyi_centres(&y, delta).unwrap(), vec![0, 2]);
        assert!(renyi_centres(&y, 0.0).is_err());
    }

    #[test]
    fn every_strong_centre_is_a_centre_and_centres_pack() {
        let x = uniform_sphere(300, 3, &mut stream(5, 0, Purpose::Other(7))).unwrap();
        let delta = 0.4;
        let strong = strong_renyi_centres(&x, delta).unwrap();
        let all = renyi_centres(&x, delta).unwrap();
        assert!(strong.iter().all(|k| all.contains(k)));
        assert!(strong.len() < all.len());
        // a packing: centres pairwise >= delta apart, and every token within delta of a centre
        for (a, &i) in all.iter().enumerate() {
            for &j in &all[a + 1..] {
                assert!(apart(&x, i, j, delta));
            }
        }
        assert!((0..300).all(|k| all.iter().any(|&c| !apart(&x, k, c, delta))));
    }

    #[test]
    fn parking_scale_and_fit() {
        assert!((parking_delta(64.0).unwrap() - 0.5).abs() < 1e-16);
        assert!(parking_delta(0.0).is_err());
        let pts: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0]
            .iter()
            .map(|&x: &f64| (x, 3.0 * x.powf(0.5)))
            .collect();
        let (slope, icpt) = log_log_fit(&pts).unwrap();
        assert!((slope - 0.5).abs() < 1e-12 && (icpt - 3f64.ln()).abs() < 1e-12);
        assert!(log_log_fit(&[(1.0, 1.0)]).is_err());
    }

    #[test]
    fn cap_fractions_and_limits() {
        // d = 2: a chord 2 sin(0.25) subtends theta = 0.5, p = 0.5 / pi; d = 3: Archimedes, (1 - cos 0.5) / 2
        let delta = 2.0 * (0.25f64).sin();
        assert!((cap_fraction(2, delta).unwrap() - 0.5 / std::f64::consts::PI).abs() < 1e-15);
        assert!((cap_fraction(3, delta).unwrap() - (1.0 - 0.5f64.cos()) / 2.0).abs() < 1e-15);
        // d = 4: int_0^t sin^2 = (t - sin t cos t) / 2 over pi / 2
        let p4 = (0.5 - 0.5f64.sin() * 0.5f64.cos()) / std::f64::consts::PI;
        assert!((cap_fraction(4, delta).unwrap() - p4).abs() < 1e-13);
        assert!((cap_fraction(5, 2.0).unwrap() - 1.0).abs() < 1e-13);
        assert!(cap_fraction(1, 0.5).is_err() && cap_fraction(3, 2.5).is_err());
        // one token is always a strong centre; many tokens: 1 / p
        assert!((expected_strong_centres(1, 3, 0.5).unwrap() - 1.0).abs() < 1e-15);
        assert!((expected_strong_centres(1 << 20, 3, 0.5).unwrap() - 16.0).abs() < 1e-9);
        // beta = 64: theta = 2 asin(1/4), c_R 2 pi / theta
        let want = 0.7475979202534114 * 2.0 * std::f64::consts::PI / (2.0 * 0.25f64.asin());
        assert!((circle_renyi_limit(0.5).unwrap() - want).abs() < 1e-13);
    }

    #[test]
    fn static_counts_match_the_expected_strong_count() {
        // 200 draws of n = 400 tokens on S^2 at delta = 0.5 (p = 1/16): mean within 4 standard errors of
        // (1 - (1 - p)^n) / p
        let counts = static_counts(400, 3, 0.5, 200, 11).unwrap();
        let m = counts.len() as f64;
        let mean = counts.iter().map(|c| c.0 as f64).sum::<f64>() / m;
        let var = counts
            .iter()
            .map(|c| (c.0 as f64 - mean).powi(2))
            .sum::<f64>()
            / (m - 1.0);
        let want = expected_strong_centres(400, 3, 0.5).unwrap();
        assert!(
            (mean - want).abs() < 4.0 * (var / m).sqrt(),
            "{mean} vs {want}"
        );
        assert!(counts.iter().all(|c| c.0 <= c.1));
    }

    #[test]
    fn first_token_is_fixed_and_the_second_joins_it() {
        // two tokens on S^1, Q = K = I: x_1 never moves; the second follows
        // theta_2' = -sin(theta_2 - theta_1) e^{beta cos} / (e^{beta cos} + e^beta) and reaches x_1(0)
        let field = causal_field(2.0, None).unwrap();
        let x0 = circle(&[0.3, 1.5]);
        let xs = trajectory(&field, &x0, 0.05, &[0.0, 5.0, 40.0]).unwrap();
        for x in &xs {
            assert!((x.row(0)[0] - 0.3f64.cos()).abs() < 1e-15);
            assert!((x.row(0)[1] - 0.3f64.sin()).abs() < 1e-15);
        }
        let gap = |x: &Configuration| {
            let a = x.angles().unwrap();
            (a[1] - a[0]).abs()
        };
        assert!((gap(&xs[0]) - 1.2).abs() < 1e-15);
        assert!(gap(&xs[1]) < 1.2 && gap(&xs[2]) < 1e-6);
    }
}

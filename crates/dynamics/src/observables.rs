//! Observables of a configuration, \[GLPR\] sections 3-4: Gram matrix, the Figure 3 statistic,
//! cluster counts, minimum inner product, interaction energy E_beta (3.5), checkpoint bookkeeping.

use crate::config::Configuration;
use crate::error::Result;
use crate::validate::check_positive;

/// Number of ordered pairs (i, j), i != j, with <x_i, x_j> > threshold (strict, as the authors'
/// test). `gram` is n x n row-major and symmetric (every Gram matrix of this crate is, bitwise):
/// twice the count over i < j.
pub fn pairs_above(gram: &[f64], n: usize, threshold: f64) -> u64 {
    2 * crate::kernel::upper_count_above(gram, n, threshold)
}

/// Whether every pair i != j has <x_i, x_j> > threshold; stops at the first row with a pair that
/// does not (one row for a configuration far from consensus).
pub fn all_pairs_above(gram: &[f64], n: usize, threshold: f64) -> bool {
    gram[..n * n].chunks_exact(n).enumerate().all(|(i, row)| {
        let (before, rest) = row.split_at(i);
        before
            .iter()
            .chain(&rest[1..])
            .fold(true, |all, &g| all & (g > threshold))
    })
}

/// Fraction of ordered pairs i != j with <x_i, x_j> > 1 - delta: the \[GLPR\] Figure 3 estimate of
/// P(<x_1(t), x_2(t)> >= 1 - delta) (exchangeability makes every pair an estimate of pair (1, 2)).
/// The comparison is strict (the authors' test); equality has probability zero. For n = 1 it is 0.
pub fn fraction_pairs_above(gram: &[f64], n: usize, threshold: f64) -> f64 {
    if n < 2 {
        0.0
    } else {
        pairs_above(gram, n, threshold) as f64 / (n * (n - 1)) as f64
    }
}

/// Indicator of <x_1, x_2> > threshold (the literal event of Figure 3), 0 when n < 2.
pub fn pair_above(gram: &[f64], n: usize, threshold: f64) -> bool {
    n >= 2 && gram[1] > threshold
}

/// Number of connected components of the graph {(i, j): <x_i, x_j> > 1 - delta}.
pub fn cluster_count(gram: &[f64], n: usize, delta: f64) -> usize {
    cluster_labels(gram, n, delta)
        .into_iter()
        .max()
        .map_or(0, |m| m + 1)
}

/// Cluster label of every particle (components of the threshold graph, labelled 0, 1, ... in order
/// of first appearance).
pub fn cluster_labels(gram: &[f64], n: usize, delta: f64) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            if gram[i * n + j] > 1.0 - delta {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    let mut label = vec![usize::MAX; n];
    let mut next = 0;
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let r = find(&mut parent, i);
        if label[r] == usize::MAX {
            label[r] = next;
            next += 1;
        }
        *o = label[r];
    }
    out
}

/// min_{i != j} <x_i, x_j> (1 for n = 1).
pub fn min_inner_product(gram: &[f64], n: usize) -> f64 {
    let mut m: f64 = 1.0;
    for i in 0..n {
        for j in 0..n {
            if i != j {
                m = m.min(gram[i * n + j]);
            }
        }
    }
    m
}

/// Interaction energy \[GLPR\] (3.5) in particle form, E_beta(X) = (1/(2 beta n^2)) sum_ij e^{beta<x_i,x_j>}
/// (beta > 0), summed in index order with std's exp.
pub fn energy(cfg: &Configuration, beta: f64) -> Result<f64> {
    check_positive("beta", beta)?;
    Ok(energy_of_gram(&cfg.gram(), cfg.n(), beta))
}

/// E_beta of [`energy`] from the Gram matrix G_ij = <x_i, x_j> (row-major n x n):
/// (1/(2 beta n^2)) sum_ij e^{beta G_ij}, summed in index order with std's exp.
pub fn energy_of_gram(gram: &[f64], n: usize, beta: f64) -> f64 {
    let s: f64 = gram.iter().map(|v| (beta * v).exp()).sum();
    s / (2.0 * beta * (n * n) as f64)
}

/// The step indices at which checkpoint times are recorded, by the authors' rule: for checkpoint
/// t_c the first step k >= 1 with k dt >= t_c (so t_c = 0 is read after the first step, as in the
/// authors' `do_single_beta`), capped at the last step. A 1e-9 slack absorbs round-off in t_c / dt.
pub fn checkpoint_steps(times: &[f64], dt: f64, last_step: usize) -> Result<Vec<usize>> {
    checkpoint_steps_from(times, dt, 1, last_step)
}

/// The first step k >= `first_step` with k dt >= t_c for every checkpoint t_c, capped at `last_step`.
pub fn checkpoint_steps_from(
    times: &[f64],
    dt: f64,
    first_step: usize,
    last_step: usize,
) -> Result<Vec<usize>> {
    check_positive("dt", dt)?;
    for &t in times {
        crate::validate::check("times", t, crate::validate::Domain::NonNegative)?;
    }
    Ok(times
        .iter()
        .map(|t| ((t / dt - 1e-9).ceil().max(first_step as f64) as usize).min(last_step))
        .collect())
}

/// `count` equispaced values from `a` to `b` inclusive (numpy's linspace).
pub fn linspace(a: f64, b: f64, count: usize) -> Vec<f64> {
    match count {
        0 => vec![],
        1 => vec![a],
        _ => (0..count)
            .map(|k| a + (b - a) * k as f64 / (count - 1) as f64)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_clusters() {
        let c = Configuration::from_angles(&[0.0, 1e-3, 3.0, 3.0005, -1.5]).unwrap();
        let g = c.gram();
        assert_eq!(pairs_above(&g, 5, 1.0 - 1e-3), 4);
        assert_eq!(cluster_count(&g, 5, 1e-3), 3);
        assert_eq!(cluster_labels(&g, 5, 1e-3), vec![0, 0, 1, 1, 2]);
        assert!((fraction_pairs_above(&g, 5, 1.0 - 1e-3) - 0.2).abs() < 1e-15);
        assert!(pair_above(&g, 5, 1.0 - 1e-3));
        assert!((min_inner_product(&g, 5) - (3.0005f64).cos()).abs() < 1e-12);
    }

    #[test]
    fn pair_count_equals_the_count_over_all_ordered_pairs() {
        let x = crate::sampling::uniform_sphere(
            40,
            3,
            &mut crate::sampling::stream(8, 0, crate::sampling::Purpose::Other(1)),
        )
        .unwrap();
        let g = x.gram();
        for threshold in [-0.5, 0.0, 0.5, 0.9] {
            let all = (0..40)
                .flat_map(|i| (0..40).map(move |j| (i, j)))
                .filter(|&(i, j)| i != j && g[i * 40 + j] > threshold)
                .count() as u64;
            assert_eq!(pairs_above(&g, 40, threshold), all);
        }
    }

    #[test]
    fn checkpoints_follow_authors_rule() {
        let t = linspace(0.0, 30.0, 200);
        let k = checkpoint_steps(&t, 0.1, 300).unwrap();
        assert_eq!(k[0], 1);
        assert_eq!(k[199], 300);
        // t_1 = 30/199 = 0.1507..., first step with k dt >= t_1 is k = 2
        assert_eq!(k[1], 2);
        assert!(checkpoint_steps(&[-1.0], 0.1, 3).is_err());
        assert!(checkpoint_steps(&[1.0], 0.0, 3).is_err());
    }

    #[test]
    fn energy_of_a_dirac_and_of_antipodes() {
        let beta = 1.3;
        let dirac = Configuration::from_angles(&[0.4, 0.4, 0.4]).unwrap();
        assert!((energy(&dirac, beta).unwrap() - beta.exp() / (2.0 * beta)).abs() < 1e-14);
        let pair = Configuration::from_angles(&[0.0, std::f64::consts::PI]).unwrap();
        let expected = (2.0 * beta.exp() + 2.0 * (-beta).exp()) / (2.0 * beta * 4.0);
        assert!((energy(&pair, beta).unwrap() - expected).abs() < 1e-14);
        assert!(energy(&pair, 0.0).is_err());
    }
}

//! Closed forms of \[GLPR\] drawn on the figures, from attnflow-energy (errors mapped to [`FigureError`]):
//! the SA clustering time t*(beta) = t_SA(1 - delta) of the equiangular ODE (6.9), which traces
//! Gamma_{inf,delta} (6.12); the circle landscape function g(tau) = (cos tau - beta sin^2 tau) e^{beta cos tau}
//! and its root tau*_beta (App. B); the Thm 5.1 thresholds.

use attnflow_dynamics::ModelKind;

use crate::error::{FigureError, Result};

fn energy_error(e: attnflow_energy::EnergyError) -> FigureError {
    FigureError::Upstream(format!("attnflow-energy: {e}"))
}

/// t*(beta): the time at which the SA equiangular solution from gamma(0) = 0 reaches 1 - delta.
pub fn clustering_time_sa(n: usize, beta: f64, delta: f64) -> Result<f64> {
    attnflow_energy::equiangular::clustering_time(ModelKind::Sa, n, beta, delta)
        .map_err(energy_error)
}

/// g(tau) (d = 2).
pub fn landscape_g(beta: f64, tau: f64) -> Result<f64> {
    attnflow_energy::landscape::landscape_g(beta, tau).map_err(energy_error)
}

/// tau*_beta in [0, pi/2].
pub fn tau_star(beta: f64) -> Result<f64> {
    attnflow_energy::landscape::tau_star(beta).map_err(energy_error)
}

/// The Thm 5.1 thresholds for n particles on the circle.
pub fn thm_5_1_thresholds(n: usize) -> Result<attnflow_energy::landscape::Thm51Thresholds> {
    attnflow_energy::landscape::thm_5_1_thresholds(n, 2).map_err(energy_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_zero_clustering_time_matches_the_explicit_solution() {
        // At beta = 0, gamma(t) = (e^{2t} - 1) / (e^{2t} + n - 1), so t(g) = ln((1 + (n-1) g) / (1 - g)) / 2.
        let g = 1.0 - 1e-3_f64;
        let exact = ((1.0 + 31.0 * g) / (1.0 - g)).ln() / 2.0;
        let t = clustering_time_sa(32, 0.0, 1e-3).unwrap();
        assert!((t - exact).abs() < 1e-9 * exact, "{t} vs {exact}");
    }

    #[test]
    fn tau_star_is_the_root_of_g() {
        for beta in [2.0, 6.0] {
            let t = tau_star(beta).unwrap();
            assert!(
                landscape_g(beta, t - 1e-3).unwrap() > 0.0
                    && landscape_g(beta, t + 1e-3).unwrap() < 0.0
            );
        }
    }
}

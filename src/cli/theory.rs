//! `attnflow theory ...`: the closed-form and semi-analytic predictions of \[GLPR\] on demand.
//!
//! Each subcommand prints human-readable text, or with `--json` one JSON object whose field `value` holds the
//! main number (for `instability`: also `l_star`). Inputs are validated by attnflow-energy (n >= 1, d >= 2,
//! beta finite and >= 0, 0 < delta < 1, n and d <= 2^53, ...) and reported as errors, never as NaN output; a
//! value that overflows f64 (energies at large beta) is the JSON string "inf", with its logarithm in `ln_value`.
//!
//! | subcommand | prediction | source |
//! |---|---|---|
//! | equiangular | gamma(T) from gamma(0) = gamma0 | \[GLPR\] Thm 6.8, (6.9)/(6.10) |
//! | clustering-time | t*(beta): gamma reaches 1 - delta | (6.12) |
//! | phase-curve | beta*(T) on Gamma_{inf,delta} | (6.12) |
//! | wendel | P(n uniform points of S^{d-1} in an open hemisphere) | Thm 6.7 |
//! | energy-uniform / energy-dirac | E_beta\[sigma_d\], E_beta\[delta\] | Prop 3.4 |
//! | tau-star | tau*_beta (d = 2) or zeta*_beta (general d) | App. B |
//! | thresholds | Thm 5.1 large-beta thresholds | Thm 5.1 |
//! | instability | fastest degree l* and rates lambda_l | \[beyond\] item 3 |

use anyhow::Result;
use attnflow_dynamics::ModelKind;
use attnflow_energy::{equiangular, funk_hecke, instability, landscape, wendel};
use serde_json::json;

/// `attnflow theory <subcommand>`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum TheoryCommand {
    /// gamma(T) of the equiangular dynamics (Thm 6.8) started from gamma(0) = gamma0 (default 0, orthogonal tokens).
    Equiangular {
        /// sa (6.9) or usa (6.10).
        #[arg(long, value_enum, default_value = "sa")]
        model: ModelKind,
        /// Number of tokens n >= 1.
        #[arg(long, allow_negative_numbers = true)]
        n: usize,
        /// Inverse temperature beta >= 0 (<= 300).
        #[arg(long, allow_negative_numbers = true)]
        beta: f64,
        /// Time (depth) T >= 0.
        #[arg(long, allow_negative_numbers = true)]
        t: f64,
        /// Initial common inner product gamma0 in (max(-1, -1/(n-1)), 1).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        gamma0: f64,
    },
    /// t*(beta): time for the equiangular gamma (from 0) to reach 1 - delta.
    ClusteringTime {
        /// sa (6.9) or usa (6.10).
        #[arg(long, value_enum, default_value = "sa")]
        model: ModelKind,
        /// Number of tokens n >= 1.
        #[arg(long, allow_negative_numbers = true)]
        n: usize,
        /// Inverse temperature beta >= 0 (<= 300).
        #[arg(long, allow_negative_numbers = true)]
        beta: f64,
        /// Clustering tolerance 0 < delta < 1.
        #[arg(long, allow_negative_numbers = true)]
        delta: f64,
    },
    /// beta*(T) on the phase-transition curve Gamma_{inf,delta} (6.12): gamma_beta(T) = 1 - delta.
    PhaseCurve {
        /// sa (default, as in (6.12)) or usa.
        #[arg(long, value_enum, default_value = "sa")]
        model: ModelKind,
        /// Number of tokens n >= 1.
        #[arg(long, allow_negative_numbers = true)]
        n: usize,
        /// Clustering tolerance 0 < delta < 1.
        #[arg(long, allow_negative_numbers = true)]
        delta: f64,
        /// Time (depth) T >= 0.
        #[arg(long, allow_negative_numbers = true)]
        t: f64,
    },
    /// Wendel's probability (Thm 6.7) that n uniform points of S^{d-1} lie in an open hemisphere.
    Wendel {
        /// Number of points n >= 1.
        #[arg(long, allow_negative_numbers = true)]
        n: usize,
        /// Ambient dimension d >= 2.
        #[arg(long, allow_negative_numbers = true)]
        d: usize,
    },
    /// E_beta of the uniform measure on S^{d-1} (Prop 3.4, Funk-Hecke).
    EnergyUniform {
        /// Ambient dimension d >= 2.
        #[arg(long, allow_negative_numbers = true)]
        d: usize,
        /// Inverse temperature beta > 0.
        #[arg(long, allow_negative_numbers = true)]
        beta: f64,
    },
    /// E_beta of a Dirac mass, e^beta / (2 beta) (Prop 3.4).
    EnergyDirac {
        /// Inverse temperature beta > 0.
        #[arg(long, allow_negative_numbers = true)]
        beta: f64,
    },
    /// tau*_beta (d = 2) or zeta*_beta (general d): the root of (d-1) cos = beta sin^2 (App. B).
    TauStar {
        /// Inverse temperature beta >= 0.
        #[arg(long, allow_negative_numbers = true)]
        beta: f64,
        /// Ambient dimension d >= 2.
        #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
        d: usize,
    },
    /// Thm 5.1 large-beta thresholds: exact beta with (n-1) tau*_beta = pi/2, 4 (n-1)^2/pi^2 and n^2/pi^2.
    Thresholds {
        /// Number of tokens n >= 2.
        #[arg(long, allow_negative_numbers = true)]
        n: usize,
        /// Ambient dimension d >= 2 (for the exact threshold).
        #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
        d: usize,
    },
    /// Mean-field instability of the uniform measure ([beyond] item 3): fastest degree l* and rates lambda_l.
    Instability {
        /// Ambient dimension d >= 2.
        #[arg(long, allow_negative_numbers = true)]
        d: usize,
        /// Inverse temperature beta > 0.
        #[arg(long, allow_negative_numbers = true)]
        beta: f64,
        /// usa (lambda_l) or sa (lambda_l / mu_0).
        #[arg(long, value_enum, default_value = "usa")]
        model: ModelKind,
    },
}

/// Runs one theory subcommand, printing text or (with `json`) one JSON object with field `value`.
pub fn run(cmd: TheoryCommand, json: bool) -> Result<()> {
    let (text, object) = evaluate(&cmd)?;
    if json {
        super::io::print_line(&serde_json::to_string(&object)?)?;
    } else {
        super::io::print_line(&text)?;
    }
    Ok(())
}

/// Computes the subcommand's result as (human text, JSON object).
fn evaluate(cmd: &TheoryCommand) -> Result<(String, serde_json::Value)> {
    Ok(match *cmd {
        TheoryCommand::Equiangular {
            model,
            n,
            beta,
            t,
            gamma0,
        } => {
            let m = model;
            let gap = equiangular::gap_at(m, n, beta, gamma0, t)?;
            let gamma = 1.0 - gap;
            (
                format!(
                    "gamma(T) = {gamma:?} (1 - gamma = {gap:e})  [{}, n = {n}, beta = {beta:?}, T = {t:?}, gamma0 = {gamma0:?}; \
                     exact quadrature of (6.9)/(6.10) inverted]",
                    m.name().to_uppercase()
                ),
                json!({"command": "equiangular", "model": m.name(), "n": n, "beta": beta, "t": t,
                       "gamma0": gamma0, "value": gamma, "one_minus_gamma": gap}),
            )
        }
        TheoryCommand::ClusteringTime {
            model,
            n,
            beta,
            delta,
        } => {
            let m = model;
            let t = equiangular::clustering_time(m, n, beta, delta)?;
            (
                format!(
                    "t*(beta) = {t:?}  [{}, n = {n}, beta = {beta:?}: time for gamma(0) = 0 to reach 1 - delta = {:?}]",
                    m.name().to_uppercase(),
                    1.0 - delta
                ),
                json!({"command": "clustering-time", "model": m.name(), "n": n, "beta": beta, "delta": delta,
                       "value": t}),
            )
        }
        TheoryCommand::PhaseCurve { model, n, delta, t } => {
            let m = model;
            let beta = equiangular::phase_curve_beta(m, n, delta, t)?;
            (
                format!(
                    "beta*(T) = {beta:?}  [{}, n = {n}, delta = {delta:?}, T = {t:?}: gamma_beta(T) = 1 - delta on Gamma_inf,delta (6.12)]",
                    m.name().to_uppercase()
                ),
                json!({"command": "phase-curve", "model": m.name(), "n": n, "delta": delta, "t": t, "value": beta}),
            )
        }
        TheoryCommand::Wendel { n, d } => {
            let p = wendel::wendel_probability(n, d)?;
            (
                format!(
                    "P(all {n} points in an open hemisphere of S^{}) = {p:?}  [Wendel, Thm 6.7]",
                    d - 1
                ),
                json!({"command": "wendel", "n": n, "d": d, "value": p}),
            )
        }
        TheoryCommand::EnergyUniform { d, beta } => {
            let ln_e = funk_hecke::ln_energy_uniform(beta, d)?;
            // energy_uniform fails only by overflow once ln_energy_uniform has accepted the input
            let e = funk_hecke::energy_uniform(beta, d).ok();
            let shown = e.map_or_else(|| format!("exp({ln_e:?})"), |v| format!("{v:?}"));
            (
                format!(
                    "E_beta[uniform on S^{}] = {shown}  [beta = {beta:?}, Prop 3.4 via Funk-Hecke]",
                    d - 1
                ),
                json!({"command": "energy-uniform", "d": d, "beta": beta, "value": super::io::json_number(e.unwrap_or(f64::INFINITY)), "ln_value": ln_e}),
            )
        }
        TheoryCommand::EnergyDirac { beta } => {
            let ln_e = funk_hecke::ln_energy_dirac(beta)?;
            let e = funk_hecke::energy_dirac(beta).ok();
            let shown = e.map_or_else(|| format!("exp({ln_e:?})"), |v| format!("{v:?}"));
            (
                format!("E_beta[Dirac] = e^beta / (2 beta) = {shown}  [beta = {beta:?}, Prop 3.4]"),
                json!({"command": "energy-dirac", "beta": beta, "value": super::io::json_number(e.unwrap_or(f64::INFINITY)), "ln_value": ln_e}),
            )
        }
        TheoryCommand::TauStar { beta, d } => {
            let z = landscape::zeta_star(beta, d)?;
            (
                format!(
                    "tau*_beta = {z:?} rad = {:?} deg  [beta = {beta:?}, d = {d}: root of (d-1) cos = beta sin^2, App. B]",
                    z.to_degrees()
                ),
                json!({"command": "tau-star", "beta": beta, "d": d, "value": z, "cos": z.cos()}),
            )
        }
        TheoryCommand::Thresholds { n, d } => {
            let th = landscape::thm_5_1_thresholds(n, d)?;
            (
                format!(
                    "Thm 5.1 thresholds for n = {n} (d = {d}):\n  exact beta with (n-1) tau*_beta = pi/2: {:?}\n  \
                     proof form 4 (n-1)^2 / pi^2:             {:?}\n  Figure 2 form n^2 / pi^2:                {:?}",
                    th.exact, th.proof_approx, th.figure
                ),
                json!({"command": "thresholds", "n": n, "d": d, "value": th.exact, "exact": th.exact,
                       "proof_approx": th.proof_approx, "figure": th.figure}),
            )
        }
        TheoryCommand::Instability { d, beta, model } => {
            let m = model;
            let l_star = instability::fastest_degree(beta, d)?;
            let l_max = (l_star + 3).max(6);
            let mut rates = Vec::with_capacity(l_max);
            for l in 1..=l_max {
                rates.push(instability::mean_field_rate(m, l, beta, d)?);
            }
            let mut text = format!(
                "l* = {l_star} (sqrt(2 beta) = {:.3})  [{}, d = {d}, beta = {beta:?}, [beyond] item 3]\n  l   rate",
                (2.0 * beta).sqrt(),
                m.name().to_uppercase()
            );
            for (i, r) in rates.iter().enumerate() {
                text.push_str(&format!("\n  {:<3} {r:e}", i + 1));
            }
            (
                text,
                json!({"command": "instability", "model": m.name(), "d": d, "beta": beta, "value": l_star,
                       "l_star": l_star, "rates": rates}),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: TheoryCommand,
    }

    fn value_of(args: &[&str]) -> Result<serde_json::Value> {
        let cli = Cli::try_parse_from(std::iter::once("theory").chain(args.iter().copied()))?;
        Ok(evaluate(&cli.cmd)?.1)
    }

    #[test]
    fn subcommands_parse_and_report_values() {
        let v = value_of(&[
            "equiangular",
            "--model",
            "sa",
            "--n",
            "4",
            "--beta",
            "0",
            "--t",
            "1",
        ])
        .unwrap();
        let exact = (2f64.exp() - 1.0) / (2f64.exp() + 3.0);
        assert!((v["value"].as_f64().unwrap() - exact).abs() < 1e-14);
        let v = value_of(&[
            "clustering-time",
            "--model",
            "usa",
            "--n",
            "8",
            "--beta",
            "1",
            "--delta",
            "0.1",
        ])
        .unwrap();
        let t = v["value"].as_f64().unwrap();
        let b = value_of(&[
            "phase-curve",
            "--model",
            "usa",
            "--n",
            "8",
            "--delta",
            "0.1",
            "--t",
            &t.to_string(),
        ])
        .unwrap();
        assert!((b["value"].as_f64().unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(
            value_of(&["wendel", "--n", "6", "--d", "3"]).unwrap()["value"].as_f64(),
            Some(0.5)
        );
        let e = value_of(&["energy-uniform", "--d", "3", "--beta", "2"]).unwrap()["value"]
            .as_f64()
            .unwrap();
        assert!((e - 2f64.sinh() / 8.0).abs() < 1e-15);
        let e = value_of(&["energy-dirac", "--beta", "2"]).unwrap()["value"]
            .as_f64()
            .unwrap();
        assert!((e - 2f64.exp() / 4.0).abs() < 1e-15);
        let v = value_of(&["energy-dirac", "--beta", "1000"]).unwrap();
        assert!(v["value"] == "inf" && v["ln_value"].as_f64().unwrap() > 990.0);
        let z = value_of(&["tau-star", "--beta", "0"]).unwrap()["value"]
            .as_f64()
            .unwrap();
        assert!((z - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
        let th = value_of(&["thresholds", "--n", "10"]).unwrap();
        assert!(
            (th["proof_approx"].as_f64().unwrap() - 324.0 / std::f64::consts::PI.powi(2)).abs()
                < 1e-12
        );
        let inst = value_of(&["instability", "--d", "2", "--beta", "200"]).unwrap();
        assert_eq!(inst["value"], inst["l_star"]);
        assert!(inst["l_star"].as_u64().unwrap() >= 15 && inst["l_star"].as_u64().unwrap() <= 25);
    }

    #[test]
    fn invalid_inputs_are_errors() {
        assert!(
            value_of(&[
                "clustering-time",
                "--n",
                "0",
                "--beta",
                "1",
                "--delta",
                "0.1"
            ])
            .is_err()
        );
        assert!(
            value_of(&[
                "clustering-time",
                "--n",
                "4",
                "--beta",
                "-1",
                "--delta",
                "0.1"
            ])
            .is_err()
        );
        assert!(
            value_of(&[
                "clustering-time",
                "--n",
                "4",
                "--beta",
                "NaN",
                "--delta",
                "0.1"
            ])
            .is_err()
        );
        assert!(
            value_of(&[
                "clustering-time",
                "--n",
                "4",
                "--beta",
                "1",
                "--delta",
                "1.5"
            ])
            .is_err()
        );
        assert!(value_of(&["wendel", "--n", "4", "--d", "1"]).is_err());
        assert!(value_of(&["energy-uniform", "--d", "3", "--beta", "0"]).is_err());
        assert!(value_of(&["phase-curve", "--n", "4", "--delta", "0.1", "--t", "0.01"]).is_err());
        assert!(value_of(&["thresholds", "--n", "1"]).is_err());
    }
}

//! `attnflow theory ...`: the closed-form and semi-analytic predictions of \[GLPR\] on demand.
//!
//! Each subcommand prints human-readable text, or with `--json` one JSON object whose field `value` holds the
//! main number (for `instability`: also `l_star`). Inputs are validated by attnflow-energy (n >= 1, d >= 2,
//! beta finite and >= 0, 0 < delta < 1, n and d <= 2^53, ...) and reported as errors, never as NaN output; a
//! value that overflows f64 (energies at large beta) is the JSON string "inf", with its logarithm in `ln_value`.
//!
//! | subcommand | prediction | source |
//! |---|---|---|
//! | equiangular | gamma(T) from gamma(0) = gamma0 (`--norm`: Post-LN, Pre-LN, Peri-LN, nGPT) | \[GLPR\] Thm 6.8, (6.9)/(6.10); arXiv 2510.22026 |
//! | clustering-time | t*(beta): gamma reaches 1 - delta | (6.12) |
//! | phase-curve | beta*(T) on Gamma_{inf,delta} | (6.12) |
//! | wendel | P(n uniform points of S^{d-1} in an open hemisphere) | Thm 6.7 |
//! | energy-uniform / energy-dirac | E_beta\[sigma_d\], E_beta\[delta\] | Prop 3.4 |
//! | tau-star | tau*_beta (d = 2) or zeta*_beta (general d) | App. B |
//! | thresholds | Thm 5.1 large-beta thresholds | Thm 5.1 |
//! | instability | fastest degree l* and rates lambda_l | \[beyond\] item 3 |
//! | long-context | output cosine of one Pre-LN layer, beta = gamma ln n (finite n or n -> infinity) | Chen-Lin-Polyanskiy-Rigollet 2025 |
//! | lost-in-middle | t_crit(beta): the retrieval profile of causal ALiBi attention stops being U-shaped | Duerinckx-Geshkovski-Rossi 2026 |
//! | mode-selection | fastest-growing mode k_max of the mean-field PDE linearised at the uniform density, its rate | Bruno-Pasqualotto-Agazzi 2024 |
//! | sync-threshold | beta where the equispaced n-configuration on S^1 changes stability (any real beta) | Polyanskiy-Rigollet-Yao 2025 |
//! | noisy-critical-beta | beta_*(d): the noisy transformer's transition is continuous below, discontinuous above | Balasubramanian-Banerjee-Rigollet 2025; Shalova-Schlichting 2024 |

use anyhow::Result;
use attnflow_dynamics::{ModelKind, Normalization};
use attnflow_energy::{
    equiangular, funk_hecke, instability, landscape, long_context, normalization, wendel,
};
use attnflow_kuramoto::sync;
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
        /// Where layer normalisation sits (arXiv 2510.22026): post-ln is (6.9)/(6.10) by exact quadrature; the
        /// others integrate rho' = (2/s) b (1 - rho)(1 + (n-1) rho) with their speed s and radius law by RK4
        /// (step 1e-3, T <= 1e4) from rho(0) = gamma0 and radius r(0) = 1; value: rho(T).
        #[arg(long, value_enum, default_value = "post-ln")]
        norm: Normalization,
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
    /// Output cosine of one Pre-LN attention layer (Q = K = V = I, no residual) with beta = gamma ln n on
    /// equiangular tokens of cosine rho (arXiv 2510.05554): exact at finite n, the n -> infinity limit without --n.
    LongContext {
        /// Input cosine rho: in [-1/(n-1), 1] with --n, in [0, 1] for the limit.
        #[arg(long, allow_negative_numbers = true)]
        rho: f64,
        /// Scaling gamma > 0 (finite) of beta = gamma ln n.
        #[arg(long, allow_negative_numbers = true)]
        gamma: f64,
        /// Number of tokens n >= 2 (omit for the limit n -> infinity: 1, 4 rho / (1 + 3 rho) or rho).
        #[arg(long, allow_negative_numbers = true)]
        n: Option<usize>,
    },
    /// beta where the equispaced n-point configuration on S^1 changes linear stability (SA and USA alike;
    /// beta may be negative; n = 3: -2/3). Circulant Jacobian eigenvalues, scan and bisection to 1e-12.
    SyncThreshold {
        /// Number of points n in 2..=256.
        #[arg(long, allow_negative_numbers = true)]
        n: usize,
    },
    /// beta_*(d) of the noisy USA dynamics dX = P_X((1/n) sum_j e^{beta <X, X_j>} X_j) dt + sqrt(2/kappa) dB on
    /// S^{d-1}: the root of I_{d/2+1}(beta)/I_{d/2}(beta) = 1/d. The uniform state loses stability at
    /// kappa_c = beta / mu_1(beta, d); the transition there is continuous for beta < beta_* and discontinuous, with
    /// hysteresis, above (arXiv 2510.20094, 2412.14813). Independent of how kappa or the kernel are scaled.
    NoisyCriticalBeta {
        /// Ambient dimension d >= 2 (the sphere S^{d-1}).
        #[arg(long, allow_negative_numbers = true)]
        d: usize,
    },
    /// Fastest-growing mode k_max of the mean-field PDE linearised at the uniform density (arXiv 2410.23228):
    /// lambda_k = k (k+d-2) mu_k(beta) / beta (USA; SA: / mu_0), mu_k the Funk-Hecke (Gegenbauer) coefficient,
    /// on S^1: k^2 I_k(beta) / beta; k_max ~ sqrt(2 beta), the same for SA and USA.
    ModeSelection {
        /// Inverse temperature beta > 0.
        #[arg(long, allow_negative_numbers = true)]
        beta: f64,
        /// Ambient dimension d >= 2 (d = 2: the circle, Fourier modes; d > 2: spherical-harmonic degrees).
        #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
        d: usize,
        /// usa (lambda_k) or sa (lambda_k / mu_0): changes the rates, not k_max.
        #[arg(long, value_enum, default_value = "usa")]
        model: ModelKind,
    },
    /// t_crit(beta) of causal ALiBi attention on S^1 (arXiv 2605.09213): the retrieval profile of the last
    /// token is U-shaped (recency) while t < t_crit = 2 (1 - e^{-lambda}) sum w_m a_m / sum w_m a_m^2,
    /// a_m = m^2 I_m(beta), w_m = exp(-pi^2 m^2 / 128), m = 1..20 (the authors' M = 8, n_max = 20).
    LostInMiddle {
        /// Inverse temperature beta > 0.
        #[arg(long, allow_negative_numbers = true)]
        beta: f64,
        /// ALiBi slope per unit of relative position, lambda >= 0 (token slope lambda / n).
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        lambda: f64,
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
pub fn evaluate(cmd: &TheoryCommand) -> Result<(String, serde_json::Value)> {
    Ok(match *cmd {
        TheoryCommand::Equiangular {
            model,
            n,
            beta,
            t,
            gamma0,
            norm,
        } if !norm.is_post_ln() => {
            let m = model;
            let s = normalization::solve(norm, m, n, beta, gamma0, 1.0, t)?;
            let (rho, gap, r) = (s.rho(), s.gap, s.radius);
            (
                format!(
                    "rho(T) = {rho:?} (1 - rho = {gap:e}), r(T) = {r:?}  [{}, {}, n = {n}, beta = {beta:?}, T = {t:?}, \
                     rho(0) = {gamma0:?}, r(0) = 1; RK4 of the equiangular ODE, step {}]",
                    norm.name(),
                    m.name().to_uppercase(),
                    normalization::STEP.min(t / 1000.0)
                ),
                json!({"command": "equiangular", "norm": norm.name(), "model": m.name(), "n": n, "beta": beta,
                       "t": t, "gamma0": gamma0, "value": rho, "one_minus_gamma": gap, "radius": r}),
            )
        }
        TheoryCommand::Equiangular {
            model,
            n,
            beta,
            t,
            gamma0,
            norm: _,
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
        TheoryCommand::LongContext { rho, gamma, n } => long_context_result(rho, gamma, n)?,
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
        TheoryCommand::ModeSelection { beta, d, model } => {
            let k_max = attnflow_kuramoto::meanfield::fastest_mode(beta, d)?;
            let mut rates = Vec::with_capacity(k_max + 2);
            for k in 1..=k_max + 2 {
                rates.push(attnflow_kuramoto::meanfield::linear_rate(
                    model, beta, k, d, 0.0,
                )?);
            }
            let rate = rates[k_max - 1];
            let mut text = format!(
                "k_max = {k_max}  [{}, d = {d}, beta = {beta:?}: growth rate {rate:e}; sqrt(2 beta) = {:.3}; \
                 mean-field linearisation at the uniform density, arXiv 2410.23228]\n  k   rate",
                model.name().to_uppercase(),
                (2.0 * beta).sqrt()
            );
            for (i, r) in rates.iter().enumerate() {
                text.push_str(&format!("\n  {:<3} {r:e}", i + 1));
            }
            (
                text,
                json!({"command": "mode-selection", "model": model.name(), "d": d, "beta": beta,
                       "value": k_max, "rate": rate, "rates": rates}),
            )
        }
        TheoryCommand::LostInMiddle { beta, lambda } => {
            let t = attnflow_energy::lost_in_middle::LostInMiddle::authors(beta, lambda)?.t_crit();
            (
                format!(
                    "t_crit = {t:?}  [beta = {beta:?}, lambda = {lambda:?}, M = 8, n_max = 20: the right-end slope of the \
                     retrieval profile changes sign, U-shaped for t < t_crit; arXiv 2605.09213]"
                ),
                json!({"command": "lost-in-middle", "beta": beta, "lambda": lambda, "value": t}),
            )
        }
        TheoryCommand::SyncThreshold { n } => {
            let th = sync::sync_threshold(n)?;
            let range = th.beta_range;
            let text = match (th.beta_c, th.mode) {
                (Some(b), Some(k)) => format!(
                    "beta_c = {b:?}  [n = {n}: the equispaced configuration is linearly stable just below beta_c and \
                     unstable above (Fourier modes k = {k} and n - k); {} sign change(s) on [-{range:?}, {range:?}], bisection to 1e-12]",
                    th.crossings
                ),
                _ => format!(
                    "none  [n = {n}: the equispaced configuration is linearly unstable at every beta scanned in \
                     [-{range:?}, {range:?}]]"
                ),
            };
            (
                text,
                json!({"command": "sync-threshold", "n": n, "value": th.beta_c, "mode": th.mode,
                       "crossings": th.crossings, "beta_range": range, "tolerance": th.tolerance}),
            )
        }
        TheoryCommand::NoisyCriticalBeta { d } => {
            let b = attnflow_kuramoto::noisy::critical_beta(d)?;
            (
                format!(
                    "beta_* = {b:?}  [d = {d}: I_{{d/2+1}}(beta)/I_{{d/2}}(beta) = 1/d, bisection to 1e-13; the noisy \
                     transformer's transition at kappa_c = beta / mu_1(beta, d) is continuous for beta < beta_* and \
                     discontinuous with hysteresis above; arXiv 2510.20094, 2412.14813]"
                ),
                json!({"command": "noisy-critical-beta", "d": d, "value": b}),
            )
        }
    })
}

/// `theory long-context`: the finite-n closed form (with `n`) or the n -> infinity limit.
fn long_context_result(
    rho: f64,
    gamma: f64,
    n: Option<usize>,
) -> Result<(String, serde_json::Value)> {
    // the limit's regime and critical gamma exist for rho in [0, 1] only
    let regime = long_context::regime(rho, gamma).ok();
    let critical = long_context::critical_gamma(rho).ok();
    let regime_text = match (regime, critical) {
        (Some(r), Some(c)) => format!("{} as n -> infinity (critical gamma {c:?})", r.name()),
        _ => "no n -> infinity limit for rho < 0".into(),
    };
    Ok(match n {
        Some(n) => {
            let beta = long_context::beta_of(gamma, n)?;
            let value = long_context::output_cosine(n, rho, gamma)?;
            let gap = long_context::output_gap(n, rho, gamma)?;
            (
                format!(
                    "output cosine = {value:?} (1 - cos = {gap:e})  [n = {n}, rho = {rho:?}, gamma = {gamma:?}, \
                     beta = gamma ln n = {beta:?}; {regime_text}; exact finite-n closed form, arXiv 2510.05554]"
                ),
                json!({"command": "long-context", "rho": rho, "gamma": gamma, "n": n, "beta": beta,
                       "value": value, "one_minus_value": gap, "regime": regime.map(|r| r.name()),
                       "critical_gamma": critical.map(super::io::json_number)}),
            )
        }
        None => {
            let value = long_context::limit_output_cosine(rho, gamma)?;
            (
                format!(
                    "output cosine -> {value:?} as n -> infinity  [rho = {rho:?}, gamma = {gamma:?}: {regime_text}; \
                     1, 4 rho / (1 + 3 rho), rho below, at, above gamma = 1/(1 - rho) (1/2 at rho = 0), arXiv 2510.05554]"
                ),
                json!({"command": "long-context", "rho": rho, "gamma": gamma, "n": null, "value": value,
                       "regime": regime.map(|r| r.name()),
                       "critical_gamma": critical.map(super::io::json_number)}),
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
        let sync3 = value_of(&["sync-threshold", "--n", "3"]).unwrap();
        assert!((sync3["value"].as_f64().unwrap() + 2.0 / 3.0).abs() < 1e-11);
        assert!(value_of(&["sync-threshold", "--n", "4"]).unwrap()["value"].is_null());
    }

    #[test]
    fn noisy_critical_beta_solves_the_bessel_equation() {
        for d in [2usize, 3, 8] {
            let v = value_of(&["noisy-critical-beta", "--d", &d.to_string()]).unwrap();
            let b = v["value"].as_f64().unwrap();
            let r = attnflow_energy::bessel::bessel_i_ratio(d as f64 / 2.0, b).unwrap();
            assert!((r - 1.0 / d as f64).abs() < 1e-12, "d = {d}: {b}");
        }
        assert!(value_of(&["noisy-critical-beta", "--d", "1"]).is_err());
    }

    #[test]
    fn long_context_limit_and_finite_n() {
        let value = |args: &[&str]| {
            let mut all = vec!["long-context"];
            all.extend_from_slice(args);
            value_of(&all)
        };
        let v = |args: &[&str]| value(args).unwrap()["value"].as_f64().unwrap();
        assert_eq!(v(&["--rho", "0.5", "--gamma", "1"]), 1.0);
        assert_eq!(v(&["--rho", "0.5", "--gamma", "2"]), 0.8);
        assert_eq!(v(&["--rho", "0.5", "--gamma", "3"]), 0.5);
        // by hand: n = 2, rho = 0, gamma = 1: e^beta = 2, a = 2/3, b = 1/3; the outputs (a, b) and (b, a)
        // have cosine 2ab / (a^2 + b^2) = 4/5
        let c = v(&["--rho", "0", "--gamma", "1", "--n", "2"]);
        assert!((c - 0.8).abs() < 1e-15, "{c}");
        let j = value(&["--rho", "-0.1", "--gamma", "1", "--n", "5"]).unwrap();
        assert!(j["regime"].is_null() && j["one_minus_value"].as_f64().unwrap() > 0.0);
        assert!(value(&["--rho", "-0.5", "--gamma", "1", "--n", "3"]).is_ok());
        for bad in [
            &["--rho", "0.5", "--gamma", "0"][..],
            &["--rho", "0.5", "--gamma", "-1"],
            &["--rho", "0.5", "--gamma", "inf"],
            &["--rho", "1.5", "--gamma", "1"],
            &["--rho", "-0.1", "--gamma", "1"],
            &["--rho", "-0.6", "--gamma", "1", "--n", "3"],
            &["--rho", "0.5", "--gamma", "1", "--n", "1"],
            &["--rho", "NaN", "--gamma", "1", "--n", "4"],
        ] {
            assert!(value(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mode_selection_is_the_argmax_of_k2_ik() {
        // by hand on S^1: k^2 I_k(5) = 24.3, 70.0, 92.6, 81.4, 52.5 (k = 1..5): k_max = 3
        let v = value_of(&["mode-selection", "--beta", "5"]).unwrap();
        assert_eq!(v["value"].as_u64(), Some(3));
        let i3 = attnflow_energy::bessel::bessel_i(3.0, 5.0).unwrap();
        assert!((v["rate"].as_f64().unwrap() - 9.0 * i3 / 5.0).abs() < 1e-12);
        let sa = value_of(&["mode-selection", "--beta", "5", "--model", "sa"]).unwrap();
        assert_eq!(sa["value"], v["value"]);
        let i0 = attnflow_energy::bessel::bessel_i(0.0, 5.0).unwrap();
        assert!((sa["rate"].as_f64().unwrap() - 9.0 * i3 / (5.0 * i0)).abs() < 1e-12);
        // d = 3: lambda_l = l (l + 1) mu_l / beta, mu_l = sqrt(pi / (2 beta)) I_{l+1/2}(beta)
        let v3 = value_of(&["mode-selection", "--beta", "7", "--d", "3"]).unwrap();
        let k = v3["value"].as_u64().unwrap() as usize;
        let rate = |l: usize| {
            let mu = (std::f64::consts::PI / 14.0).sqrt()
                * attnflow_energy::bessel::bessel_i(l as f64 + 0.5, 7.0).unwrap();
            (l * (l + 1)) as f64 * mu / 7.0
        };
        assert!(rate(k) > rate(k + 1) && rate(k) > rate(k - 1));
        assert!(value_of(&["mode-selection", "--beta", "0"]).is_err());
        assert!(value_of(&["mode-selection", "--beta", "1", "--d", "1"]).is_err());
    }

    #[test]
    fn lost_in_middle_prints_t_crit() {
        let v = value_of(&["lost-in-middle", "--beta", "1"]).unwrap();
        let t = v["value"].as_f64().unwrap();
        // the authors' sum (M = 8, m = 1..20) written out: 2 (1 - 1/e) sum w a / sum w a^2
        let theory = attnflow_energy::lost_in_middle::LostInMiddle::authors(1.0, 1.0).unwrap();
        let (mut s1, mut s2) = (0.0, 0.0);
        for m in 1..=20 {
            let a = theory.mode_rate(m).unwrap();
            let w = (-(std::f64::consts::PI * m as f64 / 8.0).powi(2) / 2.0).exp();
            s1 += w * a;
            s2 += w * a * a;
        }
        let expected = 2.0 * (1.0 - (-1.0f64).exp()) * s1 / s2;
        assert!((t - expected).abs() < 1e-12 * expected, "{t} vs {expected}");
        assert!(value_of(&["lost-in-middle", "--beta", "0"]).is_err());
        assert!(value_of(&["lost-in-middle", "--beta", "1", "--lambda", "-1"]).is_err());
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
        assert!(value_of(&["sync-threshold", "--n", "1"]).is_err());
        assert!(value_of(&["sync-threshold", "--n", "100000"]).is_err());
    }
}

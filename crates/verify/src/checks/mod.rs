//! The checks of the suite, grouped by topic; each submodule's `checks()` lists its [`crate::Check`]s.
//!
//! - [`energy`]: \[GLPR\] Prop 3.4, Lemmas 3.6/3.7, section 3.4, energy monotonicity (3.6);
//! - [`clustering`]: \[GLPR\] Thms 4.1, 4.2, 4.3, 5.1, 6.1;
//! - [`rates`]: \[GLPR\] Lemma 6.4, Thms 6.3, 6.7, 6.8, 6.9;
//! - [`bkkrw`]: \[BKKRW\] M1-M4, m1-m5;
//! - [`frontier_causal`]: causal attention, consensus at x_1(0) and Rényi parking (arXiv 2411.04990);
//! - [`frontier_emergence`]: leaders of pure attention in R^d (arXiv 2305.05465);
//! - [`frontier_hardmax`]: the hardmax limit as Frank-Wolfe (\[GLPR\] (9.4)-(9.6), arXiv 2508.09628);
//! - [`frontier_long_context`]: critical long-context scaling (arXiv 2510.05554);
//! - [`frontier_lost_in_middle`]: the lost-in-the-middle retrieval profile (arXiv 2605.09213);
//! - [`frontier_meanfield`]: the mean-field PDE on S^1, growth rates and mode selection (arXiv 2410.23228);
//! - [`frontier_metastability`]: the energy staircase, closest-pair merges and the merging law (arXiv 2410.06833, 2509.25040);
//! - [`frontier_noisy`]: the noisy transformer, its transition at beta_*(d) and the SDE orders (arXiv 2510.20094);
//! - [`frontier_normalization`]: normalisation rates, Post-LN / Pre-LN / Peri-LN / nGPT (arXiv 2510.22026);
//! - [`frontier_sync`]: synchronisation on S^1 for real beta (Polyanskiy-Rigollet-Yao 2025).

pub mod bkkrw;
pub mod clustering;
pub mod energy;
pub mod frontier_causal;
pub mod frontier_emergence;
pub mod frontier_hardmax;
pub mod frontier_long_context;
pub mod frontier_lost_in_middle;
pub mod frontier_meanfield;
pub mod frontier_metastability;
pub mod frontier_noisy;
pub mod frontier_normalization;
pub mod frontier_sync;
pub mod rates;

#[cfg(test)]
mod ci_suite {
    //! Every `ci` check must pass (this is how `cargo test` runs the suite); one test per check so that
    //! the test harness runs them in parallel and a failure names its check.
    use crate::registry::{Fidelity, Verdict, find_check, run_check};

    fn assert_ci_passes(id: &str) {
        let outcome = run_check(&find_check(id).expect("registered id"), Fidelity::Ci);
        assert_ne!(outcome.verdict, Verdict::Fail, "{outcome:#?}");
    }

    macro_rules! ci_tests {
        ($($name:ident => $id:literal),* $(,)?) => {
            $(#[test] fn $name() { assert_ci_passes($id); })*
            /// The list above covers the whole registry.
            #[test]
            fn every_registered_check_has_a_ci_test() {
                let covered = [$($id),*];
                for c in crate::registry::registry() {
                    assert!(covered.contains(&c.id), "check {} has no ci test", c.id);
                }
            }
        };
    }

    ci_tests! {
        prop_3_4 => "prop-3.4",
        lemma_3_6 => "lemma-3.6",
        lemma_3_7 => "lemma-3.7",
        section_3_4 => "sec-3.4",
        energy_sa => "energy-sa",
        energy_usa => "energy-usa",
        energy_repulsive => "energy-repulsive",
        thm_4_1 => "thm-4.1",
        thm_4_2 => "thm-4.2",
        thm_4_3 => "thm-4.3",
        thm_5_1 => "thm-5.1",
        thm_6_1 => "thm-6.1",
        lemma_6_4 => "lemma-6.4",
        thm_6_3 => "thm-6.3",
        thm_6_7 => "thm-6.7",
        thm_6_8 => "thm-6.8",
        thm_6_9 => "thm-6.9",
        bkkrw_max1 => "bkkrw-max1",
        bkkrw_max2 => "bkkrw-max2",
        bkkrw_max3 => "bkkrw-max3",
        bkkrw_max4 => "bkkrw-max4",
        bkkrw_min1 => "bkkrw-min1",
        bkkrw_min2 => "bkkrw-min2",
        bkkrw_min3 => "bkkrw-min3",
        bkkrw_min4 => "bkkrw-min4",
        bkkrw_min5 => "bkkrw-min5",
        long_context => "long-context",
        sync_threshold => "sync-threshold",
        sync_random => "sync-random",
        lost_in_middle => "lost-in-middle",
        emergence_leaders => "emergence-leaders",
        hardmax_cells => "hardmax-cells",
        normalization_rates => "normalization-rates",
        causal_renyi => "causal-renyi",
        meanfield_modes => "meanfield-modes",
        meanfield_pde => "meanfield-pde",
        noisy_critical_beta => "noisy-critical-beta",
        sde_orders => "sde-orders",
        metastability_staircase => "metastability-staircase",
    }
}

#[cfg(test)]
mod full_suite {
    use crate::registry::{Fidelity, run_checks};
    use crate::report::SuiteReport;

    /// The full-fidelity suite (minutes). Run with
    /// `cargo test -p attnflow-verify --release -- --ignored full_suite --nocapture`; set
    /// `ATTNFLOW_THEOREMS_REPORT=path` to also write the Markdown report there.
    #[test]
    #[ignore = "full fidelity takes minutes; run on demand"]
    fn full_suite_passes() {
        let start = std::time::Instant::now();
        let outcomes = run_checks(Fidelity::Full, &[]).expect("all ids known");
        let report = SuiteReport::new(Fidelity::Full, outcomes, start.elapsed().as_secs_f64());
        print!("{}", report.text_table());
        if let Ok(path) = std::env::var("ATTNFLOW_THEOREMS_REPORT") {
            std::fs::write(&path, report.markdown("attnflow verify --fidelity full"))
                .expect("report written");
        }
        assert!(report.all_passed());
    }
}

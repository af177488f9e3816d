//! Measured numbers for the report (slow: `cargo test -p attnflow-kuramoto --test report -- --ignored --nocapture`).

use attnflow_kuramoto::density::{DensityStudyParams, optimal_density_study};
use attnflow_kuramoto::four_particle::{FourParticleParams, four_particle_study};
use attnflow_kuramoto::landscape::{LandscapeParams, critical_points};
use attnflow_kuramoto::surrogate::{SplitParams, split_statistics};

#[test]
#[ignore = "minutes: landscape scan n = 3..8 at four beta"]
fn report_landscape() {
    for n in 3..=8usize {
        let nf = n as f64;
        let pi2 = std::f64::consts::PI.powi(2);
        for beta in [0.5, 1.0, 2.0, nf * nf / pi2, 4.0 * (nf - 1.0).powi(2) / pi2] {
            let mut p = LandscapeParams::new(n, beta, 1);
            p.starts = 300;
            let r = critical_points(&p).unwrap();
            println!(
                "n {n} beta {beta:.3}: points {} sync_max {} nonsync_max {} saddles {} minima {} degenerate {} failed {}",
                r.points.len(),
                r.synchronised_maxima,
                r.non_synchronised_local_maxima,
                r.strict_saddles,
                r.local_minima,
                r.degenerate,
                r.failed_starts
            );
        }
    }
}

#[test]
#[ignore = "about a minute: paper-size optimal densities"]
fn report_density() {
    let st = optimal_density_study(&DensityStudyParams::paper()).unwrap();
    println!(
        "slopes: funk-hecke {:.6} code-ansatz {:.6} exp-guess {:.6} measured {:.6}",
        st.funk_hecke_slope, st.code_ansatz_slope, st.exp_guess_slope, st.measured_slope
    );
    for e in &st.entries {
        println!(
            "eps {:+.3}: A {:+.5} A/eps {:.4} | err FH {:.3e} code {:.3e} exp {:.3e} | dev {:.3e} | E {:.8} (unif {:.8}) last dE {:.1e}",
            e.eps,
            e.measured_amplitude,
            if e.eps.abs() > 1e-12 {
                e.measured_amplitude / e.eps
            } else {
                f64::NAN
            },
            e.funk_hecke_error,
            e.code_ansatz_error,
            e.exp_guess_error,
            e.deviation_from_uniform,
            e.optimum.energy,
            e.optimum.uniform_energy,
            e.optimum.last_decrease
        );
    }
}

#[test]
#[ignore = "seconds: paper-size four-particle study"]
fn report_four_particles() {
    for r in four_particle_study(&FourParticleParams::paper()).unwrap() {
        println!(
            "d2 {:4.1}: a2* {:.6} E* {:.5} | tau 5e-4: a2 {:.6} E {:.5} | tau 0.05: a2 {:.6} E {:.5}",
            r.d2,
            r.predicted_a2,
            r.predicted_energy,
            r.stable.a2,
            r.stable.energy,
            r.unstable.a2,
            r.unstable.energy
        );
    }
}

#[test]
#[ignore = "minutes: reduced split experiment (20 reps instead of 100)"]
fn report_split() {
    let mut p = SplitParams::paper(2025);
    p.reps = 20;
    for pt in split_statistics(&p).unwrap() {
        println!(
            "s {:.3}: single {} two {} more {} | mean E {:.4} (single {:?}, two {:?}) e^max(s,1) {:.4}",
            pt.s,
            pt.single,
            pt.two,
            pt.more,
            pt.mean_energy,
            pt.mean_energy_single,
            pt.mean_energy_two,
            pt.dirac_energy
        );
    }
}

#[test]
#[ignore = "tens of seconds: extremiser checks at paper-like sizes"]
fn report_extremisers() {
    use attnflow_dynamics::SquareMatrix;
    use attnflow_kuramoto::surrogate::*;
    let rp = |n, steps, tau, seed| RunParams {
        n,
        steps,
        tau,
        seed,
        realisation: 0,
        delta: 1e-3,
    };
    let show = |c: ExtremiserCheck| {
        println!(
            "{} predicted {:.10} measured {:.10} reference {:?} clusters {:?}",
            c.id,
            c.predicted,
            c.measured,
            c.reference,
            c.clusters.map(|k| (k.shape, k.sizes))
        )
    };
    show(
        check_m1(
            &SquareMatrix::diagonal(&[1.0, 3.0, 4.0]),
            &rp(1, 500, 0.1, 1),
        )
        .unwrap(),
    );
    show(
        check_m1(
            &SquareMatrix::diagonal(&[1.0, 3.0, 4.0]),
            &rp(100, 500, 0.1, 1),
        )
        .unwrap(),
    );
    show(
        check_m2(
            &SquareMatrix::diagonal(&[-1.0, -3.0, -4.0]),
            &rp(100, 500, 0.1, 1),
        )
        .unwrap(),
    );
    show(
        check_m2(
            &SquareMatrix::identity(3).scaled(-1.0),
            &rp(100, 500, 0.1, 1),
        )
        .unwrap(),
    );
    for s in [0.2, 0.6, 0.9] {
        show(check_m3(s, &rp(100, 1500, 0.1, 1)).unwrap());
    }
    show(check_m1_min(1.0, 2, &rp(100, 4000, 0.5, 1)).unwrap());
    show(check_m1_min(1.0, 3, &rp(100, 4000, 0.1, 1)).unwrap());
    show(check_m2_min(1.0, 1.3, &rp(100, 4000, 0.5, 1), 1000).unwrap());
    show(
        check_m3_min(
            &SquareMatrix::diagonal(&[1.0, 0.0, 1.0]),
            &rp(100, 4000, 0.75, 1),
        )
        .unwrap(),
    );
    show(
        check_m3_min(
            &SquareMatrix::diagonal(&[0.0, 0.0, 1.0]),
            &rp(100, 4000, 0.75, 1),
        )
        .unwrap(),
    );
}

//! Micro-timing of one drift evaluation and one paper-Euler step.
use attnflow_dynamics::{
    Integrator, PaperEuler, SelfAttention, VectorField, Workspace, kernel, sampling,
};
use std::time::Instant;

fn main() {
    for d in [2usize, 8, 32] {
        let n = 32;
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(1, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        let model = SelfAttention::sa(4.0).unwrap();
        let mut ws = Workspace::default();
        let mut out = vec![0.0; n * d];
        let reps = 20000;
        let t = Instant::now();
        for _ in 0..reps {
            model
                .drift_into(x0.as_slice(), n, d, &mut out, &mut ws)
                .unwrap();
        }
        let drift = t.elapsed().as_secs_f64() / reps as f64 * 1e6;
        let mut g = vec![0.0; n * n];
        let t = Instant::now();
        for _ in 0..reps {
            kernel::gram(x0.as_slice(), n, d, &mut g);
        }
        let gram = t.elapsed().as_secs_f64() / reps as f64 * 1e6;
        let mut e = vec![-1.5; n * n];
        let t = Instant::now();
        for _ in 0..reps {
            kernel::exp_in_place(&mut e);
            e.iter_mut().for_each(|v| *v = -*v * 1e-3 - 1.0);
        }
        let exp = t.elapsed().as_secs_f64() / reps as f64 * 1e6;
        let mut x = x0.as_slice().to_vec();
        let mut integ = PaperEuler::default();
        let t = Instant::now();
        for _ in 0..reps {
            integ.step(&model, &mut x, n, d, 0.1).unwrap();
        }
        let step = t.elapsed().as_secs_f64() / reps as f64 * 1e6;
        println!(
            "n={n} d={d}: drift {drift:.2} us, gram {gram:.2} us, exp(1024) {exp:.2} us, euler step {step:.2} us"
        );
    }
}

//! Initial conditions, each drawn from the stream (seed, index, InitialCondition):
//!
//! - uniform: x_i i.i.d. uniform on S^{d-1} (normalised Gaussians; for the reduced representation
//!   the Bartlett factor of their Gram matrix), exactly as `attnflow_dynamics::ensemble` draws them;
//! - hemisphere: a uniform point reflected into {x: <x, e_1> > 0} (x_1 -> |x_1|), uniform there;
//! - equiangular(rho): x_i = a e_i + b (e_1 + ... + e_n), a = sqrt(1 - rho),
//!   b = (sqrt(1 + (n - 1) rho) - a) / n, so |x_i| = 1 and <x_i, x_j> = rho for i != j (\[GLPR\] 6.3);
//! - clusters(k, spread): centres c_1..c_k uniform; x_i = normalize(c + spread P_c g_i), c = c_{i mod k};
//! - points: the given array.

use crate::resolve::{InitPlan, Point};
use attnflow_dynamics::sampling::{
    Pcg64, fill_standard_normal, uniform_sphere, uniform_sphere_reduced,
};
use attnflow_dynamics::{Configuration, Representation, Result};

/// The initial configuration of `point` (in the coordinates it evolves: n x simulated dimension).
pub fn initial_configuration(point: &Point, rng: &mut Pcg64) -> Result<Configuration> {
    let (n, d) = (point.n, point.d);
    match &point.init {
        InitPlan::Uniform => match point.representation {
            Representation::Reduced => uniform_sphere_reduced(n, d, rng),
            Representation::Full => uniform_sphere(n, d, rng),
        },
        InitPlan::Hemisphere => hemisphere(n, d, rng),
        InitPlan::Equiangular { rho } => equiangular(n, d, *rho),
        InitPlan::Clusters { k, spread } => clusters(n, d, *k, *spread, rng),
        InitPlan::Points(data) => match point.geometry {
            crate::spec::GeometrySpec::Sphere => Configuration::normalized(n, d, data.clone()),
            crate::spec::GeometrySpec::Euclidean => Configuration::euclidean(n, d, data.clone()),
        },
    }
}

/// n points i.i.d. uniform on the open hemisphere <x, e_1> > 0.
pub fn hemisphere(n: usize, d: usize, rng: &mut Pcg64) -> Result<Configuration> {
    loop {
        let x = uniform_sphere(n, d, rng)?;
        let mut data = x.into_vec();
        if data.chunks_exact(d).any(|row| row[0] == 0.0) {
            continue; // probability zero: draw again
        }
        data.chunks_exact_mut(d)
            .for_each(|row| row[0] = row[0].abs());
        return Configuration::new(n, d, data);
    }
}

/// n unit vectors with pairwise inner products rho (d >= n, -1/(n-1) <= rho < 1).
pub fn equiangular(n: usize, d: usize, rho: f64) -> Result<Configuration> {
    let a = (1.0 - rho).sqrt();
    let b = ((1.0 + (n as f64 - 1.0) * rho).max(0.0).sqrt() - a) / n as f64;
    let mut data = vec![0.0; n * d];
    for i in 0..n {
        for j in 0..n {
            data[i * d + j] = b;
        }
        data[i * d + i] += a;
    }
    Configuration::new(n, d, data)
}

/// k uniform centres; particle i at normalize(c + spread P_c g), c the centre of i mod k.
pub fn clusters(
    n: usize,
    d: usize,
    k: usize,
    spread: f64,
    rng: &mut Pcg64,
) -> Result<Configuration> {
    let centres = uniform_sphere(k, d, rng)?;
    let mut data = vec![0.0; n * d];
    fill_standard_normal(rng, &mut data);
    for (i, row) in data.chunks_exact_mut(d).enumerate() {
        let c = centres.row(i % k);
        let along = attnflow_dynamics::config::dot(c, row);
        for (x, ci) in row.iter_mut().zip(c) {
            *x = ci + spread * (*x - along * ci);
        }
    }
    Configuration::normalized(n, d, data)
}

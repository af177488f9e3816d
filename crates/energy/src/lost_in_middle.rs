//! The retrieval profile of causal ALiBi attention on the circle ("lost in the middle", Duerinckx,
//! Geshkovski and Rossi, arXiv 2605.09213, and their public scripts): closed form, threshold time and
//! its finite-n counterpart.
//!
//! The model: n tokens th_0, ..., th_{n-1} on S^1, token j attends to the earlier tokens k < j,
//!
//! ```text
//! th_j' = sum_{k<j} W_jk K(th_j - th_k),   K(x) = -beta sin x e^{beta cos x} = d/dx e^{beta cos x},
//! W_jk  = e^{-(lambda/n)(j-k)} / sum_{k'<j} e^{-(lambda/n)(j-k')}   (k < j; th_0 never moves).
//! ```
//!
//! Conventions (checked against the authors' scripts): the ALiBi weight is the logit bias -(lambda/n)(j - k),
//! i.e. the multiplicative factor e^{-(lambda/n)(j-k)} in front of e^{beta cos}, with slope lambda/n (lambda
//! is the slope per unit of relative position s = j/n); the row normalisation sums the ALiBi factors only
//! (not e^{beta cos}: a USA-type field, not softmax) over the strictly earlier tokens; the interaction
//! carries the factor beta (the derivative of e^{beta cos x}). The project's USA field on S^1 is
//! th_i' = -(1/n) sum_j w_ij e^{beta cos(th_i - th_j)} sin(th_i - th_j) with pair weights w_ij, so this model is
//! USA with w_jk = n beta W_jk ([`engine_pair_weights`]), in the authors' time.
//!
//! Linearised at i.i.d. uniform tokens, the Fourier mode z_j = e^{-i m th_j} evolves as
//! z_j' = a_m sum_k W_jk z_k (+ terms with no correlation at leading order), a_m = m^2 I_m(beta) (the
//! mean-field growth rate of mode m at the uniform state with the factor beta), so
//! E[e^{-i m th_{n-1}(t)} e^{i m th_k(0)}] = [exp(a_m t W)]_{n-1, k} + O(n^{-2}). W is strictly lower
//! triangular, hence nilpotent, and the exponential is a finite sum ([`discrete_response_row`]).
//! As n -> infinity with s = j/n, n W_jk tends to the kernel lambda e^{-lambda (s - s')} / (1 - e^{-lambda s}),
//! which in the variable u = e^{lambda s} - 1 is the Hardy average (1/u) int_0^u; its exponential has the
//! kernel (into s = 1, from the source s)
//!
//! ```text
//! G_c(s) = [lambda e^{lambda s} / (e^lambda - 1)] psi_c(Y(s)),   Y(s) = log((e^lambda - 1) / (e^{lambda s} - 1)),
//! psi_c(y) = sum_{k>=0} c^{k+1} y^k / (k! (k+1)!) = sqrt(c / y) I_1(2 sqrt(c y)),
//! ```
//!
//! (lambda = 0: the coefficient is 1 and Y = log(1/s)). The soft-retrieval profile of the last token is
//!
//! ```text
//! S_t(s) = sum_{m=1}^{n_max} w_m G_{a_m t}(s),   w_m = exp(-pi^2 m^2 / (2 M^2)),
//! ```
//!
//! the authors' truncation (M = 8, n_max = 20). It is large at s -> 0 (primacy: Y -> infinity), and its
//! slope at s = 1 is r sum_m w_m (lambda a_m t - r (a_m t)^2 / 2), r = lambda / (1 - e^{-lambda}), positive
//! (recency, a U shape with an interior minimum) exactly for t < t_crit with
//!
//! ```text
//! t_crit(beta) = 2 (1 - e^{-lambda}) sum_m w_m a_m / sum_m w_m a_m^2.
//! ```
//!
//! What the profile measures (a choice; the scripts give the formula only): with
//! phi(x) = sum_{m=1}^{n_max} w_m cos(m x) (a wrapped Gaussian of width pi/M without its mean),
//! n E[phi(th_{n-1}(t) - th_k(0))] = n sum_m w_m [exp(a_m t W)]_{n-1, k} -> S_t(s_k), source k at s_k = (k + 1)/n
//! (so that its distance to the query, (n - 1 - k)/n, is the continuum distance 1 - s_k). A soft accuracy
//! normalised differently (a factor 2 for the modes -m, a constant) changes S by a positive affine map and
//! leaves the U shape and t_crit unchanged.

use crate::bessel::{bessel_i, bessel_i_scaled};
use crate::error::{EnergyError, Result, check_nonneg, check_positive};

/// The authors' Gaussian mode width M.
pub const AUTHORS_MODE_WIDTH: f64 = 8.0;
/// The authors' Fourier truncation n_max.
pub const AUTHORS_MODES: usize = 20;
/// Largest Fourier truncation accepted.
pub const MAX_MODES: usize = 1000;

/// The closed-form retrieval profile at (beta, lambda) with the mode weights of width M truncated at
/// n_max modes (see the module docs).
///
/// ```
/// use attnflow_energy::lost_in_middle::LostInMiddle;
/// let p = LostInMiddle::authors(1.0, 1.0).unwrap();
/// let t = p.t_crit();
/// assert!(t > 2.4 && t < 2.5);
/// // the right-end slope changes sign at t_crit
/// assert!(p.right_end_slope(0.99 * t) > 0.0 && p.right_end_slope(1.01 * t) < 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LostInMiddle {
    pub beta: f64,
    pub lambda: f64,
    pub mode_width: f64,
    pub modes: usize,
    /// e^{-beta} a_m for m = 1..=modes (finite for every beta).
    scaled_rates: Vec<f64>,
}

impl LostInMiddle {
    /// beta > 0 and lambda >= 0 finite, M > 0 finite, 1 <= n_max <= [`MAX_MODES`].
    pub fn new(beta: f64, lambda: f64, mode_width: f64, modes: usize) -> Result<Self> {
        check_positive("beta", beta)?;
        check_nonneg("lambda", lambda)?;
        check_positive("M", mode_width)?;
        if !(1..=MAX_MODES).contains(&modes) {
            return Err(EnergyError::InvalidParameter {
                name: "n_max",
                value: modes as f64,
                requirement: "an integer in [1, 1000]",
            });
        }
        let scaled_rates = (1..=modes)
            .map(|m| Ok((m * m) as f64 * bessel_i_scaled(m as f64, beta)?))
            .collect::<Result<Vec<f64>>>()?;
        Ok(Self {
            beta,
            lambda,
            mode_width,
            modes,
            scaled_rates,
        })
    }

    /// The authors' truncation: M = 8, n_max = 20.
    pub fn authors(beta: f64, lambda: f64) -> Result<Self> {
        Self::new(beta, lambda, AUTHORS_MODE_WIDTH, AUTHORS_MODES)
    }

    /// a_m = m^2 I_m(beta), m >= 1 (an error if it overflows f64, beta above ~ 700).
    pub fn mode_rate(&self, m: usize) -> Result<f64> {
        let a = (m * m) as f64 * bessel_i(m as f64, self.beta)?;
        Ok(a)
    }

    /// w_m = exp(-pi^2 m^2 / (2 M^2)).
    pub fn mode_weight(&self, m: usize) -> f64 {
        (-0.5 * (std::f64::consts::PI * m as f64 / self.mode_width).powi(2)).exp()
    }

    /// 1 - e^{-lambda} (lambda for small lambda, without cancellation).
    fn one_minus_decay(&self) -> f64 {
        -(-self.lambda).exp_m1()
    }

    /// t_crit = 2 (1 - e^{-lambda}) sum w_m a_m / sum w_m a_m^2 (computed with e^{-beta} a_m, so it is
    /// finite for every beta; lambda = 0 gives t_crit = 0: no recency without positional decay).
    pub fn t_crit(&self) -> f64 {
        let (mut s1, mut s2) = (0.0, 0.0);
        for (i, &a) in self.scaled_rates.iter().enumerate() {
            let w = self.mode_weight(i + 1);
            s1 += w * a;
            s2 += w * a * a;
        }
        2.0 * self.one_minus_decay() * s1 / s2 * (-self.beta).exp()
    }

    /// dS_t/ds at s = 1: r sum_m w_m (lambda a_m t - r (a_m t)^2 / 2) with r = lambda / (1 - e^{-lambda})
    /// (r = 1 at lambda = 0).
    pub fn right_end_slope(&self, t: f64) -> f64 {
        let q = self.one_minus_decay();
        let r = if self.lambda == 0.0 {
            1.0
        } else {
            self.lambda / q
        };
        let e = self.beta.exp();
        let mut sum = 0.0;
        for (i, &a) in self.scaled_rates.iter().enumerate() {
            let c = a * e * t;
            sum += self.mode_weight(i + 1) * (self.lambda * c - 0.5 * r * c * c);
        }
        r * sum
    }

    /// S_t(s) for t >= 0 and s in (0, 1].
    pub fn profile(&self, t: f64, s: f64) -> Result<f64> {
        check_nonneg("t", t)?;
        let mut total = 0.0;
        for m in 1..=self.modes {
            let c = self.mode_rate(m)? * t;
            total += self.mode_weight(m) * response_kernel(c, s, self.lambda)?;
        }
        finite("S_t(s)", total)
    }

    /// The finite-n linear prediction n sum_m w_m [exp(a_m t W)]_{n-1, k} for the sources k = 0..n-2
    /// (W = [`causal_alibi_weights`]; n >= 2).
    pub fn discrete_profile(&self, n: usize, t: f64) -> Result<Vec<f64>> {
        check_nonneg("t", t)?;
        let w = causal_alibi_weights(n, self.lambda)?;
        let mut out = vec![0.0; n - 1];
        for m in 1..=self.modes {
            let c = self.mode_rate(m)? * t;
            let row = discrete_response_row(&w, n, c)?;
            let weight = self.mode_weight(m);
            for (o, r) in out.iter_mut().zip(&row) {
                *o += weight * n as f64 * r;
            }
        }
        for v in &out {
            finite("discrete profile", *v)?;
        }
        Ok(out)
    }
}

fn finite(what: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(EnergyError::Numerical(format!("{what} overflows f64")))
    }
}

/// Y(s) = log((e^lambda - 1) / (e^{lambda s} - 1)) for s in (0, 1] (lambda = 0: log(1/s)).
pub fn hardy_log(s: f64, lambda: f64) -> Result<f64> {
    check_nonneg("lambda", lambda)?;
    if !(s > 0.0 && s <= 1.0) {
        return Err(EnergyError::InvalidParameter {
            name: "s",
            value: s,
            requirement: "in (0, 1]",
        });
    }
    if lambda == 0.0 {
        return Ok(-s.ln());
    }
    Ok((lambda.exp_m1() / (lambda * s).exp_m1()).ln())
}

/// psi_c(y) = sum_{k>=0} c^{k+1} y^k / (k! (k+1)!) for c, y >= 0: the series while c y <= 1, else its
/// closed form sqrt(c / y) I_1(2 sqrt(c y)).
pub fn psi(c: f64, y: f64) -> Result<f64> {
    check_nonneg("c", c)?;
    check_nonneg("y", y)?;
    let cy = c * y;
    if cy <= 1.0 {
        Ok(psi_series(c, y))
    } else {
        finite("psi", (c / y).sqrt() * bessel_i(1.0, 2.0 * cy.sqrt())?)
    }
}

/// The defining series of [`psi`] (terms decrease from the first when c y <= 2).
pub fn psi_series(c: f64, y: f64) -> f64 {
    let (mut term, mut total) = (c, c);
    let mut k = 0.0;
    while term > 1e-17 * total && k < 10_000.0 {
        term *= c * y / ((k + 1.0) * (k + 2.0));
        total += term;
        k += 1.0;
    }
    total
}

/// G_c(s) = [lambda e^{lambda s} / (e^lambda - 1)] psi_c(Y(s)), the continuum response of the query at
/// s = 1 to the source at s (lambda = 0: psi_c(log(1/s))).
pub fn response_kernel(c: f64, s: f64, lambda: f64) -> Result<f64> {
    let y = hardy_log(s, lambda)?;
    let coeff = if lambda == 0.0 {
        1.0
    } else {
        lambda * (lambda * s).exp() / lambda.exp_m1()
    };
    finite("G_c(s)", coeff * psi(c, y)?)
}

/// The authors' normalised causal ALiBi weights, row-major n x n: W_jk = e^{-(lambda/n)(j-k)} /
/// sum_{k'<j} e^{-(lambda/n)(j-k')} for k < j, zero on and above the diagonal (row 0 is zero). n >= 2.
pub fn causal_alibi_weights(n: usize, lambda: f64) -> Result<Vec<f64>> {
    check_nonneg("lambda", lambda)?;
    if n < 2 {
        return Err(EnergyError::InvalidParameter {
            name: "n",
            value: n as f64,
            requirement: ">= 2",
        });
    }
    let len = n.checked_mul(n).ok_or(EnergyError::InvalidParameter {
        name: "n",
        value: n as f64,
        requirement: "with n * n representable",
    })?;
    let slope = lambda / n as f64;
    let mut w = vec![0.0; len];
    for j in 1..n {
        let row = &mut w[j * n..j * n + j];
        for (k, v) in row.iter_mut().enumerate() {
            *v = (-slope * (j - k) as f64).exp();
        }
        let z: f64 = row.iter().sum();
        for v in row.iter_mut() {
            *v /= z;
        }
    }
    Ok(w)
}

/// The pair weights that make the project's USA field the model of this module: w_jk = n beta W_jk
/// (row-major n x n), with w_00 = 1 because every row needs a positive weight (the USA self term
/// e^{beta} P_{x_0} x_0 vanishes, so token 0 stays still as in the model).
pub fn engine_pair_weights(n: usize, lambda: f64, beta: f64) -> Result<Vec<f64>> {
    check_positive("beta", beta)?;
    let mut w = causal_alibi_weights(n, lambda)?;
    let scale = n as f64 * beta;
    for v in w.iter_mut() {
        *v *= scale;
    }
    w[0] = 1.0;
    Ok(w)
}

/// Row n-1 of exp(c W) - I for a strictly lower-triangular W (row-major n x n), entries k = 0..n-2:
/// the finite sum sum_{p=1}^{n-1} c^p / p! e_{n-1}^T W^p (W^n = 0), stopped once the terms are below
/// 1e-17 of the sum.
pub fn discrete_response_row(w: &[f64], n: usize, c: f64) -> Result<Vec<f64>> {
    check_nonneg("c", c)?;
    if n < 2 || w.len() != n * n {
        return Err(EnergyError::ShapeMismatch(format!(
            "weights of length {} for n = {n} (n >= 2)",
            w.len()
        )));
    }
    let mut term = vec![0.0; n];
    term[n - 1] = 1.0;
    let mut total = vec![0.0; n];
    for p in 1..n {
        // term <- (c / p) term W
        let mut next = vec![0.0; n];
        for (j, &tj) in term.iter().enumerate() {
            if tj != 0.0 {
                for (nk, wjk) in next[..j].iter_mut().zip(&w[j * n..j * n + j]) {
                    *nk += tj * wjk;
                }
            }
        }
        let scale = c / p as f64;
        let mut size: f64 = 0.0;
        for (t, nx) in term.iter_mut().zip(&next) {
            *t = scale * nx;
            size = size.max(t.abs());
        }
        for (s, t) in total.iter_mut().zip(&term) {
            *s += t;
        }
        let norm = total.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
        if size <= 1e-17 * norm {
            break;
        }
    }
    total.truncate(n - 1);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::integrate;

    #[test]
    fn psi_series_equals_its_bessel_closed_form() {
        for &(c, y) in &[
            (0.5, 0.3),
            (0.9, 1.1),
            (2.0, 0.5),
            (1.3, 3.0),
            (4.0, 2.5),
            (0.1, 9.0),
        ] {
            let series = psi_series(c, y);
            let closed = (c / y).sqrt() * bessel_i(1.0, 2.0 * (c * y).sqrt()).unwrap();
            assert!((series - closed).abs() < 1e-13 * closed, "c {c} y {y}");
            assert!((psi(c, y).unwrap() - closed).abs() < 1e-13 * closed);
        }
        assert_eq!(psi(0.7, 0.0).unwrap(), 0.7);
    }

    /// The kernel G_c solves the Volterra equation d/dt G = a K G in its integrated form: the Hardy
    /// average of G_c plus its source term. Checked through the identity dG_c/dc = delta + K G_c: for
    /// the query at s = 1, dG_c(s)/dc = k(1, s) + int_s^1 k(1, s') G_c(s'; from s) ds'. Easier and
    /// equivalent: exp((c1 + c2) K) = exp(c1 K) exp(c2 K), the semigroup property, with the composition
    /// by quadrature over the intermediate position (kernels from s to s' rescale to s' = 1 by the
    /// Hardy variable u).
    #[test]
    fn kernel_is_a_semigroup_by_quadrature() {
        let lambda = 1.3;
        let u = |s: f64| (lambda * s).exp_m1();
        // kernel of exp(cK) - I from s to r (s < r) in the u variable: (1/u_r) psi_c(log(u_r/u_s)) du_s
        let g = |c: f64, s: f64, r: f64| -> f64 {
            let du = lambda * (lambda * s).exp();
            du / u(r) * psi(c, (u(r) / u(s)).ln()).unwrap()
        };
        let (c1, c2, s) = (0.7, 1.1, 0.35);
        let direct = g(c1 + c2, s, 1.0);
        let middle = integrate(&|r: f64| g(c1, r, 1.0) * g(c2, s, r), s, 1.0, 1e-12, 0.0).unwrap();
        let composed = g(c1, s, 1.0) + g(c2, s, 1.0) + middle;
        assert!(
            (direct - composed).abs() < 1e-9 * direct,
            "{direct} vs {composed}"
        );
        // and g at r = 1 is the documented response_kernel
        let k = response_kernel(c1, s, lambda).unwrap();
        assert!((g(c1, s, 1.0) - k).abs() < 1e-14 * k);
    }

    /// The finite-n prediction, computed by the nilpotent matrix exponential of the authors' weights,
    /// tends to the closed form as n grows (error O(1/n)): an independent computation of S_t.
    #[test]
    fn discrete_profile_converges_to_the_closed_form() {
        let p = LostInMiddle::authors(1.0, 1.0).unwrap();
        let t = 1.5;
        let mut errors = Vec::new();
        for n in [100, 400] {
            let d = p.discrete_profile(n, t).unwrap();
            let mut worst: f64 = 0.0;
            for (k, v) in d.iter().enumerate() {
                let s = (k + 1) as f64 / n as f64;
                if s >= 0.1 {
                    let exact = p.profile(t, s).unwrap();
                    worst = worst.max((v - exact).abs() / exact);
                }
            }
            errors.push(worst);
        }
        assert!(errors[1] < 6e-3, "{errors:?}");
        // first order: four times the tokens, about a quarter of the error
        assert!(errors[1] < 0.35 * errors[0], "{errors:?}");
    }

    #[test]
    fn t_crit_is_the_root_of_the_finite_difference_slope() {
        for &(beta, lambda) in &[(1.0, 1.0), (2.0, 0.5), (0.5, 3.0)] {
            let p = LostInMiddle::authors(beta, lambda).unwrap();
            let slope = |t: f64| {
                let h = 1e-4;
                (p.profile(t, 1.0).unwrap() - p.profile(t, 1.0 - h).unwrap()) / h
            };
            let tc = p.t_crit();
            assert!(
                slope(0.95 * tc) > 0.0 && slope(1.05 * tc) < 0.0,
                "beta {beta}"
            );
            let fd = slope(0.5 * tc);
            let closed = p.right_end_slope(0.5 * tc);
            assert!(
                (fd - closed).abs() < 1e-3 * closed.abs(),
                "{fd} vs {closed}"
            );
        }
    }

    #[test]
    fn causal_weights_are_the_authors_rows() {
        let w = causal_alibi_weights(4, 2.0).unwrap();
        // row 2: e^{-(1/2) 2}, e^{-(1/2) 1} normalised
        let (a, b) = ((-1.0f64).exp(), (-0.5f64).exp());
        assert!((w[8] - a / (a + b)).abs() < 1e-16 && (w[9] - b / (a + b)).abs() < 1e-16);
        assert_eq!(&w[..4], &[0.0; 4]);
        assert_eq!(w[4], 1.0);
        assert!(w[10] == 0.0 && w[11] == 0.0);
    }
}

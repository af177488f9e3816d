//! An energy-stable time step for the attention dynamics that are gradient flows, \[GLPR\] section 3:
//! the interaction energy never decreases from one step to the next, whatever the step size.
//!
//! With B = Q^T K symmetric and V = B (B = V = I for (SA) and (USA) of \[GLPR\] (2.6)), one head,
//! no mask, on the sphere, the dynamics are gradient flows of
//!
//! ```text
//! E_B(X) = (1/(2 beta n^2)) sum_ij e^{beta x_i^T B x_j},   grad_i E_B = (1/n^2) sum_j e^{beta x_i^T B x_j} B x_j
//! ```
//!
//! (\[GLPR\] (3.5) for B = I; section 3.4 otherwise, here with the same 1/n^2 as (3.5):
//! `attnflow_energy::particle::bilinear_energy` omits it) in the metric
//! `<u, v>_X = sum_i w_i(X) <u_i, v_i>` on the tangent space of (S^{d-1})^n:
//!
//! - (USA): `xdot_i = (1/n) sum_j e^{beta x_i^T B x_j} B x_j` projected = n P_{x_i} grad_i E, so
//!   w_i = 1/n and dE/dt = (1/n) sum_i |xdot_i|^2 (\[GLPR\] (3.6));
//! - (SA): `xdot_i = P_{x_i} (1/Z_i) sum_j e^{beta x_i^T B x_j} B x_j` = (n^2 / Z_i) P_{x_i} grad_i E
//!   with Z_i = sum_k e^{beta x_i^T B x_k}, so w_i = Z_i / n^2 and dE/dt = (1/n^2) sum_i Z_i |xdot_i|^2
//!   (\[GLPR\] (3.11)).
//!
//! The energy increases along the flow. The step is the minimising movement (De Giorgi; Jordan,
//! Kinderlehrer and Otto 1998) of the energy with the metric weights frozen at the current state
//! X^k, i.e. implicit Euler for the gradient flow:
//!
//! ```text
//! X^{k+1} = argmax over (S^{d-1})^n of  Phi(X) = E(X) - (1/(2h)) sum_i w_i(X^k) |x_i - x_i^k|^2
//! ```
//!
//! Its first-order conditions are x_i^{k+1} = normalize(w_i x_i^k + h grad_i E(X^{k+1})), i.e.
//! x_i^{k+1} = normalize(x_i^k + h drift_i(X^{k+1})) with the field's unprojected drift: the paper's
//! Euler step with the drift taken at the end of the step. First order (consistent with the flow,
//! as implicit Euler).
//!
//! The first proposal, from X = X^k, is the paper's Euler step x_i^k + h drift_i(X^k), renormalised.
//! The maximiser is then found by an ascent on Phi: at the iterate X, the proposal
//! Y_i = normalize(w_i x_i^k + h grad_i E(X)) (the fixed-point map of the first-order conditions,
//! an ascent direction of Phi on the sphere) is accelerated by Anderson mixing of depth 5 (Walker
//! and Ni 2011) over the last iterates; the accelerated point, renormalised, is taken when it keeps
//! Phi, else the damped proposals X + t (Y - X), renormalised, t from twice the last accepted
//! damping (at most 1) halved at most 20 times. A trial is kept when
//!
//! - Phi(trial) >= Phi(X^k) = E(X^k), exactly (the guarantee), and
//! - Phi(trial) >= Phi(X) - 16 eps (|terms of E| + penalty) (the ascent, up to the round-off of
//!   Phi; without that slack the last digits of Phi stall the iteration near its maximiser).
//!
//! The ascent stops when the proposal moves every point by at most the tolerance (the proposal is
//! then the state if it is kept), when no trial is kept (stationary to round-off), or after
//! [`EnergyStable::MAX_ITERATIONS`] kept iterates; the state is the last kept iterate. Every kept
//! iterate has Phi >= Phi(X^k) and the penalty is >= 0, so E(X^{k+1}) >= Phi(X^{k+1}) >= E(X^k):
//! exactly for the values computed by [`GradientFlow::energy_level`] (the penalty is a
//! non-negative number subtracted, the first value is the energy itself at X^k, and the state
//! returned is the iterate that was evaluated), for every h > 0. Every iterate is renormalised,
//! so the points stay on the sphere to round-off.
//!
//! Cost: one evaluation (energy level and gradient together, O(n^2 d) like one field evaluation)
//! per trial, plus O(m^2 n d), m <= 5, per Anderson extrapolation. Measured (n = 16, d = 3, beta = 4, uniform
//! start, mean over 200 steps, `tests/energy_stable.rs`): USA 5.9 / 3.0 / 3.0 evaluations per step
//! at h = 0.1 / 1 / 10 (26 / 15 / 21 over the first 10 steps, before the clusters form), SA
//! 7.0 / 13.8 / 2.7 (9 / 13 / 16). The counters in [`IntegrationStats`]: `accepted` the
//! kept inner iterates, `rejected` the trials not kept, `evaluations` one per step at X^k plus one
//! per trial.
//!
//! To compare energies without overflow and without the constant 1/(2 beta), the step works with an
//! increasing affine function of E_B, [`GradientFlow::energy_level`]: E_B - 1/(2 beta) =
//! (1/(2 n^2)) sum_ij expm1(beta x_i^T B x_j) / beta when beta m <= 1 (at beta = 0 its limit
//! (1/(2 n^2)) sum_ij x_i^T B x_j), e^{-beta m} E_B otherwise, where m = 1 for B = I and the
//! Frobenius norm of B otherwise bounds x_i^T B x_j on the sphere.

use crate::error::{DynamicsError, Result, invalid};
use crate::integrate::{IntegrationStats, Integrator, check_step, finite_state};
use crate::kernel::{self, AlignedBuf};
use crate::matrix::SquareMatrix;
use crate::model::{Geometry, Mask, ModelKind, SelfAttention, Value, VectorField};

/// A field that is a gradient flow of E_B (see the module docs): beta, the normalisation and B
/// (None = I). Returned by [`VectorField::gradient_flow`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradientFlow {
    beta: f64,
    model: ModelKind,
    interaction: Option<SquareMatrix>,
    /// The shift s of the energy level: 0 (the expm1 form) or the bound m on x_i^T B x_j.
    shift: f64,
}

/// Entries equal within 8 machine epsilons of the largest entry of either matrix.
fn equal_to_round_off(a: &SquareMatrix, b: &SquareMatrix) -> bool {
    let largest = a
        .as_slice()
        .iter()
        .chain(b.as_slice())
        .fold(0.0_f64, |m, v| m.max(v.abs()));
    a.dim() == b.dim()
        && a.as_slice()
            .iter()
            .zip(b.as_slice())
            .all(|(x, y)| (x - y).abs() <= 8.0 * f64::EPSILON * largest)
}

/// What the energy-stable step needs of a field: the start of every refusal (here and in the
/// experiment specs).
pub const REQUIREMENT: &str = "energy-stable needs a gradient-flow field ([GLPR] section 3: one head, B = Q^T K symmetric, V = B, no mask, on the sphere)";

/// The reason a field is not a gradient flow, as the error of [`VectorField::gradient_flow`].
pub(crate) fn not_a_gradient_flow(reason: impl std::fmt::Display) -> DynamicsError {
    invalid("integrator", format!("{REQUIREMENT}: {reason}"))
}

impl GradientFlow {
    /// The gradient flow of E_B for a single head with B symmetric (None = I), with the model's
    /// normalisation; beta finite and >= 0, B symmetric to round-off (8 machine epsilons of its
    /// largest entry, e.g. Q^T K computed elsewhere).
    pub fn new(beta: f64, model: ModelKind, interaction: Option<SquareMatrix>) -> Result<Self> {
        crate::validate::check_non_negative("beta", beta)?;
        if let Some(b) = &interaction
            && !equal_to_round_off(b, &b.transpose())
        {
            return Err(not_a_gradient_flow("B = Q^T K is not symmetric"));
        }
        let bound = match &interaction {
            None => 1.0,
            Some(b) => b.as_slice().iter().map(|v| v * v).sum::<f64>().sqrt(),
        };
        let shift = if beta * bound <= 1.0 { 0.0 } else { bound };
        Ok(Self {
            beta,
            model,
            interaction,
            shift,
        })
    }

    /// The gradient flow of a [`SelfAttention`] field, or why it is none: one head, B symmetric
    /// and V = B (V = I with B = I), no mask, on the sphere.
    pub fn of_self_attention(field: &SelfAttention) -> Result<Self> {
        let [head] = field.heads() else {
            return Err(not_a_gradient_flow(format!(
                "the field has {} heads",
                field.heads().len()
            )));
        };
        if field.geometry() != Geometry::Sphere {
            return Err(not_a_gradient_flow("the field lives in R^d ([GLPR] (9.1))"));
        }
        if !field.normalization().is_post_ln() {
            return Err(not_a_gradient_flow(format!(
                "the field has the {} normalisation (a speed factor 1/s_i)",
                field.normalization().name()
            )));
        }
        if !matches!(field.mask(), Mask::Full) {
            return Err(not_a_gradient_flow("the field has a mask"));
        }
        let value_is_interaction = match (&head.interaction, &head.value) {
            (None, Value::Identity) => true,
            (None, Value::Matrix(v)) => equal_to_round_off(v, &SquareMatrix::identity(v.dim())),
            (Some(b), Value::Identity) => equal_to_round_off(b, &SquareMatrix::identity(b.dim())),
            (Some(b), Value::Matrix(v)) => equal_to_round_off(b, v),
            (_, Value::NegIdentity) => false,
        };
        if !value_is_interaction {
            return Err(not_a_gradient_flow("the value matrix V differs from B"));
        }
        Self::new(field.beta(), field.model(), head.interaction.clone())
    }

    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// (SA) or (USA): the metric weights Z_i / n^2 or 1 / n.
    pub fn model(&self) -> ModelKind {
        self.model
    }
    /// B (None = I).
    pub fn interaction(&self) -> Option<&SquareMatrix> {
        self.interaction.as_ref()
    }

    /// The energy level the step keeps non-decreasing: an increasing affine function of E_B(X)
    /// (see the module docs: E_B - 1/(2 beta) or e^{-beta m} E_B, fixed per field), of the
    /// row-major state x (n x d).
    pub fn energy_level(&self, x: &[f64], n: usize, d: usize) -> Result<f64> {
        let mut evaluation = Evaluation::default();
        self.evaluate(x, n, d, &mut evaluation)?;
        Ok(evaluation.level)
    }

    /// E_B(X) = e^{beta s} level + (1/(2 beta) when s = 0): the energy itself (beta > 0; may
    /// overflow to inf where the level does not).
    pub fn energy(&self, x: &[f64], n: usize, d: usize) -> Result<f64> {
        crate::validate::check_positive("beta", self.beta)?;
        let level = self.energy_level(x, n, d)?;
        Ok(if self.shift == 0.0 {
            level + 0.5 / self.beta
        } else {
            crate::exp::exp(self.beta * self.shift) * level
        })
    }

    /// Level, gradient of the level (the rows (1/n^2) sum_j e^{beta (L_ij - s)} B x_j) and row
    /// sums sum_j e^{beta (L_ij - s)} at x, with L_ij = x_i^T B x_j.
    fn evaluate(&self, x: &[f64], n: usize, d: usize, out: &mut Evaluation) -> Result<()> {
        crate::validate::check_state_len("x", x.len(), n, d)?;
        if let Some(b) = &self.interaction
            && b.dim() != d
        {
            let m = b.dim();
            return Err(invalid(
                "d",
                format!("weight matrices are {m} x {m} but particles live in R^{d}"),
            ));
        }
        out.resize(n, d);
        let Evaluation {
            level,
            magnitude,
            gradient,
            row_sums,
            logits,
            images,
        } = out;
        // images: the rows B x_j (x_j^T B = (B x_j)^T, B symmetric)
        match &self.interaction {
            None => {
                images.copy_from_slice(x);
                kernel::gram(x, n, d, logits);
            }
            Some(b) => {
                kernel::rows_times_matrix(x, n, d, b.as_slice(), images);
                kernel::cross(images, x, n, n, d, logits);
            }
        }
        let (beta, shift) = (self.beta, self.shift);
        // sum of e^{beta (L_ij - s)} (s > 0), of expm1(beta L_ij) (s = 0, beta > 0), of L_ij (beta = 0)
        let (mut sum, mut sum_abs) = (0.0, 0.0);
        for (row, z) in logits.chunks_exact_mut(n).zip(row_sums.iter_mut()) {
            for l in row.iter_mut() {
                let weight = crate::exp::exp(beta * (*l - shift));
                let term = if shift != 0.0 {
                    weight
                } else if beta > 0.0 {
                    (beta * *l).exp_m1()
                } else {
                    *l
                };
                sum += term;
                sum_abs += term.abs();
                *l = weight;
            }
            *z = row.iter().sum();
        }
        let nn = (n * n) as f64;
        let denominator = if beta > 0.0 {
            2.0 * beta * nn
        } else {
            2.0 * nn
        };
        *level = sum / denominator;
        *magnitude = sum_abs / denominator;
        kernel::matmul(logits, images, n, n, d, gradient);
        gradient.iter_mut().for_each(|g| *g /= nn);
        if !level.is_finite() || !gradient.iter().all(|g| g.is_finite()) {
            return Err(DynamicsError::NonFiniteState { t: f64::NAN });
        }
        Ok(())
    }

    /// The metric weights w_i at x^k (in the units of the level: times e^{-beta s}) into `w`:
    /// e^{-beta s} / n (USA) or sum_j e^{beta (L_ij - s)} / n^2 (SA).
    fn metric_weights(&self, at: &Evaluation, n: usize, w: &mut [f64]) {
        match self.model {
            ModelKind::Usa => w.fill(crate::exp::exp(-self.beta * self.shift) / n as f64),
            ModelKind::Sa => {
                let nn = (n * n) as f64;
                w.iter_mut()
                    .zip(at.row_sums.iter())
                    .for_each(|(w, z)| *w = z / nn);
            }
        }
    }
}

/// The values of [`GradientFlow::evaluate`] and its scratch.
#[derive(Debug, Default, Clone)]
struct Evaluation {
    level: f64,
    /// The level's sum with every term by its absolute value (its round-off scale).
    magnitude: f64,
    gradient: AlignedBuf,
    row_sums: AlignedBuf,
    logits: AlignedBuf,
    images: AlignedBuf,
}

impl Evaluation {
    fn resize(&mut self, n: usize, d: usize) {
        self.gradient.resize(n * d);
        self.row_sums.resize(n);
        self.logits.resize(n * n);
        self.images.resize(n * d);
    }
}

/// The energy-stable step (see the module docs): the minimising movement of the energy for the
/// gradient-flow attention fields, solved by a monotone ascent to a tolerance on the displacement
/// of the proposal. Any other field is refused with [`DynamicsError::InvalidParameter`] (name
/// `integrator`).
///
/// ```
/// use attnflow_dynamics::{EnergyStable, Integrator, SelfAttention, VectorField, sampling};
///
/// let field = SelfAttention::usa(4.0)?;
/// let flow = field.gradient_flow()?;
/// let x0 = sampling::uniform_sphere(8, 3, &mut sampling::stream(1, 0, sampling::Purpose::Other(0)))?;
/// let mut x = x0.as_slice().to_vec();
/// let mut step = EnergyStable::default();
/// let mut level = flow.energy_level(&x, 8, 3)?;
/// for _ in 0..5 {
///     step.step(&field, &mut x, 8, 3, 10.0)?; // a step far beyond any explicit scheme's
///     let next = flow.energy_level(&x, 8, 3)?;
///     assert!(next >= level);
///     level = next;
/// }
/// assert!(step.step(&SelfAttention::usa(4.0)?.with_causal_mask(), &mut x, 8, 3, 0.1).is_err());
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct EnergyStable {
    tol: f64,
    current: Evaluation,
    trial: Evaluation,
    start: AlignedBuf,
    iterate: AlignedBuf,
    proposal: AlignedBuf,
    candidate: AlignedBuf,
    weights: AlignedBuf,
    history: AndersonHistory,
    capped: u64,
    stats: IntegrationStats,
}

impl Default for EnergyStable {
    fn default() -> Self {
        Self::with_tolerance(Self::DEFAULT_TOLERANCE)
    }
}

impl EnergyStable {
    /// The default tolerance on the displacement max_i |y_i - x_i| of the proposal.
    pub const DEFAULT_TOLERANCE: f64 = 1e-10;
    /// The most accepted ascent iterations within one step.
    pub const MAX_ITERATIONS: usize = 500;
    /// The most halvings of the damping within one iteration (t >= 2^-20).
    const MAX_HALVINGS: usize = 20;

    /// The step with tolerance `tol` on the displacement of the proposal (finite, at least 100
    /// machine epsilons).
    pub fn new(tol: f64) -> Result<Self> {
        crate::validate::check_tolerance("tol", tol)?;
        Ok(Self::with_tolerance(tol))
    }
    fn with_tolerance(tol: f64) -> Self {
        Self {
            tol,
            current: Evaluation::default(),
            trial: Evaluation::default(),
            start: AlignedBuf::default(),
            iterate: AlignedBuf::default(),
            proposal: AlignedBuf::default(),
            candidate: AlignedBuf::default(),
            weights: AlignedBuf::default(),
            history: AndersonHistory::default(),
            capped: 0,
            stats: IntegrationStats::default(),
        }
    }
    /// The tolerance on the displacement of the proposal.
    pub fn tolerance(&self) -> f64 {
        self.tol
    }
    /// Steps that ended at [`Self::MAX_ITERATIONS`] before the tolerance (their state is still
    /// the best iterate, with energy at least that of the step's start).
    pub fn capped_steps(&self) -> u64 {
        self.capped
    }

    /// Evaluates the candidate and takes it as the current iterate (true) when Phi(candidate) is
    /// at least Phi(X^k) (`phi_start`, the guarantee) and at least `phi` less its round-off (the
    /// ascent: 16 machine epsilons of the magnitudes summed), updating `phi`.
    fn try_candidate(
        &mut self,
        flow: &GradientFlow,
        n: usize,
        d: usize,
        h: f64,
        phi_start: f64,
        phi: &mut f64,
    ) -> Result<bool> {
        flow.evaluate(&self.candidate, n, d, &mut self.trial)?;
        self.stats.evaluations += 1;
        let penalty: f64 = self
            .candidate
            .chunks_exact(d)
            .zip(self.start.chunks_exact(d))
            .zip(self.weights.iter())
            .map(|((x, x0), w)| {
                w * x
                    .iter()
                    .zip(x0)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / (2.0 * h);
        let trial_phi = self.trial.level - penalty;
        let round_off = 16.0 * f64::EPSILON * (self.trial.magnitude + penalty);
        if trial_phi >= phi_start && trial_phi >= *phi - round_off {
            *phi = trial_phi;
            std::mem::swap(&mut self.current, &mut self.trial);
            std::mem::swap(&mut self.iterate, &mut self.candidate);
            self.stats.accepted += 1;
            Ok(true)
        } else {
            self.stats.rejected += 1;
            Ok(false)
        }
    }
}

impl Integrator for EnergyStable {
    fn name(&self) -> &'static str {
        "energy-stable"
    }
    fn order(&self) -> u32 {
        1
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        let flow = field.gradient_flow()?;
        let len = n * d;
        for buf in [
            &mut self.start,
            &mut self.iterate,
            &mut self.proposal,
            &mut self.candidate,
        ] {
            buf.resize(len);
        }
        self.weights.resize(n);
        self.start.copy_from_slice(x);
        self.iterate.copy_from_slice(x);
        flow.evaluate(x, n, d, &mut self.current)?;
        self.stats.steps += 1;
        self.stats.evaluations += 1;
        flow.metric_weights(&self.current, n, &mut self.weights);
        // Phi at X^k: the penalty vanishes
        let phi_start = self.current.level;
        let mut phi = phi_start;
        let mut damping: f64 = 1.0;
        let mut converged = false;
        self.history.clear();
        for _ in 0..Self::MAX_ITERATIONS {
            // proposal y_i = normalize(w_i x_i^k + h grad_i E(X)) and its displacement
            let mut displacement: f64 = 0.0;
            for i in 0..n {
                let rows = i * d..(i + 1) * d;
                let (x0, g) = (
                    &self.start[rows.clone()],
                    &self.current.gradient[rows.clone()],
                );
                let y = &mut self.proposal[rows.clone()];
                for k in 0..d {
                    y[k] = self.weights[i] * x0[k] + h * g[k];
                }
                let norm = crate::config::dot(y, y).sqrt();
                if norm > 0.0 && norm.is_finite() {
                    y.iter_mut().for_each(|v| *v /= norm);
                } else {
                    y.copy_from_slice(&self.iterate[rows.clone()]);
                }
                let moved = y
                    .iter()
                    .zip(&self.iterate[rows])
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                displacement = displacement.max(moved);
            }
            converged = displacement <= self.tol;
            if converged {
                // within the tolerance: the proposal itself, where it keeps Phi
                self.candidate.copy_from_slice(&self.proposal);
                self.try_candidate(&flow, n, d, h, phi_start, &mut phi)?;
                break;
            }
            self.history.push(&self.iterate, &self.proposal);
            // the Anderson-extrapolated proposal, else damped trials X + t (Y - X), renormalised
            let mut accepted = false;
            if self.history.extrapolate(&mut self.candidate) {
                finite_state(kernel::normalize_rows(&mut self.candidate, d))?;
                accepted = self.try_candidate(&flow, n, d, h, phi_start, &mut phi)?;
            }
            let mut t = (2.0 * damping).min(1.0);
            for _ in 0..Self::MAX_HALVINGS {
                if accepted {
                    break;
                }
                if t == 1.0 {
                    self.candidate.copy_from_slice(&self.proposal);
                } else {
                    for ((c, x), y) in self
                        .candidate
                        .iter_mut()
                        .zip(self.iterate.iter())
                        .zip(self.proposal.iter())
                    {
                        *c = x + t * (y - x);
                    }
                    finite_state(kernel::normalize_rows(&mut self.candidate, d))?;
                }
                accepted = self.try_candidate(&flow, n, d, h, phi_start, &mut phi)?;
                if accepted {
                    damping = t;
                } else {
                    t *= 0.5;
                }
            }
            if !accepted {
                // stationary to round-off
                converged = true;
                break;
            }
        }
        if !converged {
            self.capped += 1;
        }
        x.copy_from_slice(&self.iterate);
        Ok(())
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

/// Anderson acceleration of the proposal map G (type II; Walker and Ni 2011, "Anderson
/// acceleration for fixed-point iterations"): from the last m + 1 <= [`Self::DEPTH`] + 1 iterates
/// x_j and proposals g_j = G(x_j), with residuals f_j = g_j - x_j, the extrapolation
/// g_k - sum_a gamma_a (g_{a+1} - g_a), gamma minimising |f_k - sum_a gamma_a (f_{a+1} - f_a)|
/// (normal equations with a relative Tikhonov term 1e-12). The step only takes it where it does
/// not decrease Phi.
#[derive(Debug, Clone, Default)]
struct AndersonHistory {
    /// (iterate, proposal), oldest first.
    pairs: std::collections::VecDeque<(Vec<f64>, Vec<f64>)>,
}

impl AndersonHistory {
    const DEPTH: usize = 5;

    fn clear(&mut self) {
        self.pairs.clear();
    }

    fn push(&mut self, x: &[f64], g: &[f64]) {
        let (mut xs, mut gs) = if self.pairs.len() > Self::DEPTH {
            self.pairs.pop_front().unwrap_or_default()
        } else {
            Default::default()
        };
        xs.clear();
        xs.extend_from_slice(x);
        gs.clear();
        gs.extend_from_slice(g);
        self.pairs.push_back((xs, gs));
    }

    /// The extrapolation into `out` (not renormalised); false with fewer than two pairs or a
    /// degenerate least-squares problem.
    fn extrapolate(&self, out: &mut [f64]) -> bool {
        let k = self.pairs.len();
        if k < 2 {
            return false;
        }
        let m = k - 1;
        let residual = |j: usize, i: usize| self.pairs[j].1[i] - self.pairs[j].0[i];
        let mut normal = [[0.0; Self::DEPTH]; Self::DEPTH];
        let mut rhs = [0.0; Self::DEPTH];
        let mut df = [0.0; Self::DEPTH];
        for i in 0..out.len() {
            for (a, v) in df[..m].iter_mut().enumerate() {
                *v = residual(a + 1, i) - residual(a, i);
            }
            let last = residual(k - 1, i);
            for a in 0..m {
                rhs[a] += df[a] * last;
                for b in 0..m {
                    normal[a][b] += df[a] * df[b];
                }
            }
        }
        let largest = (0..m).map(|a| normal[a][a]).fold(0.0, f64::max);
        if !(largest > 0.0 && largest.is_finite()) {
            return false;
        }
        for (a, row) in normal[..m].iter_mut().enumerate() {
            row[a] += 1e-12 * largest;
        }
        let Some(gamma) = solve_small(&mut normal, &mut rhs, m) else {
            return false;
        };
        let (_, g_last) = &self.pairs[k - 1];
        for (i, o) in out.iter_mut().enumerate() {
            let mut v = g_last[i];
            for (a, c) in gamma[..m].iter().enumerate() {
                v -= c * (self.pairs[a + 1].1[i] - self.pairs[a].1[i]);
            }
            *o = v;
        }
        true
    }
}

/// Solves the m x m system `a gamma = b` (m <= [`AndersonHistory::DEPTH`]) by Gaussian
/// elimination with partial pivoting; None when a pivot vanishes or the solution is not finite.
fn solve_small(
    a: &mut [[f64; AndersonHistory::DEPTH]; AndersonHistory::DEPTH],
    b: &mut [f64; AndersonHistory::DEPTH],
    m: usize,
) -> Option<[f64; AndersonHistory::DEPTH]> {
    for col in 0..m {
        let pivot = (col..m).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col] == 0.0 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (offset, row) in lower[..m - col - 1].iter_mut().enumerate() {
            let factor = row[col] / pivot_row[col];
            for (entry, p) in row[col..m].iter_mut().zip(&pivot_row[col..m]) {
                *entry -= factor * p;
            }
            b[col + 1 + offset] -= factor * b[col];
        }
    }
    let mut x = [0.0; AndersonHistory::DEPTH];
    for row in (0..m).rev() {
        let tail: f64 = (row + 1..m).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

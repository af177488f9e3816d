//! Cooperative interruption of long runs: a process-wide request flag that the
//! [`Solver`](crate::Solver) reads before every step. Once [`request`] has been called, every step of every
//! solver in the process (every realisation of a phase diagram or an experiment, on every worker
//! thread) returns [`DynamicsError::Interrupted`](crate::DynamicsError::Interrupted) instead of
//! stepping, so a run ends within one step of each running trajectory; [`clear`] re-arms the
//! flag for the next run. The front end that owns the signal handling calls both (the Python
//! module on Ctrl-C); nothing else sets the flag, so runs that are never interrupted take the
//! same steps and give the same bits (the flag is a relaxed atomic load per step).

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every running solver to stop at its next step.
pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Withdraws the request (before the next run).
pub fn clear() {
    REQUESTED.store(false, Ordering::Relaxed);
}

/// Whether an interruption has been requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

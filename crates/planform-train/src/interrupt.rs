//! Stopping a run on SIGINT/SIGTERM without losing work.
//!
//! A signal handler (installed by the binary) calls [`on_signal`]. While a training loop is
//! running ([`Trainer::run`](crate::Trainer::run)), the first signal is taken as a request:
//! the loop finishes its current step, writes a checkpoint, and returns with
//! [`RunSummary::interrupted`](crate::RunSummary::interrupted) set. When no loop is running,
//! or on a second signal, [`on_signal`] returns false and the handler should end the process
//! as the signal's default action would.
//!
//! The state is process-wide (signals are): every training loop of the process stops.
//! [`on_signal`] only touches atomics, so it is safe to call from a signal handler.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// Training loops running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// The signal that asked the loops to stop (0: none).
static REQUESTED: AtomicI32 = AtomicI32::new(0);

/// Called with the signal number from a signal handler. True: a running training loop will
/// write a checkpoint and stop; false: nothing will (no loop runs, or a stop was already
/// requested), so the process should end now.
pub fn on_signal(signal: i32) -> bool {
    if RUNNING.load(Ordering::SeqCst) == 0 {
        return false;
    }
    REQUESTED
        .compare_exchange(0, signal.max(1), Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// The signal that asked training to stop, if one did.
pub fn requested() -> Option<i32> {
    match REQUESTED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Forgets a stop request, so that training loops started afterwards run (for a process
/// that handled the stop and goes on, and for tests).
pub fn clear() {
    REQUESTED.store(0, Ordering::SeqCst);
}

/// The conventional name of a signal number (`SIGINT`, `SIGTERM`, else `signal N`).
pub fn signal_name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        s => format!("signal {s}"),
    }
}

/// Marks a training loop as running while it lives.
pub(crate) struct Running;

impl Running {
    pub(crate) fn start() -> Self {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

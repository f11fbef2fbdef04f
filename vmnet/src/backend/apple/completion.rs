//! Waiting, with a bound, for a completion block to deliver its result.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use vmnet_sys as sys;

use super::block::{self, CompletionHandler};
use crate::error::{Error, Operation, Result};

enum State<T> {
    Waiting,
    Done(T),
    Taken,
    /// The waiter gave up; a late result must be cleaned up by whoever delivers it.
    Abandoned,
}

/// A one-shot slot that a completion block fills and a waiting thread empties. The result
/// crosses threads (vmnet's queue to the waiter), hence `T: Send`.
pub(super) struct Completion<T: Send> {
    state: Mutex<State<T>>,
    cond: Condvar,
}

impl<T: Send> Completion<T> {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::Waiting),
            cond: Condvar::new(),
        })
    }

    /// Delivers the result. Returns it back if the waiter has given up, so the caller can
    /// undo what it stands for. Never panics (it runs inside completion blocks).
    pub(super) fn complete(&self, value: T) -> Option<T> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            State::Waiting => {
                *state = State::Done(value);
                self.cond.notify_all();
                None
            }
            State::Abandoned => Some(value),
            // A second completion: not expected from vmnet; keep the first.
            State::Done(_) | State::Taken => None,
        }
    }

    /// Waits up to `timeout` for the result. On timeout the slot is marked abandoned and
    /// `None` is returned.
    pub(super) fn wait(&self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let State::Done(_) = *state {
                return match std::mem::replace(&mut *state, State::Taken) {
                    State::Done(value) => Some(value),
                    _ => None,
                };
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                *state = State::Abandoned;
                return None;
            }
            state = match left {
                Some(left) => {
                    self.cond
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .cond
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

impl<T: Send> Completion<T> {
    /// [`wait`](Self::wait), with a missed deadline reported as [`Error::Timeout`] of
    /// `operation`.
    pub(super) fn wait_for(&self, operation: Operation, timeout: Duration) -> Result<T> {
        self.wait(timeout).ok_or(Error::Timeout {
            operation,
            waited: timeout,
        })
    }
}

/// Runs a vmnet call whose completion block reports a status, and waits up to `timeout` for
/// it. `schedule` makes the call with the block and returns its immediate status.
/// `keep_alive` moves into the block, so whatever the call was given by pointer (and the
/// queue the completion runs on) lives as long as vmnet may use it: the block is copied by
/// vmnet and released after it ran, or never if it never runs.
pub(super) fn wait_status<K: Send + Sync + 'static>(
    operation: Operation,
    timeout: Duration,
    schedule: impl FnOnce(&CompletionHandler) -> sys::vmnet_return_t,
    keep_alive: K,
) -> Result<()> {
    let done: Arc<Completion<sys::vmnet_return_t>> = Completion::new();
    let block = {
        let done = done.clone();
        block::guarded(move |(status,): (sys::vmnet_return_t,)| {
            let _ = &keep_alive;
            done.complete(status);
        })
    };
    let scheduled = schedule(&block);
    drop(block);
    Error::check(operation, scheduled)?;
    Error::check(operation, done.wait_for(operation, timeout)?)
}

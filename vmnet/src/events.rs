//! Packet-arrival events: the callback, the readiness descriptor and blocking waits.
//!
//! Every interface has one [`Notifier`]. Its backend calls [`Notifier::signal`] whenever
//! packets arrive (vmnet's event block on macOS, the simulator's event thread elsewhere). A
//! signal only *arms* the notifier: the first one after a read makes the readiness pipe
//! readable and runs the user's callback once; further signals are coalesced until the next
//! read disarms it. A reader that falls behind therefore never makes the callback spin, and a
//! poller sees level-like readiness that a read clears.
//!
//! Events matter only once something can observe them: a callback, a wait, or the readiness
//! descriptor handed out. Until then the simulator holds them back ([`Notifier::is_observed`]),
//! so that an interface that is only polled by reads costs no event-thread wake-up per batch;
//! the first observation wakes its event thread ([`Notifier::wake_on_observe`]), which raises
//! the event then due, on that thread as always. (vmnet raises events regardless.)
//!
//! The pipe's calls go through `nix`; none is on the packet path but `clear`'s, which costs one
//! atomic swap when nothing was signalled (and `nix`'s `read` is `libc::read` and an `Errno`
//! check, inlined).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use nix::poll::PollTimeout;

/// What an event callback is told: packets are available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    estimated_packets: Option<u64>,
}

impl Event {
    /// vmnet's estimate of the packets waiting, when it gave one.
    pub fn estimated_packets(&self) -> Option<u64> {
        self.estimated_packets
    }
}

/// The type of a user event callback.
pub(crate) type Callback = Arc<dyn Fn(Event) + Send + Sync + 'static>;

/// Readiness and callback state of one interface. Shared (through `Arc`) by the interface and
/// by whatever delivers events, so a late event after stop touches only live memory.
pub(crate) struct Notifier {
    armed: AtomicBool,
    /// Set, for good, by the first callback, wait or descriptor hand-out.
    observed: AtomicBool,
    /// Unparked when `observed` is first set (the simulator's event thread).
    observe_waker: OnceLock<Thread>,
    /// Whether `callback` holds one (read without its lock).
    has_callback: AtomicBool,
    /// Callback panics caught so far (they are never unwound into the caller of `signal`).
    panics: AtomicU64,
    read_end: OwnedFd,
    write_end: OwnedFd,
    callback: Mutex<Option<Callback>>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("armed", &self.armed.load(Ordering::Relaxed))
            .field("fd", &self.read_end.as_raw_fd())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A disarmed notifier with a fresh non-blocking, close-on-exec pipe.
    pub(crate) fn new() -> io::Result<Self> {
        let (read_end, write_end) = pipe()?;
        Ok(Self {
            armed: AtomicBool::new(false),
            observed: AtomicBool::new(false),
            observe_waker: OnceLock::new(),
            has_callback: AtomicBool::new(false),
            panics: AtomicU64::new(0),
            read_end,
            write_end,
            callback: Mutex::new(None),
        })
    }

    /// Something can now see events: a callback, a wait, the descriptor. The first call wakes
    /// the thread given to [`wake_on_observe`](Self::wake_on_observe).
    fn observe(&self) {
        // Sequentially consistent, against the backend's "event due, then is it observed?": one
        // of the two sees the other's write, so a held-back event is never lost.
        if !self.observed.swap(true, Ordering::SeqCst)
            && let Some(thread) = self.observe_waker.get()
        {
            thread.unpark();
        }
    }

    /// Whether anything can observe events yet (see the module's documentation). A backend
    /// that holds events back checks this after making one due (sequentially consistent).
    #[cfg(feature = "sim")]
    pub(crate) fn is_observed(&self) -> bool {
        self.observed.load(Ordering::SeqCst)
    }

    /// Makes the first observation unpark `thread`: the backend's event thread, which parks
    /// while events are held back. Set once.
    #[cfg(feature = "sim")]
    pub(crate) fn wake_on_observe(&self, thread: Thread) {
        let _ = self.observe_waker.set(thread);
    }

    /// Packets arrived. Arms the notifier; on the first signal since the last
    /// [`clear`](Self::clear) makes the pipe readable and runs the callback. Never panics.
    pub(crate) fn signal(&self, estimated_packets: Option<u64>) {
        if !self.signal_readiness() {
            return;
        }
        let callback = self
            .callback
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(callback) = callback {
            let event = Event { estimated_packets };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(event))) {
                self.panics.fetch_add(1, Ordering::Relaxed);
                // Dropping the payload may itself panic; contain that too.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            }
        }
    }

    /// Arms the notifier and makes the pipe readable, unless it is armed already; returns
    /// whether it was not (then this is the event's first signal). Alone, without
    /// [`signal`](Self::signal)'s callback, it is how the simulator's writers raise an event
    /// when no callback is installed: any thread may make the pipe readable, so a waiting
    /// reader wakes without a hop through the event thread. Callbacks still run only from
    /// `signal`, on the backend's event thread; one installed meanwhile learns of the next
    /// event, as if it had come just after this one.
    pub(crate) fn signal_readiness(&self) -> bool {
        if self.armed.swap(true, Ordering::AcqRel) {
            return false;
        }
        // A full pipe (EAGAIN) already means "readable", so the result needs no handling.
        let _ = nix::unistd::write(&self.write_end, &[1]);
        true
    }

    /// Whether a callback is installed (see [`signal_readiness`](Self::signal_readiness)).
    #[cfg(feature = "sim")]
    pub(crate) fn has_callback(&self) -> bool {
        self.has_callback.load(Ordering::SeqCst)
    }

    /// A read is about to drain the interface: disarm, and empty the pipe if it was armed.
    /// Cheap when disarmed (one atomic swap).
    pub(crate) fn clear(&self) {
        if self.armed.swap(false, Ordering::AcqRel) {
            let mut sink = [0u8; 64];
            // Until a read comes back short: empty (EAGAIN: the pipe is non-blocking), or an
            // error, after which there is nothing more to drain.
            while nix::unistd::read(&self.read_end, &mut sink).is_ok_and(|n| n == sink.len()) {}
        }
    }

    /// Waits until the notifier is armed or `timeout` passes (`None`: no limit). Returns
    /// whether it is armed.
    ///
    /// `poll(2)` counts whole milliseconds: the time left is rounded up, so a nonzero timeout
    /// under a millisecond waits one rather than returning at once (a caller waiting 500 µs
    /// in a loop would spin), and `Duration::ZERO` checks without waiting. The deadline is
    /// taken once: a poll interrupted by a signal (EINTR), or one that ends early, resumes
    /// with the time left, so interruptions do not stretch the wait.
    #[cfg(not(miri))]
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        use nix::errno::Errno;
        use nix::poll::{PollFd, PollFlags};
        self.observe();
        // No limit for `None`, nor for a timeout beyond the clock's range.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut fds = [PollFd::new(self.read_end.as_fd(), PollFlags::POLLIN)];
        loop {
            let timeout = deadline.map_or(PollTimeout::NONE, |d| {
                poll_timeout(d.saturating_duration_since(Instant::now()))
            });
            #[cfg(test)]
            tests::POLLS.with(|polls| polls.set(polls.get() + 1));
            match nix::poll::poll(&mut fds, timeout) {
                Ok(0) => {
                    if self.armed.load(Ordering::Acquire) {
                        return Ok(true);
                    }
                    // Timed out: done once the deadline has passed. A poll clamped to
                    // `PollTimeout::MAX` milliseconds, or timed by a clock a little ahead of
                    // `Instant`'s, ends before it; then poll again for what is left.
                    if deadline.is_none_or(|d| Instant::now() >= d) {
                        return Ok(false);
                    }
                }
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The same wait under Miri, which implements neither `poll(2)` nor level-triggered
    /// epoll, so the pipe cannot be waited on there. The pipe is readable exactly while the
    /// notifier is armed (`signal` arms before it writes the byte, `clear` disarms before it
    /// drains the pipe), so this waits on the `armed` flag instead, checking it every
    /// millisecond of Miri's clock: same results, same timeout. Only `cargo miri test` builds
    /// this (`cfg(miri)`); real builds use `poll(2)` above.
    #[cfg(miri)]
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.observe();
        // No limit for `None`, nor for a timeout beyond the clock's range.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if self.armed.load(Ordering::Acquire) {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Installs (or, with `None`, removes) the callback.
    pub(crate) fn set_callback(&self, callback: Option<Callback>) {
        let observes = callback.is_some();
        let mut slot = self.callback.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = callback;
        self.has_callback.store(observes, Ordering::SeqCst);
        drop(slot);
        // After storing it, so that an event held back until now reaches this callback.
        if observes {
            self.observe();
        }
    }

    /// Panics caught in callbacks so far.
    pub(crate) fn callback_panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// The descriptor that is readable while packets are available. Handing it out counts as
    /// observing events (whoever holds it may poll it).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.observe();
        self.read_end.as_fd()
    }
}

/// `poll(2)`'s timeout for `left`: whole milliseconds rounded up, so that a poll never ends
/// before `left` has passed (and a nonzero wait under a millisecond is not a spin), clamped to
/// the largest it takes, [`PollTimeout::MAX`] (a wait past it polls again).
#[cfg_attr(miri, allow(dead_code))]
fn poll_timeout(left: Duration) -> PollTimeout {
    PollTimeout::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(PollTimeout::MAX)
}

/// A pipe, `(read end, write end)`, both close-on-exec and non-blocking, made in one call
/// with `pipe2(2)`: no other thread's fork and exec can inherit the descriptors in between.
#[cfg(any(
    target_os = "android",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "hurd",
    target_os = "illumos",
    target_os = "linux",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "redox",
    target_os = "solaris",
))]
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::OFlag;
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?)
}

/// A pipe, `(read end, write end)`, both close-on-exec and non-blocking: `pipe(2)`, then
/// `fcntl(2)` on each end, where there is no `pipe2(2)` (Apple's systems among them).
#[cfg(not(any(
    target_os = "android",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "hurd",
    target_os = "illumos",
    target_os = "linux",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "redox",
    target_os = "solaris",
)))]
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
    let ends = nix::unistd::pipe()?;
    for fd in [&ends.0, &ends.1] {
        let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
        fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // Miri does not implement F_SETFD (and runs no child processes, so close-on-exec
        // could not matter there); every real build sets it.
        #[cfg(not(miri))]
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    Ok(ends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::os::unix::thread::JoinHandleExt;
    use std::sync::atomic::AtomicUsize;

    thread_local! {
        /// `poll(2)` calls made by [`Notifier::wait`] on this thread (none under Miri).
        #[cfg_attr(miri, allow(dead_code))]
        pub(super) static POLLS: Cell<u64> = const { Cell::new(0) };
    }

    #[test]
    fn signals_coalesce_until_cleared() {
        let n = Notifier::new().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        n.set_callback(Some(Arc::new(move |e: Event| {
            assert_eq!(e.estimated_packets(), Some(3));
            c.fetch_add(1, Ordering::SeqCst);
        })));
        assert!(!n.wait(Some(Duration::ZERO)).unwrap());
        for _ in 0..100 {
            n.signal(Some(3));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(n.wait(Some(Duration::ZERO)).unwrap());
        n.clear();
        assert!(
            !n.wait(Some(Duration::ZERO)).unwrap(),
            "clear empties the pipe"
        );
        n.signal(Some(3));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panicking_callback_is_contained_and_counted() {
        let n = Notifier::new().unwrap();
        n.set_callback(Some(Arc::new(|_| panic!("callback bug"))));
        n.signal(None);
        assert_eq!(n.callback_panics(), 1);
        assert!(n.wait(Some(Duration::ZERO)).unwrap());
        n.set_callback(None);
        n.clear();
        n.signal(None);
        assert_eq!(n.callback_panics(), 1);
    }

    #[test]
    fn wait_times_out_then_sees_a_signal_from_another_thread() {
        let n = Arc::new(Notifier::new().unwrap());
        assert!(!n.wait(Some(Duration::from_millis(10))).unwrap());
        let m = n.clone();
        let t = std::thread::spawn(move || m.signal(None));
        assert!(n.wait(Some(Duration::from_secs(10))).unwrap());
        t.join().unwrap();
    }

    #[test]
    fn poll_timeouts_round_up_to_whole_milliseconds() {
        let millis = |left| i32::from(poll_timeout(left));
        assert_eq!(millis(Duration::ZERO), 0, "zero polls without waiting");
        assert_eq!(millis(Duration::from_nanos(1)), 1);
        assert_eq!(millis(Duration::from_micros(500)), 1);
        assert_eq!(millis(Duration::from_millis(1)), 1);
        assert_eq!(millis(Duration::from_micros(1_001)), 2);
        let max = i32::MAX;
        let max_millis = Duration::from_millis(max as u64);
        assert_eq!(millis(max_millis), max);
        assert_eq!(millis(max_millis + Duration::from_nanos(1)), max);
        assert_eq!(millis(Duration::MAX), max);
    }

    #[test]
    #[cfg_attr(miri, ignore = "poll(2)")]
    fn a_sub_millisecond_wait_waits_a_millisecond() {
        let n = Notifier::new().unwrap();
        let polls_before = POLLS.with(Cell::get);
        let started = Instant::now();
        for _ in 0..5 {
            assert!(!n.wait(Some(Duration::from_micros(500))).unwrap());
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(5),
            "five waits of 500 µs took {waited:?}: each must wait a whole millisecond, not spin"
        );
        // One poll per wait; a second if one ends a little early. A spin makes thousands.
        let polls = POLLS.with(Cell::get) - polls_before;
        assert!((5..=10).contains(&polls), "{polls} polls for five waits");
    }

    #[test]
    #[cfg_attr(miri, ignore = "poll(2)")]
    fn zero_and_huge_timeouts() {
        let n = Notifier::new().unwrap();
        let started = Instant::now();
        assert!(!n.wait(Some(Duration::ZERO)).unwrap());
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "a zero wait does not block"
        );
        n.signal_readiness();
        assert!(
            n.wait(Some(Duration::MAX)).unwrap(),
            "no overflow past the clock's range"
        );
        let beyond_poll = Duration::from_millis(i32::MAX as u64 + 1);
        assert!(
            n.wait(Some(beyond_poll)).unwrap(),
            "clamped to poll's range"
        );
    }

    /// Set by [`on_sigusr1`].
    static SIGUSR1_SEEN: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn on_sigusr1(_signal: std::ffi::c_int) {
        // Only an atomic add: async-signal-safe.
        SIGUSR1_SEEN.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    #[cfg_attr(miri, ignore = "signals and poll(2)")]
    // Installing a signal handler is `unsafe` (nix's `sigaction`): the one `unsafe` here.
    #[allow(unsafe_code)]
    fn an_interrupted_wait_keeps_its_deadline() {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
        // No SA_RESTART, so the signal interrupts poll(2) with EINTR.
        let action = SigAction::new(
            SigHandler::Handler(on_sigusr1),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only adds to an atomic (async-signal-safe). No other test uses
        // SIGUSR1, and the handler stays installed (a no-op but for its counter) for the rest
        // of the process.
        unsafe { sigaction(Signal::SIGUSR1, &action) }.expect("sigaction");

        let timeout = Duration::from_millis(400);
        let before_signal = Duration::from_millis(300);
        let n = Arc::new(Notifier::new().unwrap());
        let m = n.clone();
        let (waiting, is_waiting) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            waiting.send(()).unwrap();
            let started = Instant::now();
            let ready = m.wait(Some(timeout)).unwrap();
            (ready, started.elapsed(), POLLS.with(Cell::get))
        });
        // Counted from the waiter's start, so that a slow thread start still sees the signal
        // arrive in the middle of its wait.
        is_waiting.recv().unwrap();
        std::thread::sleep(before_signal);
        let seen = SIGUSR1_SEEN.load(Ordering::SeqCst);
        // The waiter has not been joined, so its pthread_t names a live thread; SIGUSR1 has
        // the handler installed above.
        nix::sys::pthread::pthread_kill(waiter.as_pthread_t(), Signal::SIGUSR1)
            .expect("pthread_kill");
        let (ready, waited, polls) = waiter.join().unwrap();
        assert!(!ready);
        assert!(
            SIGUSR1_SEEN.load(Ordering::SeqCst) > seen,
            "the signal was handled"
        );
        assert!(
            polls >= 2,
            "the signal interrupted the poll ({polls} polls)"
        );
        assert!(
            waited >= timeout,
            "an interrupted wait of {timeout:?} ended early, after {waited:?}"
        );
        // Restarting the whole timeout would take `before_signal + timeout` (700 ms).
        assert!(
            waited < timeout + before_signal / 2,
            "a wait of {timeout:?} interrupted after {before_signal:?} took {waited:?}: \
             the interruption restarted the timeout"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "F_GETFD")]
    fn both_pipe_ends_are_close_on_exec_and_non_blocking() {
        use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
        let n = Notifier::new().unwrap();
        for (end, fd) in [("read", &n.read_end), ("write", &n.write_end)] {
            let fd_flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD).unwrap());
            assert!(
                fd_flags.contains(FdFlag::FD_CLOEXEC),
                "{end} end not close-on-exec"
            );
            let status = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).unwrap());
            assert!(
                status.contains(OFlag::O_NONBLOCK),
                "{end} end not non-blocking"
            );
        }
    }
}

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

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::Duration;

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
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two descriptors for pipe(2) to fill.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe(2) succeeded, so both descriptors are open and owned by nobody else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read_end, &write_end] {
            set_nonblocking_cloexec(fd.as_raw_fd())?;
        }
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
        let byte = 1u8;
        // SAFETY: writing one byte from a valid local to an open pipe descriptor. A full pipe
        // (EAGAIN) already means "readable", so the result needs no handling.
        let _ = unsafe { libc::write(self.write_end.as_raw_fd(), (&raw const byte).cast(), 1) };
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
            loop {
                // SAFETY: reading into a valid local buffer of the given length from an open,
                // non-blocking pipe descriptor.
                let n = unsafe {
                    libc::read(
                        self.read_end.as_raw_fd(),
                        sink.as_mut_ptr().cast(),
                        sink.len(),
                    )
                };
                if n < sink.len() as isize {
                    break;
                }
            }
        }
    }

    /// Waits until the notifier is armed or `timeout` passes (`None`: no limit). Returns
    /// whether it is armed.
    #[cfg(not(miri))]
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.observe();
        let millis = match timeout {
            None => -1,
            Some(t) => i32::try_from(t.as_millis()).unwrap_or(i32::MAX),
        };
        let mut pfd = libc::pollfd {
            fd: self.read_end.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: `pfd` is one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&raw mut pfd, 1, millis) };
            if n >= 0 {
                return Ok(n > 0 || self.armed.load(Ordering::Acquire));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
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
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            if self.armed.load(Ordering::Acquire) {
                return Ok(true);
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
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

fn set_nonblocking_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an open descriptor with valid commands and flag arguments.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
        // Miri does not implement F_SETFD (and runs no child processes, so close-on-exec
        // could not matter there); every real build sets it.
        #[cfg(not(miri))]
        if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

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
}

//! A simulated port: a bounded receive ring, and for interfaces an event thread.
//!
//! Events follow vmnet's model as the notifier coalesces them: one event for the first frames
//! after a read, none for frames that arrive while that event is unanswered. The event state
//! lives in atomics beside the ring, so the event thread never takes the ring's lock (the
//! writer and the reader, which copy frames under it, never wait for that thread), and it
//! sleeps by parking: a delivery wakes it only when an event is due, once per write call, and
//! only once something observes the interface's events (until then the due event waits for
//! the first observer, whose [`Notifier`] wakes the thread). Without a callback there is
//! nothing for that thread to run, so the delivering thread raises the event itself: the
//! descriptor becomes readable with no hop through another thread.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::segment::SegmentInner;
use crate::error::{Error, Result};
use crate::events::Notifier;
use crate::mac::MacAddr;

/// Each slot is allocated up front with room for a frame of this size (or the port's maximum
/// packet size, if smaller); a larger frame (TSO, jumbo) grows its slot once, on first use.
const PREALLOCATED_SLOT: usize = 2048;

/// [`Port::events`]: frames arrived that the event thread has not yet turned into an event.
const EVENT_DUE: u8 = 1;
/// [`Port::events`]: the event thread raised an event and no read has started since. Frames
/// arriving meanwhile need no new event (the notifier stays armed until that read); reads
/// clear it, so the first frames after a read raise the next event.
const SIGNALLED: u8 = 2;

/// One attachment to a segment: an interface, or the segment's host endpoint.
#[derive(Debug)]
pub(super) struct Port {
    pub(super) mac: Option<MacAddr>,
    pub(super) isolated: bool,
    pub(super) max_packet_size: usize,
    pub(super) attached: AtomicBool,
    pub(super) dropped: AtomicU64,
    ring: Mutex<Ring>,
    /// Wakes [`Port::wait_frame`] callers; notified only when one waits (a notification is a
    /// system call).
    frame_ready: Condvar,
    /// [`EVENT_DUE`] and [`SIGNALLED`]. Deliveries and reads change them under the ring's lock,
    /// the event thread without it; all accesses are sequentially consistent, so that a
    /// delivery's view of them and the event thread's view of [`queued`](Self::queued) agree.
    events: AtomicU8,
    /// The ring's length, as of the last run of deliveries or read: the event thread's
    /// estimate, and how it tells that a read already took the frames of a due event.
    queued: AtomicUsize,
    /// Where events go; unset for the host endpoint, which has no events.
    event_sink: OnceLock<EventSink>,
}

/// A port's event thread and the interface's notifier: the thread is unparked when an event
/// becomes due, something observes events and a callback is installed (the notifier unparks it
/// itself when observation starts).
#[derive(Debug)]
struct EventSink {
    thread: Thread,
    notifier: Arc<Notifier>,
}

#[derive(Debug)]
struct Ring {
    slots: Vec<Vec<u8>>,
    head: usize,
    len: usize,
    /// Threads waiting in [`Port::wait_frame`].
    frame_waiters: usize,
    closed: bool,
}

/// A port's receive ring, locked for a run of deliveries (one write call's frames to this
/// port). Dropping it publishes the run (queue length, due event, drops) and unlocks the
/// ring, then wakes whoever the run concerns: once per run instead of once per frame.
///
/// The fields drop in order, after [`Drop::drop`] published the run: `ring` unlocks, then
/// `wake` wakes.
pub(super) struct Inbox<'a> {
    port: &'a Port,
    ring: MutexGuard<'a, Ring>,
    /// Frames queued by this run.
    queued: usize,
    dropped: u64,
    wake: Wake<'a>,
}

/// Whom a run of deliveries wakes, once its ring is unlocked (when this drops).
struct Wake<'a> {
    port: &'a Port,
    /// A `wait_frame` caller waits for the first frame of the run.
    waiters: bool,
    /// An event is due and observed.
    events: bool,
}

impl Port {
    pub(super) fn new(
        mac: Option<MacAddr>,
        isolated: bool,
        max_packet_size: usize,
        capacity: usize,
    ) -> Self {
        let slot = || Vec::with_capacity(max_packet_size.min(PREALLOCATED_SLOT));
        Self {
            mac,
            isolated,
            max_packet_size,
            attached: AtomicBool::new(true),
            dropped: AtomicU64::new(0),
            ring: Mutex::new(Ring {
                slots: (0..capacity.max(1)).map(|_| slot()).collect(),
                head: 0,
                len: 0,
                frame_waiters: 0,
                closed: false,
            }),
            frame_ready: Condvar::new(),
            events: AtomicU8::new(0),
            queued: AtomicUsize::new(0),
            event_sink: OnceLock::new(),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the receive ring for deliveries.
    pub(super) fn inbox(&self) -> Inbox<'_> {
        Inbox {
            port: self,
            ring: self.ring(),
            queued: 0,
            dropped: 0,
            wake: Wake {
                port: self,
                waiters: false,
                events: false,
            },
        }
    }

    /// Makes `thread` the port's event thread: the one [`next_event`](Self::next_event)
    /// parks, unparked when an event is due and `notifier` is observed, when it starts being
    /// observed, or when the port closes. Set once, before the port is attached to a segment.
    pub(super) fn set_event_thread(&self, thread: Thread, notifier: Arc<Notifier>) {
        notifier.wake_on_observe(thread.clone());
        let _ = self.event_sink.set(EventSink { thread, notifier });
    }

    /// Moves up to `max` queued frames out through `take`, oldest first, while `take`
    /// accepts them (it returns false to stop without consuming). Returns how many moved.
    ///
    /// A call counts as a read: frames arriving after it raise a new event.
    pub(super) fn drain(&self, max: usize, mut take: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut ring = self.ring();
        self.events.fetch_and(!SIGNALLED, Ordering::SeqCst);
        let mut n = 0;
        while n < max && ring.len > 0 {
            let head = ring.head;
            if !take(n, &ring.slots[head]) {
                break;
            }
            ring.head = if head + 1 == ring.slots.len() {
                0
            } else {
                head + 1
            };
            ring.len -= 1;
            n += 1;
        }
        if n > 0 {
            self.queued.store(ring.len, Ordering::SeqCst);
        }
        n
    }

    /// Waits until a frame is queued or `deadline` passes; returns whether one is.
    pub(super) fn wait_frame(&self, deadline: Option<Instant>) -> bool {
        let mut ring = self.ring();
        loop {
            if ring.len > 0 {
                return true;
            }
            if ring.closed {
                return false;
            }
            let left = match deadline {
                None => None,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    Some(left)
                }
            };
            ring.frame_waiters += 1;
            ring = match left {
                None => self
                    .frame_ready
                    .wait(ring)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    self.frame_ready
                        .wait_timeout(ring, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            ring.frame_waiters -= 1;
        }
    }

    /// For the event thread (see [`set_event_thread`](Self::set_event_thread)): waits until
    /// frames arrived that need an event and are still queued (returns the queue length,
    /// never 0) or the port is closed (returns `None`).
    pub(super) fn next_event(&self) -> Option<usize> {
        loop {
            if !self.attached.load(Ordering::SeqCst) {
                return None;
            }
            // Held back until something observes events (a spurious wake-up changes nothing).
            let observed = self
                .event_sink
                .get()
                .is_none_or(|sink| sink.notifier.is_observed());
            if observed && let Some(queued) = self.take_event() {
                return Some(queued);
            }
            // An unpark since the last park makes this return at once: no wake-up is lost.
            std::thread::park();
        }
    }

    /// Takes the due event if there is one and its frames are still queued: marks it raised
    /// and returns the queue length. Whoever takes it raises it — the event thread, or a
    /// delivery that only makes the descriptor readable — so it is raised once.
    fn take_event(&self) -> Option<usize> {
        if self.events.fetch_and(!EVENT_DUE, Ordering::SeqCst) & EVENT_DUE == 0 {
            return None;
        }
        // A read may have taken the frames already: then there is nothing to signal, and
        // SIGNALLED stays clear so that the next frames raise an event. (A read between this
        // load and the flag below makes at worst one event for an empty queue; that read
        // cleared the flag before, the next one clears it again.)
        let queued = self.queued.load(Ordering::SeqCst);
        (queued > 0).then(|| {
            self.events.fetch_or(SIGNALLED, Ordering::SeqCst);
            queued
        })
    }

    /// Detaches the port: nothing more is delivered, and waiters and the event thread wake.
    pub(super) fn close(&self) {
        self.attached.store(false, Ordering::SeqCst);
        self.ring().closed = true;
        self.frame_ready.notify_all();
        if let Some(sink) = self.event_sink.get() {
            sink.thread.unpark();
        }
    }

    /// Frames queued now (the `queued` field is the copy published for the event thread).
    pub(super) fn len(&self) -> usize {
        self.ring().len
    }

    /// Makes an event due, unless one is (the event thread will see these frames too) or one
    /// was raised and not yet read (the notifier is armed). Returns whether the event thread
    /// must be woken. Called under the ring's lock, after publishing `queued`.
    fn raise_event(&self) -> bool {
        let mut state = self.events.load(Ordering::SeqCst);
        while state & (EVENT_DUE | SIGNALLED) == 0 {
            match self.events.compare_exchange_weak(
                state,
                state | EVENT_DUE,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }
}

impl Inbox<'_> {
    /// The port this inbox belongs to.
    pub(super) fn port(&self) -> &Port {
        self.port
    }

    /// Queues a copy of `frame`; returns false (and counts a drop) when the ring is full or
    /// closed, or the frame is larger than the port's maximum packet size.
    // Per frame, in the write loop: left out of line, the call cost showed in `sim_io`.
    #[inline(always)]
    pub(super) fn deliver(&mut self, frame: &[u8]) -> bool {
        let ring = &mut *self.ring;
        if frame.len() > self.port.max_packet_size || ring.closed || ring.len == ring.slots.len() {
            self.dropped += 1;
            return false;
        }
        // head < slots and len < slots here, so one subtraction wraps (no division per frame).
        let mut index = ring.head + ring.len;
        if index >= ring.slots.len() {
            index -= ring.slots.len();
        }
        let slot = &mut ring.slots[index];
        slot.clear();
        slot.extend_from_slice(frame);
        ring.len += 1;
        self.queued += 1;
        self.wake.waiters |= ring.len == 1 && ring.frame_waiters > 0;
        true
    }
}

impl Drop for Inbox<'_> {
    fn drop(&mut self) {
        let port = self.port;
        // The event is made due even while nothing observes events: the first observer's
        // wake-up finds it (raise_event and is_observed are sequentially consistent, as is
        // the notifier's observe, so either this sees the observer or the thread sees this).
        self.wake.events = self.queued > 0
            && port.event_sink.get().is_some_and(|sink| {
                port.queued.store(self.ring.len, Ordering::SeqCst);
                port.raise_event() && sink.notifier.is_observed()
            });
        if self.dropped > 0 {
            port.dropped.fetch_add(self.dropped, Ordering::Relaxed);
        }
        // Then `ring` drops, unlocking, and `wake` wakes.
    }
}

impl Drop for Wake<'_> {
    fn drop(&mut self) {
        let port = self.port;
        // After unlocking, so that a woken thread does not block on the lock at once. No
        // wake-up is lost: a `wait_frame` caller registers under the lock and releases it
        // atomically in `Condvar::wait`; an unpark before the event thread parks makes its
        // park return at once.
        if self.waiters {
            port.frame_ready.notify_all();
        }
        if self.events
            && let Some(sink) = port.event_sink.get()
        {
            if sink.notifier.has_callback() {
                // Callbacks run on the event thread only.
                sink.thread.unpark();
            } else if port.take_event().is_some() {
                // Readiness alone: this thread makes the descriptor readable, so a waiting
                // reader wakes without a hop through the event thread.
                let _ = sink.notifier.signal_readiness();
            }
        }
    }
}

/// The segment's host side: it sees every frame sent on the segment and can inject frames,
/// as the host end of a vmnet network would (a test double: no ARP, DHCP or NAT).
///
/// ```
/// use vmnet::sim::Segment;
/// use vmnet::InterfaceConfig;
///
/// let segment = Segment::new();
/// let host = segment.host();
/// let mut vm = segment.start(&InterfaceConfig::shared())?;
///
/// // A broadcast frame from the host reaches the interface…
/// let mut frame = vec![0xff; 6];
/// frame.extend_from_slice(&host.mac().octets());
/// frame.extend_from_slice(&[0x08, 0x00]);
/// frame.resize(60, 0);
/// host.send(&frame)?;
/// let mut buf = vec![0; vm.parameters().max_packet_size()];
/// assert!(vm.wait_readable(Some(std::time::Duration::from_secs(5)))?);
/// assert_eq!(vm.read(&mut buf)?, Some(60));
///
/// // …and what the interface sends, the host sees.
/// vm.write(&buf[..60])?;
/// assert_eq!(host.recv_timeout(std::time::Duration::from_secs(5)).as_deref(), Some(&buf[..60]));
/// # Ok::<(), vmnet::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HostPort {
    pub(super) segment: Arc<SegmentInner>,
    pub(super) port: Arc<Port>,
}

impl HostPort {
    /// The host side's MAC address (the gateway's, as seen by interfaces).
    pub fn mac(&self) -> MacAddr {
        self.port.mac.unwrap_or_default()
    }

    /// Sends `frame` onto the segment: to the interface whose MAC matches its destination,
    /// or to every interface for broadcast and multicast.
    ///
    /// # Errors
    /// [`Error::PacketTooBig`] if the frame exceeds the segment's largest packet size.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        if frame.len() > self.port.max_packet_size {
            return Err(Error::PacketTooBig {
                index: 0,
                len: frame.len(),
                max: self.port.max_packet_size,
            });
        }
        self.segment.route(&self.port, frame);
        Ok(())
    }

    /// The oldest frame the host has seen and not yet received, if any.
    pub fn recv(&self) -> Option<Vec<u8>> {
        let mut out = None;
        self.port.drain(1, |_, frame| {
            out = Some(frame.to_vec());
            true
        });
        out
    }

    /// Like [`recv`](Self::recv), waiting up to `timeout` for a frame.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now().checked_add(timeout);
        self.port.wait_frame(deadline);
        self.recv()
    }

    /// Receives the oldest frame into `buf` without allocating; returns its length, or
    /// `None` if no frame is waiting.
    ///
    /// # Errors
    /// [`Error::PacketTooBig`] for a frame larger than `buf`, which stays queued.
    pub fn recv_into(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        let mut result = Ok(None);
        self.port.drain(1, |_, frame| {
            if frame.len() > buf.len() {
                result = Err(Error::PacketTooBig {
                    index: 0,
                    len: frame.len(),
                    max: buf.len(),
                });
                return false;
            }
            buf[..frame.len()].copy_from_slice(frame);
            result = Ok(Some(frame.len()));
            true
        });
        result
    }

    /// How many frames are waiting for the host.
    pub fn pending(&self) -> usize {
        self.port.len()
    }

    /// Frames the host side dropped because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.port.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    const FRAME: [u8; 60] = [0x5a; 60];

    fn port() -> Arc<Port> {
        Arc::new(Port::new(None, false, 1514, 8))
    }

    fn deliver(port: &Port) -> bool {
        port.inbox().deliver(&FRAME)
    }

    fn event_due(port: &Port) -> bool {
        port.events.load(Ordering::SeqCst) & EVENT_DUE != 0
    }

    /// Closes `port` after `after` unless `done` is dropped first: a test that would wait for
    /// an event forever gets `None` instead.
    fn watchdog(port: &Arc<Port>, after: Duration) -> std::sync::mpsc::Sender<()> {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let port = port.clone();
        thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(after) {
                port.close();
            }
        });
        done
    }

    /// A notifier with a callback (so it is observed, and events go through the event
    /// thread).
    fn with_callback() -> Arc<Notifier> {
        let notifier = Arc::new(Notifier::new().unwrap());
        notifier.set_callback(Some(Arc::new(|_| {})));
        notifier
    }

    #[test]
    fn one_event_per_read_cycle() {
        let port = port();
        port.set_event_thread(thread::current(), with_callback());
        assert!(deliver(&port));
        assert!(deliver(&port));
        assert_eq!(port.next_event(), Some(2));
        // Signalled: later frames need no event until a read.
        assert!(deliver(&port));
        assert!(!event_due(&port));
        assert_eq!(port.drain(usize::MAX, |_, _| true), 3);
        // The first frame after the read raises the next one.
        assert!(deliver(&port));
        assert!(event_due(&port));
        assert_eq!(port.next_event(), Some(1));
    }

    #[test]
    fn frames_read_before_the_event_thread_looks_raise_no_empty_event() {
        let port = port();
        port.set_event_thread(thread::current(), with_callback());
        assert!(deliver(&port));
        assert_eq!(port.drain(usize::MAX, |_, _| true), 1);
        // The event is due but the frame is gone: no event for nothing (the thread parks),
        // and the next frame still raises one.
        let _watchdog = watchdog(&port, Duration::from_secs(10));
        let later = {
            let port = port.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                deliver(&port)
            })
        };
        assert_eq!(port.next_event(), Some(1));
        assert!(later.join().unwrap());
    }

    #[test]
    fn a_run_of_deliveries_wakes_the_event_thread_once() {
        let port = port();
        let events = {
            let port = port.clone();
            thread::spawn(move || port.next_event())
        };
        port.set_event_thread(events.thread().clone(), with_callback());
        let _watchdog = watchdog(&port, Duration::from_secs(10));
        let mut inbox = port.inbox();
        assert!(inbox.deliver(&FRAME));
        assert!(inbox.deliver(&FRAME));
        drop(inbox);
        assert_eq!(events.join().unwrap(), Some(2));
        // The next run, before any read, makes no event due.
        let mut inbox = port.inbox();
        assert!(inbox.deliver(&FRAME));
        drop(inbox);
        assert!(!event_due(&port));
    }

    #[test]
    fn closing_wakes_a_parked_event_thread() {
        let port = port();
        let events = {
            let port = port.clone();
            thread::spawn(move || port.next_event())
        };
        port.set_event_thread(events.thread().clone(), with_callback());
        thread::sleep(Duration::from_millis(20));
        port.close();
        assert_eq!(events.join().unwrap(), None);
    }

    #[test]
    fn without_a_callback_the_delivery_makes_the_descriptor_readable_itself() {
        let port = port();
        let notifier = Arc::new(Notifier::new().unwrap());
        let _ = notifier.fd(); // observed: a poller may be waiting
        // No thread runs `next_event`: the delivering thread must raise the event alone.
        port.set_event_thread(thread::current(), notifier.clone());
        assert!(deliver(&port));
        assert!(
            notifier.wait(Some(Duration::ZERO)).unwrap(),
            "readable at once"
        );
        assert!(!event_due(&port), "the delivery took the event");
        assert!(deliver(&port));
        assert!(!event_due(&port), "raised: no new event until a read");
        notifier.clear();
        assert_eq!(port.drain(usize::MAX, |_, _| true), 2);
        assert!(!notifier.wait(Some(Duration::ZERO)).unwrap());
        assert!(deliver(&port));
        assert!(
            notifier.wait(Some(Duration::ZERO)).unwrap(),
            "the next read cycle's event"
        );
    }

    #[test]
    fn events_wait_for_the_first_observer() {
        let port = port();
        let notifier = Arc::new(Notifier::new().unwrap());
        let events = {
            let port = port.clone();
            thread::spawn(move || port.next_event())
        };
        port.set_event_thread(events.thread().clone(), notifier.clone());
        let _watchdog = watchdog(&port, Duration::from_secs(10));
        assert!(deliver(&port));
        assert!(deliver(&port));
        // Nothing observes the events: the one due is held back.
        thread::sleep(Duration::from_millis(20));
        assert!(!events.is_finished(), "no event while nothing observes");
        assert!(event_due(&port));
        // A wait observes: it wakes the event thread, which raises the held-back event.
        assert!(notifier.wait(Some(Duration::ZERO)).is_ok());
        assert_eq!(events.join().unwrap(), Some(2));
    }

    #[test]
    fn a_full_closed_or_oversize_delivery_is_dropped_and_counted() {
        let port = Arc::new(Port::new(None, false, 100, 2));
        let mut inbox = port.inbox();
        assert!(!inbox.deliver(&[0; 101]));
        assert!(inbox.deliver(&FRAME));
        assert!(inbox.deliver(&FRAME));
        assert!(!inbox.deliver(&FRAME));
        drop(inbox);
        port.close();
        assert!(!deliver(&port));
        assert_eq!(port.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(port.len(), 2);
    }

    #[test]
    fn wait_frame_wakes_on_the_first_frame_and_times_out_without_one() {
        let port = port();
        assert!(!port.wait_frame(Some(Instant::now() + Duration::from_millis(20))));
        let waiter = {
            let port = port.clone();
            thread::spawn(move || port.wait_frame(None))
        };
        while port.ring().frame_waiters == 0 {
            thread::yield_now();
        }
        assert!(deliver(&port));
        assert!(waiter.join().unwrap());
        assert_eq!(port.ring().frame_waiters, 0);
    }
}

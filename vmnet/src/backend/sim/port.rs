//! A simulated port: a bounded receive ring, and for interfaces an event thread.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::segment::SegmentInner;
use crate::error::{Error, Result};
use crate::mac::MacAddr;

/// Each slot is allocated up front with room for a frame of this size (or the port's maximum
/// packet size, if smaller); a larger frame (TSO, jumbo) grows its slot once, on first use.
const PREALLOCATED_SLOT: usize = 2048;

/// One attachment to a segment: an interface, or the segment's host endpoint.
#[derive(Debug)]
pub(super) struct Port {
    pub(super) mac: Option<MacAddr>,
    pub(super) isolated: bool,
    pub(super) max_packet_size: usize,
    pub(super) attached: AtomicBool,
    pub(super) dropped: AtomicU64,
    ring: Mutex<Ring>,
    /// Wakes the event thread (waiting for `event_due`) and `wait_frame` callers (waiting for
    /// a frame). Notified only when one of them is waiting: a notification is a system call.
    ready: Condvar,
}

#[derive(Debug)]
struct Ring {
    slots: Vec<Vec<u8>>,
    head: usize,
    len: usize,
    /// Frames arrived that the event thread has not yet turned into an event.
    event_due: bool,
    /// The event thread raised an event and no read has started since: frames arriving now
    /// need no new event (the notifier is armed until that read), so they wake nobody. Reads
    /// clear it, so the first frame after a read raises the next event.
    signalled: bool,
    /// The event thread is waiting for `event_due`.
    event_waiting: bool,
    /// Threads waiting in [`Port::wait_frame`].
    frame_waiters: usize,
    closed: bool,
}

/// A port's receive ring, locked for a run of deliveries (one write call's frames to this
/// port). Dropping it unlocks the ring, adds its drops to the port's counter and wakes
/// whoever the deliveries concern: once per run instead of once per frame.
pub(super) struct Inbox<'a> {
    port: &'a Port,
    ring: ManuallyDrop<MutexGuard<'a, Ring>>,
    wake: bool,
    dropped: u64,
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
                event_due: false,
                signalled: false,
                event_waiting: false,
                frame_waiters: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the receive ring for deliveries.
    pub(super) fn inbox(&self) -> Inbox<'_> {
        Inbox {
            port: self,
            ring: ManuallyDrop::new(self.ring()),
            wake: false,
            dropped: 0,
        }
    }

    /// Moves up to `max` queued frames out through `take`, oldest first, while `take`
    /// accepts them (it returns false to stop without consuming). Returns how many moved.
    ///
    /// A call counts as a read: frames arriving after it raise a new event.
    pub(super) fn drain(&self, max: usize, mut take: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut ring = self.ring();
        ring.signalled = false;
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
                    .ready
                    .wait(ring)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    self.ready
                        .wait_timeout(ring, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            ring.frame_waiters -= 1;
        }
    }

    /// For the event thread: waits until frames arrived that need an event and are still
    /// queued (returns the queue length, never 0) or the port is closed (returns `None`).
    pub(super) fn next_event(&self) -> Option<usize> {
        let mut ring = self.ring();
        loop {
            if ring.closed {
                return None;
            }
            if ring.event_due {
                ring.event_due = false;
                // A read may have taken the frames already: then there is nothing to signal,
                // and `signalled` must stay clear so that the next frame raises an event.
                if ring.len > 0 {
                    ring.signalled = true;
                    return Some(ring.len);
                }
                continue;
            }
            ring.event_waiting = true;
            ring = self
                .ready
                .wait(ring)
                .unwrap_or_else(PoisonError::into_inner);
            ring.event_waiting = false;
        }
    }

    /// Detaches the port: nothing more is delivered and waiters wake up.
    pub(super) fn close(&self) {
        self.attached.store(false, Ordering::Release);
        self.ring().closed = true;
        self.ready.notify_all();
    }

    pub(super) fn queued(&self) -> usize {
        self.ring().len
    }
}

impl Inbox<'_> {
    /// The port this inbox belongs to.
    pub(super) fn port(&self) -> &Port {
        self.port
    }

    /// Queues a copy of `frame`; returns false (and counts a drop) when the ring is full or
    /// closed, or the frame is larger than the port's maximum packet size.
    pub(super) fn deliver(&mut self, frame: &[u8]) -> bool {
        let ring = &mut **self.ring;
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
        if ring.len == 1 && ring.frame_waiters > 0 {
            self.wake = true;
        }
        if !ring.event_due && !ring.signalled {
            ring.event_due = true;
            self.wake |= ring.event_waiting;
        }
        true
    }
}

impl Drop for Inbox<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard is dropped exactly once, here, and `self.ring` is not used after.
        unsafe { ManuallyDrop::drop(&mut self.ring) };
        if self.dropped > 0 {
            self.port.dropped.fetch_add(self.dropped, Ordering::Relaxed);
        }
        // After unlocking, so that the woken thread does not block on the lock at once. No
        // wake-up is lost: a waiter registers itself (event_waiting, frame_waiters) under the
        // lock and releases it atomically in `Condvar::wait`, before the deliveries locked it.
        if self.wake {
            self.port.ready.notify_all();
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

    /// Receives the oldest frame into `buf` without allocating; returns its length. A frame
    /// larger than `buf` stays queued and is reported as `Err(PacketTooBig)`.
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
        self.port.queued()
    }

    /// Frames the host side dropped because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.port.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const FRAME: [u8; 60] = [0x5a; 60];

    fn port() -> Arc<Port> {
        Arc::new(Port::new(None, false, 1514, 8))
    }

    fn deliver(port: &Port) -> bool {
        port.inbox().deliver(&FRAME)
    }

    fn event_due(port: &Port) -> bool {
        port.ring().event_due
    }

    #[test]
    fn one_event_per_read_cycle_and_none_without_frames() {
        let port = port();
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
        assert!(deliver(&port));
        assert_eq!(port.drain(usize::MAX, |_, _| true), 1);
        // The event thread now finds the event due but the ring empty: it must go on
        // waiting (no event for nothing), and the next frame must still raise one.
        let (tx, rx) = mpsc::channel();
        let events = {
            let port = port.clone();
            std::thread::spawn(move || {
                while let Some(n) = port.next_event() {
                    tx.send(n).unwrap();
                }
            })
        };
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        assert!(deliver(&port));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(1));
        port.close();
        events.join().unwrap();
    }

    #[test]
    fn an_inbox_wakes_a_waiting_event_thread_for_its_whole_run() {
        let port = port();
        let events = {
            let port = port.clone();
            std::thread::spawn(move || port.next_event())
        };
        while !port.ring().event_waiting {
            std::thread::yield_now();
        }
        let mut inbox = port.inbox();
        assert!(inbox.deliver(&FRAME));
        assert!(inbox.wake);
        assert!(inbox.deliver(&FRAME));
        drop(inbox);
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
        assert_eq!(port.queued(), 2);
    }

    #[test]
    fn wait_frame_wakes_on_the_first_frame_and_times_out_without_one() {
        let port = port();
        assert!(!port.wait_frame(Some(Instant::now() + Duration::from_millis(20))));
        let waiter = {
            let port = port.clone();
            std::thread::spawn(move || port.wait_frame(None))
        };
        while port.ring().frame_waiters == 0 {
            std::thread::yield_now();
        }
        assert!(deliver(&port));
        assert!(waiter.join().unwrap());
        assert_eq!(port.ring().frame_waiters, 0);
    }
}

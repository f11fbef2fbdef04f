//! A simulated port: a bounded receive ring, and for interfaces an event thread.

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
    ready: Condvar,
}

#[derive(Debug)]
struct Ring {
    slots: Vec<Vec<u8>>,
    head: usize,
    len: usize,
    /// Frames arrived since the event thread last looked.
    event_due: bool,
    closed: bool,
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
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a copy of `frame`; returns false (and counts a drop) when the ring is full or the
    /// frame is larger than this port's maximum packet size.
    pub(super) fn deliver(&self, frame: &[u8]) -> bool {
        if frame.len() > self.max_packet_size {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut ring = self.ring();
        if ring.closed || ring.len == ring.slots.len() {
            drop(ring);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let index = (ring.head + ring.len) % ring.slots.len();
        let slot = &mut ring.slots[index];
        slot.clear();
        slot.extend_from_slice(frame);
        ring.len += 1;
        // Wake waiters on the first frame since the event thread looked, and whenever the
        // ring stops being empty (the host endpoint has no event thread to clear the flag).
        if !ring.event_due || ring.len == 1 {
            ring.event_due = true;
            self.ready.notify_all();
        }
        true
    }

    /// Moves up to `max` queued frames out through `take`, oldest first, while `take`
    /// accepts them (it returns false to stop without consuming). Returns how many moved.
    pub(super) fn drain(&self, max: usize, mut take: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut ring = self.ring();
        let mut n = 0;
        while n < max && ring.len > 0 {
            let head = ring.head;
            if !take(n, &ring.slots[head]) {
                break;
            }
            ring.head = (head + 1) % ring.slots.len();
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
            ring = match deadline {
                None => self
                    .ready
                    .wait(ring)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.ready
                        .wait_timeout(ring, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// For the event thread: waits until frames arrived since the last call (returns the
    /// queue length) or the port is closed (returns `None`).
    pub(super) fn next_event(&self) -> Option<usize> {
        let mut ring = self.ring();
        loop {
            if ring.closed {
                return None;
            }
            if ring.event_due {
                ring.event_due = false;
                return Some(ring.len);
            }
            ring = self
                .ready
                .wait(ring)
                .unwrap_or_else(PoisonError::into_inner);
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

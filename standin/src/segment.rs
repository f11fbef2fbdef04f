//! Frame switching: a segment connects the interfaces started on it and a host endpoint
//! (the "outside network").
//!
//! A frame from an interface goes to the interface with its destination MAC; broadcast and
//! multicast go to every other interface and to the host endpoint; unknown unicast goes to
//! the host endpoint (and to interfaces without an allocated MAC, which take any address).
//! Two isolated interfaces never reach each other. A frame from the host endpoint goes to
//! the interface with its destination MAC, to all interfaces when multicast, and otherwise
//! to interfaces without an allocated MAC. Frames shorter than an Ethernet header are
//! discarded (counted as runts). Receive queues are bounded; overflow drops and counts.
//!
//! With `VMNET_STANDIN_REFLECT=1` in the environment, the host endpoint of every segment
//! reflects instead of queueing: a frame an interface sends to it comes straight back to that
//! interface, addressed to its MAC from the host's ([`HOST_MAC`]), the rest unchanged — what
//! the simulator's `vmnet-bridge --sim-network reflect` does, so a program running in a
//! process of its own (where no test can play the outside network) still sees traffic.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::interface::Iface;

/// Ethernet header length (destination, source, EtherType).
pub const ETHERNET_HEADER: usize = 14;
/// Frames an interface's or the host endpoint's receive queue holds before it drops.
pub const QUEUE_CAPACITY: usize = 1024;
/// The largest frame the host endpoint takes or sends: a 64 KiB IP packet with its
/// Ethernet header (what TSO interfaces may send).
pub const HOST_MAX_FRAME: usize = 65535 + ETHERNET_HEADER;
/// The host endpoint's MAC address (locally administered unicast).
pub const HOST_MAC: [u8; 6] = [0x02, 0x76, 0x6d, 0x6e, 0x00, 0x01];

/// Frames dropped anywhere (full queues, frames larger than the receiver takes) since the
/// last reset.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Frames discarded as shorter than an Ethernet header since the last reset.
static RUNTS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count_drop() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

pub(crate) fn runts() -> u64 {
    RUNTS.load(Ordering::Relaxed)
}

pub(crate) fn reset_counters() {
    DROPPED.store(0, Ordering::Relaxed);
    RUNTS.store(0, Ordering::Relaxed);
}

/// What the outside network has received, for tests to pick up.
#[derive(Debug, Default)]
pub(crate) struct HostEndpoint {
    frames: Mutex<VecDeque<Vec<u8>>>,
    arrived: Condvar,
}

impl HostEndpoint {
    fn frames(&self) -> MutexGuard<'_, VecDeque<Vec<u8>>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deliver(&self, frame: &[u8]) {
        let mut frames = self.frames();
        if frames.len() >= QUEUE_CAPACITY || frame.len() > HOST_MAX_FRAME {
            count_drop();
            return;
        }
        frames.push_back(frame.to_vec());
        self.arrived.notify_all();
    }

    /// Waits up to `timeout` for a frame, then hands it to `take` (which returns whether it
    /// took it; if not, the frame stays queued). `None` if no frame came.
    pub(crate) fn recv<R>(
        &self,
        timeout: Duration,
        take: impl FnOnce(&[u8]) -> (bool, R),
    ) -> Option<R> {
        let deadline = Instant::now() + timeout;
        let mut frames = self.frames();
        loop {
            if let Some(front) = frames.front() {
                let (taken, result) = take(front);
                if taken {
                    frames.pop_front();
                }
                return Some(result);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            frames = self
                .arrived
                .wait_timeout(frames, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    pub(crate) fn clear(&self) {
        self.frames().clear();
    }
}

/// Whether the host endpoint reflects frames (`VMNET_STANDIN_REFLECT=1`), read once.
fn reflecting() -> bool {
    static REFLECT: OnceLock<bool> = OnceLock::new();
    *REFLECT.get_or_init(|| std::env::var_os("VMNET_STANDIN_REFLECT").is_some_and(|v| v == "1"))
}

/// A switch with its host endpoint.
#[derive(Debug, Default)]
pub(crate) struct Segment {
    ports: Mutex<Vec<Arc<Iface>>>,
    pub(crate) host: HostEndpoint,
}

/// The segment of interfaces started without a network object or network identifier, and
/// the one the control API's host endpoint functions use.
pub(crate) fn default_segment() -> &'static Arc<Segment> {
    static DEFAULT: OnceLock<Arc<Segment>> = OnceLock::new();
    DEFAULT.get_or_init(Default::default)
}

/// The segment of host-mode interfaces with the network identifier `id` (shared by all of
/// them while one lives).
pub(crate) fn identified_segment(id: [u8; 16]) -> Arc<Segment> {
    static BY_ID: OnceLock<Mutex<HashMap<[u8; 16], Weak<Segment>>>> = OnceLock::new();
    let mut map = BY_ID
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    map.retain(|_, weak| weak.strong_count() > 0);
    if let Some(segment) = map.get(&id).and_then(Weak::upgrade) {
        return segment;
    }
    let segment = Arc::new(Segment::default());
    map.insert(id, Arc::downgrade(&segment));
    segment
}

fn is_multicast(mac: &[u8]) -> bool {
    mac[0] & 1 != 0
}

impl Segment {
    fn ports(&self) -> MutexGuard<'_, Vec<Arc<Iface>>> {
        self.ports.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn attach(&self, iface: Arc<Iface>) {
        self.ports().push(iface);
    }

    pub(crate) fn detach(&self, iface: &Iface) {
        self.ports().retain(|p| !std::ptr::eq(&**p, iface));
    }

    /// A frame from `from` reaches the outside network: queued for the control API, or,
    /// when [`reflecting`], sent back to `from` from the host's MAC.
    fn to_host(&self, ports: &[Arc<Iface>], from: Option<&Iface>, frame: &[u8]) {
        if !reflecting() {
            self.host.deliver(frame);
            return;
        }
        let sender = from.and_then(|f| ports.iter().find(|p| std::ptr::eq(&***p, f)));
        if let Some((sender, mac)) = sender.and_then(|s| Some((s, s.mac()?))) {
            let mut reflected = frame.to_vec();
            reflected[..6].copy_from_slice(&mac);
            reflected[6..12].copy_from_slice(&HOST_MAC);
            sender.deliver(&reflected);
        }
    }

    /// Routes `frames`, sent in order by `from` (`None`: the host endpoint).
    pub(crate) fn route<'a>(
        &self,
        from: Option<&Iface>,
        frames: impl IntoIterator<Item = &'a [u8]>,
    ) {
        let ports = self.ports();
        for frame in frames {
            if frame.len() < ETHERNET_HEADER {
                RUNTS.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let dst = &frame[..6];
            let from_isolated = from.is_some_and(Iface::isolated);
            // Not back to the sender; not between two isolated interfaces.
            let allowed = |to: &Iface| {
                let sender = from.is_some_and(|f| std::ptr::eq(f, to));
                !(sender || (from_isolated && to.isolated()))
            };
            if is_multicast(dst) {
                if from.is_some() {
                    self.to_host(&ports, from, frame);
                }
                for to in ports.iter().filter(|p| allowed(p)) {
                    to.deliver(frame);
                }
                continue;
            }
            let owner = ports.iter().find(|p| p.mac().is_some_and(|m| m == dst));
            match owner {
                Some(to) => {
                    if allowed(to) {
                        to.deliver(frame);
                    }
                }
                None => {
                    if from.is_some() {
                        self.to_host(&ports, from, frame);
                    }
                    for to in ports.iter().filter(|p| p.mac().is_none() && allowed(p)) {
                        to.deliver(frame);
                    }
                }
            }
        }
    }
}

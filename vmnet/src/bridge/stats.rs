//! The bridge's counters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one direction of a bridge.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Frames passed on.
    pub packets: u64,
    /// Bytes of those frames (Ethernet frames, without any framing).
    pub bytes: u64,
    /// Well-formed frames dropped: the receiving side stayed full beyond the bounded retry,
    /// or (datagrams to the VM) the frame could not be delivered — no VM yet, a VM that has
    /// gone (`ECONNREFUSED`, `ENOENT`), a frame larger than the VM's socket takes
    /// (`EMSGSIZE`), a path now held by a socket connected elsewhere (`EPERM`).
    pub drops: u64,
}

/// Counters of a bridge, from [`RunningBridge::stats`](super::RunningBridge::stats) and
/// [`BridgeExit::stats`](super::BridgeExit).
///
/// ```
/// let stats = vmnet::bridge::BridgeStats::default();
/// assert_eq!(stats.to_vm.packets, 0);
/// println!("{stats}"); // one line, for logs
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// From vmnet to the VM socket.
    pub to_vm: DirectionStats,
    /// From the VM socket to vmnet.
    pub from_vm: DirectionStats,
    /// Frames from the VM that were malformed (empty, shorter than an Ethernet header, longer
    /// than the interface accepts, or cut short by the end of the stream), dropped.
    pub malformed: u64,
    /// Stream-framing errors that could not be recovered from (the connection was reset).
    pub protocol_errors: u64,
    /// Times a bound (unconnected) datagram socket saw a new VM: a datagram came from an
    /// address other than the one frames for the VM were going to, and the bridge switched to
    /// it (the first VM's address is learnt, not counted). See the [module
    /// docs](super#datagram-peers).
    pub peer_changes: u64,
}

impl std::ops::AddAssign for DirectionStats {
    fn add_assign(&mut self, other: Self) {
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.drops = self.drops.saturating_add(other.drops);
    }
}

/// Sums counters, e.g. over the successive connections of one interface.
///
/// ```
/// use vmnet::bridge::BridgeStats;
/// let mut total = BridgeStats::default();
/// total += BridgeStats::default();
/// assert_eq!(total, BridgeStats::default());
/// ```
impl std::ops::AddAssign for BridgeStats {
    fn add_assign(&mut self, other: Self) {
        self.to_vm += other.to_vm;
        self.from_vm += other.from_vm;
        self.malformed = self.malformed.saturating_add(other.malformed);
        self.protocol_errors = self.protocol_errors.saturating_add(other.protocol_errors);
        self.peer_changes = self.peer_changes.saturating_add(other.peer_changes);
    }
}

impl fmt::Display for BridgeStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |s: &DirectionStats| (s.packets, s.bytes, s.drops);
        let (tp, tb, td) = d(&self.to_vm);
        let (fp, fb, fd) = d(&self.from_vm);
        write!(
            f,
            "to VM: {tp} packets, {tb} bytes, {td} dropped; from VM: {fp} packets, {fb} bytes, \
             {fd} dropped; malformed: {}; protocol errors: {}; peer changes: {}",
            self.malformed, self.protocol_errors, self.peer_changes
        )
    }
}

/// The live counters, updated once per batch by the bridge threads.
#[derive(Debug, Default)]
pub(super) struct Counters {
    to_vm_packets: AtomicU64,
    to_vm_bytes: AtomicU64,
    to_vm_drops: AtomicU64,
    from_vm_packets: AtomicU64,
    from_vm_bytes: AtomicU64,
    from_vm_drops: AtomicU64,
    malformed: AtomicU64,
    protocol_errors: AtomicU64,
    peer_changes: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Counters {
    pub(super) fn add_to_vm(&self, packets: u64, bytes: u64, drops: u64) {
        add(&self.to_vm_packets, packets);
        add(&self.to_vm_bytes, bytes);
        add(&self.to_vm_drops, drops);
    }

    pub(super) fn add_from_vm(&self, packets: u64, bytes: u64, drops: u64) {
        add(&self.from_vm_packets, packets);
        add(&self.from_vm_bytes, bytes);
        add(&self.from_vm_drops, drops);
    }

    pub(super) fn malformed(&self, n: u64) {
        add(&self.malformed, n);
    }

    pub(super) fn protocol_error(&self) {
        add(&self.protocol_errors, 1);
    }

    pub(super) fn peer_change(&self) {
        add(&self.peer_changes, 1);
    }

    pub(super) fn snapshot(&self) -> BridgeStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BridgeStats {
            to_vm: DirectionStats {
                packets: get(&self.to_vm_packets),
                bytes: get(&self.to_vm_bytes),
                drops: get(&self.to_vm_drops),
            },
            from_vm: DirectionStats {
                packets: get(&self.from_vm_packets),
                bytes: get(&self.from_vm_bytes),
                drops: get(&self.from_vm_drops),
            },
            malformed: get(&self.malformed),
            protocol_errors: get(&self.protocol_errors),
            peer_changes: get(&self.peer_changes),
        }
    }
}

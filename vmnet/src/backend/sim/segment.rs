//! A simulated Ethernet segment and the driver of the interfaces started on it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use uuid::Uuid;
use vmnet_sys::vmpktdesc;

use super::faults::Faults;
use super::impair::Impair;
use super::network::SimNetworkConfig;
use super::port::{HostPort, Inbox, Port};
use crate::backend::{Driver, NetworkConfigDriver, StartContext, Started};
use crate::capabilities::{Capabilities, Feature};
use crate::config::InterfaceConfig;
use crate::descs::{ReadDescs, WriteDescs};
use crate::error::{Error, Operation, Result, Status};
use crate::events::Notifier;
use crate::forwarding::{PortForwardingKey, PortForwardingRule};
use crate::keys::{Dictionary, Key, Value};
use crate::mac::MacAddr;
use crate::mode::Mode;
use crate::params::Parameters;

/// Frames an interface's receive queue holds before it drops, by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// Frames the host endpoint's queue holds before it drops, by default.
pub const DEFAULT_HOST_QUEUE_CAPACITY: usize = 1024;
/// The MTU of interfaces that do not set one.
const DEFAULT_MTU: u32 = 1500;
/// Ethernet header (destination, source, EtherType).
const ETHERNET_HEADER: usize = 14;
/// The virtio-net header vmnet prepends when asked to: not counted in the maximum packet
/// size; zeros on the frames the simulator delivers, stripped from those written.
const VIRTIO_HEADER: usize = Parameters::VIRTIO_HEADER_LEN;
/// The largest frame with TSO: a 64 KiB IP packet plus the Ethernet header.
const TSO_MAX_PACKET: usize = 65535 + ETHERNET_HEADER;
/// Per-call packet limit the simulator reports (where packet limits are a capability).
const PACKETS_PER_CALL: usize = 256;

static SEGMENT_IDS: AtomicU64 = AtomicU64::new(1);

/// A simulated Ethernet segment: the network that simulated interfaces share.
///
/// Interfaces started on a segment get vmnet-like [`Parameters`]: an allocated locally
/// administered MAC (stable for a given interface id), MTU 1500 and maximum packet size 1514
/// unless configured, read and write limits of 256 packets (when the segment's capabilities
/// include [`Feature::PacketLimits`]; otherwise unreported, as before macOS 15), and in host
/// and shared mode an address range (the configured one, else `192.168.105.1`–`.254/24`) and,
/// in shared mode, a NAT66 prefix.
///
/// Frames go to the interface whose MAC matches the destination; broadcast, multicast and
/// unknown destinations go to every other interface that takes them; isolated interfaces do
/// not reach each other; the [host endpoint](Self::host) sees every frame. Receive queues are
/// bounded: overflow drops and counts ([`stats`](Self::stats)). Writes that are too large or
/// carry too many packets fail with vmnet's status codes. Events fire from a background
/// thread per interface. It is not a network stack: nothing answers ARP, DHCP or pings.
///
/// Cloning gives another handle to the same segment.
#[derive(Clone, Debug)]
pub struct Segment {
    pub(super) inner: Arc<SegmentInner>,
}

/// Options for a [`Segment`].
#[derive(Clone, Debug)]
pub struct SegmentBuilder {
    capabilities: Capabilities,
    bridgeable: Vec<String>,
    queue_capacity: usize,
    host_queue_capacity: usize,
    pub(super) faults: Option<Faults>,
}

/// Counters of a segment.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// Frames queued for a receiver (one frame to three receivers counts three).
    pub delivered: u64,
    /// Frames dropped because a receiver's queue was full or the frame exceeded its maximum
    /// packet size.
    pub dropped: u64,
    /// Frames shorter than an Ethernet header, discarded.
    pub runts: u64,
    /// Interfaces currently started.
    pub interfaces: usize,
}

#[derive(Debug)]
pub(crate) struct SegmentInner {
    id: u64,
    capabilities: Capabilities,
    bridgeable: Vec<String>,
    queue_capacity: usize,
    ports: Mutex<Vec<Arc<Port>>>,
    host: Arc<Port>,
    next_interface: AtomicU64,
    delivered: AtomicU64,
    runts: AtomicU64,
    /// Drops of ports that have been detached, kept so the totals stay exact.
    detached_drops: AtomicU64,
    /// Fault injection and taps.
    pub(super) impair: Impair,
}

impl Default for SegmentBuilder {
    fn default() -> Self {
        Self {
            capabilities: Capabilities::ALL,
            bridgeable: vec!["sim0".to_owned()],
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            host_queue_capacity: DEFAULT_HOST_QUEUE_CAPACITY,
            faults: None,
        }
    }
}

impl SegmentBuilder {
    /// The features the segment offers (default: all). Starting an interface that needs a
    /// missing one fails with [`Error::Unsupported`], as on an older macOS.
    #[must_use]
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// The names [`Segment::bridgeable_interfaces`] reports (default: `["sim0"]`).
    #[must_use]
    pub fn bridgeable_interfaces<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bridgeable = names.into_iter().map(Into::into).collect();
        self
    }

    /// Frames each interface's receive queue holds (default [`DEFAULT_QUEUE_CAPACITY`]).
    #[must_use]
    pub fn queue_capacity(mut self, frames: usize) -> Self {
        self.queue_capacity = frames.max(1);
        self
    }

    /// Frames the host endpoint's queue holds (default [`DEFAULT_HOST_QUEUE_CAPACITY`]).
    #[must_use]
    pub fn host_queue_capacity(mut self, frames: usize) -> Self {
        self.host_queue_capacity = frames.max(1);
        self
    }

    /// The segment.
    pub fn build(self) -> Segment {
        let id = SEGMENT_IDS.fetch_add(1, Ordering::Relaxed);
        let host_mac = MacAddr::new([0x02, 0x00, 0x00, 0x00, (id >> 8) as u8, id as u8]);
        Segment {
            inner: Arc::new_cyclic(|segment| SegmentInner {
                id,
                capabilities: self.capabilities,
                bridgeable: self.bridgeable,
                queue_capacity: self.queue_capacity,
                ports: Mutex::new(Vec::new()),
                host: Arc::new(Port::new(
                    Some(host_mac),
                    false,
                    TSO_MAX_PACKET,
                    self.host_queue_capacity,
                )),
                next_interface: AtomicU64::new(1),
                delivered: AtomicU64::new(0),
                runts: AtomicU64::new(0),
                detached_drops: AtomicU64::new(0),
                impair: Impair::new(self.faults, segment),
            }),
        }
    }
}

impl Default for Segment {
    fn default() -> Self {
        Self::new()
    }
}

impl Segment {
    /// A new, empty segment with every capability.
    pub fn new() -> Self {
        SegmentBuilder::default().build()
    }

    /// Options for a new segment.
    pub fn builder() -> SegmentBuilder {
        SegmentBuilder::default()
    }

    /// The process-wide segment that [`Interface::start`](crate::Interface::start) uses on targets without vmnet.
    pub fn global() -> &'static Segment {
        static GLOBAL: OnceLock<Segment> = OnceLock::new();
        GLOBAL.get_or_init(Segment::new)
    }

    /// The features interfaces on this segment can use.
    pub fn capabilities(&self) -> Capabilities {
        self.inner.capabilities
    }

    /// The segment's host endpoint.
    pub fn host(&self) -> HostPort {
        HostPort {
            segment: self.inner.clone(),
            port: self.inner.host.clone(),
        }
    }

    /// The interfaces this segment pretends can be bridged to (see
    /// [`SegmentBuilder::bridgeable_interfaces`]); what [`crate::bridgeable_interfaces`]
    /// returns on targets without vmnet.
    pub fn bridgeable_interfaces(&self) -> Vec<String> {
        self.inner.bridgeable.clone()
    }

    pub(crate) fn network_config_driver(&self, mode: Mode) -> Result<Box<dyn NetworkConfigDriver>> {
        Ok(Box::new(SimNetworkConfig::new(
            self.inner.capabilities,
            mode,
        )?))
    }

    /// The segment's counters.
    pub fn stats(&self) -> SegmentStats {
        let ports = self.inner.ports();
        let live_drops: u64 = ports
            .iter()
            .chain(std::iter::once(&self.inner.host))
            .map(|p| p.dropped.load(Ordering::Relaxed))
            .sum();
        SegmentStats {
            delivered: self.inner.delivered.load(Ordering::Relaxed),
            dropped: live_drops + self.inner.detached_drops.load(Ordering::Relaxed),
            runts: self.inner.runts.load(Ordering::Relaxed),
            interfaces: ports.len(),
        }
    }

    pub(crate) fn start_driver(
        &self,
        config: &InterfaceConfig,
        ctx: StartContext<'_>,
    ) -> Result<Started> {
        let desc = config.validate(self.inner.capabilities)?;
        // vmnet refuses a host interface it cannot bridge to; so does the segment, for any
        // name its bridgeable list does not hold.
        if let Some(name) = config.bridged_interface() {
            if !self.inner.bridgeable.iter().any(|b| b == name) {
                return Err(Error::vmnet(Operation::Start, Status::InvalidArgument));
            }
        }
        let params = Parameters::from_dictionary(&self.parameters_for(config, &desc))?
            .with_virtio_header(config.virtio_header());
        let port = Arc::new(Port::new(
            params.mac_address(),
            config.isolation(),
            params.max_packet_size(),
            self.inner.queue_capacity,
        ));
        let events = EventThread::spawn(&port, ctx.notifier)?;
        self.inner.ports().push(port.clone());
        Ok(Started {
            driver: Box::new(SimDriver {
                segment: self.inner.clone(),
                port,
                read_max: params.read_max_packets(),
                write_max: params.write_max_packets(),
                header: if params.virtio_header() {
                    VIRTIO_HEADER
                } else {
                    0
                },
                events: Mutex::new(Some(events)),
                rules: Mutex::new(Vec::new()),
                stop_timeout: ctx.options.stop_timeout,
            }),
            params,
        })
    }

    /// The parameter dictionary vmnet would report for `config` (validated into `desc`).
    fn parameters_for(&self, config: &InterfaceConfig, desc: &Dictionary) -> Dictionary {
        let n = self.inner.next_interface.fetch_add(1, Ordering::Relaxed);
        let mut params = Dictionary::new();
        // Interfaces without an id get a fresh one, scrambled so the MACs derived from it look
        // like vmnet's (random) and differ across segments.
        let id = config.interface_id().unwrap_or_else(|| {
            let seed = self.inner.id << 32 | n;
            Uuid::from_u128(u128::from(splitmix64(seed)) << 64 | u128::from(splitmix64(!seed)))
        });
        params.insert(Key::InterfaceId, Value::Uuid(id));
        if config.allocate_mac_address() != Some(false) {
            let b = id.as_bytes();
            // Locally administered, unicast; derived from the id so it is stable for it.
            let mac = MacAddr::new([(b[10] & 0xfc) | 0x02, b[11], b[12], b[13], b[14], b[15]]);
            params.insert(Key::MacAddress, Value::String(mac.to_string()));
        }
        let mtu = config.mtu().unwrap_or(DEFAULT_MTU);
        params.insert(Key::Mtu, Value::U64(mtu.into()));
        let mut max_packet = mtu as usize + ETHERNET_HEADER;
        if desc.get(Key::EnableTso) == Some(&Value::Bool(true)) {
            max_packet = max_packet.max(TSO_MAX_PACKET);
        }
        params.insert(Key::MaxPacketSize, Value::U64(max_packet as u64));
        if self.inner.capabilities.has(Feature::PacketLimits) {
            params.insert(Key::ReadMaxPackets, Value::U64(PACKETS_PER_CALL as u64));
            params.insert(Key::WriteMaxPackets, Value::U64(PACKETS_PER_CALL as u64));
        }
        if config.mode() != Mode::Bridged {
            let (start, end, mask) = match (
                config.start_address(),
                config.end_address(),
                config.subnet_mask(),
            ) {
                (Some(s), Some(e), Some(m)) => (s, e, m),
                _ => (
                    Ipv4Addr::new(192, 168, 105, 1),
                    Ipv4Addr::new(192, 168, 105, 254),
                    Ipv4Addr::new(255, 255, 255, 0),
                ),
            };
            params.insert(Key::StartAddress, Value::String(start.to_string()));
            params.insert(Key::EndAddress, Value::String(end.to_string()));
            params.insert(Key::SubnetMask, Value::String(mask.to_string()));
        }
        if config.mode() == Mode::Shared {
            let prefix = config.nat66_prefix().unwrap_or(Ipv6Addr::new(
                0xfd76,
                0x6d6e,
                0x6574,
                self.inner.id as u16,
                0,
                0,
                0,
                0,
            ));
            params.insert(Key::Nat66Prefix, Value::String(prefix.to_string()));
        }
        params
    }
}

/// A bijective 64-bit mixer (SplitMix64's finaliser): distinct inputs, distinct outputs.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl SegmentInner {
    fn ports(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Port>>> {
        self.ports.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers `frame`, sent by `from`, to every port that should receive it.
    pub(super) fn route(&self, from: &Arc<Port>, frame: &[u8]) {
        let ports = self.ports();
        Router::sender(self, &ports, from).send(frame);
    }

    /// Delivers the frames the segment's faults held back that are due at `now`.
    pub(super) fn release_due(&self, now: Instant) {
        let ports = self.ports();
        self.impair.release_due(now, &mut |from, frame| {
            Router::new(self, &ports, from).switch(frame);
        });
    }

    fn detach(&self, port: &Arc<Port>) {
        let mut ports = self.ports();
        if let Some(i) = ports.iter().position(|p| Arc::ptr_eq(p, port)) {
            ports.swap_remove(i);
            self.detached_drops
                .fetch_add(port.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        drop(ports);
        port.close();
    }
}

/// Routes the frames of one sender, in order, while the segment's port list is locked.
///
/// The host endpoint's ring and the last destination's ring stay locked between frames (as
/// [`Inbox`]es), so a batch to one interface locks each ring once and wakes each receiver at
/// most once. Lock order: port list, then host ring, then one destination ring; every other
/// user of a ring locks only that ring, and routers never run at once (the port list lock).
struct Router<'a> {
    segment: &'a SegmentInner,
    ports: &'a [Arc<Port>],
    from: &'a Arc<Port>,
    /// The host endpoint's ring; `None` when the host is the sender.
    host: Option<Inbox<'a>>,
    /// The ring of the last destination.
    last: Option<Inbox<'a>>,
    /// The last unicast destination looked up, and the port that has it.
    owner: Option<(MacAddr, Option<&'a Arc<Port>>)>,
    delivered: u64,
    /// Frames go through the segment's faults and taps first.
    impaired: bool,
}

impl<'a> Router<'a> {
    fn new(segment: &'a SegmentInner, ports: &'a [Arc<Port>], from: &'a Arc<Port>) -> Self {
        Router {
            segment,
            ports,
            from,
            host: (!Arc::ptr_eq(from, &segment.host)).then(|| segment.host.inbox()),
            last: None,
            owner: None,
            delivered: 0,
            impaired: false,
        }
    }

    /// A router for the frames written by `from` (the port list locked): faults and taps
    /// apply.
    fn sender(segment: &'a SegmentInner, ports: &'a [Arc<Port>], from: &'a Arc<Port>) -> Self {
        let mut router = Router::new(segment, ports, from);
        router.impaired = segment.impair.is_active();
        router
    }

    // Per frame, in the write loop: left out of line, the call cost showed in `sim_io`.
    #[inline(always)]
    fn send(&mut self, frame: &[u8]) {
        if self.impaired && frame.len() >= ETHERNET_HEADER {
            self.send_impaired(frame);
        } else {
            self.switch(frame);
        }
    }

    /// Sends `frame` through the segment's faults and taps; the frames that go out now
    /// (this one, or others released by it) are switched by routers of their senders.
    #[inline(never)]
    fn send_impaired(&mut self, frame: &[u8]) {
        // Lock order: the port list, then the faults' state, then the rings.
        self.last = None;
        self.host = None;
        let segment = self.segment;
        let ports = self.ports;
        segment.impair.admit(self.from, frame, &mut |from, frame| {
            Router::new(segment, ports, from).switch(frame);
        });
        self.host = (!Arc::ptr_eq(self.from, &segment.host)).then(|| segment.host.inbox());
    }

    /// Switches `frame` to its receivers.
    #[inline(always)]
    fn switch(&mut self, frame: &[u8]) {
        if frame.len() < ETHERNET_HEADER {
            self.segment.runts.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&frame[..6]);
        let dst = MacAddr::new(dst);
        if let Some(host) = &mut self.host {
            self.delivered += u64::from(host.deliver(frame));
        }
        if dst.is_multicast() {
            self.flood(frame, |_| true);
            return;
        }
        // The port list cannot change while it is locked, so the last lookup's answer holds
        // for a run of frames to one destination.
        let owner = match self.owner {
            Some((mac, owner)) if mac == dst => owner,
            _ => {
                let owner = self.ports.iter().find(|p| p.mac == Some(dst));
                self.owner = Some((dst, owner));
                owner
            }
        };
        match owner {
            Some(to) => self.deliver(to, frame),
            // Unknown unicast only reaches ports without an allocated MAC, which take any
            // address.
            None => self.flood(frame, |to| to.mac.is_none()),
        }
    }

    /// Delivers to every port that `takes` the frame.
    fn flood(&mut self, frame: &[u8], takes: impl Fn(&Port) -> bool) {
        for to in self.ports {
            if takes(to) {
                self.deliver(to, frame);
            }
        }
    }

    /// Delivers to `to` unless it is the sender or isolation forbids it.
    // Per frame, in the write loop: left out of line, the call cost showed in `sim_io`.
    #[inline(always)]
    fn deliver(&mut self, to: &'a Arc<Port>, frame: &[u8]) {
        if Arc::ptr_eq(to, self.from) || (self.from.isolated && to.isolated) {
            return;
        }
        let inbox = match &mut self.last {
            Some(inbox) if std::ptr::eq(inbox.port(), &**to) => inbox,
            last => {
                // Unlock (and wake) the previous destination before locking the next.
                *last = None;
                last.insert(to.inbox())
            }
        };
        self.delivered += u64::from(inbox.deliver(frame));
    }
}

impl Drop for Router<'_> {
    fn drop(&mut self) {
        self.segment
            .delivered
            .fetch_add(self.delivered, Ordering::Relaxed);
    }
}

/// The thread that turns frame arrivals into events, as vmnet's event queue does.
#[derive(Debug)]
struct EventThread {
    handle: JoinHandle<()>,
    id: ThreadId,
    exited: Arc<(Mutex<bool>, Condvar)>,
}

impl EventThread {
    /// Spawns the event thread of `port` (before the port is attached to the segment).
    fn spawn(port: &Arc<Port>, notifier: Arc<Notifier>) -> Result<Self> {
        let watched = port.clone();
        let observed = notifier.clone();
        let exited = Arc::new((Mutex::new(false), Condvar::new()));
        let done = exited.clone();
        // Start returns only once the thread runs: a thread's start-up allocates, and one
        // scheduled late would do so in the middle of the caller's steady state (seen as a
        // stray allocation in bridge_alloc under load).
        let started = Arc::new(std::sync::Barrier::new(2));
        let running = started.clone();
        let handle = thread::Builder::new()
            .name("vmnet-sim-events".into())
            .spawn(move || {
                running.wait();
                while let Some(queued) = watched.next_event() {
                    notifier.signal(Some(queued as u64));
                }
                *done.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
                done.1.notify_all();
            })?;
        started.wait();
        port.set_event_thread(handle.thread().clone(), observed);
        Ok(Self {
            id: handle.thread().id(),
            handle,
            exited,
        })
    }

    /// Waits up to `timeout` for the thread to finish (the port must be closed first). Never
    /// waits on itself: a stop from inside a callback lets the thread end on its own.
    fn join(self, timeout: Duration) -> Result<()> {
        if thread::current().id() == self.id {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        let (lock, cond) = &*self.exited;
        let mut exited = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !*exited {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // A callback is stuck; the thread is detached and ends when it returns.
                return Err(Error::Timeout {
                    operation: Operation::Stop,
                    waited: timeout,
                });
            }
            exited = cond
                .wait_timeout(exited, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(exited);
        // The thread has finished its work; joining returns at once.
        let _ = self.handle.join();
        Ok(())
    }
}

/// The driver of a simulated interface.
#[derive(Debug)]
struct SimDriver {
    segment: Arc<SegmentInner>,
    port: Arc<Port>,
    read_max: usize,
    write_max: usize,
    /// The length of the virtio-net header on every packet read or written: 0 when it is off.
    header: usize,
    events: Mutex<Option<EventThread>>,
    /// Port-forwarding rules: stored and listed (the simulator forwards nothing).
    rules: Mutex<Vec<PortForwardingRule>>,
    /// How long [`Drop`] waits for the event thread of a driver nobody stopped.
    stop_timeout: Duration,
}

impl Drop for SimDriver {
    fn drop(&mut self) {
        // `Interface` stops its driver before dropping it, which makes this a no-op; a driver
        // dropped unstopped still detaches its port and ends its event thread. A stuck
        // callback only leaves the thread detached (the error says so, and goes nowhere).
        let _ = self.stop(self.stop_timeout);
    }
}

impl SimDriver {
    /// vmnet's checks of a call's descriptors, in its order: stopped, too many packets, not
    /// one iovec, then (for writes, `max_size`) a packet too big.
    fn check_descriptors(
        &self,
        descs: &[vmpktdesc],
        op: Operation,
        max_packets: usize,
        max_size: usize,
    ) -> Result<()> {
        if !self.port.attached.load(Ordering::Acquire) {
            return Err(Error::Stopped);
        }
        if descs.len() > max_packets {
            return Err(Error::vmnet(op, Status::TooManyPackets));
        }
        let (mut bad_iovec, mut too_big) = (false, false);
        for d in descs {
            bad_iovec |= d.vm_pkt_iovcnt != 1 || d.vm_pkt_iov.is_null();
            too_big |= d.vm_pkt_size > max_size;
        }
        if bad_iovec {
            return Err(Error::vmnet(op, Status::InvalidArgument));
        }
        if too_big {
            return Err(Error::vmnet(op, Status::PacketTooBig));
        }
        Ok(())
    }
}

impl Driver for SimDriver {
    fn read(&self, mut descs: ReadDescs<'_>) -> Result<usize> {
        self.check_descriptors(descs.as_slice(), Operation::Read, self.read_max, usize::MAX)?;
        let header = self.header;
        let mut too_small = false;
        let n = self.port.drain(descs.len(), |i, frame| {
            let filled = descs.fill(i, |buf| {
                // The virtio-net header (zeroed: no offload to describe), then the frame.
                let (head, body) = buf.split_at_mut_checked(header)?;
                body.get_mut(..frame.len())?.copy_from_slice(frame);
                head.fill(0);
                Some(header + frame.len())
            });
            too_small = filled.is_none();
            !too_small
        });
        if n == 0 && too_small {
            // vmnet's answer to a buffer smaller than the waiting packet.
            return Err(Error::vmnet(Operation::Read, Status::InvalidArgument));
        }
        Ok(n)
    }

    fn write(&self, descs: WriteDescs<'_>) -> Result<usize> {
        self.check_descriptors(
            descs.as_slice(),
            Operation::Write,
            self.write_max,
            self.port.max_packet_size + self.header,
        )?;
        if descs.as_slice().iter().any(|d| d.vm_pkt_size < self.header) {
            // Too short to hold the virtio-net header.
            return Err(Error::vmnet(Operation::Write, Status::InvalidArgument));
        }
        let ports = self.segment.ports();
        let mut router = Router::sender(&self.segment, &ports, &self.port);
        for i in 0..descs.len() {
            // One iovec each (checked above), so every descriptor has its packet.
            let packet = descs.packet(i).unwrap_or_default();
            // The frame follows the virtio-net header, if any, which goes no further.
            router.send(packet.get(self.header..).unwrap_or_default());
        }
        Ok(descs.len())
    }

    fn capabilities(&self) -> Capabilities {
        self.segment.capabilities
    }

    fn add_port_forwarding_rule(&self, rule: &PortForwardingRule) -> Result<()> {
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let clash = rules.iter().any(|r| r.key() == rule.key());
        if clash {
            return Err(Error::vmnet(
                Operation::AddPortForwardingRule,
                Status::InvalidArgument,
            ));
        }
        rules.push(*rule);
        Ok(())
    }

    fn remove_port_forwarding_rule(&self, key: PortForwardingKey) -> Result<()> {
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let found = rules.iter().position(|r| r.key() == key);
        match found {
            Some(i) => {
                rules.remove(i);
                Ok(())
            }
            None => Err(Error::vmnet(
                Operation::RemovePortForwardingRule,
                Status::InvalidArgument,
            )),
        }
    }

    fn port_forwarding_rules(&self) -> Result<Vec<PortForwardingRule>> {
        Ok(self
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn stop(&self, timeout: Duration) -> Result<()> {
        let events = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(events) = events else {
            return Ok(());
        };
        self.segment.detach(&self.port);
        events.join(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Driver;
    use crate::batch::PacketBatch;
    use crate::descs::{SingleRead, SingleWrite};
    use crate::options::StartOptions;
    use vmnet_sys::iovec;

    fn driver(seg: &Segment) -> (Box<dyn Driver>, Parameters) {
        let notifier = Arc::new(Notifier::new().unwrap());
        let started = seg
            .start_driver(
                &InterfaceConfig::shared(),
                StartContext {
                    options: &StartOptions::new(),
                    notifier,
                },
            )
            .unwrap();
        (started.driver, started.params)
    }

    fn status(r: Result<usize>) -> Option<Status> {
        match r {
            Err(Error::Vmnet { status, .. }) => Some(status),
            _ => None,
        }
    }

    #[test]
    fn bridged_mode_takes_only_a_bridgeable_interface() {
        let seg = Segment::builder().bridgeable_interfaces(["sim0"]).build();
        let options = StartOptions::new();
        let ctx = || StartContext {
            options: &options,
            notifier: Arc::new(Notifier::new().unwrap()),
        };
        match seg.start_driver(&InterfaceConfig::bridged("nosuch0"), ctx()) {
            Err(Error::Vmnet {
                operation: Operation::Start,
                status: Status::InvalidArgument,
            }) => {}
            other => panic!(
                "nosuch0 is not bridgeable, got {:?}",
                other.map(|s| s.params)
            ),
        }
        assert_eq!(seg.stats().interfaces, 0);
        let started = seg.start_driver(&InterfaceConfig::bridged("sim0"), ctx());
        assert!(started.is_ok(), "sim0 is listed");
        assert_eq!(seg.stats().interfaces, 1);
    }

    #[test]
    fn too_many_packets_in_one_call_is_vmnet_1008() {
        let seg = Segment::new();
        let (d, p) = driver(&seg);
        let mut batch = PacketBatch::new(p.write_max_packets() + 1, 64);
        while batch.push(&[0; 64]).is_ok() {}
        let r = d.write(batch.prepare_write(0..batch.len()));
        assert_eq!(status(r), Some(Status::TooManyPackets));
        let r = d.read(batch.prepare_read(usize::MAX));
        assert_eq!(status(r), Some(Status::TooManyPackets));
    }

    #[test]
    fn an_oversize_packet_is_vmnet_1006() {
        let seg = Segment::new();
        let (d, p) = driver(&seg);
        let frame = vec![0u8; p.max_packet_size() + 1];
        let r = d.write(SingleWrite::new(&frame).descs());
        assert_eq!(status(r), Some(Status::PacketTooBig));
        assert_eq!(seg.stats().delivered, 0);
    }

    #[test]
    // Two iovecs for one packet: no safe constructor builds that (vmnet asks for one).
    #[allow(unsafe_code)]
    fn multiple_iovecs_are_refused_like_vmnet() {
        let seg = Segment::new();
        let (d, _) = driver(&seg);
        let frame = [0u8; 64];
        let mut iovs = [0, 32].map(|at| iovec {
            iov_base: frame[at..].as_ptr().cast_mut().cast(),
            iov_len: 32,
        });
        let mut raw = [vmpktdesc {
            vm_pkt_size: 64,
            vm_pkt_iov: iovs.as_mut_ptr(),
            vm_pkt_iovcnt: 2,
            vm_flags: 0,
        }];
        // SAFETY: one descriptor over two live iovecs, which cover the two halves of `frame`
        // (initialised, only read); nothing writes them while the set lives.
        let r = d.write(unsafe { WriteDescs::from_raw(&mut raw) });
        assert_eq!(status(r), Some(Status::InvalidArgument));
    }

    #[test]
    fn a_stopped_driver_reports_stopped_and_stops_once() {
        let seg = Segment::new();
        let (d, _) = driver(&seg);
        d.stop(Duration::from_secs(5)).unwrap();
        d.stop(Duration::from_secs(5)).unwrap();
        let mut buf = [0u8; 64];
        let r = d.read(SingleRead::new(&mut buf).descs());
        assert!(matches!(r, Err(Error::Stopped)));
    }
}

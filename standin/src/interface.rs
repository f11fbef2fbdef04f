//! Interfaces: start, events, read, write and stop.
//!
//! An `interface_ref` points at an interface object that is never freed: stopped interfaces (and
//! those whose start failed) stay registered as tombstones, so that any later use is
//! recognised and aborts instead of being undefined behaviour.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::ffi::{CStr, c_int, c_void};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use vmnet_sys::{
    VMNET_BRIDGED_MODE, VMNET_BUFFER_EXHAUSTED, VMNET_HOST_MODE, VMNET_INTERFACE_PACKETS_AVAILABLE,
    VMNET_INVALID_ARGUMENT, VMNET_PACKET_TOO_BIG, VMNET_SETUP_INCOMPLETE, VMNET_SHARED_MODE,
    VMNET_SUCCESS, VMNET_TOO_MANY_PACKETS, interface_ref, iovec, vmpktdesc,
};

use crate::blocks::Block;
use crate::cf::CfRef;
use crate::counts::{self, Kind};
use crate::dispatch::QueueRef;
use crate::fatal::{fatal, guard};
use crate::faults::{self, Timing};
use crate::forwarding::Rule;
use crate::keys::name;
use crate::segment::{self, ETHERNET_HEADER, QUEUE_CAPACITY, Segment};
use crate::xpc::{Obj, Owned};

/// The 12-byte virtio-net header prepended to every packet when enabled.
pub const VIRTIO_HEADER: usize = 12;
/// The MTU of interfaces that do not set one.
pub const DEFAULT_MTU: u64 = 1500;
/// Smallest and largest MTU accepted in a description.
pub const MTU_RANGE: std::ops::RangeInclusive<u64> = 1280..=16384;
/// The maximum packet size with TSO (a 64 KiB IP packet plus the Ethernet header).
pub const TSO_MAX_PACKET: usize = 65535 + ETHERNET_HEADER;
/// Packets per read or write call: 256 from macOS 15 (reported in the parameters), the
/// documented historical 200 before (enforced, not reported).
pub const PACKETS_PER_CALL: usize = if cfg!(feature = "macos-15") { 256 } else { 200 };
/// Interface names the stand-in treats as bridgeable.
pub const BRIDGEABLE: [&str; 2] = ["en0", "en1"];

/// What an interface is started on when it is started on a network object (26.0).
#[derive(Debug)]
pub(crate) struct NetworkParams {
    pub(crate) mode: u32,
    pub(crate) segment: Arc<Segment>,
    /// Network address and mask.
    pub(crate) subnet: (Ipv4Addr, Ipv4Addr),
    /// NAT66 prefix reported in shared mode.
    pub(crate) prefix: Ipv6Addr,
    pub(crate) mtu: u32,
}

/// What the start completion decided.
#[derive(Debug)]
pub(crate) struct Config {
    segment: Arc<Segment>,
    mac: Option<[u8; 6]>,
    isolated: bool,
    /// The reported maximum packet size (without the virtio header).
    max_packet: usize,
    virtio: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Starting,
    Running,
    Failed,
    Stopping,
    Stopped,
}

struct EventReg {
    mask: u32,
    queue: QueueRef,
    block: Arc<Block>,
    generation: u64,
}

type Deferred = Box<dyn FnOnce() + Send>;

struct State {
    phase: Phase,
    frames: VecDeque<Vec<u8>>,
    /// An event was scheduled and no read has happened since.
    event_pending: bool,
    events: Option<EventReg>,
    generation: u64,
    /// The queue the interface was started with: port-forwarding completions run there.
    start_queue: Option<QueueRef>,
    pub(crate) rules: Vec<Rule>,
    network: Option<CfRef>,
    /// The "event during stop" fault's extra event has not run yet.
    late_event: bool,
    /// A stop completion waiting for that extra event.
    after_late_event: Option<Deferred>,
}

/// An interface. `interface_ref` values point at this.
pub(crate) struct Iface {
    config: OnceLock<Config>,
    state: Mutex<State>,
    /// Held while an event callback runs: callbacks of one interface never overlap.
    event_run: Mutex<()>,
}

impl std::fmt::Debug for Iface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iface")
            .field("config", &self.config.get())
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Set while a start completion handler runs on this thread.
    static IN_START_HANDLER: Cell<bool> = const { Cell::new(false) };
}

fn registry() -> MutexGuard<'static, HashMap<usize, Arc<Iface>>> {
    static ALL: OnceLock<Mutex<HashMap<usize, Arc<Iface>>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

impl Iface {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The interface at `ptr`: aborts for a pointer that was never an interface.
    pub(crate) fn get(ptr: interface_ref, op: &str) -> Arc<Iface> {
        if ptr.is_null() {
            fatal(format_args!("{op} with a NULL interface_ref"));
        }
        match registry().get(&(ptr as usize)) {
            Some(iface) => iface.clone(),
            None => fatal(format_args!(
                "{op} on {ptr:p}, which is not an interface_ref vmnet returned"
            )),
        }
    }

    /// The interface at `ptr`, which must be running (started, stop not called): aborts
    /// for stopped, stopping and failed interfaces. `Err(VMNET_SETUP_INCOMPLETE)` while the
    /// start completion has not run yet.
    pub(crate) fn running(ptr: interface_ref, op: &str) -> Result<Arc<Iface>, u32> {
        let iface = Self::get(ptr, op);
        let phase = iface.state().phase;
        match phase {
            Phase::Running => Ok(iface),
            Phase::Starting => Err(VMNET_SETUP_INCOMPLETE),
            Phase::Failed => fatal(format_args!(
                "{op} on an interface whose start failed (on a Mac the handle is dead)"
            )),
            Phase::Stopping | Phase::Stopped => fatal(format_args!(
                "{op} on a stopped interface (use after vmnet_stop_interface: undefined \
                 behaviour on a Mac)"
            )),
        }
    }

    pub(crate) fn mac(&self) -> Option<[u8; 6]> {
        self.config.get().and_then(|c| c.mac)
    }

    pub(crate) fn isolated(&self) -> bool {
        self.config.get().is_some_and(|c| c.isolated)
    }

    fn config(&self) -> &Config {
        self.config
            .get()
            .unwrap_or_else(|| fatal("internal: a running interface without a configuration"))
    }

    /// The queue port-forwarding completions run on.
    pub(crate) fn start_queue(&self) -> Option<QueueRef> {
        self.state().start_queue.clone()
    }

    /// Runs `f` on the port-forwarding rules.
    pub(crate) fn with_rules<R>(&self, f: impl FnOnce(&mut Vec<Rule>) -> R) -> R {
        f(&mut self.state().rules)
    }

    /// Queues a copy of `frame` for this interface (called by the segment).
    pub(crate) fn deliver(self: &Arc<Self>, frame: &[u8]) {
        let Some(config) = self.config.get() else {
            return;
        };
        if frame.len() > config.max_packet {
            segment::count_drop();
            return;
        }
        let mut state = self.state();
        if state.phase != Phase::Running {
            return;
        }
        if state.frames.len() >= QUEUE_CAPACITY {
            segment::count_drop();
            return;
        }
        state.frames.push_back(frame.to_vec());
        if !state.event_pending {
            self.schedule_event(&mut state);
        }
    }

    /// Schedules an event on the registered callback's queue, if one is registered for
    /// packet events.
    fn schedule_event(self: &Arc<Self>, state: &mut State) {
        let Some(reg) = &state.events else { return };
        if reg.mask & VMNET_INTERFACE_PACKETS_AVAILABLE == 0 {
            return;
        }
        state.event_pending = true;
        let iface = self.clone();
        let block = reg.block.clone();
        let generation = reg.generation;
        reg.queue.queue().submit(
            faults::random_delay(),
            Box::new(move || {
                let estimate = {
                    let state = iface.state();
                    let current = state.events.as_ref().map(|r| r.generation);
                    if state.phase != Phase::Running
                        || current != Some(generation)
                        || state.frames.is_empty()
                    {
                        return;
                    }
                    state.frames.len()
                };
                iface.call_event(&block, estimate);
            }),
        );
    }

    /// Calls an event callback with a fresh event dictionary, released right after.
    fn call_event(&self, block: &Block, estimate: usize) {
        let event = if faults::take_event_not_dictionary() {
            Owned::from_obj(Obj::array())
        } else {
            let event = Owned::from_obj(Obj::dictionary());
            event
                .obj()
                .set_u64(name::ESTIMATED_PACKETS, estimate as u64);
            event
        };
        let _serial = self
            .event_run
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the block was registered as a vmnet_interface_event_callback_t, which
        // takes (interface_event_t, xpc_object_t); the dictionary lives for the call.
        unsafe { block.call_u32_object(VMNET_INTERFACE_PACKETS_AVAILABLE, event.obj().as_ptr()) };
        drop(_serial);
        drop(event);
    }

    /// Ends the interface (stop completed, or start failed): releases what it holds.
    fn finish(&self, phase: Phase) {
        let (events, queue, network, rules, frames) = {
            let mut state = self.state();
            if matches!(state.phase, Phase::Stopped | Phase::Failed) {
                return;
            }
            state.phase = phase;
            (
                state.events.take(),
                state.start_queue.take(),
                state.network.take(),
                std::mem::take(&mut state.rules),
                std::mem::take(&mut state.frames),
            )
        };
        if let Some(config) = self.config.get() {
            config.segment.detach(self);
        }
        counts::destroyed(Kind::Interface);
        drop((events, queue, network, rules, frames));
    }
}

/// Ends an interface whose start completion never ran (dropped by a reset).
struct PendingStart(Arc<Iface>);

impl Drop for PendingStart {
    fn drop(&mut self) {
        let starting = self.0.state().phase == Phase::Starting;
        if starting {
            self.0.finish(Phase::Failed);
        }
    }
}

/// Ends an interface whose stop completion has not run (yet, or ever: dropped by a reset).
struct PendingStop(Arc<Iface>);

impl Drop for PendingStop {
    fn drop(&mut self) {
        self.0.finish(Phase::Stopped);
    }
}

/// Submits a completion `job` to `queue` with the next completion timing (late, never: then
/// it is held until reset).
pub(crate) fn complete_on(queue: &QueueRef, job: Deferred) {
    match faults::completion_timing() {
        Timing::After(delay) => queue.queue().submit(delay, job),
        Timing::Never => faults::hold(Box::new(job)),
    }
}

/// Reads a typed entry of a description: `Err(VMNET_INVALID_ARGUMENT)` for a value of the
/// wrong type.
struct Desc(Obj);

const OP_DESC: &str = "reading the interface description in the start completion (the \
                       description must stay alive until the start completion has run)";

impl Desc {
    fn value(&self, key: &CStr) -> Option<Obj> {
        self.0.get_value(OP_DESC, key)
    }

    fn u64(&self, key: &CStr) -> Result<Option<u64>, u32> {
        self.value(key)
            .map(|v| v.as_u64(OP_DESC).ok_or(VMNET_INVALID_ARGUMENT))
            .transpose()
    }

    fn bool(&self, key: &CStr) -> Result<Option<bool>, u32> {
        self.value(key)
            .map(|v| v.as_bool(OP_DESC).ok_or(VMNET_INVALID_ARGUMENT))
            .transpose()
    }

    fn string(&self, key: &CStr) -> Result<Option<String>, u32> {
        self.value(key)
            .map(|v| v.as_string(OP_DESC).ok_or(VMNET_INVALID_ARGUMENT))
            .transpose()
    }

    fn uuid(&self, key: &CStr) -> Result<Option<[u8; 16]>, u32> {
        self.value(key)
            .map(|v| v.as_uuid(OP_DESC).ok_or(VMNET_INVALID_ARGUMENT))
            .transpose()
    }

    fn ipv4(&self, key: &CStr) -> Result<Option<Ipv4Addr>, u32> {
        self.string(key)?
            .map(|s| s.parse().map_err(|_| VMNET_INVALID_ARGUMENT))
            .transpose()
    }

    /// The options every start honours: allocate-MAC, TSO, isolation, checksum offload
    /// (12.0). Checksum offload is validated even though the stand-in does nothing with it.
    fn common(&self) -> Result<(bool, bool, bool, bool), u32> {
        let allocate = self.bool(name::ALLOCATE_MAC)?.unwrap_or(true);
        let tso = self.bool(name::ENABLE_TSO)?.unwrap_or(false);
        let isolation = self.bool(name::ENABLE_ISOLATION)?.unwrap_or(false);
        let checksum = if cfg!(feature = "macos-12") {
            self.bool(name::ENABLE_CHECKSUM_OFFLOAD)?.unwrap_or(false)
        } else {
            false
        };
        Ok((allocate, tso, isolation, checksum))
    }
}

fn contiguous(mask: Ipv4Addr) -> bool {
    let bits = u32::from(mask);
    bits.leading_ones() + bits.trailing_zeros() == 32 && bits != 0
}

/// The NAT66 prefix of shared interfaces that do not set one (one per process, like the
/// one shared network of a Mac).
fn default_nat66_prefix() -> Ipv6Addr {
    static PREFIX: OnceLock<Ipv6Addr> = OnceLock::new();
    *PREFIX.get_or_init(|| {
        Ipv6Addr::new(
            0xfd76,
            0x6d6e,
            0x6574,
            faults::random_u64() as u16,
            0,
            0,
            0,
            0,
        )
    })
}

/// A random (version 4) UUID.
fn random_uuid() -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&faults::random_u64().to_le_bytes());
    b[8..].copy_from_slice(&faults::random_u64().to_le_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// The MAC derived from an interface id: locally administered unicast, the same for the
/// same id.
pub fn mac_for_id(id: &[u8; 16]) -> [u8; 6] {
    [
        (id[10] & 0xfc) | 0x02,
        id[11],
        id[12],
        id[13],
        id[14],
        id[15],
    ]
}

fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Validates a description and builds the configuration and the parameter dictionary.
fn configure(desc: &Desc, network: Option<&NetworkParams>) -> Result<(Config, Owned), u32> {
    let (allocate, tso, isolation, checksum) = desc.common()?;
    let virtio = if network.is_none() && cfg!(feature = "macos-15-4") {
        desc.bool(name::ENABLE_VIRTIO_HEADER)?.unwrap_or(false)
    } else {
        false
    };
    if checksum && virtio {
        return Err(VMNET_INVALID_ARGUMENT);
    }
    let id = desc.uuid(name::INTERFACE_ID)?.unwrap_or_else(random_uuid);
    let (mode, mtu, segment, range, nat66) = match network {
        Some(net) => {
            let (n, m) = (u32::from(net.subnet.0), u32::from(net.subnet.1));
            let range = (
                Ipv4Addr::from(n + 1),
                Ipv4Addr::from((n | !m) - 1),
                net.subnet.1,
            );
            (
                net.mode,
                u64::from(net.mtu),
                net.segment.clone(),
                Some(range),
                (net.mode == VMNET_SHARED_MODE).then_some(net.prefix),
            )
        }
        None => plain(desc)?,
    };
    let mut max_packet = mtu as usize + ETHERNET_HEADER;
    if tso {
        max_packet = max_packet.max(TSO_MAX_PACKET);
    }
    let mac = allocate.then(|| mac_for_id(&id));
    let params = Owned::from_obj(Obj::dictionary());
    let p = params.obj();
    p.set_uuid(name::INTERFACE_ID, id);
    if let Some(mac) = &mac {
        p.set_string(name::MAC_ADDRESS, &format_mac(mac));
    }
    p.set_u64(name::MTU, mtu);
    p.set_u64(name::MAX_PACKET_SIZE, max_packet as u64);
    if cfg!(feature = "macos-15") {
        p.set_u64(name::READ_MAX_PACKETS, PACKETS_PER_CALL as u64);
        p.set_u64(name::WRITE_MAX_PACKETS, PACKETS_PER_CALL as u64);
    }
    if let Some((start, end, mask)) = range {
        p.set_string(name::START_ADDRESS, &start.to_string());
        p.set_string(name::END_ADDRESS, &end.to_string());
        p.set_string(name::SUBNET_MASK, &mask.to_string());
    }
    if let Some(prefix) = nat66 {
        p.set_string(name::NAT66_PREFIX, &prefix.to_string());
    }
    let _ = mode;
    Ok((
        Config {
            segment,
            mac,
            isolated: isolation,
            max_packet,
            virtio,
        },
        params,
    ))
}

type Plain = (
    u32,
    u64,
    Arc<Segment>,
    Option<(Ipv4Addr, Ipv4Addr, Ipv4Addr)>,
    Option<Ipv6Addr>,
);

/// The mode-dependent part of a description for `vmnet_start_interface`.
fn plain(desc: &Desc) -> Result<Plain, u32> {
    let mode = desc.u64(name::MODE)?.ok_or(VMNET_INVALID_ARGUMENT)?;
    let mode = u32::try_from(mode).map_err(|_| VMNET_INVALID_ARGUMENT)?;
    if !(VMNET_HOST_MODE..=VMNET_BRIDGED_MODE).contains(&mode) {
        return Err(VMNET_INVALID_ARGUMENT);
    }
    let mtu = desc.u64(name::MTU)?;
    if mode == VMNET_BRIDGED_MODE {
        if mtu.is_some() {
            return Err(VMNET_INVALID_ARGUMENT);
        }
        let ifname = desc
            .string(name::SHARED_INTERFACE_NAME)?
            .ok_or(VMNET_INVALID_ARGUMENT)?;
        if !BRIDGEABLE.contains(&ifname.as_str()) {
            return Err(VMNET_INVALID_ARGUMENT);
        }
        return Ok((
            mode,
            DEFAULT_MTU,
            segment::default_segment().clone(),
            None,
            None,
        ));
    }
    let mtu = mtu.unwrap_or(DEFAULT_MTU);
    if !MTU_RANGE.contains(&mtu) {
        return Err(VMNET_INVALID_ARGUMENT);
    }
    let given = (
        desc.ipv4(name::START_ADDRESS)?,
        desc.ipv4(name::END_ADDRESS)?,
        desc.ipv4(name::SUBNET_MASK)?,
    );
    let mut range = match given {
        (Some(start), Some(end), Some(mask)) => {
            let (s, e, m) = (u32::from(start), u32::from(end), u32::from(mask));
            let network = s & m;
            if !contiguous(mask) || e & m != network || s >= e || s == network || e == network | !m
            {
                return Err(VMNET_INVALID_ARGUMENT);
            }
            (start, end, mask)
        }
        (None, None, None) => {
            let third = if mode == VMNET_SHARED_MODE { 105 } else { 106 };
            (
                Ipv4Addr::new(192, 168, third, 1),
                Ipv4Addr::new(192, 168, third, 254),
                Ipv4Addr::new(255, 255, 255, 0),
            )
        }
        _ => return Err(VMNET_INVALID_ARGUMENT),
    };
    let mut segment = segment::default_segment().clone();
    let mut nat66 = None;
    if mode == VMNET_SHARED_MODE {
        nat66 = Some(match desc.string(name::NAT66_PREFIX)? {
            Some(s) => s.parse().map_err(|_| VMNET_INVALID_ARGUMENT)?,
            None => default_nat66_prefix(),
        });
    } else if let Some(id) = desc.uuid(name::NETWORK_IDENTIFIER)? {
        segment = segment::identified_segment(id);
        let host_ip = desc.ipv4(name::HOST_IP_ADDRESS)?;
        let host_mask = desc.ipv4(name::HOST_SUBNET_MASK)?;
        let _ = desc
            .string(name::HOST_IPV6_ADDRESS)?
            .map(|s| s.parse::<Ipv6Addr>().map_err(|_| VMNET_INVALID_ARGUMENT))
            .transpose()?;
        match (host_ip, host_mask) {
            (Some(ip), Some(mask)) => {
                if !contiguous(mask) {
                    return Err(VMNET_INVALID_ARGUMENT);
                }
                let (a, m) = (u32::from(ip), u32::from(mask));
                range = (ip, Ipv4Addr::from((a & m | !m) - 1), mask);
            }
            (None, None) => {}
            _ => return Err(VMNET_INVALID_ARGUMENT),
        }
    }
    Ok((mode, mtu, segment, Some(range), nat66))
}

/// A pointer that crosses to a queue's thread (the caller's contract allows it).
struct SendPtr(*mut c_void);
// SAFETY: the description pointer is only used on the queue's thread, through the XPC
// registry's checks; the caller keeps the object alive (vmnet's contract).
unsafe impl Send for SendPtr {}

/// The start of `vmnet_start_interface` and `vmnet_interface_start_with_network`.
///
/// # Safety
/// `handler` is NULL or a start completion block.
pub(crate) unsafe fn start(
    op: &str,
    desc: *mut c_void,
    queue: *mut c_void,
    handler: *mut c_void,
    network: Option<(NetworkParams, CfRef)>,
) -> interface_ref {
    if desc.is_null() || queue.is_null() || handler.is_null() {
        return std::ptr::null_mut();
    }
    // Checked now: a pointer that is not a live XPC object aborts at once.
    Obj::get(desc, op);
    let queue = QueueRef::retain(queue, op);
    // SAFETY: the caller passes a start completion block.
    let block = unsafe { Block::copy(handler) }.unwrap_or_else(|| fatal("a NULL block"));
    if faults::take_start_null() {
        return std::ptr::null_mut();
    }
    let fails = faults::take_start_fails();
    let (network, network_ref) = match network {
        Some((params, cf)) => (Some(params), Some(cf)),
        None => (None, None),
    };
    let iface = Arc::new(Iface {
        config: OnceLock::new(),
        state: Mutex::new(State {
            phase: Phase::Starting,
            frames: VecDeque::new(),
            event_pending: false,
            events: None,
            generation: 0,
            start_queue: Some(queue.clone()),
            rules: Vec::new(),
            network: network_ref,
            late_event: false,
            after_late_event: None,
        }),
        event_run: Mutex::new(()),
    });
    let handle = Arc::as_ptr(&iface).cast_mut();
    registry().insert(handle as usize, iface.clone());
    counts::created(Kind::Interface);
    let pending = PendingStart(iface);
    let desc = SendPtr(desc);
    complete_on(
        &queue,
        Box::new(move || {
            let pending = pending;
            let desc = desc;
            let iface = pending.0.clone();
            let outcome = match fails {
                Some(status) => Err(status),
                None => configure(&Desc(Obj::get(desc.0, OP_DESC)), network.as_ref()),
            };
            match outcome {
                Ok((config, params)) => {
                    let segment = config.segment.clone();
                    let _ = iface.config.set(config);
                    iface.state().phase = Phase::Running;
                    segment.attach(iface.clone());
                    drop(pending);
                    call_start(&block, VMNET_SUCCESS, params.obj().as_ptr());
                    drop(params);
                }
                Err(status) => {
                    drop(pending); // still Starting: ends the interface as failed
                    call_start(&block, status, std::ptr::null_mut());
                }
            }
            drop(block);
        }),
    );
    handle.cast()
}

fn call_start(block: &Block, status: u32, params: *mut c_void) {
    IN_START_HANDLER.with(|f| f.set(true));
    // SAFETY: the block was passed as a vmnet_start_interface_completion_handler_t, which
    // takes (vmnet_return_t, xpc_object_t); the parameters live for the call.
    unsafe { block.call_u32_object(status, params) };
    IN_START_HANDLER.with(|f| f.set(false));
}

/// `vmnet_start_interface(interface_desc, queue, handler)`: starts an interface.
///
/// Returns NULL at once for a NULL argument (or the `FAULT_START_RETURNS_NULL` fault).
/// Otherwise returns the handle and, after a random delay, calls `handler(status, params)`
/// on `queue`: `VMNET_SUCCESS` with the parameter dictionary (released right after the
/// handler returns: retain it to keep it), or an error status with NULL. The description is
/// read **when the completion runs**, so it must stay alive until then (vmnet's contract);
/// a released description aborts. See the crate docs for the validation rules and defaults.
///
/// # Safety
/// `interface_desc` is an XPC dictionary, `queue` a dispatch queue and `handler` a
/// `vmnet_start_interface_completion_handler_t` block (pointers are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_start_interface(
    interface_desc: vmnet_sys::xpc_object_t,
    queue: vmnet_sys::dispatch_queue_t,
    handler: vmnet_sys::vmnet_start_interface_completion_handler_t,
) -> interface_ref {
    guard("vmnet_start_interface", || {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            start(
                "vmnet_start_interface",
                interface_desc,
                queue.cast(),
                handler,
                None,
            )
        }
    })
}

/// `vmnet_interface_set_event_callback(interface, event_mask, queue, callback)`.
///
/// With a queue and a callback: registers them (replacing any previous callback); each
/// time frames arrive with no event outstanding, or a read leaves frames queued, the
/// callback runs on `queue` with `VMNET_INTERFACE_PACKETS_AVAILABLE` and a dictionary
/// holding `vmnet_estimated_packets_available` (released after the callback returns). With
/// both NULL: disables events (the old block is released). Only one NULL, or mask bits other
/// than `VMNET_INTERFACE_PACKETS_AVAILABLE`: `VMNET_INVALID_ARGUMENT`.
///
/// # Safety
/// `interface` is a running interface (checked: stopped ones abort); `queue` and `callback`
/// are NULL or a queue and a `vmnet_interface_event_callback_t` block.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_interface_set_event_callback(
    interface: interface_ref,
    event_mask: vmnet_sys::interface_event_t,
    queue: vmnet_sys::dispatch_queue_t,
    callback: vmnet_sys::vmnet_interface_event_callback_t,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_interface_set_event_callback", || {
        let op = "vmnet_interface_set_event_callback";
        let iface = Iface::get(interface, op);
        {
            let phase = iface.state().phase;
            match phase {
                Phase::Starting | Phase::Running => {}
                Phase::Failed => fatal(format_args!(
                    "{op} on an interface whose start failed (on a Mac the handle is dead)"
                )),
                Phase::Stopping | Phase::Stopped => fatal(format_args!(
                    "{op} on a stopped interface (use after vmnet_stop_interface)"
                )),
            }
        }
        match (queue.is_null(), callback.is_null()) {
            (true, true) => {
                disable_events(&iface);
                VMNET_SUCCESS
            }
            (false, false) => {
                if event_mask & !VMNET_INTERFACE_PACKETS_AVAILABLE != 0 {
                    return VMNET_INVALID_ARGUMENT;
                }
                let queue = QueueRef::retain(queue.cast(), op);
                // SAFETY: the caller passes an event callback block.
                let block =
                    unsafe { Block::copy(callback) }.unwrap_or_else(|| fatal("a NULL block"));
                let old = {
                    let mut state = iface.state();
                    state.generation += 1;
                    let generation = state.generation;
                    let old = state.events.replace(EventReg {
                        mask: event_mask,
                        queue,
                        block: Arc::new(block),
                        generation,
                    });
                    state.event_pending = false;
                    if !state.frames.is_empty() {
                        iface.schedule_event(&mut state);
                    }
                    old
                };
                release_on_queue(old);
                VMNET_SUCCESS
            }
            _ => VMNET_INVALID_ARGUMENT,
        }
    })
}

/// Releases a replaced or disabled event registration (its block and queue) on its own
/// queue, after whatever is queued there: asynchronously, as libdispatch releases blocks.
fn release_on_queue(old: Option<EventReg>) {
    if let Some(old) = old {
        let queue = old.queue.queue();
        queue.submit(std::time::Duration::ZERO, Box::new(move || drop(old)));
    }
}

fn disable_events(iface: &Arc<Iface>) {
    let old = {
        let mut state = iface.state();
        state.generation += 1;
        state.event_pending = false;
        state.events.take()
    };
    let Some(old) = old else { return };
    if !faults::take_event_during_stop() {
        release_on_queue(Some(old));
        return;
    }
    // The fault: the old callback runs once more, after being disabled.
    iface.state().late_event = true;
    let late = iface.clone();
    let queue = old.queue.clone();
    queue.queue().submit(
        faults::random_delay(),
        Box::new(move || {
            let estimate = late.state().frames.len();
            late.call_event(&old.block, estimate);
            drop(old);
            let after = {
                let mut state = late.state();
                state.late_event = false;
                state.after_late_event.take()
            };
            if let Some(after) = after {
                after();
            }
        }),
    );
}

/// `vmnet_stop_interface(interface, queue, handler)`: stops the interface.
///
/// Detaches it at once (no more frames); after a random delay runs `handler(VMNET_SUCCESS)`
/// on `queue`, by which time the handle is dead. Returns `VMNET_SUCCESS` when the handler was
/// scheduled, `VMNET_INVALID_ARGUMENT` for a NULL queue or handler (nothing is stopped).
///
/// Stricter than vmnet: stopping twice, stopping an interface whose start has not completed
/// or failed, and stopping from inside a start completion handler abort. Stopping while an
/// event callback is registered prints a warning and **never** completes (real vmnet is
/// reported to hang); the handler is released at the next `vmnet_standin_reset`.
///
/// # Safety
/// `interface` is a running interface (checked); `queue` a queue and `handler` a
/// `vmnet_interface_completion_handler_t` block.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_stop_interface(
    interface: interface_ref,
    queue: vmnet_sys::dispatch_queue_t,
    handler: vmnet_sys::vmnet_interface_completion_handler_t,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_stop_interface", || {
        let op = "vmnet_stop_interface";
        let iface = Iface::get(interface, op);
        if IN_START_HANDLER.with(Cell::get) {
            fatal(format_args!(
                "{op} called from inside a start completion handler"
            ));
        }
        let phase = iface.state().phase;
        match phase {
            Phase::Running => {}
            Phase::Starting => fatal(format_args!(
                "{op} before the interface's start completion ran"
            )),
            Phase::Failed => fatal(format_args!("{op} on an interface whose start failed")),
            Phase::Stopping | Phase::Stopped => {
                fatal(format_args!("{op} called twice on one interface"))
            }
        }
        if queue.is_null() || handler.is_null() {
            return VMNET_INVALID_ARGUMENT;
        }
        let queue = QueueRef::retain(queue.cast(), op);
        // SAFETY: the caller passes a completion handler block.
        let block = unsafe { Block::copy(handler) }.unwrap_or_else(|| fatal("a NULL block"));
        let (hung, late_event) = {
            let mut state = iface.state();
            state.phase = Phase::Stopping;
            state.frames.clear();
            (state.events.is_some(), state.late_event)
        };
        iface.config().segment.detach(&iface);
        let pending = PendingStop(iface.clone());
        let job: Deferred = Box::new(move || {
            drop(pending); // the handle is dead before the handler runs
            // SAFETY: a vmnet_interface_completion_handler_t takes (vmnet_return_t).
            unsafe { block.call_u32(VMNET_SUCCESS) };
            drop(block);
        });
        if hung {
            eprintln!(
                "vmnet-standin: warning: vmnet_stop_interface while an event callback is still \
                 registered: real vmnet is reported to hang here, so this stop never completes \
                 (disable the callback with NULL queue and block first)"
            );
            faults::hold(Box::new(job));
            return VMNET_SUCCESS;
        }
        let schedule: Deferred = Box::new(move || complete_on(&queue, job));
        if late_event {
            let mut state = iface.state();
            if state.late_event {
                state.after_late_event = Some(schedule);
                return VMNET_SUCCESS;
            }
        }
        schedule();
        VMNET_SUCCESS
    })
}

/// Validated descriptor arguments: the count, or the status to return.
///
/// # Safety
/// `pktcnt` is NULL or valid for reads.
unsafe fn packet_count(packets: *mut vmpktdesc, pktcnt: *mut c_int) -> Result<usize, u32> {
    if pktcnt.is_null() {
        return Err(VMNET_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL and valid for reads (the caller's contract).
    let n = unsafe { *pktcnt };
    let n = usize::try_from(n).map_err(|_| VMNET_INVALID_ARGUMENT)?;
    if n > 0 && packets.is_null() {
        return Err(VMNET_INVALID_ARGUMENT);
    }
    if n > PACKETS_PER_CALL {
        return Err(VMNET_TOO_MANY_PACKETS);
    }
    Ok(n)
}

/// The iovecs of a descriptor, checked: at least one, not NULL, no NULL base with a length.
///
/// # Safety
/// The descriptor's iovec pointer is valid for `vm_pkt_iovcnt` entries.
unsafe fn iovecs(desc: &vmpktdesc) -> Result<&[iovec], u32> {
    if desc.vm_pkt_iovcnt == 0 || desc.vm_pkt_iov.is_null() {
        return Err(VMNET_INVALID_ARGUMENT);
    }
    // SAFETY: the caller guarantees `vm_pkt_iovcnt` readable iovecs.
    let iovs = unsafe { std::slice::from_raw_parts(desc.vm_pkt_iov, desc.vm_pkt_iovcnt as usize) };
    if iovs.iter().any(|v| v.iov_base.is_null() && v.iov_len > 0) {
        return Err(VMNET_INVALID_ARGUMENT);
    }
    Ok(iovs)
}

/// Writes the status's count (0 on error) and returns the status.
///
/// # Safety
/// `pktcnt` is NULL or valid for writes.
unsafe fn finish_call(pktcnt: *mut c_int, result: Result<usize, u32>) -> u32 {
    let (count, status) = match result {
        Ok(n) => (n, VMNET_SUCCESS),
        Err(status) => (0, status),
    };
    if !pktcnt.is_null() {
        // SAFETY: non-NULL and valid for writes (the caller's contract); count <= i32::MAX.
        unsafe { *pktcnt = count as c_int };
    }
    status
}

/// `vmnet_read(interface, packets, pktcnt)`: reads up to `*pktcnt` frames.
///
/// In: each descriptor's `vm_pkt_size` is its buffer capacity (at most the iovecs' total
/// length) and `vm_flags` is 0. Out: `*pktcnt` frames were read, each with `vm_pkt_size` its
/// length (plus the 12-byte zeroed virtio-net header when enabled) and `vm_flags` 0; 0
/// frames is normal. Statuses: `VMNET_INVALID_ARGUMENT` for NULL or negative arguments, a
/// descriptor without iovecs, a NULL iovec base with a length, a capacity larger than the
/// iovecs or non-zero flags, and when the first waiting frame does not fit the first buffer
/// (the frame stays queued; a later buffer too small ends the read early with success);
/// `VMNET_TOO_MANY_PACKETS` above the per-call limit; `VMNET_SETUP_INCOMPLETE` before the
/// start completion. On errors `*pktcnt` is set to 0.
///
/// # Safety
/// `interface` is a running interface (checked: stopped ones abort); the descriptors,
/// iovecs and buffers are valid for `*pktcnt` packets.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_read(
    interface: interface_ref,
    packets: *mut vmpktdesc,
    pktcnt: *mut c_int,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_read", || {
        // SAFETY: forwarded from the caller's contract.
        let result = unsafe { read(interface, packets, pktcnt) };
        // SAFETY: as above.
        unsafe { finish_call(pktcnt, result) }
    })
}

/// # Safety
/// As [`vmnet_read`].
unsafe fn read(
    interface: interface_ref,
    packets: *mut vmpktdesc,
    pktcnt: *mut c_int,
) -> Result<usize, u32> {
    let iface = Iface::running(interface, "vmnet_read")?;
    // SAFETY: the caller's contract.
    let n = unsafe { packet_count(packets, pktcnt) }?;
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: non-NULL, `n` descriptors (the caller's contract).
    let descs = unsafe { std::slice::from_raw_parts_mut(packets, n) };
    for d in descs.iter() {
        // SAFETY: the caller's contract for each descriptor.
        let iovs = unsafe { iovecs(d) }?;
        let total: usize = iovs.iter().map(|v| v.iov_len).sum();
        if d.vm_pkt_size > total || d.vm_flags != 0 {
            return Err(VMNET_INVALID_ARGUMENT);
        }
    }
    if faults::take_read_exhausted() {
        return Err(VMNET_BUFFER_EXHAUSTED);
    }
    let header = if iface.config().virtio {
        VIRTIO_HEADER
    } else {
        0
    };
    let mut state = iface.state();
    let mut read = 0;
    while read < n {
        let Some(frame) = state.frames.front() else {
            break;
        };
        let d = &mut descs[read];
        if frame.len() + header > d.vm_pkt_size {
            if read == 0 {
                return Err(VMNET_INVALID_ARGUMENT);
            }
            break;
        }
        // SAFETY: checked above.
        let iovs = unsafe { iovecs(d) }?;
        scatter(iovs, header, frame);
        let capacity: usize = iovs.iter().map(|v| v.iov_len).sum();
        d.vm_pkt_size = if faults::take_read_size_past_buffer() {
            capacity + 1
        } else {
            frame.len() + header
        };
        d.vm_flags = 0;
        state.frames.pop_front();
        read += 1;
    }
    state.event_pending = false;
    if !state.frames.is_empty() {
        iface.schedule_event(&mut state);
    }
    Ok(read)
}

/// Copies `header` zero bytes, then `frame`, across `iovs` (which hold enough room).
fn scatter(iovs: &[iovec], header: usize, frame: &[u8]) {
    let zeros = [0u8; VIRTIO_HEADER];
    let mut sources = [&zeros[..header], frame];
    for iov in iovs {
        let mut room = iov.iov_len;
        let mut at = 0;
        for src in sources.iter_mut() {
            let take = src.len().min(room);
            if take == 0 {
                continue;
            }
            // SAFETY: the iovec base is valid for `iov_len` writable bytes (the caller's
            // contract) and `at + take <= iov_len`; the source is our own memory.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    src.as_ptr(),
                    iov.iov_base.cast::<u8>().add(at),
                    take,
                );
            }
            *src = &src[take..];
            at += take;
            room -= take;
        }
    }
}

/// `vmnet_write(interface, packets, pktcnt)`: writes `*pktcnt` frames.
///
/// Each descriptor: exactly one iovec, `vm_pkt_size` equal to its length, one complete
/// Ethernet frame of at most the maximum packet size (plus 12 with the virtio header, whose
/// 12 bytes are stripped). Statuses, checked over all descriptors in this order:
/// `VMNET_INVALID_ARGUMENT` (NULL or negative arguments), `VMNET_TOO_MANY_PACKETS` (above the
/// per-call limit), `VMNET_INVALID_ARGUMENT` (not one iovec, NULL base, size not the iovec
/// length, shorter than the virtio header), `VMNET_PACKET_TOO_BIG`. Frames shorter than an
/// Ethernet header are accepted and discarded (as the simulator does). Out: `*pktcnt`
/// frames written (0 on error).
///
/// # Safety
/// `interface` is a running interface (checked: stopped ones abort); the descriptors,
/// iovecs and buffers are valid for `*pktcnt` packets.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_write(
    interface: interface_ref,
    packets: *mut vmpktdesc,
    pktcnt: *mut c_int,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_write", || {
        // SAFETY: forwarded from the caller's contract.
        let result = unsafe { write(interface, packets, pktcnt) };
        // SAFETY: as above.
        unsafe { finish_call(pktcnt, result) }
    })
}

/// # Safety
/// As [`vmnet_write`].
unsafe fn write(
    interface: interface_ref,
    packets: *mut vmpktdesc,
    pktcnt: *mut c_int,
) -> Result<usize, u32> {
    let iface = Iface::running(interface, "vmnet_write")?;
    // SAFETY: the caller's contract.
    let n = unsafe { packet_count(packets, pktcnt) }?;
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: non-NULL, `n` descriptors (the caller's contract).
    let descs = unsafe { std::slice::from_raw_parts(packets, n) };
    let config = iface.config();
    let header = if config.virtio { VIRTIO_HEADER } else { 0 };
    let mut frames: Vec<&[u8]> = Vec::with_capacity(n);
    for d in descs {
        // SAFETY: the caller's contract for each descriptor.
        let iovs = unsafe { iovecs(d) }?;
        if iovs.len() != 1 || iovs[0].iov_len != d.vm_pkt_size || d.vm_pkt_size < header {
            return Err(VMNET_INVALID_ARGUMENT);
        }
        let frame: &[u8] = if d.vm_pkt_size == 0 {
            &[]
        } else {
            // SAFETY: a non-NULL base valid for `iov_len` readable bytes (the caller's
            // contract), not written while we read it.
            unsafe { std::slice::from_raw_parts(iovs[0].iov_base.cast::<u8>(), d.vm_pkt_size) }
        };
        frames.push(&frame[header..]);
    }
    if descs
        .iter()
        .any(|d| d.vm_pkt_size > config.max_packet + header)
    {
        return Err(VMNET_PACKET_TOO_BIG);
    }
    let count = faults::take_write_partial(n as u32).map_or(n, |k| k as usize);
    config
        .segment
        .route(Some(&iface), frames[..count].iter().copied());
    Ok(count)
}

#[cfg(test)]
pub(crate) fn is_stopped(ptr: interface_ref) -> bool {
    Iface::get(ptr, "test").state().phase == Phase::Stopped
}

/// `vmnet_copy_shared_interface_list()`: a new XPC array (+1, release with `xpc_release`)
/// of the bridgeable interface names, `"en0"` and `"en1"`.
#[unsafe(no_mangle)]
pub extern "C" fn vmnet_copy_shared_interface_list() -> vmnet_sys::xpc_object_t {
    guard("vmnet_copy_shared_interface_list", || {
        let list = Obj::array();
        for name in BRIDGEABLE {
            list.push(Obj::string(name));
        }
        list.as_ptr()
    })
}

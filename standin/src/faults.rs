//! Fault injection and completion timing.
//!
//! Faults are armed by tests through `vmnet_standin_fault` and are one-shot: the first call
//! they apply to takes them. `vmnet_standin_reset` disarms them all and drops whatever the
//! "never completes" fault (and a hung stop) held back.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crate::fatal::fatal;

/// Fault: the next start completes with status `arg` and NULL parameters.
pub const FAULT_START_FAILS: u32 = 1;
/// Fault: the next `vmnet_start_interface` (or `vmnet_interface_start_with_network`)
/// returns NULL at once; its block is released without being called.
pub const FAULT_START_RETURNS_NULL: u32 = 2;
/// Fault: the next completion (start, stop or port forwarding) runs `arg` milliseconds late.
pub const FAULT_LATE_COMPLETION: u32 = 3;
/// Fault: the next completion (start, stop or port forwarding) never runs; its block is
/// released only by `vmnet_standin_reset`.
pub const FAULT_NEVER_COMPLETES: u32 = 4;
/// Fault: the next time an event callback is disabled (`vmnet_interface_set_event_callback`
/// with NULL queue and block), the old callback is called once more afterwards, and a stop
/// of that interface completes only after that call.
pub const FAULT_EVENT_DURING_STOP: u32 = 5;
/// Fault: the next `vmnet_read` returns `VMNET_BUFFER_EXHAUSTED` (and reads nothing).
pub const FAULT_READ_BUFFER_EXHAUSTED: u32 = 6;
/// Fault: the next `vmnet_write` of more than `arg` packets writes only the first `arg` and
/// reports `*pktcnt = arg` with `VMNET_SUCCESS`.
pub const FAULT_WRITE_PARTIAL: u32 = 7;
/// Fault: the next port-forwarding call fails with status `arg` (add/remove: through the
/// completion; get-rules: as the return value, the handler is never called).
pub const FAULT_FORWARDING_FAILS: u32 = 8;
/// Fault: the next network or network-configuration call that reports a status fails with
/// status `arg` (creators return NULL with it in `*status`; setters return it).
pub const FAULT_NETWORK_FAILS: u32 = 9;
/// The next event callback receives an XPC array where vmnet passes a dictionary (a reader
/// that does not check the object's type calls dictionary functions on it, which libxpc
/// traps as API misuse and the stand-in aborts on).
pub const FAULT_EVENT_NOT_A_DICTIONARY: u32 = 10;
/// The next read that returns a packet reports its `vm_pkt_size` one byte larger than the
/// buffer it was given (a reader must not trust a length past its buffer).
pub const FAULT_READ_SIZE_PAST_BUFFER: u32 = 11;

/// The faults currently armed.
#[derive(Debug, Default)]
struct Armed {
    start_fails: Option<u32>,
    start_null: bool,
    late_ms: Option<u64>,
    never: bool,
    event_during_stop: bool,
    read_exhausted: bool,
    write_partial: Option<u32>,
    forwarding_fails: Option<u32>,
    network_fails: Option<u32>,
    event_not_dictionary: bool,
    read_size_past_buffer: bool,
}

fn armed() -> MutexGuard<'static, Armed> {
    static ARMED: OnceLock<Mutex<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn status_arg(kind: u32, arg: u64) -> u32 {
    u32::try_from(arg)
        .unwrap_or_else(|_| fatal(format_args!("fault {kind}: status {arg} is not a u32")))
}

/// Arms fault `kind` with `arg` (see the `FAULT_*` constants). Unknown kinds abort.
pub(crate) fn arm(kind: u32, arg: u64) {
    let mut a = armed();
    match kind {
        FAULT_START_FAILS => a.start_fails = Some(status_arg(kind, arg)),
        FAULT_START_RETURNS_NULL => a.start_null = true,
        FAULT_LATE_COMPLETION => a.late_ms = Some(arg),
        FAULT_NEVER_COMPLETES => a.never = true,
        FAULT_EVENT_DURING_STOP => a.event_during_stop = true,
        FAULT_READ_BUFFER_EXHAUSTED => a.read_exhausted = true,
        FAULT_WRITE_PARTIAL => {
            a.write_partial = Some(u32::try_from(arg).unwrap_or_else(|_| {
                fatal(format_args!("fault {kind}: packet count {arg} too large"))
            }));
        }
        FAULT_FORWARDING_FAILS => a.forwarding_fails = Some(status_arg(kind, arg)),
        FAULT_NETWORK_FAILS => a.network_fails = Some(status_arg(kind, arg)),
        FAULT_EVENT_NOT_A_DICTIONARY => a.event_not_dictionary = true,
        FAULT_READ_SIZE_PAST_BUFFER => a.read_size_past_buffer = true,
        _ => fatal(format_args!(
            "vmnet_standin_fault: unknown fault kind {kind}"
        )),
    }
}

/// Disarms every fault and drops what was held back (releasing blocks).
pub(crate) fn reset() {
    *armed() = Armed::default();
    let held = std::mem::take(&mut *held());
    drop(held);
}

pub(crate) fn take_start_fails() -> Option<u32> {
    armed().start_fails.take()
}

pub(crate) fn take_start_null() -> bool {
    std::mem::take(&mut armed().start_null)
}

pub(crate) fn take_event_during_stop() -> bool {
    std::mem::take(&mut armed().event_during_stop)
}

pub(crate) fn take_read_exhausted() -> bool {
    std::mem::take(&mut armed().read_exhausted)
}

pub(crate) fn take_event_not_dictionary() -> bool {
    std::mem::take(&mut armed().event_not_dictionary)
}

pub(crate) fn take_read_size_past_buffer() -> bool {
    std::mem::take(&mut armed().read_size_past_buffer)
}

/// The partial count for a write of `count` packets, if the fault applies (it waits for a
/// write of more than that many packets).
pub(crate) fn take_write_partial(count: u32) -> Option<u32> {
    let mut a = armed();
    match a.write_partial {
        Some(k) if count > k => a.write_partial.take(),
        _ => None,
    }
}

pub(crate) fn take_forwarding_fails() -> Option<u32> {
    armed().forwarding_fails.take()
}

#[cfg_attr(not(feature = "macos-26"), allow(dead_code))]
pub(crate) fn take_network_fails() -> Option<u32> {
    armed().network_fails.take()
}

/// When a completion runs.
#[derive(Debug)]
pub(crate) enum Timing {
    After(Duration),
    Never,
}

/// The timing of the next completion: never, late, or after the usual random delay.
pub(crate) fn completion_timing() -> Timing {
    let mut a = armed();
    if std::mem::take(&mut a.never) {
        return Timing::Never;
    }
    if let Some(ms) = a.late_ms.take() {
        return Timing::After(Duration::from_millis(ms) + random_delay());
    }
    Timing::After(random_delay())
}

/// Things held back until reset (blocks of completions that never come, hung stops).
fn held() -> MutexGuard<'static, Vec<Box<dyn Any + Send>>> {
    static HELD: OnceLock<Mutex<Vec<Box<dyn Any + Send>>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Keeps `thing` until the next reset, then drops it.
pub(crate) fn hold(thing: Box<dyn Any + Send>) {
    held().push(thing);
}

/// The largest random delay of a callback, in microseconds: `VMNET_STANDIN_MAX_DELAY_US`,
/// else 2000.
fn max_delay_us() -> u64 {
    static MAX: OnceLock<u64> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("VMNET_STANDIN_MAX_DELAY_US")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(2000)
    })
}

/// A random number (xorshift, seeded from the clock and the process id).
pub(crate) fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        x = nanos ^ (u64::from(std::process::id()) << 32) | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    // Racing callers may get the same number; it only needs to look random.
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// A delay between 0 and the maximum (inclusive), for every callback.
pub(crate) fn random_delay() -> Duration {
    let max = max_delay_us();
    if max == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(random_u64() % (max + 1))
}

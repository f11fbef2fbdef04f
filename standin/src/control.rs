//! The test-control API: live counts, reset, the host endpoint, fault injection and the
//! level. Exported at every level; see the crate docs for the numbers.

use std::ffi::c_char;
use std::time::Duration;

use vmnet_sys::{VMNET_INVALID_ARGUMENT, VMNET_PACKET_TOO_BIG, VMNET_SUCCESS};

use crate::counts::{self, Kind};
use crate::fatal::{fatal, guard};
use crate::segment::{self, HOST_MAC, HOST_MAX_FRAME};
use crate::{LIVE_ALL, faults};

/// `vmnet_standin_live(kind)`: live objects of `kind`: [`LIVE_XPC`](crate::LIVE_XPC) (0),
/// [`LIVE_CF`](crate::LIVE_CF) (1), [`LIVE_QUEUES`](crate::LIVE_QUEUES) (2),
/// [`LIVE_BLOCKS`](crate::LIVE_BLOCKS) (3), [`LIVE_INTERFACES`](crate::LIVE_INTERFACES) (4,
/// started and not yet stopped), [`LIVE_ALL`] (5, the sum). Quarantined (released) objects
/// are not live. Other kinds abort.
#[unsafe(no_mangle)]
pub extern "C" fn vmnet_standin_live(kind: u32) -> u64 {
    guard("vmnet_standin_live", || {
        if kind == LIVE_ALL {
            return Kind::ALL.iter().map(|k| counts::live(*k)).sum();
        }
        match Kind::ALL.iter().find(|k| **k as u32 == kind) {
            Some(k) => counts::live(*k),
            None => fatal(format_args!("vmnet_standin_live: unknown kind {kind}")),
        }
    })
}

/// `vmnet_standin_reset()`: disarms every fault, drops the frames queued at the default
/// segment's host endpoint, releases what the "never completes" fault and hung stops held
/// back (their interfaces end: a held start as failed, a held stop as stopped, without
/// calling the handlers), and zeroes the drop and runt counters.
#[unsafe(no_mangle)]
pub extern "C" fn vmnet_standin_reset() {
    guard("vmnet_standin_reset", || {
        faults::reset();
        segment::default_segment().host.clear();
        segment::reset_counters();
    });
}

/// `vmnet_standin_host_send(frame, len)`: sends a frame onto the default segment as if from
/// the outside network: to the interface with its destination MAC, to every interface when
/// multicast, otherwise to interfaces without an allocated MAC. Returns `VMNET_SUCCESS`,
/// `VMNET_PACKET_TOO_BIG` above 65549 bytes, or `VMNET_INVALID_ARGUMENT` for a NULL frame
/// with a length. Frames shorter than 14 bytes are accepted and discarded (counted as runts).
///
/// # Safety
/// `frame` is valid for `len` bytes of reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_standin_host_send(frame: *const u8, len: usize) -> u32 {
    guard("vmnet_standin_host_send", || {
        if frame.is_null() && len > 0 {
            return VMNET_INVALID_ARGUMENT;
        }
        if len > HOST_MAX_FRAME {
            return VMNET_PACKET_TOO_BIG;
        }
        let bytes: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: the caller guarantees `len` readable bytes.
            unsafe { std::slice::from_raw_parts(frame, len) }
        };
        segment::default_segment().route(None, [bytes]);
        VMNET_SUCCESS
    })
}

/// `vmnet_standin_host_recv(buf, cap, timeout_ms)`: the oldest frame the default segment's
/// host endpoint received, copied into `buf`; returns its length, `-1` if none came within
/// `timeout_ms`, `-2` if it is longer than `cap` (it then stays queued).
///
/// # Safety
/// `buf` is valid for `cap` bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_standin_host_recv(
    buf: *mut u8,
    cap: usize,
    timeout_ms: u32,
) -> isize {
    guard("vmnet_standin_host_recv", || {
        let got = segment::default_segment().host.recv(
            Duration::from_millis(timeout_ms.into()),
            |frame| {
                if frame.len() > cap {
                    return (false, -2);
                }
                if !frame.is_empty() {
                    // SAFETY: `buf` is valid for `cap >= frame.len()` bytes of writes.
                    unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), buf, frame.len()) };
                }
                (true, frame.len() as isize)
            },
        );
        got.unwrap_or(-1)
    })
}

/// `vmnet_standin_host_mac(out)`: writes the host endpoint's MAC (6 bytes): the destination
/// a guest uses for the gateway.
///
/// # Safety
/// `out` is valid for 6 bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_standin_host_mac(out: *mut u8) {
    guard("vmnet_standin_host_mac", || {
        if out.is_null() {
            fatal("vmnet_standin_host_mac with NULL");
        }
        // SAFETY: the caller guarantees 6 writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(HOST_MAC.as_ptr(), out, 6) };
    });
}

/// `vmnet_standin_fault(kind, arg)`: arms a one-shot fault (the `FAULT_*` constants).
/// Unknown kinds abort.
#[unsafe(no_mangle)]
pub extern "C" fn vmnet_standin_fault(kind: u32, arg: u64) {
    guard("vmnet_standin_fault", || faults::arm(kind, arg));
}

/// `vmnet_standin_level()`: the macOS level this build stands in for: `"11.0"`, `"12.0"`,
/// `"15.0"`, `"15.4"` or `"26.0"` (a static string).
#[unsafe(no_mangle)]
pub extern "C" fn vmnet_standin_level() -> *const c_char {
    crate::LEVEL.as_ptr()
}

/// `vmnet_standin_dropped()`: frames dropped since the last reset (full receive queues,
/// frames larger than the receiver's maximum packet size).
#[unsafe(no_mangle)]
pub extern "C" fn vmnet_standin_dropped() -> u64 {
    segment::dropped()
}

/// `vmnet_standin_runts()`: frames shorter than an Ethernet header discarded since the last
/// reset.
#[unsafe(no_mangle)]
pub extern "C" fn vmnet_standin_runts() -> u64 {
    segment::runts()
}

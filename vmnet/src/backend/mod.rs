//! The seam between the public API and the platform.
//!
//! Everything above this module is platform-neutral. Below it, one backend per platform
//! implements [`Driver`] and the `platform` module's two functions (`start`, `capabilities`):
//!
//! | target | `platform` |
//! |---|---|
//! | Apple | `apple`: vmnet.framework through `vmnet-sys`, `block2` and `dispatch2` |
//! | other, feature `sim` | the simulator's default segment |
//! | other, no `sim` | `unsupported`: starting returns [`Error::Unsupported`](crate::Error) |
//!
//! The simulator (`sim`, feature `sim`) is a backend on every target; on Apple targets it is
//! reached through [`crate::sim::Segment`] while `Interface::start` uses vmnet.

use std::sync::Arc;
use std::time::Duration;

use vmnet_sys::{interface_ref, vmpktdesc};

use crate::error::Result;
use crate::events::Notifier;
use crate::params::Parameters;

#[cfg(target_vendor = "apple")]
pub(crate) mod apple;
#[cfg(target_vendor = "apple")]
pub(crate) use apple as platform;

#[cfg(feature = "sim")]
pub(crate) mod sim;
#[cfg(all(not(target_vendor = "apple"), feature = "sim"))]
pub(crate) use sim::platform;

#[cfg(all(not(target_vendor = "apple"), not(feature = "sim")))]
pub(crate) mod unsupported;
#[cfg(all(not(target_vendor = "apple"), not(feature = "sim")))]
pub(crate) use unsupported as platform;

/// A started interface, as a backend drives it.
///
/// Implementations are shared between a read half and a write half, so `read` and `write`
/// may run concurrently on two threads (never two reads, nor two writes: each half takes
/// `&mut self`).
pub(crate) trait Driver: Send + Sync + 'static {
    /// Reads up to `descs.len()` packets; returns how many were read (0 is normal).
    ///
    /// # Safety
    /// Every descriptor has `vm_pkt_iovcnt == 1`, `vm_flags == 0`, and points at an iovec
    /// whose base is valid for writes of `iov_len` bytes, with `vm_pkt_size == iov_len`;
    /// nothing else accesses that memory during the call.
    unsafe fn read(&self, descs: &mut [vmpktdesc]) -> Result<usize>;

    /// Writes `descs.len()` packets; returns how many were accepted.
    ///
    /// # Safety
    /// As for `read`, with the iovec bases valid for reads of `iov_len` bytes (the frame).
    unsafe fn write(&self, descs: &mut [vmpktdesc]) -> Result<usize>;

    /// Stops the interface and stops events, waiting at most `timeout` for completion.
    /// Idempotent: later calls return `Ok(())` at once.
    fn stop(&self, timeout: Duration) -> Result<()>;

    /// The vmnet handle, for backends that have one.
    fn raw(&self) -> Option<interface_ref> {
        None
    }
}

/// What a backend's `start` returns.
pub(crate) struct Started {
    pub(crate) driver: Box<dyn Driver>,
    pub(crate) params: Parameters,
}

/// What every backend's `start` receives besides the configuration.
pub(crate) struct StartContext<'a> {
    /// Only the Apple backend has timeouts and queues to honour at start.
    #[cfg_attr(not(target_vendor = "apple"), allow(dead_code))]
    pub(crate) options: &'a crate::interface::StartOptions,
    /// Where packet-arrival events go.
    #[cfg_attr(
        all(not(target_vendor = "apple"), not(feature = "sim")),
        allow(dead_code)
    )]
    pub(crate) notifier: Arc<Notifier>,
}

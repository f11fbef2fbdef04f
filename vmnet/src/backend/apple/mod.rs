//! The vmnet.framework backend (Apple targets).
//!
//! Ownership, written out:
//! - **Description dictionary**: built here (+1), moved into the start completion block, so it
//!   lives until vmnet has run the block (the facts sheet: keep it alive until then).
//! - **Blocks**: built with `block2::RcBlock` (heap blocks). vmnet copies (retains) the blocks
//!   it keeps; our `RcBlock` reference is dropped after the call. Every block body runs inside
//!   `catch_unwind`, so no panic unwinds into vmnet or libdispatch.
//! - **Queues**: two serial queues per interface: the event queue (ours, or the caller's) and a
//!   private control queue for start/stop completions, so waiting for a completion never waits
//!   on the queue that runs event callbacks. The driver keeps both alive until stop completed;
//!   if a stop times out they are leaked on purpose, since vmnet may still use them.
//! - **interface_ref**: not reference counted; valid until the stop completion has run. The
//!   driver owns it and stops it exactly once.
//! - **Parameter and event dictionaries**: borrowed for the block's duration; copied into a
//!   [`Dictionary`] inside the block.

mod addr;
mod bridgeable;
mod completion;
mod forwarding;
mod network;
mod xpc;

pub(crate) use bridgeable::bridgeable_interfaces;
pub(crate) use network::{network_configuration, network_from_serialization};
pub(crate) use xpc::XpcObject;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use block2::RcBlock;
use dispatch2::{DispatchQueue, DispatchRetained};
use vmnet_sys as sys;

use self::completion::Completion;
use super::{Driver, StartContext, Started};
use crate::capabilities::{Capabilities, Feature};
use crate::config::InterfaceConfig;
use crate::error::{Error, Operation, Result, Status};
use crate::keys::{Dictionary, Key, Value, ValueKind};
use crate::params::Parameters;

/// What the running system offers, from the presence of the newer symbols.
pub(crate) fn capabilities() -> Capabilities {
    use sys::weak;
    let mut caps = Capabilities::BASELINE;
    let found = [
        (
            Feature::ChecksumOffload,
            weak::vmnet_enable_checksum_offload_key().is_some(),
        ),
        (
            Feature::IpPortForwarding,
            weak::vmnet_interface_add_ip_port_forwarding_rule().is_some(),
        ),
        (
            Feature::PacketLimits,
            weak::vmnet_read_max_packets_key().is_some(),
        ),
        (
            Feature::VirtioHeader,
            weak::vmnet_enable_virtio_header_key().is_some(),
        ),
        (
            Feature::NetworkObjects,
            weak::vmnet_network_create().is_some(),
        ),
    ];
    for (feature, present) in found {
        if present {
            caps = caps.with(feature);
        }
    }
    caps
}

fn queue_ptr(queue: &DispatchQueue) -> sys::dispatch_queue_t {
    (queue as *const DispatchQueue).cast_mut().cast()
}

type StartOutcome = std::result::Result<Dictionary, Status>;

pub(crate) fn start(config: &InterfaceConfig, ctx: StartContext<'_>) -> Result<Started> {
    let caps = capabilities();
    let desc = config.validate(caps)?;
    start_with(&desc, ctx, caps, |desc, queue, handler| {
        // SAFETY: start_with passes a live description dictionary, a live serial queue and a
        // start completion block, as vmnet_start_interface requires.
        unsafe { sys::vmnet_start_interface(desc, queue, handler) }
    })
}

/// Starts an interface through `call(description, queue, completion_block)` — a wrapper
/// around vmnet_start_interface or vmnet_interface_start_with_network — and waits (bounded)
/// for the completion. Everything but the call itself is shared by both ways of starting.
pub(super) fn start_with(
    desc: &Dictionary,
    ctx: StartContext<'_>,
    caps: Capabilities,
    call: impl FnOnce(
        sys::xpc_object_t,
        sys::dispatch_queue_t,
        *mut std::ffi::c_void,
    ) -> sys::interface_ref,
) -> Result<Started> {
    let xdesc = xpc::to_xpc(desc)?;
    let events = ctx
        .options
        .queue
        .clone()
        .unwrap_or_else(|| DispatchQueue::new("rs.vmnet.interface", None));
    let control = DispatchQueue::new("rs.vmnet.control", None);

    let done: Arc<Completion<StartOutcome>> = Completion::new();
    // Filled in after vmnet_start_interface returns; read by a late completion to clean up.
    let handle: Arc<Mutex<Option<Handle>>> = Arc::new(Mutex::new(None));
    let desc_ptr = xdesc.as_ptr();
    let start_block = {
        let done = done.clone();
        let handle = handle.clone();
        let late_control = control.clone();
        // The block owns the description, so it lives until vmnet releases the block.
        let keep_desc = xdesc;
        RcBlock::new(
            move |status: sys::vmnet_return_t, params: sys::xpc_object_t| {
                let _ = &keep_desc;
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    let outcome = Status::check(status).map(|()| {
                        // SAFETY: vmnet passes the parameter dictionary (or NULL) borrowed for
                        // the duration of this block.
                        unsafe { xpc::from_xpc(params) }
                    });
                    if let Some(Ok(_)) = done.complete(outcome) {
                        // The starter gave up waiting: stop the interface it never got.
                        let h = *handle.lock().unwrap_or_else(PoisonError::into_inner);
                        if let Some(h) = h {
                            stop_detached(h.0, &late_control);
                        }
                    }
                }));
            },
        )
    };
    // The description is owned by the block, which we still hold; the control queue is a
    // live serial queue that the driver (or, after a timeout, a deliberate leak) keeps alive
    // while vmnet may use it; the block has the parameter types of
    // vmnet_start_interface_completion_handler_t and vmnet copies it.
    let iface = call(
        desc_ptr,
        queue_ptr(&control),
        RcBlock::as_ptr(&start_block).cast(),
    );
    drop(start_block);
    if !iface.is_null() {
        *handle.lock().unwrap_or_else(PoisonError::into_inner) = Some(Handle(iface));
    }
    // NULL means an immediate failure; its status may still arrive in the block, but do not
    // wait long for it.
    let wait_for = if iface.is_null() {
        ctx.options.start_timeout.min(Duration::from_secs(1))
    } else {
        ctx.options.start_timeout
    };
    let outcome = match done.wait(wait_for) {
        Some(outcome) => outcome,
        None if iface.is_null() => return Status::Failure.into_start_error(),
        None => {
            std::mem::forget(control);
            std::mem::forget(events);
            return Err(Error::Timeout {
                operation: Operation::Start,
                waited: ctx.options.start_timeout,
            });
        }
    };
    let param_dict = match outcome {
        Ok(dict) if !iface.is_null() => dict,
        Ok(_) => Status::Failure.into_start_error()?,
        Err(status) => status.into_start_error()?,
    };
    let driver = AppleDriver {
        iface: Handle(iface),
        control,
        events,
        stopped: Mutex::new(false),
        caps,
        control_timeout: ctx.options.control_timeout,
    };
    let params = match Parameters::from_dictionary(&param_dict) {
        Ok(params) => params,
        Err(e) => {
            let _ = driver.stop(ctx.options.stop_timeout);
            return Err(e);
        }
    };
    if let Err(e) = driver.enable_events(ctx.notifier) {
        let _ = driver.stop(ctx.options.stop_timeout);
        return Err(e);
    }
    Ok(Started {
        driver: Box::new(driver),
        params,
    })
}

impl Status {
    fn into_start_error<T>(self) -> Result<T> {
        Err(Error::vmnet(Operation::Start, self))
    }
}

/// An `interface_ref` that may be sent between threads.
#[derive(Clone, Copy, Debug)]
struct Handle(sys::interface_ref);

// SAFETY: an interface_ref is an opaque handle that vmnet's functions accept from any
// thread; this crate serialises its lifecycle (stop once, no use after stop) itself.
unsafe impl Send for Handle {}
// SAFETY: as above; concurrent read and write on one handle is the pattern production
// helpers use (the facts sheet notes it is undocumented but common).
unsafe impl Sync for Handle {}

/// Stops `iface` without waiting (for interfaces nobody will use).
fn stop_detached(iface: sys::interface_ref, control: &DispatchRetained<DispatchQueue>) {
    let queue = control.clone();
    let block = RcBlock::new(move |_: sys::vmnet_return_t| {
        // Keeps the control queue alive until vmnet is done with it.
        let _ = &queue;
    });
    // SAFETY: `iface` came from vmnet_start_interface, completed successfully and was never
    // handed out; the queue is alive (retained by the block); the block has the parameter
    // types of vmnet_interface_completion_handler_t.
    unsafe {
        sys::vmnet_stop_interface(iface, queue_ptr(control), RcBlock::as_ptr(&block).cast());
    }
}

#[derive(Debug)]
struct AppleDriver {
    iface: Handle,
    control: DispatchRetained<DispatchQueue>,
    events: DispatchRetained<DispatchQueue>,
    stopped: Mutex<bool>,
    caps: Capabilities,
    control_timeout: Duration,
}

impl AppleDriver {
    fn enable_events(&self, notifier: Arc<crate::events::Notifier>) -> Result<()> {
        let estimate_key = xpc::key_name(Key::EstimatedPacketsAvailable);
        let block = RcBlock::new(
            move |mask: sys::interface_event_t, event: sys::xpc_object_t| {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    if mask & sys::VMNET_INTERFACE_PACKETS_AVAILABLE == 0 {
                        return;
                    }
                    let estimate = match estimate_key.filter(|_| !event.is_null()) {
                        Some(key) => {
                            // SAFETY: vmnet passes the event dictionary, non-NULL here, borrowed
                            // for the duration of the block.
                            let value = unsafe { xpc::read_value(event, key, ValueKind::U64) };
                            match value {
                                Some(Value::U64(n)) => Some(n),
                                _ => None,
                            }
                        }
                        None => None,
                    };
                    notifier.signal(estimate);
                }));
            },
        );
        // SAFETY: the handle is live (started, not stopped); the event queue is a live
        // serial queue kept by the driver; the block has the parameter types of
        // vmnet_interface_event_callback_t and vmnet copies it.
        let status = unsafe {
            sys::vmnet_interface_set_event_callback(
                self.iface.0,
                sys::VMNET_INTERFACE_PACKETS_AVAILABLE,
                queue_ptr(&self.events),
                RcBlock::as_ptr(&block).cast(),
            )
        };
        Error::check(Operation::SetEventCallback, status)
    }

    /// `Err(Stopped)` once the handle is dead.
    fn live(&self) -> Result<()> {
        if *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) {
            Err(Error::Stopped)
        } else {
            Ok(())
        }
    }
}

impl Driver for AppleDriver {
    unsafe fn read(&self, descs: &mut [vmnet_sys::vmpktdesc]) -> Result<usize> {
        let mut count = i32::try_from(descs.len()).unwrap_or(i32::MAX);
        // SAFETY: the handle is live (the interface is not stopped while a half exists);
        // the caller guarantees the descriptors and their buffers (see Driver::read); count
        // does not exceed the number of descriptors.
        let status = unsafe { sys::vmnet_read(self.iface.0, descs.as_mut_ptr(), &raw mut count) };
        Error::check(Operation::Read, status)?;
        Ok(usize::try_from(count).unwrap_or(0).min(descs.len()))
    }

    unsafe fn write(&self, descs: &mut [vmnet_sys::vmpktdesc]) -> Result<usize> {
        let mut count = i32::try_from(descs.len()).unwrap_or(i32::MAX);
        // SAFETY: as for read; vmnet only reads the packet bytes.
        let status = unsafe { sys::vmnet_write(self.iface.0, descs.as_mut_ptr(), &raw mut count) };
        Error::check(Operation::Write, status)?;
        Ok(usize::try_from(count).unwrap_or(0).min(descs.len()))
    }

    fn stop(&self, timeout: Duration) -> Result<()> {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return Ok(());
        }
        // Whatever happens next, the handle is never used again.
        *stopped = true;
        // Events first: a stop with events still queued is reported to hang.
        // SAFETY: live handle; NULL queue and NULL block disable the callback.
        unsafe {
            sys::vmnet_interface_set_event_callback(
                self.iface.0,
                sys::VMNET_INTERFACE_PACKETS_AVAILABLE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
        let stopped = completion::wait_status(
            Operation::Stop,
            timeout,
            |block| {
                // SAFETY: live handle, stopped exactly once (guarded by `stopped`); the
                // control queue is alive; the block has the parameter types of
                // vmnet_interface_completion_handler_t.
                unsafe { sys::vmnet_stop_interface(self.iface.0, queue_ptr(&self.control), block) }
            },
            (),
        );
        if let Err(Error::Timeout { .. }) = stopped {
            // vmnet may still run the completion on these queues: keep them alive.
            std::mem::forget(self.control.clone());
            std::mem::forget(self.events.clone());
        }
        stopped
    }

    fn raw(&self) -> Option<sys::interface_ref> {
        Some(self.iface.0)
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn add_port_forwarding_rule(&self, rule: &crate::forwarding::PortForwardingRule) -> Result<()> {
        self.live()?;
        forwarding::add(self.iface.0, self.caps, rule, self.control_timeout)
    }

    fn remove_port_forwarding_rule(&self, key: crate::forwarding::PortForwardingKey) -> Result<()> {
        self.live()?;
        forwarding::remove(
            self.iface.0,
            self.caps,
            (key.protocol, key.external_port, key.family),
            self.control_timeout,
        )
    }

    fn port_forwarding_rules(&self) -> Result<Vec<crate::forwarding::PortForwardingRule>> {
        self.live()?;
        forwarding::list(self.iface.0, self.caps, self.control_timeout)
    }
}

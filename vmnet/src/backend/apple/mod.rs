//! The vmnet.framework backend (Apple targets).
//!
//! Ownership, written out:
//! - **Description dictionary**: built here (+1), moved into the start completion block, so it
//!   lives until vmnet has run the block (the facts sheet: keep it alive until then).
//! - **Blocks**: typed by their signature and built by one helper ([`block`]): heap blocks
//!   whose bodies are `Send + Sync + 'static` and never unwind into vmnet or libdispatch.
//!   vmnet copies (retains) the blocks it keeps; our `RcBlock` reference is dropped after the
//!   call.
//! - **Queues**: two serial queues per interface: the event queue (ours, or the caller's) and a
//!   private control queue for start/stop completions, so waiting for a completion never waits
//!   on the queue that runs event callbacks. The driver keeps both alive; the start and stop
//!   completion blocks hold their own references too, so a completion that comes after its
//!   waiter gave up (or never comes) still finds its queue alive, and nothing is leaked
//!   deliberately.
//! - **interface_ref**: not reference counted; valid until the stop completion has run. The
//!   driver owns it and stops it exactly once. An interface whose start completion arrives
//!   after the start timed out is stopped by the completion, though never from inside it: the
//!   stop is issued from a queue of its own (vmnet must not be re-entered from its start
//!   handler on the control queue).
//! - **Stop**: disables events, stops, waits for the completion, then waits for the event
//!   queue to drain, so that no event callback is running or runs once stop has returned.
//! - **Parameter and event dictionaries**: borrowed for the block's duration; their XPC type is
//!   checked, and they are copied into a [`Dictionary`] inside the block.

mod addr;
mod block;
mod bridgeable;
mod completion;
mod event_mask;
mod forwarding;
mod network;
mod xpc;

pub(crate) use bridgeable::bridgeable_interfaces;
pub(crate) use network::{network_configuration, network_from_serialization};
pub(crate) use xpc::XpcObject;

use std::cell::Cell;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dispatch2::{DispatchQueue, DispatchRetained};
use vmnet_sys as sys;

use self::block::StartHandler;
use self::completion::Completion;
use self::event_mask::EventMask;
use super::{Driver, StartContext, Started};
use crate::capabilities::{Capabilities, Feature};
use crate::config::InterfaceConfig;
use crate::descs::{ReadDescs, WriteDescs};
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
        unsafe { sys::vmnet_start_interface(desc, queue, block::start_handler(handler)) }
    })
}

/// Starts an interface through `call(description, queue, completion_block)` — a wrapper
/// around vmnet_start_interface or vmnet_interface_start_with_network — and waits (bounded)
/// for the completion. Everything but the call itself is shared by both ways of starting.
pub(super) fn start_with(
    desc: &Dictionary,
    ctx: StartContext<'_>,
    caps: Capabilities,
    call: impl FnOnce(sys::xpc_object_t, sys::dispatch_queue_t, &StartHandler) -> sys::interface_ref,
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
        // The block owns the description, so it lives until vmnet releases the block, and a
        // reference to the control queue, which a late completion runs on and stops with.
        let keep_desc = xdesc;
        let late_control = control.clone();
        block::guarded(
            move |(status, params): (sys::vmnet_return_t, sys::xpc_object_t)| {
                let _ = &keep_desc;
                let outcome = Status::check(status).map(|()| {
                    // SAFETY: vmnet passes the parameter dictionary (or NULL) borrowed for the
                    // duration of this block.
                    unsafe { xpc::from_xpc(params) }
                });
                if let Some(Ok(_)) = done.complete(outcome) {
                    // The starter gave up waiting: stop the interface it never got.
                    let h = *handle.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(h) = h {
                        stop_late(h, late_control.clone());
                    }
                }
            },
        )
    };
    // The description is owned by the block, which we still hold; the control queue is a
    // live serial queue that the driver and the block keep alive while vmnet may use it; the
    // block has the parameter types of vmnet_start_interface_completion_handler_t and vmnet
    // copies it.
    let iface = call(desc_ptr, queue_ptr(&control), &start_block);
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
        // A late completion stops the interface (see `stop_late`); the block holds what it
        // needs, and vmnet never saw the event queue.
        None => {
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
    // vmnet's parameters do not say whether packets carry the virtio-net header; the
    // description does (a description for a network never asks for it).
    let virtio = desc.get(Key::EnableVirtioHeader) == Some(&Value::Bool(true));
    let params = match Parameters::from_dictionary(&param_dict) {
        Ok(params) => params.with_virtio_header(virtio),
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

/// Stops an interface whose start completed after the starter gave up waiting, without
/// waiting for the stop. Called from that start completion, it issues the stop from a queue
/// of its own once the completion has returned, as vmnet's users do (vmnet is not re-entered
/// from its start handler on the control queue, which can deadlock).
fn stop_late(iface: Handle, control: DispatchRetained<DispatchQueue>) {
    // The queue is kept alive by the work submitted to it, and released once that ran.
    DispatchQueue::new("rs.vmnet.late-stop", None).exec_async(move || {
        // The whole `Handle` moves here (it is `Send`), not just its pointer field.
        let iface = iface;
        let queue = queue_ptr(&control);
        // The completion keeps the control queue alive until vmnet is done with it.
        let block = block::guarded(move |(_,): (sys::vmnet_return_t,)| {
            let _ = &control;
        });
        // SAFETY: `iface` came from a start that completed successfully and was never handed
        // out, so this is its only stop; the queue is alive (retained by the block); the
        // block has the parameter types of vmnet_interface_completion_handler_t.
        unsafe { sys::vmnet_stop_interface(iface.0, queue, block::completion_handler(&block)) };
    });
}

thread_local! {
    /// The event queue (as an address) whose callback this thread is running, if any: a stop
    /// from there cannot wait for that queue to drain.
    static RUNNING_EVENTS_OF: Cell<usize> = const { Cell::new(0) };
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
        let events_queue = queue_ptr(&self.events) as usize;
        let block = block::guarded(
            move |(mask, event): (sys::interface_event_t, sys::xpc_object_t)| {
                if !EventMask::from_bits_retain(mask).contains(EventMask::PACKETS_AVAILABLE) {
                    return;
                }
                let estimate = match estimate_key {
                    // SAFETY: vmnet passes the event dictionary (or NULL) borrowed for the
                    // duration of the block; it is read only if it is a dictionary.
                    Some(key) if unsafe { xpc::is_dictionary(event) } => {
                        // SAFETY: a live XPC dictionary (checked above), borrowed for the block.
                        let value = unsafe { xpc::read_value(event, key, ValueKind::U64) };
                        match value {
                            Some(Value::U64(n)) => Some(n),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let outer = RUNNING_EVENTS_OF.replace(events_queue);
                notifier.signal(estimate);
                RUNNING_EVENTS_OF.set(outer);
            },
        );
        // SAFETY: the handle is live (started, not stopped); the event queue is a live
        // serial queue kept by the driver; the block has the parameter types of
        // vmnet_interface_event_callback_t and vmnet copies it.
        let status = unsafe {
            sys::vmnet_interface_set_event_callback(
                self.iface.0,
                EventMask::PACKETS_AVAILABLE.bits(),
                queue_ptr(&self.events),
                block::event_callback(&block),
            )
        };
        Error::check(Operation::SetEventCallback, status)
    }

    /// Waits, until `deadline` (`None`: no limit), for what is queued on the event queue now
    /// to have run: an event callback running or queued when events were disabled has
    /// finished when this returns `Ok`. Not from the event queue's own callback, which cannot
    /// wait for itself (then it returns at once).
    fn drain_events(&self, deadline: Option<Instant>) -> Result<()> {
        if RUNNING_EVENTS_OF.get() == queue_ptr(&self.events) as usize {
            return Ok(());
        }
        let drained: Arc<Completion<()>> = Completion::new();
        let done = drained.clone();
        self.events.exec_async(move || {
            done.complete(());
        });
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        drained.wait_for(Operation::Stop, left)
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
    fn read(&self, mut descs: ReadDescs<'_>) -> Result<usize> {
        let mut count = i32::try_from(descs.len()).unwrap_or(i32::MAX);
        // SAFETY: the handle is live (the interface is not stopped while a half exists); a
        // read set's invariant is what vmnet_read needs of the descriptors and the buffers
        // they point at, for the call; count does not exceed the number of descriptors.
        let status = unsafe { sys::vmnet_read(self.iface.0, descs.as_mut_ptr(), &raw mut count) };
        Error::check(Operation::Read, status)?;
        let count = usize::try_from(count).unwrap_or(0).min(descs.len());
        // vmnet wrote the lengths: none may reach past its buffer.
        descs.check_lengths(count)?;
        Ok(count)
    }

    fn write(&self, mut descs: WriteDescs<'_>) -> Result<usize> {
        let mut count = i32::try_from(descs.len()).unwrap_or(i32::MAX);
        // SAFETY: as for read, with a write set's invariant (the frames readable and
        // initialised; vmnet only reads them).
        let status = unsafe { sys::vmnet_write(self.iface.0, descs.as_mut_ptr(), &raw mut count) };
        Error::check(Operation::Write, status)?;
        Ok(usize::try_from(count).unwrap_or(0).min(descs.len()))
    }

    /// Disables events, stops the interface and waits for the completion, then for the event
    /// queue to drain: once this returns `Ok`, no event callback is running or will run.
    /// `timeout` bounds the whole.
    fn stop(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now().checked_add(timeout);
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
        completion::wait_status(
            Operation::Stop,
            timeout,
            |block| {
                // SAFETY: live handle, stopped exactly once (guarded by `stopped`); the
                // control queue is alive (the block holds it too); the block has the
                // parameter types of vmnet_interface_completion_handler_t.
                unsafe {
                    sys::vmnet_stop_interface(
                        self.iface.0,
                        queue_ptr(&self.control),
                        block::completion_handler(block),
                    )
                }
            },
            // vmnet may run the completion after a timeout: the queues stay alive until then.
            (self.control.clone(), self.events.clone()),
        )?;
        self.drain_events(deadline)
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

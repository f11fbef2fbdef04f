//! The blocks handed to vmnet, typed by their signature, and the one way they are built.
//!
//! vmnet-sys declares every block parameter as `*mut c_void` (bindgen's rendering of a block
//! pointer). This backend keeps blocks typed by their signature — `&DynBlock<dyn Fn(..)>`, as
//! dispatch2 types its block parameters — and turns each kind into vmnet-sys's pointer in
//! exactly one function here ([`start_handler`], [`event_callback`], [`completion_handler`],
//! [`rules_handler`]), so a block of the wrong signature does not type-check at a vmnet call.
//!
//! Every block is built by [`guarded`]: a heap block (`RcBlock`, which vmnet copies, i.e.
//! retains, for as long as it keeps it) whose body is `Send + Sync + 'static`, because vmnet
//! may run it on any of its threads, keep it after the call returned and release it on
//! another thread; and which never unwinds into vmnet or libdispatch: a panic in the body is
//! caught and its payload dropped inside the guard too.

use std::panic::{AssertUnwindSafe, catch_unwind};

use block2::{DynBlock, RcBlock};
use vmnet_sys as sys;

/// `vmnet_start_interface_completion_handler_t`: the start's status, and the parameter
/// dictionary (NULL unless it succeeded), borrowed for the call.
pub(super) type StartHandler = DynBlock<dyn Fn(sys::vmnet_return_t, sys::xpc_object_t)>;

/// `vmnet_interface_event_callback_t`: the event mask and the event dictionary, borrowed for
/// the call.
pub(super) type EventCallback = DynBlock<dyn Fn(sys::interface_event_t, sys::xpc_object_t)>;

/// `vmnet_interface_completion_handler_t`: the status of a stop or of a port-forwarding
/// change.
pub(super) type CompletionHandler = DynBlock<dyn Fn(sys::vmnet_return_t)>;

/// `vmnet_interface_get_port_forwarding_rules_handler_t` and
/// `vmnet_interface_get_ip_port_forwarding_rules_handler_t` (the same parameters): the rules
/// array (NULL for none), borrowed for the call.
pub(super) type RulesHandler = DynBlock<dyn Fn(sys::xpc_object_t)>;

/// The parameter lists of vmnet's blocks, as tuples: how [`guarded`] builds a block of each.
pub(super) trait Signature: Sized + 'static {
    /// The block type of this parameter list.
    type Block: ?Sized + 'static;

    /// A heap block that calls `body` with its arguments as a tuple.
    fn heap_block(body: impl Fn(Self) + 'static) -> RcBlock<Self::Block>;
}

impl Signature for (u32,) {
    type Block = dyn Fn(u32);

    fn heap_block(body: impl Fn(Self) + 'static) -> RcBlock<Self::Block> {
        RcBlock::new(move |a: u32| body((a,)))
    }
}

impl Signature for (sys::xpc_object_t,) {
    type Block = dyn Fn(sys::xpc_object_t);

    fn heap_block(body: impl Fn(Self) + 'static) -> RcBlock<Self::Block> {
        RcBlock::new(move |a: sys::xpc_object_t| body((a,)))
    }
}

impl Signature for (u32, sys::xpc_object_t) {
    type Block = dyn Fn(u32, sys::xpc_object_t);

    fn heap_block(body: impl Fn(Self) + 'static) -> RcBlock<Self::Block> {
        RcBlock::new(move |a: u32, b: sys::xpc_object_t| body((a, b)))
    }
}

/// A heap block for vmnet that runs `body` with its arguments, never unwinding: a panic in
/// `body` is caught, and its payload dropped under a guard of its own (a payload whose drop
/// panics again yields another payload, dropped the same way; see [`drop_payload`]).
pub(super) fn guarded<A: Signature>(body: impl Fn(A) + Send + Sync + 'static) -> RcBlock<A::Block> {
    A::heap_block(move |args| contain(|| body(args)))
}

/// Runs `f`; a panic stops there.
fn contain(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        drop_payload(payload);
    }
}

/// How many payloads in a row may panic while dropped before the last one is leaked.
const PAYLOAD_DROPS: usize = 4;

/// Drops a panic payload without unwinding. Its drop may panic in turn, which gives a new
/// payload (usually a plain message, whose drop cannot panic): that one is dropped the same
/// way, up to [`PAYLOAD_DROPS`] times; only a payload still panicking after that is leaked,
/// rather than unwound into vmnet's queue.
fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    let mut next = payload;
    for _ in 0..PAYLOAD_DROPS {
        match catch_unwind(AssertUnwindSafe(move || drop(next))) {
            Ok(()) => return,
            Err(again) => next = again,
        }
    }
    std::mem::forget(next);
}

/// The one conversion of a start completion block to vmnet-sys's parameter type.
pub(super) fn start_handler(
    block: &StartHandler,
) -> sys::vmnet_start_interface_completion_handler_t {
    (block as *const StartHandler).cast_mut().cast()
}

/// The one conversion of an event callback block to vmnet-sys's parameter type.
pub(super) fn event_callback(block: &EventCallback) -> sys::vmnet_interface_event_callback_t {
    (block as *const EventCallback).cast_mut().cast()
}

/// The one conversion of a completion block to vmnet-sys's parameter type.
pub(super) fn completion_handler(
    block: &CompletionHandler,
) -> sys::vmnet_interface_completion_handler_t {
    (block as *const CompletionHandler).cast_mut().cast()
}

/// The one conversion of a rules handler block to vmnet-sys's parameter types (both rules
/// handler typedefs are the same pointer type).
pub(super) fn rules_handler(
    block: &RulesHandler,
) -> sys::vmnet_interface_get_ip_port_forwarding_rules_handler_t {
    (block as *const RulesHandler).cast_mut().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A panic payload whose drop panics again.
    struct Nasty(Arc<AtomicUsize>);

    impl Drop for Nasty {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("the payload's drop panics too");
        }
    }

    #[test]
    fn a_block_body_that_panics_does_not_unwind_and_its_payload_is_dropped_inside() {
        let drops = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (d, c) = (drops.clone(), calls.clone());
        let block = guarded(move |(status,): (u32,)| {
            c.fetch_add(status as usize, Ordering::SeqCst);
            std::panic::panic_any(Nasty(d.clone()));
        });
        block.call((2,));
        block.call((3,));
        assert_eq!(calls.load(Ordering::SeqCst), 5, "each call ran the body");
        assert_eq!(drops.load(Ordering::SeqCst), 2, "each payload was dropped");
    }

    #[test]
    fn blocks_of_each_signature_pass_their_arguments() {
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let two = guarded(move |(mask, event): (u32, sys::xpc_object_t)| {
            s.fetch_add(mask as usize + event as usize, Ordering::SeqCst);
        });
        two.call((7, std::ptr::without_provenance_mut(100)));
        let s = seen.clone();
        let one = guarded(move |(rules,): (sys::xpc_object_t,)| {
            s.fetch_add(rules as usize, Ordering::SeqCst);
        });
        one.call((std::ptr::without_provenance_mut(1000),));
        assert_eq!(seen.load(Ordering::SeqCst), 1107);
        // The conversions keep the block's address.
        assert_eq!(
            start_handler(&two).cast_const(),
            RcBlock::as_ptr(&two).cast_const().cast()
        );
        assert_eq!(
            rules_handler(&one).cast_const(),
            RcBlock::as_ptr(&one).cast_const().cast()
        );
    }
}

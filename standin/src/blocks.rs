//! Clang blocks: copying, invoking and releasing them through the block ABI.
//!
//! A block pointer points at a block literal whose third field (after the `isa` pointer and
//! two 32-bit integers) is its invoke function. The invoke function takes the block itself,
//! then the parameters of the block type. Copying (`_Block_copy`) a heap block adds a
//! reference; `_Block_release` drops one. Both come from the system BlocksRuntime.

use std::ffi::c_void;
use std::ptr::NonNull;

use crate::counts::{self, Kind};
use crate::fatal::fatal;

unsafe extern "C" {
    fn _Block_copy(block: *const c_void) -> *mut c_void;
    fn _Block_release(block: *const c_void);
}

/// The start of every block literal (the fields the stand-in reads).
#[repr(C)]
struct Literal {
    isa: *const c_void,
    flags: i32,
    reserved: i32,
    invoke: *const c_void,
}

/// A block the stand-in holds: one `_Block_copy` reference, released on drop (on whatever
/// thread drops it). Counted under [`Kind::Block`].
#[derive(Debug)]
pub(crate) struct Block(NonNull<c_void>);

// SAFETY: vmnet's block parameters are called on dispatch queues, that is, on other threads
// than the one that passed them; callers must pass blocks that may run and be released on
// any thread (the contract of vmnet's API), and block reference counts are atomic.
unsafe impl Send for Block {}
// SAFETY: as above; a block is only invoked, never mutated, through `&Block`.
unsafe impl Sync for Block {}

impl Block {
    /// Copies the block `ptr` (one more reference, owned by the result); `None` for NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or a valid block pointer.
    pub(crate) unsafe fn copy(ptr: *mut c_void) -> Option<Block> {
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees a valid block; copying returns it (or a heap copy of a
        // stack block) with one more reference, which this value owns.
        let copied = unsafe { _Block_copy(ptr) };
        let copied = NonNull::new(copied).unwrap_or_else(|| fatal("_Block_copy returned NULL"));
        counts::created(Kind::Block);
        Some(Block(copied))
    }

    /// The invoke function pointer of the block.
    fn invoke(&self) -> *const c_void {
        // SAFETY: the pointer is a live block (we hold a reference), whose layout starts with
        // the fields of `Literal`.
        let invoke = unsafe { (*self.0.as_ptr().cast::<Literal>()).invoke };
        if invoke.is_null() {
            fatal("a block without an invoke function");
        }
        invoke
    }

    /// Calls a block of type `void (^)(uint32_t, void *)`: the start completion handler
    /// (status, parameters) and the event callback (mask, event).
    ///
    /// # Safety
    /// The block has exactly that type; `object` is what the block may receive.
    pub(crate) unsafe fn call_u32_object(&self, value: u32, object: *mut c_void) {
        type Invoke = unsafe extern "C" fn(*mut c_void, u32, *mut c_void);
        // SAFETY: the caller guarantees the block type, so its invoke function has this
        // signature (block first, then the typedef's parameters).
        let f = unsafe { std::mem::transmute::<*const c_void, Invoke>(self.invoke()) };
        // SAFETY: as above; the block is alive while we hold it.
        unsafe { f(self.0.as_ptr(), value, object) }
    }

    /// Calls a block of type `void (^)(uint32_t)`: a status completion handler.
    ///
    /// # Safety
    /// The block has exactly that type.
    pub(crate) unsafe fn call_u32(&self, value: u32) {
        type Invoke = unsafe extern "C" fn(*mut c_void, u32);
        // SAFETY: the caller guarantees the block type.
        let f = unsafe { std::mem::transmute::<*const c_void, Invoke>(self.invoke()) };
        // SAFETY: as above; the block is alive while we hold it.
        unsafe { f(self.0.as_ptr(), value) }
    }

    /// Calls a block of type `void (^)(void *)`: the port-forwarding rules handlers.
    ///
    /// # Safety
    /// The block has exactly that type.
    pub(crate) unsafe fn call_object(&self, object: *mut c_void) {
        type Invoke = unsafe extern "C" fn(*mut c_void, *mut c_void);
        // SAFETY: the caller guarantees the block type.
        let f = unsafe { std::mem::transmute::<*const c_void, Invoke>(self.invoke()) };
        // SAFETY: as above; the block is alive while we hold it.
        unsafe { f(self.0.as_ptr(), object) }
    }

    /// Calls a block of type `void (^)(void)`: `dispatch_block_t`.
    ///
    /// # Safety
    /// The block has exactly that type.
    pub(crate) unsafe fn call_void(&self) {
        type Invoke = unsafe extern "C" fn(*mut c_void);
        // SAFETY: the caller guarantees the block type.
        let f = unsafe { std::mem::transmute::<*const c_void, Invoke>(self.invoke()) };
        // SAFETY: as above; the block is alive while we hold it.
        unsafe { f(self.0.as_ptr()) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: this value owns exactly one reference from `_Block_copy`.
        unsafe { _Block_release(self.0.as_ptr()) };
        counts::destroyed(Kind::Block);
    }
}

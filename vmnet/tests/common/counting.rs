//! A counting global allocator, for the tests and benchmarks that prove a path allocates
//! nothing. A binary registers it with
//! `#[global_allocator] static GLOBAL: Counting = Counting;` and includes this file with
//! `#[path]` (it is not part of `common`, so that other test binaries keep the plain allocator).
#![allow(dead_code, unreachable_pub)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The system allocator, counting allocations and reallocations while a measurement runs.
pub struct Counting;

/// Where [`allocations_during`] counts.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// The calling thread only: tests running in parallel do not count each other.
    Thread,
    /// Every thread of the process (event threads, the bridge's threads…). Other concurrent
    /// measurements would be counted too: callers run these one at a time.
    Process,
}

static PROCESS: AtomicBool = AtomicBool::new(false);
static PROCESS_COUNT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: Cell<bool> = const { Cell::new(false) };
    static THREAD_COUNT: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    if PROCESS.load(Ordering::Relaxed) {
        PROCESS_COUNT.fetch_add(1, Ordering::Relaxed);
    }
    if THREAD.with(Cell::get) {
        THREAD_COUNT.with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: forwards every call to the system allocator unchanged; it only counts (no
// allocation, no panic: two atomics and two const-initialised thread-locals).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A running count (see [`measure`]).
#[must_use = "stop it to read the count"]
pub struct Measurement {
    scope: Scope,
    before: usize,
}

/// Starts counting allocations in `scope`; [`Measurement::stop`] ends it. For code that
/// cannot run in a closure (an `async` block with awaits inside).
pub fn measure(scope: Scope) -> Measurement {
    let before = match scope {
        Scope::Thread => {
            let before = THREAD_COUNT.with(Cell::get);
            THREAD.with(|c| c.set(true));
            before
        }
        Scope::Process => {
            let before = PROCESS_COUNT.load(Ordering::SeqCst);
            PROCESS.store(true, Ordering::SeqCst);
            before
        }
    };
    Measurement { scope, before }
}

impl Measurement {
    /// Stops counting; returns the allocations counted since [`measure`].
    pub fn stop(self) -> usize {
        match self.scope {
            Scope::Thread => {
                THREAD.with(|c| c.set(false));
                THREAD_COUNT.with(Cell::get) - self.before
            }
            Scope::Process => {
                PROCESS.store(false, Ordering::SeqCst);
                PROCESS_COUNT.load(Ordering::SeqCst) - self.before
            }
        }
    }
}

/// Runs `f`; returns its result and the allocations counted in `scope` meanwhile.
pub fn allocations_during<T>(scope: Scope, f: impl FnOnce() -> T) -> (T, usize) {
    let measurement = measure(scope);
    let out = f();
    (out, measurement.stop())
}

//! What the benchmarks share: the counting allocator behind their allocation checks, the
//! frames they send, and the simulator's ring shape that their baselines copy into.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The simulator's receive ring, which the baselines mirror: this many slots…
pub(crate) const RING_SLOTS: usize = vmnet::sim::DEFAULT_QUEUE_CAPACITY;
/// …each preallocated with this much room (a larger frame grows its slot once).
pub(crate) const PREALLOCATED_SLOT: usize = 2048;

/// The global allocator of a bench binary: the system allocator, counting allocations (and
/// reallocations) anywhere in the process while [`allocations_during`] runs.
pub(crate) struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations anywhere in the process while `f` runs (every thread counts: the simulator's
/// event threads and the bridge's do part of the work). Panics unless the counter works.
pub(crate) fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    drop(std::hint::black_box(vec![1u8; 10]));
    f();
    COUNTING.store(false, Ordering::SeqCst);
    let counted = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert!(counted >= 1, "the counting allocator is not installed");
    counted - 1
}

/// A frame of `len` bytes from `src` to `dst`, its payload a pattern seeded by `tag`.
pub(crate) fn frame(dst: [u8; 6], src: [u8; 6], len: usize, tag: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend((0..len - 14).map(|i| (i as u8).wrapping_add(tag)));
    f
}

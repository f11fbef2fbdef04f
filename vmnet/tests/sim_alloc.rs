//! `read_batch` and `write_batch` allocate nothing in steady state.
//!
//! A counting global allocator counts allocations made by the test thread while counting is
//! on; the simulator's own event threads are not counted (vmnet's are not ours either).
#![cfg(feature = "sim")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::frame;
use vmnet::sim::Segment;
use vmnet::{InterfaceConfig, PacketBatch};

struct Counting;

// Per thread, so tests running in parallel in this binary do not count each other.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get) - before)
}

#[test]
fn the_counter_counts() {
    let (v, n) = counted(|| vec![1u8; 10]);
    assert_eq!(v.len(), 10);
    assert_eq!(n, 1, "the harness must see an allocation");
}

#[test]
fn read_batch_and_write_batch_allocate_nothing_in_steady_state() {
    let seg = Segment::new();
    let mut a = seg.start(&InterfaceConfig::shared()).unwrap();
    let mut b = seg.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (
        a.parameters().mac_address().unwrap(),
        b.parameters().mac_address().unwrap(),
    );
    let mut out = PacketBatch::for_interface(a.parameters());
    let mut inb = PacketBatch::for_interface(b.parameters());
    for len in [64, 1514, 600, 60] {
        for _ in 0..64 {
            out.push(&frame(mb, ma, len, 0)).unwrap();
        }
    }
    // Drain the host's copies too, so its queue never fills (a full queue would still not
    // allocate, but keeps the run representative).
    let host = seg.host();
    // Counted rounds, after two warm-up rounds; fewer under Miri (200 take minutes there).
    let rounds = if cfg!(miri) { 3 } else { 200 };
    let mut total = 0;
    for round in 0..rounds + 2 {
        let ((written, read), allocations) = counted(|| {
            let written = a.write_batch(&mut out).unwrap();
            let read = b.read_batch(&mut inb).unwrap();
            (written, read)
        });
        assert_eq!((written, read), (256, 256));
        while host.recv_into(&mut [0u8; 2048]).unwrap().is_some() {}
        // The first two rounds may warm up (the receive ring's slots are preallocated, so
        // in fact they do not).
        if round >= 2 {
            total += allocations;
        }
    }
    assert_eq!(
        total, 0,
        "allocations in {rounds} steady-state write+read rounds"
    );
}

#[test]
fn single_packet_read_and_write_allocate_nothing() {
    let seg = Segment::new();
    let mut a = seg.start(&InterfaceConfig::shared()).unwrap();
    let mut b = seg.start(&InterfaceConfig::shared()).unwrap();
    let f = frame(
        b.parameters().mac_address().unwrap(),
        a.parameters().mac_address().unwrap(),
        1514,
        3,
    );
    let mut buf = vec![0u8; 1514];
    let host = seg.host();
    let mut hbuf = vec![0u8; 2048];
    let mut total = 0;
    for _ in 0..100 {
        let (got, n) = counted(|| {
            assert!(a.write(&f).unwrap());
            b.read(&mut buf).unwrap()
        });
        assert_eq!(got, Some(1514));
        while host.recv_into(&mut hbuf).unwrap().is_some() {}
        total += n;
    }
    assert_eq!(total, 0);
}

//! `read_batch` and `write_batch` allocate nothing in steady state.
//!
//! A counting global allocator counts allocations made by the test thread while counting is
//! on; the simulator's own event threads are not counted (vmnet's are not ours either).
#![cfg(feature = "sim")]

mod common;

use common::{count, frame};
use counting::{Counting, Scope, allocations_during};
use vmnet::sim::Segment;
use vmnet::{Interface, InterfaceConfig, MacAddr, PacketBatch};

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations by this thread while `f` runs (the simulator's event threads are not counted).
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    allocations_during(Scope::Thread, f)
}

/// Two shared-mode interfaces on `seg`, and their MAC addresses.
fn two_interfaces(seg: &Segment) -> (Interface, Interface, MacAddr, MacAddr) {
    let a = seg.start(&InterfaceConfig::shared()).unwrap();
    let b = seg.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (
        a.parameters().mac_address().unwrap(),
        b.parameters().mac_address().unwrap(),
    );
    (a, b, ma, mb)
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
    let (mut a, mut b, ma, mb) = two_interfaces(&seg);
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
    // Counted rounds, after two warm-up rounds; fewer when running small (200 take minutes
    // under Miri).
    let rounds = count(200, 3);
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
            a.write(&f).unwrap();
            b.read(&mut buf).unwrap()
        });
        assert_eq!(got, Some(1514));
        while host.recv_into(&mut hbuf).unwrap().is_some() {}
        total += n;
    }
    assert_eq!(total, 0);
}

/// Reads into and writes from caller-owned buffers allocate nothing per call: the
/// descriptors are allocated once, up front, and only pointed at the buffers by each call.
#[test]
fn read_into_and_write_from_allocate_nothing() {
    use vmnet::Descriptors;
    let seg = Segment::new();
    let (mut a, mut b, ma, mb) = two_interfaces(&seg);
    let len = b.parameters().buffer_len();
    // The caller's memory: frames to send in one region, receive buffers in another.
    let frames: Vec<Vec<u8>> = [64, 1514, 600, 60]
        .iter()
        .flat_map(|&l| (0..64u8).map(move |i| (l, i)))
        .map(|(l, i)| frame(mb, ma, l, i))
        .collect();
    let outgoing: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let mut guest = vec![0u8; 256 * len];
    let mut incoming: Vec<&mut [u8]> = guest.chunks_mut(len).collect();
    let mut out_descs = Descriptors::for_interface(a.parameters());
    let mut in_descs = Descriptors::for_interface(b.parameters());
    let host = seg.host();
    let mut hbuf = vec![0u8; 2048];
    let rounds = count(200, 3);
    let mut total = 0;
    for round in 0..rounds + 2 {
        let ((written, read), allocations) = counted(|| {
            let written = a.write_from(&mut out_descs, &outgoing).unwrap();
            let read = b.read_into(&mut in_descs, &mut incoming).unwrap();
            (written, read)
        });
        assert_eq!((written, read), (256, 256));
        assert_eq!(in_descs.lens()[1], 64);
        assert_eq!(in_descs.lens()[64], 1514);
        while host.recv_into(&mut hbuf).unwrap().is_some() {}
        if round >= 2 {
            total += allocations;
        }
    }
    assert_eq!(
        total, 0,
        "allocations in {rounds} steady-state write_from+read_into rounds"
    );
}

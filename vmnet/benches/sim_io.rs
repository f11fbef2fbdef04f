//! Throughput of `write_batch` + `read_batch` on the simulator, next to the copy limit.
//!
//! One iteration moves one batch of frames from interface A to interface B of a simulated
//! segment: `a.write_batch(&mut out)` then `b.read_batch(&mut in)`. The simulator copies each
//! frame twice: once into B's receive ring during the write, once out of it into the read
//! batch. So the **baseline** does exactly those two copies of the same bytes, in the same
//! batches, between buffers of the same shapes — a ring of 1024 `Vec<u8>` slots (like the
//! simulator's) and two batch-sized arenas — and nothing else: no locks, no routing, no
//! descriptors, no events. It is the copy limit: what any implementation with one copy in
//! and one copy out must spend. The ratio safe/baseline (frames per second) is the share of
//! that limit the safe layer plus the simulator reach.
//!
//! Not counted in the baseline, and so inside the measured overhead: per batch, the segment
//! lock, the locks of the host port's and of B's receive ring (each taken once per write
//! call), one wake-up of B's event thread and its pipe write, the read's pipe read and ring
//! lock; per frame, the routing (the destination lookup is cached for a run of frames to one
//! MAC), the host port's bookkeeping (its queue holds one frame and drops the rest, as a host
//! that does not read) and the descriptor set-up of `PacketBatch`.
//!
//! Before measuring, the bench checks that steady-state batches allocate nothing (a counting
//! allocator, over the whole process: event threads included) and panics otherwise;
//! `cargo test --benches` runs that check and each benchmark once.
//!
//! Run with `cargo xtask bench` (a table of frames/s, Gbit/s and ratios) or
//! `cargo bench -p vmnet --features sim --bench sim_io`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use vmnet::sim::Segment;
use vmnet::{Interface, InterfaceConfig, PacketBatch};

mod support;
use support::{
    Counting, PREALLOCATED_SLOT, RING_SLOTS, allocations_during, frame, measuring, paired_ratio,
    record_paired,
};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Frame sizes and how many frames one batch carries: a full batch of the simulator's
/// per-call limit (256) for the usual sizes; 32 TSO frames (2 MiB) for 64 KiB.
const CASES: [(usize, usize); 3] = [(64, 256), (1514, 256), (65536, 32)];

/// The safe path: two interfaces on a segment, a full outgoing batch and a read batch.
struct Safe {
    // Keeps the segment (and its host port) alive for the interfaces.
    _segment: Segment,
    a: Interface,
    b: Interface,
    out: PacketBatch,
    inb: PacketBatch,
}

impl Safe {
    fn new(size: usize, batch: usize) -> Self {
        // A host that does not read: its queue holds one frame and drops the rest.
        let segment = Segment::builder().host_queue_capacity(1).build();
        let config = if size > 1514 {
            InterfaceConfig::shared().tso(true)
        } else {
            InterfaceConfig::shared()
        };
        let a = segment.start(&config).expect("start A");
        let b = segment.start(&config).expect("start B");
        let src = a.parameters().mac_address().unwrap().octets();
        let dst = b.parameters().mac_address().unwrap().octets();
        let mut out = PacketBatch::new(batch, size);
        let f = frame(dst, src, size, 0);
        for _ in 0..batch {
            out.push(&f).unwrap();
        }
        let inb = PacketBatch::for_interface(b.parameters());
        Safe {
            _segment: segment,
            a,
            b,
            out,
            inb,
        }
    }

    fn round(&mut self) -> usize {
        let written = self.a.write_batch(&mut self.out).unwrap();
        let read = self.b.read_batch(&mut self.inb).unwrap();
        assert_eq!(written, read);
        read
    }
}

/// The copy limit: the same two copies of the same bytes, and nothing else.
struct Baseline {
    out: Vec<u8>,
    out_lens: Vec<usize>,
    out_slot: usize,
    ring: Vec<Vec<u8>>,
    head: usize,
    inb: Vec<u8>,
    in_lens: Vec<usize>,
    in_slot: usize,
}

impl Baseline {
    fn new(size: usize, batch: usize, in_slot: usize) -> Self {
        let mut out = vec![0u8; batch * size];
        let f = frame([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], size, 0);
        for slot in out.chunks_mut(size) {
            slot.copy_from_slice(&f);
        }
        Baseline {
            out,
            out_lens: vec![size; batch],
            out_slot: size,
            ring: (0..RING_SLOTS)
                .map(|_| Vec::with_capacity(in_slot.min(PREALLOCATED_SLOT)))
                .collect(),
            head: 0,
            inb: vec![0u8; batch.max(256) * in_slot],
            in_lens: vec![0; batch.max(256)],
            in_slot,
        }
    }

    fn round(&mut self) -> usize {
        let n = self.out_lens.len();
        // Copy 1: each frame into the next ring slot.
        for (i, &len) in self.out_lens.iter().enumerate() {
            let start = i * self.out_slot;
            let slot = &mut self.ring[(self.head + i) % RING_SLOTS];
            slot.clear();
            slot.extend_from_slice(&self.out[start..start + len]);
        }
        // Copy 2: each ring slot out into the read arena.
        for i in 0..n {
            let slot = &self.ring[(self.head + i) % RING_SLOTS];
            let start = i * self.in_slot;
            self.inb[start..start + slot.len()].copy_from_slice(slot);
            self.in_lens[i] = slot.len();
        }
        self.head = (self.head + n) % RING_SLOTS;
        black_box(&self.inb);
        n
    }
}

/// Fails unless steady-state rounds of both paths allocate nothing, anywhere in the process
/// (the event threads included).
fn check_no_allocations() {
    for (size, batch) in CASES {
        let mut safe = Safe::new(size, batch);
        let in_slot = safe.inb.slot_size();
        let mut base = Baseline::new(size, batch, in_slot);
        // Warm up past one turn of the ring, so slots grown for TSO frames have grown.
        let warm = RING_SLOTS / batch + 2;
        for _ in 0..warm {
            safe.round();
            base.round();
        }
        let rounds = 20;
        let allocations = allocations_during(|| {
            for _ in 0..rounds {
                assert_eq!(safe.round(), batch);
                assert_eq!(base.round(), batch);
            }
        });
        assert_eq!(
            allocations, 0,
            "{size}-byte frames: {allocations} allocations in {rounds} steady-state batches"
        );
        // The received bytes are the sent ones.
        assert_eq!(safe.inb.len(), batch);
        assert!(safe.inb.iter().zip(safe.out.iter()).all(|(a, b)| a == b));
        println!("alloc-check: {size}-byte frames, batches of {batch}: 0 allocations per batch");
    }
}

fn sim_io(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_io");
    for (size, batch) in CASES {
        group.throughput(Throughput::Elements(batch as u64));
        let mut safe = Safe::new(size, batch);
        let in_slot = safe.inb.slot_size();
        group.bench_with_input(BenchmarkId::new("safe", size), &size, |b, _| {
            b.iter(|| safe.round());
        });
        drop(safe);
        let mut base = Baseline::new(size, batch, in_slot);
        group.bench_with_input(BenchmarkId::new("baseline", size), &size, |b, _| {
            b.iter(|| base.round());
        });
    }
    group.finish();
}

/// The drift-resistant ratio of each case (see [`support::paired_ratio`]).
fn paired() {
    for (size, batch) in CASES {
        let mut safe = Safe::new(size, batch);
        let mut base = Baseline::new(size, batch, safe.inb.slot_size());
        let ratio = paired_ratio(
            || {
                safe.round();
            },
            || {
                base.round();
            },
        );
        record_paired("sim_io", size, ratio);
    }
}

fn main() {
    check_no_allocations();
    let mut criterion = Criterion::default().configure_from_args();
    sim_io(&mut criterion);
    criterion.final_summary();
    if measuring() {
        paired();
    }
}

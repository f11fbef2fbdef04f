//! Throughput of `write_batch` + `read_batch` on the simulator, next to vmnet's raw calls
//! and to the copy limit.
//!
//! One iteration moves one batch of frames from interface A to interface B of a simulated
//! segment, along three paths:
//!
//! - **safe**: `a.write_batch(&mut out)` then `b.read_batch(&mut in)` — the safe layer over
//!   the simulator. The reader only polls by reading: nothing observes B's events, so the
//!   simulator raises none (as vmnet raises none without an event callback).
//! - **waiting**: the same with a reader that waits for readiness before each read
//!   (`b.wait_readable`), as an event-driven VMM does: per batch, one event — a wake-up of B's
//!   event thread, its pipe write, the wait's `poll` and the read's pipe read.
//! - **raw**: `a.write_raw(..)` then `b.read_raw(..)` — vmnet's own calls (`vmnet_write`,
//!   `vmnet_read`) on the same simulator, with packet descriptors built once over two arenas
//!   of the batches' shapes, as a C caller keeps them; before each read only the sizes are
//!   reset (vmnet requires it). No `PacketBatch`, no per-call descriptor set-up.
//! - **baseline**: the simulator copies each frame twice, once into B's receive ring during
//!   the write and once out of it into the read buffers; the baseline does exactly those two
//!   copies of the same bytes, in the same batches, between buffers of the same shapes — a
//!   ring of 1024 `Vec<u8>` slots (like the simulator's) and two batch-sized arenas — and
//!   nothing else: no locks, no routing, no descriptors, no events. It is the copy limit:
//!   what any implementation with one copy in and one copy out must spend.
//!
//! So safe/raw is the safe layer's own cost; raw/baseline is what the simulated vmnet costs
//! over its copies; safe/baseline is the whole path's share of the copy limit, and
//! waiting/baseline that share for an event-driven reader.
//!
//! Inside raw/baseline: per batch, the segment lock and the locks of the host port's and of
//! B's receive ring (each taken once per write call), the read's ring lock; per frame,
//! vmnet's descriptor checks, the routing (the destination lookup is cached for a run of
//! frames to one MAC) and the host port's bookkeeping (its queue holds one frame and drops
//! the rest, as a host that does not read). Inside safe/raw: per call, the safe layer's checks
//! of lengths and limits and the batch's bookkeeping. Per packet, a read sets each size to the
//! whole slot, as the raw path does (the lengths read stay in the descriptors; only lengths a
//! platform wrote are checked against their slots, as the simulator's copy keeps to its
//! buffer), and a write nothing: a batch rewrites its descriptors only where a call changed
//! them, so one written again unchanged has no per-packet set-up, like the raw path's
//! descriptors built once. waiting/safe is the price of one event per batch. The paired
//! safe/raw runs both paths on one pair of interfaces ([`paired`]).
//!
//! Before measuring, the bench checks that steady-state batches allocate nothing (a counting
//! allocator, over the whole process: event threads included) and panics otherwise;
//! `cargo test --benches` runs that check and each benchmark once.
//!
//! Run with `cargo xtask bench` (a table of frames/s, Gbit/s and ratios) or
//! `cargo bench -p vmnet --features sim --bench sim_io`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use vmnet::ffi::{iovec, vmpktdesc};
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

/// Two interfaces on a segment whose host does not read (its queue holds one frame and
/// drops the rest), and a frame from A to B of the given size.
struct Pair {
    // Keeps the segment (and its host port) alive for the interfaces.
    _segment: Segment,
    a: Interface,
    b: Interface,
    frame: Vec<u8>,
}

impl Pair {
    fn new(size: usize) -> Self {
        let segment = Segment::builder().host_queue_capacity(1).build();
        let config = if size > 1514 {
            InterfaceConfig::shared().with_tso(true)
        } else {
            InterfaceConfig::shared()
        };
        let a = segment.start(&config).expect("start A");
        let b = segment.start(&config).expect("start B");
        let src = a.parameters().mac_address().unwrap().octets();
        let dst = b.parameters().mac_address().unwrap().octets();
        Pair {
            _segment: segment,
            a,
            b,
            frame: frame(dst, src, size, 0),
        }
    }
}

/// The safe path: a full outgoing batch and a read batch.
struct Safe {
    pair: Pair,
    out: PacketBatch,
    inb: PacketBatch,
    /// Whether the reader waits for readiness before each read (the "waiting" path).
    waits: bool,
}

impl Safe {
    fn new(size: usize, batch: usize) -> Self {
        let pair = Pair::new(size);
        let mut out = PacketBatch::new(batch, size);
        for _ in 0..batch {
            out.push(&pair.frame).unwrap();
        }
        let inb = PacketBatch::for_interface(pair.b.parameters());
        Safe {
            pair,
            out,
            inb,
            waits: false,
        }
    }

    /// The safe path with a reader that waits for readiness (an event) before each read.
    fn waiting(size: usize, batch: usize) -> Self {
        Safe {
            waits: true,
            ..Safe::new(size, batch)
        }
    }

    fn round(&mut self) -> usize {
        let written = self.pair.a.write_batch(&mut self.out).unwrap();
        if self.waits {
            let ready = self.pair.b.wait_readable(Some(Duration::from_secs(10)));
            assert!(ready.unwrap(), "no event within 10 s");
        }
        let read = self.pair.b.read_batch(&mut self.inb).unwrap();
        assert_eq!(written, read);
        read
    }
}

/// Descriptors with one iovec each over consecutive `slot`-byte spans of `arena`, each of
/// size `len`: what a caller of vmnet's raw calls builds once and keeps.
struct Descriptors {
    iovs: Vec<iovec>,
    descs: Vec<vmpktdesc>,
}

impl Descriptors {
    fn over(arena: &mut [u8], slot: usize, len: usize) -> Self {
        let mut iovs: Vec<iovec> = arena
            .chunks_exact_mut(slot)
            .map(|span| iovec {
                iov_base: span.as_mut_ptr().cast(),
                iov_len: len,
            })
            .collect();
        let first = iovs.as_mut_ptr();
        let descs = (0..iovs.len())
            .map(|i| vmpktdesc {
                vm_pkt_size: len,
                vm_pkt_iov: first.wrapping_add(i),
                vm_pkt_iovcnt: 1,
                vm_flags: 0,
            })
            .collect();
        Descriptors { iovs, descs }
    }
}

/// vmnet's raw calls on the same simulator, over arenas of the batches' shapes, on a pair of
/// their own.
struct Raw {
    pair: Pair,
    calls: RawCalls,
}

impl Raw {
    fn new(size: usize, batch: usize) -> Self {
        let pair = Pair::new(size);
        let calls = RawCalls::new(&pair, size, batch);
        Raw { pair, calls }
    }

    fn round(&mut self) -> usize {
        self.calls.round(&mut self.pair)
    }
}

/// The raw path's descriptors and memory, for the frames of a pair: what a C caller keeps.
struct RawCalls {
    out: Descriptors,
    inb: Descriptors,
    /// The memory the descriptors point into, out and in (heap buffers: moving `RawCalls`
    /// does not move them).
    arenas: [Vec<u8>; 2],
}

impl RawCalls {
    fn new(pair: &Pair, size: usize, batch: usize) -> Self {
        let mut out_arena = pair.frame.repeat(batch);
        let params = pair.b.parameters();
        let in_slot = params.max_packet_size();
        let mut in_arena = vec![0u8; params.read_max_packets() * in_slot];
        RawCalls {
            out: Descriptors::over(&mut out_arena, size, size),
            inb: Descriptors::over(&mut in_arena, in_slot, in_slot),
            arenas: [out_arena, in_arena],
        }
    }

    /// One batch from `pair.a` to `pair.b`.
    fn round(&mut self, pair: &mut Pair) -> usize {
        // SAFETY: every descriptor has one iovec over its own span of the out arena, which
        // holds a whole frame of vm_pkt_size == iov_len bytes and is only read.
        let written = unsafe { pair.a.write_raw(&mut self.out.descs) }.unwrap();
        // vmnet's rule: before a read, each size is its buffer's length.
        for (desc, iov) in self.inb.descs.iter_mut().zip(&self.inb.iovs) {
            desc.vm_pkt_size = iov.iov_len;
        }
        // SAFETY: every descriptor has one iovec over its own span of the in arena, which
        // nothing else touches, with vm_pkt_size == iov_len.
        let read = unsafe { pair.b.read_raw(&mut self.inb.descs) }.unwrap();
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

/// Rounds that take every path past one turn of its ring, so that slots grown for TSO
/// frames have grown (the steady state).
fn warm_up_rounds(batch: usize) -> usize {
    RING_SLOTS / batch + 2
}

/// Fails unless steady-state rounds of every path allocate nothing, anywhere in the process
/// (the event threads included).
fn check_no_allocations() {
    for (size, batch) in CASES {
        let mut safe = Safe::new(size, batch);
        let mut waiting = Safe::waiting(size, batch);
        let mut raw = Raw::new(size, batch);
        let in_slot = safe.inb.slot_size();
        let mut base = Baseline::new(size, batch, in_slot);
        for _ in 0..warm_up_rounds(batch) {
            safe.round();
            waiting.round();
            raw.round();
            base.round();
        }
        let rounds = 20;
        let allocations = allocations_during(|| {
            for _ in 0..rounds {
                assert_eq!(safe.round(), batch);
                assert_eq!(waiting.round(), batch);
                assert_eq!(raw.round(), batch);
                assert_eq!(base.round(), batch);
            }
        });
        assert_eq!(
            allocations, 0,
            "{size}-byte frames: {allocations} allocations in {rounds} steady-state batches"
        );
        // The received bytes are the sent ones.
        assert_eq!(safe.inb.len(), batch);
        assert!(safe.inb.iter().all(|f| f == safe.pair.frame));
        assert!(
            raw.calls.inb.descs[..batch]
                .iter()
                .all(|d| d.vm_pkt_size == size)
        );
        assert!(
            raw.calls.arenas[1]
                .chunks(in_slot)
                .take(batch)
                .all(|f| f[..size] == raw.pair.frame)
        );
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
        let mut waiting = Safe::waiting(size, batch);
        group.bench_with_input(BenchmarkId::new("waiting", size), &size, |b, _| {
            b.iter(|| waiting.round());
        });
        drop(waiting);
        let mut raw = Raw::new(size, batch);
        group.bench_with_input(BenchmarkId::new("raw", size), &size, |b, _| {
            b.iter(|| raw.round());
        });
        drop(raw);
        let mut base = Baseline::new(size, batch, in_slot);
        group.bench_with_input(BenchmarkId::new("baseline", size), &size, |b, _| {
            b.iter(|| base.round());
        });
    }
    group.finish();
}

/// The drift-resistant ratios of each case (see [`support::paired_ratio`]): safe/baseline,
/// waiting/baseline, raw/baseline and safe/raw, each pair measured in its own alternating
/// blocks.
///
/// safe/raw is measured on one pair of interfaces: the raw calls move the same frames through
/// the same simulated rings as the safe path, each with its own buffers. Two pairs are two
/// segments whose rings the allocator placed differently, and that alone moves a ratio at 64
/// bytes by up to 0.05 (the raw path against itself on two pairs: 0.95), so the ratio would
/// say where the rings landed as much as what the safe layer costs.
fn paired() {
    for (size, batch) in CASES {
        let mut safe = Safe::new(size, batch);
        let mut waiting = Safe::waiting(size, batch);
        let mut raw = Raw::new(size, batch);
        let mut raw_beside_safe = RawCalls::new(&safe.pair, size, batch);
        let mut base = Baseline::new(size, batch, safe.inb.slot_size());
        for _ in 0..warm_up_rounds(batch) {
            safe.round();
            raw_beside_safe.round(&mut safe.pair);
            waiting.round();
            raw.round();
            base.round();
        }
        let safe_base = paired_ratio(|| safe.round(), || base.round());
        record_paired("sim_io", "safe/baseline", size, safe_base);
        let waiting_base = paired_ratio(|| waiting.round(), || base.round());
        record_paired("sim_io", "waiting/baseline", size, waiting_base);
        let raw_base = paired_ratio(|| raw.round(), || base.round());
        record_paired("sim_io", "raw/baseline", size, raw_base);
        let safe = std::cell::RefCell::new(&mut safe);
        let safe_raw = paired_ratio(
            || safe.borrow_mut().round(),
            || raw_beside_safe.round(&mut safe.borrow_mut().pair),
        );
        record_paired("sim_io", "safe/raw", size, safe_raw);
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

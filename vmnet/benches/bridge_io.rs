//! Throughput of the socket bridge (`vmnet::bridge`) on the simulator, next to the copy limit.
//!
//! **What one iteration does.** A bridge runs between interface A of a simulated segment and
//! one end of a unix socket pair; the bench thread plays both the VM (the other end of the
//! pair) and the network (interface B on the same segment). One iteration is a round trip of
//! `2 × n` frames through the bridge, `n` each way, one direction after the other:
//!
//! 1. VM → network: the VM end sends `n` frames (datagram framing: `n` datagrams, in batches
//!    of `sendmmsg` on Linux; stream framing: `n` length-prefixed frames in one `write_all`);
//!    the bridge's from-VM thread
//!    receives them and writes them to A; the bench thread waits (`wait_readable`) and reads
//!    them at B with `read_batch` until all `n` have arrived.
//! 2. network → VM: the bench thread writes `n` frames at B with one `write_batch`; the
//!    bridge's to-VM thread reads them from A and sends them; the VM end receives all `n`
//!    (`n` datagrams, with `recvmmsg` and `MSG_WAITFORONE` on Linux, each into its own slot;
//!    or `n` prefixed frames with `read_exact`).
//!
//! `n` is 128 for 64- and 1514-byte frames and 16 for 64 KiB frames (interfaces started with
//! `.with_tso(true)`, whose maximum packet size, 65549 bytes, is also the bridge's default largest
//! frame), so one iteration carries 256 (or 32) frames, as one batch of `sim_io` does. The
//! throughput is in frames through the bridge, both directions counted. Every wait is bounded
//! (10 s): a lost frame fails the bench with the bridge's counters, it never hangs; the
//! bridge's retry budgets are raised from 20 ms to 1 s so that a bench thread descheduled on a
//! busy machine cannot make it drop (they cost nothing while nothing is refused). The groups
//! are `bridge_io` (datagram framing) and `bridge_io_stream` (stream framing), each with
//! `safe/<size>` (the bridge with its default options) and `baseline/<size>`; the datagram
//! group also has `per_frame/<size>`: the bridge with `BridgeOptions::with_batched_io(false)`,
//! one system call per datagram, as it was before batching. The VM end is the same code for
//! every path and batches its own datagram calls (as a VMM that batches does), so that what
//! differs between `safe` and `per_frame` is the bridge's calls alone.
//!
//! **The baseline** is a plain relay: the same socket traffic and the same byte copies, with
//! neither vmnet nor the bridge. The bench thread's VM end runs the very same code on a second
//! socket pair. On the other end, two relay threads (one per direction, as the bridge has) do:
//!
//! - from the VM: datagram framing: a blocking `recv` of the first datagram straight into the
//!   first slot of a batch arena (slots of the largest frame, as the bridge's batch), then
//!   `recv`s with `MSG_DONTWAIT`, each into the next slot, until the socket is drained or 256
//!   frames are in hand; stream framing: blocking `read`s into a buffer of the bridge
//!   decoder's size (256 KiB, compacted by the same rule), each complete frame copied out of
//!   it into the batch arena. Then one lock of a ring (1024 preallocated `Vec<u8>` slots, as
//!   the simulator's receive queue), the batch copied into it, one condition-variable
//!   wake-up; the bench thread, woken, copies the frames out of the ring into its read arena,
//!   as `read_batch` does;
//! - to the VM: the bench thread copies its `n` frames into a second ring under one lock and
//!   wakes the relay thread, which copies up to 256 out into its batch arena (as the bridge's
//!   `read_batch`), then sends each frame with a blocking `send` (datagram), or encodes them
//!   into a 256 KiB output buffer, prefix and frame (stream, as the bridge does), and writes
//!   it with `write_all`.
//!
//! So both sides make the same system calls on the VM end and the same copies everywhere: the
//! kernel's (into the batch for datagrams; for a stream into the decoder buffer, then to the batch)
//! → ring → read batch towards the network, batch → ring → batch (→ stream output buffer) towards
//! the VM. It is the limit that the socket traffic and the copies set for any bridge handing frames
//! over through an in-process queue with one system call per datagram on its side (where one
//! system call per frame weighs more than the copies): `safe/baseline` (frames per second) is the
//! share of it that the bridge, the safe layer and the simulator reach together, and for
//! datagrams can pass 1 now that the bridge batches its calls and the relay does not.
//!
//! **Inside the measured overhead** (in the safe path, not in the baseline): on the bridge's side,
//! the `poll(2)` on the socket and the stop descriptor before each wake-up and the
//! `recvmmsg`/`read` that finds the socket drained (the relay blocks in `recv`/`read` instead), the
//! frame checks (length bounds, a datagram's truncation flag, the stream decoder's validation),
//! the stop-flag checks and the counters (a few atomic additions per batch), the non-blocking
//! `sendmmsg`s (`send`s per frame, for `per_frame` and streams) with their retry bookkeeping, the wait for A's readiness descriptor (`poll` on the
//! event pipe instead of a condition variable); and everything the simulator adds on each side, as
//! measured alone by `sim_io`: the segment lock and MAC lookup, the host port's bookkeeping (its
//! queue holds one frame and drops the rest, a host that does not read), the receive ring's lock
//! per write call, the `PacketBatch` descriptors, and the wake-up of the receiving interface's
//! event thread with its pipe write and read.
//!
//! Before measuring, the bench checks that steady-state iterations allocate nothing, on both
//! paths, both framings, every size, and panics otherwise. The allocator counts for the whole
//! process, not per thread: the work is done by the bridge's two threads and the simulator's
//! event threads (or the relay's threads) as much as by the bench thread. That is reliable
//! here because nothing else runs while it counts (criterion has not started; the threads of
//! the other path have been joined), and warm-up rounds run first, past one turn of every
//! ring, so slots grown once for 64 KiB frames have grown. `cargo test --benches` runs that
//! check and each benchmark once.
//!
//! Run with `cargo xtask bench` (a table of frames/s, Gbit/s and ratios) or
//! `cargo bench -p vmnet --features sim --bench bridge_io`.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use vmnet::bridge::{self, BridgeOptions, Framing, RunningBridge};
use vmnet::sim::Segment;
use vmnet::{Interface, InterfaceConfig, PacketBatch};

mod support;
use support::{
    Counting, PREALLOCATED_SLOT, RING_SLOTS, allocations_during, frame, measuring, paired_ratio,
    record_paired,
};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Frame sizes and how many frames go each way per iteration (half a `sim_io` batch).
const CASES: [(usize, usize); 3] = [(64, 128), (1514, 128), (65536, 16)];
/// The bound of every wait: far beyond any iteration, short enough for a failing CI job.
const SOON: Duration = Duration::from_secs(10);
/// How often idle relay threads look at their stop flag.
const TICK: Duration = Duration::from_millis(50);
/// Frames per relay batch: the simulator's per-call limit, which sizes the bridge's batches.
const RELAY_BATCH: usize = 256;
/// The stream relay's input buffer, as the bridge's stream decoder.
const STREAM_IN: usize = bridge::DEFAULT_DECODER_BUFFER;
/// The stream relay's output buffer, as the bridge's (256 KiB, at least two largest frames).
const STREAM_OUT: usize = 256 * 1024;
/// Steady-state iterations counted by the allocation check.
const COUNTED_ROUNDS: usize = 20;

/// `frame` `n` times in the stream framing.
fn encoded(frame: &[u8], n: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(n * (bridge::LENGTH_PREFIX_LEN + frame.len()));
    for _ in 0..n {
        bridge::encode_stream_frame(frame, &mut wire).expect("frame fits the prefix");
    }
    wire
}

fn config(size: usize) -> InterfaceConfig {
    if size > 1514 {
        InterfaceConfig::shared().with_tso(true)
    } else {
        InterfaceConfig::shared()
    }
}

/// The VM's end of a socket pair and the other end (for the bridge or the relay), blocking,
/// with bounded waits on the VM's end.
fn socket_pair(framing: Framing) -> (SocketEnd, SocketEnd) {
    let (vm, other) = match framing {
        Framing::Datagram => {
            let (a, b) = UnixDatagram::pair().expect("datagram pair");
            (SocketEnd::Datagram(a), SocketEnd::Datagram(b))
        }
        _ => {
            let (a, b) = UnixStream::pair().expect("stream pair");
            (SocketEnd::Stream(a), SocketEnd::Stream(b))
        }
    };
    vm.set_timeouts(SOON, SOON);
    (vm, other)
}

/// One end of a socket pair: the VM's, the bridge's or the relay's.
enum SocketEnd {
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

impl SocketEnd {
    fn set_timeouts(&self, read: Duration, write: Duration) {
        match self {
            SocketEnd::Datagram(s) => {
                s.set_read_timeout(Some(read)).unwrap();
                s.set_write_timeout(Some(write)).unwrap();
            }
            SocketEnd::Stream(s) => {
                s.set_read_timeout(Some(read)).unwrap();
                s.set_write_timeout(Some(write)).unwrap();
            }
        }
    }

    fn try_clone(&self) -> io::Result<SocketEnd> {
        Ok(match self {
            SocketEnd::Datagram(s) => SocketEnd::Datagram(s.try_clone()?),
            SocketEnd::Stream(s) => SocketEnd::Stream(s.try_clone()?),
        })
    }

    fn into_bridge_socket(self) -> bridge::VmSocket {
        match self {
            SocketEnd::Datagram(s) => s.into(),
            SocketEnd::Stream(s) => s.into(),
        }
    }
}

/// The bench thread as the VM: the same code drives the bridge and the relay.
struct VmEnd {
    socket: SocketEnd,
    /// Frames per direction and iteration.
    frames: usize,
    /// The frame the VM sends (datagram framing: `frames` times).
    up: Vec<u8>,
    /// Stream framing: `frames` copies of `up`, encoded.
    up_wire: Vec<u8>,
    /// The frame the VM expects from the network, and (stream) its `frames` copies encoded.
    down: Vec<u8>,
    down_wire: Vec<u8>,
    /// Receive buffer: slots one byte longer than the largest frame, one per datagram of an
    /// iteration (each received into its own), or a whole iteration's stream bytes.
    buf: Vec<u8>,
    /// Datagram framing: where the last datagram received starts in `buf`, and its length.
    last: (usize, usize),
    /// Datagram framing: the batched calls the VM makes.
    multi: Multi,
}

impl VmEnd {
    fn new(socket: SocketEnd, frames: usize, up: Vec<u8>, down: Vec<u8>, max: usize) -> Self {
        let (up_wire, down_wire) = match socket {
            SocketEnd::Stream(_) => (encoded(&up, frames), encoded(&down, frames)),
            SocketEnd::Datagram(_) => (Vec::new(), Vec::new()),
        };
        let buf = vec![0; down_wire.len().max(frames * (max + 1))];
        VmEnd {
            socket,
            multi: Multi::new(frames),
            frames,
            up,
            up_wire,
            down,
            down_wire,
            buf,
            last: (0, 0),
        }
    }

    /// Sends this iteration's frames towards the network.
    fn send(&mut self) -> io::Result<()> {
        match &mut self.socket {
            SocketEnd::Datagram(s) => self.multi.send(s, &self.up, self.frames),
            SocketEnd::Stream(s) => s.write_all(&self.up_wire),
        }
    }

    /// Receives this iteration's frames from the network; fails after `SOON` without them.
    fn receive(&mut self) -> io::Result<()> {
        match &mut self.socket {
            SocketEnd::Datagram(s) => {
                let slot = self.buf.len() / self.frames;
                let mut got = 0;
                while got < self.frames {
                    let n = self
                        .multi
                        .recv(s, &mut self.buf, slot, self.frames - got, |len| {
                            if len == self.down.len() {
                                Ok(())
                            } else {
                                Err(io::Error::other(format!(
                                    "frame {got}: {len} bytes instead of {}",
                                    self.down.len()
                                )))
                            }
                        })?;
                    got += n;
                    self.last = ((n - 1) * slot, self.down.len());
                }
                Ok(())
            }
            SocketEnd::Stream(s) => s.read_exact(&mut self.buf[..self.down_wire.len()]),
        }
    }

    /// Whether the last frames received are the ones the network sent.
    fn received_intact(&self) -> bool {
        match self.socket {
            SocketEnd::Datagram(_) => {
                let (at, len) = self.last;
                self.buf[at..at + len] == self.down[..]
            }
            SocketEnd::Stream(_) => self.buf[..self.down_wire.len()] == self.down_wire[..],
        }
    }
}

/// The VM's datagram calls, many datagrams per call as a VMM that batches makes them: on
/// Linux `sendmmsg` and `recvmmsg` (`MSG_WAITFORONE`: wait for the first, take what else is
/// there), over headers allocated once and pointed at the buffers for each call; elsewhere one
/// `send`/`recv` per datagram. Either way the same for the bridge's paths and the relay.
struct Multi {
    #[cfg(target_os = "linux")]
    msgs: Vec<libc::mmsghdr>,
    #[cfg(target_os = "linux")]
    iovs: Vec<libc::iovec>,
}

impl Multi {
    #[cfg(target_os = "linux")]
    fn new(n: usize) -> Self {
        Multi {
            // SAFETY: `mmsghdr` is integers and pointers, all zeros a valid (empty) value.
            msgs: (0..n).map(|_| unsafe { std::mem::zeroed() }).collect(),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                n
            ],
        }
    }

    /// Sends `frame` as `n` datagrams (blocking, within the socket's timeout).
    #[cfg(target_os = "linux")]
    fn send(&mut self, s: &UnixDatagram, frame: &[u8], n: usize) -> io::Result<()> {
        let mut sent = 0;
        while sent < n {
            let count = (n - sent).min(self.msgs.len());
            for (msg, iov) in self.msgs.iter_mut().zip(&mut self.iovs).take(count) {
                *iov = libc::iovec {
                    iov_base: frame.as_ptr().cast_mut().cast(),
                    iov_len: frame.len(),
                };
                msg.msg_hdr.msg_iov = iov;
                msg.msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: the first `count` headers each point at one iovec over `frame`, live
            // and only read for the call; no names, no control data (zeroed in `new`).
            let n =
                unsafe { libc::sendmmsg(s.as_raw_fd(), self.msgs.as_mut_ptr(), count as u32, 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            sent += n.unsigned_abs() as usize;
        }
        Ok(())
    }

    /// Receives up to `n` datagrams (waiting for the first, within the socket's timeout), the
    /// `i`th into `buf`'s `i`th slot of `slot` bytes; `check`s each one's length; returns how
    /// many.
    #[cfg(target_os = "linux")]
    fn recv(
        &mut self,
        s: &UnixDatagram,
        buf: &mut [u8],
        slot: usize,
        n: usize,
        mut check: impl FnMut(usize) -> io::Result<()>,
    ) -> io::Result<usize> {
        let count = n.min(self.msgs.len());
        let slots = buf.chunks_exact_mut(slot);
        for ((msg, iov), room) in self
            .msgs
            .iter_mut()
            .zip(&mut self.iovs)
            .zip(slots)
            .take(count)
        {
            *iov = libc::iovec {
                iov_base: room.as_mut_ptr().cast(),
                iov_len: room.len(),
            };
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first `count` headers each point at one iovec over its own slot of
        // `buf`, writable and exclusively borrowed for the call; no names, no control data.
        let got = unsafe {
            libc::recvmmsg(
                s.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                count as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = got.unsigned_abs() as usize;
        for msg in &self.msgs[..got] {
            check(msg.msg_len as usize)?;
        }
        Ok(got)
    }

    #[cfg(not(target_os = "linux"))]
    fn new(_: usize) -> Self {
        Multi {}
    }

    #[cfg(not(target_os = "linux"))]
    fn send(&mut self, s: &UnixDatagram, frame: &[u8], n: usize) -> io::Result<()> {
        for _ in 0..n {
            let sent = s.send(frame)?;
            assert_eq!(sent, frame.len(), "a datagram was cut");
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn recv(
        &mut self,
        s: &UnixDatagram,
        buf: &mut [u8],
        slot: usize,
        _: usize,
        mut check: impl FnMut(usize) -> io::Result<()>,
    ) -> io::Result<usize> {
        check(s.recv(&mut buf[..slot])?)?;
        Ok(1)
    }
}

/// The safe path: the bridge between interface A and the VM end; interface B as the network.
struct Safe {
    vm: VmEnd,
    bridge: RunningBridge,
    net: Interface,
    /// `frames` frames for the VM, written at B.
    out: PacketBatch,
    /// B's read batch.
    inb: PacketBatch,
    frames: usize,
    max: usize,
    // Last: the segment outlives the interfaces.
    _segment: Segment,
}

impl Safe {
    /// `batched`: the bridge moves datagrams many per system call (its default), or one per
    /// call (the per-frame path, `BridgeOptions::with_batched_io(false)`).
    fn new(framing: Framing, size: usize, frames: usize, batched: bool) -> Self {
        // A host that does not read: its queue holds one frame and drops the rest.
        let segment = Segment::builder().host_queue_capacity(1).build();
        let bridged = segment.start(&config(size)).expect("start A");
        let net = segment.start(&config(size)).expect("start B");
        let vm_mac = bridged.parameters().mac_address().unwrap().octets();
        let net_mac = net.parameters().mac_address().unwrap().octets();
        let max = bridged.parameters().max_packet_size();
        let (vm, ours) = socket_pair(framing);
        // Generous retry budgets: on a loaded machine the bench thread may be descheduled
        // while the bridge sends; a drop would fail the bench.
        let options = BridgeOptions::new()
            .with_send_timeout(Duration::from_secs(1))
            .with_write_timeout(Duration::from_secs(1))
            .with_batched_io(batched);
        let bridge =
            bridge::spawn(bridged, ours.into_bridge_socket(), &options).expect("spawn the bridge");
        let up = frame(net_mac, vm_mac, size, 1);
        let down = frame(vm_mac, net_mac, size, 2);
        let mut out = PacketBatch::new(frames, size);
        for _ in 0..frames {
            out.push(&down).unwrap();
        }
        let inb = PacketBatch::for_interface(net.parameters());
        Safe {
            vm: VmEnd::new(vm, frames, up, down, max),
            bridge,
            net,
            out,
            inb,
            frames,
            max,
            _segment: segment,
        }
    }

    fn round(&mut self) -> usize {
        // VM → bridge → A → segment → B.
        if let Err(e) = self.vm.send() {
            panic!("the VM could not send: {e}; {}", self.bridge.stats());
        }
        let deadline = Instant::now() + SOON;
        let mut got = 0;
        while got < self.frames {
            let n = self.net.read_batch(&mut self.inb).expect("read_batch at B");
            got += n;
            if n == 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                let ready = !left.is_zero()
                    && self
                        .net
                        .wait_readable(Some(left))
                        .expect("wait_readable at B");
                assert!(
                    ready,
                    "{got} of {} frames reached the network in {SOON:?}; {}",
                    self.frames,
                    self.bridge.stats()
                );
            }
        }
        assert_eq!(
            got, self.frames,
            "more frames than sent reached the network"
        );
        // B → segment → A → bridge → VM.
        let written = self
            .net
            .write_batch(&mut self.out)
            .expect("write_batch at B");
        assert_eq!(written, self.frames, "B took part of the batch");
        if let Err(e) = self.vm.receive() {
            panic!(
                "the VM did not receive its frames: {e}; {}",
                self.bridge.stats()
            );
        }
        2 * self.frames
    }

    /// The bytes arrived intact, and the bridge counted exactly `rounds` rounds.
    fn verify(&self, rounds: usize) {
        assert!(self.vm.received_intact(), "the VM received other bytes");
        assert!(
            self.inb.iter().all(|f| f == &self.vm.up[..]),
            "the network received other bytes"
        );
        // The bridge adds to its counters after the batch it passes on, so the far side may
        // have the last frames a moment before they are counted.
        let packets = (rounds * self.frames) as u64;
        let deadline = Instant::now() + SOON;
        let mut stats = self.bridge.stats();
        while (stats.to_vm.packets < packets || stats.from_vm.packets < packets)
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(1));
            stats = self.bridge.stats();
        }
        assert_eq!(
            (stats.to_vm.packets, stats.from_vm.packets),
            (packets, packets),
            "{stats}"
        );
        assert_eq!(
            (stats.to_vm.drops, stats.from_vm.drops, stats.malformed),
            (0, 0, 0),
            "{stats}"
        );
    }
}

/// A batch of frames in one preallocated arena, a fixed-size slot per frame.
struct Arena {
    bytes: Box<[u8]>,
    lens: Box<[usize]>,
    slot: usize,
    len: usize,
}

impl Arena {
    fn new(capacity: usize, slot: usize) -> Self {
        Arena {
            bytes: vec![0; capacity * slot].into_boxed_slice(),
            lens: vec![0; capacity].into_boxed_slice(),
            slot,
            len: 0,
        }
    }

    fn capacity(&self) -> usize {
        self.lens.len()
    }

    fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, frame: &[u8]) {
        assert!(
            !self.is_full() && frame.len() <= self.slot,
            "arena overflow"
        );
        let start = self.len * self.slot;
        self.bytes[start..start + frame.len()].copy_from_slice(frame);
        self.lens[self.len] = frame.len();
        self.len += 1;
    }

    /// Appends a frame received in place, as the bridge receives datagrams: `fill` gets the
    /// whole next slot and returns the frame's length; on error nothing is added.
    fn push_with(&mut self, fill: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<()> {
        assert!(!self.is_full(), "arena overflow");
        let start = self.len * self.slot;
        let len = fill(&mut self.bytes[start..start + self.slot])?;
        assert!(len <= self.slot, "arena overflow");
        self.lens[self.len] = len;
        self.len += 1;
        Ok(())
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len).map(|i| &self.bytes[i * self.slot..i * self.slot + self.lens[i]])
    }
}

/// The relay's in-process queue: a ring of preallocated slots under one lock, and a
/// condition variable for its consumer.
struct Queue {
    ring: Mutex<Ring>,
    ready: Condvar,
}

struct Ring {
    slots: Vec<Vec<u8>>,
    head: usize,
    len: usize,
    dropped: usize,
}

impl Queue {
    fn new(max: usize) -> Self {
        Queue {
            ring: Mutex::new(Ring {
                slots: (0..RING_SLOTS)
                    .map(|_| Vec::with_capacity(max.min(PREALLOCATED_SLOT)))
                    .collect(),
                head: 0,
                len: 0,
                dropped: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies the frames in under one lock (dropping what does not fit), then wakes the
    /// consumer.
    fn put<'a>(&self, frames: impl Iterator<Item = &'a [u8]>) {
        let mut ring = self.lock();
        for f in frames {
            if ring.len == ring.slots.len() {
                ring.dropped += 1;
                continue;
            }
            let index = (ring.head + ring.len) % ring.slots.len();
            let slot = &mut ring.slots[index];
            slot.clear();
            slot.extend_from_slice(f);
            ring.len += 1;
        }
        drop(ring);
        self.ready.notify_one();
    }

    /// Waits up to `wait` for frames, then hands up to `max` of them, oldest first, to `take`
    /// under one lock. Returns how many.
    fn take(&self, max: usize, wait: Duration, mut take: impl FnMut(&[u8])) -> usize {
        let deadline = Instant::now() + wait;
        let mut ring = self.lock();
        while ring.len == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return 0;
            }
            ring = self
                .ready
                .wait_timeout(ring, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let n = ring.len.min(max);
        for i in 0..n {
            take(&ring.slots[(ring.head + i) % ring.slots.len()]);
        }
        ring.head = (ring.head + n) % ring.slots.len();
        ring.len -= n;
        n
    }

    fn dropped(&self) -> usize {
        self.lock().dropped
    }
}

/// One datagram if one is queued, without waiting (the socket itself stays blocking).
fn recv_now(socket: &UnixDatagram, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, writable byte slice for the duration of the call, and the
    // descriptor is an open socket borrowed for it.
    let n = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n.unsigned_abs())
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The relay from the VM, datagram framing: blocking `recv`, then drain without waiting,
/// each datagram straight into its slot of the batch arena.
fn relay_from_vm_datagram(socket: &UnixDatagram, to: &Queue, stop: &AtomicBool, max: usize) {
    let mut batch = Arena::new(RELAY_BATCH, max);
    while !stop.load(Ordering::Relaxed) {
        match batch.push_with(|slot| socket.recv(slot)) {
            Ok(()) => {}
            Err(e) if timed_out(&e) => continue,
            Err(e) => panic!("relay: {e}"),
        }
        while !batch.is_full() {
            match batch.push_with(|slot| recv_now(socket, slot)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("relay: {e}"),
            }
        }
        to.put(batch.iter());
        batch.clear();
    }
}

/// The relay from the VM, stream framing: blocking `read`s, whole frames copied out.
fn relay_from_vm_stream(mut socket: &UnixStream, to: &Queue, stop: &AtomicBool, max: usize) {
    let prefix = bridge::LENGTH_PREFIX_LEN;
    let mut buf = vec![0u8; STREAM_IN.max(prefix + max)];
    let (mut start, mut end) = (0, 0);
    let mut batch = Arena::new(RELAY_BATCH, max);
    while !stop.load(Ordering::Relaxed) {
        // The decoder's rule: start over when empty, move the rest to the front when less
        // than half the buffer is free behind it.
        if start == end {
            (start, end) = (0, 0);
        } else if start > 0 && buf.len() - end < buf.len() / 2 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        match socket.read(&mut buf[end..]) {
            Ok(0) => return,
            Ok(n) => end += n,
            Err(e) if timed_out(&e) => continue,
            Err(e) => panic!("relay: {e}"),
        }
        while end - start >= prefix {
            let mut len = [0u8; 4];
            len.copy_from_slice(&buf[start..start + prefix]);
            let len = u32::from_be_bytes(len) as usize;
            if end - start < prefix + len {
                break;
            }
            if batch.is_full() {
                to.put(batch.iter());
                batch.clear();
            }
            batch.push(&buf[start + prefix..start + prefix + len]);
            start += prefix + len;
        }
        to.put(batch.iter());
        batch.clear();
    }
}

/// The relay to the VM: up to a batch out of the queue, then sent.
fn relay_to_vm(socket: &SocketEnd, from: &Queue, stop: &AtomicBool, max: usize) {
    let mut batch = Arena::new(RELAY_BATCH, max);
    let mut out = Vec::with_capacity(match socket {
        SocketEnd::Stream(_) => STREAM_OUT,
        SocketEnd::Datagram(_) => 0,
    });
    while !stop.load(Ordering::Relaxed) {
        batch.clear();
        if from.take(RELAY_BATCH, TICK, |f| batch.push(f)) == 0 {
            continue;
        }
        match socket {
            SocketEnd::Datagram(s) => {
                for f in batch.iter() {
                    if let Err(e) = s.send(f) {
                        panic!("relay: {e}");
                    }
                }
            }
            SocketEnd::Stream(s) => {
                let mut s: &UnixStream = s;
                for f in batch.iter() {
                    if out.len() + bridge::LENGTH_PREFIX_LEN + f.len() > STREAM_OUT {
                        s.write_all(&out).expect("relay: write");
                        out.clear();
                    }
                    bridge::encode_stream_frame(f, &mut out).expect("frame fits the prefix");
                }
                s.write_all(&out).expect("relay: write");
                out.clear();
            }
        }
    }
}

/// The copy limit: the same socket traffic and copies through a plain relay.
struct Baseline {
    vm: VmEnd,
    /// Relay → network (the bench thread).
    up: Arc<Queue>,
    /// Network (the bench thread) → relay.
    down: Arc<Queue>,
    /// `frames` frames for the VM, as `Safe::out`.
    out: Arena,
    /// The network's read arena, as `Safe::inb`.
    inb: Arena,
    frames: usize,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Baseline {
    /// `max`: the largest frame, as the simulator reports it for this size's interfaces.
    fn new(framing: Framing, size: usize, frames: usize, max: usize) -> Self {
        let (vm, relay) = socket_pair(framing);
        // The relay blocks in its reads, waking every `TICK` to look at the stop flag.
        relay.set_timeouts(TICK, SOON);
        let up = Arc::new(Queue::new(max));
        let down = Arc::new(Queue::new(max));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let relay_out = relay.try_clone().expect("clone the relay's socket");
        {
            let (up, stop) = (up.clone(), stop.clone());
            let from_vm = move || match &relay {
                SocketEnd::Datagram(s) => relay_from_vm_datagram(s, &up, &stop, max),
                SocketEnd::Stream(s) => relay_from_vm_stream(s, &up, &stop, max),
            };
            threads.push(
                thread::Builder::new()
                    .name("relay-from-vm".into())
                    .spawn(from_vm)
                    .unwrap(),
            );
        }
        {
            let (down, stop) = (down.clone(), stop.clone());
            threads.push(
                thread::Builder::new()
                    .name("relay-to-vm".into())
                    .spawn(move || relay_to_vm(&relay_out, &down, &stop, max))
                    .unwrap(),
            );
        }
        let vm_mac = [2, 0, 0, 0, 0, 1];
        let net_mac = [2, 0, 0, 0, 0, 2];
        let up_frame = frame(net_mac, vm_mac, size, 1);
        let down_frame = frame(vm_mac, net_mac, size, 2);
        let mut out = Arena::new(frames, size);
        for _ in 0..frames {
            out.push(&down_frame);
        }
        Baseline {
            vm: VmEnd::new(vm, frames, up_frame, down_frame, max),
            up,
            down,
            out,
            inb: Arena::new(RELAY_BATCH, max),
            frames,
            stop,
            threads,
        }
    }

    fn round(&mut self) -> usize {
        // VM → relay → queue → network.
        if let Err(e) = self.vm.send() {
            panic!("the VM could not send to the relay: {e}");
        }
        let deadline = Instant::now() + SOON;
        let mut got = 0;
        while got < self.frames {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{got} of {} frames reached the network through the relay in {SOON:?} \
                 ({} dropped)",
                self.frames,
                self.up.dropped()
            );
            self.inb.clear();
            got += self
                .up
                .take(self.inb.capacity(), left, |f| self.inb.push(f));
        }
        assert_eq!(
            got, self.frames,
            "more frames than sent reached the network"
        );
        // Network → queue → relay → VM.
        self.down.put(self.out.iter());
        if let Err(e) = self.vm.receive() {
            panic!(
                "the VM did not receive its frames through the relay: {e} ({} dropped)",
                self.down.dropped()
            );
        }
        2 * self.frames
    }

    fn verify(&self) {
        assert!(self.vm.received_intact(), "the VM received other bytes");
        assert!(
            self.inb.iter().all(|f| f == &self.vm.up[..]),
            "the network received other bytes"
        );
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

const FRAMINGS: [(Framing, &str); 2] = [
    (Framing::Datagram, "bridge_io"),
    (Framing::Stream, "bridge_io_stream"),
];

/// The bridge's paths of a framing, by benchmark name: batched datagram calls (`safe`, the
/// default) and, for datagrams, one call per datagram (`per_frame`, the path before batching).
fn bridge_paths(framing: Framing) -> &'static [(&'static str, bool)] {
    match framing {
        Framing::Datagram => &[("safe", true), ("per_frame", false)],
        _ => &[("safe", true)],
    }
}

/// Fails unless steady-state rounds of every path allocate nothing, anywhere in the process.
fn check_no_allocations() {
    for (framing, _) in FRAMINGS {
        for (size, frames) in CASES {
            // Past one turn of every ring, so slots grown for TSO frames have grown.
            let warm = RING_SLOTS / frames + 2;
            let mut max = 0;
            for &(path, batched) in bridge_paths(framing) {
                let mut safe = Safe::new(framing, size, frames, batched);
                for _ in 0..warm {
                    safe.round();
                }
                let allocations = allocations_during(|| {
                    for _ in 0..COUNTED_ROUNDS {
                        assert_eq!(safe.round(), 2 * frames);
                    }
                });
                safe.verify(warm + COUNTED_ROUNDS);
                max = safe.max;
                drop(safe);
                assert_eq!(
                    allocations, 0,
                    "{framing}, {size}-byte frames, {path}: allocations in {COUNTED_ROUNDS} \
                     steady-state round trips through the bridge"
                );
            }

            let mut base = Baseline::new(framing, size, frames, max);
            for _ in 0..warm {
                base.round();
            }
            let base_allocations = allocations_during(|| {
                for _ in 0..COUNTED_ROUNDS {
                    assert_eq!(base.round(), 2 * frames);
                }
            });
            base.verify();
            drop(base);

            assert_eq!(
                base_allocations, 0,
                "{framing}, {size}-byte frames: allocations in {COUNTED_ROUNDS} steady-state \
                 round trips through the relay"
            );
            println!(
                "alloc-check: {framing} framing, {size}-byte frames, {frames} each way: \
                 0 allocations per round trip"
            );
        }
    }
}

fn bridge_io(c: &mut Criterion) {
    for (framing, name) in FRAMINGS {
        let mut group = c.benchmark_group(name);
        for (size, frames) in CASES {
            group.throughput(Throughput::Elements(2 * frames as u64));
            let mut max = 0;
            for &(path, batched) in bridge_paths(framing) {
                let mut safe = Safe::new(framing, size, frames, batched);
                max = safe.max;
                group.bench_with_input(BenchmarkId::new(path, size), &size, |b, _| {
                    b.iter(|| safe.round());
                });
            }
            let mut base = Baseline::new(framing, size, frames, max);
            group.bench_with_input(BenchmarkId::new("baseline", size), &size, |b, _| {
                b.iter(|| base.round());
            });
        }
        group.finish();
    }
}

/// The drift-resistant ratio of each case (see [`support::paired_ratio`]): each bridge path
/// against the relay, and (datagrams) batched against per-frame. The threads of the path not
/// measured wait idle.
fn paired() {
    for (framing, name) in FRAMINGS {
        for (size, frames) in CASES {
            let mut bridges: Vec<(&str, Safe)> = bridge_paths(framing)
                .iter()
                .map(|&(path, batched)| (path, Safe::new(framing, size, frames, batched)))
                .collect();
            let mut base = Baseline::new(framing, size, frames, bridges[0].1.max);
            // Past one turn of every ring first, as the allocation check: slots grown for TSO
            // frames on the first turn would be measured otherwise.
            for _ in 0..RING_SLOTS / frames + 2 {
                for (_, safe) in &mut bridges {
                    safe.round();
                }
                base.round();
            }
            for (path, safe) in &mut bridges {
                let ratio = paired_ratio(|| safe.round(), || base.round());
                record_paired(name, &format!("{path}/baseline"), size, ratio);
            }
            if let [(a, batched), (b, per_frame)] = &mut bridges[..] {
                let ratio = paired_ratio(|| batched.round(), || per_frame.round());
                record_paired(name, &format!("{a}/{b}"), size, ratio);
            }
        }
    }
}

fn main() {
    check_no_allocations();
    let mut criterion = Criterion::default().configure_from_args();
    bridge_io(&mut criterion);
    criterion.final_summary();
    if measuring() {
        paired();
    }
}

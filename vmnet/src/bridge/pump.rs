//! The two bridge threads: vmnet to VM ([`ToVm`]) and VM to vmnet ([`FromVm`]).
//!
//! Both allocate their buffers once, in `new`, and nothing afterwards. Each waits with
//! `poll(2)` on its input, the stop descriptor, and (for a stream with bytes pending) the
//! socket's room, so a stop wakes it at once.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::batched::{DatagramIo, Slot};
use super::frame::{LENGTH_PREFIX_LEN, StreamDecoder, check_frame, encode_stream_frame};
use super::peer::{Follower, Learner};
use super::sys::{self, Address, Wait};
use super::{ExitReason, Shared, VmSocket};
use crate::batch::PacketBatch;
use crate::descs::Descriptors;
use crate::error::Error;
use crate::interface::{ReadHalf, WriteHalf};

/// The smallest stream output buffer: room for many frames between two writes.
const MIN_STREAM_OUT: usize = 256 * 1024;
/// The longest single wait while retrying a full receiver, so a stop is seen quickly.
const RETRY_SLICE: Duration = Duration::from_millis(1);
/// The pause between two attempts when the receiver cannot be polled for room (`ENOBUFS` on
/// macOS datagram sockets) or vmnet refuses a write.
const RETRY_PAUSE: Duration = Duration::from_micros(200);

type Step = Result<(), ExitReason>;

/// A per-batch retry budget: started at the first refusal, exhausted after `limit`.
struct Budget {
    limit: Duration,
    deadline: Option<Instant>,
    exhausted: bool,
}

impl Budget {
    fn new(limit: Duration) -> Self {
        Self {
            limit,
            deadline: None,
            exhausted: false,
        }
    }

    /// Time left to retry, or `None` once the budget is spent (or a stop was asked for).
    fn left(&mut self, stopping: bool) -> Option<Duration> {
        if self.exhausted {
            return None;
        }
        let now = Instant::now();
        let deadline = *self
            .deadline
            .get_or_insert_with(|| now.checked_add(self.limit).unwrap_or(now));
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() || stopping {
            self.exhausted = true;
            return None;
        }
        Some(left)
    }
}

/// vmnet to VM.
pub(super) struct ToVm {
    rx: ReadHalf,
    sink: Sink,
    shared: Arc<Shared>,
    batch: PacketBatch,
    /// The last batch ended with frames dropped for a full VM side: until a frame gets
    /// through again, do not wait for room (one attempt per frame), so a VM that stopped
    /// reading costs one retry budget, not one per batch.
    stalled: bool,
}

/// Where [`ToVm`] sends frames, with what its framing needs.
enum Sink {
    Datagram {
        socket: UnixDatagram,
        io: DatagramIo,
        /// `Some` for a bound (unconnected) socket: frames go to the newest sender.
        follower: Option<Follower>,
    },
    Stream {
        socket: UnixStream,
        out: StreamOutput,
    },
}

/// The stream framing's output buffer: encoded bytes not yet sent are `buf[sent..]`, and
/// `buf` never grows beyond `cap` (so it never reallocates).
struct StreamOutput {
    buf: Vec<u8>,
    cap: usize,
    sent: usize,
}

impl ToVm {
    pub(super) fn new(rx: ReadHalf, socket: VmSocket, shared: Arc<Shared>) -> Self {
        let batch = PacketBatch::for_interface(rx.parameters());
        let sink = match socket {
            VmSocket::Datagram(socket) => Sink::Datagram {
                follower: (!is_connected(&socket)).then(Follower::default),
                io: DatagramIo::new(batch.capacity(), shared.options.batched_io),
                socket,
            },
            VmSocket::Stream(socket) => {
                let cap = MIN_STREAM_OUT.max(2 * (LENGTH_PREFIX_LEN + batch.slot_size()));
                Sink::Stream {
                    socket,
                    out: StreamOutput {
                        buf: Vec::with_capacity(cap),
                        cap,
                        sent: 0,
                    },
                }
            }
        };
        Self {
            rx,
            sink,
            shared,
            batch,
            stalled: false,
        }
    }

    pub(super) fn run(mut self) -> ReadHalf {
        if let Err(reason) = self.pump() {
            self.shared.end(reason);
        }
        self.rx
    }

    fn pump(&mut self) -> Step {
        let poll_interval = self.shared.options.poll_interval;
        loop {
            if self.shared.stop.is_stopped() {
                return Ok(());
            }
            let n = self
                .rx
                .read_batch(&mut self.batch)
                .map_err(ExitReason::Interface)?;
            if n > 0 {
                let budget = Budget::new(if self.stalled {
                    Duration::ZERO
                } else {
                    self.shared.options.send_timeout
                });
                self.stalled = match &mut self.sink {
                    Sink::Datagram {
                        socket,
                        io,
                        follower,
                    } => {
                        // A bound socket sends to the newest sender; none yet: nowhere to go.
                        let to = match follower {
                            Some(follower) => match follower.current(&self.shared.peer) {
                                Some(to) => Some(to),
                                None => {
                                    let dropped = self.batch.len() as u64;
                                    self.shared.counters.add_to_vm(0, 0, dropped);
                                    continue;
                                }
                            },
                            None => None,
                        };
                        send_datagrams(socket, io, to, &self.batch, budget, &self.shared)?
                    }
                    Sink::Stream { socket, out } => {
                        send_stream(socket, &self.batch, out, budget, &self.shared)?
                    }
                };
                continue;
            }
            // Drained vmnet: wait for packets, a stop, or room for pending stream bytes.
            let stop = self.shared.stop.wake_fd();
            let mut waits = [Wait::read(&self.rx), Wait::read(&stop), Wait::read(&stop)];
            let mut count = 2;
            if let Sink::Stream { socket, out } = &self.sink
                && out.pending()
            {
                waits[2] = Wait::write(socket);
                count = 3;
            }
            let ready = sys::wait(&waits[..count], poll_interval).map_err(ExitReason::Io)?;
            if let Sink::Stream { socket, out } = &mut self.sink
                && count == 3
                && ready[2]
            {
                out.flush(socket)?;
            }
        }
    }
}

/// What became of one frame sent to the VM.
enum Fate {
    Sent,
    /// It cannot be encoded.
    Dropped,
    /// Dropped because the VM side stayed full: the retry budget was spent.
    Stalled,
}

/// What sending one batch to the VM did, added to the counters once, at its end.
#[derive(Default)]
struct ToVmTally {
    packets: u64,
    bytes: u64,
    drops: u64,
    /// The frame handled last was [`Fate::Stalled`].
    stalled: bool,
}

impl ToVmTally {
    /// Adds the counts to the bridge's counters; `result` of the batch, with whether its last
    /// frame was dropped for a full VM side.
    fn finish(self, shared: &Shared, result: Step) -> Result<bool, ExitReason> {
        shared
            .counters
            .add_to_vm(self.packets, self.bytes, self.drops);
        result.map(|()| self.stalled)
    }
}

/// Passes the frames of `batch` in turn to `send`, counting what became of each, up to the
/// first error.
fn send_each(
    batch: &PacketBatch,
    mut send: impl FnMut(&[u8]) -> Result<Fate, ExitReason>,
) -> (ToVmTally, Step) {
    let mut tally = ToVmTally::default();
    for frame in batch {
        let fate = match send(frame) {
            Ok(fate) => fate,
            Err(e) => return (tally, Err(e)),
        };
        tally.stalled = matches!(fate, Fate::Stalled);
        match fate {
            Fate::Sent => {
                tally.packets += 1;
                tally.bytes += frame.len() as u64;
            }
            Fate::Dropped | Fate::Stalled => tally.drops += 1,
        }
    }
    (tally, Ok(()))
}

/// Waits until `socket` has room or a stop is asked for, for at most `left` and
/// [`RETRY_SLICE`].
fn wait_for_room(socket: &impl AsRawFd, shared: &Shared, left: Duration) -> Step {
    let stop = shared.stop.wake_fd();
    let waits = [Wait::write(socket), Wait::read(&stop)];
    sys::wait(&waits, left.min(RETRY_SLICE))
        .map(|_| ())
        .map_err(ExitReason::Io)
}

/// Sends every frame of `batch` as one datagram to `to` (`None`: the connected peer), as many
/// per call as `io` moves, retrying a full receiver within `budget`, then dropping the rest; a
/// frame that cannot be delivered is dropped alone. Returns whether the batch ended with
/// frames dropped for a full receiver.
fn send_datagrams(
    socket: &UnixDatagram,
    io: &mut DatagramIo,
    to: Option<&Address>,
    batch: &PacketBatch,
    mut budget: Budget,
    shared: &Shared,
) -> Result<bool, ExitReason> {
    let mut tally = ToVmTally::default();
    let mut done = 0;
    let result = loop {
        if done == batch.len() {
            break Ok(());
        }
        match io.send(socket, batch, done, to) {
            Ok(sent) => {
                tally.packets += sent as u64;
                tally.bytes += batch
                    .iter()
                    .skip(done)
                    .take(sent)
                    .map(|f| f.len() as u64)
                    .sum::<u64>();
                tally.stalled = false;
                done += sent;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if sys::is_full(&e) => {
                let Some(left) = budget.left(shared.stop.is_stopped()) else {
                    // The VM is not reading: what is left of the batch is dropped.
                    tally.drops += (batch.len() - done) as u64;
                    tally.stalled = true;
                    break Ok(());
                };
                if e.kind() == io::ErrorKind::WouldBlock {
                    wait_for_room(socket, shared, left)?;
                } else {
                    // ENOBUFS: poll would report room at once; pause instead.
                    thread::sleep(left.min(RETRY_PAUSE));
                }
            }
            // No VM yet or any more, or it refuses this frame: drop it, try the next.
            Err(e) if sys::is_undeliverable(&e) => {
                tally.drops += 1;
                tally.stalled = false;
                done += 1;
            }
            Err(e) => break Err(ExitReason::Io(e)),
        }
    };
    tally.finish(shared, result)
}

/// Encodes `batch` into the output buffer and sends what the socket takes. Frames that do not
/// fit while the VM is not reading are dropped once `budget` is spent; a frame is only ever
/// appended whole, so the stream stays in step. Returns whether the last frame was dropped.
fn send_stream(
    socket: &UnixStream,
    batch: &PacketBatch,
    out: &mut StreamOutput,
    mut budget: Budget,
    shared: &Shared,
) -> Result<bool, ExitReason> {
    // Unsent bytes from the last batch stay where they are: the loop below moves them to
    // the front only when a frame does not fit behind them.
    let (tally, mut result) = send_each(batch, |frame| {
        let need = LENGTH_PREFIX_LEN + frame.len();
        while !out.has_room(need) {
            out.flush(socket)?;
            out.compact();
            if out.has_room(need) {
                break;
            }
            let Some(left) = budget.left(shared.stop.is_stopped()) else {
                return Ok(Fate::Stalled);
            };
            wait_for_room(socket, shared, left)?;
        }
        // Frames from vmnet are at most a slot long, far below the 32-bit prefix's limit, and
        // fit in `out` (checked above), so this neither fails nor allocates.
        if encode_stream_frame(frame, &mut out.buf).is_err() {
            return Ok(Fate::Dropped);
        }
        Ok(Fate::Sent)
    });
    if result.is_ok() {
        result = out.flush(socket);
    }
    tally.finish(shared, result)
}

impl StreamOutput {
    /// Whether unsent bytes wait.
    fn pending(&self) -> bool {
        self.sent < self.buf.len()
    }

    /// Whether `need` more bytes fit without growing the buffer.
    fn has_room(&self, need: usize) -> bool {
        self.buf.len() + need <= self.cap
    }

    /// Moves the unsent bytes to the front (no allocation).
    fn compact(&mut self) {
        if self.sent > 0 {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// Sends as much of the pending output as the socket takes now.
    fn flush(&mut self, socket: &UnixStream) -> Step {
        while self.pending() {
            match sys::send(socket, &self.buf[self.sent..], None) {
                Ok(0) => return Ok(()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if sys::is_full(&e) => return Ok(()),
                Err(e) if sys::is_closed(&e) => return Err(ExitReason::PeerClosed),
                Err(e) => return Err(ExitReason::Io(e)),
            }
        }
        self.buf.clear();
        self.sent = 0;
        Ok(())
    }
}

/// VM to vmnet.
pub(super) struct FromVm {
    tx: WriteHalf,
    source: Source,
    shared: Arc<Shared>,
    /// The frames for vmnet, one per slot, each slot the largest frame long. Datagram
    /// framing: each datagram is received straight into the next slot; an oversize one, cut
    /// to it, is dropped as malformed.
    slots: Box<[Slot]>,
    descs: Descriptors,
}

/// Where [`FromVm`] receives frames, with what its framing needs.
enum Source {
    Datagram {
        socket: UnixDatagram,
        io: DatagramIo,
        /// `Some` for a bound (unconnected) socket: the newest sender becomes the VM.
        learner: Option<Learner>,
    },
    Stream {
        socket: UnixStream,
        decoder: StreamDecoder,
    },
}

impl FromVm {
    pub(super) fn new(tx: WriteHalf, socket: VmSocket, shared: Arc<Shared>) -> Self {
        let max = shared.max_frame_len;
        let count = tx.parameters().write_max_packets().max(1);
        let source = match socket {
            VmSocket::Datagram(socket) => Source::Datagram {
                learner: (!is_connected(&socket)).then(Learner::default),
                io: DatagramIo::new(count, shared.options.batched_io),
                socket,
            },
            VmSocket::Stream(socket) => Source::Stream {
                socket,
                decoder: StreamDecoder::new(max),
            },
        };
        Self {
            slots: (0..count).map(|_| Slot::new(max)).collect(),
            descs: Descriptors::new(count),
            tx,
            source,
            shared,
        }
    }

    pub(super) fn run(mut self) -> WriteHalf {
        let Self {
            tx,
            source,
            shared,
            slots,
            descs,
        } = &mut self;
        let mut out = ToVmnet { tx, descs, shared };
        let result = match source {
            Source::Datagram {
                socket,
                io,
                learner,
            } => pump_datagrams(socket, io, learner.as_mut(), slots, &mut out),
            Source::Stream { socket, decoder } => pump_stream(socket, decoder, slots, &mut out),
        };
        if let Err(reason) = result {
            self.shared.end(reason);
        }
        self.tx
    }
}

/// Whether a datagram socket is connected (to one peer for good), not only bound.
fn is_connected(socket: &UnixDatagram) -> bool {
    socket.peer_addr().is_ok()
}

/// Waits (up to the poll interval) until `socket` has input or a stop is asked for.
fn wait_input(socket: &impl AsRawFd, shared: &Shared) -> Step {
    let stop = shared.stop.wake_fd();
    sys::wait(
        &[Wait::read(socket), Wait::read(&stop)],
        shared.options.poll_interval,
    )
    .map(drop)
    .map_err(ExitReason::Io)
}

/// Datagram framing: one frame per datagram, received straight into the slots, as many per
/// call as `io` moves. With a `learner` (a bound socket), each sender becomes the VM.
fn pump_datagrams(
    socket: &UnixDatagram,
    io: &mut DatagramIo,
    mut learner: Option<&mut Learner>,
    slots: &mut [Slot],
    out: &mut ToVmnet<'_>,
) -> Step {
    let shared = out.shared;
    let max = shared.max_frame_len;
    loop {
        if shared.stop.is_stopped() {
            return Ok(());
        }
        let mut kept = 0;
        let mut malformed = 0;
        let mut drained = false;
        while kept < slots.len() {
            let received = match io.recv(socket, &mut slots[kept..], learner.is_some()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || sys::is_no_peer(&e) => {
                    drained = true;
                    break;
                }
                Err(e) => {
                    shared.counters.malformed(malformed);
                    return Err(ExitReason::Io(e));
                }
            };
            // Keep the well-formed frames, in order, at the front (swapping boxes, no copy).
            let first = kept;
            for i in first..first + received {
                let slot = &slots[i];
                if let Some(learner) = learner.as_deref_mut()
                    && learner.saw(&slot.from, &shared.peer)
                {
                    shared.counters.peer_change();
                }
                // Cut to the slot means longer than the largest frame: too long.
                if slot.truncated || check_frame(slot.as_ref(), max).is_err() {
                    malformed += 1;
                } else {
                    slots.swap(kept, i);
                    kept += 1;
                }
            }
        }
        shared.counters.malformed(malformed);
        out.write(&slots[..kept])?;
        if drained {
            wait_input(socket, shared)?;
        }
    }
}

/// Stream framing: length-prefixed frames decoded from what the socket has.
fn pump_stream(
    mut socket: &UnixStream,
    decoder: &mut StreamDecoder,
    slots: &mut [Slot],
    out: &mut ToVmnet<'_>,
) -> Step {
    let shared = out.shared;
    loop {
        if shared.stop.is_stopped() {
            return Ok(());
        }
        let mut eof = false;
        let mut drained = false;
        let spare = decoder.spare_capacity_mut();
        if spare.is_empty() {
            // Only a failed decoder has no room, and that ends the bridge below; never read
            // 0 bytes (it would look like the end of the stream).
            drained = true;
        } else {
            match socket.read(spare) {
                Ok(0) => eof = true,
                Ok(n) => decoder.commit(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => drained = true,
                Err(e) if sys::is_closed(&e) => eof = true,
                Err(e) => return Err(ExitReason::Io(e)),
            }
        }
        let mut malformed = 0;
        let mut fatal = None;
        let mut filled = 0;
        while let Some(item) = decoder.next_frame() {
            match item {
                Ok(frame) => {
                    if filled == slots.len() {
                        out.write(slots)?;
                        filled = 0;
                    }
                    let slot = &mut slots[filled];
                    // The decoder passes frames up to the largest frame, the slots' size.
                    match slot.buf_mut().get_mut(..frame.len()) {
                        Some(room) => {
                            room.copy_from_slice(frame);
                            slot.set_len(frame.len());
                            filled += 1;
                        }
                        None => malformed += 1,
                    }
                }
                Err(e) if e.is_fatal() => {
                    fatal = Some(e);
                    break;
                }
                Err(_) => malformed += 1,
            }
        }
        shared.counters.malformed(malformed);
        out.write(&slots[..filled])?;
        if let Some(e) = fatal {
            shared.counters.protocol_error();
            // Reset the connection: the VM sees the end of the stream and may reconnect.
            let _ = socket.shutdown(std::net::Shutdown::Both);
            return Err(ExitReason::Protocol(e));
        }
        if eof {
            if decoder.finish().is_err() {
                shared.counters.malformed(1);
            }
            return Err(ExitReason::PeerClosed);
        }
        if drained {
            wait_input(socket, shared)?;
        }
    }
}

/// What writes frames to vmnet: the write half, its descriptors, the counters.
struct ToVmnet<'a> {
    tx: &'a mut WriteHalf,
    descs: &'a mut Descriptors,
    shared: &'a Shared,
}

impl ToVmnet<'_> {
    /// Writes all `frames` to vmnet in calls of at most its write limit, retrying refused
    /// frames within the batch's budget, then dropping (and counting) the rest.
    fn write(&mut self, frames: &[Slot]) -> Step {
        let shared = self.shared;
        let mut budget = Budget::new(shared.options.write_timeout);
        let (mut packets, mut bytes) = (0u64, 0u64);
        let mut done = 0;
        let mut result = Ok(());
        while done < frames.len() {
            match self.tx.write_from(self.descs, &frames[done..]) {
                Ok(k) if k > 0 => {
                    let k = k.min(frames.len() - done);
                    bytes += frames[done..done + k]
                        .iter()
                        .map(|f| f.as_ref().len() as u64)
                        .sum::<u64>();
                    packets += k as u64;
                    done += k;
                    continue;
                }
                Ok(_) => {}
                Err(Error::Vmnet { status, .. }) if status.is_transient() => {}
                Err(e) => {
                    result = Err(ExitReason::Interface(e));
                    break;
                }
            }
            match budget.left(shared.stop.is_stopped()) {
                Some(left) => thread::sleep(left.min(RETRY_PAUSE)),
                None => break,
            }
        }
        let drops = (frames.len() - done) as u64;
        shared.counters.add_from_vm(packets, bytes, drops);
        result
    }
}

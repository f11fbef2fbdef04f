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

use super::frame::{LENGTH_PREFIX_LEN, StreamDecoder, check_frame, encode_stream_frame};
use super::sys::{self, Wait};
use super::{ExitReason, Shared, VmSocket};
use crate::batch::PacketBatch;
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
    Datagram(UnixDatagram),
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
            VmSocket::Datagram(socket) => Sink::Datagram(socket),
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
                    Sink::Datagram(socket) => {
                        send_datagrams(socket, &self.batch, budget, &self.shared)?
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
    /// It cannot be delivered (no peer, refused, malformed).
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

/// Sends the frames of `batch` in turn with `send`, counting what became of each, up to the
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

/// Sends every frame of `batch` as one datagram, retrying a full receiver within `budget`,
/// then dropping. Returns whether the last frame was dropped for a full receiver.
fn send_datagrams(
    socket: &UnixDatagram,
    batch: &PacketBatch,
    mut budget: Budget,
    shared: &Shared,
) -> Result<bool, ExitReason> {
    let (tally, result) = send_each(batch, |frame| {
        loop {
            match sys::send(socket, frame) {
                Ok(_) => return Ok(Fate::Sent),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if sys::is_full(&e) => {
                    let Some(left) = budget.left(shared.stop.is_stopped()) else {
                        return Ok(Fate::Stalled);
                    };
                    if e.kind() == io::ErrorKind::WouldBlock {
                        wait_for_room(socket, shared, left)?;
                    } else {
                        // ENOBUFS: poll would report room at once; pause instead.
                        thread::sleep(left.min(RETRY_PAUSE));
                    }
                }
                // No peer yet (a bound socket still learning it), or it went away, or the
                // receiver refuses the size: this frame cannot be delivered.
                Err(e) if sys::is_no_peer(&e) || e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    return Ok(Fate::Dropped);
                }
                Err(e) => return Err(ExitReason::Io(e)),
            }
        }
    });
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
            match sys::send(socket, &self.buf[self.sent..]) {
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
    /// The frames for vmnet. Datagram framing: each datagram is received straight into the
    /// next slot (the largest frame long); an oversize one, cut to it, is dropped as malformed.
    batch: PacketBatch,
}

/// Where [`FromVm`] receives frames, with what its framing needs.
enum Source {
    Datagram {
        socket: UnixDatagram,
        /// Whether replies have somewhere to go.
        connected: bool,
    },
    Stream {
        socket: UnixStream,
        decoder: StreamDecoder,
    },
}

impl FromVm {
    pub(super) fn new(tx: WriteHalf, socket: VmSocket, shared: Arc<Shared>) -> Self {
        let max = shared.max_frame_len;
        let batch = PacketBatch::new(tx.parameters().write_max_packets(), max);
        let source = match socket {
            VmSocket::Datagram(socket) => Source::Datagram {
                connected: socket.peer_addr().is_ok(),
                socket,
            },
            VmSocket::Stream(socket) => Source::Stream {
                socket,
                decoder: StreamDecoder::new(max),
            },
        };
        Self {
            tx,
            source,
            shared,
            batch,
        }
    }

    pub(super) fn run(mut self) -> WriteHalf {
        let Self {
            tx,
            source,
            shared,
            batch,
        } = &mut self;
        let result = match source {
            Source::Datagram { socket, connected } => {
                pump_datagrams(socket, connected, tx, batch, shared)
            }
            Source::Stream { socket, decoder } => pump_stream(socket, decoder, tx, batch, shared),
        };
        if let Err(reason) = result {
            self.shared.end(reason);
        }
        self.tx
    }
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

/// Datagram framing: one frame per datagram, received straight into the batch.
fn pump_datagrams(
    socket: &UnixDatagram,
    connected: &mut bool,
    tx: &mut WriteHalf,
    batch: &mut PacketBatch,
    shared: &Shared,
) -> Step {
    let max = shared.max_frame_len;
    loop {
        if shared.stop.is_stopped() {
            return Ok(());
        }
        batch.clear();
        let mut malformed = 0;
        let mut drained = false;
        while batch.len() < batch.capacity() {
            let received = batch.push_with_or_skip(|slot| {
                let datagram = if *connected {
                    sys::recv(socket, slot, None)?
                } else {
                    let mut from = sys::Sender::new();
                    let datagram = sys::recv(socket, slot, Some(&mut from))?;
                    // The first peer with an address becomes the VM: connect to it so frames
                    // for the VM have somewhere to go.
                    if let Some(path) = from.path() {
                        *connected = socket.connect(path).is_ok();
                    }
                    datagram
                };
                // Cut to the slot means longer than the largest frame: too long.
                if datagram.truncated || check_frame(&slot[..datagram.len], max).is_err() {
                    return Err(Unfit::Malformed);
                }
                Ok(datagram.len)
            });
            match received {
                Ok(Ok(_)) => {}
                Ok(Err(Unfit::Malformed)) | Err(_) => malformed += 1,
                Ok(Err(Unfit::Io(e))) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(Unfit::Io(e)))
                    if e.kind() == io::ErrorKind::WouldBlock || sys::is_no_peer(&e) =>
                {
                    drained = true;
                    break;
                }
                Ok(Err(Unfit::Io(e))) => {
                    shared.counters.malformed(malformed);
                    return Err(ExitReason::Io(e));
                }
            }
        }
        shared.counters.malformed(malformed);
        write_to_vmnet(tx, batch, shared)?;
        if drained {
            wait_input(socket, shared)?;
        }
    }
}

/// Stream framing: length-prefixed frames decoded from what the socket has.
fn pump_stream(
    mut socket: &UnixStream,
    decoder: &mut StreamDecoder,
    tx: &mut WriteHalf,
    batch: &mut PacketBatch,
    shared: &Shared,
) -> Step {
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
        batch.clear();
        while let Some(item) = decoder.next_frame() {
            match item {
                Ok(frame) => {
                    if batch.len() == batch.capacity() {
                        write_to_vmnet(tx, batch, shared)?;
                        batch.clear();
                    }
                    if batch.push(frame).is_err() {
                        malformed += 1;
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
        write_to_vmnet(tx, batch, shared)?;
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

/// Why a datagram received from the VM was not added to the batch.
enum Unfit {
    /// Empty, shorter than an Ethernet header, or longer than the largest frame.
    Malformed,
    /// Nothing was received.
    Io(io::Error),
}

impl From<io::Error> for Unfit {
    fn from(e: io::Error) -> Self {
        Unfit::Io(e)
    }
}

/// Writes the whole batch to vmnet in calls of at most its write limit, retrying refused
/// packets within the batch's budget, then dropping (and counting) the rest.
fn write_to_vmnet(tx: &mut WriteHalf, batch: &mut PacketBatch, shared: &Shared) -> Step {
    let mut budget = Budget::new(shared.options.write_timeout);
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut done = 0;
    let mut result = Ok(());
    while done < batch.len() {
        match tx.write_batch_from(batch, done) {
            Ok(k) if k > 0 => {
                let k = k.min(batch.len() - done);
                bytes += batch
                    .iter()
                    .skip(done)
                    .take(k)
                    .map(|f| f.len() as u64)
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
    let drops = (batch.len() - done) as u64;
    shared.counters.add_from_vm(packets, bytes, drops);
    result
}

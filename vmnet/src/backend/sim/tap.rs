//! A capture of the frames that cross a simulated segment, in classic pcap format.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::segment::{Segment, SegmentInner};
use crate::error::Result;

/// The bytes of records a tap holds for its writer, by default: 1 MiB.
pub const DEFAULT_TAP_CAPACITY: usize = 1 << 20;
/// The pcap record header: seconds, microseconds, captured length, original length.
const RECORD_HEADER: usize = 16;
/// The snapshot length in the file header: larger than any frame the simulator carries
/// (64 KiB with TSO).
const SNAPLEN: u32 = 262_144;
/// `LINKTYPE_ETHERNET`.
const LINKTYPE_ETHERNET: u32 = 1;

/// A capture of every frame that crosses a segment, written in classic pcap format to a
/// writer of yours by a thread of the tap's own ([`Segment::tap`]).
///
/// The file is what `tcpdump -w` writes: a 24-byte header (magic `0xa1b2c3d4` in little
/// endian, version 2.4, snapshot length 262144, link type 1, Ethernet) and a record per frame
/// (a 16-byte header — seconds and microseconds since the Unix epoch, then the frame's length
/// twice — and the whole frame, never truncated). Readers such as Wireshark, tcpdump or the
/// `pcap-file` crate read it.
///
/// **What is recorded**: each frame once, as it leaves the segment's faults (so lost frames are
/// missing and corrupted ones are recorded corrupted) at the moment it is switched (after its
/// delay), whichever receivers take it, even when a receiver's queue drops it. Frames shorter
/// than an Ethernet header are not recorded. The frames of a write call already under way when
/// the tap is attached may be missing.
///
/// **Bounded**: records wait for the writer in a buffer of a fixed number of bytes
/// ([`DEFAULT_TAP_CAPACITY`], or [`Segment::tap_with_capacity`]). The segment never waits for
/// the writer: a record that does not fit is left out of the capture and counted in
/// [`dropped`](Self::dropped). The same happens to every record after the writer fails (and
/// to those it was writing); [`flush`](Self::flush) and [`finish`](Self::finish) then return
/// the error.
///
/// Dropping the tap stops it as [`finish`](Self::finish) does and discards the writer; both
/// wait for the writer to take what is queued (a writer that blocks forever blocks them).
///
/// ```
/// use vmnet::sim::Segment;
///
/// let segment = Segment::new();
/// let tap = segment.tap(Vec::new())?;
/// let mut frame = vec![0xff; 6];
/// frame.extend_from_slice(&segment.host().mac().octets());
/// frame.extend_from_slice(&[0x88, 0xb5, 1, 2, 3]);
/// segment.host().send(&frame)?;
///
/// let pcap: Vec<u8> = tap.finish()?;
/// assert_eq!(pcap.len(), 24 + 16 + frame.len());
/// assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
/// assert_eq!(&pcap[40..], &frame[..]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Tap<W: Write + Send + 'static> {
    queue: Arc<TapQueue>,
    segment: Weak<SegmentInner>,
    thread: Option<JoinHandle<W>>,
}

/// The records of one tap on their way to its writer.
#[derive(Debug)]
pub(super) struct TapQueue {
    state: Mutex<QueueState>,
    /// Wakes the writer thread: records are waiting, or the tap is closed.
    work: Condvar,
    /// Wakes [`Tap::flush`]: the writer has written everything.
    idle: Condvar,
    /// The time of the first record's clock: wall-clock time when the tap was made, in
    /// microseconds since the Unix epoch, and the instant that matches it.
    epoch_micros: u64,
    start: Instant,
    recorded: AtomicU64,
}

#[derive(Debug)]
struct QueueState {
    /// Records waiting for the writer.
    pending: Vec<u8>,
    /// How many records `pending` holds.
    records: u64,
    capacity: usize,
    /// The writer thread is writing records it took.
    writing: bool,
    closed: bool,
    /// The writer's error: the kind and message (returned from every flush).
    failed: Option<(io::ErrorKind, String)>,
    dropped: u64,
}

impl TapQueue {
    fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(QueueState {
                pending: Vec::new(),
                records: 0,
                capacity,
                writing: false,
                closed: false,
                failed: None,
                dropped: 0,
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
            epoch_micros: wall_clock_micros(),
            start: Instant::now(),
            recorded: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a record of `frame`, stamped now, if it fits and the writer has not failed.
    pub(super) fn record(&self, frame: &[u8]) {
        let micros = self.epoch_micros + duration_micros(self.start.elapsed());
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let mut state = self.state();
        let full = state.pending.len() + RECORD_HEADER + frame.len() > state.capacity;
        if full || state.failed.is_some() || state.closed {
            state.dropped += 1;
            return;
        }
        let first = state.pending.is_empty();
        // Seconds wrap in 2106, as the format's do.
        state
            .pending
            .extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        state
            .pending
            .extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        state.pending.extend_from_slice(&len.to_le_bytes());
        state.pending.extend_from_slice(&len.to_le_bytes());
        state.pending.extend_from_slice(frame);
        state.records += 1;
        self.recorded.fetch_add(1, Ordering::Relaxed);
        drop(state);
        if first {
            self.work.notify_one();
        }
    }

    fn error(state: &QueueState) -> io::Result<()> {
        match &state.failed {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => Ok(()),
        }
    }
}

/// The writer thread: writes the file header, then the records as they come, flushing the
/// writer after each run of them; returns the writer once the tap is closed and everything
/// queued is written.
fn write_records<W: Write>(queue: &TapQueue, mut writer: W) -> W {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes()); // time zone offset: UTC
    header.extend_from_slice(&0u32.to_le_bytes()); // timestamp accuracy
    header.extend_from_slice(&SNAPLEN.to_le_bytes());
    header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    let mut result = writer.write_all(&header);
    let mut taken = Vec::new();
    let mut records = 0;
    let _panic = OnPanic(queue);
    loop {
        let mut state = queue.state();
        if let Err(e) = std::mem::replace(&mut result, Ok(())) {
            state.failed.get_or_insert((e.kind(), e.to_string()));
            state.dropped += records;
        }
        if state.failed.is_some() {
            // Nothing more reaches a failed writer.
            state.dropped += std::mem::take(&mut state.records);
            state.pending.clear();
        }
        state.writing = false;
        taken.clear();
        while state.pending.is_empty() && !state.closed {
            queue.idle.notify_all();
            state = queue
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.pending.is_empty() {
            queue.idle.notify_all();
            return writer;
        }
        // The buffers trade places: each keeps its capacity, so a steady capture allocates
        // nothing.
        std::mem::swap(&mut state.pending, &mut taken);
        records = std::mem::take(&mut state.records);
        state.writing = true;
        drop(state);
        result = writer.write_all(&taken).and_then(|()| writer.flush());
    }
}

/// Ends the capture if the writer panics, so that [`Tap::flush`] does not wait for it.
struct OnPanic<'a>(&'a TapQueue);

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            let mut state = self.0.state();
            state
                .failed
                .get_or_insert((io::ErrorKind::Other, "the tap's writer panicked".into()));
            state.dropped += std::mem::take(&mut state.records);
            state.pending.clear();
            state.writing = false;
            drop(state);
            self.0.idle.notify_all();
        }
    }
}

impl<W: Write + Send + 'static> std::fmt::Debug for Tap<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("recorded", &self.recorded())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> Tap<W> {
    /// Waits until every frame recorded so far is written to the writer and the writer is
    /// flushed.
    ///
    /// # Errors
    /// The writer's error, once it has failed (the capture then stops).
    pub fn flush(&self) -> io::Result<()> {
        let mut state = self.queue.state();
        while (!state.pending.is_empty() || state.writing) && state.failed.is_none() {
            state = self
                .queue
                .idle
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        TapQueue::error(&state)
    }

    /// Frames recorded (queued for the writer) so far.
    pub fn recorded(&self) -> u64 {
        self.queue.recorded.load(Ordering::Relaxed)
    }

    /// Frames left out of the capture: the buffer was full, or the writer had failed.
    pub fn dropped(&self) -> u64 {
        self.queue.state().dropped
    }

    /// Stops recording, waits until everything recorded is written, and returns the writer.
    ///
    /// # Errors
    /// The writer's error, if it failed.
    pub fn finish(mut self) -> io::Result<W> {
        let writer = self.stop();
        let state = self.queue.state();
        TapQueue::error(&state)?;
        writer.ok_or_else(|| io::Error::other("the tap's writer thread ended early"))
    }

    /// Detaches the tap, closes its queue and joins the writer thread (once).
    fn stop(&mut self) -> Option<W> {
        if let Some(segment) = self.segment.upgrade() {
            segment.impair.detach(&self.queue);
        }
        self.queue.state().closed = true;
        self.queue.work.notify_all();
        // The thread panics only if the writer does.
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl<W: Write + Send + 'static> Drop for Tap<W> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Capture.
impl Segment {
    /// Starts capturing the frames that cross the segment into `writer`, in pcap format
    /// (see [`Tap`]), with a buffer of [`DEFAULT_TAP_CAPACITY`] bytes. A segment can have
    /// several taps; each records every frame.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the writer thread cannot be started.
    pub fn tap<W: Write + Send + 'static>(&self, writer: W) -> Result<Tap<W>> {
        self.tap_with_capacity(writer, DEFAULT_TAP_CAPACITY)
    }

    /// [`tap`](Self::tap) with a buffer of `bytes` bytes for the records waiting for the
    /// writer (each takes 16 bytes and the frame). A frame whose record does not fit even in an
    /// empty buffer is never recorded.
    ///
    /// ```
    /// use vmnet::sim::Segment;
    ///
    /// // Room for one record of a 60-byte frame at a time.
    /// let tap = Segment::new().tap_with_capacity(std::io::sink(), 76)?;
    /// assert_eq!(tap.dropped(), 0);
    /// # Ok::<(), vmnet::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the writer thread cannot be started.
    pub fn tap_with_capacity<W: Write + Send + 'static>(
        &self,
        writer: W,
        bytes: usize,
    ) -> Result<Tap<W>> {
        let queue = Arc::new(TapQueue::new(bytes));
        let thread = {
            let queue = queue.clone();
            thread::Builder::new()
                .name("vmnet-sim-tap".into())
                .spawn(move || write_records(&queue, writer))?
        };
        self.inner.impair.attach(queue.clone());
        Ok(Tap {
            queue,
            segment: Arc::downgrade(&self.inner),
            thread: Some(thread),
        })
    }
}

/// Wall-clock time in microseconds since the Unix epoch. Under Miri, whose isolation has no
/// wall clock, the capture's clock starts at the epoch.
fn wall_clock_micros() -> u64 {
    #[cfg(miri)]
    let since_epoch = Duration::ZERO;
    #[cfg(not(miri))]
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    duration_micros(since_epoch)
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

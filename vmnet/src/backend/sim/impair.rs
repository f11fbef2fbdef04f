//! What a segment does to frames besides switching them: its [`Faults`] and its taps.
//!
//! A segment with neither routes every frame straight through (the router checks one flag).
//! Otherwise each frame sent onto the segment comes here first, under the segment's port-list
//! lock (so frames are numbered in the order they reach the segment): it is lost, corrupted
//! into a scratch copy, held back for reordering, or put on the delay line, and every frame
//! that goes out is recorded by the taps and handed to the router. Frames that wait (held back
//! or delayed) are released by the segment's fault thread, which exists only for faults with
//! delay or reordering and ends when the segment is dropped (frames still waiting then are
//! discarded).
//!
//! Lock order: the port list, then the state here, then receive rings and tap queues. Every
//! path that takes more than one of them holds the port list first; the fault thread waits
//! holding only the state.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use super::faults::{Draws, FaultStats, Faults};
use super::port::Port;
use super::segment::{Segment, SegmentBuilder, SegmentInner};
use super::tap::TapQueue;

/// A segment's fault injection and taps.
#[derive(Debug)]
pub(crate) struct Impair {
    /// Faults are configured or a tap is attached: frames go through [`admit`](Self::admit).
    active: AtomicBool,
    /// The faults as configured.
    configured: Option<Faults>,
    /// The faults, when they do anything.
    faults: Option<(Faults, Draws)>,
    shared: Arc<Shared>,
    worker: Option<Worker>,
}

#[derive(Debug)]
struct Worker {
    handle: Option<JoinHandle<()>>,
    id: ThreadId,
}

/// The state, shared with the fault thread.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the fault thread: a frame now waits with an earlier deadline, or the segment is
    /// dropped.
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The next frame number.
    next: u64,
    /// The frame held back for reordering.
    held: Option<Held>,
    /// Whether the last frame that was not lost was held back (its successor is not).
    last_held: bool,
    /// Delayed frames, earliest first.
    line: BinaryHeap<Delayed>,
    /// Order of arrival on the delay line (ties of the deadline keep it).
    seq: u64,
    /// Buffers of released frames, for reuse.
    spare: Vec<Vec<u8>>,
    /// The corrupted copy of the current frame.
    scratch: Vec<u8>,
    taps: Vec<Arc<TapQueue>>,
    stats: FaultStats,
    stop: bool,
}

#[derive(Debug)]
struct Held {
    /// `None`: beyond the clock's range, so never.
    deadline: Option<Instant>,
    delay: Duration,
    from: Arc<Port>,
    frame: Vec<u8>,
}

#[derive(Debug)]
struct Delayed {
    due: Instant,
    seq: u64,
    from: Arc<Port>,
    frame: Vec<u8>,
}

// A max-heap ordered so that the earliest (due, seq) is the greatest.
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl Eq for Delayed {}

/// Where frames go out: the router of the segment, given the frame's sender.
pub(super) type Out<'o> = dyn FnMut(&Arc<Port>, &[u8]) + 'o;

impl Impair {
    /// The impairment of a new segment; `segment` is the segment being built, which the fault
    /// thread (started here for faults with delay or reordering) reaches to deliver frames.
    ///
    /// # Panics
    /// If the fault thread cannot be started (as [`std::thread::spawn`]).
    pub(super) fn new(configured: Option<Faults>, segment: &Weak<SegmentInner>) -> Self {
        let faults = configured.filter(Faults::is_active);
        let shared = Arc::new(Shared::default());
        let worker = faults.filter(Faults::needs_thread).map(|_| {
            let shared = shared.clone();
            let segment = segment.clone();
            let handle = thread::Builder::new()
                .name("vmnet-sim-faults".into())
                .spawn(move || run(&shared, &segment))
                .expect("cannot start the simulated segment's fault thread");
            Worker {
                id: handle.thread().id(),
                handle: Some(handle),
            }
        });
        Self {
            active: AtomicBool::new(faults.is_some()),
            configured,
            faults: faults.map(|f| (f, Draws::new(&f))),
            shared,
            worker,
        }
    }

    /// Whether frames must go through [`admit`](Self::admit). Read once per router (under
    /// the port-list lock); a tap attached meanwhile sees the frames of the next one.
    pub(super) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }

    /// The faults, if any.
    pub(super) fn faults(&self) -> Option<Faults> {
        self.configured
    }

    /// Takes `frame` (at least an Ethernet header), sent by `from`, onto the segment: applies
    /// the faults and hands what goes out now to `out`, recorded by the taps. Called with the
    /// port list locked.
    pub(super) fn admit(&self, from: &Arc<Port>, frame: &[u8], out: &mut Out<'_>) {
        let mut state = self.state();
        let Some((faults, draws)) = &self.faults else {
            state.emit(from, frame, Duration::ZERO, Instant::now(), out);
            return;
        };
        let n = state.next;
        state.next += 1;
        state.stats.frames += 1;
        let fate = draws.fate(n, frame.len());
        if fate.lost {
            state.stats.lost += 1;
            return;
        }
        let mut scratch = std::mem::take(&mut state.scratch);
        let frame = match fate.corrupt {
            Some((byte, mask)) => {
                state.stats.corrupted += 1;
                scratch.clear();
                scratch.extend_from_slice(frame);
                scratch[byte] ^= mask;
                &scratch[..]
            }
            None => frame,
        };
        let now = Instant::now();
        let hold = fate.reorder && !state.last_held;
        state.last_held = hold;
        let mut wake = false;
        if hold {
            state.stats.reordered += 1;
            let copy = state.copy(frame);
            state.held = Some(Held {
                deadline: now.checked_add(faults.reorder_hold()),
                delay: fate.delay,
                from: from.clone(),
                frame: copy,
            });
            wake = true;
        } else {
            wake |= state.emit(from, frame, fate.delay, now, out);
            if let Some(held) = state.held.take() {
                wake |= state.emit(&held.from, &held.frame, held.delay, now, out);
                state.spare.push(held.frame);
            }
        }
        state.scratch = scratch;
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Delivers what is due at `now` through `out` (the fault thread's work, with the port
    /// list locked).
    pub(super) fn release_due(&self, now: Instant, out: &mut Out<'_>) {
        let mut state = self.state();
        if let Some(held) = state.held.take_if(|h| h.deadline.is_some_and(|d| d <= now)) {
            state.emit(&held.from, &held.frame, held.delay, now, out);
            state.spare.push(held.frame);
        }
        while state.line.peek().is_some_and(|d| d.due <= now) {
            let Some(d) = state.line.pop() else { break };
            state.record(&d.frame);
            out(&d.from, &d.frame);
            state.spare.push(d.frame);
        }
    }

    /// The counters.
    pub(super) fn stats(&self) -> FaultStats {
        self.state().stats
    }

    /// Starts recording frames into `tap`.
    pub(super) fn attach(&self, tap: Arc<TapQueue>) {
        let mut state = self.state();
        state.taps.push(tap);
        self.active.store(true, Ordering::Relaxed);
    }

    /// Stops recording frames into `tap`.
    pub(super) fn detach(&self, tap: &Arc<TapQueue>) {
        let mut state = self.state();
        state.taps.retain(|t| !Arc::ptr_eq(t, tap));
        let active = self.faults.is_some() || !state.taps.is_empty();
        self.active.store(active, Ordering::Relaxed);
    }
}

impl Drop for Impair {
    fn drop(&mut self) {
        let Some(worker) = &mut self.worker else {
            return;
        };
        self.shared.state().stop = true;
        self.shared.wake.notify_all();
        // The fault thread may drop the segment's last handle itself: it then ends on its own
        // once this returns.
        if let Some(handle) = worker.handle.take()
            && thread::current().id() != worker.id
        {
            let _ = handle.join();
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// An owned copy of `frame`, in a reused buffer when there is one.
    fn copy(&mut self, frame: &[u8]) -> Vec<u8> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        buf
    }

    /// Sends `frame` out now, or after `delay`. Returns whether the fault thread must wake
    /// (the frame is the delay line's earliest).
    fn emit(
        &mut self,
        from: &Arc<Port>,
        frame: &[u8],
        delay: Duration,
        now: Instant,
        out: &mut Out<'_>,
    ) -> bool {
        if delay.is_zero() {
            self.record(frame);
            out(from, frame);
            return false;
        }
        self.stats.delayed += 1;
        let Some(due) = now.checked_add(delay) else {
            // Beyond the clock's range: it would never be delivered.
            return false;
        };
        let earliest = self.line.peek().is_none_or(|d| due < d.due);
        let frame = self.copy(frame);
        self.seq += 1;
        self.line.push(Delayed {
            due,
            seq: self.seq,
            from: from.clone(),
            frame,
        });
        earliest
    }

    /// Records `frame` in every tap.
    fn record(&self, frame: &[u8]) {
        for tap in &self.taps {
            tap.record(frame);
        }
    }

    /// When the fault thread next has work.
    fn next_due(&self) -> Option<Instant> {
        let line = self.line.peek().map(|d| d.due);
        let held = self.held.as_ref().and_then(|h| h.deadline);
        match (line, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The fault thread: sleeps until a waiting frame is due, then has the segment deliver it.
fn run(shared: &Shared, segment: &Weak<SegmentInner>) {
    loop {
        let mut state = shared.state();
        loop {
            if state.stop {
                return;
            }
            let now = Instant::now();
            state = match state.next_due() {
                Some(due) if due <= now => break,
                Some(due) => {
                    shared
                        .wake
                        .wait_timeout(state, due - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
        drop(state);
        let Some(segment) = segment.upgrade() else {
            return;
        };
        segment.release_due(Instant::now());
    }
}

/// Fault injection on a segment.
impl SegmentBuilder {
    /// Faults the segment injects into the frames that cross it (default none); see
    /// [`Faults`] for what happens to a frame, and
    /// [`Segment::fault_stats`] for the counts.
    ///
    /// A segment with faults that delay or reorder frames runs a thread that delivers them,
    /// until the segment's last handle (segment, host endpoint, interface) is dropped.
    ///
    /// ```
    /// use vmnet::sim::{Faults, Segment};
    ///
    /// let segment = Segment::builder().faults(Faults::new(7).with_loss(0.1)).build();
    /// assert_eq!(segment.faults(), Some(Faults::new(7).with_loss(0.1)));
    /// ```
    #[must_use]
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = Some(faults);
        self
    }
}

/// Fault injection on a segment.
impl Segment {
    /// The faults set with [`SegmentBuilder::faults`], if any.
    pub fn faults(&self) -> Option<Faults> {
        self.inner.impair.faults()
    }

    /// Counters of the faults injected so far.
    ///
    /// ```
    /// use vmnet::sim::{Faults, Segment};
    ///
    /// let segment = Segment::builder().faults(Faults::new(1).with_loss(1.0)).build();
    /// let mut frame = vec![0xff; 6];
    /// frame.extend_from_slice(&segment.host().mac().octets());
    /// frame.extend_from_slice(&[0x88, 0xb5, 1, 2, 3]);
    /// segment.host().send(&frame)?;
    /// let stats = segment.fault_stats();
    /// assert_eq!((stats.frames, stats.lost), (1, 1));
    /// # Ok::<(), vmnet::Error>(())
    /// ```
    pub fn fault_stats(&self) -> FaultStats {
        self.inner.impair.stats()
    }
}

//! Fault injection on a simulated segment: what to impair ([`Faults`]), what was impaired
//! ([`FaultStats`]), and the deterministic draws that decide it.

use std::time::Duration;

/// Ethernet header (destination, source, EtherType): corruption never touches it.
const ETHERNET_HEADER: usize = 14;

/// How long a frame held back for reordering waits for the next frame, by default.
pub const DEFAULT_REORDER_HOLD: Duration = Duration::from_millis(10);

/// Faults a simulated segment injects into the frames that cross it: loss, corruption, delay
/// and reordering, seeded and reproducible.
///
/// Set on a segment with [`SegmentBuilder::faults`](crate::sim::SegmentBuilder::faults); the
/// counts of what was done are [`Segment::fault_stats`](crate::sim::Segment::fault_stats).
///
/// # What happens to a frame
///
/// Faults act on the frame as it is sent onto the segment (by an interface or by the host
/// endpoint), before it is switched: a lost frame reaches no receiver, a corrupted one reaches
/// every receiver corrupted the same way. Frames shorter than an Ethernet header are discarded
/// as always (`SegmentStats::runts`) and are not counted here. Every other frame gets the next
/// **frame number** `n` of the segment (0, 1, 2, …, across all senders), and then, in order:
///
/// 1. **Loss**: lost with probability [`loss`](Self::with_loss); nothing else happens to it.
/// 2. **Corruption**: with probability [`corrupt`](Self::with_corrupt), exactly one bit of one
///    byte after the 14-byte Ethernet header is flipped (the headers, so the destination and
///    source, are intact; the frame keeps its length). A frame with no byte after the header
///    is never corrupted.
/// 3. **Reordering**: with probability [`reorder`](Self::with_reorder) the frame is held back and
///    delivered right after the next frame that leaves this stage, unless the previous frame
///    was itself held back (so two frames never trade places with the same frame). If no
///    frame follows within the [hold time](Self::with_reorder_hold), the held frame goes out
///    alone, late and in order.
/// 4. **Delay**: the frame waits the [delay](Self::with_delay) (fixed, or drawn uniformly from a
///    [range](Self::with_delay_between)) and is then delivered by the segment's fault thread. With
///    a range, a frame can overtake one sent before it, as with jitter on a real link.
///
/// # Determinism
///
/// Each decision is a function of the seed, the frame number and the kind of decision alone
/// (a SplitMix64 stream per kind, read at position `n`): with a fixed seed and one writer the
/// same frames are lost, corrupted (at the same bit), held back and delayed by the same amount
/// on every run and every platform, and enabling one kind of fault does not change which
/// frames another kind picks. With several writers, the frame numbers follow the order in
/// which their frames reach the segment. Timing does not enter any decision: only whether a
/// held-back frame's successor comes within the hold time, and the moment of delivery.
///
/// # Example: a retransmitting sender over a lossy segment
///
/// A stop-and-wait sender (standing in for VMM code with retransmission) resends each frame
/// until it is acknowledged; with 30 % of frames lost in each direction it still delivers
/// every one.
///
/// ```
/// use std::time::Duration;
/// use vmnet::InterfaceConfig;
/// use vmnet::sim::{Faults, Segment};
///
/// let segment = Segment::builder().faults(Faults::new(7).with_loss(0.3)).build();
/// let host = segment.host();
/// let mut vm = segment.start(&InterfaceConfig::shared())?;
/// let vm_mac = vm.parameters().mac_address().unwrap();
///
/// // Frames from the VM to the host carrying a sequence number; acknowledgements back.
/// let frame = |dst: vmnet::MacAddr, src: vmnet::MacAddr, seq: u8| {
///     let mut f = Vec::from(dst.octets());
///     f.extend_from_slice(&src.octets());
///     f.extend_from_slice(&[0x88, 0xb5, seq]);
///     f.resize(60, 0);
///     f
/// };
/// let mut received = Vec::new();
/// let mut buf = vec![0; vm.parameters().max_packet_size()];
/// for seq in 0..20u8 {
///     // The VM's side: send, wait a little for the acknowledgement, resend.
///     loop {
///         vm.write(&frame(host.mac(), vm_mac, seq))?;
///         // The host's side: record new frames, acknowledge every one it sees.
///         if let Some(f) = host.recv_timeout(Duration::from_millis(20)) {
///             if received.last() != Some(&f[14]) {
///                 received.push(f[14]);
///             }
///             host.send(&frame(vm_mac, host.mac(), f[14]))?;
///         }
///         if vm.wait_readable(Some(Duration::from_millis(20)))?
///             && vm.read(&mut buf)?.is_some()
///             && buf[14] == seq
///         {
///             break;
///         }
///     }
/// }
/// assert_eq!(received, (0..20).collect::<Vec<u8>>());
/// assert!(segment.fault_stats().lost > 0);
/// # Ok::<(), vmnet::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    seed: u64,
    loss: f64,
    corrupt: f64,
    delay_min: Duration,
    delay_max: Duration,
    reorder: f64,
    reorder_hold: Duration,
}

/// Counters of the faults a segment injected ([`Segment::fault_stats`](crate::sim::Segment::fault_stats)).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Frames numbered (every frame of at least an Ethernet header sent onto the segment).
    pub frames: u64,
    /// Frames lost.
    pub lost: u64,
    /// Frames corrupted (one bit flipped).
    pub corrupted: u64,
    /// Frames held back for reordering (each delivered after its successor, or alone after
    /// the hold time when no successor came in time).
    pub reordered: u64,
    /// Frames delivered after a non-zero delay.
    pub delayed: u64,
}

impl Faults {
    /// No faults yet, with the seed of the segment's random decisions.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vmnet::sim::Faults;
    ///
    /// let faults = Faults::new(42)
    ///     .with_loss(0.1)
    ///     .with_corrupt(0.01)
    ///     .with_delay(Duration::from_millis(2))
    ///     .with_reorder(0.05);
    /// assert_eq!(faults.loss(), 0.1);
    /// assert!(!Faults::new(42).is_active());
    /// ```
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self {
            seed,
            loss: 0.0,
            corrupt: 0.0,
            delay_min: Duration::ZERO,
            delay_max: Duration::ZERO,
            reorder: 0.0,
            reorder_hold: DEFAULT_REORDER_HOLD,
        }
    }

    /// The probability that a frame is lost (default 0).
    ///
    /// # Panics
    /// If `probability` is not within 0 to 1.
    #[must_use]
    #[track_caller]
    pub fn with_loss(mut self, probability: f64) -> Self {
        self.loss = checked(probability, "loss");
        self
    }

    /// The probability that a frame is corrupted: one bit flipped in a byte after the
    /// Ethernet header (default 0).
    ///
    /// # Panics
    /// If `probability` is not within 0 to 1.
    #[must_use]
    #[track_caller]
    pub fn with_corrupt(mut self, probability: f64) -> Self {
        self.corrupt = checked(probability, "corrupt");
        self
    }

    /// A fixed extra latency of every frame (default none).
    #[must_use]
    pub fn with_delay(self, delay: Duration) -> Self {
        self.with_delay_between(delay, delay)
    }

    /// An extra latency of every frame drawn uniformly from `min` to `max` inclusive (at
    /// nanosecond resolution); frames can overtake each other, as with jitter.
    ///
    /// # Panics
    /// If `min` exceeds `max`, or `max` exceeds `u64::MAX` nanoseconds (584 years).
    #[must_use]
    #[track_caller]
    pub fn with_delay_between(mut self, min: Duration, max: Duration) -> Self {
        assert!(
            min <= max,
            "Faults::delay_between: min {min:?} > max {max:?}"
        );
        assert!(
            u64::try_from(max.as_nanos()).is_ok(),
            "Faults::delay_between: {max:?} is too long"
        );
        self.delay_min = min;
        self.delay_max = max;
        self
    }

    /// The probability that a frame is held back and delivered after the next one (default
    /// 0).
    ///
    /// # Panics
    /// If `probability` is not within 0 to 1.
    #[must_use]
    #[track_caller]
    pub fn with_reorder(mut self, probability: f64) -> Self {
        self.reorder = checked(probability, "reorder");
        self
    }

    /// How long a frame held back for reordering waits for a successor before it goes out
    /// alone (default [`DEFAULT_REORDER_HOLD`]).
    #[must_use]
    pub fn with_reorder_hold(mut self, hold: Duration) -> Self {
        self.reorder_hold = hold;
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The probability of loss.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// The probability of corruption.
    pub fn corrupt(&self) -> f64 {
        self.corrupt
    }

    /// The range of the extra latency (both ends zero when there is none).
    pub fn delay(&self) -> (Duration, Duration) {
        (self.delay_min, self.delay_max)
    }

    /// The probability of reordering.
    pub fn reorder(&self) -> f64 {
        self.reorder
    }

    /// How long a held-back frame waits for a successor.
    pub fn reorder_hold(&self) -> Duration {
        self.reorder_hold
    }

    /// Whether any fault is configured.
    pub fn is_active(&self) -> bool {
        self.loss > 0.0 || self.corrupt > 0.0 || self.reorder > 0.0 || self.has_delay()
    }

    /// Whether frames may have to wait (delay or reordering): the segment then runs a thread
    /// that delivers them.
    pub(super) fn needs_thread(&self) -> bool {
        self.reorder > 0.0 || self.has_delay()
    }

    fn has_delay(&self) -> bool {
        !self.delay_max.is_zero()
    }
}

#[track_caller]
fn checked(probability: f64, what: &str) -> f64 {
    assert!(
        (0.0..=1.0).contains(&probability),
        "Faults::{what}: probability {probability} is not within 0 to 1"
    );
    probability
}

/// The independent decisions made for each frame: one random stream each.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
enum Stream {
    Loss,
    Corrupt,
    CorruptAt,
    Reorder,
    Delay,
}

/// SplitMix64's increment (the golden ratio).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What happens to one frame (see [`Faults`]); `Impair` carries it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fate {
    pub(super) lost: bool,
    /// The byte offset and bit mask to flip.
    pub(super) corrupt: Option<(usize, u8)>,
    /// Held back, if the previous frame was not.
    pub(super) reorder: bool,
    pub(super) delay: Duration,
}

/// The decisions of a segment's faults, by frame number.
#[derive(Clone, Copy, Debug)]
pub(super) struct Draws {
    /// Each stream's starting state (derived from the seed).
    starts: [u64; 5],
    /// The probabilities as thresholds on 53-bit draws.
    loss: f64,
    corrupt: f64,
    reorder: f64,
    delay_min: u64,
    /// `delay_max - delay_min` in nanoseconds.
    delay_span: u64,
}

impl Draws {
    pub(super) fn new(faults: &Faults) -> Self {
        let start =
            |stream: Stream| mix(faults.seed ^ mix((stream as u64 + 1).wrapping_mul(GAMMA)));
        let threshold = |p: f64| p * (1u64 << 53) as f64;
        // Durations within u64 nanoseconds (checked by `delay_between`).
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self {
            starts: [
                start(Stream::Loss),
                start(Stream::Corrupt),
                start(Stream::CorruptAt),
                start(Stream::Reorder),
                start(Stream::Delay),
            ],
            loss: threshold(faults.loss),
            corrupt: threshold(faults.corrupt),
            reorder: threshold(faults.reorder),
            delay_min: nanos(faults.delay_min),
            delay_span: nanos(faults.delay_max) - nanos(faults.delay_min),
        }
    }

    /// The `n`th value (from 0) of `stream`: SplitMix64 seeded with the stream's start.
    fn value(&self, stream: Stream, n: u64) -> u64 {
        mix(self.starts[stream as usize].wrapping_add(n.wrapping_add(1).wrapping_mul(GAMMA)))
    }

    /// Whether the `n`th draw of `stream` falls under `threshold` (probability × 2^53).
    fn happens(&self, stream: Stream, n: u64, threshold: f64) -> bool {
        threshold > 0.0 && ((self.value(stream, n) >> 11) as f64) < threshold
    }

    /// The fate of frame `n`, `len` bytes long.
    pub(super) fn fate(&self, n: u64, len: usize) -> Fate {
        let lost = self.happens(Stream::Loss, n, self.loss);
        let payload = len.saturating_sub(ETHERNET_HEADER);
        let corrupt = (payload > 0 && self.happens(Stream::Corrupt, n, self.corrupt)).then(|| {
            let at = self.value(Stream::CorruptAt, n);
            let byte = ETHERNET_HEADER + (at % payload as u64) as usize;
            (byte, 1u8 << (at >> 61))
        });
        let delay = match self.delay_span {
            0 => self.delay_min,
            span => self.delay_min + self.value(Stream::Delay, n) % span.saturating_add(1),
        };
        Fate {
            lost,
            corrupt,
            reorder: self.happens(Stream::Reorder, n, self.reorder),
            delay: Duration::from_nanos(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_zero_and_one_are_never_and_always() {
        let never = Draws::new(&Faults::new(1));
        let always = Draws::new(
            &Faults::new(1)
                .with_loss(1.0)
                .with_corrupt(1.0)
                .with_reorder(1.0),
        );
        for n in 0..1000 {
            let f = never.fate(n, 60);
            assert!(!f.lost && f.corrupt.is_none() && !f.reorder && f.delay.is_zero());
            let f = always.fate(n, 60);
            assert!(f.lost && f.corrupt.is_some() && f.reorder);
        }
    }

    #[test]
    fn a_stream_does_not_depend_on_the_others() {
        let a = Draws::new(&Faults::new(9).with_loss(0.5));
        let b = Draws::new(
            &Faults::new(9)
                .with_loss(0.5)
                .with_corrupt(0.5)
                .with_reorder(0.5),
        );
        for n in 0..1000 {
            assert_eq!(a.fate(n, 60).lost, b.fate(n, 60).lost);
        }
    }

    #[test]
    fn corruption_flips_one_bit_after_the_header_and_delays_stay_in_range() {
        let min = Duration::from_micros(10);
        let max = Duration::from_micros(20);
        let d = Draws::new(
            &Faults::new(3)
                .with_corrupt(1.0)
                .with_delay_between(min, max),
        );
        for n in 0..1000 {
            let f = d.fate(n, 15 + (n as usize % 50));
            let (byte, mask) = f.corrupt.unwrap();
            assert!((14..15 + (n as usize % 50)).contains(&byte));
            assert_eq!(mask.count_ones(), 1);
            assert!(f.delay >= min && f.delay <= max);
        }
        assert_eq!(
            d.fate(0, 14).corrupt,
            None,
            "no payload, nothing to corrupt"
        );
    }

    #[test]
    #[should_panic(expected = "not within 0 to 1")]
    fn a_probability_above_one_panics() {
        let _ = Faults::new(0).with_loss(1.5);
    }
}

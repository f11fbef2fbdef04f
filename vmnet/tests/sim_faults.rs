//! The simulator's fault injection (loss, corruption, delay, reordering) and its pcap tap:
//! exact, seeded counts, and captures read back with `pcap-file`.
//!
//! Every test writes from one sender, so the frame numbers (and so the faults) are the same on
//! every run; the counts below are those of the documented draws for the given seeds. Running
//! small (Miri, valgrind), the long runs send 200 frames instead of 1000: frame `n`'s fate
//! depends on the seed and `n` only, so those are the first 200 of the 1000, with the counts
//! of the first 200.
#![cfg(feature = "sim")]

mod common;

use std::io::{self, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{SOON, small, within};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use vmnet::sim::{Faults, HostPort, Segment};
use vmnet::{Interface, InterfaceConfig, MacAddr};

/// A 60-byte frame from `src` to `dst` numbered `seq` (bytes 14–15), its payload a pattern
/// of `seq` so that every frame differs.
fn numbered(dst: MacAddr, src: MacAddr, seq: u16) -> Vec<u8> {
    let mut f = Vec::from(dst.octets());
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend((16..60).map(|i| (i as u16 ^ seq) as u8));
    f
}

/// A segment with `faults`, its host endpoint and one interface.
struct Link {
    seg: Segment,
    host: HostPort,
    vm: Interface,
    vm_mac: MacAddr,
}

fn link(faults: Faults) -> Link {
    let seg = Segment::builder().faults(faults).build();
    let host = seg.host();
    let vm = seg.start(&InterfaceConfig::shared()).unwrap();
    let vm_mac = vm.parameters().mac_address().unwrap();
    Link {
        seg,
        host,
        vm,
        vm_mac,
    }
}

impl Link {
    /// Writes frames 0..`n` from the interface to the host; returns what they were.
    fn send(&mut self, n: u16) -> Vec<Vec<u8>> {
        (0..n)
            .map(|seq| {
                let f = numbered(self.host.mac(), self.vm_mac, seq);
                self.vm.write(&f).unwrap();
                f
            })
            .collect()
    }

    /// Every frame the host has now.
    fn received(&self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.host.recv()).collect()
    }

    /// Exactly `n` frames, waiting (bounded) for each.
    fn receive(&self, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                self.host
                    .recv_timeout(SOON)
                    .unwrap_or_else(|| panic!("frame {i} of {n} did not arrive"))
            })
            .collect()
    }
}

/// Frames in the long runs: 1000, or 200 when running small.
fn long_run() -> u16 {
    if small() { 200 } else { 1000 }
}

/// `normal` for a long run of 1000 frames, `small` for one of 200.
fn exact<T>(normal: T, small: T) -> T {
    if long_run() == 1000 { normal } else { small }
}

fn seq(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[14], frame[15]])
}

#[test]
fn loss_loses_the_same_frames_on_every_run() {
    let lost_frames = || {
        let n = long_run();
        let mut link = link(Faults::new(7).with_loss(0.1));
        let sent = link.send(n);
        let got = link.received();
        // What arrives, arrives intact and in order.
        let mut rest = sent.iter();
        for f in &got {
            assert!(rest.any(|s| s == f), "frame {} not as sent", seq(f));
        }
        let stats = link.seg.fault_stats();
        assert_eq!(
            (stats.frames, stats.lost),
            (u64::from(n), u64::from(n) - got.len() as u64)
        );
        let arrived: Vec<u16> = got.iter().map(|f| seq(f)).collect();
        (0..n)
            .filter(|s| !arrived.contains(s))
            .collect::<Vec<u16>>()
    };
    let first = lost_frames();
    assert_eq!(first.len(), exact(92, 17), "lost at 0.1 with seed 7");
    assert_eq!(&first[..5], &[3, 12, 25, 41, 53]);
    assert_eq!(lost_frames(), first, "the same frames on a second run");
}

#[test]
fn another_seed_loses_other_frames() {
    let run = |seed| {
        let mut link = link(Faults::new(seed).with_loss(0.1));
        link.send(long_run());
        link.received().iter().map(|f| seq(f)).collect::<Vec<_>>()
    };
    assert_ne!(run(7), run(8));
}

#[test]
fn frames_from_the_host_are_lost_too() {
    let mut link = link(Faults::new(7).with_loss(1.0));
    let mut buf = [0; 1514];
    for seq in 0..10 {
        link.host
            .send(&numbered(link.vm_mac, link.host.mac(), seq))
            .unwrap();
    }
    assert_eq!(link.vm.read(&mut buf).unwrap(), None);
    assert_eq!(link.seg.fault_stats().lost, 10);
}

#[test]
fn corruption_flips_exactly_one_bit_after_the_ethernet_header() {
    let run = || {
        let mut link = link(Faults::new(7).with_corrupt(0.01));
        let sent = link.send(long_run());
        let got = link.received();
        assert_eq!(got.len(), sent.len(), "corruption loses nothing");
        let mut corrupted = Vec::new();
        for (i, (s, g)) in sent.iter().zip(&got).enumerate() {
            assert_eq!(s.len(), g.len(), "the length is kept");
            let flipped: u32 = s.iter().zip(g).map(|(a, b)| (a ^ b).count_ones()).sum();
            match flipped {
                0 => {}
                1 => {
                    let at = s.iter().zip(g).position(|(a, b)| a != b).unwrap();
                    assert!(at >= 14, "frame {i}: byte {at} is in the Ethernet header");
                    corrupted.push((i, at));
                }
                n => panic!("frame {i}: {n} bits flipped"),
            }
        }
        assert_eq!(link.seg.fault_stats().corrupted, corrupted.len() as u64);
        corrupted
    };
    let first = run();
    assert_eq!(first.len(), exact(10, 1), "corrupted at 0.01 with seed 7");
    assert_eq!(first[0], (76, 27));
    assert_eq!(run(), first, "the same frames and bytes on a second run");
}

#[test]
fn a_fixed_delay_holds_every_frame_at_least_that_long_in_order() {
    let delay = Duration::from_millis(30);
    let mut link = link(Faults::new(7).with_delay(delay));
    let mut sent_at = Vec::new();
    for seq in 0..20 {
        let f = numbered(link.host.mac(), link.vm_mac, seq);
        sent_at.push(Instant::now());
        link.vm.write(&f).unwrap();
        if sent_at[0].elapsed() < delay {
            assert_eq!(link.host.pending(), 0, "nothing arrives before the delay");
        }
    }
    for (i, sent) in sent_at.iter().enumerate() {
        let f = link.host.recv_timeout(SOON).expect("delayed frame");
        assert!(sent.elapsed() >= delay, "frame {i} early");
        assert_eq!(seq(&f), i as u16, "in order");
    }
    let stats = link.seg.fault_stats();
    assert_eq!((stats.delayed, stats.lost), (20, 0));
}

#[test]
fn a_ranged_delay_is_within_its_range() {
    let (min, max) = (Duration::from_millis(10), Duration::from_millis(40));
    let mut link = link(Faults::new(7).with_delay_between(min, max));
    let start = Instant::now();
    link.send(20);
    let got = link.receive(20);
    assert!(start.elapsed() >= min);
    let mut seqs: Vec<u16> = got.iter().map(|f| seq(f)).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>(), "every frame, once");
    assert_eq!(link.seg.fault_stats().delayed, 20);
}

/// Checks that `got` is 0..n with disjoint adjacent pairs swapped; returns the first frame
/// of each swapped pair (the one held back).
fn swapped_pairs(got: &[u16]) -> Vec<u16> {
    let mut held = Vec::new();
    let mut i = 0;
    while i < got.len() {
        let expected = i as u16;
        if got[i] == expected {
            i += 1;
        } else {
            assert_eq!(
                (got[i], got[i + 1]),
                (expected + 1, expected),
                "at {i}: not a swap"
            );
            held.push(expected);
            i += 2;
        }
    }
    held
}

#[test]
fn reordering_swaps_a_held_frame_with_the_next() {
    let run = || {
        // A hold long enough that every held frame's successor comes in time.
        let mut link = link(Faults::new(7).with_reorder(0.05).with_reorder_hold(SOON));
        let n = link.send(long_run()).len();
        let got: Vec<u16> = link.receive(n).iter().map(|f| seq(f)).collect();
        let held = swapped_pairs(&got);
        assert_eq!(link.seg.fault_stats().reordered, held.len() as u64);
        held
    };
    let first = run();
    assert_eq!(first.len(), exact(47, 10), "held back at 0.05 with seed 7");
    assert_eq!(&first[..3], &[13, 31, 36]);
    assert_eq!(run(), first, "the same frames on a second run");
}

#[test]
fn reordering_at_probability_one_swaps_every_pair() {
    let mut link = link(Faults::new(1).with_reorder(1.0).with_reorder_hold(SOON));
    link.send(6);
    let got: Vec<u16> = link.receive(6).iter().map(|f| seq(f)).collect();
    // A frame after a held one is never held itself.
    assert_eq!(got, [1, 0, 3, 2, 5, 4]);
    assert_eq!(link.seg.fault_stats().reordered, 3);
}

#[test]
fn a_held_frame_without_a_successor_goes_out_alone_after_the_hold() {
    let hold = Duration::from_millis(30);
    let mut link = link(Faults::new(1).with_reorder(1.0).with_reorder_hold(hold));
    let start = Instant::now();
    link.send(1);
    if start.elapsed() < hold {
        assert_eq!(link.host.pending(), 0, "held back");
    }
    let f = link
        .host
        .recv_timeout(SOON)
        .expect("released after the hold");
    assert!(start.elapsed() >= hold);
    assert_eq!(seq(&f), 0);
    assert_eq!(link.seg.fault_stats().reordered, 1);
}

#[test]
fn all_faults_together_are_reproducible() {
    let run = || {
        // A hold far longer than the gap between two writes (a last frame held back comes
        // after it).
        let faults = Faults::new(2024)
            .with_loss(0.1)
            .with_corrupt(0.1)
            .with_reorder(0.1)
            .with_reorder_hold(Duration::from_secs(1))
            .with_delay(Duration::from_millis(1));
        let mut link = link(faults);
        link.send(300);
        let stats = link.seg.fault_stats();
        let got = link.receive((stats.frames - stats.lost) as usize);
        assert_eq!(link.host.recv(), None, "nothing more");
        // The addresses differ between segments; what follows them is compared.
        let got: Vec<Vec<u8>> = got.into_iter().map(|f| f[12..].to_vec()).collect();
        (got, link.seg.fault_stats())
    };
    let (got, stats) = run();
    assert_eq!(
        (stats.frames, stats.lost, stats.corrupted, stats.reordered),
        (300, 35, 27, 29)
    );
    assert_eq!(stats.delayed, 300 - 35);
    let again = run();
    assert!(again.0 == got, "the same frames, bytes and order");
    assert_eq!(again.1, stats);
}

#[test]
fn dropping_a_segment_with_frames_in_flight_ends_its_thread() {
    within(SOON, || {
        let mut link = link(Faults::new(7).with_delay(Duration::from_secs(3600)));
        link.send(10);
        assert_eq!(link.seg.fault_stats().delayed, 10);
        drop(link);
    });
}

// The pcap tap.

/// The records of a pcap file: the link type and each record's bytes.
fn read_pcap(bytes: &[u8]) -> (DataLink, Vec<Vec<u8>>) {
    let mut reader = PcapReader::new(bytes).expect("a pcap header");
    let header = reader.header();
    assert_eq!(header.ts_resolution, pcap_file::TsResolution::MicroSecond);
    let mut records = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("a pcap record");
        assert_eq!(packet.orig_len as usize, packet.data.len(), "not truncated");
        records.push(packet.data.into_owned());
    }
    (header.datalink, records)
}

#[test]
fn the_tap_holds_exactly_the_delivered_frames() {
    let mut link = link(Faults::new(7).with_loss(0.1).with_corrupt(0.05));
    let tap = link.seg.tap(Vec::new()).unwrap();
    link.send(200);
    // And one frame the other way.
    let back = numbered(link.vm_mac, link.host.mac(), 9999);
    link.host.send(&back).unwrap();
    let mut delivered = link.received();
    let mut buf = [0; 1514];
    if let Some(n) = link.vm.read(&mut buf).unwrap() {
        delivered.push(buf[..n].to_vec());
    }
    tap.flush().unwrap();
    let recorded = tap.recorded();
    assert_eq!(tap.dropped(), 0);
    let (link_type, records) = read_pcap(&tap.finish().unwrap());
    assert_eq!(link_type, DataLink::ETHERNET);
    assert_eq!(records, delivered, "the frames as delivered, in order");
    assert_eq!(recorded, records.len() as u64);
    let stats = link.seg.fault_stats();
    assert_eq!(records.len() as u64, stats.frames - stats.lost);
    assert!(stats.corrupted > 0 && stats.lost > 0);
}

#[test]
fn a_tap_on_a_segment_without_faults_records_every_frame() {
    let seg = Segment::new();
    let host = seg.host();
    let tap = seg.tap(Vec::new()).unwrap();
    let frames: Vec<Vec<u8>> = (0..50)
        .map(|seq| numbered(MacAddr::BROADCAST, host.mac(), seq))
        .collect();
    for f in &frames {
        host.send(f).unwrap();
    }
    host.send(&[0; 10]).unwrap(); // a runt: not recorded
    let (_, records) = read_pcap(&tap.finish().unwrap());
    assert_eq!(records, frames);
    // Finished, the tap records nothing more.
    host.send(&frames[0]).unwrap();
}

/// A writer that blocks until the test opens it.
struct Gate {
    open: mpsc::Receiver<()>,
    opened: bool,
    bytes: Vec<u8>,
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.opened {
            self.open.recv().unwrap();
            self.opened = true;
        }
        self.bytes.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_tap_that_cannot_keep_up_drops_records_and_never_stalls_the_segment() {
    let seg = Segment::new();
    let host = seg.host();
    let (open, gate) = mpsc::channel();
    // Room for two records of 60-byte frames; the writer is stuck on the file header.
    let tap = seg
        .tap_with_capacity(
            Gate {
                open: gate,
                opened: false,
                bytes: Vec::new(),
            },
            2 * (16 + 60),
        )
        .unwrap();
    let mut vm = seg.start(&InterfaceConfig::shared()).unwrap();
    let vm_mac = vm.parameters().mac_address().unwrap();
    within(SOON, move || {
        for seq in 0..10 {
            vm.write(&numbered(host.mac(), vm_mac, seq)).unwrap();
        }
        assert_eq!(host.pending(), 10, "the segment delivered everything");
    });
    assert_eq!((tap.recorded(), tap.dropped()), (2, 8));
    open.send(()).unwrap();
    let gate = tap.finish().unwrap();
    let (_, records) = read_pcap(&gate.bytes);
    assert_eq!(records.iter().map(|f| seq(f)).collect::<Vec<_>>(), [0, 1]);
}

/// A writer that fails.
struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("disk on fire"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_writer_ends_the_capture_with_its_error() {
    let seg = Segment::new();
    let host = seg.host();
    let tap = seg.tap(Broken).unwrap();
    for seq in 0..3 {
        host.send(&numbered(MacAddr::BROADCAST, host.mac(), seq))
            .unwrap();
    }
    let err = tap.flush().unwrap_err();
    assert_eq!(err.to_string(), "disk on fire");
    assert_eq!(tap.dropped(), 3);
    assert!(tap.finish().is_err());
}

#[test]
fn a_delayed_frame_is_recorded_when_it_is_delivered() {
    let delay = Duration::from_millis(20);
    let mut link = link(Faults::new(7).with_delay(delay));
    let tap = link.seg.tap(Vec::new()).unwrap();
    link.send(3);
    let got = link.receive(3);
    let (_, records) = read_pcap(&tap.finish().unwrap());
    assert_eq!(records, got);
}

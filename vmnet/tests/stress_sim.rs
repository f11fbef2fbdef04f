//! Stress and fault tests on the simulator: many interfaces on one segment, readers and
//! writers on split halves, stop and drop while callbacks fire, overflowing receive queues with
//! exact drop accounting, and a consumer that stops reading.
//!
//! Every test is bounded in count and, through a watchdog, in time: a deadlock fails the test
//! instead of hanging CI. Under Miri (`cargo xtask miri`) and valgrind (`cargo xtask leak`,
//! which sets `VMNET_TEST_SMALL=1`) the counts are smaller and the watchdog longer, since
//! both run the code many times slower and valgrind runs one thread at a time.
#![cfg(feature = "sim")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{count, small, within};
use vmnet::sim::Segment;
use vmnet::{Interface, InterfaceConfig, MacAddr, PacketBatch};

/// Interfaces on one segment in the many-interface tests.
fn interfaces() -> usize {
    count(32, 4)
}

/// Receive queue capacity where queues are meant to overflow.
fn small_queue() -> usize {
    count(64, 4)
}

/// The watchdog: generous for a loaded 2-core machine, and for Miri's or valgrind's pace.
fn limit() -> Duration {
    Duration::from_secs(if small() { 1800 } else { 60 })
}

/// How long a reader waits for readiness before it declares a stall.
fn stall() -> Duration {
    Duration::from_secs(if small() { 600 } else { 10 })
}

/// A 64-byte frame carrying its sender's number and a sequence number, so a receiver can tell
/// where each frame came from and check the order.
fn tagged(dst: MacAddr, src: MacAddr, sender: u16, seq: u32) -> Vec<u8> {
    let mut f = common::frame(dst, src, 64, 0);
    f[14..16].copy_from_slice(&sender.to_be_bytes());
    f[16..20].copy_from_slice(&seq.to_be_bytes());
    f
}

fn tag_of(frame: &[u8]) -> (u16, u32) {
    (
        u16::from_be_bytes([frame[14], frame[15]]),
        u32::from_be_bytes([frame[16], frame[17], frame[18], frame[19]]),
    )
}

fn mac_of(iface: &Interface) -> MacAddr {
    iface.parameters().mac_address().expect("allocated MAC")
}

/// Reads everything queued on `iface` now; returns the frames' tags in arrival order.
fn drain(iface: &mut Interface, batch: &mut PacketBatch) -> Vec<(u16, u32)> {
    let mut tags = Vec::new();
    while iface.read_batch(batch).unwrap() > 0 {
        tags.extend(batch.iter().map(tag_of));
    }
    tags
}

/// Checks that the sequence numbers from each sender only increase (nothing reordered, nothing
/// duplicated).
fn assert_in_order_per_sender(tags: &[(u16, u32)], who: usize) {
    let mut last: Vec<Option<u32>> = vec![None; interfaces() + 1];
    for &(sender, seq) in tags {
        let slot = &mut last[usize::from(sender)];
        assert!(
            slot.is_none_or(|prev| seq > prev),
            "interface {who}: frame {seq} from {sender} after {slot:?}"
        );
        *slot = Some(seq);
    }
}

/// 32 interfaces broadcast at once into small queues that nobody reads while they send. Every
/// copy is either delivered or dropped, exactly: delivered + dropped = sent × receivers, and
/// what the receivers then read is exactly what was delivered, the oldest frames first.
#[test]
fn many_interfaces_broadcasting_account_for_every_copy() {
    let (interfaces, per_sender, queue) = (interfaces(), count(64, 8), small_queue());
    within(limit(), move || {
        let seg = Segment::builder()
            .queue_capacity(queue)
            .host_queue_capacity(queue)
            .build();
        let host = seg.host();
        let ifaces: Vec<Interface> = (0..interfaces)
            .map(|_| seg.start(&InterfaceConfig::shared()).unwrap())
            .collect();
        assert_eq!(seg.stats().interfaces, interfaces);

        // Send from every interface at once, each from its own thread, in batches of 16.
        let start = Arc::new(Barrier::new(interfaces));
        let senders: Vec<_> = ifaces
            .into_iter()
            .enumerate()
            .map(|(i, mut iface)| {
                let start = start.clone();
                thread::spawn(move || {
                    let mac = mac_of(&iface);
                    let mut batch = PacketBatch::new(16, 64);
                    start.wait();
                    let mut seq = 0;
                    while seq < per_sender {
                        batch.clear();
                        while batch.len() < batch.capacity() && seq < per_sender {
                            batch
                                .push(&tagged(MacAddr::BROADCAST, mac, i as u16, seq as u32))
                                .unwrap();
                            seq += 1;
                        }
                        assert_eq!(iface.write_batch(&mut batch).unwrap(), batch.len());
                    }
                    iface
                })
            })
            .collect();
        let mut ifaces: Vec<Interface> = senders.into_iter().map(|t| t.join().unwrap()).collect();

        let sent = (interfaces * per_sender) as u64;
        // Each broadcast reaches the other interfaces and the host.
        let receivers = interfaces as u64;
        let stats = seg.stats();
        assert_eq!(stats.runts, 0);
        assert_eq!(stats.delivered + stats.dropped, sent * receivers);

        let mut read = 0;
        let mut batch = PacketBatch::for_interface(ifaces[0].parameters());
        for (i, iface) in ifaces.iter_mut().enumerate() {
            let tags = drain(iface, &mut batch);
            // Nobody read while sending, and (interfaces - 1) * per_sender > queue.
            assert_eq!(tags.len(), queue, "interface {i} holds a full queue");
            assert!(tags.iter().all(|&(s, _)| usize::from(s) != i), "own frame");
            assert_in_order_per_sender(&tags, i);
            read += tags.len() as u64;
        }
        let mut host_read = 0u64;
        while host.recv().is_some() {
            host_read += 1;
        }
        assert_eq!(host_read, queue as u64);
        assert_eq!(host.dropped(), sent - host_read);
        assert_eq!(
            read + host_read,
            stats.delivered,
            "read exactly what was delivered"
        );
        assert_eq!(seg.stats(), stats, "reading changes no counter");

        drop(ifaces);
        assert_eq!(seg.stats().interfaces, 0);
        assert_eq!(
            seg.stats().dropped,
            stats.dropped,
            "drops survive detaching"
        );
    });
}

/// Interfaces in a ring, each split into a reader thread and a writer thread: writer i sends
/// to interface i + 1 while every reader reads. Queues are large enough, so every frame
/// arrives, once and in order.
#[test]
fn readers_and_writers_on_split_halves_in_a_ring() {
    let (ring, frames) = (count(8, 3), count(2000, 24));
    within(limit(), move || {
        let seg = Segment::builder()
            .queue_capacity(frames)
            .host_queue_capacity(1)
            .build();
        let ifaces: Vec<Interface> = (0..ring)
            .map(|_| seg.start(&InterfaceConfig::shared()).unwrap())
            .collect();
        let macs: Vec<MacAddr> = ifaces.iter().map(mac_of).collect();
        let mut threads = Vec::new();
        for (i, iface) in ifaces.into_iter().enumerate() {
            let (mut rx, mut tx) = iface.split();
            let (src, dst) = (macs[i], macs[(i + 1) % ring]);
            threads.push(thread::spawn(move || {
                let mut batch = PacketBatch::new(32, 64);
                let mut seq = 0;
                while seq < frames {
                    batch.clear();
                    while batch.len() < batch.capacity() && seq < frames {
                        batch.push(&tagged(dst, src, i as u16, seq as u32)).unwrap();
                        seq += 1;
                    }
                    let mut done = 0;
                    while done < batch.len() {
                        done += tx.write_batch_from(&mut batch, done).unwrap();
                    }
                }
                (None, Some(tx))
            }));
            threads.push(thread::spawn(move || {
                let from = ((i + ring - 1) % ring) as u16;
                let mut batch = PacketBatch::for_interface(rx.parameters());
                let mut next = 0u32;
                while (next as usize) < frames {
                    if rx.read_batch(&mut batch).unwrap() == 0 {
                        assert!(
                            rx.wait_readable(Some(stall())).unwrap(),
                            "{i} stalled at {next}"
                        );
                        continue;
                    }
                    for f in &batch {
                        assert_eq!(tag_of(f), (from, next), "interface {i}");
                        next += 1;
                    }
                }
                (Some(rx), None)
            }));
        }
        let mut halves: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let sent = (ring * frames) as u64;
        let stats = seg.stats();
        // Each frame went to its one receiver and to the host, whose queue of one holds the
        // first frame and dropped every other; no receiver dropped anything.
        assert_eq!(stats.delivered + stats.dropped, 2 * sent);
        assert_eq!(stats.dropped, sent - 1);
        assert_eq!(seg.host().pending(), 1);
        // Join the halves back (reader then writer of each interface) and stop them.
        while !halves.is_empty() {
            let (Some(rx), None) = halves.remove(1) else {
                panic!("reader expected")
            };
            let (None, Some(tx)) = halves.remove(0) else {
                panic!("writer expected")
            };
            rx.unsplit(tx).expect("same interface").stop().unwrap();
        }
        assert_eq!(seg.stats().interfaces, 0);
    });
}

/// Interfaces are stopped and dropped — the whole interface, or one half while the other
/// half is busy on another thread — while a flood makes their callbacks fire. Every stop
/// returns within the watchdog, no callback starts after its interface's stop returned, and
/// nothing panics.
#[test]
fn stop_and_drop_while_callbacks_fire() {
    let (rounds, flood_frames, queue) = (count(10, 2), count(1000, 30), small_queue());
    within(limit(), move || {
        for round in 0..rounds {
            let seg = Segment::builder().queue_capacity(queue).build();
            let host = seg.host();
            let calls = Arc::new(AtomicU64::new(0));
            let late = Arc::new(AtomicU64::new(0));
            let mut stopped_flags = Vec::new();
            let mut ifaces = Vec::new();
            for _ in 0..4 {
                let iface = seg.start(&InterfaceConfig::shared()).unwrap();
                let stopped = Arc::new(AtomicBool::new(false));
                let (c, l, s) = (calls.clone(), late.clone(), stopped.clone());
                iface.set_event_callback(move |_| {
                    if s.load(Ordering::SeqCst) {
                        l.fetch_add(1, Ordering::SeqCst);
                    }
                    c.fetch_add(1, Ordering::SeqCst);
                    thread::yield_now();
                });
                stopped_flags.push(stopped);
                ifaces.push(iface);
            }
            let flooding = Arc::new(AtomicBool::new(true));
            let flood = {
                let (host, flooding) = (host.clone(), flooding.clone());
                thread::spawn(move || {
                    let mut n = 0;
                    while n < flood_frames || flooding.load(Ordering::SeqCst) {
                        host.send(&tagged(MacAddr::BROADCAST, host.mac(), 0, n as u32))
                            .unwrap();
                        n += 1;
                        if n % 64 == 0 {
                            thread::yield_now();
                        }
                    }
                })
            };
            // Wait until callbacks are firing.
            while calls.load(Ordering::SeqCst) == 0 {
                thread::yield_now();
            }
            let mut it = ifaces.into_iter().zip(stopped_flags);
            // 1: an explicit stop.
            let (a, a_stopped) = it.next().unwrap();
            a.stop().unwrap();
            a_stopped.store(true, Ordering::SeqCst);
            // 2: dropped whole.
            let (b, b_stopped) = it.next().unwrap();
            drop(b);
            b_stopped.store(true, Ordering::SeqCst);
            // 3: split; the read half keeps reading on another thread while the write half is
            // dropped here; the interface stops when the reader drops the last half.
            let (c, c_stopped) = it.next().unwrap();
            let (mut rx, tx) = c.split();
            let reader = thread::spawn(move || {
                let mut batch = PacketBatch::for_interface(rx.parameters());
                for _ in 0..50 {
                    rx.read_batch(&mut batch).unwrap();
                    thread::yield_now();
                }
                drop(rx);
                c_stopped.store(true, Ordering::SeqCst);
            });
            drop(tx);
            reader.join().unwrap();
            // 4: stopped from another thread while its callback may be running.
            let (d, d_stopped) = it.next().unwrap();
            thread::spawn(move || {
                d.stop().unwrap();
                d_stopped.store(true, Ordering::SeqCst);
            })
            .join()
            .unwrap();

            assert_eq!(seg.stats().interfaces, 0, "round {round}");
            // With every interface stopped, the flood reaches only the host.
            let before = calls.load(Ordering::SeqCst);
            flooding.store(false, Ordering::SeqCst);
            flood.join().unwrap();
            assert_eq!(
                calls.load(Ordering::SeqCst),
                before,
                "a callback after stop"
            );
            assert_eq!(
                late.load(Ordering::SeqCst),
                0,
                "a callback started after stop"
            );
        }
    });
}

/// One host sender, several receivers reading at their own pace and one that never reads
/// until the end. First a queue-full of frames is sent and every active reader reads all of
/// it while the stalled consumer reads nothing (so a stalled consumer does not hold the others
/// up); then a flood overflows the queues. The accounting is exact: delivered + dropped = sent
/// × receivers, the receivers read exactly the delivered frames, each in order, and the
/// stalled consumer holds exactly the oldest queue-full of frames.
#[test]
fn overflowing_queues_and_a_stalled_consumer_account_exactly() {
    let (n_readers, total, queue) = (count(6, 2), count(20_000, 40), small_queue());
    within(limit(), move || {
        let seg = Segment::builder().queue_capacity(queue).build();
        let host = seg.host();
        let mut stalled = seg.start(&InterfaceConfig::shared()).unwrap();
        let readers: Vec<Interface> = (0..n_readers)
            .map(|_| seg.start(&InterfaceConfig::shared()).unwrap())
            .collect();
        let sending = Arc::new(AtomicBool::new(true));
        let got = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(i, mut iface)| {
                let (sending, got) = (sending.clone(), got.clone());
                thread::spawn(move || {
                    let mut batch = PacketBatch::for_interface(iface.parameters());
                    let mut tags = Vec::new();
                    loop {
                        let done = !sending.load(Ordering::SeqCst);
                        let n = iface.read_batch(&mut batch).unwrap();
                        tags.extend(batch.iter().map(tag_of));
                        got.fetch_add(n, Ordering::SeqCst);
                        if n == 0 {
                            if done {
                                break; // everything sent has been read
                            }
                            // Readers of different speeds: some sleep, some wait for events.
                            if i % 2 == 1 {
                                thread::sleep(Duration::from_micros(200));
                            } else {
                                iface.wait_readable(Some(Duration::from_millis(5))).unwrap();
                            }
                        }
                    }
                    assert_in_order_per_sender(&tags, i);
                    let first: Vec<(u16, u32)> = (0..queue as u32).map(|s| (0, s)).collect();
                    assert_eq!(tags[..queue], first, "reader {i} got the first frames");
                    tags.len() as u64
                })
            })
            .collect();
        let send = |seq: usize| {
            host.send(&tagged(MacAddr::BROADCAST, host.mac(), 0, seq as u32))
                .unwrap();
        };
        (0..queue).for_each(send);
        // Every active reader reads the first queue-full while the stalled one reads nothing.
        while got.load(Ordering::SeqCst) < n_readers * queue {
            thread::sleep(Duration::from_millis(1));
        }
        (queue..total).for_each(send);
        sending.store(false, Ordering::SeqCst);
        let read_by_readers: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();

        let mut batch = PacketBatch::for_interface(stalled.parameters());
        let tags = drain(&mut stalled, &mut batch);
        let first: Vec<(u16, u32)> = (0..queue as u32).map(|s| (0, s)).collect();
        assert_eq!(tags, first, "the stalled consumer keeps the oldest frames");

        let stats = seg.stats();
        let receivers = (n_readers + 1) as u64;
        assert_eq!(stats.delivered + stats.dropped, total as u64 * receivers);
        assert_eq!(
            stats.delivered,
            read_by_readers + tags.len() as u64,
            "every delivered frame was read once"
        );
        assert!(read_by_readers >= (n_readers * queue) as u64);
        assert_eq!(
            host.pending(),
            0,
            "the host does not receive its own frames"
        );
    });
}

/// Interfaces are started and stopped over and over while others on the segment send to
/// them: the segment never loses count of its interfaces, and every start succeeds.
#[test]
fn churn_of_interfaces_while_traffic_flows() {
    let (cycles, queue) = (count(200, 3), small_queue());
    within(limit(), move || {
        let seg = Segment::builder().queue_capacity(queue).build();
        let mut sender = seg.start(&InterfaceConfig::shared()).unwrap();
        let src = mac_of(&sender);
        let running = Arc::new(AtomicBool::new(true));
        let traffic = {
            let running = running.clone();
            thread::spawn(move || {
                let mut batch = PacketBatch::new(8, 64);
                let mut seq = 0u32;
                while running.load(Ordering::SeqCst) {
                    batch.clear();
                    while batch.len() < batch.capacity() {
                        batch
                            .push(&tagged(MacAddr::BROADCAST, src, 1, seq))
                            .unwrap();
                        seq += 1;
                    }
                    sender.write_batch(&mut batch).unwrap();
                    thread::yield_now();
                }
                sender
            })
        };
        for cycle in 0..cycles {
            let iface = seg.start(&InterfaceConfig::shared()).unwrap();
            assert_eq!(seg.stats().interfaces, 2, "cycle {cycle}");
            if cycle % 2 == 0 {
                iface.stop().unwrap();
            } else {
                drop(iface);
            }
        }
        running.store(false, Ordering::SeqCst);
        let sender = traffic.join().unwrap();
        assert_eq!(seg.stats().interfaces, 1);
        sender.stop().unwrap();
        assert_eq!(seg.stats().interfaces, 0);
    });
}

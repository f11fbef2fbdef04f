//! The tokio interface (`vmnet::async_io`), on every backend: the simulator (`cargo test`)
//! and the Apple backend on the stand-in vmnet.framework (`cargo xtask standin`); see
//! `common/backend.rs`.
#![cfg(all(feature = "sim", feature = "tokio"))]

mod common;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use common::backend::{Host, Net};
use common::{SOON, frame, host_recv};
use futures_core::Stream;
use tokio::time::timeout;
use vmnet::async_io::{AsyncInterface, AsyncReadHalf, PacketStream};
use vmnet::{Error, Interface, InterfaceConfig, MacAddr, PacketBatch};

#[path = "common/counting.rs"]
mod counting;
use counting::{Counting, Scope, allocations_during, measure};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The host endpoint of `net`, and an async interface started on it with its MAC address.
fn start(net: &Net) -> (Host, AsyncInterface, MacAddr) {
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = iface.parameters().mac_address().unwrap();
    (net.host(), AsyncInterface::new(iface).unwrap(), mac)
}

/// Sends frame `tag` (60 bytes, tagged at byte 20) from the host to `mac`.
fn send(host: &Host, mac: MacAddr, tag: u8) {
    host.send(&frame(mac, host.mac(), 60, tag)).unwrap();
}

/// Bounded: a hang fails the test instead of blocking CI.
async fn soon<F: Future>(f: F) -> F::Output {
    timeout(SOON, f)
        .await
        .expect("did not complete in time (lost wake-up?)")
}

/// Asserts that `f` is still waiting after `ms` milliseconds; the timeout then cancels it.
async fn assert_waits<F: Future>(ms: u64, f: F) {
    assert!(timeout(Duration::from_millis(ms), f).await.is_err());
}

/// The host sends frames 1 and 2 to `mac`; once both are queued, `iface` reads frame 1
/// synchronously. That read clears the readiness descriptor although frame 2 is waiting.
fn queue_two_read_one(host: &Host, mac: MacAddr, iface: &mut Interface) {
    send(host, mac, 1);
    send(host, mac, 2);
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    // Let both arrive, then read just one.
    std::thread::sleep(Duration::from_millis(20));
    let mut buf = vec![0; 1514];
    assert_eq!(iface.read(&mut buf).unwrap(), Some(60));
    assert_eq!(buf[20], 1);
}

/// Reads (bounded) one batch, which must hold exactly one frame; returns the frame's tag.
async fn read_one(iface: &mut AsyncInterface, batch: &mut PacketBatch) -> u8 {
    assert_eq!(soon(iface.read_batch(batch)).await.unwrap(), 1);
    batch.get(0).unwrap()[20]
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[test]
fn async_types_are_send() {
    fn send<T: Send>() {}
    send::<AsyncInterface>();
    send::<AsyncReadHalf>();
    send::<PacketStream>();
    send::<PacketStream<AsyncReadHalf>>();
}

#[tokio::test]
async fn read_batch_wakes_when_the_host_sends() {
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    let sender = {
        let host = host.clone();
        tokio::spawn(async move {
            // Let the reader wait first, so it must be woken.
            tokio::time::sleep(Duration::from_millis(50)).await;
            send(&host, mac, 7);
        })
    };
    assert_eq!(read_one(&mut iface, &mut batch).await, 7);
    sender.await.unwrap();
    // Nothing more: the next read waits (and is cancelled by the timeout).
    assert_waits(50, iface.read_batch(&mut batch)).await;
}

#[tokio::test]
async fn read_batch_never_returns_zero() {
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    for round in 0..20u8 {
        send(&host, mac, round);
        let n = soon(iface.read_batch(&mut batch)).await.unwrap();
        assert_eq!(n, 1, "round {round}");
        assert_eq!(batch.get(0).unwrap()[20], round);
    }
}

#[tokio::test]
async fn a_read_cancelled_by_a_timeout_loses_no_packet() {
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    // Cancelled while waiting.
    assert_waits(20, iface.read_batch(&mut batch)).await;
    send(&host, mac, 1);
    send(&host, mac, 2);
    // Cancelled before it was ever polled: nothing may be consumed.
    drop(iface.read_batch(&mut batch));
    let n = soon(iface.read_batch(&mut batch)).await.unwrap();
    let tags: Vec<u8> = batch.iter().take(n).map(|f| f[20]).collect();
    if n == 1 {
        // The event thread may deliver the two frames as two readiness events.
        soon(iface.read_batch(&mut batch)).await.unwrap();
        assert_eq!([tags[0], batch.get(0).unwrap()[20]], [1, 2]);
    } else {
        assert_eq!(tags, [1, 2]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cancelled_at_random_times_lose_nothing() {
    const N: usize = 300;
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            send(&host, mac, i as u8);
            if i % 5 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let mut batch = PacketBatch::for_interface(iface.parameters());
    let mut got = Vec::with_capacity(N);
    let mut cancelled = 0;
    let deadline = tokio::time::Instant::now() + SOON;
    while got.len() < N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stalled at {}",
            got.len()
        );
        // Many reads are cancelled: a third after one poll (before their wait: a timer would
        // give them until its next tick, and frames arrive faster than that), the others
        // after 1 or 2 ms (during their wait).
        let turn = (got.len() as u64 + cancelled) % 3;
        let read = if turn == 0 {
            let mut read = std::pin::pin!(iface.read_batch(&mut batch));
            match poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
                Poll::Ready(n) => Some(n),
                Poll::Pending => None,
            }
        } else {
            timeout(Duration::from_millis(turn), iface.read_batch(&mut batch))
                .await
                .ok()
        };
        match read {
            Some(n) => got.extend(batch.iter().take(n.unwrap()).map(|f| f[20])),
            None => cancelled += 1,
        }
    }
    sender.join().unwrap();
    let expected: Vec<u8> = (0..N).map(|i| i as u8).collect();
    assert_eq!(got, expected, "every frame once, in order");
    assert!(cancelled > 0, "the test must actually cancel reads");
}

#[tokio::test]
async fn recv_reads_one_frame_at_a_time() {
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    send(&host, mac, 1);
    send(&host, mac, 2);
    let mut buf = vec![0; iface.parameters().max_packet_size()];
    assert_eq!(soon(iface.recv(&mut buf)).await.unwrap(), 60);
    assert_eq!(buf[20], 1);
    assert_eq!(soon(iface.recv(&mut buf)).await.unwrap(), 60);
    assert_eq!(buf[20], 2);
    // Short buffers are refused at once, without waiting for a packet.
    let mut small = [0u8; 100];
    assert!(matches!(
        soon(iface.recv(&mut small)).await,
        Err(Error::BufferTooSmall { len: 100, .. })
    ));
    let mut small_batch = PacketBatch::new(8, 1000);
    assert!(matches!(
        soon(iface.read_batch(&mut small_batch)).await,
        Err(Error::BufferTooSmall { len: 1000, .. })
    ));
}

#[tokio::test]
async fn packets_queued_before_wrapping_are_read() {
    // The previous owner read one frame of two and stopped: the readiness descriptor is clear
    // although a frame is waiting, and no new event will announce it.
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = iface.parameters().mac_address().unwrap();
    queue_two_read_one(&host, mac, &mut iface);
    let mut iface = AsyncInterface::new(iface).unwrap();
    let mut batch = PacketBatch::for_interface(iface.parameters());
    assert_eq!(read_one(&mut iface, &mut batch).await, 2);
}

#[tokio::test]
async fn sync_reads_through_get_mut_miss_nothing() {
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    // An async read that finds nothing: from now on readiness comes from the reactor.
    assert_waits(20, iface.read_batch(&mut batch)).await;
    // A synchronous read of one frame clears the descriptor; one frame stays queued.
    queue_two_read_one(&host, mac, iface.get_mut());
    assert_eq!(read_one(&mut iface, &mut batch).await, 2);
}

#[tokio::test]
async fn writes_pass_through() {
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    let f = frame(host.mac(), mac, 80, 3);
    iface.write(&f).unwrap();
    let mut batch = PacketBatch::for_interface(iface.parameters());
    batch.push(&f).unwrap();
    batch.push(&f).unwrap();
    assert_eq!(iface.write_batch(&mut batch).unwrap(), 2);
    assert_eq!(iface.write_batch_from(&mut batch, 1).unwrap(), 1);
    for _ in 0..4 {
        assert_eq!(host_recv(&host), f);
    }
    assert!(iface.get_ref().parameters().mac_address() == Some(mac));
    let plain = iface.into_inner();
    assert_eq!(net.running_interfaces(), 1, "into_inner keeps it running");
    plain.stop().unwrap();
}

#[tokio::test]
async fn the_stream_yields_frames_in_order() {
    let net = Net::new();
    let (host, iface, mac) = start(&net);
    let mut frames = iface.into_stream();
    for i in 0..10 {
        send(&host, mac, i);
    }
    for i in 0..10 {
        let f = soon(next(&mut frames)).await.unwrap().unwrap();
        assert_eq!((f.len(), f[20]), (60, i));
    }
    assert_eq!(frames.buffered(), 0);
    // Waits for more rather than ending.
    assert_waits(50, next(&mut frames)).await;
    send(&host, mac, 42);
    assert_eq!(soon(next(&mut frames)).await.unwrap().unwrap()[20], 42);
    let iface = frames.into_inner();
    assert_eq!(iface.parameters().mac_address(), Some(mac));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_frames_across_batches() {
    // Within both backends' receive queues (1024 frames), however far the reader lags.
    const N: usize = 1000;
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    let read_max = iface.parameters().read_max_packets();
    let h = host.clone();
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            h.send(&frame(mac, h.mac(), 60 + i % 1000, i as u8))
                .unwrap();
        }
    });
    let mut batch = PacketBatch::for_interface(iface.parameters());
    let (mut got, mut reads, mut largest) = (0, 0, 0);
    while got < N {
        let n = soon(iface.read_batch(&mut batch)).await.unwrap();
        assert!(n >= 1 && n <= read_max);
        for f in batch.iter().take(n) {
            assert_eq!(f.len(), 60 + got % 1000, "exact length of frame {got}");
            assert_eq!(f[20], got as u8, "in order");
            got += 1;
        }
        reads += 1;
        largest = largest.max(n);
    }
    sender.join().unwrap();
    assert!(reads > 1, "more frames than one batch");
    assert!(largest > 1, "reads are batched");

    // The same through a stream.
    let mut frames = iface.into_stream();
    let h = host.clone();
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            h.send(&frame(mac, h.mac(), 60, i as u8)).unwrap();
        }
    });
    for i in 0..N {
        let f = soon(next(&mut frames)).await.unwrap().unwrap();
        assert_eq!(f[20], i as u8);
    }
    sender.join().unwrap();
    assert_eq!(net.dropped(), 0);
}

#[tokio::test]
async fn split_halves_read_and_write_independently() {
    let net = Net::new();
    let (host, iface, mac) = start(&net);
    let (mut reader, mut writer) = iface.split().unwrap();
    let read_task = tokio::spawn(async move {
        let mut batch = PacketBatch::for_interface(reader.parameters());
        let n = soon(reader.read_batch(&mut batch)).await.unwrap();
        (reader, batch.get(0).unwrap()[20], n)
    });
    let f = frame(host.mac(), mac, 64, 9);
    writer.write(&f).unwrap();
    assert_eq!(host_recv(&host), f);
    send(&host, mac, 5);
    let (reader, tag, n) = soon(read_task).await.unwrap();
    assert_eq!((tag, n), (5, 1));
    // A stream over the read half, then back together.
    let mut frames = reader.into_stream();
    send(&host, mac, 6);
    assert_eq!(soon(next(&mut frames)).await.unwrap().unwrap()[20], 6);
    let iface = frames.into_inner().into_inner().unsplit(writer).unwrap();
    iface.stop().unwrap();
    assert_eq!(net.running_interfaces(), 0);
}

#[tokio::test]
async fn the_last_half_dropped_stops_the_interface() {
    let net = Net::new();
    let (host, iface, mac) = start(&net);
    let (reader, writer) = iface.split().unwrap();
    let mut frames = reader.into_stream();
    send(&host, mac, 1);
    assert!(soon(next(&mut frames)).await.unwrap().is_ok());
    drop(writer);
    assert_eq!(
        net.running_interfaces(),
        1,
        "the read half keeps it running"
    );
    send(&host, mac, 2);
    assert_eq!(soon(next(&mut frames)).await.unwrap().unwrap()[20], 2);
    drop(frames);
    assert_eq!(net.running_interfaces(), 0, "the last half stops it");
}

#[test]
fn the_allocation_counter_counts() {
    let (v, n) = allocations_during(Scope::Thread, || std::hint::black_box(vec![0u8; 10]));
    assert_eq!(v.len(), 10);
    assert!(n > 0);
}

#[tokio::test(flavor = "current_thread")]
async fn read_batch_allocates_nothing_in_steady_state() {
    let net = Net::new();
    let (host, mut iface, mac) = start(&net);
    let f = frame(mac, host.mac(), 600, 0);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    // A warm-up pass, then a counted one: the host sends, the async read waits and reads.
    for counted in [false, true] {
        let measurement = measure(Scope::Thread);
        for _ in 0..50 {
            for _ in 0..8 {
                host.send(&f).unwrap();
            }
            let mut got = 0;
            while got < 8 {
                got += soon(iface.read_batch(&mut batch)).await.unwrap();
            }
        }
        let allocations = measurement.stop();
        if counted {
            assert_eq!(allocations, 0, "allocations in read_batch");
        }
    }
}

/// A registration the reactor refuses gives the interface back, still running (as tokio's
/// `AsyncFdRegisterError`): here the descriptor is already registered by someone else.
#[tokio::test]
async fn a_refused_registration_gives_the_interface_back() {
    use std::os::fd::AsRawFd;

    let net = Net::new();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let raw = iface.as_raw_fd();
    // SAFETY: `raw` is the interface's readiness descriptor, open while `iface` (or what it is
    // given back as) lives, which outlives `other`; `other` only registers it with epoll.
    let other = unsafe { tokio::io::unix::AsyncFd::register(raw) }.unwrap();
    let refused = AsyncInterface::new(iface).expect_err("the descriptor is registered twice");
    assert!(refused.error().raw_os_error().is_some(), "{refused:?}");
    let iface: Interface = refused.into_inner();
    drop(other);
    // Still running: it registers now and moves a frame.
    let mac = iface.parameters().mac_address().unwrap();
    let mut iface = AsyncInterface::new(iface).unwrap();
    let host = net.host();
    send(&host, mac, 7);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    assert_eq!(soon(iface.read_batch(&mut batch)).await.unwrap(), 1);
}

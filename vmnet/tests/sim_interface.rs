//! The public interface API, exercised end to end on the simulator.
#![cfg(feature = "sim")]

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{SOON, Setup, count, frame, setup, within};
use vmnet::ffi::{iovec, vmpktdesc};
use vmnet::sim::Segment;
use vmnet::{
    Capabilities, Error, Feature, Interface, InterfaceConfig, MacAddr, Operation, PacketBatch,
    ReadHalf, Status, Uuid, WriteHalf,
};

fn mac_of(iface: &Interface) -> MacAddr {
    iface.parameters().mac_address().expect("allocated MAC")
}

/// Two shared-mode interfaces on `seg`, and their MAC addresses.
fn two_on(seg: &Segment) -> (Interface, Interface, MacAddr, MacAddr) {
    let a = seg.start(&InterfaceConfig::shared()).unwrap();
    let b = seg.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (mac_of(&a), mac_of(&b));
    (a, b, ma, mb)
}

#[test]
fn interfaces_and_halves_are_send() {
    fn send<T: Send>() {}
    send::<Interface>();
    send::<ReadHalf>();
    send::<WriteHalf>();
    send::<PacketBatch>();
    send::<Segment>();
}

#[test]
fn start_reports_vmnet_like_parameters() {
    let seg = Segment::new();
    let iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let p = iface.parameters();
    let mac = p.mac_address().unwrap();
    assert!(mac.is_unicast() && mac.is_locally_administered(), "{mac}");
    assert_eq!((p.mtu(), p.max_packet_size()), (1500, 1514));
    assert_eq!((p.read_max_packets(), p.write_max_packets()), (256, 256));
    assert_eq!(p.start_address(), Some(Ipv4Addr::new(192, 168, 105, 1)));
    assert_eq!(p.end_address(), Some(Ipv4Addr::new(192, 168, 105, 254)));
    assert_eq!(p.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
    let prefix = p.nat66_prefix().expect("shared mode has a NAT66 prefix");
    assert_eq!(prefix.segments()[0] & 0xff00, 0xfd00);
    assert!(p.interface_id().is_some());
    assert_eq!(seg.stats().interfaces, 1);
}

#[test]
fn configured_range_mtu_and_tso_show_in_parameters() {
    let seg = Segment::new();
    let cfg = InterfaceConfig::host()
        .address_range(
            Ipv4Addr::new(10, 0, 7, 1),
            Ipv4Addr::new(10, 0, 7, 100),
            Ipv4Addr::new(255, 255, 255, 0),
        )
        .mtu(9000);
    let p = seg.start(&cfg).unwrap().parameters().clone();
    assert_eq!(p.start_address(), Some(Ipv4Addr::new(10, 0, 7, 1)));
    assert_eq!(p.end_address(), Some(Ipv4Addr::new(10, 0, 7, 100)));
    assert_eq!((p.mtu(), p.max_packet_size()), (9000, 9014));
    assert_eq!(p.nat66_prefix(), None, "host mode has no NAT66");
    let tso = seg.start(&InterfaceConfig::shared().tso(true)).unwrap();
    assert!(tso.parameters().max_packet_size() >= 65535);
}

#[test]
fn the_same_interface_id_gives_the_same_mac() {
    let seg = Segment::new();
    let id = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let cfg = InterfaceConfig::shared().interface_id(id);
    let first = seg.start(&cfg).unwrap();
    let mac = mac_of(&first);
    assert_eq!(first.parameters().interface_id(), Some(id));
    first.stop().unwrap();
    let again = seg.start(&cfg).unwrap();
    assert_eq!(mac_of(&again), mac);
    let other = seg.start(&InterfaceConfig::shared()).unwrap();
    assert_ne!(mac_of(&other), mac);
}

#[test]
fn without_packet_limits_the_documented_default_applies() {
    let seg = Segment::builder()
        .capabilities(Capabilities::ALL.without(Feature::PacketLimits))
        .build();
    let iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let p = iface.parameters();
    assert_eq!(p.read_max_packets(), vmnet::DEFAULT_MAX_PACKETS_PER_CALL);
    assert_eq!(p.write_max_packets(), vmnet::DEFAULT_MAX_PACKETS_PER_CALL);
}

#[test]
fn options_the_segment_lacks_are_unsupported_before_starting() {
    let seg = Segment::builder()
        .capabilities(Capabilities::BASELINE)
        .build();
    match seg.start(&InterfaceConfig::shared().virtio_header(true)) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 15.4"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    match seg.start(&InterfaceConfig::shared().checksum_offload(true)) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 12.0"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(seg.stats().interfaces, 0, "nothing was started");
}

#[test]
fn invalid_configuration_is_rejected_before_starting() {
    let seg = Segment::new();
    let bad = InterfaceConfig::shared().start_address(Ipv4Addr::new(192, 168, 9, 1));
    assert!(matches!(seg.start(&bad), Err(Error::Config(_))));
    assert_eq!(seg.stats().interfaces, 0);
}

#[test]
fn stop_and_drop_detach_the_interface() {
    let seg = Segment::new();
    let a = seg.start(&InterfaceConfig::shared()).unwrap();
    let b = seg.start(&InterfaceConfig::shared()).unwrap();
    assert_eq!(seg.stats().interfaces, 2);
    a.stop().unwrap();
    assert_eq!(seg.stats().interfaces, 1);
    drop(b);
    assert_eq!(seg.stats().interfaces, 0);
}

#[test]
fn reading_with_nothing_queued_is_not_an_error() {
    let seg = Segment::new();
    let mut iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let mut buf = vec![0; 1514];
    assert_eq!(iface.read(&mut buf).unwrap(), None);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    assert_eq!(iface.read_batch(&mut batch).unwrap(), 0);
    assert!(batch.is_empty());
}

#[test]
fn a_read_buffer_smaller_than_the_max_packet_size_is_refused() {
    let seg = Segment::new();
    let mut iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let mut small = vec![0; 100];
    assert!(matches!(
        iface.read(&mut small),
        Err(Error::BufferTooSmall {
            len: 100,
            needed: 1514
        })
    ));
    let mut batch = PacketBatch::new(8, 1000);
    assert!(matches!(
        iface.read_batch(&mut batch),
        Err(Error::BufferTooSmall { .. })
    ));
}

#[test]
fn unicast_reaches_only_its_owner_and_the_host_sees_everything() {
    let seg = Segment::new();
    let host = seg.host();
    let mut a = seg.start(&InterfaceConfig::shared()).unwrap();
    let mut b = seg.start(&InterfaceConfig::shared()).unwrap();
    let mut c = seg.start(&InterfaceConfig::shared()).unwrap();
    let f = frame(mac_of(&b), mac_of(&a), 100, 7);
    assert!(a.write(&f).unwrap());
    let mut buf = vec![0; 1514];
    assert!(b.wait_readable(Some(SOON)).unwrap());
    assert_eq!(b.read(&mut buf).unwrap(), Some(100));
    assert_eq!(&buf[..100], &f[..]);
    assert_eq!(c.read(&mut buf).unwrap(), None, "not c's frame");
    assert_eq!(a.read(&mut buf).unwrap(), None, "not echoed to the sender");
    assert_eq!(host.recv().as_deref(), Some(&f[..]));
}

#[test]
fn broadcast_reaches_every_other_interface() {
    let seg = Segment::new();
    let host = seg.host();
    let mut a = seg.start(&InterfaceConfig::shared()).unwrap();
    let mut others: Vec<Interface> = (0..3)
        .map(|_| seg.start(&InterfaceConfig::shared()).unwrap())
        .collect();
    let f = frame(MacAddr::BROADCAST, mac_of(&a), 60, 1);
    a.write(&f).unwrap();
    let mut buf = vec![0; 1514];
    for o in &mut others {
        assert!(o.wait_readable(Some(SOON)).unwrap());
        assert_eq!(o.read(&mut buf).unwrap(), Some(60));
    }
    assert_eq!(a.read(&mut buf).unwrap(), None);
    assert_eq!(host.recv().as_deref(), Some(&f[..]));
    assert_eq!(seg.stats().delivered, 4);
}

#[test]
fn isolated_interfaces_do_not_reach_each_other() {
    let seg = Segment::new();
    let host = seg.host();
    let iso = InterfaceConfig::shared().isolation(true);
    let mut a = seg.start(&iso).unwrap();
    let mut b = seg.start(&iso).unwrap();
    let mut open = seg.start(&InterfaceConfig::shared()).unwrap();
    let mut buf = vec![0; 1514];
    a.write(&frame(mac_of(&b), mac_of(&a), 80, 1)).unwrap();
    a.write(&frame(mac_of(&open), mac_of(&a), 80, 2)).unwrap();
    assert!(open.wait_readable(Some(SOON)).unwrap());
    assert_eq!(open.read(&mut buf).unwrap(), Some(80));
    assert_eq!(buf[20], 2);
    assert_eq!(b.read(&mut buf).unwrap(), None, "isolated from a");
    assert_eq!(host.pending(), 2, "the host still sees both");
}

#[test]
fn batches_move_many_packets_in_one_call() {
    let seg = Segment::new();
    let (mut a, mut b, ma, mb) = two_on(&seg);
    let mut out = PacketBatch::for_interface(a.parameters());
    for i in 0..50u8 {
        out.push(&frame(mb, ma, 60 + usize::from(i), i)).unwrap();
    }
    assert_eq!(a.write_batch(&mut out).unwrap(), 50);
    let mut inb = PacketBatch::for_interface(b.parameters());
    assert!(b.wait_readable(Some(SOON)).unwrap());
    assert_eq!(b.read_batch(&mut inb).unwrap(), 50);
    for (i, f) in inb.iter().enumerate() {
        assert_eq!(f.len(), 60 + i, "exact lengths");
        assert_eq!(f[20], i as u8, "in order");
    }
    assert_eq!(b.read_batch(&mut inb).unwrap(), 0);
}

/// Descriptors over `bufs` (one iovec each, sizes equal to the buffer lengths), as a raw
/// caller builds them; the iovecs live in `iovs`.
fn raw_descs(bufs: &mut [Vec<u8>], iovs: &mut Vec<iovec>) -> Vec<vmpktdesc> {
    iovs.clear();
    iovs.extend(bufs.iter_mut().map(|b| iovec {
        iov_base: b.as_mut_ptr().cast(),
        iov_len: b.len(),
    }));
    let first = iovs.as_mut_ptr();
    (0..iovs.len())
        .map(|i| vmpktdesc {
            vm_pkt_size: bufs[i].len(),
            vm_pkt_iov: first.wrapping_add(i),
            vm_pkt_iovcnt: 1,
            vm_flags: 0,
        })
        .collect()
}

#[test]
fn raw_descriptors_move_frames_and_reads_clear_readiness() {
    let seg = Segment::new();
    let (mut a_read, mut a_write) = seg.start(&InterfaceConfig::shared()).unwrap().split();
    let mut b = seg.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (a_read.parameters().mac_address().unwrap(), mac_of(&b));
    let mut frames: Vec<Vec<u8>> = (0..3u8)
        .map(|i| frame(mb, ma, 60 + usize::from(i) * 100, i))
        .collect();
    let mut iovs = Vec::new();
    let mut descs = raw_descs(&mut frames, &mut iovs);
    // SAFETY: one iovec per descriptor over a frame in `frames`, sizes equal to the iovec
    // lengths; nothing touches them during the call.
    assert_eq!(unsafe { a_write.write_raw(&mut descs) }.unwrap(), 3);
    assert!(b.wait_readable(Some(SOON)).unwrap());

    let max = b.parameters().max_packet_size();
    let mut bufs = vec![vec![0u8; max]; 4];
    let mut in_iovs = Vec::new();
    let mut descs = raw_descs(&mut bufs, &mut in_iovs);
    // SAFETY: as above, the buffers being writable and exclusively ours.
    let n = unsafe { b.read_raw(&mut descs) }.unwrap();
    assert_eq!(n, 3);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(descs[i].vm_pkt_size, f.len(), "vmnet reports each length");
        assert_eq!(
            &bufs[i][..f.len()],
            &f[..],
            "frame {i} arrives intact, in order"
        );
    }
    assert!(
        !b.wait_readable(Some(Duration::ZERO)).unwrap(),
        "a raw read clears readiness like any read"
    );

    // And back: B to A's read half, one raw descriptor at a time.
    assert!(b.write(&frame(ma, mb, 64, 9)).unwrap());
    assert!(a_read.wait_readable(Some(SOON)).unwrap());
    let mut one = vec![vec![0u8; max]];
    let mut descs = raw_descs(&mut one, &mut in_iovs);
    // SAFETY: as above.
    assert_eq!(unsafe { a_read.read_raw(&mut descs) }.unwrap(), 1);
    assert_eq!((descs[0].vm_pkt_size, one[0][20]), (64, 9));
}

#[test]
fn raw_calls_get_vmnets_errors() {
    let seg = Segment::new();
    let (mut a, mut b, ma, mb) = two_on(&seg);
    let status = |r: vmnet::Result<usize>| match r {
        Err(Error::Vmnet { status, .. }) => status,
        other => panic!("expected a vmnet error, got {other:?}"),
    };
    let mut iovs = Vec::new();

    let too_many = a.parameters().write_max_packets() + 1;
    let mut frames = vec![frame(mb, ma, 64, 0); too_many];
    let mut descs = raw_descs(&mut frames, &mut iovs);
    // SAFETY: valid descriptors over `frames`; only their number is wrong.
    let r = unsafe { a.write_raw(&mut descs) };
    assert_eq!(status(r), Status::TooManyPackets);

    let mut big = vec![frame(mb, ma, a.parameters().max_packet_size() + 1, 0)];
    let mut descs = raw_descs(&mut big, &mut iovs);
    // SAFETY: as above; the frame is too long for vmnet.
    let r = unsafe { a.write_raw(&mut descs) };
    assert_eq!(status(r), Status::PacketTooBig);

    let mut ok = vec![frame(mb, ma, 600, 1)];
    let mut descs = raw_descs(&mut ok, &mut iovs);
    // SAFETY: as above.
    assert_eq!(unsafe { a.write_raw(&mut descs) }.unwrap(), 1);
    let mut small = vec![vec![0u8; 100]];
    let mut descs = raw_descs(&mut small, &mut iovs);
    // SAFETY: a valid, writable 100-byte buffer; the waiting frame does not fit in it.
    let r = unsafe { b.read_raw(&mut descs) };
    assert_eq!(status(r), Status::InvalidArgument);
    let mut enough = vec![vec![0u8; 600]];
    let mut descs = raw_descs(&mut enough, &mut iovs);
    // SAFETY: as above, now large enough: the frame is still there.
    assert_eq!(unsafe { b.read_raw(&mut descs) }.unwrap(), 1);
    assert_eq!(descs[0].vm_pkt_size, 600);
}

#[test]
fn writes_are_clamped_to_the_write_limit_and_can_continue() {
    let seg = Segment::builder().queue_capacity(1000).build();
    let (mut a, mut b, ma, mb) = two_on(&seg);
    let mut out = PacketBatch::new(300, 1514);
    for i in 0..300u32 {
        out.push(&frame(mb, ma, 64, (i % 256) as u8)).unwrap();
    }
    let first = a.write_batch(&mut out).unwrap();
    assert_eq!(first, 256, "one call carries at most write_max_packets");
    assert_eq!(a.write_batch_from(&mut out, first).unwrap(), 44);
    assert_eq!(a.write_batch_from(&mut out, 300).unwrap(), 0);
    let mut inb = PacketBatch::new(300, 1514);
    assert!(b.wait_readable(Some(SOON)).unwrap());
    assert_eq!(
        b.read_batch(&mut inb).unwrap(),
        256,
        "reads are clamped too"
    );
    assert_eq!(b.read_batch(&mut inb).unwrap(), 44);
}

#[test]
fn oversize_packets_are_rejected_before_anything_is_written() {
    let seg = Segment::new();
    let host = seg.host();
    let mut a = seg.start(&InterfaceConfig::shared()).unwrap();
    let ma = mac_of(&a);
    let big = frame(MacAddr::BROADCAST, ma, 1515, 0);
    assert!(matches!(
        a.write(&big),
        Err(Error::PacketTooBig {
            len: 1515,
            max: 1514,
            ..
        })
    ));
    let mut batch = PacketBatch::new(3, 4096);
    batch.push(&frame(MacAddr::BROADCAST, ma, 60, 0)).unwrap();
    batch.push(&big).unwrap();
    assert!(matches!(
        a.write_batch(&mut batch),
        Err(Error::PacketTooBig { index: 1, .. })
    ));
    assert_eq!(host.pending(), 0, "nothing was written");
    let mut tso = seg.start(&InterfaceConfig::shared().tso(true)).unwrap();
    assert!(tso.write(&frame(MacAddr::BROADCAST, ma, 20000, 0)).unwrap());
}

#[test]
fn full_receive_queues_drop_and_count_exactly() {
    let seg = Segment::builder().queue_capacity(4).build();
    let host = seg.host();
    let mut a = seg.start(&InterfaceConfig::shared()).unwrap();
    let ma = mac_of(&a);
    for i in 0..10 {
        host.send(&frame(ma, host.mac(), 60, i)).unwrap();
    }
    assert_eq!(seg.stats().dropped, 6);
    let mut batch = PacketBatch::for_interface(a.parameters());
    assert!(a.wait_readable(Some(SOON)).unwrap());
    assert_eq!(a.read_batch(&mut batch).unwrap(), 4);
    let tags: Vec<u8> = batch.iter().map(|f| f[20]).collect();
    assert_eq!(tags, [0, 1, 2, 3], "the oldest frames are kept");
    host.send(&frame(ma, host.mac(), 60, 10)).unwrap();
    assert_eq!(seg.stats().dropped, 6, "room again after reading");
    drop(a);
    assert_eq!(seg.stats().dropped, 6, "counts survive detaching");
}

#[test]
fn runt_frames_are_discarded_and_counted() {
    let seg = Segment::new();
    let host = seg.host();
    let _a = seg.start(&InterfaceConfig::shared()).unwrap();
    host.send(&[0xff; 10]).unwrap();
    assert_eq!(seg.stats().runts, 1);
    assert_eq!(seg.stats().delivered, 0);
}

#[test]
fn split_halves_work_from_two_threads_at_once() {
    // Fewer frames when running small (2000 take minutes under Miri); still several batches
    // each way.
    let n = count(2000, 100);
    let Setup {
        seg,
        host,
        mac,
        iface,
    } = setup(n);
    let (mut rx, mut tx) = iface.split();
    let host_mac = host.mac();
    let writer = std::thread::spawn(move || {
        let mut batch = PacketBatch::for_interface(tx.parameters());
        let mut sent = 0;
        while sent < n {
            batch.clear();
            while batch.len() < 64 && sent + batch.len() < n {
                batch
                    .push(&frame(host_mac, mac, 64, (sent + batch.len()) as u8))
                    .unwrap();
            }
            let mut done = 0;
            while done < batch.len() {
                done += tx.write_batch_from(&mut batch, done).unwrap();
            }
            sent += batch.len();
        }
        tx
    });
    let injector = {
        let host = host.clone();
        std::thread::spawn(move || {
            for i in 0..n {
                host.send(&frame(mac, host_mac, 64, i as u8)).unwrap();
            }
        })
    };
    let reader = std::thread::spawn(move || {
        let mut batch = PacketBatch::for_interface(rx.parameters());
        let mut got = 0;
        while got < n {
            if rx.read_batch(&mut batch).unwrap() == 0 {
                assert!(rx.wait_readable(Some(SOON)).unwrap(), "stalled at {got}");
                continue;
            }
            for f in &batch {
                assert_eq!(f[20], got as u8, "in order");
                got += 1;
            }
        }
        rx
    });
    injector.join().unwrap();
    let rx = reader.join().unwrap();
    let tx = writer.join().unwrap();
    let mut seen = 0;
    while host.recv_timeout(Duration::from_millis(100)).is_some() {
        seen += 1;
    }
    assert_eq!(seen, n, "every written frame reached the host");
    assert_eq!(seg.stats().dropped, 0);
    let iface = rx.unsplit(tx).expect("halves of one interface");
    iface.stop().unwrap();
}

#[test]
fn halves_of_different_interfaces_do_not_unsplit() {
    let seg = Segment::new();
    let (r1, _w1) = seg.start(&InterfaceConfig::shared()).unwrap().split();
    let (_r2, w2) = seg.start(&InterfaceConfig::shared()).unwrap().split();
    assert!(r1.unsplit(w2).is_err());
}

#[test]
fn frames_that_arrived_before_anything_observed_events_make_the_first_wait_ready() {
    let seg = Segment::new();
    let host = seg.host();
    let mut iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    // Only read, never observed (no callback, wait or descriptor): the simulator raises no
    // events meanwhile, and must not lose the one due when observation starts.
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    assert_eq!(iface.read_batch(&mut batch).unwrap(), 1);
    host.send(&frame(mac, host.mac(), 60, 2)).unwrap();
    host.send(&frame(mac, host.mac(), 60, 3)).unwrap();
    // Time for the event thread to start and park, so that the wait's wake-up is what
    // raises the event (not a late thread start).
    std::thread::sleep(Duration::from_millis(50));
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    assert_eq!(iface.read_batch(&mut batch).unwrap(), 2);
    assert!(!iface.wait_readable(Some(Duration::ZERO)).unwrap());
    // Observed from now on: the next frame makes it readable again.
    host.send(&frame(mac, host.mac(), 60, 4)).unwrap();
    assert!(iface.wait_readable(Some(SOON)).unwrap());
}

#[test]
fn the_callback_fires_once_per_drain_not_per_packet() {
    let seg = Segment::new();
    let host = seg.host();
    let mut iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    iface.set_event_callback(move |event| {
        assert!(event.estimated_packets().unwrap_or(1) >= 1);
        c.fetch_add(1, Ordering::SeqCst);
    });
    for i in 0..100 {
        host.send(&frame(mac, host.mac(), 60, i)).unwrap();
    }
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    // Give the event thread time to deliver anything it (wrongly) would.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "coalesced while nobody reads"
    );
    let mut batch = PacketBatch::for_interface(iface.parameters());
    while iface.read_batch(&mut batch).unwrap() > 0 {}
    host.send(&frame(mac, host.mac(), 60, 0)).unwrap();
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    within(SOON, move || {
        while calls.load(Ordering::SeqCst) < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

#[test]
fn a_panicking_callback_is_contained() {
    let seg = Segment::new();
    let host = seg.host();
    let mut iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    iface.set_event_callback(|_| panic!("bug in user callback"));
    host.send(&frame(mac, host.mac(), 60, 0)).unwrap();
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    let mut buf = vec![0; 1514];
    assert_eq!(iface.read(&mut buf).unwrap(), Some(60));
    let iface = within(SOON, move || {
        while iface.callback_panics() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        iface
    });
    // Events keep flowing after the panic.
    iface.clear_event_callback();
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    assert!(iface.wait_readable(Some(SOON)).unwrap());
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not implement poll(2)")]
fn the_readiness_descriptor_works_with_poll() {
    use std::os::fd::AsRawFd;
    let seg = Segment::new();
    let host = seg.host();
    let mut iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let poll = |fd: i32, ms: i32| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&raw mut p, 1, ms) };
        n == 1 && p.revents & libc::POLLIN != 0
    };
    let fd = iface.as_raw_fd();
    assert!(!poll(fd, 0), "nothing queued yet");
    host.send(&frame(mac, host.mac(), 60, 0)).unwrap();
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    assert!(poll(fd, 10_000), "readable once packets arrived");
    let mut buf = vec![0; 1514];
    assert_eq!(iface.read(&mut buf).unwrap(), Some(60));
    assert_eq!(iface.read(&mut buf).unwrap(), Some(60));
    assert_eq!(iface.read(&mut buf).unwrap(), None);
    assert!(!poll(fd, 0), "reads cleared readiness");
}

#[test]
fn stop_while_events_fire_is_bounded() {
    // Smaller when running small (20 rounds of 2000 frames take minutes under Miri); each
    // round still races stop against a flood of events.
    let (rounds, frames) = (count(20, 2), count(2000, 100));
    for _ in 0..rounds {
        let seg = Segment::new();
        let host = seg.host();
        let iface = seg.start(&InterfaceConfig::shared()).unwrap();
        let mac = mac_of(&iface);
        iface.set_event_callback(|_| std::thread::yield_now());
        let flood = std::thread::spawn(move || {
            for i in 0..frames {
                host.send(&frame(mac, host.mac(), 60, i as u8)).unwrap();
            }
        });
        within(SOON, move || iface.stop()).unwrap();
        flood.join().unwrap();
    }
}

#[test]
fn dropping_the_interface_from_its_own_callback_does_not_deadlock() {
    let seg = Segment::new();
    let host = seg.host();
    let iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let slot = Arc::new(std::sync::Mutex::new(None::<Interface>));
    let s = slot.clone();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    iface.set_event_callback(move |_| {
        if let Some(iface) = s.lock().unwrap().take() {
            drop(iface);
            d.fetch_add(1, Ordering::SeqCst);
        }
    });
    *slot.lock().unwrap() = Some(iface);
    host.send(&frame(mac, host.mac(), 60, 0)).unwrap();
    within(SOON, move || {
        while dropped.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    assert_eq!(seg.stats().interfaces, 0);
}

#[test]
fn a_stuck_callback_makes_stop_time_out_instead_of_hanging() {
    let seg = Segment::new();
    let host = seg.host();
    let iface = seg
        .start_with(
            &InterfaceConfig::shared(),
            &vmnet::StartOptions::new().stop_timeout(Duration::from_millis(50)),
        )
        .unwrap();
    let mac = mac_of(&iface);
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    iface.set_event_callback(move |_| {
        let _ = entered_tx.send(());
        let _ = release_rx.lock().unwrap().recv_timeout(SOON);
    });
    host.send(&frame(mac, host.mac(), 60, 0)).unwrap();
    entered_rx.recv_timeout(SOON).unwrap();
    match within(SOON, move || iface.stop()) {
        Err(Error::Timeout {
            operation: Operation::Stop,
            ..
        }) => {}
        other => panic!("expected a stop timeout, got {other:?}"),
    }
    release_tx.send(()).unwrap();
}

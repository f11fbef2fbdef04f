//! The simulator's own mechanics: its segment builder (capabilities), its host port, its
//! counters and its bounded queues. The public interface API on every backend is in
//! `api.rs`.
#![cfg(feature = "sim")]

mod common;

use common::{SOON, frame};
use vmnet::sim::Segment;
use vmnet::{Capabilities, Error, Feature, Interface, InterfaceConfig, MacAddr, PacketBatch};

fn mac_of(iface: &Interface) -> MacAddr {
    iface.parameters().mac_address().expect("allocated MAC")
}

#[test]
fn the_segment_is_send() {
    fn send<T: Send>() {}
    send::<Segment>();
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
    match seg.start(&InterfaceConfig::shared().with_virtio_header(true)) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 15.4"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    match seg.start(&InterfaceConfig::shared().with_checksum_offload(true)) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 12.0"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(seg.stats().interfaces, 0, "nothing was started");
}

/// The segment's host port sees every frame on the segment, unicast between interfaces too
/// (the stand-in's host endpoint, like vmnet's outside, does not).
#[test]
fn the_host_port_sees_unicast_between_interfaces() {
    let seg = Segment::new();
    let host = seg.host();
    let mut a = seg.start(&InterfaceConfig::shared()).unwrap();
    let b = seg.start(&InterfaceConfig::shared()).unwrap();
    let f = frame(mac_of(&b), mac_of(&a), 100, 7);
    a.write(&f).unwrap();
    assert!(b.wait_readable(Some(SOON)).unwrap());
    assert_eq!(host.recv().as_deref(), Some(&f[..]));
    let mut buf = vec![0; 1514];
    assert_eq!(a.read(&mut buf).unwrap(), None, "not echoed to the sender");
}

#[test]
fn a_broadcast_counts_one_delivery_per_receiver() {
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
    assert_eq!(
        seg.stats().delivered,
        4,
        "three interfaces and the host port"
    );
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

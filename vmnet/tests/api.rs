//! The public API's behaviour, one test body per behaviour, run on every backend: the
//! simulator (`cargo test`) and the Apple backend on the stand-in vmnet.framework at each
//! macOS level (`cargo xtask standin`). See `common/backend.rs`.
#![cfg(feature = "sim")]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::backend::Net;
use common::{SOON, frame, within};
use vmnet::{
    Error, Feature, Interface, InterfaceConfig, MacAddr, Mode, Network, PacketBatch,
    PortForwardingRule, Protocol, Uuid,
};

fn mac_of(iface: &Interface) -> MacAddr {
    iface.parameters().mac_address().expect("allocated MAC")
}

/// Waits (bounded) for the interface to become readable and reads one batch.
fn read_some(iface: &mut Interface, batch: &mut PacketBatch) -> usize {
    let deadline = Instant::now() + SOON;
    loop {
        let n = iface.read_batch(batch).expect("read_batch");
        if n > 0 {
            return n;
        }
        assert!(Instant::now() < deadline, "no frame arrived");
        iface
            .wait_readable(Some(Duration::from_millis(50)))
            .expect("wait_readable");
    }
}

#[test]
fn start_reports_vmnet_like_parameters() {
    let net = Net::new();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let p = iface.parameters();
    let mac = p.mac_address().unwrap();
    assert!(mac.is_unicast() && mac.is_locally_administered(), "{mac}");
    assert_eq!((p.mtu(), p.max_packet_size()), (1500, 1514));
    let limit = if net.capabilities().has(Feature::PacketLimits) {
        256
    } else {
        vmnet::DEFAULT_MAX_PACKETS_PER_CALL
    };
    assert_eq!(
        (p.read_max_packets(), p.write_max_packets()),
        (limit, limit)
    );
    assert_eq!(p.start_address(), Some(Ipv4Addr::new(192, 168, 105, 1)));
    assert_eq!(p.end_address(), Some(Ipv4Addr::new(192, 168, 105, 254)));
    assert_eq!(p.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
    let prefix = p.nat66_prefix().expect("shared mode has a NAT66 prefix");
    assert_eq!(prefix.segments()[0] & 0xff00, 0xfd00);
    assert!(p.interface_id().is_some());
    iface.stop().unwrap();
}

#[test]
fn configured_range_and_mtu_show_in_parameters() {
    let net = Net::new();
    let cfg = InterfaceConfig::host()
        .address_range(
            Ipv4Addr::new(10, 0, 7, 1),
            Ipv4Addr::new(10, 0, 7, 100),
            Ipv4Addr::new(255, 255, 255, 0),
        )
        .mtu(9000);
    let iface = net.start(&cfg).unwrap();
    let p = iface.parameters();
    assert_eq!(p.start_address(), Some(Ipv4Addr::new(10, 0, 7, 1)));
    assert_eq!(p.end_address(), Some(Ipv4Addr::new(10, 0, 7, 100)));
    assert_eq!((p.mtu(), p.max_packet_size()), (9000, 9014));
    assert_eq!(p.nat66_prefix(), None, "host mode has no NAT66");
    let tso = net.start(&InterfaceConfig::shared().tso(true)).unwrap();
    assert!(tso.parameters().max_packet_size() >= 65535);
}

#[test]
fn the_same_interface_id_gives_the_same_mac() {
    let net = Net::new();
    let id = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let first = mac_of(
        &net.start(&InterfaceConfig::shared().interface_id(id))
            .unwrap(),
    );
    let again = net
        .start(&InterfaceConfig::shared().interface_id(id))
        .unwrap();
    assert_eq!(mac_of(&again), first);
    assert_eq!(again.parameters().interface_id(), Some(id));
}

/// `capabilities()` and the `Unsupported { since }` errors follow the macOS level: the
/// stand-in's level on the Apple backend, everything on the simulator.
#[test]
fn features_follow_the_system_and_are_refused_before_starting() {
    let net = Net::new();
    let caps = net.capabilities();
    #[cfg(vmnet_standin)]
    {
        let expected: &[Feature] = match net.level() {
            "11.0" => &[],
            "12.0" => &[Feature::ChecksumOffload, Feature::IpPortForwarding],
            "15.0" => &[
                Feature::ChecksumOffload,
                Feature::IpPortForwarding,
                Feature::PacketLimits,
            ],
            "15.4" => &[
                Feature::ChecksumOffload,
                Feature::IpPortForwarding,
                Feature::PacketLimits,
                Feature::VirtioHeader,
            ],
            "26.0" => &Feature::ALL,
            other => panic!("unknown stand-in level {other}"),
        };
        assert_eq!(
            caps.iter().collect::<Vec<_>>(),
            expected,
            "level {}",
            net.level()
        );
    }
    let checks = [
        (
            Feature::ChecksumOffload,
            InterfaceConfig::shared().checksum_offload(true),
        ),
        (
            Feature::VirtioHeader,
            InterfaceConfig::shared().virtio_header(true),
        ),
    ];
    for (feature, config) in checks {
        match net.start(&config) {
            Ok(iface) => {
                assert!(caps.has(feature), "{feature} started without the feature");
                iface.stop().unwrap();
            }
            Err(Error::Unsupported { since, .. }) => {
                assert!(!caps.has(feature), "{feature} refused although present");
                assert_eq!(since, feature.since());
            }
            Err(e) => panic!("{feature}: unexpected {e}"),
        }
    }
    let v6 = PortForwardingRule::new(
        Protocol::Tcp,
        8022,
        SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5)), 22),
    );
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    match iface.add_port_forwarding_rule(&v6) {
        Ok(()) => assert!(caps.has(Feature::IpPortForwarding)),
        Err(Error::Unsupported { since, .. }) => {
            assert!(!caps.has(Feature::IpPortForwarding));
            assert_eq!(since, "macOS 12.0");
        }
        Err(e) => panic!("IPv6 rule: unexpected {e}"),
    }
    match net.network_configuration(Mode::Shared) {
        Ok(_) => assert!(caps.has(Feature::NetworkObjects)),
        Err(Error::Unsupported { since, .. }) => {
            assert!(!caps.has(Feature::NetworkObjects));
            assert_eq!(since, "macOS 26.0");
        }
        Err(e) => panic!("network configuration: unexpected {e}"),
    }
}

#[test]
fn invalid_configuration_is_rejected_before_starting() {
    let net = Net::new();
    let bad = InterfaceConfig::shared().start_address(Ipv4Addr::new(192, 168, 1, 1));
    assert!(matches!(net.start(&bad), Err(Error::Config(_))));
}

#[test]
fn reading_with_nothing_queued_is_not_an_error() {
    let net = Net::new();
    let mut iface = net.start(&InterfaceConfig::host()).unwrap();
    let mut batch = PacketBatch::for_interface(iface.parameters());
    assert_eq!(iface.read_batch(&mut batch).unwrap(), 0);
    let mut buf = vec![0u8; iface.parameters().max_packet_size()];
    assert_eq!(iface.read(&mut buf).unwrap(), None);
}

#[test]
fn frames_flow_between_the_network_and_an_interface() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);

    let inbound = frame(mac, host.mac(), 200, 7);
    host.send(&inbound).unwrap();
    let mut batch = PacketBatch::for_interface(iface.parameters());
    assert_eq!(read_some(&mut iface, &mut batch), 1);
    assert_eq!(batch.get(0), Some(&inbound[..]));

    let outbound = frame(host.mac(), mac, 1514, 9);
    assert!(iface.write(&outbound).unwrap());
    assert_eq!(host.recv_timeout(SOON).as_deref(), Some(&outbound[..]));
    iface.stop().unwrap();
}

#[test]
fn unicast_reaches_only_its_owner_and_broadcast_reaches_everyone() {
    let net = Net::new();
    let host = net.host();
    let mut a = net.start(&InterfaceConfig::shared()).unwrap();
    let mut b = net.start(&InterfaceConfig::shared()).unwrap();
    let mut c = net.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (mac_of(&a), mac_of(&b));

    assert!(a.write(&frame(mb, ma, 100, 1)).unwrap());
    let mut batch = PacketBatch::for_interface(b.parameters());
    assert_eq!(read_some(&mut b, &mut batch), 1);
    assert_eq!(batch.get(0).unwrap()[14], 1);

    let bcast = frame(MacAddr::BROADCAST, ma, 100, 2);
    assert!(a.write(&bcast).unwrap());
    for iface in [&mut b, &mut c] {
        assert_eq!(read_some(iface, &mut batch), 1);
        assert_eq!(batch.get(0), Some(&bcast[..]));
    }
    // The network sees the broadcast (the simulator's host also sees unicast frames).
    loop {
        let seen = host
            .recv_timeout(SOON)
            .expect("the broadcast reached the network");
        if seen == bcast {
            break;
        }
    }
    // Nothing came back to the sender, and c never saw the unicast frame.
    assert_eq!(a.read_batch(&mut batch).unwrap(), 0);
    assert_eq!(c.read_batch(&mut batch).unwrap(), 0);
}

#[test]
fn isolated_interfaces_do_not_reach_each_other() {
    let net = Net::new();
    let host = net.host();
    let mut a = net
        .start(&InterfaceConfig::shared().isolation(true))
        .unwrap();
    let mut b = net
        .start(&InterfaceConfig::shared().isolation(true))
        .unwrap();
    let (ma, mb) = (mac_of(&a), mac_of(&b));
    let marker = frame(host.mac(), ma, 64, 3);
    assert!(a.write(&frame(mb, ma, 64, 1)).unwrap());
    assert!(a.write(&marker).unwrap());
    // The host sees the marker, sent after the frame for b: by then b would have it.
    let mut seen = Vec::new();
    while let Some(f) = host.recv_timeout(SOON) {
        let last = f == marker;
        seen.push(f);
        if last {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&marker));
    let mut batch = PacketBatch::for_interface(b.parameters());
    assert_eq!(b.read_batch(&mut batch).unwrap(), 0);
    assert_eq!(a.read_batch(&mut batch).unwrap(), 0);
}

#[test]
fn batches_move_many_packets_in_one_call() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    let n = batch.capacity().min(64);
    for i in 0..n {
        batch
            .push(&frame(host.mac(), mac, 60 + i, i as u8))
            .unwrap();
    }
    assert_eq!(iface.write_batch(&mut batch).unwrap(), n);
    for i in 0..n {
        let f = host.recv_timeout(SOON).expect("frame reached the host");
        assert_eq!(f.len(), 60 + i);
    }
    for i in 0..n {
        host.send(&frame(mac, host.mac(), 100, i as u8)).unwrap();
    }
    let mut got = 0;
    while got < n {
        let read = read_some(&mut iface, &mut batch);
        for (k, f) in batch.iter().take(read).enumerate() {
            assert_eq!(f[14], (got + k) as u8, "frames in order");
        }
        got += read;
    }
    assert_eq!(got, n);
}

#[test]
fn oversize_frames_are_refused_and_nothing_is_sent() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let max = iface.parameters().max_packet_size();
    let err = iface
        .write(&frame(host.mac(), mac, max + 1, 1))
        .unwrap_err();
    assert!(matches!(err, Error::PacketTooBig { .. }), "{err}");
    assert_eq!(host.recv_timeout(Duration::from_millis(50)), None);
}

#[test]
fn split_halves_work_from_two_threads_at_once() {
    let net = Net::new();
    let host = net.host();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let (mut reader, mut writer) = iface.split();
    let count = common::count(200, 20);
    let to_host = host.mac();
    let w = std::thread::spawn(move || {
        for i in 0..count {
            while !writer.write(&frame(to_host, mac, 100, i as u8)).unwrap() {
                std::thread::yield_now();
            }
        }
        writer
    });
    for i in 0..count {
        host.send(&frame(mac, host.mac(), 80, i as u8)).unwrap();
    }
    let mut batch = PacketBatch::for_interface(reader.parameters());
    let mut got = 0;
    let deadline = Instant::now() + SOON;
    while got < count {
        assert!(Instant::now() < deadline, "read {got} of {count}");
        got += reader.read_batch(&mut batch).unwrap();
        if got < count {
            reader
                .wait_readable(Some(Duration::from_millis(50)))
                .unwrap();
        }
    }
    let writer = w.join().unwrap();
    for _ in 0..count {
        host.recv_timeout(SOON)
            .expect("written frame reached the host");
    }
    let iface = reader.unsplit(writer).expect("halves of one interface");
    iface.stop().unwrap();
}

#[test]
fn the_callback_and_the_readiness_descriptor_report_arrivals() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    iface.set_event_callback(move |_event| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    assert!(!iface.wait_readable(Some(Duration::ZERO)).unwrap());
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    let mut pfd = libc::pollfd {
        fd: iface.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the call.
    assert_eq!(unsafe { libc::poll(&mut pfd, 1, 5000) }, 1);
    let deadline = Instant::now() + SOON;
    while calls.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the callback never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut batch = PacketBatch::for_interface(iface.parameters());
    assert_eq!(iface.read_batch(&mut batch).unwrap(), 1);
    assert!(!iface.wait_readable(Some(Duration::ZERO)).unwrap());
    iface.clear_event_callback();
    iface.stop().unwrap();
}

#[test]
fn a_panicking_callback_is_contained() {
    let net = Net::new();
    let host = net.host();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    iface.set_event_callback(|_| panic!("deliberate panic in a callback"));
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    let deadline = Instant::now() + SOON;
    while iface.callback_panics() == 0 {
        assert!(Instant::now() < deadline, "the callback never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    within(SOON, move || iface.stop()).unwrap();
}

#[test]
fn stop_and_drop_are_bounded_and_final() {
    let net = Net::new();
    let host = net.host();
    for _ in 0..common::count(10, 3) {
        let iface = net.start(&InterfaceConfig::shared()).unwrap();
        let mac = mac_of(&iface);
        iface.set_event_callback(|_| {});
        host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
        within(SOON, move || drop(iface));
    }
    let iface = net.start(&InterfaceConfig::host()).unwrap();
    within(SOON, move || iface.stop()).unwrap();
}

#[test]
fn port_forwarding_rules_are_added_listed_and_removed() {
    let net = Net::new();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let v4 = PortForwardingRule::new(Protocol::Tcp, 8022, "192.168.105.5:22".parse().unwrap());
    let udp = PortForwardingRule::new(Protocol::Udp, 5353, "192.168.105.6:53".parse().unwrap());
    iface.add_port_forwarding_rule(&v4).unwrap();
    iface.add_port_forwarding_rule(&udp).unwrap();
    let mut rules = iface.port_forwarding_rules().unwrap();
    rules.sort_by_key(|r| r.external_port);
    assert_eq!(rules, [udp, v4]);
    if net.capabilities().has(Feature::IpPortForwarding) {
        let v6 = PortForwardingRule::new(Protocol::Tcp, 8023, "[fd00::5]:22".parse().unwrap());
        iface.add_port_forwarding_rule(&v6).unwrap();
        assert!(iface.port_forwarding_rules().unwrap().contains(&v6));
        iface
            .remove_port_forwarding_rule(Protocol::Tcp, 8023, vmnet::IpFamily::V6)
            .unwrap();
    }
    iface
        .remove_port_forwarding_rule(Protocol::Tcp, 8022, vmnet::IpFamily::V4)
        .unwrap();
    assert_eq!(iface.port_forwarding_rules().unwrap(), [udp]);
    iface.stop().unwrap();
}

#[test]
fn bridged_interfaces_start_on_a_listed_interface() {
    let net = Net::new();
    let names = net.bridgeable_interfaces();
    assert!(!names.is_empty());
    let iface = net.start(&InterfaceConfig::bridged(&names[0])).unwrap();
    assert!(iface.parameters().mac_address().is_some());
    iface.stop().unwrap();
}

#[test]
fn networks_host_interfaces_and_travel_as_serializations() {
    let net = Net::new();
    if !net.capabilities().has(Feature::NetworkObjects) {
        return; // Refusal before macOS 26 is checked in features_follow_the_system…
    }
    let mut config = net.network_configuration(Mode::Shared).unwrap();
    config
        .set_ipv4_subnet(
            Ipv4Addr::new(192, 168, 77, 1),
            Ipv4Addr::new(255, 255, 255, 0),
        )
        .unwrap();
    let network = Network::new(&config).unwrap();
    assert_eq!(
        network.ipv4_subnet(),
        (
            Ipv4Addr::new(192, 168, 77, 0),
            Ipv4Addr::new(255, 255, 255, 0)
        )
    );
    let (prefix, len) = network.ipv6_prefix();
    assert_eq!((prefix.segments()[0] & 0xff00, len), (0xfd00, 64));

    let mut a = network.start_interface(&InterfaceConfig::shared()).unwrap();
    let serialized = network.serialize().unwrap();
    let again = Network::from_serialization(&serialized).unwrap();
    let mut b = again.start_interface(&InterfaceConfig::shared()).unwrap();
    drop((network, again, serialized));
    // Both interfaces are on the same network: a frame from one reaches the other.
    let (ma, mb) = (mac_of(&a), mac_of(&b));
    assert!(a.write(&frame(mb, ma, 100, 5)).unwrap());
    let mut batch = PacketBatch::for_interface(b.parameters());
    assert_eq!(read_some(&mut b, &mut batch), 1);
    assert_eq!(batch.get(0).unwrap()[14], 5);
    // And not the default network's outside.
    assert_eq!(net.host().recv_timeout(Duration::from_millis(50)), None);
    let _ = a.read_batch(&mut batch).unwrap();
}

#[cfg(feature = "tokio")]
#[test]
fn async_reads_wake_when_frames_arrive() {
    let net = Net::new();
    let host = net.host();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let iface = net.start(&InterfaceConfig::shared()).unwrap();
        let mac = mac_of(&iface);
        let mut aiface = vmnet::async_io::AsyncInterface::new(iface).unwrap();
        let mut batch = PacketBatch::for_interface(aiface.get_ref().parameters());
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            host.send(&frame(mac, host.mac(), 90, 4)).unwrap();
        });
        let n = tokio::time::timeout(SOON, aiface.read_batch(&mut batch))
            .await
            .expect("woken within the bound")
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(batch.get(0).unwrap().len(), 90);
        sender.join().unwrap();
    });
}

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
    Control, Error, Feature, Interface, InterfaceConfig, IpFamily, MacAddr, Network,
    NetworkConfiguration, NetworkInterfaceConfig, NetworkMode, PacketBatch, PortForwardingKey,
    PortForwardingRule, Protocol, Uuid,
};

fn mac_of(iface: &Interface) -> MacAddr {
    iface.parameters().mac_address().expect("allocated MAC")
}

/// Waits (bounded) for the interface to become readable and reads one batch.
fn read_some(iface: &mut Interface, batch: &mut PacketBatch) -> usize {
    read_until_some(iface, |iface| iface.read_batch(batch))
}

/// Calls `read` (a read returning how many packets it took) until it takes some, waiting for
/// readiness in between (bounded); returns how many.
fn read_until_some(
    iface: &mut Interface,
    mut read: impl FnMut(&mut Interface) -> vmnet::Result<usize>,
) -> usize {
    let deadline = Instant::now() + SOON;
    loop {
        let n = read(iface).expect("read");
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
        .with_address_range(
            Ipv4Addr::new(10, 0, 7, 1),
            Ipv4Addr::new(10, 0, 7, 100),
            Ipv4Addr::new(255, 255, 255, 0),
        )
        .with_mtu(9000);
    let iface = net.start(&cfg).unwrap();
    let p = iface.parameters();
    assert_eq!(p.start_address(), Some(Ipv4Addr::new(10, 0, 7, 1)));
    assert_eq!(p.end_address(), Some(Ipv4Addr::new(10, 0, 7, 100)));
    assert_eq!((p.mtu(), p.max_packet_size()), (9000, 9014));
    assert_eq!(p.nat66_prefix(), None, "host mode has no NAT66");
    let tso = net
        .start(&InterfaceConfig::shared().with_tso(true))
        .unwrap();
    assert!(tso.parameters().max_packet_size() >= 65535);
}

#[test]
fn the_same_interface_id_gives_the_same_mac() {
    let net = Net::new();
    let id = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let first = mac_of(
        &net.start(&InterfaceConfig::shared().with_interface_id(id))
            .unwrap(),
    );
    let again = net
        .start(&InterfaceConfig::shared().with_interface_id(id))
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
            caps.features().collect::<Vec<_>>(),
            expected,
            "level {}",
            net.level()
        );
    }
    let checks = [
        (
            Feature::ChecksumOffload,
            InterfaceConfig::shared().with_checksum_offload(true),
        ),
        (
            Feature::VirtioHeader,
            InterfaceConfig::shared().with_virtio_header(true),
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
    match net.network(&NetworkConfiguration::new(NetworkMode::Shared)) {
        Ok(_) => assert!(caps.has(Feature::NetworkObjects)),
        Err(Error::Unsupported { since, .. }) => {
            assert!(!caps.has(Feature::NetworkObjects));
            assert_eq!(since, "macOS 26.0");
        }
        Err(e) => panic!("network: unexpected {e}"),
    }
}

#[test]
fn invalid_configuration_is_rejected_before_starting() {
    let net = Net::new();
    let bad = InterfaceConfig::shared().with_start_address(Ipv4Addr::new(192, 168, 1, 1));
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
    iface.write(&outbound).unwrap();
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

    a.write(&frame(mb, ma, 100, 1)).unwrap();
    let mut batch = PacketBatch::for_interface(b.parameters());
    assert_eq!(read_some(&mut b, &mut batch), 1);
    assert_eq!(batch.get(0).unwrap()[14], 1);

    let bcast = frame(MacAddr::BROADCAST, ma, 100, 2);
    a.write(&bcast).unwrap();
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
        .start(&InterfaceConfig::shared().with_isolation(true))
        .unwrap();
    let mut b = net
        .start(&InterfaceConfig::shared().with_isolation(true))
        .unwrap();
    let (ma, mb) = (mac_of(&a), mac_of(&b));
    let marker = frame(host.mac(), ma, 64, 3);
    a.write(&frame(mb, ma, 64, 1)).unwrap();
    a.write(&marker).unwrap();
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
            while common::not_accepted(writer.write(&frame(to_host, mac, 100, i as u8))) {
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
#[cfg_attr(miri, ignore = "Miri does not implement poll(2)")]
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
        iface.remove_port_forwarding_rule(&v6).unwrap();
    }
    // By key: protocol, host port and family; the guest address is no part of it.
    iface
        .remove_port_forwarding_rule(PortForwardingKey::new(Protocol::Tcp, 8022, IpFamily::V4))
        .unwrap();
    assert_eq!(iface.port_forwarding_rules().unwrap(), [udp]);
    assert!(matches!(
        iface.remove_port_forwarding_rule(&v4),
        Err(Error::Vmnet { .. })
    ));
    iface.stop().unwrap();
}

// `Control` is `Clone + Send + Sync` (checked when this file compiles).
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Control>();
};

/// Adds, lists and removes rules through `control`, `rounds` times, on host ports from `base`:
/// TCP and UDP, IPv6 too where the system has it; removed by rule and by key in turn.
fn manage_forwarding(control: &Control, base: u16, rounds: u16) {
    let v6 = control.capabilities().has(Feature::IpPortForwarding);
    for port in base..base + rounds {
        let tcp = PortForwardingRule::new(Protocol::Tcp, port, "192.168.105.5:22".parse().unwrap());
        let udp = PortForwardingRule::new(Protocol::Udp, port, "192.168.105.6:53".parse().unwrap());
        let tcp6 = PortForwardingRule::new(Protocol::Tcp, port, "[fd00::5]:22".parse().unwrap());
        let mut mine = vec![tcp, udp];
        if v6 {
            mine.push(tcp6);
        }
        for rule in &mine {
            control.add_port_forwarding_rule(rule).unwrap();
        }
        let listed = control.port_forwarding_rules().unwrap();
        for rule in &mine {
            assert!(listed.contains(rule), "{rule} is not in {listed:?}");
        }
        control.remove_port_forwarding_rule(&tcp).unwrap();
        control.remove_port_forwarding_rule(udp.key()).unwrap();
        if v6 {
            control
                .remove_port_forwarding_rule(PortForwardingKey::new(
                    Protocol::Tcp,
                    port,
                    IpFamily::V6,
                ))
                .unwrap();
        }
        let listed = control.port_forwarding_rules().unwrap();
        for rule in &mine {
            assert!(!listed.contains(rule), "{rule} is still in {listed:?}");
        }
    }
}

fn manager_rounds() -> u16 {
    u16::try_from(common::count(20, 3)).unwrap()
}

/// Controls taken before the split and from each half are one interface's: three threads
/// manage its forwarding at once while the halves move frames both ways.
#[test]
fn controls_from_an_interface_and_its_halves_manage_forwarding_while_frames_flow() {
    let net = Net::new();
    let host = net.host();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let before = iface.control();
    let (mut reader, mut writer) = iface.split();
    let controls = [before.clone(), reader.control(), writer.control()];
    assert!(controls.iter().all(|c| c.same_interface(&before)));
    let managers: Vec<_> = controls
        .into_iter()
        .zip([9000, 9100, 9200])
        .map(|(control, base)| {
            std::thread::spawn(move || manage_forwarding(&control, base, manager_rounds()))
        })
        .collect();

    let mut batch = PacketBatch::for_interface(reader.parameters());
    let deadline = Instant::now() + 3 * SOON;
    let mut moved = 0u8;
    while moved < 5 || managers.iter().any(|m| !m.is_finished()) {
        assert!(Instant::now() < deadline, "{moved} frames moved each way");
        host.send(&frame(mac, host.mac(), 60, moved)).unwrap();
        while reader.read_batch(&mut batch).unwrap() == 0 {
            assert!(Instant::now() < deadline, "no frame arrived");
            reader
                .wait_readable(Some(Duration::from_millis(50)))
                .unwrap();
        }
        assert_eq!(batch.get(0).unwrap()[14], moved);
        let out = frame(host.mac(), mac, 60, moved);
        while common::not_accepted(writer.write(&out)) {
            std::thread::yield_now();
        }
        assert_eq!(host.recv_timeout(SOON).as_deref(), Some(&out[..]));
        moved = moved.wrapping_add(1);
    }
    for manager in managers {
        manager.join().unwrap();
    }
    assert!(before.port_forwarding_rules().unwrap().is_empty());
    drop((reader, writer));
    assert!(before.is_stopped());
}

/// A bridge's control manages forwarding while the bridge carries frames, and outlives the
/// bridge: it follows the interface the bridge gives back until that is dropped.
#[test]
#[cfg_attr(miri, ignore = "Miri does not implement Unix-domain sockets")]
fn a_control_from_a_running_bridge_manages_forwarding_while_it_bridges() {
    use std::os::unix::net::UnixDatagram;
    use vmnet::bridge::{self, BridgeOptions};

    let net = Net::new();
    let host = net.host();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let before = iface.control();
    let (vm, ours) = UnixDatagram::pair().unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();
    let running = bridge::spawn(iface, ours, &BridgeOptions::new()).unwrap();
    let control = running.control();
    assert!(control.same_interface(&before));
    let manager = {
        let control = control.clone();
        std::thread::spawn(move || manage_forwarding(&control, 9500, manager_rounds()))
    };

    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + 3 * SOON;
    let mut moved = 0u8;
    while moved < 5 || !manager.is_finished() {
        assert!(Instant::now() < deadline, "{moved} frames bridged each way");
        let inbound = frame(mac, host.mac(), 60, moved);
        host.send(&inbound).unwrap();
        let n = vm.recv(&mut buf).expect("the frame reached the VM");
        assert_eq!(&buf[..n], &inbound[..]);
        let out = frame(host.mac(), mac, 60, moved);
        vm.send(&out).unwrap();
        assert_eq!(host.recv_timeout(SOON).as_deref(), Some(&out[..]));
        moved = moved.wrapping_add(1);
    }
    manager.join().unwrap();

    let exit = running.stop_and_join();
    let iface = exit.interface.expect("the interface comes back");
    let ssh = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.105.2:22".parse().unwrap());
    control.add_port_forwarding_rule(&ssh).unwrap();
    assert_eq!(iface.port_forwarding_rules().unwrap(), [ssh]);
    drop(iface);
    assert!(control.is_stopped());
    assert!(matches!(
        control.port_forwarding_rules(),
        Err(Error::Stopped)
    ));
}

/// A control does not keep the interface running: once the last half is dropped (or the
/// interface stopped), every operation is refused with `Stopped`; what was fixed at start
/// stays readable.
#[test]
fn a_control_reports_stopped_once_the_interface_is_stopped() {
    let net = Net::new();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let params = iface.parameters().clone();
    let control = iface.control();
    assert_eq!(control.capabilities(), net.capabilities());
    let (reader, writer) = iface.split();
    drop(reader);
    assert!(!control.is_stopped(), "the write half still runs it");
    let ssh = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.105.2:22".parse().unwrap());
    control.add_port_forwarding_rule(&ssh).unwrap();
    let clone = control.clone();
    drop(writer);
    for c in [&control, &clone] {
        assert!(c.is_stopped());
        assert!(matches!(
            c.add_port_forwarding_rule(&ssh),
            Err(Error::Stopped)
        ));
        assert!(matches!(
            c.remove_port_forwarding_rule(&ssh),
            Err(Error::Stopped)
        ));
        assert!(matches!(c.port_forwarding_rules(), Err(Error::Stopped)));
        assert_eq!(c.parameters(), &params);
        assert_eq!(c.capabilities(), net.capabilities());
    }

    let iface = net.start(&InterfaceConfig::host()).unwrap();
    let control = iface.control();
    assert!(!control.is_stopped());
    iface.stop().unwrap();
    assert!(control.is_stopped());
    assert!(matches!(
        control.port_forwarding_rules(),
        Err(Error::Stopped)
    ));
}

/// A stop waits for a control operation in progress and refuses every later one: a thread
/// that adds and removes rules while the interface is stopped sees only successes, then
/// `Stopped`, never a failure from a stopping interface.
#[test]
fn control_operations_racing_a_stop_end_in_stopped() {
    let net = Net::new();
    for _ in 0..common::count(10, 2) {
        let iface = net.start(&InterfaceConfig::shared()).unwrap();
        let control = iface.control();
        let rounds = Arc::new(AtomicUsize::new(0));
        let hammer = {
            let rounds = rounds.clone();
            std::thread::spawn(move || {
                let rule = PortForwardingRule::new(
                    Protocol::Tcp,
                    10022,
                    "192.168.105.5:22".parse().unwrap(),
                );
                loop {
                    match control.add_port_forwarding_rule(&rule) {
                        Ok(()) => {}
                        Err(Error::Stopped) => return control,
                        Err(e) => panic!("add: {e}"),
                    }
                    match control.remove_port_forwarding_rule(&rule) {
                        Ok(()) | Err(Error::Stopped) => {}
                        Err(e) => panic!("remove: {e}"),
                    }
                    rounds.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let deadline = Instant::now() + SOON;
        while rounds.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "no control operation completed");
            std::thread::sleep(Duration::from_millis(1));
        }
        within(SOON, move || iface.stop()).unwrap();
        let control = within(SOON, move || hammer.join().unwrap());
        assert!(control.is_stopped());
    }
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
    let config = NetworkConfiguration::new(NetworkMode::Shared).with_ipv4_subnet(
        Ipv4Addr::new(192, 168, 77, 1),
        Ipv4Addr::new(255, 255, 255, 0),
    );
    let network = net.network(&config).unwrap();
    assert_eq!(
        network.ipv4_subnet(),
        (
            Ipv4Addr::new(192, 168, 77, 0),
            Ipv4Addr::new(255, 255, 255, 0)
        )
    );
    let (prefix, len) = network.ipv6_prefix();
    assert_eq!((prefix.segments()[0] & 0xff00, len), (0xfd00, 64));

    let mut a = network
        .start_interface(&NetworkInterfaceConfig::new())
        .unwrap();
    let serialized = network.serialize().unwrap();
    let again = Network::from_serialization(&serialized).unwrap();
    let mut b = again
        .start_interface(&NetworkInterfaceConfig::new())
        .unwrap();
    drop((network, again, serialized));
    // Both interfaces are on the same network: a frame from one reaches the other.
    let (ma, mb) = (mac_of(&a), mac_of(&b));
    a.write(&frame(mb, ma, 100, 5)).unwrap();
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

/// vmnet's maximum packet size excludes the 12-byte virtio-net header: with the header on,
/// the largest packet read or written is that size + 12 (`Parameters::buffer_len`), and
/// `PacketBatch::for_interface`, the read buffers and the write checks allow for it.
#[test]
fn with_the_virtio_header_a_packet_of_max_plus_12_bytes_goes_through_whole() {
    const HEADER: usize = vmnet::Parameters::VIRTIO_HEADER_LEN;
    let net = Net::new();
    if !net.capabilities().has(Feature::VirtioHeader) {
        return; // Refusal before macOS 15.4 is checked in features_follow_the_system…
    }
    let host = net.host();
    let mut iface = net
        .start(&InterfaceConfig::shared().with_virtio_header(true))
        .unwrap();
    let p = iface.parameters().clone();
    assert_eq!(p.max_packet_size(), 1514, "like vmnet: without the header");
    assert!(p.virtio_header());
    assert_eq!(p.buffer_len(), 1514 + HEADER);
    let mac = mac_of(&iface);

    // Out: header + a frame of the maximum size; the network sees the frame whole.
    let out = frame(host.mac(), mac, p.max_packet_size(), 7);
    let mut packet = vec![0u8; HEADER];
    packet.extend_from_slice(&out);
    assert_eq!(packet.len(), p.buffer_len());
    iface.write(&packet).expect("vmnet took the packet");
    assert_eq!(host.recv_timeout(SOON).expect("the frame left"), out);
    // One byte more is refused before vmnet sees it.
    packet.push(0);
    assert!(matches!(
        iface.write(&packet),
        Err(Error::PacketTooBig {
            len: 1527,
            max: 1526,
            ..
        })
    ));

    // In: a frame of the maximum size arrives as header + frame, in a batch and in a buffer.
    let inbound = frame(mac, host.mac(), p.max_packet_size(), 8);
    host.send(&inbound).unwrap();
    let mut batch = PacketBatch::for_interface(&p);
    assert_eq!(batch.slot_size(), p.buffer_len());
    assert_eq!(read_some(&mut iface, &mut batch), 1);
    let got = batch.get(0).unwrap();
    assert_eq!(got.len(), p.buffer_len());
    assert_eq!(&got[HEADER..], &inbound[..]);
    host.send(&inbound).unwrap();
    let mut buf = vec![0u8; p.buffer_len()];
    let deadline = Instant::now() + SOON;
    let n = loop {
        if let Some(n) = iface.read(&mut buf).unwrap() {
            break n;
        }
        assert!(Instant::now() < deadline, "no frame arrived");
        iface
            .wait_readable(Some(Duration::from_millis(50)))
            .unwrap();
    };
    assert_eq!(n, p.buffer_len());
    assert_eq!(&buf[HEADER..n], &inbound[..]);
    // A buffer of only max_packet_size bytes is refused before vmnet is called.
    assert!(matches!(
        iface.read(&mut buf[..p.max_packet_size()]),
        Err(Error::BufferTooSmall {
            len: 1514,
            needed: 1526
        })
    ));
    iface.stop().unwrap();
}

/// No event callback runs after `stop` returns: one that was already running when stop was
/// called has finished by then.
#[test]
fn a_callback_running_when_stop_is_called_has_finished_when_stop_returns() {
    let net = Net::new();
    let host = net.host();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let finished = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let done = finished.clone();
    let entered_tx = std::sync::Mutex::new(entered_tx);
    iface.set_event_callback(move |_| {
        let _ = entered_tx.lock().unwrap().send(());
        std::thread::sleep(Duration::from_millis(200));
        done.fetch_add(1, Ordering::SeqCst);
    });
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    entered.recv_timeout(SOON).expect("the callback ran");
    within(SOON, move || iface.stop()).unwrap();
    let at_return = finished.load(Ordering::SeqCst);
    assert_eq!(at_return, 1, "stop returned while the callback was running");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(finished.load(Ordering::SeqCst), at_return);
}

// The public-API tests that were in sim_interface.rs (which keeps the simulator's own
// mechanics: its segment builder, capacities and counters).

#[test]
fn interfaces_and_halves_are_send() {
    fn send<T: Send>() {}
    send::<Interface>();
    send::<vmnet::ReadHalf>();
    send::<vmnet::WriteHalf>();
    send::<PacketBatch>();
}

#[test]
fn a_stopped_interfaces_id_gives_its_mac_again_and_other_ids_differ() {
    let net = Net::new();
    let id = Uuid::from_u128(0x0fed_cba9_8765_4321_0fed_cba9_8765_4321);
    let cfg = InterfaceConfig::shared().with_interface_id(id);
    let first = net.start(&cfg).unwrap();
    let mac = mac_of(&first);
    first.stop().unwrap();
    let again = net.start(&cfg).unwrap();
    assert_eq!(mac_of(&again), mac);
    let other = net.start(&InterfaceConfig::shared()).unwrap();
    assert_ne!(mac_of(&other), mac);
}

#[test]
fn stop_and_drop_detach_the_interface() {
    let net = Net::new();
    let refused = InterfaceConfig::shared().with_start_address(Ipv4Addr::new(192, 168, 9, 1));
    assert!(net.start(&refused).is_err());
    assert_eq!(
        net.running_interfaces(),
        0,
        "a refused start starts nothing"
    );
    let a = net.start(&InterfaceConfig::shared()).unwrap();
    let b = net.start(&InterfaceConfig::shared()).unwrap();
    assert_eq!(net.running_interfaces(), 2);
    a.stop().unwrap();
    assert_eq!(net.running_interfaces(), 1);
    drop(b);
    assert_eq!(net.running_interfaces(), 0);
}

#[test]
fn a_read_buffer_smaller_than_the_max_packet_size_is_refused() {
    let net = Net::new();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
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
fn an_isolated_interface_still_reaches_interfaces_that_are_not() {
    let net = Net::new();
    let iso = InterfaceConfig::shared().with_isolation(true);
    let mut a = net.start(&iso).unwrap();
    let mut b = net.start(&iso).unwrap();
    let mut open = net.start(&InterfaceConfig::shared()).unwrap();
    let mut buf = vec![0; 1514];
    a.write(&frame(mac_of(&b), mac_of(&a), 80, 1)).unwrap();
    a.write(&frame(mac_of(&open), mac_of(&a), 80, 2)).unwrap();
    assert!(open.wait_readable(Some(SOON)).unwrap());
    assert_eq!(open.read(&mut buf).unwrap(), Some(80));
    assert_eq!(buf[20], 2);
    // Written before the frame `open` got: b would have it by now.
    assert_eq!(b.read(&mut buf).unwrap(), None, "isolated from a");
}

#[test]
fn a_batch_between_interfaces_arrives_whole_and_in_order() {
    let net = Net::new();
    let mut a = net.start(&InterfaceConfig::shared()).unwrap();
    let mut b = net.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (mac_of(&a), mac_of(&b));
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
fn raw_descs(
    bufs: &mut [Vec<u8>],
    iovs: &mut Vec<vmnet::ffi::iovec>,
) -> Vec<vmnet::ffi::vmpktdesc> {
    iovs.clear();
    iovs.extend(bufs.iter_mut().map(|b| vmnet::ffi::iovec {
        iov_base: b.as_mut_ptr().cast(),
        iov_len: b.len(),
    }));
    let first = iovs.as_mut_ptr();
    (0..iovs.len())
        .map(|i| vmnet::ffi::vmpktdesc {
            vm_pkt_size: bufs[i].len(),
            vm_pkt_iov: first.wrapping_add(i),
            vm_pkt_iovcnt: 1,
            vm_flags: 0,
        })
        .collect()
}

#[test]
fn raw_descriptors_move_frames_and_reads_clear_readiness() {
    let net = Net::new();
    let (mut a_read, mut a_write) = net.start(&InterfaceConfig::shared()).unwrap().split();
    let mut b = net.start(&InterfaceConfig::shared()).unwrap();
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
    b.write(&frame(ma, mb, 64, 9)).unwrap();
    assert!(a_read.wait_readable(Some(SOON)).unwrap());
    let mut one = vec![vec![0u8; max]];
    let mut descs = raw_descs(&mut one, &mut in_iovs);
    // SAFETY: as above.
    assert_eq!(unsafe { a_read.read_raw(&mut descs) }.unwrap(), 1);
    assert_eq!((descs[0].vm_pkt_size, one[0][20]), (64, 9));
}

#[test]
fn raw_calls_get_vmnets_errors() {
    use vmnet::Status;
    let net = Net::new();
    let mut a = net.start(&InterfaceConfig::shared()).unwrap();
    let mut b = net.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (mac_of(&a), mac_of(&b));
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
    assert!(b.wait_readable(Some(SOON)).unwrap());
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
    let net = Net::new();
    let mut a = net.start(&InterfaceConfig::shared()).unwrap();
    let mut b = net.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (mac_of(&a), mac_of(&b));
    let (write_max, read_max) = (
        a.parameters().write_max_packets(),
        b.parameters().read_max_packets(),
    );
    let mut out = PacketBatch::new(300, 1514);
    for i in 0..300u32 {
        out.push(&frame(mb, ma, 64, (i % 256) as u8)).unwrap();
    }
    let first = a.write_batch(&mut out).unwrap();
    assert_eq!(
        first, write_max,
        "one call carries at most write_max_packets"
    );
    assert_eq!(a.write_batch_from(&mut out, first).unwrap(), 300 - first);
    assert_eq!(a.write_batch_from(&mut out, 300).unwrap(), 0);
    let mut inb = PacketBatch::new(300, 1514);
    assert!(b.wait_readable(Some(SOON)).unwrap());
    assert_eq!(
        b.read_batch(&mut inb).unwrap(),
        read_max,
        "reads are clamped too"
    );
    assert_eq!(b.read_batch(&mut inb).unwrap(), 300 - read_max);
}

#[test]
fn an_oversize_packet_in_a_batch_is_rejected_before_anything_is_written() {
    let net = Net::new();
    let host = net.host();
    let mut a = net.start(&InterfaceConfig::shared()).unwrap();
    let ma = mac_of(&a);
    let big = frame(MacAddr::BROADCAST, ma, 1515, 0);
    let mut batch = PacketBatch::new(3, 4096);
    batch.push(&frame(MacAddr::BROADCAST, ma, 60, 0)).unwrap();
    batch.push(&big).unwrap();
    assert!(matches!(
        a.write_batch(&mut batch),
        Err(Error::PacketTooBig {
            index: 1,
            len: 1515,
            max: 1514
        })
    ));
    assert_eq!(
        host.recv_timeout(Duration::from_millis(50)),
        None,
        "nothing was written"
    );
    let mut tso = net
        .start(&InterfaceConfig::shared().with_tso(true))
        .unwrap();
    tso.write(&frame(MacAddr::BROADCAST, ma, 20000, 0)).unwrap();
}

#[test]
fn split_halves_move_batches_from_three_threads_at_once() {
    // Within both backends' receive queues (1024 frames) however the threads are scheduled;
    // fewer when running small (under Miri), still several batches each way.
    let n = common::count(1000, 100);
    let net = Net::new();
    let common::NetSetup { host, mac, iface } = common::net_setup(&net);
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
    assert_eq!(net.dropped(), 0);
    let iface = rx.unsplit(tx).expect("halves of one interface");
    iface.stop().unwrap();
}

#[test]
fn halves_of_different_interfaces_do_not_unsplit() {
    let net = Net::new();
    let (r1, _w1) = net.start(&InterfaceConfig::shared()).unwrap().split();
    let (_r2, w2) = net.start(&InterfaceConfig::shared()).unwrap().split();
    assert!(r1.unsplit(w2).is_err());
}

#[test]
fn frames_that_arrived_before_anything_observed_events_make_the_first_wait_ready() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let mut batch = PacketBatch::for_interface(iface.parameters());
    // Only read, never observed (no callback, wait or descriptor): no event may be lost
    // that is due when observation starts (the simulator raises none meanwhile).
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    assert_eq!(read_some(&mut iface, &mut batch), 1);
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
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
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
fn readiness_survives_a_panicking_callback() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
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
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
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
    // Both frames are queued once the second is readable.
    let mut batch = PacketBatch::for_interface(iface.parameters());
    let mut got = read_some(&mut iface, &mut batch);
    if got < 2 {
        got += read_some(&mut iface, &mut batch);
    }
    assert_eq!(got, 2);
    assert_eq!(iface.read_batch(&mut batch).unwrap(), 0);
    assert!(!poll(fd, 0), "reads cleared readiness");
}

#[test]
fn stop_while_events_fire_is_bounded() {
    // Smaller when running small (20 rounds of 2000 frames take minutes under Miri); each
    // round still races stop against a flood of events.
    let (rounds, frames) = (common::count(20, 2), common::count(2000, 100));
    let net = Net::new();
    for _ in 0..rounds {
        let host = net.host();
        let iface = net.start(&InterfaceConfig::shared()).unwrap();
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
    let net = Net::new();
    let host = net.host();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
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
    assert_eq!(net.running_interfaces(), 0);
}

#[test]
fn a_stuck_callback_makes_stop_time_out_instead_of_hanging() {
    let net = Net::new();
    let host = net.host();
    let iface = net
        .start_with(
            &InterfaceConfig::shared(),
            &vmnet::StartOptions::new().with_stop_timeout(Duration::from_millis(50)),
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
            operation: vmnet::Operation::Stop,
            ..
        }) => {}
        other => panic!("expected a stop timeout, got {other:?}"),
    }
    release_tx.send(()).unwrap();
}

/// A batch with room for more packets than one read may take: each read hands vmnet at most
/// `read_max_packets` descriptors (vmnet refuses more with `VMNET_TOO_MANY_PACKETS`), and the
/// frames arrive in order over several reads.
#[test]
fn reads_into_a_batch_larger_than_the_read_limit_take_at_most_the_limit() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let limit = iface.parameters().read_max_packets();
    let n = limit + 8;
    let mut batch = PacketBatch::new(n, iface.parameters().max_packet_size());
    assert!(batch.capacity() > limit);
    for i in 0..n {
        host.send(&frame(mac, host.mac(), 60, i as u8)).unwrap();
    }
    let mut got = 0;
    while got < n {
        let read = read_some(&mut iface, &mut batch);
        assert!(
            read <= limit,
            "one read took {read} packets, the limit is {limit}"
        );
        for (k, f) in batch.iter().enumerate() {
            assert_eq!(f[14], (got + k) as u8, "frames in order");
        }
        got += read;
    }
    assert_eq!(got, n);
    iface.stop().unwrap();
}

/// A batch holding more packets than one write may take: `write_batch` writes the first
/// `write_max_packets` (vmnet refuses more with `VMNET_TOO_MANY_PACKETS`) and
/// `write_batch_from` the rest; the network gets every frame, in order.
#[test]
fn writes_of_a_batch_larger_than_the_write_limit_take_at_most_the_limit() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let limit = iface.parameters().write_max_packets();
    let n = limit + 8;
    let mut batch = PacketBatch::new(n, iface.parameters().max_packet_size());
    for i in 0..n {
        batch.push(&frame(host.mac(), mac, 60, i as u8)).unwrap();
    }
    assert_eq!(iface.write_batch(&mut batch).unwrap(), limit);
    assert_eq!(
        iface.write_batch_from(&mut batch, limit).unwrap(),
        n - limit
    );
    for i in 0..n {
        let f = host
            .recv_timeout(SOON)
            .expect("every frame reached the network");
        assert_eq!(f[14], i as u8, "frames in order");
    }
    iface.stop().unwrap();
}

/// Reads into caller buffers until something arrives (bounded); returns how many packets.
fn read_into_some<B: AsMut<[u8]>>(
    iface: &mut Interface,
    descs: &mut vmnet::Descriptors,
    bufs: &mut [B],
) -> usize {
    read_until_some(iface, |iface| iface.read_into(descs, bufs))
}

/// Frames move through buffers the caller owns, with no `unsafe`: from the network into
/// slices of one "guest memory" region (each packet's length in `lens`), and from the caller's
/// slices to the network, whole and in order; reads clear readiness like any read.
#[test]
fn caller_buffers_receive_and_send_frames_without_unsafe() {
    use vmnet::Descriptors;
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let len = iface.parameters().buffer_len();
    let mut descs = Descriptors::for_interface(iface.parameters());
    assert!(descs.lens().is_empty(), "no read yet");

    let sent: Vec<Vec<u8>> = (0..3u8)
        .map(|i| frame(mac, host.mac(), 60 + usize::from(i) * 500, i + 1))
        .collect();
    for f in &sent {
        host.send(f).unwrap();
    }
    let mut guest = vec![0u8; 4 * len];
    let mut bufs: Vec<&mut [u8]> = guest.chunks_mut(len).collect();
    let mut got = 0;
    while got < sent.len() {
        let n = read_into_some(&mut iface, &mut descs, &mut bufs);
        assert_eq!(descs.lens().len(), n);
        for (k, &l) in descs.lens().iter().enumerate() {
            assert_eq!(
                &bufs[k][..l],
                &sent[got + k][..],
                "frame {} whole, in order",
                got + k
            );
        }
        got += n;
    }
    assert_eq!(got, 3);
    assert!(
        !iface.wait_readable(Some(Duration::ZERO)).unwrap(),
        "read_into clears readiness like any read"
    );
    assert_eq!(iface.read_into(&mut descs, &mut bufs).unwrap(), 0);
    assert!(descs.lens().is_empty(), "nothing read");

    // And out: frames wherever the caller keeps them (here two owned, one borrowed).
    let out = [
        frame(host.mac(), mac, 64, 7),
        frame(MacAddr::BROADCAST, mac, 1514, 8),
    ];
    let third = frame(host.mac(), mac, 300, 9);
    let frames: [&[u8]; 3] = [&out[0], &out[1], &third];
    assert_eq!(iface.write_from(&mut descs, &frames).unwrap(), 3);
    assert!(descs.lens().is_empty(), "a write has no read lengths");
    for f in frames {
        assert_eq!(
            host.recv_timeout(SOON).as_deref(),
            Some(f),
            "whole, in order"
        );
    }
    // Owned buffers work as well as slices.
    assert_eq!(iface.write_from(&mut descs, &out).unwrap(), 2);
    assert_eq!(host.recv_timeout(SOON).as_deref(), Some(&out[0][..]));
    assert_eq!(host.recv_timeout(SOON).as_deref(), Some(&out[1][..]));
    assert_eq!(iface.write_from(&mut descs, &[] as &[&[u8]]).unwrap(), 0);
    iface.stop().unwrap();
}

/// The halves take caller buffers too, from two threads at once, each with its own
/// descriptors.
#[test]
fn split_halves_read_into_and_write_from_caller_buffers() {
    use vmnet::Descriptors;
    let net = Net::new();
    let (mut a_read, mut a_write) = net.start(&InterfaceConfig::shared()).unwrap().split();
    let mut b = net.start(&InterfaceConfig::shared()).unwrap();
    let (ma, mb) = (a_read.parameters().mac_address().unwrap(), mac_of(&b));
    let frames: Vec<Vec<u8>> = (0..20u8)
        .map(|i| frame(mb, ma, 60 + usize::from(i), i))
        .collect();
    let writer = std::thread::spawn(move || {
        let mut descs = Descriptors::for_interface(a_write.parameters());
        let mut sent = 0;
        while sent < frames.len() {
            sent += a_write.write_from(&mut descs, &frames[sent..]).unwrap();
        }
        a_write
    });
    let mut descs = Descriptors::for_interface(b.parameters());
    let mut bufs = vec![vec![0u8; b.parameters().buffer_len()]; 8];
    let mut got = 0;
    while got < 20 {
        let n = read_into_some(&mut b, &mut descs, &mut bufs);
        for (k, &l) in descs.lens().iter().enumerate() {
            assert_eq!(
                (l, bufs[k][20]),
                (60 + got + k, (got + k) as u8),
                "in order"
            );
        }
        got += n;
    }
    let a_write = writer.join().unwrap();

    b.write(&frame(ma, mb, 64, 42)).unwrap();
    assert!(a_read.wait_readable(Some(SOON)).unwrap());
    let mut descs = Descriptors::new(1);
    let mut one = [[0u8; 1514]];
    assert_eq!(a_read.read_into(&mut descs, &mut one).unwrap(), 1);
    assert_eq!((descs.lens(), one[0][20]), (&[64][..], 42));
    a_read
        .unsplit(a_write)
        .expect("halves of one interface")
        .stop()
        .unwrap();
}

/// One call carries at most the interface's per-call limit and the descriptors' capacity;
/// the rest of the buffers are left alone, and a write continues from the count it returned.
#[test]
fn caller_buffer_calls_respect_the_per_call_limits_and_the_capacity() {
    use vmnet::Descriptors;
    assert_eq!(
        Descriptors::new(usize::MAX).capacity(),
        vmnet::MAX_BATCH_PACKETS,
        "clamped like a batch"
    );
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let p = iface.parameters().clone();
    let (read_max, write_max) = (p.read_max_packets(), p.write_max_packets());
    let n = read_max.max(write_max) + 8;
    let mut descs = Descriptors::new(n);
    assert_eq!(descs.capacity(), n);

    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| frame(host.mac(), mac, 60, i as u8))
        .collect();
    assert_eq!(iface.write_from(&mut descs, &frames).unwrap(), write_max);
    assert_eq!(
        iface.write_from(&mut descs, &frames[write_max..]).unwrap(),
        n - write_max
    );
    for i in 0..n {
        let f = host
            .recv_timeout(SOON)
            .expect("every frame reached the network");
        assert_eq!(f[14], i as u8, "frames in order");
    }

    for i in 0..n {
        host.send(&frame(mac, host.mac(), 60, i as u8)).unwrap();
    }
    let mut bufs = vec![vec![0u8; p.buffer_len()]; n];
    let mut got = 0;
    while got < n {
        let read = read_into_some(&mut iface, &mut descs, &mut bufs);
        assert!(
            read <= read_max,
            "one read took {read}, the limit is {read_max}"
        );
        for (k, &l) in descs.lens().iter().enumerate() {
            assert_eq!((l, bufs[k][14]), (60, (got + k) as u8), "frames in order");
        }
        got += read;
    }

    // A small capacity bounds a call too.
    let mut two = Descriptors::new(2);
    assert_eq!(iface.write_from(&mut two, &frames[..3]).unwrap(), 2);
    for i in 0..2 {
        assert_eq!(host.recv_timeout(SOON).unwrap()[14], i as u8);
    }
    for i in 0..3 {
        host.send(&frame(mac, host.mac(), 60, i)).unwrap();
    }
    let mut got = 0;
    while got < 3 {
        let read = read_into_some(&mut iface, &mut two, &mut bufs);
        assert!(read <= 2);
        got += read;
    }
    let mut empty = Descriptors::new(0);
    assert_eq!(iface.read_into(&mut empty, &mut bufs).unwrap(), 0);
    assert_eq!(iface.write_from(&mut empty, &frames).unwrap(), 0);
    iface.stop().unwrap();
}

/// A buffer shorter than `buffer_len` is refused before anything is read (the frame waits for
/// a good one), a buffer past what a call uses is not looked at, and a frame larger than
/// `buffer_len` is refused, naming it, before anything is written.
#[test]
fn caller_buffer_calls_check_sizes_before_calling_vmnet() {
    use vmnet::Descriptors;
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = mac_of(&iface);
    let len = iface.parameters().buffer_len();
    let mut descs = Descriptors::for_interface(iface.parameters());

    host.send(&frame(mac, host.mac(), 100, 5)).unwrap();
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    let mut short = vec![vec![0u8; len], vec![0u8; len - 1]];
    assert!(matches!(
        iface.read_into(&mut descs, &mut short),
        Err(Error::BufferTooSmall { len: l, needed }) if l == len - 1 && needed == len
    ));
    assert!(descs.lens().is_empty());
    // One descriptor: only the first buffer is used, so the short one does not matter.
    let mut one = Descriptors::new(1);
    assert_eq!(read_into_some(&mut iface, &mut one, &mut short), 1);
    assert_eq!(
        (one.lens(), short[0][20]),
        (&[100][..], 5),
        "the frame waited"
    );

    let ok = frame(host.mac(), mac, 60, 1);
    let big = frame(host.mac(), mac, len + 1, 2);
    assert!(matches!(
        iface.write_from(&mut descs, &[&ok[..], &big[..]]),
        Err(Error::PacketTooBig { index: 1, len: l, max }) if l == len + 1 && max == len
    ));
    assert_eq!(
        host.recv_timeout(Duration::from_millis(50)),
        None,
        "nothing was written"
    );
    // Past the capacity, the big frame is not looked at either.
    assert_eq!(iface.write_from(&mut one, &[&ok[..], &big[..]]).unwrap(), 1);
    assert_eq!(host.recv_timeout(SOON), Some(ok));
    iface.stop().unwrap();
}

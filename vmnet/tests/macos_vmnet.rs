//! Tests against the real vmnet.framework.
//!
//! They need macOS and privileges (root, or the `com.apple.vm.networking` entitlement; on
//! macOS 26 possibly the virtualization entitlement), so they are `#[ignore]`d and run by the
//! macOS workflow with `sudo cargo test -- --ignored`.
#![cfg(target_os = "macos")]
#![deny(unsafe_code)]

use std::time::Duration;

use vmnet::{Capabilities, Feature, Interface, InterfaceConfig, PacketBatch};

#[test]
fn capabilities_match_the_running_macos() {
    let caps = vmnet::capabilities();
    // Every supported macOS (11+) that runs CI today is 12 or newer.
    assert!(caps.has(Feature::IpPortForwarding), "{caps:?}");
    assert!(caps.has(Feature::ChecksumOffload), "{caps:?}");
    assert_ne!(caps, Capabilities::BASELINE);
}

#[test]
#[ignore = "needs root or the com.apple.vm.networking entitlement"]
fn shared_interface_starts_reports_parameters_and_stops() {
    let iface = Interface::start(&InterfaceConfig::shared()).expect("start (are you root?)");
    let p = iface.parameters();
    assert!(p.mac_address().is_some());
    assert_eq!(p.mtu(), 1500);
    assert!(p.max_packet_size() >= 1514);
    assert!(p.start_address().is_some());
    iface.stop().expect("stop");
}

#[test]
#[ignore = "needs root or the com.apple.vm.networking entitlement"]
fn host_interface_reads_nothing_without_traffic_and_writes_a_frame() {
    let mut iface = Interface::start(&InterfaceConfig::host()).expect("start (are you root?)");
    let mut batch = PacketBatch::for_interface(iface.parameters());
    // Reading may return 0 or stray host traffic; it must not fail.
    iface.read_batch(&mut batch).expect("read_batch");
    let mac = iface.parameters().mac_address().unwrap();
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&mac.octets());
    frame.extend_from_slice(&[0x88, 0xb5]);
    frame.resize(60, 0);
    iface.write(&frame).expect("write");
    let _ = iface.wait_readable(Some(Duration::from_millis(200)));
    drop(iface); // stops with a bounded wait
}

#[test]
#[ignore = "needs root or the com.apple.vm.networking entitlement"]
fn dropping_many_interfaces_never_hangs() {
    for _ in 0..5 {
        let iface = Interface::start(&InterfaceConfig::shared()).expect("start");
        iface.set_event_callback(|_| {});
        drop(iface);
    }
}

#[test]
fn bridgeable_interfaces_are_listed_without_privileges() {
    // Every Mac (and CI runner) has at least one Ethernet-like interface.
    let names = vmnet::bridgeable_interfaces().expect("list");
    assert!(
        names.iter().all(|n| !n.is_empty() && n.len() <= 15),
        "{names:?}"
    );
}

#[test]
#[ignore = "needs root or the com.apple.vm.networking entitlement"]
fn port_forwarding_round_trip_on_a_shared_interface() {
    use vmnet::{PortForwardingRule, Protocol};
    let iface = Interface::start(&InterfaceConfig::shared()).expect("start");
    let gateway = iface
        .parameters()
        .start_address()
        .expect("shared mode has a range");
    let guest = std::net::Ipv4Addr::from(u32::from(gateway) + 1);
    let rule = PortForwardingRule::new(Protocol::Tcp, 42022, (guest, 22).into());
    iface.add_port_forwarding_rule(&rule).expect("add");
    assert!(iface.port_forwarding_rules().expect("list").contains(&rule));
    iface.remove_port_forwarding_rule(&rule).expect("remove");
    assert!(!iface.port_forwarding_rules().expect("list").contains(&rule));
}

#[test]
#[ignore = "needs macOS 26, and root or the virtualization entitlement"]
fn network_objects_round_trip_on_macos_26() {
    use vmnet::{Network, NetworkConfiguration, NetworkInterfaceConfig, NetworkMode};
    if !vmnet::capabilities().has(Feature::NetworkObjects) {
        eprintln!("skipped: this macOS has no network objects");
        return;
    }
    let config = NetworkConfiguration::new(NetworkMode::Shared)
        .with_ipv4_subnet([192, 168, 77, 1].into(), [255, 255, 255, 0].into());
    let network = Network::new(&config).expect("network");
    assert_eq!(
        network.ipv4_subnet().0,
        std::net::Ipv4Addr::new(192, 168, 77, 0)
    );
    let serialized = network.serialize().expect("serialize");
    assert!(serialized.as_raw().is_some());
    let again = Network::from_serialization(&serialized).expect("deserialize");
    let iface = again
        .start_interface(&NetworkInterfaceConfig::new())
        .expect("start on network");
    assert!(iface.parameters().mac_address().is_some());
    iface.stop().expect("stop");
}

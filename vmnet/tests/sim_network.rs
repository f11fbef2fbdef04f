//! Bridgeable interfaces, port forwarding and network objects, on the simulator.
#![cfg(feature = "sim")]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::{SOON, frame};
use vmnet::sim::Segment;
use vmnet::{
    Capabilities, Error, Feature, InterfaceConfig, IpFamily, MacAddr, Mode, Network,
    NetworkConfigError, NetworkConfiguration, PortForwardingKey, PortForwardingRule, Protocol,
    Status,
};

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

const MASK24: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);

fn config(mode: Mode) -> NetworkConfiguration {
    vmnet::sim::network_configuration(mode).unwrap()
}

fn net_err(r: vmnet::Result<()>) -> NetworkConfigError {
    match r {
        Err(Error::NetworkConfig(e)) => e,
        other => panic!("expected a NetworkConfigError, got {other:?}"),
    }
}

#[test]
fn bridgeable_interfaces_come_from_the_segment() {
    #[cfg(not(vmnet_framework))]
    assert_eq!(vmnet::bridgeable_interfaces().unwrap(), ["sim0"]);
    let seg = Segment::builder()
        .bridgeable_interfaces(["en0", "en1"])
        .build();
    assert_eq!(seg.bridgeable_interfaces(), ["en0", "en1"]);
}

#[test]
fn port_forwarding_rules_are_added_listed_and_removed() {
    let seg = Segment::new();
    let iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let ssh = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.105.2:22".parse().unwrap());
    let dns6 = PortForwardingRule::new(Protocol::Udp, 5353, "[fd00::2]:53".parse().unwrap());
    iface.add_port_forwarding_rule(&ssh).unwrap();
    iface.add_port_forwarding_rule(&dns6).unwrap();
    assert_eq!(iface.port_forwarding_rules().unwrap(), [ssh, dns6]);
    // The same protocol, port and family twice is refused, as vmnet does.
    assert!(matches!(
        iface.add_port_forwarding_rule(&ssh),
        Err(Error::Vmnet {
            status: Status::InvalidArgument,
            ..
        })
    ));
    // Removed by its key: protocol, host port and family (the guest address is no part of it).
    iface
        .remove_port_forwarding_rule(PortForwardingKey::new(Protocol::Tcp, 2222, IpFamily::V4))
        .unwrap();
    assert_eq!(iface.port_forwarding_rules().unwrap(), [dns6]);
    assert!(matches!(
        iface.remove_port_forwarding_rule(&ssh),
        Err(Error::Vmnet { .. })
    ));
}

#[test]
fn port_forwarding_input_is_checked_first() {
    let seg = Segment::new();
    let iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let zero = PortForwardingRule::new(Protocol::Tcp, 0, "192.168.105.2:22".parse().unwrap());
    assert_eq!(
        net_err(iface.add_port_forwarding_rule(&zero)),
        NetworkConfigError::ZeroPort { which: "external" }
    );
    assert!(iface.port_forwarding_rules().unwrap().is_empty());
}

#[test]
fn ipv6_port_forwarding_needs_macos_12() {
    let seg = Segment::builder()
        .capabilities(Capabilities::BASELINE)
        .build();
    let iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let v6 = PortForwardingRule::new(Protocol::Tcp, 80, "[fd00::2]:80".parse().unwrap());
    match iface.add_port_forwarding_rule(&v6) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 12.0"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let v4 = PortForwardingRule::new(Protocol::Tcp, 80, "192.168.105.2:80".parse().unwrap());
    iface.add_port_forwarding_rule(&v4).unwrap();
    assert!(matches!(
        iface.remove_port_forwarding_rule(&v6),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn network_objects_need_macos_26() {
    let seg = Segment::builder()
        .capabilities(Capabilities::ALL.without(Feature::NetworkObjects))
        .build();
    match seg.network_configuration(Mode::Shared) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 26.0"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn bridged_networks_are_refused() {
    assert!(matches!(
        vmnet::sim::network_configuration(Mode::Bridged),
        Err(Error::NetworkConfig(NetworkConfigError::BridgedNetwork))
    ));
}

#[test]
fn external_interface_rules() {
    let mut host = config(Mode::Host);
    assert_eq!(
        net_err(host.set_external_interface("en0")),
        NetworkConfigError::ExternalInterfaceInHostMode
    );
    let mut shared = config(Mode::Shared);
    for bad in ["", "a-very-long-ifname", "en\u{0}0"] {
        assert!(matches!(
            net_err(shared.set_external_interface(bad)),
            NetworkConfigError::InvalidInterfaceName { .. }
        ));
    }
    shared.set_external_interface("en0").unwrap();
}

#[test]
fn subnet_mask_must_be_contiguous_and_leave_room() {
    let mut c = config(Mode::Shared);
    for mask in [ip(255, 0, 255, 0), ip(255, 255, 255, 254)] {
        assert_eq!(
            net_err(c.set_ipv4_subnet(ip(192, 168, 77, 1), mask)),
            NetworkConfigError::InvalidSubnetMask { mask }
        );
    }
}

#[test]
fn subnet_network_address_form_is_refused_with_the_safe_form() {
    let mut c = config(Mode::Shared);
    assert_eq!(
        net_err(c.set_ipv4_subnet(ip(192, 168, 77, 0), MASK24)),
        NetworkConfigError::SubnetIsNetworkAddress {
            address: ip(192, 168, 77, 0),
            use_instead: ip(192, 168, 77, 1),
        }
    );
    assert_eq!(
        net_err(c.set_ipv4_subnet(ip(192, 168, 77, 255), MASK24)),
        NetworkConfigError::SubnetIsBroadcastAddress {
            address: ip(192, 168, 77, 255)
        }
    );
}

#[test]
fn subnet_must_be_private() {
    let mut c = config(Mode::Shared);
    assert!(matches!(
        net_err(c.set_ipv4_subnet(ip(8, 8, 8, 1), MASK24)),
        NetworkConfigError::SubnetNotPrivate { .. }
    ));
    // Starts in 10/8 but the /7 spills outside it.
    assert!(matches!(
        net_err(c.set_ipv4_subnet(ip(10, 0, 0, 1), ip(254, 0, 0, 0))),
        NetworkConfigError::SubnetNotPrivate { .. }
    ));
    c.set_ipv4_subnet(ip(172, 20, 0, 1), ip(255, 255, 0, 0))
        .unwrap();
}

#[test]
fn ipv6_prefix_rules() {
    let mut c = config(Mode::Shared);
    let ula: Ipv6Addr = "fd12:3456:789a:1::".parse().unwrap();
    assert!(matches!(
        net_err(c.set_ipv6_prefix("2001:db8::".parse().unwrap(), 64)),
        NetworkConfigError::Ipv6PrefixNotUla { .. }
    ));
    assert_eq!(
        net_err(c.set_ipv6_prefix(ula, 40)),
        NetworkConfigError::Ipv6PrefixLength { len: 40 }
    );
    assert!(matches!(
        net_err(c.set_ipv6_prefix("fd12:3456:789a:1::5".parse().unwrap(), 64)),
        NetworkConfigError::Ipv6PrefixHostBits { .. }
    ));
    c.set_ipv6_prefix(ula, 64).unwrap();
}

#[test]
fn dhcp_reservation_rules() {
    let mut c = config(Mode::Shared);
    c.set_ipv4_subnet(ip(192, 168, 77, 1), MASK24).unwrap();
    let guest: MacAddr = "02:00:00:00:00:10".parse().unwrap();
    let multicast: MacAddr = "01:00:5e:00:00:01".parse().unwrap();
    assert_eq!(
        net_err(c.add_dhcp_reservation(multicast, ip(192, 168, 77, 10))),
        NetworkConfigError::MulticastReservation { client: multicast }
    );
    for address in [
        ip(192, 168, 78, 10),
        ip(192, 168, 77, 1),
        ip(192, 168, 77, 255),
    ] {
        assert_eq!(
            net_err(c.add_dhcp_reservation(guest, address)),
            NetworkConfigError::ReservationOutsideSubnet { address }
        );
    }
    c.add_dhcp_reservation(guest, ip(192, 168, 77, 10)).unwrap();
}

#[test]
fn mtu_and_rule_rules() {
    let mut c = config(Mode::Shared);
    assert_eq!(
        net_err(c.set_mtu(100)),
        NetworkConfigError::MtuOutOfRange { mtu: 100 }
    );
    c.set_mtu(9000).unwrap();
    let zero = PortForwardingRule::new(Protocol::Udp, 53, "192.168.77.2:0".parse().unwrap());
    assert_eq!(
        net_err(c.add_port_forwarding_rule(&zero)),
        NetworkConfigError::ZeroPort { which: "internal" }
    );
    c.add_port_forwarding_rule(&PortForwardingRule::new(
        Protocol::Udp,
        53,
        "192.168.77.2:53".parse().unwrap(),
    ))
    .unwrap();
}

#[test]
fn a_network_reports_its_subnet_and_prefix_and_hosts_interfaces() {
    let mut c = config(Mode::Shared);
    c.set_ipv4_subnet(ip(10, 77, 0, 1), ip(255, 255, 0, 0))
        .unwrap();
    let prefix: Ipv6Addr = "fd00:77::".parse().unwrap();
    c.set_ipv6_prefix(prefix, 64).unwrap();
    c.set_mtu(4000).unwrap();
    let net = Network::new(&c).unwrap();
    assert_eq!(net.ipv4_subnet(), (ip(10, 77, 0, 0), ip(255, 255, 0, 0)));
    assert_eq!(net.ipv6_prefix(), (prefix, 64));
    let mut a = net.start_interface(&InterfaceConfig::shared()).unwrap();
    let mut b = net
        .start_interface(&InterfaceConfig::host().tso(true))
        .unwrap();
    let p = a.parameters();
    assert_eq!(p.start_address(), Some(ip(10, 77, 0, 1)), "the gateway");
    assert_eq!(p.end_address(), Some(ip(10, 77, 255, 254)));
    assert_eq!(p.mtu(), 4000);
    assert!(b.parameters().max_packet_size() >= 65535, "TSO is honoured");
    let (ma, mb) = (
        a.parameters().mac_address().unwrap(),
        b.parameters().mac_address().unwrap(),
    );
    a.write(&frame(mb, ma, 100, 9)).unwrap();
    assert!(b.wait_readable(Some(SOON)).unwrap());
    let mut buf = vec![0; b.parameters().max_packet_size()];
    assert_eq!(b.read(&mut buf).unwrap(), Some(100));
    // Another network is another segment.
    let other = Network::new(&config(Mode::Shared)).unwrap();
    let mut c2 = other.start_interface(&InterfaceConfig::shared()).unwrap();
    a.write(&frame(MacAddr::BROADCAST, ma, 60, 1)).unwrap();
    assert!(b.wait_readable(Some(SOON)).unwrap());
    assert_eq!(c2.read(&mut buf).unwrap(), None);
}

#[test]
fn interfaces_on_a_network_take_only_the_four_honoured_options() {
    let net = Network::new(&config(Mode::Shared)).unwrap();
    match net.start_interface(&InterfaceConfig::shared().mtu(1500)) {
        Err(Error::NetworkConfig(NetworkConfigError::NotHonouredOnNetwork { key })) => {
            assert_eq!(key, vmnet::keys::Key::Mtu);
        }
        other => panic!("expected NotHonouredOnNetwork, got {other:?}"),
    }
    let ok = InterfaceConfig::shared()
        .allocate_mac_address(true)
        .tso(true)
        .isolation(true)
        .checksum_offload(true);
    net.start_interface(&ok).unwrap();
}

#[test]
fn serialization_round_trips_within_the_process() {
    let mut c = config(Mode::Host);
    c.set_ipv4_subnet(ip(192, 168, 99, 1), MASK24).unwrap();
    let net = Network::new(&c).unwrap();
    let serialized = net.serialize().unwrap();
    assert!(
        serialized.as_raw().is_none(),
        "no XPC object on the simulator"
    );
    let again = Network::from_serialization(&serialized).unwrap();
    assert_eq!(again.ipv4_subnet(), net.ipv4_subnet());
    // Both handles are the same network: their interfaces share a segment.
    let mut a = net.start_interface(&InterfaceConfig::host()).unwrap();
    let b = again.start_interface(&InterfaceConfig::host()).unwrap();
    let mb = b.parameters().mac_address().unwrap();
    let ma = a.parameters().mac_address().unwrap();
    a.write(&frame(mb, ma, 64, 5)).unwrap();
    assert!(b.wait_readable(Some(SOON)).unwrap());
    drop((a, b, net, again));
    // Once every handle is gone the network is released: its serialization no longer works.
    assert!(matches!(
        Network::from_serialization(&serialized),
        Err(Error::Vmnet {
            status: Status::InvalidArgument,
            ..
        })
    ));
}

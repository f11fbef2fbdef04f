//! Port forwarding on an interface, and network objects (configurations, networks,
//! serializations), on every backend: the simulator (`cargo test`) and the Apple backend on
//! the stand-in vmnet.framework (`cargo xtask standin`); see `common/backend.rs`. Network
//! objects exist from macOS 26: at older stand-in levels those tests have nothing to check
//! (the refusal itself is checked in `api.rs`).
#![cfg(feature = "sim")]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::backend::Net;
use common::{SOON, frame};
use vmnet::{
    Error, Feature, InterfaceConfig, MacAddr, Mode, Network, NetworkConfigError,
    NetworkConfiguration, NetworkInterfaceConfig, NetworkMode, Operation, PortForwardingRule,
    Protocol, RuleError, Status,
};

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

const MASK24: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);

/// A new configuration in `mode`, or `None` where the system has no network objects.
fn config(net: &Net, mode: NetworkMode) -> Option<NetworkConfiguration> {
    net.capabilities()
        .has(Feature::NetworkObjects)
        .then(|| NetworkConfiguration::new(mode))
}

/// The rule `config` breaks: `validate` finds it, and creating the network refuses it the
/// same way, before vmnet is called.
fn net_err(net: &Net, config: &NetworkConfiguration) -> NetworkConfigError {
    let found = match config.validate() {
        Err(Error::NetworkConfig(e)) => e,
        other => panic!("expected a NetworkConfigError, got {other:?}"),
    };
    match net.network(config) {
        Err(Error::NetworkConfig(e)) => assert_eq!(e, found),
        other => panic!("expected Network::new to refuse with {found:?}, got {other:?}"),
    }
    found
}

/// `config` passes the checks and vmnet creates its network.
fn creates(net: &Net, config: &NetworkConfiguration) -> Network {
    config.validate().unwrap();
    net.network(config).unwrap()
}

#[test]
fn the_same_protocol_port_and_family_twice_is_refused() {
    let net = Net::new();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let ssh = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.105.2:22".parse().unwrap());
    iface.add_port_forwarding_rule(&ssh).unwrap();
    // Another guest, the same key: refused, as vmnet does.
    let again = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.105.3:22".parse().unwrap());
    assert!(matches!(
        iface.add_port_forwarding_rule(&again),
        Err(Error::Vmnet {
            status: Status::InvalidArgument,
            ..
        })
    ));
    // The same port with another protocol, or another family, is another key.
    let udp = PortForwardingRule::new(Protocol::Udp, 2222, "192.168.105.3:22".parse().unwrap());
    iface.add_port_forwarding_rule(&udp).unwrap();
    let mut expected = vec![ssh, udp];
    if net.capabilities().has(Feature::IpPortForwarding) {
        let ssh6 = PortForwardingRule::new(Protocol::Tcp, 2222, "[fd00::2]:22".parse().unwrap());
        iface.add_port_forwarding_rule(&ssh6).unwrap();
        expected.push(ssh6);
    }
    let mut rules = iface.port_forwarding_rules().unwrap();
    for list in [&mut rules, &mut expected] {
        list.sort_by_key(|r| (r.protocol == Protocol::Udp, r.internal.is_ipv6()));
    }
    assert_eq!(rules, expected);
}

#[test]
fn port_forwarding_input_is_checked_first() {
    let net = Net::new();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let zero = PortForwardingRule::new(Protocol::Tcp, 0, "192.168.105.2:22".parse().unwrap());
    assert!(matches!(
        iface.add_port_forwarding_rule(&zero),
        Err(Error::Rule(RuleError::ZeroPort { which: "external" }))
    ));
    assert!(iface.port_forwarding_rules().unwrap().is_empty());
}

#[test]
fn ipv6_port_forwarding_needs_macos_12() {
    let Some(net) = Net::without(Feature::IpPortForwarding) else {
        return; // This stand-in level has it.
    };
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
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
    assert_eq!(iface.port_forwarding_rules().unwrap(), [v4]);
}

#[test]
fn bridged_networks_cannot_be_asked_for() {
    // NetworkMode has no bridged variant; converting a Mode says why.
    assert_eq!(
        NetworkMode::try_from(Mode::Bridged),
        Err(NetworkConfigError::BridgedNetwork)
    );
    assert_eq!(NetworkMode::try_from(Mode::Host), Ok(NetworkMode::Host));
    assert_eq!(Mode::from(NetworkMode::Shared), Mode::Shared);
}

#[test]
fn external_interface_rules() {
    let net = Net::new();
    let Some(host) = config(&net, NetworkMode::Host) else {
        return;
    };
    assert_eq!(
        net_err(&net, &host.with_external_interface("en0")),
        NetworkConfigError::ExternalInterfaceInHostMode
    );
    let shared = config(&net, NetworkMode::Shared).unwrap();
    for bad in ["", "a-very-long-ifname", "en\u{0}0"] {
        assert!(matches!(
            net_err(&net, &shared.clone().with_external_interface(bad)),
            NetworkConfigError::InvalidInterfaceName { .. }
        ));
    }
    let en0 = shared.with_external_interface("en0");
    assert_eq!(en0.external_interface(), Some("en0"));
    creates(&net, &en0);
}

#[test]
fn subnet_mask_must_be_contiguous_and_leave_room() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Shared) else {
        return;
    };
    for mask in [ip(255, 0, 255, 0), ip(255, 255, 255, 254)] {
        assert_eq!(
            net_err(&net, &c.clone().with_ipv4_subnet(ip(192, 168, 77, 1), mask)),
            NetworkConfigError::InvalidSubnetMask { mask }
        );
    }
}

#[test]
fn subnet_network_address_form_is_refused_with_the_safe_form() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Shared) else {
        return;
    };
    assert_eq!(
        net_err(
            &net,
            &c.clone().with_ipv4_subnet(ip(192, 168, 77, 0), MASK24)
        ),
        NetworkConfigError::SubnetIsNetworkAddress {
            address: ip(192, 168, 77, 0),
            use_instead: ip(192, 168, 77, 1),
        }
    );
    assert_eq!(
        net_err(&net, &c.with_ipv4_subnet(ip(192, 168, 77, 255), MASK24)),
        NetworkConfigError::SubnetIsBroadcastAddress {
            address: ip(192, 168, 77, 255)
        }
    );
}

#[test]
fn subnet_must_be_private() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Shared) else {
        return;
    };
    assert!(matches!(
        net_err(&net, &c.clone().with_ipv4_subnet(ip(8, 8, 8, 1), MASK24)),
        NetworkConfigError::SubnetNotPrivate { .. }
    ));
    // Starts in 10/8 but the /7 spills outside it.
    assert!(matches!(
        net_err(
            &net,
            &c.clone()
                .with_ipv4_subnet(ip(10, 0, 0, 1), ip(254, 0, 0, 0))
        ),
        NetworkConfigError::SubnetNotPrivate { .. }
    ));
    creates(
        &net,
        &c.with_ipv4_subnet(ip(172, 20, 0, 1), ip(255, 255, 0, 0)),
    );
}

#[test]
fn ipv6_prefix_rules() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Shared) else {
        return;
    };
    let ula: Ipv6Addr = "fd12:3456:789a:1::".parse().unwrap();
    assert!(matches!(
        net_err(
            &net,
            &c.clone()
                .with_ipv6_prefix("2001:db8::".parse().unwrap(), 64)
        ),
        NetworkConfigError::Ipv6PrefixNotUla { .. }
    ));
    assert_eq!(
        net_err(&net, &c.clone().with_ipv6_prefix(ula, 40)),
        NetworkConfigError::Ipv6PrefixLength { len: 40 }
    );
    assert!(matches!(
        net_err(
            &net,
            &c.clone()
                .with_ipv6_prefix("fd12:3456:789a:1::5".parse().unwrap(), 64)
        ),
        NetworkConfigError::Ipv6PrefixHostBits { .. }
    ));
    let network = creates(&net, &c.with_ipv6_prefix(ula, 64));
    assert_eq!(network.ipv6_prefix(), (ula, 64));
}

#[test]
fn dhcp_reservation_rules() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Shared) else {
        return;
    };
    let guest: MacAddr = "02:00:00:00:00:10".parse().unwrap();
    let multicast: MacAddr = "01:00:5e:00:00:01".parse().unwrap();
    assert_eq!(
        net_err(
            &net,
            &c.clone()
                .with_dhcp_reservation(multicast, ip(192, 168, 77, 10))
        ),
        NetworkConfigError::MulticastReservation { client: multicast }
    );
    // Checked against the subnet whichever was set first.
    for address in [
        ip(192, 168, 78, 10),
        ip(192, 168, 77, 1),
        ip(192, 168, 77, 255),
    ] {
        let reserved_first = c
            .clone()
            .with_dhcp_reservation(guest, address)
            .with_ipv4_subnet(ip(192, 168, 77, 1), MASK24);
        assert_eq!(
            net_err(&net, &reserved_first),
            NetworkConfigError::ReservationOutsideSubnet { address }
        );
    }
    let ok = c
        .with_ipv4_subnet(ip(192, 168, 77, 1), MASK24)
        .with_dhcp_reservation(guest, ip(192, 168, 77, 10));
    assert_eq!(ok.dhcp_reservations(), [(guest, ip(192, 168, 77, 10))]);
    creates(&net, &ok);
}

#[test]
fn mtu_and_rule_rules() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Shared) else {
        return;
    };
    assert_eq!(
        net_err(&net, &c.clone().with_mtu(100)),
        NetworkConfigError::MtuOutOfRange { mtu: 100 }
    );
    let zero = PortForwardingRule::new(Protocol::Udp, 53, "192.168.77.2:0".parse().unwrap());
    let with_zero = c.clone().with_port_forwarding_rule(zero);
    assert!(matches!(
        with_zero.validate(),
        Err(Error::Rule(RuleError::ZeroPort { which: "internal" }))
    ));
    assert!(matches!(
        net.network(&with_zero),
        Err(Error::Rule(RuleError::ZeroPort { which: "internal" }))
    ));
    let dns = PortForwardingRule::new(Protocol::Udp, 53, "192.168.77.2:53".parse().unwrap());
    creates(
        &net,
        &c.clone().with_mtu(9000).with_port_forwarding_rule(dns),
    );
    // The same key twice passes the checks, but vmnet refuses it when applying it.
    let twice =
        c.with_port_forwarding_rule(dns)
            .with_port_forwarding_rule(PortForwardingRule::new(
                Protocol::Udp,
                53,
                "192.168.77.3:53".parse().unwrap(),
            ));
    twice.validate().unwrap();
    assert!(matches!(
        net.network(&twice),
        Err(Error::Vmnet {
            operation: Operation::ConfigureNetwork,
            ..
        })
    ));
}

#[test]
fn services_are_on_until_turned_off() {
    let c = NetworkConfiguration::new(NetworkMode::Shared);
    assert!(c.nat44() && c.nat66() && c.dhcp() && c.dns_proxy() && c.router_advertisement());
    let off = c
        .with_nat44(false)
        .with_nat66(false)
        .with_dhcp(false)
        .with_dns_proxy(false)
        .with_router_advertisement(false);
    assert!(!(off.nat44() || off.nat66() || off.dhcp() || off.dns_proxy()));
    assert!(!off.router_advertisement());
    let net = Net::new();
    if net.capabilities().has(Feature::NetworkObjects) {
        creates(&net, &off);
    }
}

#[test]
fn a_network_reports_its_subnet_and_prefix_and_hosts_interfaces() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Shared) else {
        return;
    };
    let prefix: Ipv6Addr = "fd00:77::".parse().unwrap();
    let c = c
        .with_ipv4_subnet(ip(10, 77, 0, 1), ip(255, 255, 0, 0))
        .with_ipv6_prefix(prefix, 64)
        .with_mtu(4000);
    let network = creates(&net, &c);
    assert_eq!(
        network.ipv4_subnet(),
        (ip(10, 77, 0, 0), ip(255, 255, 0, 0))
    );
    assert_eq!(network.ipv6_prefix(), (prefix, 64));
    let mut a = network
        .start_interface(&NetworkInterfaceConfig::new())
        .unwrap();
    let mut b = network
        .start_interface(&NetworkInterfaceConfig::new().with_tso(true))
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
    let other = creates(&net, &config(&net, NetworkMode::Shared).unwrap());
    let mut c2 = other
        .start_interface(&NetworkInterfaceConfig::new())
        .unwrap();
    a.write(&frame(MacAddr::BROADCAST, ma, 60, 1)).unwrap();
    assert!(b.wait_readable(Some(SOON)).unwrap());
    assert_eq!(c2.read(&mut buf).unwrap(), None);
}

#[test]
fn interfaces_on_a_network_take_the_four_honoured_options() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Shared) else {
        return;
    };
    let network = creates(&net, &c);
    let all = NetworkInterfaceConfig::new()
        .with_allocate_mac_address(true)
        .with_tso(true)
        .with_isolation(true)
        .with_checksum_offload(true);
    let iface = network.start_interface(&all).unwrap();
    assert!(iface.parameters().max_packet_size() >= 65535, "TSO");
    // Without an allocated MAC address vmnet reports none: the guest brings its own.
    let own_mac = network
        .start_interface(&NetworkInterfaceConfig::new().with_allocate_mac_address(false))
        .unwrap();
    assert_eq!(own_mac.parameters().mac_address(), None);
}

#[test]
fn a_serialization_finds_its_network_only_while_a_handle_lives() {
    let net = Net::new();
    let Some(c) = config(&net, NetworkMode::Host) else {
        return;
    };
    let network = creates(&net, &c.with_ipv4_subnet(ip(192, 168, 99, 1), MASK24));
    let serialized = network.serialize().unwrap();
    // An XPC object on vmnet.framework, none on the simulator.
    assert_eq!(serialized.as_raw().is_some(), cfg!(vmnet_standin));
    let again = Network::from_serialization(&serialized).unwrap();
    assert_eq!(again.ipv4_subnet(), network.ipv4_subnet());
    // Either handle keeps it findable.
    drop(network);
    let found = Network::from_serialization(&serialized).unwrap();
    assert_eq!(found.ipv4_subnet().0, ip(192, 168, 99, 0));
    drop((found, again));
    // Once every handle is gone the network is released: its serialization no longer works.
    assert!(matches!(
        Network::from_serialization(&serialized),
        Err(Error::Vmnet {
            status: Status::InvalidArgument,
            ..
        })
    ));
}

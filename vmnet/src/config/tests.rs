//! Unit tests of the configuration rules and the description.

use std::net::{Ipv4Addr, Ipv6Addr};

use uuid::Uuid;

use super::*;
use crate::capabilities::{Capabilities, Feature};
use crate::error::Error;
use crate::keys::{Key, Value};
use crate::limits::{MAX_MTU, MIN_MTU};
use crate::mode::Mode;

const ALL: Capabilities = Capabilities::ALL;

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn mask24() -> Ipv4Addr {
    ip(255, 255, 255, 0)
}

/// A shared config with a valid range in 192.168.64.0/24.
fn ranged() -> InterfaceConfig {
    InterfaceConfig::shared().with_address_range(
        ip(192, 168, 64, 1),
        ip(192, 168, 64, 100),
        mask24(),
    )
}

fn config_error(config: &InterfaceConfig) -> ConfigError {
    match config.validate(ALL) {
        Err(Error::Config(e)) => {
            let message = e.to_string();
            assert!(
                message.contains(':'),
                "{message:?} says what to do after a colon"
            );
            e
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn ula() -> Ipv6Addr {
    "fd12:3456:789a:1::".parse().unwrap()
}

/// A host-mode config on network 1 (its identifier `uuid(1)`).
fn host_net() -> InterfaceConfig {
    InterfaceConfig::host().with_network_identifier(uuid(1))
}

/// The error of a shared config with the NAT66 prefix `prefix`.
fn nat66_error(prefix: Ipv6Addr) -> ConfigError {
    config_error(&InterfaceConfig::shared().with_nat66_prefix(prefix))
}

// ---- modes ----

#[test]
fn modes_have_raw_values_and_names() {
    assert_eq!(Mode::Host.raw(), 1000);
    assert_eq!(Mode::Shared.raw(), 1001);
    assert_eq!(Mode::Bridged.raw(), 1002);
    assert_eq!(Mode::Host.to_string(), "host");
    assert_eq!(Mode::Shared.to_string(), "shared");
    assert_eq!(Mode::Bridged.to_string(), "bridged");
}

// ---- valid forms and their dictionaries ----

#[test]
fn minimal_configs_hold_only_the_mode() {
    for (config, raw) in [
        (InterfaceConfig::host(), 1000),
        (InterfaceConfig::shared(), 1001),
    ] {
        let desc = config.validate(Capabilities::BASELINE).unwrap();
        let entries: Vec<(Key, Value)> = desc.iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(entries, [(Key::OperationMode, Value::U64(raw))]);
    }
}

#[test]
fn bridged_config_names_the_interface() {
    let config = InterfaceConfig::bridged("en0");
    assert_eq!(config.mode(), Mode::Bridged);
    assert_eq!(config.bridged_interface(), Some("en0"));
    let desc = config.validate(Capabilities::BASELINE).unwrap();
    let entries: Vec<(Key, Value)> = desc.iter().map(|(k, v)| (k, v.clone())).collect();
    assert_eq!(
        entries,
        [
            (Key::OperationMode, Value::U64(1002)),
            (Key::SharedInterfaceName, Value::String("en0".into())),
        ]
    );
}

#[test]
fn bridged_name_of_fifteen_bytes_passes() {
    assert!(
        InterfaceConfig::bridged("a".repeat(15))
            .validate(ALL)
            .is_ok()
    );
}

#[test]
fn shared_config_with_everything_produces_the_full_description() {
    let id = uuid(1);
    let config = ranged()
        .with_interface_id(id)
        .with_allocate_mac_address(true)
        .with_isolation(true)
        .with_tso(true)
        .with_checksum_offload(true)
        .with_mtu(9000)
        .with_nat66_prefix(ula());
    let desc = config.validate(ALL).unwrap();
    let entries: Vec<(Key, Value)> = desc.iter().map(|(k, v)| (k, v.clone())).collect();
    let s = |v: &str| Value::String(v.into());
    assert_eq!(
        entries,
        [
            (Key::OperationMode, Value::U64(1001)),
            (Key::InterfaceId, Value::Uuid(id)),
            (Key::AllocateMacAddress, Value::Bool(true)),
            (Key::Mtu, Value::U64(9000)),
            (Key::StartAddress, s("192.168.64.1")),
            (Key::EndAddress, s("192.168.64.100")),
            (Key::SubnetMask, s("255.255.255.0")),
            (Key::Nat66Prefix, s("fd12:3456:789a:1::")),
            (Key::EnableIsolation, Value::Bool(true)),
            (Key::EnableTso, Value::Bool(true)),
            (Key::EnableChecksumOffload, Value::Bool(true)),
        ]
    );
}

#[test]
fn host_network_config_produces_its_description() {
    let net = uuid(7);
    let v6: Ipv6Addr = "fd00:1::1".parse().unwrap();
    let config = InterfaceConfig::host()
        .with_network_identifier(net)
        .with_host_address(ip(10, 1, 2, 1))
        .with_host_subnet_mask(mask24())
        .with_host_ipv6_address(v6)
        .with_virtio_header(true);
    let desc = config.validate(ALL).unwrap();
    let entries: Vec<(Key, Value)> = desc.iter().map(|(k, v)| (k, v.clone())).collect();
    assert_eq!(
        entries,
        [
            (Key::OperationMode, Value::U64(1000)),
            (Key::NetworkIdentifier, Value::Uuid(net)),
            (Key::HostIpAddress, Value::String("10.1.2.1".into())),
            (Key::HostSubnetMask, Value::String("255.255.255.0".into())),
            (Key::HostIpv6Address, Value::String("fd00:1::1".into())),
            (Key::EnableVirtioHeader, Value::Bool(true)),
        ]
    );
}

#[test]
fn false_booleans_are_left_out_but_allocate_mac_false_is_sent() {
    let config = InterfaceConfig::bridged("en0")
        .with_allocate_mac_address(false)
        .with_isolation(false)
        .with_tso(false)
        .with_checksum_offload(false)
        .with_virtio_header(false);
    let desc = config.validate(Capabilities::BASELINE).unwrap();
    assert_eq!(desc.len(), 3);
    assert_eq!(desc.get(Key::AllocateMacAddress), Some(&Value::Bool(false)));
    assert!(!desc.contains(Key::EnableIsolation));
}

#[test]
fn getters_return_what_was_set() {
    let config = ranged()
        .with_interface_id(uuid(3))
        .with_allocate_mac_address(false)
        .with_isolation(true)
        .with_tso(true)
        .with_checksum_offload(true)
        .with_virtio_header(true)
        .with_mtu(1500)
        .with_nat66_prefix(ula());
    assert_eq!(config.mode(), Mode::Shared);
    assert_eq!(config.bridged_interface(), None);
    assert_eq!(config.interface_id(), Some(uuid(3)));
    assert_eq!(config.allocate_mac_address(), Some(false));
    assert!(config.isolation() && config.tso());
    assert!(config.checksum_offload() && config.virtio_header());
    assert_eq!(config.mtu(), Some(1500));
    assert_eq!(config.start_address(), Some(ip(192, 168, 64, 1)));
    assert_eq!(config.end_address(), Some(ip(192, 168, 64, 100)));
    assert_eq!(config.subnet_mask(), Some(mask24()));
    assert_eq!(config.nat66_prefix(), Some(ula()));
    let host = InterfaceConfig::host()
        .with_network_identifier(uuid(4))
        .with_host_address(ip(10, 0, 0, 1))
        .with_host_subnet_mask(mask24())
        .with_host_ipv6_address(Ipv6Addr::LOCALHOST);
    assert_eq!(host.network_identifier(), Some(uuid(4)));
    assert_eq!(host.host_address(), Some(ip(10, 0, 0, 1)));
    assert_eq!(host.host_subnet_mask(), Some(mask24()));
    assert_eq!(host.host_ipv6_address(), Some(Ipv6Addr::LOCALHOST));
    let plain = InterfaceConfig::shared();
    assert_eq!(plain.allocate_mac_address(), None);
    assert!(!plain.isolation() && !plain.tso());
    assert!(!plain.checksum_offload() && !plain.virtio_header());
    assert_eq!(plain.mtu(), None);
}

#[test]
fn every_private_range_passes() {
    for (start, end, mask) in [
        (ip(10, 0, 0, 1), ip(10, 255, 255, 254), ip(255, 0, 0, 0)),
        (ip(172, 16, 0, 1), ip(172, 31, 255, 254), ip(255, 240, 0, 0)),
        (
            ip(192, 168, 0, 1),
            ip(192, 168, 255, 254),
            ip(255, 255, 0, 0),
        ),
        (
            ip(192, 168, 9, 1),
            ip(192, 168, 9, 2),
            ip(255, 255, 255, 252),
        ),
    ] {
        let config = InterfaceConfig::host().with_address_range(start, end, mask);
        assert!(config.validate(ALL).is_ok(), "{start}-{end}/{mask}");
    }
}

#[test]
fn mtu_bounds_pass() {
    assert!(
        InterfaceConfig::shared()
            .with_mtu(MIN_MTU)
            .validate(ALL)
            .is_ok()
    );
    assert!(
        InterfaceConfig::host()
            .with_mtu(MAX_MTU)
            .validate(ALL)
            .is_ok()
    );
}

// ---- one test per rule ----

#[test]
fn range_needs_all_three() {
    let config = InterfaceConfig::shared().with_start_address(ip(192, 168, 9, 1));
    assert_eq!(
        config_error(&config),
        ConfigError::IncompleteRange {
            given: Key::StartAddress,
            missing: Key::EndAddress
        }
    );
}

#[test]
fn range_needs_the_mask() {
    let config = InterfaceConfig::shared()
        .with_start_address(ip(192, 168, 9, 1))
        .with_end_address(ip(192, 168, 9, 9));
    assert_eq!(
        config_error(&config),
        ConfigError::IncompleteRange {
            given: Key::StartAddress,
            missing: Key::SubnetMask
        }
    );
}

#[test]
fn range_reversed() {
    let config = InterfaceConfig::shared().with_address_range(
        ip(192, 168, 9, 50),
        ip(192, 168, 9, 10),
        mask24(),
    );
    assert_eq!(
        config_error(&config),
        ConfigError::RangeReversed {
            start: ip(192, 168, 9, 50),
            end: ip(192, 168, 9, 10)
        }
    );
}

#[test]
fn range_without_dhcp_addresses() {
    let a = ip(192, 168, 9, 1);
    let config = InterfaceConfig::shared().with_address_range(a, a, mask24());
    assert_eq!(
        config_error(&config),
        ConfigError::RangeReversed { start: a, end: a }
    );
}

#[test]
fn subnet_mask_not_contiguous() {
    let mask = ip(255, 0, 255, 0);
    let config =
        InterfaceConfig::shared().with_address_range(ip(10, 0, 0, 1), ip(10, 0, 0, 9), mask);
    assert_eq!(
        config_error(&config),
        ConfigError::NonContiguousMask {
            key: Key::SubnetMask,
            mask
        }
    );
}

#[test]
fn subnet_too_small() {
    let mask = ip(255, 255, 255, 254);
    let config =
        InterfaceConfig::shared().with_address_range(ip(10, 0, 0, 1), ip(10, 0, 0, 2), mask);
    assert_eq!(
        config_error(&config),
        ConfigError::SubnetTooSmall {
            key: Key::SubnetMask,
            mask
        }
    );
}

#[test]
fn end_outside_subnet() {
    let config = InterfaceConfig::shared().with_address_range(
        ip(192, 168, 9, 1),
        ip(192, 168, 10, 9),
        mask24(),
    );
    assert_eq!(
        config_error(&config),
        ConfigError::AddressOutsideSubnet {
            address: ip(192, 168, 10, 9),
            network: ip(192, 168, 9, 0),
            mask: mask24()
        }
    );
}

#[test]
fn start_is_network_address() {
    let config = InterfaceConfig::shared().with_address_range(
        ip(192, 168, 9, 0),
        ip(192, 168, 9, 9),
        mask24(),
    );
    assert!(matches!(
        config_error(&config),
        ConfigError::ReservedAddress { address, .. } if address == ip(192, 168, 9, 0)
    ));
}

#[test]
fn end_is_broadcast_address() {
    let config = InterfaceConfig::shared().with_address_range(
        ip(192, 168, 9, 1),
        ip(192, 168, 9, 255),
        mask24(),
    );
    assert!(matches!(
        config_error(&config),
        ConfigError::ReservedAddress { address, .. } if address == ip(192, 168, 9, 255)
    ));
}

#[test]
fn start_not_private() {
    let config =
        InterfaceConfig::host().with_address_range(ip(8, 8, 8, 1), ip(8, 8, 8, 9), mask24());
    assert_eq!(
        config_error(&config),
        ConfigError::NotPrivateRange {
            address: ip(8, 8, 8, 1)
        }
    );
}

#[test]
fn end_not_private() {
    let config = InterfaceConfig::shared().with_address_range(
        ip(172, 31, 255, 1),
        ip(172, 32, 0, 9),
        ip(255, 0, 0, 0),
    );
    assert_eq!(
        config_error(&config),
        ConfigError::NotPrivateRange {
            address: ip(172, 32, 0, 9)
        }
    );
}

#[test]
fn subnet_reaches_outside_private_range() {
    let config = InterfaceConfig::shared().with_address_range(
        ip(10, 0, 0, 1),
        ip(10, 0, 0, 9),
        ip(240, 0, 0, 0),
    );
    assert_eq!(
        config_error(&config),
        ConfigError::SubnetNotPrivate {
            network: ip(0, 0, 0, 0),
            mask: ip(240, 0, 0, 0)
        }
    );
}

#[test]
fn nat66_prefix_not_ula() {
    let prefix: Ipv6Addr = "2001:db8::".parse().unwrap();
    assert_eq!(
        nat66_error(prefix),
        ConfigError::Nat66PrefixNotUla { prefix }
    );
}

#[test]
fn nat66_prefix_fc00_is_not_accepted() {
    let prefix: Ipv6Addr = "fc00:1::".parse().unwrap();
    assert_eq!(
        nat66_error(prefix),
        ConfigError::Nat66PrefixNotUla { prefix }
    );
}

#[test]
fn nat66_prefix_not_slash64() {
    let prefix: Ipv6Addr = "fd12:3456:789a:1::1".parse().unwrap();
    let e = nat66_error(prefix);
    assert_eq!(e, ConfigError::Nat66PrefixNotSlash64 { prefix });
    assert!(e.to_string().contains("such as fd12:3456:789a:1::"));
}

#[test]
fn mtu_too_small() {
    let config = InterfaceConfig::shared().with_mtu(1279);
    assert_eq!(
        config_error(&config),
        ConfigError::MtuOutOfRange {
            mtu: 1279,
            min: MIN_MTU,
            max: MAX_MTU
        }
    );
}

#[test]
fn mtu_too_large() {
    let config = InterfaceConfig::host().with_mtu(16385);
    assert_eq!(
        config_error(&config),
        ConfigError::MtuOutOfRange {
            mtu: 16385,
            min: MIN_MTU,
            max: MAX_MTU
        }
    );
}

#[test]
fn mtu_in_bridged_mode() {
    let config = InterfaceConfig::bridged("en0").with_mtu(1500);
    assert_eq!(config_error(&config), ConfigError::MtuInBridgedMode);
}

#[test]
fn virtio_header_with_checksum_offload() {
    let config = InterfaceConfig::shared()
        .with_virtio_header(true)
        .with_checksum_offload(true);
    assert_eq!(
        config_error(&config),
        ConfigError::VirtioHeaderWithChecksumOffload
    );
}

#[test]
fn empty_interface_name() {
    let config = InterfaceConfig::bridged("");
    assert_eq!(config_error(&config), ConfigError::EmptyInterfaceName);
}

#[test]
fn interface_name_with_nul() {
    let config = InterfaceConfig::bridged("en\u{0}0");
    assert_eq!(
        config_error(&config),
        ConfigError::InterfaceNameContainsNul {
            name: "en\u{0}0".into()
        }
    );
}

#[test]
fn interface_name_too_long() {
    let name = "a".repeat(16);
    let config = InterfaceConfig::bridged(name.clone());
    assert_eq!(
        config_error(&config),
        ConfigError::InterfaceNameTooLong { name, max: 15 }
    );
}

#[test]
fn host_address_without_network_identifier() {
    let config = InterfaceConfig::host()
        .with_host_address(ip(10, 0, 0, 1))
        .with_host_subnet_mask(mask24());
    assert_eq!(
        config_error(&config),
        ConfigError::WithoutNetworkIdentifier {
            key: Key::HostIpAddress
        }
    );
}

#[test]
fn host_ipv6_address_without_network_identifier() {
    let config = InterfaceConfig::host().with_host_ipv6_address("fd00::1".parse().unwrap());
    assert_eq!(
        config_error(&config),
        ConfigError::WithoutNetworkIdentifier {
            key: Key::HostIpv6Address
        }
    );
}

#[test]
fn host_address_without_mask() {
    let config = host_net().with_host_address(ip(10, 0, 0, 1));
    assert_eq!(
        config_error(&config),
        ConfigError::IncompleteHostAddress {
            given: Key::HostIpAddress,
            missing: Key::HostSubnetMask
        }
    );
}

#[test]
fn host_mask_without_address() {
    let config = host_net().with_host_subnet_mask(mask24());
    assert_eq!(
        config_error(&config),
        ConfigError::IncompleteHostAddress {
            given: Key::HostSubnetMask,
            missing: Key::HostIpAddress
        }
    );
}

#[test]
fn host_mask_not_contiguous() {
    let mask = ip(255, 255, 0, 255);
    let config = host_net()
        .with_host_address(ip(10, 0, 0, 1))
        .with_host_subnet_mask(mask);
    assert_eq!(
        config_error(&config),
        ConfigError::NonContiguousMask {
            key: Key::HostSubnetMask,
            mask
        }
    );
}

#[test]
fn host_subnet_too_small() {
    let mask = ip(255, 255, 255, 255);
    let config = host_net()
        .with_host_address(ip(10, 0, 0, 1))
        .with_host_subnet_mask(mask);
    assert_eq!(
        config_error(&config),
        ConfigError::SubnetTooSmall {
            key: Key::HostSubnetMask,
            mask
        }
    );
}

#[test]
fn host_address_is_broadcast_address() {
    let config = host_net()
        .with_host_address(ip(10, 0, 0, 255))
        .with_host_subnet_mask(mask24());
    assert!(matches!(
        config_error(&config),
        ConfigError::ReservedAddress { address, .. } if address == ip(10, 0, 0, 255)
    ));
}

#[test]
fn nat66_prefix_in_host_mode() {
    let config = InterfaceConfig::host().with_nat66_prefix(ula());
    assert_eq!(
        config_error(&config),
        ConfigError::OptionNotForMode {
            key: Key::Nat66Prefix,
            mode: Mode::Host
        }
    );
}

#[test]
fn network_identifier_in_shared_mode() {
    let config = InterfaceConfig::shared().with_network_identifier(uuid(1));
    assert_eq!(
        config_error(&config),
        ConfigError::OptionNotForMode {
            key: Key::NetworkIdentifier,
            mode: Mode::Shared
        }
    );
}

#[test]
fn host_ipv6_address_in_bridged_mode() {
    let config = InterfaceConfig::bridged("en0").with_host_ipv6_address(Ipv6Addr::LOCALHOST);
    assert_eq!(
        config_error(&config),
        ConfigError::OptionNotForMode {
            key: Key::HostIpv6Address,
            mode: Mode::Bridged
        }
    );
}

#[test]
fn range_in_bridged_mode() {
    let config = InterfaceConfig::bridged("en0").with_address_range(
        ip(192, 168, 9, 1),
        ip(192, 168, 9, 9),
        mask24(),
    );
    let e = config_error(&config);
    assert_eq!(
        e,
        ConfigError::OptionNotForMode {
            key: Key::StartAddress,
            mode: Mode::Bridged
        }
    );
    assert_eq!(
        e.to_string(),
        "start_address cannot be used in bridged mode, only in host and shared mode: \
         remove it, or use host or shared mode"
    );
}

// ---- capabilities ----

#[test]
fn checksum_offload_needs_macos_12() {
    let config = InterfaceConfig::shared().with_checksum_offload(true);
    match config.validate(Capabilities::BASELINE) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 12.0"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let caps = Capabilities::BASELINE.with(Feature::ChecksumOffload);
    assert!(config.validate(caps).is_ok());
}

#[test]
fn virtio_header_needs_macos_15_4() {
    let config = InterfaceConfig::shared().with_virtio_header(true);
    match config.validate(Capabilities::ALL.without(Feature::VirtioHeader)) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 15.4"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn config_errors_come_before_capability_errors() {
    let config = InterfaceConfig::shared()
        .with_checksum_offload(true)
        .with_mtu(1);
    assert!(matches!(
        config.validate(Capabilities::BASELINE),
        Err(Error::Config(ConfigError::MtuOutOfRange { .. }))
    ));
}

#[test]
fn messages_name_the_setter_to_fix() {
    let e = ConfigError::IncompleteRange {
        given: Key::StartAddress,
        missing: Key::EndAddress,
    };
    assert!(
        e.to_string()
            .starts_with("start_address is set but end_address is not")
    );
    let e = ConfigError::WithoutNetworkIdentifier {
        key: Key::HostIpAddress,
    };
    assert!(e.to_string().contains("set network_identifier"));
    // The crate's error gives the context; the rule broken is its source.
    let e = Error::from(ConfigError::MtuInBridgedMode);
    assert_eq!(e.to_string(), "invalid interface configuration");
    let report = e.report().to_string();
    assert!(
        report.starts_with("invalid interface configuration: ") && report.contains("mtu"),
        "{report}"
    );
}

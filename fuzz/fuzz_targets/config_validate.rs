//! Configuration validation from arbitrary settings.
//!
//! Builds an `InterfaceConfig` through its public setters from arbitrary input, validates it
//! against arbitrary `Capabilities`, and checks what `validate` promises:
//!
//! - it never panics, and fails only with `Error::Config` or `Error::Unsupported`;
//! - configuration errors come before capability errors, so they do not depend on the
//!   capabilities, and an `Unsupported` configuration is valid where everything is supported;
//! - the description holds `OperationMode` first, no key twice, each value of its key's kind,
//!   exactly the options that were set (booleans only when true, `AllocateMacAddress` whenever
//!   set), with values that read back as the configured ones;
//! - what was accepted obeys the documented rules (MTU bounds, mode-specific options, private
//!   address range, ULA /64 NAT66 prefix, interface-name limits, no virtio header with
//!   checksum offload, features present in the capabilities).
#![no_main]

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vmnet::keys::{Dictionary, Key, Value};
use vmnet::{Capabilities, Error, Feature, InterfaceConfig, MAX_MTU, MIN_MTU, Mode, Uuid};

#[derive(Arbitrary, Debug)]
enum ModeInput {
    Host,
    Shared,
    Bridged(String),
}

/// An IPv4 address, biased towards the private ranges that validation accepts.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr4 {
    Raw([u8; 4]),
    Ten(u8, u8, u8),
    OneSevenTwo(u8, u8, u8),
    OneNineTwo(u8, u8),
}

impl Addr4 {
    fn get(self) -> Ipv4Addr {
        match self {
            Addr4::Raw(b) => Ipv4Addr::from(b),
            Addr4::Ten(b, c, d) => Ipv4Addr::new(10, b, c, d),
            Addr4::OneSevenTwo(b, c, d) => Ipv4Addr::new(172, 16 | (b & 0x1f), c, d),
            Addr4::OneNineTwo(c, d) => Ipv4Addr::new(192, 168, c, d),
        }
    }
}

/// A subnet mask, usually contiguous.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Mask4 {
    Raw(u32),
    Prefix(u8),
}

impl Mask4 {
    fn get(self) -> Ipv4Addr {
        match self {
            Mask4::Raw(bits) => Ipv4Addr::from(bits),
            Mask4::Prefix(len) => {
                let len = u32::from(len % 33);
                Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
            }
        }
    }
}

/// An IPv6 address, often a ULA /64 prefix.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr6 {
    Raw([u8; 16]),
    Ula(u8, u16, u16, u16),
}

impl Addr6 {
    fn get(self) -> Ipv6Addr {
        match self {
            Addr6::Raw(b) => Ipv6Addr::from(b),
            Addr6::Ula(a, b, c, d) => Ipv6Addr::new(0xfd00 | u16::from(a), b, c, d, 0, 0, 0, 0),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Mtu {
    Raw(u32),
    Near(u16),
}

#[derive(Arbitrary, Debug)]
enum Setter {
    InterfaceId(u128),
    AllocateMacAddress(bool),
    Isolation(bool),
    Tso(bool),
    ChecksumOffload(bool),
    VirtioHeader(bool),
    Mtu(Mtu),
    StartAddress(Addr4),
    EndAddress(Addr4),
    SubnetMask(Mask4),
    AddressRange(Addr4, Addr4, Mask4),
    Nat66Prefix(Addr6),
    NetworkIdentifier(u128),
    HostAddress(Addr4),
    HostSubnetMask(Mask4),
    HostIpv6Address(Addr6),
}

#[derive(Arbitrary, Debug)]
struct Input {
    mode: ModeInput,
    setters: Vec<Setter>,
    capabilities: u8,
}

fn capabilities(bits: u8) -> Capabilities {
    Capabilities::from_bits_truncate(bits)
}

fn build(input: &Input) -> InterfaceConfig {
    let mut config = match &input.mode {
        ModeInput::Host => InterfaceConfig::host(),
        ModeInput::Shared => InterfaceConfig::shared(),
        ModeInput::Bridged(name) => InterfaceConfig::bridged(name.clone()),
    };
    for setter in &input.setters {
        config = match *setter {
            Setter::InterfaceId(id) => config.with_interface_id(Uuid::from_u128(id)),
            Setter::AllocateMacAddress(on) => config.with_allocate_mac_address(on),
            Setter::Isolation(on) => config.with_isolation(on),
            Setter::Tso(on) => config.with_tso(on),
            Setter::ChecksumOffload(on) => config.with_checksum_offload(on),
            Setter::VirtioHeader(on) => config.with_virtio_header(on),
            Setter::Mtu(Mtu::Raw(mtu)) => config.with_mtu(mtu),
            Setter::Mtu(Mtu::Near(n)) => config.with_mtu(MIN_MTU - 8 + u32::from(n) % 15_200),
            Setter::StartAddress(a) => config.with_start_address(a.get()),
            Setter::EndAddress(a) => config.with_end_address(a.get()),
            Setter::SubnetMask(m) => config.with_subnet_mask(m.get()),
            Setter::AddressRange(s, e, m) => config.with_address_range(s.get(), e.get(), m.get()),
            Setter::Nat66Prefix(p) => config.with_nat66_prefix(p.get()),
            Setter::NetworkIdentifier(id) => config.with_network_identifier(Uuid::from_u128(id)),
            Setter::HostAddress(a) => config.with_host_address(a.get()),
            Setter::HostSubnetMask(m) => config.with_host_subnet_mask(m.get()),
            Setter::HostIpv6Address(a) => config.with_host_ipv6_address(a.get()),
        };
    }
    config
}

/// The value `desc` holds for `key`, checked to be `expected` (or absent when `None`).
fn expect(desc: &Dictionary, key: Key, expected: Option<Value>) {
    assert_eq!(desc.get(key), expected.as_ref(), "{key}");
}

fn text(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

fn flag(on: bool) -> Option<Value> {
    on.then_some(Value::Bool(true))
}

fn check_description(config: &InterfaceConfig, caps: Capabilities, desc: &Dictionary) {
    // OperationMode first, with the mode's raw value.
    let (first, mode) = desc.iter().next().expect("the description is never empty");
    assert_eq!(first, Key::OperationMode);
    assert_eq!(mode, &Value::U64(config.mode().raw().into()));

    // No key twice; each value of its key's kind.
    let mut seen = HashSet::new();
    for (key, value) in desc.iter() {
        assert!(seen.insert(key), "{key} appears twice");
        assert_eq!(value.kind(), key.kind(), "{key} holds {value:?}");
    }
    assert_eq!(seen.len(), desc.len());

    // Exactly the options that were set, with their values.
    expect(
        desc,
        Key::SharedInterfaceName,
        config.bridged_interface().map(text),
    );
    expect(
        desc,
        Key::InterfaceId,
        config.interface_id().map(Value::Uuid),
    );
    expect(
        desc,
        Key::AllocateMacAddress,
        config.allocate_mac_address().map(Value::Bool),
    );
    expect(desc, Key::Mtu, config.mtu().map(|m| Value::U64(m.into())));
    expect(desc, Key::StartAddress, config.start_address().map(text));
    expect(desc, Key::EndAddress, config.end_address().map(text));
    expect(desc, Key::SubnetMask, config.subnet_mask().map(text));
    expect(desc, Key::Nat66Prefix, config.nat66_prefix().map(text));
    expect(
        desc,
        Key::NetworkIdentifier,
        config.network_identifier().map(Value::Uuid),
    );
    expect(desc, Key::HostIpAddress, config.host_address().map(text));
    expect(
        desc,
        Key::HostSubnetMask,
        config.host_subnet_mask().map(text),
    );
    expect(
        desc,
        Key::HostIpv6Address,
        config.host_ipv6_address().map(text),
    );
    expect(desc, Key::EnableIsolation, flag(config.isolation()));
    expect(desc, Key::EnableTso, flag(config.tso()));
    expect(
        desc,
        Key::EnableChecksumOffload,
        flag(config.checksum_offload()),
    );
    expect(desc, Key::EnableVirtioHeader, flag(config.virtio_header()));
    // Keys only vmnet reports never appear in a description.
    for key in [
        Key::MacAddress,
        Key::MaxPacketSize,
        Key::EstimatedPacketsAvailable,
        Key::ReadMaxPackets,
        Key::WriteMaxPackets,
    ] {
        assert!(!desc.contains(key), "{key} in a description");
    }

    // The documented rules hold for what was accepted.
    if let Some(mtu) = config.mtu() {
        assert!((MIN_MTU..=MAX_MTU).contains(&mtu), "MTU {mtu} accepted");
        assert_ne!(config.mode(), Mode::Bridged, "MTU accepted in bridged mode");
    }
    if let Some(name) = config.bridged_interface() {
        assert!(!name.is_empty() && name.len() <= 15 && !name.contains('\0'));
    }
    if config.mode() != Mode::Shared {
        assert!(config.nat66_prefix().is_none());
    }
    if config.mode() != Mode::Host {
        assert!(config.network_identifier().is_none());
        assert!(config.host_address().is_none());
        assert!(config.host_subnet_mask().is_none());
        assert!(config.host_ipv6_address().is_none());
    }
    if config.network_identifier().is_none() {
        assert!(config.host_address().is_none());
        assert!(config.host_ipv6_address().is_none());
    }
    assert_eq!(
        config.host_address().is_some(),
        config.host_subnet_mask().is_some()
    );
    match (
        config.start_address(),
        config.end_address(),
        config.subnet_mask(),
    ) {
        (None, None, None) => {}
        (Some(start), Some(end), Some(mask)) => {
            assert_ne!(config.mode(), Mode::Bridged);
            assert!(start.is_private() && end.is_private(), "{start}-{end}");
            assert!(start < end, "{start}-{end}");
            let bits = u32::from(mask);
            assert_eq!(bits.leading_ones() + bits.trailing_zeros(), 32, "{mask}");
            assert!(bits.leading_ones() <= 30, "{mask}");
            assert_eq!(u32::from(start) & bits, u32::from(end) & bits, "one subnet");
            let network = u32::from(start) & bits;
            let broadcast = network | !bits;
            for a in [start, end].map(u32::from) {
                assert!(a != network && a != broadcast, "reserved address accepted");
            }
        }
        partial => panic!("an incomplete range was accepted: {partial:?}"),
    }
    if let Some(prefix) = config.nat66_prefix() {
        assert_eq!(prefix.segments()[0] & 0xff00, 0xfd00, "{prefix}");
        assert_eq!(u128::from(prefix) & u128::from(u64::MAX), 0, "{prefix}");
    }
    assert!(!(config.virtio_header() && config.checksum_offload()));
    if config.checksum_offload() {
        assert!(caps.has(Feature::ChecksumOffload));
    }
    if config.virtio_header() {
        assert!(caps.has(Feature::VirtioHeader));
    }
}

fuzz_target!(|input: Input| {
    let config = build(&input);
    let caps = capabilities(input.capabilities);
    let everything = config.validate(Capabilities::ALL);
    match config.validate(caps) {
        Ok(desc) => {
            check_description(&config, caps, &desc);
            // More capabilities never make a valid configuration invalid, nor change it.
            match everything {
                Ok(all) => assert_eq!(all, desc),
                Err(e) => panic!("valid with {caps:?} but not with all: {e}"),
            }
        }
        Err(Error::Config(e)) => {
            assert!(!e.to_string().is_empty());
            // Configuration errors do not depend on the capabilities.
            for other in [Capabilities::ALL, Capabilities::BASELINE] {
                match config.validate(other) {
                    Err(Error::Config(again)) => assert_eq!(again, e),
                    other => panic!("{e} with {caps:?}, {other:?} otherwise"),
                }
            }
        }
        Err(Error::Unsupported { feature, since }) => {
            assert!(!feature.is_empty() && since.starts_with("macOS "));
            // Only a capability was missing: with all of them the configuration is valid.
            match everything {
                Ok(desc) => check_description(&config, Capabilities::ALL, &desc),
                Err(e) => panic!("unsupported with {caps:?}, then {e}"),
            }
        }
        Err(other) => panic!("validate failed with an undocumented error: {other:?}"),
    }
});

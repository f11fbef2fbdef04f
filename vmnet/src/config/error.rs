//! [`ConfigError`]: the rules of [`InterfaceConfig`](super::InterfaceConfig) a
//! configuration breaks.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::keys::Key;
use crate::mode::Mode;

/// The modes in which an address option may be set.
pub(super) fn modes_of(key: Key) -> &'static [Mode] {
    match key {
        Key::StartAddress | Key::EndAddress | Key::SubnetMask => &[Mode::Host, Mode::Shared],
        Key::Nat66Prefix => &[Mode::Shared],
        Key::NetworkIdentifier
        | Key::HostIpAddress
        | Key::HostSubnetMask
        | Key::HostIpv6Address => &[Mode::Host],
        _ => &[Mode::Host, Mode::Shared, Mode::Bridged],
    }
}

/// The prefix length of a mask known to be contiguous.
pub(super) fn prefix_len(mask: Ipv4Addr) -> u32 {
    u32::from(mask).leading_ones()
}

/// The setter of `InterfaceConfig` that sets `key`, for messages.
fn setter(key: Key) -> &'static str {
    match key {
        Key::InterfaceId => "interface_id",
        Key::Mtu => "mtu",
        Key::SharedInterfaceName => "bridged",
        Key::AllocateMacAddress => "allocate_mac_address",
        Key::StartAddress => "start_address",
        Key::EndAddress => "end_address",
        Key::SubnetMask => "subnet_mask",
        Key::Nat66Prefix => "nat66_prefix",
        Key::NetworkIdentifier => "network_identifier",
        Key::HostIpAddress => "host_address",
        Key::HostSubnetMask => "host_subnet_mask",
        Key::HostIpv6Address => "host_ipv6_address",
        Key::EnableTso => "tso",
        Key::EnableIsolation => "isolation",
        Key::EnableChecksumOffload => "checksum_offload",
        Key::EnableVirtioHeader => "virtio_header",
        other => other.name(),
    }
}

/// A rule of [`InterfaceConfig`](crate::InterfaceConfig) that a configuration breaks; found by
/// [`InterfaceConfig::validate`](crate::InterfaceConfig::validate) before vmnet is called.
///
/// Options are named in messages by the [`InterfaceConfig`](crate::InterfaceConfig) setter that sets them; the
/// [`Key`]s in the variants are those of vmnet's description dictionary.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// One of start address, end address and subnet mask is set without the others: they go
    /// together, all three or none.
    IncompleteRange {
        /// An option that is set.
        given: Key,
        /// An option that is missing.
        missing: Key,
    },
    /// The end address is not after the start address (the start address is the gateway and
    /// the DHCP range runs from the address after it to the end address, so it cannot be
    /// empty).
    RangeReversed {
        /// The start address.
        start: Ipv4Addr,
        /// The end address.
        end: Ipv4Addr,
    },
    /// A subnet mask's one bits are not contiguous from the left.
    NonContiguousMask {
        /// [`Key::SubnetMask`] or [`Key::HostSubnetMask`].
        key: Key,
        /// The mask.
        mask: Ipv4Addr,
    },
    /// A subnet mask is longer than /30, leaving no room for a gateway and clients.
    SubnetTooSmall {
        /// [`Key::SubnetMask`] or [`Key::HostSubnetMask`].
        key: Key,
        /// The mask.
        mask: Ipv4Addr,
    },
    /// The end address is outside the subnet of the start address.
    AddressOutsideSubnet {
        /// The end address.
        address: Ipv4Addr,
        /// The start address's subnet.
        network: Ipv4Addr,
        /// Its mask.
        mask: Ipv4Addr,
    },
    /// The start, end or host address is the network or broadcast address of its subnet.
    ReservedAddress {
        /// The address.
        address: Ipv4Addr,
        /// Why it is reserved.
        reason: &'static str,
    },
    /// The start or end address is not in a private (RFC 1918) range: `10.0.0.0/8`,
    /// `172.16.0.0/12` or `192.168.0.0/16`.
    NotPrivateRange {
        /// The address.
        address: Ipv4Addr,
    },
    /// The subnet of the start address reaches outside the private range it is in: the mask
    /// is too short.
    SubnetNotPrivate {
        /// The subnet.
        network: Ipv4Addr,
        /// Its mask.
        mask: Ipv4Addr,
    },
    /// The NAT66 prefix is not a unique local address in `fd00::/8`.
    Nat66PrefixNotUla {
        /// The prefix.
        prefix: Ipv6Addr,
    },
    /// The NAT66 prefix has bits set after its first 64: it must be a /64 prefix.
    Nat66PrefixNotSlash64 {
        /// The prefix.
        prefix: Ipv6Addr,
    },
    /// The MTU is outside [`MIN_MTU`](crate::MIN_MTU)`..=`[`MAX_MTU`](crate::MAX_MTU).
    MtuOutOfRange {
        /// The MTU.
        mtu: u32,
        /// The smallest MTU accepted.
        min: u32,
        /// The largest MTU accepted.
        max: u32,
    },
    /// An MTU is set in bridged mode, where vmnet rejects it.
    MtuInBridgedMode,
    /// The virtio-net header and checksum offload are both on; vmnet takes one or the other.
    VirtioHeaderWithChecksumOffload,
    /// The bridged interface name is empty.
    EmptyInterfaceName,
    /// The bridged interface name contains a NUL character.
    InterfaceNameContainsNul {
        /// The name.
        name: String,
    },
    /// The bridged interface name is longer than interface names can be.
    InterfaceNameTooLong {
        /// The name.
        name: String,
        /// The longest name, in bytes (15).
        max: usize,
    },
    /// A host address is set without a network identifier.
    WithoutNetworkIdentifier {
        /// [`Key::HostIpAddress`] or [`Key::HostIpv6Address`].
        key: Key,
    },
    /// The host address or host subnet mask is set without the other: they go together.
    IncompleteHostAddress {
        /// The option that is set.
        given: Key,
        /// The option that is missing.
        missing: Key,
    },
    /// An option is set that the interface's mode does not take.
    OptionNotForMode {
        /// The option.
        key: Key,
        /// The interface's mode.
        mode: Mode,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PRIVATE: &str = "10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16";
        match self {
            ConfigError::IncompleteRange { given, missing } => write!(
                f,
                "{} is set but {} is not: set the start address, end address and subnet mask \
                 together (with address_range), or none of them",
                setter(*given),
                setter(*missing)
            ),
            ConfigError::RangeReversed { start, end } => write!(
                f,
                "the end address {end} is not after the start address {start}: the start \
                 address is the gateway and DHCP hands out the addresses after it up to the \
                 end address, so choose an end address above {start}"
            ),
            ConfigError::NonContiguousMask { key, mask } => write!(
                f,
                "{} {mask} is not a subnet mask: its one bits must be contiguous from the \
                 left, as in 255.255.255.0",
                setter(*key)
            ),
            ConfigError::SubnetTooSmall { key, mask } => write!(
                f,
                "{} {mask} (/{}) leaves no room for a gateway and clients: use a mask of /30 \
                 (255.255.255.252) or shorter, such as 255.255.255.0",
                setter(*key),
                prefix_len(*mask)
            ),
            ConfigError::AddressOutsideSubnet {
                address,
                network,
                mask,
            } => write!(
                f,
                "the end address {address} is outside the start address's subnet \
                 {network}/{}: choose an end address inside it, or a shorter subnet mask",
                prefix_len(*mask)
            ),
            ConfigError::ReservedAddress { address, reason } => write!(
                f,
                "{address} cannot be used because {reason}: choose an address strictly \
                 between the subnet's network and broadcast addresses"
            ),
            ConfigError::NotPrivateRange { address } => write!(
                f,
                "{address} is not a private IPv4 address: choose start and end addresses in \
                 {PRIVATE} (RFC 1918), such as 192.168.64.1 to 192.168.64.254"
            ),
            ConfigError::SubnetNotPrivate { network, mask } => write!(
                f,
                "the subnet {network}/{} reaches outside the private IPv4 ranges: use a longer \
                 subnet mask, such as 255.255.255.0, so that it stays inside {PRIVATE}",
                prefix_len(*mask)
            ),
            ConfigError::Nat66PrefixNotUla { prefix } => write!(
                f,
                "the NAT66 prefix {prefix} is not a unique local address: choose a prefix in \
                 fd00::/8, such as fd12:3456:789a:1::"
            ),
            ConfigError::Nat66PrefixNotSlash64 { prefix } => write!(
                f,
                "the NAT66 prefix {prefix} has bits set after its first 64: vmnet takes a /64 \
                 prefix, such as {}",
                Ipv6Addr::from(u128::from(*prefix) & !u128::from(u64::MAX))
            ),
            ConfigError::MtuOutOfRange { mtu, min, max } => write!(
                f,
                "the MTU {mtu} is out of range: choose one from {min} to {max} (1500 is \
                 Ethernet's usual MTU)"
            ),
            ConfigError::MtuInBridgedMode => f.write_str(
                "an MTU cannot be set in bridged mode, where the interface has the MTU of the \
                 interface it bridges: remove the mtu setting",
            ),
            ConfigError::VirtioHeaderWithChecksumOffload => f.write_str(
                "the virtio-net header and checksum offload cannot be used together: turn one \
                 of them off (the virtio-net header carries checksum information itself)",
            ),
            ConfigError::EmptyInterfaceName => f.write_str(
                "the bridged interface name is empty: give the BSD name of a host interface, \
                 such as en0",
            ),
            ConfigError::InterfaceNameContainsNul { name } => write!(
                f,
                "the bridged interface name {name:?} contains a NUL character: give the BSD \
                 name of a host interface, such as en0"
            ),
            ConfigError::InterfaceNameTooLong { name, max } => write!(
                f,
                "the bridged interface name {name:?} is longer than {max} bytes, the limit for \
                 interface names: give the BSD name of a host interface, such as en0"
            ),
            ConfigError::WithoutNetworkIdentifier { key } => write!(
                f,
                "{} needs a network identifier: also set network_identifier, the UUID of the \
                 host network, or remove {}",
                setter(*key),
                setter(*key)
            ),
            ConfigError::IncompleteHostAddress { given, missing } => write!(
                f,
                "{} is set but {} is not: set host_address and host_subnet_mask together, or \
                 neither",
                setter(*given),
                setter(*missing)
            ),
            ConfigError::OptionNotForMode { key, mode } => {
                let modes = modes_of(*key);
                let names: Vec<String> = modes.iter().map(Mode::to_string).collect();
                write!(
                    f,
                    "{} cannot be used in {mode} mode, only in {} mode: remove it, or use {} \
                     mode",
                    setter(*key),
                    names.join(" and "),
                    names.join(" or ")
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

//! [`NetworkConfigError`]: the rules of network configurations an input breaks.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::limits::{MAX_MTU, MIN_MTU};
use crate::mac::MacAddr;

/// A rule of network configuration that an input breaks (rules' own problems are
/// [`RuleError`](crate::RuleError)s); found
/// before vmnet is called.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkConfigError {
    /// Networks are shared or host mode; vmnet does not create bridged networks (from
    /// `NetworkMode::try_from(Mode::Bridged)`).
    BridgedNetwork,
    /// The external interface can only be chosen for a shared network.
    ExternalInterfaceInHostMode,
    /// The external interface name is empty, too long (over 15 bytes) or contains NUL.
    InvalidInterfaceName {
        /// The name given.
        name: String,
    },
    /// The subnet mask is not contiguous, or longer than /30.
    InvalidSubnetMask {
        /// The mask given.
        mask: Ipv4Addr,
    },
    /// The subnet address is the subnet's network address (host part all zeros), the form
    /// reported to make interfaces fail to start later. Pass the first host address instead.
    SubnetIsNetworkAddress {
        /// The address given.
        address: Ipv4Addr,
        /// The address to pass instead.
        use_instead: Ipv4Addr,
    },
    /// The subnet address is the subnet's broadcast address.
    SubnetIsBroadcastAddress {
        /// The address given.
        address: Ipv4Addr,
    },
    /// The subnet is not within one private (RFC 1918) range.
    SubnetNotPrivate {
        /// The address given.
        address: Ipv4Addr,
        /// The mask given.
        mask: Ipv4Addr,
    },
    /// The IPv6 prefix is not a unique local address (`fd00::/8`).
    Ipv6PrefixNotUla {
        /// The prefix given.
        prefix: Ipv6Addr,
    },
    /// The IPv6 prefix length is outside 48..=64.
    Ipv6PrefixLength {
        /// The length given.
        len: u8,
    },
    /// The IPv6 prefix has bits set beyond its length.
    Ipv6PrefixHostBits {
        /// The prefix given.
        prefix: Ipv6Addr,
        /// Its length.
        len: u8,
    },
    /// A DHCP reservation names a multicast MAC address, which no guest can have.
    MulticastReservation {
        /// The MAC address given.
        client: MacAddr,
    },
    /// A DHCP reservation's address is outside the configured subnet, or one of its reserved
    /// addresses (network, gateway, broadcast).
    ReservationOutsideSubnet {
        /// The address given.
        address: Ipv4Addr,
    },
    /// The MTU is outside the accepted range.
    MtuOutOfRange {
        /// The MTU given.
        mtu: u32,
    },
}

impl fmt::Display for NetworkConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BridgedNetwork => f.write_str(
                "vmnet creates shared and host networks only; for bridging, start an interface \
                 with InterfaceConfig::bridged",
            ),
            Self::ExternalInterfaceInHostMode => f.write_str(
                "a host network has no external interface; create a shared network to choose one",
            ),
            Self::InvalidInterfaceName { name } => write!(
                f,
                "{name:?} is not an interface name: use a BSD name of 1 to 15 bytes without \
                 NUL, such as en0 (see vmnet::bridgeable_interfaces)"
            ),
            Self::InvalidSubnetMask { mask } => write!(
                f,
                "{mask} is not a usable subnet mask: it must be contiguous and /30 or shorter, \
                 such as 255.255.255.0"
            ),
            Self::SubnetIsNetworkAddress {
                address,
                use_instead,
            } => write!(
                f,
                "{address} is the network address of the subnet, a form reported to make \
                 interfaces fail to start; pass the first host address, {use_instead}, instead"
            ),
            Self::SubnetIsBroadcastAddress { address } => write!(
                f,
                "{address} is the broadcast address of the subnet; pass its first host address"
            ),
            Self::SubnetNotPrivate { address, mask } => write!(
                f,
                "{address}/{mask} is not inside one private range (10.0.0.0/8, 172.16.0.0/12, \
                 192.168.0.0/16); choose a subnet there"
            ),
            Self::Ipv6PrefixNotUla { prefix } => write!(
                f,
                "{prefix} is not a unique local address; choose a prefix in fd00::/8"
            ),
            Self::Ipv6PrefixLength { len } => write!(
                f,
                "/{len} is not a usable IPv6 prefix length: use 48 to 64 (64 is vmnet's default)"
            ),
            Self::Ipv6PrefixHostBits { prefix, len } => write!(
                f,
                "{prefix}/{len} has bits set past the prefix length; clear them"
            ),
            Self::MulticastReservation { client } => write!(
                f,
                "{client} is a multicast address; a DHCP reservation needs the guest's unicast MAC"
            ),
            Self::ReservationOutsideSubnet { address } => write!(
                f,
                "{address} is outside the network's subnet or one of its reserved addresses \
                 (network, gateway, broadcast); reserve an address of the DHCP range"
            ),
            Self::MtuOutOfRange { mtu } => write!(
                f,
                "MTU {mtu} is outside {MIN_MTU}..={MAX_MTU}; choose one in that range (1500 is usual)"
            ),
        }
    }
}

impl std::error::Error for NetworkConfigError {}

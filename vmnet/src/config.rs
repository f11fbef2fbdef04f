//! Interface configuration: [`InterfaceConfig`], checked and turned into vmnet's interface
//! description by [`InterfaceConfig::validate`], and the [`ConfigError`]s it reports.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use uuid::Uuid;

use crate::capabilities::{Capabilities, Feature};
use crate::error::Error;
use crate::keys::{Dictionary, Key, Value};

/// vmnet's operating modes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Host-only networking (`VMNET_HOST_MODE`): the guest reaches the host and the other
    /// host-mode interfaces, but not the outside network.
    Host,
    /// Shared networking (`VMNET_SHARED_MODE`): the guest reaches the outside network through
    /// the host, with NAT, DHCP and a DNS proxy provided by the host.
    Shared,
    /// Bridged networking (`VMNET_BRIDGED_MODE`): the guest appears on the network of one of
    /// the host's physical interfaces as a machine of its own.
    Bridged,
}

impl Mode {
    /// The raw `operating_modes_t` value (`VMNET_HOST_MODE` and so on).
    pub fn raw(self) -> u32 {
        match self {
            Mode::Host => vmnet_sys::VMNET_HOST_MODE,
            Mode::Shared => vmnet_sys::VMNET_SHARED_MODE,
            Mode::Bridged => vmnet_sys::VMNET_BRIDGED_MODE,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Host => "host",
            Mode::Shared => "shared",
            Mode::Bridged => "bridged",
        })
    }
}

/// The smallest MTU accepted: 1280, the minimum link MTU of IPv6, which vmnet always carries.
pub const MIN_MTU: u32 = 1280;

/// The largest MTU accepted: 16384, the largest this crate passes on to vmnet.
pub const MAX_MTU: u32 = 16384;

/// The longest name of a network interface, in bytes: `IFNAMSIZ` (16) less the NUL.
const MAX_INTERFACE_NAME_LEN: usize = 15;

/// The configuration of a vmnet interface, built with by-value setters.
///
/// Start from [`host`](Self::host), [`shared`](Self::shared) or [`bridged`](Self::bridged),
/// set what differs from vmnet's defaults, and pass it to `Interface::start`, which checks it
/// with [`validate`](Self::validate) before calling vmnet. Each setter has a getter named
/// `get_` followed by the setter's name (Rust has no overloading, so they cannot share it);
/// [`mode`](Self::mode) and [`bridged_interface`](Self::bridged_interface) have no setter.
///
/// ```
/// use std::net::Ipv4Addr;
/// use vmnet::keys::{Key, Value};
/// use vmnet::{Capabilities, InterfaceConfig, Mode};
///
/// // Guests get 192.168.64.2 to .100 by DHCP; the host is the gateway, 192.168.64.1.
/// let config = InterfaceConfig::shared()
///     .address_range(
///         Ipv4Addr::new(192, 168, 64, 1),
///         Ipv4Addr::new(192, 168, 64, 100),
///         Ipv4Addr::new(255, 255, 255, 0),
///     )
///     .mtu(1500);
/// assert_eq!(config.mode(), Mode::Shared);
/// assert_eq!(config.get_mtu(), Some(1500));
///
/// let desc = config.validate(Capabilities::BASELINE)?;
/// assert_eq!(
///     desc.get(Key::StartAddress),
///     Some(&Value::String("192.168.64.1".into()))
/// );
/// # Ok::<(), vmnet::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConfig {
    mode: Mode,
    bridged_interface: Option<String>,
    interface_id: Option<Uuid>,
    allocate_mac_address: Option<bool>,
    isolation: bool,
    tso: bool,
    checksum_offload: bool,
    virtio_header: bool,
    mtu: Option<u32>,
    start_address: Option<Ipv4Addr>,
    end_address: Option<Ipv4Addr>,
    subnet_mask: Option<Ipv4Addr>,
    nat66_prefix: Option<Ipv6Addr>,
    network_identifier: Option<Uuid>,
    host_address: Option<Ipv4Addr>,
    host_subnet_mask: Option<Ipv4Addr>,
    host_ipv6_address: Option<Ipv6Addr>,
}

impl InterfaceConfig {
    fn with_mode(mode: Mode, bridged_interface: Option<String>) -> Self {
        InterfaceConfig {
            mode,
            bridged_interface,
            interface_id: None,
            allocate_mac_address: None,
            isolation: false,
            tso: false,
            checksum_offload: false,
            virtio_header: false,
            mtu: None,
            start_address: None,
            end_address: None,
            subnet_mask: None,
            nat66_prefix: None,
            network_identifier: None,
            host_address: None,
            host_subnet_mask: None,
            host_ipv6_address: None,
        }
    }

    /// A host-mode interface: the guest reaches the host and other host-mode guests only.
    pub fn host() -> Self {
        Self::with_mode(Mode::Host, None)
    }

    /// A shared-mode interface: the guest reaches the outside network through the host (NAT).
    pub fn shared() -> Self {
        Self::with_mode(Mode::Shared, None)
    }

    /// A bridged-mode interface on the host interface with this BSD name, such as `"en0"`.
    ///
    /// The name is checked by [`validate`](Self::validate): it must be 1 to 15 bytes long and
    /// contain no NUL.
    pub fn bridged(interface: impl Into<String>) -> Self {
        Self::with_mode(Mode::Bridged, Some(interface.into()))
    }

    /// Sets the interface id; vmnet gives the same id the same MAC address where it can.
    #[must_use]
    pub fn interface_id(mut self, id: Uuid) -> Self {
        self.interface_id = Some(id);
        self
    }

    /// Sets whether vmnet allocates a MAC address for the interface (vmnet's default: yes).
    ///
    /// Sent to vmnet whenever set, also when set to `true`.
    #[must_use]
    pub fn allocate_mac_address(mut self, allocate: bool) -> Self {
        self.allocate_mac_address = Some(allocate);
        self
    }

    /// Sets whether the interface is isolated: isolated interfaces cannot reach each other.
    #[must_use]
    pub fn isolation(mut self, enable: bool) -> Self {
        self.isolation = enable;
        self
    }

    /// Sets TCP segmentation offload: frames larger than the MTU (up to about 64 KiB) pass.
    #[must_use]
    pub fn tso(mut self, enable: bool) -> Self {
        self.tso = enable;
        self
    }

    /// Sets checksum offload (macOS 12). Not together with the
    /// [virtio header](Self::virtio_header).
    #[must_use]
    pub fn checksum_offload(mut self, enable: bool) -> Self {
        self.checksum_offload = enable;
        self
    }

    /// Sets whether every packet carries a 12-byte virtio-net header (macOS 15.4). Not
    /// together with [checksum offload](Self::checksum_offload).
    #[must_use]
    pub fn virtio_header(mut self, enable: bool) -> Self {
        self.virtio_header = enable;
        self
    }

    /// Sets the MTU, from [`MIN_MTU`] to [`MAX_MTU`]; host and shared mode only (a bridged
    /// interface has the MTU of the interface it bridges).
    #[must_use]
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Sets the start address: the gateway, in a private (RFC 1918) range. Host and shared
    /// mode; needs the end address and subnet mask too (see
    /// [`address_range`](Self::address_range)).
    #[must_use]
    pub fn start_address(mut self, address: Ipv4Addr) -> Self {
        self.start_address = Some(address);
        self
    }

    /// Sets the end address: the last address of the DHCP range, which begins just after the
    /// start address. Needs the start address and subnet mask too.
    #[must_use]
    pub fn end_address(mut self, address: Ipv4Addr) -> Self {
        self.end_address = Some(address);
        self
    }

    /// Sets the subnet mask of the start and end addresses. Needs both of them too.
    #[must_use]
    pub fn subnet_mask(mut self, mask: Ipv4Addr) -> Self {
        self.subnet_mask = Some(mask);
        self
    }

    /// Sets the start address (the gateway), end address (the last DHCP address) and subnet
    /// mask together.
    #[must_use]
    pub fn address_range(self, start: Ipv4Addr, end: Ipv4Addr, mask: Ipv4Addr) -> Self {
        self.start_address(start).end_address(end).subnet_mask(mask)
    }

    /// Sets the NAT66 prefix: a unique local /64 prefix in `fd00::/8`. Shared mode only.
    #[must_use]
    pub fn nat66_prefix(mut self, prefix: Ipv6Addr) -> Self {
        self.nat66_prefix = Some(prefix);
        self
    }

    /// Sets the network identifier: interfaces with the same identifier share an isolated
    /// network, without DHCP (macOS 11). Host mode only.
    #[must_use]
    pub fn network_identifier(mut self, id: Uuid) -> Self {
        self.network_identifier = Some(id);
        self
    }

    /// Sets the host's IPv4 address on the network named by the
    /// [network identifier](Self::network_identifier). Needs the host subnet mask too.
    #[must_use]
    pub fn host_address(mut self, address: Ipv4Addr) -> Self {
        self.host_address = Some(address);
        self
    }

    /// Sets the subnet mask of the [host address](Self::host_address).
    #[must_use]
    pub fn host_subnet_mask(mut self, mask: Ipv4Addr) -> Self {
        self.host_subnet_mask = Some(mask);
        self
    }

    /// Sets the host's IPv6 address on the network named by the
    /// [network identifier](Self::network_identifier).
    #[must_use]
    pub fn host_ipv6_address(mut self, address: Ipv6Addr) -> Self {
        self.host_ipv6_address = Some(address);
        self
    }

    /// The operating mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The name of the bridged host interface; `Some` exactly in bridged mode.
    pub fn bridged_interface(&self) -> Option<&str> {
        self.bridged_interface.as_deref()
    }

    /// The interface id, if set.
    pub fn get_interface_id(&self) -> Option<Uuid> {
        self.interface_id
    }

    /// Whether vmnet is told to allocate a MAC address; `None` leaves it to vmnet (which does).
    pub fn get_allocate_mac_address(&self) -> Option<bool> {
        self.allocate_mac_address
    }

    /// Whether the interface is isolated.
    pub fn get_isolation(&self) -> bool {
        self.isolation
    }

    /// Whether TCP segmentation offload is on.
    pub fn get_tso(&self) -> bool {
        self.tso
    }

    /// Whether checksum offload is on.
    pub fn get_checksum_offload(&self) -> bool {
        self.checksum_offload
    }

    /// Whether packets carry a virtio-net header.
    pub fn get_virtio_header(&self) -> bool {
        self.virtio_header
    }

    /// The MTU, if set.
    pub fn get_mtu(&self) -> Option<u32> {
        self.mtu
    }

    /// The start address (gateway), if set.
    pub fn get_start_address(&self) -> Option<Ipv4Addr> {
        self.start_address
    }

    /// The end address of the DHCP range, if set.
    pub fn get_end_address(&self) -> Option<Ipv4Addr> {
        self.end_address
    }

    /// The subnet mask of the address range, if set.
    pub fn get_subnet_mask(&self) -> Option<Ipv4Addr> {
        self.subnet_mask
    }

    /// The NAT66 prefix, if set.
    pub fn get_nat66_prefix(&self) -> Option<Ipv6Addr> {
        self.nat66_prefix
    }

    /// The network identifier, if set.
    pub fn get_network_identifier(&self) -> Option<Uuid> {
        self.network_identifier
    }

    /// The host's IPv4 address, if set.
    pub fn get_host_address(&self) -> Option<Ipv4Addr> {
        self.host_address
    }

    /// The subnet mask of the host's IPv4 address, if set.
    pub fn get_host_subnet_mask(&self) -> Option<Ipv4Addr> {
        self.host_subnet_mask
    }

    /// The host's IPv6 address, if set.
    pub fn get_host_ipv6_address(&self) -> Option<Ipv6Addr> {
        self.host_ipv6_address
    }

    /// Checks the configuration and returns vmnet's interface description.
    ///
    /// `Interface::start` calls this before it calls vmnet, with the capabilities of the
    /// running system. The description holds [`Key::OperationMode`] first, then only the
    /// options that were set: booleans only when `true`, except [`Key::AllocateMacAddress`],
    /// sent whenever set; addresses in their usual text form; UUIDs as UUIDs.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with the first [`ConfigError`] found, if the configuration breaks one
    /// of its rules; otherwise [`Error::Unsupported`] if it uses a feature `caps` lacks
    /// (checksum offload, the virtio-net header).
    pub fn validate(&self, caps: Capabilities) -> Result<Dictionary, Error> {
        self.check()?;
        if self.checksum_offload {
            caps.require(Feature::ChecksumOffload)?;
        }
        if self.virtio_header {
            caps.require(Feature::VirtioHeader)?;
        }
        Ok(self.description())
    }

    /// The configuration's own rules, in a fixed order.
    fn check(&self) -> Result<(), ConfigError> {
        self.check_interface_name()?;
        self.check_mode_options()?;
        self.check_range()?;
        self.check_host_network()?;
        self.check_nat66_prefix()?;
        if let Some(mtu) = self.mtu.filter(|mtu| !(MIN_MTU..=MAX_MTU).contains(mtu)) {
            return Err(ConfigError::MtuOutOfRange {
                mtu,
                min: MIN_MTU,
                max: MAX_MTU,
            });
        }
        if self.virtio_header && self.checksum_offload {
            return Err(ConfigError::VirtioHeaderWithChecksumOffload);
        }
        Ok(())
    }

    fn check_interface_name(&self) -> Result<(), ConfigError> {
        let Some(name) = &self.bridged_interface else {
            return Ok(());
        };
        if name.is_empty() {
            Err(ConfigError::EmptyInterfaceName)
        } else if name.contains('\0') {
            Err(ConfigError::InterfaceNameContainsNul { name: name.clone() })
        } else if name.len() > MAX_INTERFACE_NAME_LEN {
            Err(ConfigError::InterfaceNameTooLong {
                name: name.clone(),
                max: MAX_INTERFACE_NAME_LEN,
            })
        } else {
            Ok(())
        }
    }

    fn check_mode_options(&self) -> Result<(), ConfigError> {
        let set = [
            (Key::StartAddress, self.start_address.is_some()),
            (Key::EndAddress, self.end_address.is_some()),
            (Key::SubnetMask, self.subnet_mask.is_some()),
            (Key::Nat66Prefix, self.nat66_prefix.is_some()),
            (Key::NetworkIdentifier, self.network_identifier.is_some()),
            (Key::HostIpAddress, self.host_address.is_some()),
            (Key::HostSubnetMask, self.host_subnet_mask.is_some()),
            (Key::HostIpv6Address, self.host_ipv6_address.is_some()),
        ];
        for (key, is_set) in set {
            if is_set && !modes_of(key).contains(&self.mode) {
                return Err(ConfigError::OptionNotForMode {
                    key,
                    mode: self.mode,
                });
            }
        }
        if self.mode == Mode::Bridged && self.mtu.is_some() {
            return Err(ConfigError::MtuInBridgedMode);
        }
        Ok(())
    }

    fn check_range(&self) -> Result<(), ConfigError> {
        let (start, end, mask) = match (self.start_address, self.end_address, self.subnet_mask) {
            (None, None, None) => return Ok(()),
            (Some(start), Some(end), Some(mask)) => (start, end, mask),
            (start, end, mask) => {
                let keys = [
                    (Key::StartAddress, start.is_some()),
                    (Key::EndAddress, end.is_some()),
                    (Key::SubnetMask, mask.is_some()),
                ];
                let first = |present: bool| {
                    keys.iter()
                        .find(|(_, p)| *p == present)
                        .map_or(Key::StartAddress, |(k, _)| *k)
                };
                return Err(ConfigError::IncompleteRange {
                    given: first(true),
                    missing: first(false),
                });
            }
        };
        check_mask(Key::SubnetMask, mask)?;
        for address in [start, end] {
            if !address.is_private() {
                return Err(ConfigError::NotPrivateRange { address });
            }
        }
        if start >= end {
            return Err(ConfigError::RangeReversed { start, end });
        }
        let subnet = Subnet::of(start, mask);
        if !subnet.contains(end) {
            return Err(ConfigError::AddressOutsideSubnet {
                address: end,
                network: subnet.network(),
                mask,
            });
        }
        if !subnet.network().is_private() || !subnet.broadcast().is_private() {
            return Err(ConfigError::SubnetNotPrivate {
                network: subnet.network(),
                mask,
            });
        }
        subnet.check_not_reserved(start)?;
        subnet.check_not_reserved(end)
    }

    fn check_host_network(&self) -> Result<(), ConfigError> {
        if self.network_identifier.is_none() {
            if self.host_address.is_some() {
                return Err(ConfigError::WithoutNetworkIdentifier {
                    key: Key::HostIpAddress,
                });
            }
            if self.host_ipv6_address.is_some() {
                return Err(ConfigError::WithoutNetworkIdentifier {
                    key: Key::HostIpv6Address,
                });
            }
        }
        match (self.host_address, self.host_subnet_mask) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(ConfigError::IncompleteHostAddress {
                given: Key::HostIpAddress,
                missing: Key::HostSubnetMask,
            }),
            (None, Some(_)) => Err(ConfigError::IncompleteHostAddress {
                given: Key::HostSubnetMask,
                missing: Key::HostIpAddress,
            }),
            (Some(address), Some(mask)) => {
                check_mask(Key::HostSubnetMask, mask)?;
                Subnet::of(address, mask).check_not_reserved(address)
            }
        }
    }

    fn check_nat66_prefix(&self) -> Result<(), ConfigError> {
        let Some(prefix) = self.nat66_prefix else {
            return Ok(());
        };
        if prefix.segments()[0] & 0xff00 != 0xfd00 {
            Err(ConfigError::Nat66PrefixNotUla { prefix })
        } else if u128::from(prefix) & u128::from(u64::MAX) != 0 {
            Err(ConfigError::Nat66PrefixNotSlash64 { prefix })
        } else {
            Ok(())
        }
    }

    /// The description dictionary of a checked configuration.
    fn description(&self) -> Dictionary {
        fn text(value: impl fmt::Display) -> Value {
            Value::String(value.to_string())
        }
        let mut desc = Dictionary::new();
        desc.insert(Key::OperationMode, Value::U64(self.mode.raw().into()));
        let mut put = |key: Key, value: Option<Value>| {
            if let Some(value) = value {
                desc.insert(key, value);
            }
        };
        let flag = |on: bool| on.then_some(Value::Bool(true));
        put(
            Key::SharedInterfaceName,
            self.bridged_interface.clone().map(Value::String),
        );
        put(Key::InterfaceId, self.interface_id.map(Value::Uuid));
        put(
            Key::AllocateMacAddress,
            self.allocate_mac_address.map(Value::Bool),
        );
        put(Key::Mtu, self.mtu.map(|mtu| Value::U64(mtu.into())));
        put(Key::StartAddress, self.start_address.map(text));
        put(Key::EndAddress, self.end_address.map(text));
        put(Key::SubnetMask, self.subnet_mask.map(text));
        put(Key::Nat66Prefix, self.nat66_prefix.map(text));
        put(
            Key::NetworkIdentifier,
            self.network_identifier.map(Value::Uuid),
        );
        put(Key::HostIpAddress, self.host_address.map(text));
        put(Key::HostSubnetMask, self.host_subnet_mask.map(text));
        put(Key::HostIpv6Address, self.host_ipv6_address.map(text));
        put(Key::EnableIsolation, flag(self.isolation));
        put(Key::EnableTso, flag(self.tso));
        put(Key::EnableChecksumOffload, flag(self.checksum_offload));
        put(Key::EnableVirtioHeader, flag(self.virtio_header));
        desc
    }
}

/// The modes in which an address option may be set.
fn modes_of(key: Key) -> &'static [Mode] {
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
fn prefix_len(mask: Ipv4Addr) -> u32 {
    u32::from(mask).leading_ones()
}

/// Checks that `mask` is a contiguous subnet mask of /30 or shorter.
fn check_mask(key: Key, mask: Ipv4Addr) -> Result<(), ConfigError> {
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        Err(ConfigError::NonContiguousMask { key, mask })
    } else if bits.leading_ones() > 30 {
        Err(ConfigError::SubnetTooSmall { key, mask })
    } else {
        Ok(())
    }
}

/// An IPv4 subnet: an address with a contiguous mask.
#[derive(Clone, Copy)]
struct Subnet {
    network: u32,
    mask: u32,
}

impl Subnet {
    fn of(address: Ipv4Addr, mask: Ipv4Addr) -> Self {
        let mask = u32::from(mask);
        Subnet {
            network: u32::from(address) & mask,
            mask,
        }
    }

    fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network | !self.mask)
    }

    fn contains(self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask == self.network
    }

    fn check_not_reserved(self, address: Ipv4Addr) -> Result<(), ConfigError> {
        let reason = if address == self.network() {
            "it is the network address of its subnet"
        } else if address == self.broadcast() {
            "it is the broadcast address of its subnet"
        } else {
            return Ok(());
        };
        Err(ConfigError::ReservedAddress { address, reason })
    }
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

/// A rule of [`InterfaceConfig`] that a configuration breaks; found by
/// [`InterfaceConfig::validate`] before vmnet is called.
///
/// Options are named in messages by the [`InterfaceConfig`] setter that sets them; the
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
    /// The MTU is outside [`MIN_MTU`]`..=`[`MAX_MTU`].
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Capabilities = Capabilities::ALL;

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr::new(a, b, c, d)
    }

    fn mask24() -> Ipv4Addr {
        ip(255, 255, 255, 0)
    }

    /// A shared config with a valid range in 192.168.64.0/24.
    fn ranged() -> InterfaceConfig {
        InterfaceConfig::shared().address_range(
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
            .interface_id(id)
            .allocate_mac_address(true)
            .isolation(true)
            .tso(true)
            .checksum_offload(true)
            .mtu(9000)
            .nat66_prefix(ula());
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
            .network_identifier(net)
            .host_address(ip(10, 1, 2, 1))
            .host_subnet_mask(mask24())
            .host_ipv6_address(v6)
            .virtio_header(true);
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
            .allocate_mac_address(false)
            .isolation(false)
            .tso(false)
            .checksum_offload(false)
            .virtio_header(false);
        let desc = config.validate(Capabilities::BASELINE).unwrap();
        assert_eq!(desc.len(), 3);
        assert_eq!(desc.get(Key::AllocateMacAddress), Some(&Value::Bool(false)));
        assert!(!desc.contains(Key::EnableIsolation));
    }

    #[test]
    fn getters_return_what_was_set() {
        let config = ranged()
            .interface_id(uuid(3))
            .allocate_mac_address(false)
            .isolation(true)
            .tso(true)
            .checksum_offload(true)
            .virtio_header(true)
            .mtu(1500)
            .nat66_prefix(ula());
        assert_eq!(config.mode(), Mode::Shared);
        assert_eq!(config.bridged_interface(), None);
        assert_eq!(config.get_interface_id(), Some(uuid(3)));
        assert_eq!(config.get_allocate_mac_address(), Some(false));
        assert!(config.get_isolation() && config.get_tso());
        assert!(config.get_checksum_offload() && config.get_virtio_header());
        assert_eq!(config.get_mtu(), Some(1500));
        assert_eq!(config.get_start_address(), Some(ip(192, 168, 64, 1)));
        assert_eq!(config.get_end_address(), Some(ip(192, 168, 64, 100)));
        assert_eq!(config.get_subnet_mask(), Some(mask24()));
        assert_eq!(config.get_nat66_prefix(), Some(ula()));
        let host = InterfaceConfig::host()
            .network_identifier(uuid(4))
            .host_address(ip(10, 0, 0, 1))
            .host_subnet_mask(mask24())
            .host_ipv6_address(Ipv6Addr::LOCALHOST);
        assert_eq!(host.get_network_identifier(), Some(uuid(4)));
        assert_eq!(host.get_host_address(), Some(ip(10, 0, 0, 1)));
        assert_eq!(host.get_host_subnet_mask(), Some(mask24()));
        assert_eq!(host.get_host_ipv6_address(), Some(Ipv6Addr::LOCALHOST));
        let plain = InterfaceConfig::shared();
        assert_eq!(plain.get_allocate_mac_address(), None);
        assert!(!plain.get_isolation() && !plain.get_tso());
        assert!(!plain.get_checksum_offload() && !plain.get_virtio_header());
        assert_eq!(plain.get_mtu(), None);
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
            let config = InterfaceConfig::host().address_range(start, end, mask);
            assert!(config.validate(ALL).is_ok(), "{start}-{end}/{mask}");
        }
    }

    #[test]
    fn mtu_bounds_pass() {
        assert!(InterfaceConfig::shared().mtu(MIN_MTU).validate(ALL).is_ok());
        assert!(InterfaceConfig::host().mtu(MAX_MTU).validate(ALL).is_ok());
    }

    // ---- one test per rule ----

    #[test]
    fn range_needs_all_three() {
        let config = InterfaceConfig::shared().start_address(ip(192, 168, 9, 1));
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
            .start_address(ip(192, 168, 9, 1))
            .end_address(ip(192, 168, 9, 9));
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
        let config = InterfaceConfig::shared().address_range(
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
        let config = InterfaceConfig::shared().address_range(a, a, mask24());
        assert_eq!(
            config_error(&config),
            ConfigError::RangeReversed { start: a, end: a }
        );
    }

    #[test]
    fn subnet_mask_not_contiguous() {
        let mask = ip(255, 0, 255, 0);
        let config =
            InterfaceConfig::shared().address_range(ip(10, 0, 0, 1), ip(10, 0, 0, 9), mask);
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
            InterfaceConfig::shared().address_range(ip(10, 0, 0, 1), ip(10, 0, 0, 2), mask);
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
        let config = InterfaceConfig::shared().address_range(
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
        let config = InterfaceConfig::shared().address_range(
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
        let config = InterfaceConfig::shared().address_range(
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
            InterfaceConfig::host().address_range(ip(8, 8, 8, 1), ip(8, 8, 8, 9), mask24());
        assert_eq!(
            config_error(&config),
            ConfigError::NotPrivateRange {
                address: ip(8, 8, 8, 1)
            }
        );
    }

    #[test]
    fn end_not_private() {
        let config = InterfaceConfig::shared().address_range(
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
        let config = InterfaceConfig::shared().address_range(
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
        let config = InterfaceConfig::shared().nat66_prefix(prefix);
        assert_eq!(
            config_error(&config),
            ConfigError::Nat66PrefixNotUla { prefix }
        );
    }

    #[test]
    fn nat66_prefix_fc00_is_not_accepted() {
        let prefix: Ipv6Addr = "fc00:1::".parse().unwrap();
        let config = InterfaceConfig::shared().nat66_prefix(prefix);
        assert_eq!(
            config_error(&config),
            ConfigError::Nat66PrefixNotUla { prefix }
        );
    }

    #[test]
    fn nat66_prefix_not_slash64() {
        let prefix: Ipv6Addr = "fd12:3456:789a:1::1".parse().unwrap();
        let config = InterfaceConfig::shared().nat66_prefix(prefix);
        let e = config_error(&config);
        assert_eq!(e, ConfigError::Nat66PrefixNotSlash64 { prefix });
        assert!(e.to_string().contains("such as fd12:3456:789a:1::"));
    }

    #[test]
    fn mtu_too_small() {
        let config = InterfaceConfig::shared().mtu(1279);
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
        let config = InterfaceConfig::host().mtu(16385);
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
        let config = InterfaceConfig::bridged("en0").mtu(1500);
        assert_eq!(config_error(&config), ConfigError::MtuInBridgedMode);
    }

    #[test]
    fn virtio_header_with_checksum_offload() {
        let config = InterfaceConfig::shared()
            .virtio_header(true)
            .checksum_offload(true);
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
            .host_address(ip(10, 0, 0, 1))
            .host_subnet_mask(mask24());
        assert_eq!(
            config_error(&config),
            ConfigError::WithoutNetworkIdentifier {
                key: Key::HostIpAddress
            }
        );
    }

    #[test]
    fn host_ipv6_address_without_network_identifier() {
        let config = InterfaceConfig::host().host_ipv6_address("fd00::1".parse().unwrap());
        assert_eq!(
            config_error(&config),
            ConfigError::WithoutNetworkIdentifier {
                key: Key::HostIpv6Address
            }
        );
    }

    #[test]
    fn host_address_without_mask() {
        let config = InterfaceConfig::host()
            .network_identifier(uuid(1))
            .host_address(ip(10, 0, 0, 1));
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
        let config = InterfaceConfig::host()
            .network_identifier(uuid(1))
            .host_subnet_mask(mask24());
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
        let config = InterfaceConfig::host()
            .network_identifier(uuid(1))
            .host_address(ip(10, 0, 0, 1))
            .host_subnet_mask(mask);
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
        let config = InterfaceConfig::host()
            .network_identifier(uuid(1))
            .host_address(ip(10, 0, 0, 1))
            .host_subnet_mask(mask);
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
        let config = InterfaceConfig::host()
            .network_identifier(uuid(1))
            .host_address(ip(10, 0, 0, 255))
            .host_subnet_mask(mask24());
        assert!(matches!(
            config_error(&config),
            ConfigError::ReservedAddress { address, .. } if address == ip(10, 0, 0, 255)
        ));
    }

    #[test]
    fn nat66_prefix_in_host_mode() {
        let config = InterfaceConfig::host().nat66_prefix(ula());
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
        let config = InterfaceConfig::shared().network_identifier(uuid(1));
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
        let config = InterfaceConfig::bridged("en0").host_ipv6_address(Ipv6Addr::LOCALHOST);
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
        let config = InterfaceConfig::bridged("en0").address_range(
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
        let config = InterfaceConfig::shared().checksum_offload(true);
        match config.validate(Capabilities::BASELINE) {
            Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 12.0"),
            other => panic!("expected Unsupported, got {other:?}"),
        }
        let caps = Capabilities::BASELINE.with(Feature::ChecksumOffload);
        assert!(config.validate(caps).is_ok());
    }

    #[test]
    fn virtio_header_needs_macos_15_4() {
        let config = InterfaceConfig::shared().virtio_header(true);
        match config.validate(Capabilities::ALL.without(Feature::VirtioHeader)) {
            Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 15.4"),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn config_errors_come_before_capability_errors() {
        let config = InterfaceConfig::shared().checksum_offload(true).mtu(1);
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
        let e = Error::from(ConfigError::MtuInBridgedMode);
        assert!(
            e.to_string()
                .starts_with("invalid interface configuration: ")
        );
    }
}

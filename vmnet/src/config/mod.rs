//! Interface configuration: [`InterfaceConfig`], checked and turned into vmnet's interface
//! description by [`InterfaceConfig::validate`], and the [`ConfigError`]s it reports.
//!
//! The builder and its getters live here; the rules in `validate`, the error type in `error`.

pub(crate) mod error;
#[cfg(test)]
mod tests;
mod validate;

use std::net::{Ipv4Addr, Ipv6Addr};

use uuid::Uuid;

pub use self::error::ConfigError;
use crate::mode::Mode;

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
///     .with_address_range(
///         Ipv4Addr::new(192, 168, 64, 1),
///         Ipv4Addr::new(192, 168, 64, 100),
///         Ipv4Addr::new(255, 255, 255, 0),
///     )
///     .with_mtu(1500);
/// assert_eq!(config.mode(), Mode::Shared);
/// assert_eq!(config.mtu(), Some(1500));
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
    pub fn with_interface_id(mut self, id: Uuid) -> Self {
        self.interface_id = Some(id);
        self
    }

    /// Sets whether vmnet allocates a MAC address for the interface (vmnet's default: yes).
    ///
    /// Sent to vmnet whenever set, also when set to `true`.
    #[must_use]
    pub fn with_allocate_mac_address(mut self, allocate: bool) -> Self {
        self.allocate_mac_address = Some(allocate);
        self
    }

    /// Sets whether the interface is isolated: isolated interfaces cannot reach each other.
    #[must_use]
    pub fn with_isolation(mut self, enable: bool) -> Self {
        self.isolation = enable;
        self
    }

    /// Sets TCP segmentation offload: frames larger than the MTU (up to about 64 KiB) pass.
    #[must_use]
    pub fn with_tso(mut self, enable: bool) -> Self {
        self.tso = enable;
        self
    }

    /// Sets checksum offload (macOS 12). Not together with the
    /// [virtio header](Self::with_virtio_header).
    #[must_use]
    pub fn with_checksum_offload(mut self, enable: bool) -> Self {
        self.checksum_offload = enable;
        self
    }

    /// Sets whether every packet carries a 12-byte virtio-net header (macOS 15.4). Not
    /// together with [checksum offload](Self::with_checksum_offload).
    #[must_use]
    pub fn with_virtio_header(mut self, enable: bool) -> Self {
        self.virtio_header = enable;
        self
    }

    /// Sets the MTU, from [`MIN_MTU`](crate::MIN_MTU) to [`MAX_MTU`](crate::MAX_MTU); host and shared mode only (a bridged
    /// interface has the MTU of the interface it bridges).
    #[must_use]
    pub fn with_mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Sets the start address: the gateway, in a private (RFC 1918) range. Host and shared
    /// mode; needs the end address and subnet mask too (see
    /// [`address_range`](Self::with_address_range)).
    #[must_use]
    pub fn with_start_address(mut self, address: Ipv4Addr) -> Self {
        self.start_address = Some(address);
        self
    }

    /// Sets the end address: the last address of the DHCP range, which begins just after the
    /// start address. Needs the start address and subnet mask too.
    #[must_use]
    pub fn with_end_address(mut self, address: Ipv4Addr) -> Self {
        self.end_address = Some(address);
        self
    }

    /// Sets the subnet mask of the start and end addresses. Needs both of them too.
    #[must_use]
    pub fn with_subnet_mask(mut self, mask: Ipv4Addr) -> Self {
        self.subnet_mask = Some(mask);
        self
    }

    /// Sets the start address (the gateway), end address (the last DHCP address) and subnet
    /// mask together.
    #[must_use]
    pub fn with_address_range(self, start: Ipv4Addr, end: Ipv4Addr, mask: Ipv4Addr) -> Self {
        self.with_start_address(start)
            .with_end_address(end)
            .with_subnet_mask(mask)
    }

    /// Sets the NAT66 prefix: a unique local /64 prefix in `fd00::/8`. Shared mode only.
    #[must_use]
    pub fn with_nat66_prefix(mut self, prefix: Ipv6Addr) -> Self {
        self.nat66_prefix = Some(prefix);
        self
    }

    /// Sets the network identifier: interfaces with the same identifier share an isolated
    /// network, without DHCP (macOS 11). Host mode only.
    #[must_use]
    pub fn with_network_identifier(mut self, id: Uuid) -> Self {
        self.network_identifier = Some(id);
        self
    }

    /// Sets the host's IPv4 address on the network named by the
    /// [network identifier](Self::with_network_identifier). Needs the host subnet mask too.
    #[must_use]
    pub fn with_host_address(mut self, address: Ipv4Addr) -> Self {
        self.host_address = Some(address);
        self
    }

    /// Sets the subnet mask of the [host address](Self::with_host_address).
    #[must_use]
    pub fn with_host_subnet_mask(mut self, mask: Ipv4Addr) -> Self {
        self.host_subnet_mask = Some(mask);
        self
    }

    /// Sets the host's IPv6 address on the network named by the
    /// [network identifier](Self::with_network_identifier).
    #[must_use]
    pub fn with_host_ipv6_address(mut self, address: Ipv6Addr) -> Self {
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
    pub fn interface_id(&self) -> Option<Uuid> {
        self.interface_id
    }

    /// Whether vmnet is told to allocate a MAC address; `None` leaves it to vmnet (which does).
    pub fn allocate_mac_address(&self) -> Option<bool> {
        self.allocate_mac_address
    }

    /// Whether the interface is isolated.
    pub fn isolation(&self) -> bool {
        self.isolation
    }

    /// Whether TCP segmentation offload is on.
    pub fn tso(&self) -> bool {
        self.tso
    }

    /// Whether checksum offload is on.
    pub fn checksum_offload(&self) -> bool {
        self.checksum_offload
    }

    /// Whether packets carry a virtio-net header.
    pub fn virtio_header(&self) -> bool {
        self.virtio_header
    }

    /// The MTU, if set.
    pub fn mtu(&self) -> Option<u32> {
        self.mtu
    }

    /// The start address (gateway), if set.
    pub fn start_address(&self) -> Option<Ipv4Addr> {
        self.start_address
    }

    /// The end address of the DHCP range, if set.
    pub fn end_address(&self) -> Option<Ipv4Addr> {
        self.end_address
    }

    /// The subnet mask of the address range, if set.
    pub fn subnet_mask(&self) -> Option<Ipv4Addr> {
        self.subnet_mask
    }

    /// The NAT66 prefix, if set.
    pub fn nat66_prefix(&self) -> Option<Ipv6Addr> {
        self.nat66_prefix
    }

    /// The network identifier, if set.
    pub fn network_identifier(&self) -> Option<Uuid> {
        self.network_identifier
    }

    /// The host's IPv4 address, if set.
    pub fn host_address(&self) -> Option<Ipv4Addr> {
        self.host_address
    }

    /// The subnet mask of the host's IPv4 address, if set.
    pub fn host_subnet_mask(&self) -> Option<Ipv4Addr> {
        self.host_subnet_mask
    }

    /// The host's IPv6 address, if set.
    pub fn host_ipv6_address(&self) -> Option<Ipv6Addr> {
        self.host_ipv6_address
    }
}

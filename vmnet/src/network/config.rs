//! [`NetworkConfiguration`]: the description of a network to create, a plain value checked
//! by [`validate`](NetworkConfiguration::validate) and applied by
//! [`Network::new`](crate::Network::new).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::NetworkConfigError;
use crate::error::Result;
use crate::forwarding::PortForwardingRule;
use crate::limits::{MAX_INTERFACE_NAME_LEN, MAX_MTU, MIN_MTU};
use crate::mac::MacAddr;
use crate::mode::NetworkMode;

/// The private (RFC 1918) IPv4 ranges, as base address and prefix length.
const PRIVATE_RANGES: [(Ipv4Addr, u32); 3] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

/// The description of a network to create (macOS 26): mode, addressing, services, port
/// forwarding and DHCP reservations.
///
/// A plain value, built like [`InterfaceConfig`](crate::InterfaceConfig): by-value `with_*`
/// setters and plain getters. Nothing reaches vmnet until [`Network::new`](crate::Network::new)
/// checks it ([`validate`](Self::validate), which you may also call earlier) and hands each
/// setting to vmnet in turn, so the one place a configuration fails is `Network::new`.
///
/// Defaults (vmnet's): the default route's interface as external interface (shared mode);
/// NAT44, NAT66, DHCP, DNS proxy and router advertisement on; a /24 in 192.168.0.0/16; a
/// random ULA /64; MTU 1500.
///
/// ```
/// # #[cfg(feature = "sim")] {
/// use std::net::Ipv4Addr;
/// use vmnet::{MacAddr, Network, NetworkConfiguration, NetworkMode, PortForwardingRule, Protocol};
///
/// let guest: MacAddr = "02:00:00:00:00:10".parse().unwrap();
/// let config = NetworkConfiguration::new(NetworkMode::Shared)
///     .with_ipv4_subnet(Ipv4Addr::new(192, 168, 77, 1), Ipv4Addr::new(255, 255, 255, 0))
///     .with_dhcp_reservation(guest, Ipv4Addr::new(192, 168, 77, 10))
///     .with_port_forwarding_rule(PortForwardingRule::new(
///         Protocol::Tcp, 2222, "192.168.77.10:22".parse().unwrap()));
/// let network = Network::new(&config)?;
/// assert_eq!(network.ipv4_subnet().0, Ipv4Addr::new(192, 168, 77, 0));
/// # }
/// # Ok::<(), vmnet::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfiguration {
    mode: NetworkMode,
    external_interface: Option<String>,
    nat44: bool,
    nat66: bool,
    dhcp: bool,
    dns_proxy: bool,
    router_advertisement: bool,
    ipv4_subnet: Option<(Ipv4Addr, Ipv4Addr)>,
    ipv6_prefix: Option<(Ipv6Addr, u8)>,
    port_forwarding_rules: Vec<PortForwardingRule>,
    dhcp_reservations: Vec<(MacAddr, Ipv4Addr)>,
    mtu: Option<u32>,
}

impl NetworkConfiguration {
    /// A configuration for a network in `mode` with vmnet's defaults. Corresponds to
    /// `vmnet_network_configuration_create`, which [`Network::new`](crate::Network::new) calls.
    #[doc(alias = "vmnet_network_configuration_create")]
    pub fn new(mode: NetworkMode) -> Self {
        Self {
            mode,
            external_interface: None,
            nat44: true,
            nat66: true,
            dhcp: true,
            dns_proxy: true,
            router_advertisement: true,
            ipv4_subnet: None,
            ipv6_prefix: None,
            port_forwarding_rules: Vec::new(),
            dhcp_reservations: Vec::new(),
            mtu: None,
        }
    }

    /// The physical interface that a shared network reaches the outside through (default:
    /// the default route's): a BSD name of 1 to 15 bytes such as `en0`. Shared networks only.
    /// Applied with `vmnet_network_configuration_set_external_interface`.
    #[doc(alias = "vmnet_network_configuration_set_external_interface")]
    #[must_use]
    pub fn with_external_interface(mut self, name: impl Into<String>) -> Self {
        self.external_interface = Some(name.into());
        self
    }

    /// IPv4 NAT (default on); off is applied with `vmnet_network_configuration_disable_nat44`.
    #[doc(alias = "vmnet_network_configuration_disable_nat44")]
    #[must_use]
    pub fn with_nat44(mut self, enable: bool) -> Self {
        self.nat44 = enable;
        self
    }

    /// IPv6 NAT (default on); off is applied with `vmnet_network_configuration_disable_nat66`.
    #[doc(alias = "vmnet_network_configuration_disable_nat66")]
    #[must_use]
    pub fn with_nat66(mut self, enable: bool) -> Self {
        self.nat66 = enable;
        self
    }

    /// The DHCP server (default on); off is applied with
    /// `vmnet_network_configuration_disable_dhcp`.
    #[doc(alias = "vmnet_network_configuration_disable_dhcp")]
    #[must_use]
    pub fn with_dhcp(mut self, enable: bool) -> Self {
        self.dhcp = enable;
        self
    }

    /// The DNS proxy (default on); off is applied with
    /// `vmnet_network_configuration_disable_dns_proxy`.
    #[doc(alias = "vmnet_network_configuration_disable_dns_proxy")]
    #[must_use]
    pub fn with_dns_proxy(mut self, enable: bool) -> Self {
        self.dns_proxy = enable;
        self
    }

    /// IPv6 router advertisement (default on); off is applied with
    /// `vmnet_network_configuration_disable_router_advertisement`.
    #[doc(alias = "vmnet_network_configuration_disable_router_advertisement")]
    #[must_use]
    pub fn with_router_advertisement(mut self, enable: bool) -> Self {
        self.router_advertisement = enable;
        self
    }

    /// The IPv4 subnet, given as its **first host address** and mask: `192.168.77.1` with
    /// `255.255.255.0` for 192.168.77.0/24.
    ///
    /// vmnet reserves the subnet's first address (network), second (the gateway, the host)
    /// and last (broadcast). Passing the network address itself (`192.168.77.0`) is reported
    /// to make interfaces fail to start later, so this crate rejects that form with
    /// [`NetworkConfigError::SubnetIsNetworkAddress`], which names the address to pass. The
    /// subnet must lie in one private (RFC 1918) range and be /30 or larger. Applied with
    /// `vmnet_network_configuration_set_ipv4_subnet`.
    #[doc(alias = "vmnet_network_configuration_set_ipv4_subnet")]
    #[must_use]
    pub fn with_ipv4_subnet(mut self, address: Ipv4Addr, mask: Ipv4Addr) -> Self {
        self.ipv4_subnet = Some((address, mask));
        self
    }

    /// The IPv6 prefix: a unique local address (`fd00::/8`) of length 48 to 64 with no bits
    /// set past the length (vmnet's default is a random ULA /64). Applied with
    /// `vmnet_network_configuration_set_ipv6_prefix`.
    #[doc(alias = "vmnet_network_configuration_set_ipv6_prefix")]
    #[must_use]
    pub fn with_ipv6_prefix(mut self, prefix: Ipv6Addr, len: u8) -> Self {
        self.ipv6_prefix = Some((prefix, len));
        self
    }

    /// Adds a port-forwarding rule (shared mode: traffic to the host's external port reaches
    /// the guest). vmnet keeps one rule per [`key`](PortForwardingRule::key): a second rule
    /// with the same key makes [`Network::new`](crate::Network::new) fail. Applied with
    /// `vmnet_network_configuration_add_port_forwarding_rule`.
    #[doc(alias = "vmnet_network_configuration_add_port_forwarding_rule")]
    #[must_use]
    pub fn with_port_forwarding_rule(mut self, rule: PortForwardingRule) -> Self {
        self.port_forwarding_rules.push(rule);
        self
    }

    /// Reserves `address` for the guest with MAC `client` in the DHCP server; the address must
    /// be in the subnet when one is set. Applied with
    /// `vmnet_network_configuration_add_dhcp_reservation`.
    #[doc(alias = "vmnet_network_configuration_add_dhcp_reservation")]
    #[must_use]
    pub fn with_dhcp_reservation(mut self, client: MacAddr, address: Ipv4Addr) -> Self {
        self.dhcp_reservations.push((client, address));
        self
    }

    /// The MTU of the network's interfaces, in [`MIN_MTU`]`..=`[`MAX_MTU`]. Applied with
    /// `vmnet_network_configuration_set_mtu`.
    #[doc(alias = "vmnet_network_configuration_set_mtu")]
    #[must_use]
    pub fn with_mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// The network's mode.
    pub fn mode(&self) -> NetworkMode {
        self.mode
    }

    /// The external interface chosen, if any.
    pub fn external_interface(&self) -> Option<&str> {
        self.external_interface.as_deref()
    }

    /// Whether IPv4 NAT is on.
    pub fn nat44(&self) -> bool {
        self.nat44
    }

    /// Whether IPv6 NAT is on.
    pub fn nat66(&self) -> bool {
        self.nat66
    }

    /// Whether the DHCP server is on.
    pub fn dhcp(&self) -> bool {
        self.dhcp
    }

    /// Whether the DNS proxy is on.
    pub fn dns_proxy(&self) -> bool {
        self.dns_proxy
    }

    /// Whether IPv6 router advertisement is on.
    pub fn router_advertisement(&self) -> bool {
        self.router_advertisement
    }

    /// The IPv4 subnet set (first host address and mask, as given), if any.
    pub fn ipv4_subnet(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        self.ipv4_subnet
    }

    /// The IPv6 prefix and length set, if any.
    pub fn ipv6_prefix(&self) -> Option<(Ipv6Addr, u8)> {
        self.ipv6_prefix
    }

    /// The port-forwarding rules, in the order added.
    pub fn port_forwarding_rules(&self) -> &[PortForwardingRule] {
        &self.port_forwarding_rules
    }

    /// The DHCP reservations (client MAC, address), in the order added.
    pub fn dhcp_reservations(&self) -> &[(MacAddr, Ipv4Addr)] {
        &self.dhcp_reservations
    }

    /// The MTU set, if any.
    pub fn mtu(&self) -> Option<u32> {
        self.mtu
    }

    /// Checks every setting against the rules vmnet enforces (or is reported to trip over),
    /// without calling vmnet. [`Network::new`](crate::Network::new) runs this first.
    ///
    /// # Errors
    /// The first broken rule, as [`Error::NetworkConfig`](crate::Error::NetworkConfig):
    /// [`NetworkConfigError::ExternalInterfaceInHostMode`] or
    /// [`NetworkConfigError::InvalidInterfaceName`] (empty, over 15 bytes, or holding a NUL);
    /// [`NetworkConfigError::InvalidSubnetMask`] (not contiguous, or longer than /30),
    /// [`NetworkConfigError::SubnetIsNetworkAddress`],
    /// [`NetworkConfigError::SubnetIsBroadcastAddress`] or
    /// [`NetworkConfigError::SubnetNotPrivate`];
    /// [`NetworkConfigError::Ipv6PrefixNotUla`], [`NetworkConfigError::Ipv6PrefixLength`] or
    /// [`NetworkConfigError::Ipv6PrefixHostBits`];
    /// [`NetworkConfigError::MulticastReservation`] or
    /// [`NetworkConfigError::ReservationOutsideSubnet`];
    /// [`NetworkConfigError::MtuOutOfRange`]; or
    /// [`Error::Rule`](crate::Error::Rule) for a port-forwarding rule with a zero port.
    pub fn validate(&self) -> Result<()> {
        if let Some(name) = &self.external_interface {
            check_external_interface(self.mode, name)?;
        }
        let subnet = match self.ipv4_subnet {
            Some((address, mask)) => Some(check_ipv4_subnet(address, mask)?),
            None => None,
        };
        if let Some((prefix, len)) = self.ipv6_prefix {
            check_ipv6_prefix(prefix, len)?;
        }
        for rule in &self.port_forwarding_rules {
            rule.validate()?;
        }
        for &(client, address) in &self.dhcp_reservations {
            check_reservation(subnet, client, address)?;
        }
        if let Some(mtu) = self.mtu {
            if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
                return Err(NetworkConfigError::MtuOutOfRange { mtu }.into());
            }
        }
        Ok(())
    }
}

fn check_external_interface(mode: NetworkMode, name: &str) -> Result<()> {
    if mode != NetworkMode::Shared {
        return Err(NetworkConfigError::ExternalInterfaceInHostMode.into());
    }
    if name.is_empty() || name.len() > MAX_INTERFACE_NAME_LEN || name.contains('\0') {
        return Err(NetworkConfigError::InvalidInterfaceName {
            name: name.to_owned(),
        }
        .into());
    }
    Ok(())
}

/// Checks a subnet given as a host address and mask; returns its network address and mask.
fn check_ipv4_subnet(address: Ipv4Addr, mask: Ipv4Addr) -> Result<(Ipv4Addr, Ipv4Addr)> {
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 || bits.leading_ones() > 30 {
        return Err(NetworkConfigError::InvalidSubnetMask { mask }.into());
    }
    let network = u32::from(address) & bits;
    if u32::from(address) == network {
        return Err(NetworkConfigError::SubnetIsNetworkAddress {
            address,
            use_instead: Ipv4Addr::from(network + 1),
        }
        .into());
    }
    if u32::from(address) == network | !bits {
        return Err(NetworkConfigError::SubnetIsBroadcastAddress { address }.into());
    }
    let first = Ipv4Addr::from(network);
    let last = Ipv4Addr::from(network | !bits);
    let inside = |ip: Ipv4Addr, (base, len): (Ipv4Addr, u32)| {
        u32::from(ip) >> (32 - len) == u32::from(base) >> (32 - len)
    };
    if !PRIVATE_RANGES
        .iter()
        .any(|r| inside(first, *r) && inside(last, *r))
    {
        return Err(NetworkConfigError::SubnetNotPrivate { address, mask }.into());
    }
    Ok((first, mask))
}

fn check_ipv6_prefix(prefix: Ipv6Addr, len: u8) -> Result<()> {
    if prefix.octets()[0] != 0xfd {
        return Err(NetworkConfigError::Ipv6PrefixNotUla { prefix }.into());
    }
    if !(48..=64).contains(&len) {
        return Err(NetworkConfigError::Ipv6PrefixLength { len }.into());
    }
    if u128::from(prefix) & (u128::MAX >> len) != 0 {
        return Err(NetworkConfigError::Ipv6PrefixHostBits { prefix, len }.into());
    }
    Ok(())
}

/// Checks a DHCP reservation against the subnet (network address and mask), if one is set.
fn check_reservation(
    subnet: Option<(Ipv4Addr, Ipv4Addr)>,
    client: MacAddr,
    address: Ipv4Addr,
) -> Result<()> {
    if client.is_multicast() {
        return Err(NetworkConfigError::MulticastReservation { client }.into());
    }
    if let Some((network, mask)) = subnet {
        let (n, m, a) = (u32::from(network), u32::from(mask), u32::from(address));
        let reserved = [n, n + 1, n | !m];
        if a & m != n || reserved.contains(&a) {
            return Err(NetworkConfigError::ReservationOutsideSubnet { address }.into());
        }
    }
    Ok(())
}

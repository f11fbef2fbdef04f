//! Networks (macOS 26): a [`NetworkConfiguration`] describes a shared or host network, a
//! [`Network`] reserves it, interfaces start on it, and a [`NetworkSerialization`] carries it
//! to another process.
//!
//! Everything here is resolved at run time: on systems older than macOS 26 every constructor
//! returns [`Error::Unsupported`] with `since: "macOS 26.0"`. On the simulator a network is a
//! segment of its own.

pub(crate) mod error;

use std::ffi::CString;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub use self::error::NetworkConfigError;
use crate::backend::{self, NetworkConfigDriver, NetworkDriver, Service};
use crate::config::InterfaceConfig;
use crate::error::Result;
use crate::forwarding::PortForwardingRule;
use crate::interface::Interface;
use crate::keys::{Dictionary, Key, Value};
use crate::limits::{MAX_MTU, MIN_MTU};
use crate::mac::MacAddr;
use crate::mode::Mode;
use crate::options::StartOptions;

/// The description of a network to create (macOS 26): mode, addressing, services, port
/// forwarding and DHCP reservations.
///
/// Defaults (vmnet's): the default route's interface as external interface (shared mode);
/// NAT44, NAT66, DHCP, DNS proxy and router advertisement on; a /24 in 192.168.0.0/16; a
/// random ULA /64; MTU 1500. Each setter checks its input before vmnet is called.
///
/// ```
/// # #[cfg(feature = "sim")] {
/// use std::net::Ipv4Addr;
/// use vmnet::{MacAddr, Mode, Network, PortForwardingRule, Protocol};
///
/// # let mut config = vmnet::sim::network_configuration(Mode::Shared)?;
/// # /*
/// let mut config = vmnet::NetworkConfiguration::new(Mode::Shared)?;
/// # */
/// config.set_ipv4_subnet(Ipv4Addr::new(192, 168, 77, 1), Ipv4Addr::new(255, 255, 255, 0))?;
/// let guest: MacAddr = "02:00:00:00:00:10".parse().unwrap();
/// config.add_dhcp_reservation(guest, Ipv4Addr::new(192, 168, 77, 10))?;
/// config.add_port_forwarding_rule(&PortForwardingRule::new(
///     Protocol::Tcp, 2222, "192.168.77.10:22".parse().unwrap()))?;
/// let network = Network::new(&config)?;
/// assert_eq!(network.ipv4_subnet().0, Ipv4Addr::new(192, 168, 77, 0));
/// # }
/// # Ok::<(), vmnet::Error>(())
/// ```
pub struct NetworkConfiguration {
    mode: Mode,
    /// The subnet set so far (network address, mask), to check reservations against.
    subnet: Option<(Ipv4Addr, Ipv4Addr)>,
    driver: Box<dyn NetworkConfigDriver>,
}

impl fmt::Debug for NetworkConfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkConfiguration")
            .field("mode", &self.mode)
            .field("subnet", &self.subnet)
            .finish_non_exhaustive()
    }
}

impl NetworkConfiguration {
    /// A configuration for a shared or host network with vmnet's defaults. Wraps
    /// `vmnet_network_configuration_create`.
    ///
    /// # Errors
    /// [`Error::NetworkConfig`](crate::Error::NetworkConfig)
    /// ([`NetworkConfigError::BridgedNetwork`]) for bridged mode;
    /// [`Error::Unsupported`](crate::Error::Unsupported) before macOS 26 (and without a
    /// backend);
    /// [`Error::Vmnet`](crate::Error::Vmnet) if vmnet refuses.
    #[doc(alias = "vmnet_network_configuration_create")]
    pub fn new(mode: Mode) -> Result<Self> {
        Self::with_driver(mode, backend::platform::network_configuration)
    }

    pub(crate) fn with_driver(
        mode: Mode,
        create: impl FnOnce(Mode) -> Result<Box<dyn NetworkConfigDriver>>,
    ) -> Result<Self> {
        if mode == Mode::Bridged {
            return Err(NetworkConfigError::BridgedNetwork.into());
        }
        Ok(Self {
            mode,
            subnet: None,
            driver: create(mode)?,
        })
    }

    /// The network's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The physical interface that a shared network reaches the outside through (default:
    /// the default route's). Wraps `vmnet_network_configuration_set_external_interface`.
    ///
    /// # Errors
    /// [`Error::NetworkConfig`](crate::Error::NetworkConfig) with
    /// [`NetworkConfigError::ExternalInterfaceInHostMode`] for a host network, or
    /// [`NetworkConfigError::InvalidInterfaceName`] for a name that is empty, over 15 bytes or
    /// holds a NUL;
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::ConfigureNetwork`) when vmnet
    /// refuses.
    #[doc(alias = "vmnet_network_configuration_set_external_interface")]
    pub fn set_external_interface(&mut self, name: &str) -> Result<()> {
        if self.mode != Mode::Shared {
            return Err(NetworkConfigError::ExternalInterfaceInHostMode.into());
        }
        let invalid = || NetworkConfigError::InvalidInterfaceName {
            name: name.to_owned(),
        };
        if name.is_empty() || name.len() > 15 {
            return Err(invalid().into());
        }
        let name = CString::new(name).map_err(|_| invalid())?;
        self.driver.set_external_interface(&name)
    }

    /// Turns off IPv4 NAT.
    #[doc(alias = "vmnet_network_configuration_disable_nat44")]
    pub fn disable_nat44(&mut self) {
        self.driver.disable(Service::Nat44);
    }

    /// Turns off IPv6 NAT.
    #[doc(alias = "vmnet_network_configuration_disable_nat66")]
    pub fn disable_nat66(&mut self) {
        self.driver.disable(Service::Nat66);
    }

    /// Turns off the DHCP server.
    #[doc(alias = "vmnet_network_configuration_disable_dhcp")]
    pub fn disable_dhcp(&mut self) {
        self.driver.disable(Service::Dhcp);
    }

    /// Turns off the DNS proxy.
    #[doc(alias = "vmnet_network_configuration_disable_dns_proxy")]
    pub fn disable_dns_proxy(&mut self) {
        self.driver.disable(Service::DnsProxy);
    }

    /// Turns off IPv6 router advertisement.
    #[doc(alias = "vmnet_network_configuration_disable_router_advertisement")]
    pub fn disable_router_advertisement(&mut self) {
        self.driver.disable(Service::RouterAdvertisement);
    }

    /// The IPv4 subnet, given as its **first host address** and mask: `192.168.77.1` with
    /// `255.255.255.0` for 192.168.77.0/24.
    ///
    /// vmnet reserves the subnet's first address (network), second (the gateway, the host)
    /// and last (broadcast). Passing the network address itself (`192.168.77.0`) is reported
    /// to make interfaces fail to start later, so this crate rejects that form with
    /// [`NetworkConfigError::SubnetIsNetworkAddress`], which names the address to pass. The
    /// subnet must lie in one private (RFC 1918) range and be /30 or larger.
    ///
    /// Wraps `vmnet_network_configuration_set_ipv4_subnet`.
    ///
    /// # Errors
    /// [`Error::NetworkConfig`](crate::Error::NetworkConfig) with
    /// [`NetworkConfigError::InvalidSubnetMask`] (not contiguous, or longer than /30),
    /// [`NetworkConfigError::SubnetIsNetworkAddress`],
    /// [`NetworkConfigError::SubnetIsBroadcastAddress`] or
    /// [`NetworkConfigError::SubnetNotPrivate`];
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::ConfigureNetwork`) when vmnet
    /// refuses.
    #[doc(alias = "vmnet_network_configuration_set_ipv4_subnet")]
    pub fn set_ipv4_subnet(&mut self, address: Ipv4Addr, mask: Ipv4Addr) -> Result<()> {
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
        let private_range = [
            (Ipv4Addr::new(10, 0, 0, 0), 8),
            (Ipv4Addr::new(172, 16, 0, 0), 12),
            (Ipv4Addr::new(192, 168, 0, 0), 16),
        ];
        let inside = |ip: Ipv4Addr, (base, len): (Ipv4Addr, u32)| {
            u32::from(ip) >> (32 - len) == u32::from(base) >> (32 - len)
        };
        if !private_range
            .iter()
            .any(|r| inside(first, *r) && inside(last, *r))
        {
            return Err(NetworkConfigError::SubnetNotPrivate { address, mask }.into());
        }
        self.driver.set_ipv4_subnet(address, mask)?;
        self.subnet = Some((first, mask));
        Ok(())
    }

    /// The IPv6 prefix: a unique local address (`fd00::/8`) of length 48 to 64 with no bits
    /// set past the length (vmnet's default is a random ULA /64). Wraps
    /// `vmnet_network_configuration_set_ipv6_prefix`.
    ///
    /// # Errors
    /// [`Error::NetworkConfig`](crate::Error::NetworkConfig) with
    /// [`NetworkConfigError::Ipv6PrefixNotUla`], [`NetworkConfigError::Ipv6PrefixLength`] or
    /// [`NetworkConfigError::Ipv6PrefixHostBits`];
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::ConfigureNetwork`) when vmnet
    /// refuses.
    #[doc(alias = "vmnet_network_configuration_set_ipv6_prefix")]
    pub fn set_ipv6_prefix(&mut self, prefix: Ipv6Addr, len: u8) -> Result<()> {
        if prefix.octets()[0] != 0xfd {
            return Err(NetworkConfigError::Ipv6PrefixNotUla { prefix }.into());
        }
        if !(48..=64).contains(&len) {
            return Err(NetworkConfigError::Ipv6PrefixLength { len }.into());
        }
        if u128::from(prefix) & (u128::MAX >> len) != 0 {
            return Err(NetworkConfigError::Ipv6PrefixHostBits { prefix, len }.into());
        }
        self.driver.set_ipv6_prefix(prefix, len)
    }

    /// Adds a port-forwarding rule (shared mode: traffic to the host's external port reaches
    /// the guest). Wraps `vmnet_network_configuration_add_port_forwarding_rule`.
    ///
    /// # Errors
    /// [`Error::Rule`](crate::Error::Rule)
    /// ([`RuleError::ZeroPort`](crate::RuleError::ZeroPort)) for a zero port;
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::ConfigureNetwork`) when vmnet
    /// refuses (a rule with the same [`key`](PortForwardingRule::key) was added, for
    /// instance).
    #[doc(alias = "vmnet_network_configuration_add_port_forwarding_rule")]
    pub fn add_port_forwarding_rule(&mut self, rule: &PortForwardingRule) -> Result<()> {
        rule.validate()?;
        self.driver.add_port_forwarding_rule(rule)
    }

    /// Reserves `address` for the guest with MAC `client` in the DHCP server. Set the subnet
    /// first if you set one: the address is checked against it. Wraps
    /// `vmnet_network_configuration_add_dhcp_reservation`.
    ///
    /// # Errors
    /// [`Error::NetworkConfig`](crate::Error::NetworkConfig) with
    /// [`NetworkConfigError::MulticastReservation`] for a multicast MAC address, or
    /// [`NetworkConfigError::ReservationOutsideSubnet`] for an address outside the subnet set
    /// (or one of its network, gateway and broadcast addresses);
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::ConfigureNetwork`) when vmnet
    /// refuses (the client or the address is already reserved, for instance).
    #[doc(alias = "vmnet_network_configuration_add_dhcp_reservation")]
    pub fn add_dhcp_reservation(&mut self, client: MacAddr, address: Ipv4Addr) -> Result<()> {
        if client.is_multicast() {
            return Err(NetworkConfigError::MulticastReservation { client }.into());
        }
        if let Some((network, mask)) = self.subnet {
            let (n, m, a) = (u32::from(network), u32::from(mask), u32::from(address));
            let reserved = [n, n + 1, n | !m];
            if a & m != n || reserved.contains(&a) {
                return Err(NetworkConfigError::ReservationOutsideSubnet { address }.into());
            }
        }
        self.driver.add_dhcp_reservation(client, address)
    }

    /// The MTU of the network's interfaces. Wraps `vmnet_network_configuration_set_mtu`.
    ///
    /// # Errors
    /// [`Error::NetworkConfig`](crate::Error::NetworkConfig)
    /// ([`NetworkConfigError::MtuOutOfRange`]) outside
    /// [`MIN_MTU`](crate::MIN_MTU)`..=`[`MAX_MTU`](crate::MAX_MTU);
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::ConfigureNetwork`) when vmnet
    /// refuses.
    #[doc(alias = "vmnet_network_configuration_set_mtu")]
    pub fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(NetworkConfigError::MtuOutOfRange { mtu }.into());
        }
        self.driver.set_mtu(mtu)
    }
}

/// A network (macOS 26), reserved for as long as any handle to it lives.
///
/// Start interfaces on it with [`start_interface`](Self::start_interface); carry it to another
/// process with [`serialize`](Self::serialize) and
/// [`from_serialization`](Self::from_serialization). Cloning gives another handle to the same
/// network.
#[derive(Clone)]
pub struct Network {
    driver: Arc<dyn NetworkDriver>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("ipv4_subnet", &self.ipv4_subnet())
            .field("ipv6_prefix", &self.ipv6_prefix())
            .finish()
    }
}

impl Network {
    /// Creates the network described by `config` (which stays usable). Wraps
    /// `vmnet_network_create`.
    ///
    /// # Errors
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::CreateNetwork`) when vmnet refuses
    /// the configuration.
    #[doc(alias = "vmnet_network_create")]
    pub fn new(config: &NetworkConfiguration) -> Result<Self> {
        Ok(Self {
            driver: config.driver.create_network()?.into(),
        })
    }

    /// The network from a serialization made by [`serialize`](Self::serialize), possibly in
    /// another process. Wraps `vmnet_network_create_with_serialization`.
    ///
    /// # Errors
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::CreateNetwork`) when vmnet refuses
    /// the serialization (on the simulator: its network no longer exists);
    /// [`Error::Unsupported`](crate::Error::Unsupported) before macOS 26.
    #[doc(alias = "vmnet_network_create_with_serialization")]
    pub fn from_serialization(serialization: &NetworkSerialization) -> Result<Self> {
        Ok(Self {
            driver: backend::network_from_serialization(&serialization.inner)?.into(),
        })
    }

    /// The IPv4 subnet: network address and mask. Wraps `vmnet_network_get_ipv4_subnet`.
    #[doc(alias = "vmnet_network_get_ipv4_subnet")]
    pub fn ipv4_subnet(&self) -> (Ipv4Addr, Ipv4Addr) {
        self.driver.ipv4_subnet()
    }

    /// The IPv6 prefix and its length. Wraps `vmnet_network_get_ipv6_prefix`.
    #[doc(alias = "vmnet_network_get_ipv6_prefix")]
    pub fn ipv6_prefix(&self) -> (Ipv6Addr, u8) {
        self.driver.ipv6_prefix()
    }

    /// A serialization of the network, to recreate it elsewhere with
    /// [`from_serialization`](Self::from_serialization). Wraps
    /// `vmnet_network_copy_serialization`.
    ///
    /// # Errors
    /// [`Error::Vmnet`](crate::Error::Vmnet) (`Operation::SerializeNetwork`) when vmnet
    /// refuses.
    #[doc(alias = "vmnet_network_copy_serialization")]
    pub fn serialize(&self) -> Result<NetworkSerialization> {
        let inner = self.driver.serialize()?;
        Ok(NetworkSerialization { inner })
    }

    /// Starts an interface on this network.
    ///
    /// Only four options of `config` are honoured on a network: allocate MAC address, TSO,
    /// isolation and checksum offload. Its mode is ignored (the network's applies); any other
    /// option set is refused with [`NetworkConfigError::NotHonouredOnNetwork`].
    ///
    /// Wraps `vmnet_interface_start_with_network`; the interface is then an [`Interface`] as
    /// any other.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an invalid configuration;
    /// [`Error::NetworkConfig`](crate::Error::NetworkConfig)
    /// ([`NetworkConfigError::NotHonouredOnNetwork`]) for an option not honoured here; then
    /// as for [`Interface::start`].
    #[doc(alias = "vmnet_interface_start_with_network")]
    pub fn start_interface(&self, config: &InterfaceConfig) -> Result<Interface> {
        self.start_interface_with(config, &StartOptions::new())
    }

    /// [`start_interface`](Self::start_interface) with options.
    ///
    /// # Errors
    /// As for [`start_interface`](Self::start_interface).
    #[doc(alias = "vmnet_interface_start_with_network")]
    pub fn start_interface_with(
        &self,
        config: &InterfaceConfig,
        options: &StartOptions,
    ) -> Result<Interface> {
        Interface::start_on(config, options, |config, ctx| {
            let desc = network_interface_description(config, self.driver.capabilities())?;
            self.driver.start_interface(&desc, ctx)
        })
    }
}

/// The description of an interface on a network: only the four honoured options.
fn network_interface_description(
    config: &InterfaceConfig,
    caps: crate::Capabilities,
) -> Result<Dictionary> {
    let full = config.validate(caps)?;
    let mut desc = Dictionary::new();
    for (key, value) in full.iter() {
        match key {
            Key::OperationMode => {}
            Key::AllocateMacAddress
            | Key::EnableTso
            | Key::EnableIsolation
            | Key::EnableChecksumOffload => desc.insert(key, value.clone()),
            other => return Err(NetworkConfigError::NotHonouredOnNetwork { key: other }.into()),
        }
    }
    // Keep vmnet's default explicit so both backends agree on it.
    if !desc.contains(Key::AllocateMacAddress) {
        desc.insert(Key::AllocateMacAddress, Value::Bool(true));
    }
    Ok(desc)
}

/// A serialized network: an XPC object on macOS (send it over your own XPC connection), a
/// process-local token on the simulator.
#[derive(Debug)]
pub struct NetworkSerialization {
    pub(crate) inner: backend::Serialization,
}

impl NetworkSerialization {
    /// The XPC object (borrowed: valid while `self` lives); `None` for a simulated network.
    pub fn as_raw(&self) -> Option<vmnet_sys::xpc_object_t> {
        self.inner.as_raw()
    }

    /// Wraps an XPC object received from another process.
    ///
    /// # Safety
    /// `object` is a live XPC object; this retains it (the caller keeps its own reference).
    #[cfg(vmnet_framework)]
    #[allow(unsafe_code)] // A public `unsafe fn`: its contract is `retain_xpc`'s.
    pub unsafe fn from_raw(object: vmnet_sys::xpc_object_t) -> Option<Self> {
        // SAFETY: the caller guarantees a live XPC object.
        unsafe { backend::Serialization::retain_xpc(object) }.map(|inner| Self { inner })
    }
}

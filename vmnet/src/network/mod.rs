//! Networks (macOS 26): a [`NetworkConfiguration`] describes a shared or host network, a
//! [`Network`] reserves it, interfaces start on it with a [`NetworkInterfaceConfig`], and a
//! [`NetworkSerialization`] carries it to another process.
//!
//! Everything here is resolved at run time: on systems older than macOS 26 [`Network::new`]
//! and [`Network::from_serialization`] return [`Error::Unsupported`] with
//! `since: "macOS 26.0"`. On the simulator a network is a segment of its own.
//!
//! [`Error::Unsupported`]: crate::Error::Unsupported

mod config;
pub(crate) mod error;
mod interface_config;

use std::ffi::CString;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub use self::config::NetworkConfiguration;
pub use self::error::NetworkConfigError;
pub use self::interface_config::NetworkInterfaceConfig;
use crate::backend::{self, NetworkConfigDriver, NetworkDriver, Service};
use crate::error::Result;
use crate::interface::Interface;
use crate::keys::{Dictionary, Key};
use crate::mode::Mode;
use crate::options::StartOptions;

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
    /// Creates the network described by `config` (which stays usable): checks it
    /// ([`NetworkConfiguration::validate`]), then creates a vmnet configuration, applies each
    /// setting and creates the network. Wraps `vmnet_network_configuration_create`, the
    /// configuration's setters and `vmnet_network_create`.
    ///
    /// # Errors
    /// What [`NetworkConfiguration::validate`] finds;
    /// [`Error::Unsupported`](crate::Error::Unsupported) before macOS 26 (and without a
    /// backend);
    /// [`Error::Vmnet`](crate::Error::Vmnet) when vmnet refuses: the configuration
    /// (`Operation::CreateNetworkConfiguration`), one of its settings
    /// (`Operation::ConfigureNetwork`: a second port-forwarding rule with the same key, a
    /// client or address reserved twice, …) or the network (`Operation::CreateNetwork`).
    #[doc(alias = "vmnet_network_create")]
    pub fn new(config: &NetworkConfiguration) -> Result<Self> {
        Self::with_driver(config, backend::platform::network_configuration)
    }

    /// [`new`](Self::new) with the backend's configuration made by `create`.
    pub(crate) fn with_driver(
        config: &NetworkConfiguration,
        create: impl FnOnce(Mode) -> Result<Box<dyn NetworkConfigDriver>>,
    ) -> Result<Self> {
        config.validate()?;
        let mut driver = create(config.mode().into())?;
        apply(config, driver.as_mut())?;
        Ok(Self {
            driver: driver.create_network()?.into(),
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

    /// Starts an interface on this network with the settings vmnet honours there (see
    /// [`NetworkInterfaceConfig`]); its mode, addressing and MTU are the network's. Wraps
    /// `vmnet_interface_start_with_network`; the interface is then an [`Interface`] as any
    /// other.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) for TSO or checksum offload where
    /// the system lacks them; then as for [`Interface::start`].
    #[doc(alias = "vmnet_interface_start_with_network")]
    pub fn start_interface(&self, config: &NetworkInterfaceConfig) -> Result<Interface> {
        self.start_interface_with(config, &StartOptions::new())
    }

    /// [`start_interface`](Self::start_interface) with options.
    ///
    /// # Errors
    /// As for [`start_interface`](Self::start_interface).
    #[doc(alias = "vmnet_interface_start_with_network")]
    pub fn start_interface_with(
        &self,
        config: &NetworkInterfaceConfig,
        options: &StartOptions,
    ) -> Result<Interface> {
        let config = config.to_interface_config();
        Interface::start_on(&config, options, |config, ctx| {
            // The same rules and capability checks as any interface; the network sets the mode.
            let mut desc = Dictionary::new();
            for (key, value) in config.validate(self.driver.capabilities())?.iter() {
                if key != Key::OperationMode {
                    desc.insert(key, value.clone());
                }
            }
            self.driver.start_interface(&desc, ctx)
        })
    }
}

/// Hands each setting of `config` (validated) to the backend's configuration, in the order
/// vmnet documents them.
fn apply(config: &NetworkConfiguration, driver: &mut dyn NetworkConfigDriver) -> Result<()> {
    if let Some(name) = config.external_interface() {
        // validate() refused a NUL.
        let name = CString::new(name).map_err(|_| NetworkConfigError::InvalidInterfaceName {
            name: name.to_owned(),
        })?;
        driver.set_external_interface(&name)?;
    }
    let services = [
        (config.nat44(), Service::Nat44),
        (config.nat66(), Service::Nat66),
        (config.dhcp(), Service::Dhcp),
        (config.dns_proxy(), Service::DnsProxy),
        (config.router_advertisement(), Service::RouterAdvertisement),
    ];
    for (on, service) in services {
        if !on {
            driver.disable(service);
        }
    }
    if let Some((address, mask)) = config.ipv4_subnet() {
        driver.set_ipv4_subnet(address, mask)?;
    }
    if let Some((prefix, len)) = config.ipv6_prefix() {
        driver.set_ipv6_prefix(prefix, len)?;
    }
    for rule in config.port_forwarding_rules() {
        driver.add_port_forwarding_rule(rule)?;
    }
    for &(client, address) in config.dhcp_reservations() {
        driver.add_dhcp_reservation(client, address)?;
    }
    if let Some(mtu) = config.mtu() {
        driver.set_mtu(mtu)?;
    }
    Ok(())
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

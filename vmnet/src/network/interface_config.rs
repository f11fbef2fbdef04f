//! [`NetworkInterfaceConfig`]: the settings of an interface started on a [`Network`]: only
//! those vmnet honours there.
//!
//! [`Network`]: crate::Network

use crate::config::InterfaceConfig;

/// The settings of an interface started on a [`Network`](crate::Network) with
/// [`start_interface`](crate::Network::start_interface): exactly the four that
/// `vmnet_interface_start_with_network` honours (allocate a MAC address, TSO, isolation,
/// checksum offload). Mode, addressing and MTU come from the network's
/// [`NetworkConfiguration`](crate::NetworkConfiguration).
///
/// Built like the other configurations: by-value `with_*` setters, plain getters.
///
/// ```
/// let options = vmnet::NetworkInterfaceConfig::new().with_isolation(true);
/// assert!(options.isolation());
/// assert!(options.allocate_mac_address()); // vmnet's default
/// ```
///
/// Settings vmnet ignores on a network cannot be passed:
///
/// ```compile_fail
/// fn start(network: &vmnet::Network) -> vmnet::Result<vmnet::Interface> {
///     // The MTU is the network's: an InterfaceConfig is not accepted here.
///     network.start_interface(&vmnet::InterfaceConfig::shared().with_mtu(1500))
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetworkInterfaceConfig {
    allocate_mac_address: bool,
    tso: bool,
    isolation: bool,
    checksum_offload: bool,
}

impl Default for NetworkInterfaceConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl NetworkInterfaceConfig {
    /// vmnet's defaults: a MAC address allocated, TSO, isolation and checksum offload off.
    pub const fn new() -> Self {
        Self {
            allocate_mac_address: true,
            tso: false,
            isolation: false,
            checksum_offload: false,
        }
    }

    /// Whether vmnet allocates a MAC address for the interface (default true; false: the
    /// guest brings its own).
    #[must_use]
    pub const fn with_allocate_mac_address(mut self, allocate: bool) -> Self {
        self.allocate_mac_address = allocate;
        self
    }

    /// TCP segmentation offload: packets up to 64 KiB (macOS 12; see
    /// [`InterfaceConfig::with_tso`]).
    #[must_use]
    pub const fn with_tso(mut self, enable: bool) -> Self {
        self.tso = enable;
        self
    }

    /// Isolation from the network's other interfaces (see [`InterfaceConfig::with_isolation`]).
    #[must_use]
    pub const fn with_isolation(mut self, enable: bool) -> Self {
        self.isolation = enable;
        self
    }

    /// Checksum offload (macOS 12; see [`InterfaceConfig::with_checksum_offload`]).
    #[must_use]
    pub const fn with_checksum_offload(mut self, enable: bool) -> Self {
        self.checksum_offload = enable;
        self
    }

    /// Whether vmnet allocates a MAC address.
    pub const fn allocate_mac_address(&self) -> bool {
        self.allocate_mac_address
    }

    /// Whether TSO is on.
    pub const fn tso(&self) -> bool {
        self.tso
    }

    /// Whether isolation is on.
    pub const fn isolation(&self) -> bool {
        self.isolation
    }

    /// Whether checksum offload is on.
    pub const fn checksum_offload(&self) -> bool {
        self.checksum_offload
    }

    /// The same settings as an interface configuration, so that one set of rules (and of
    /// capability checks) validates both; its mode is a placeholder the network overrides.
    pub(crate) fn to_interface_config(self) -> InterfaceConfig {
        InterfaceConfig::shared()
            .with_allocate_mac_address(self.allocate_mac_address)
            .with_tso(self.tso)
            .with_isolation(self.isolation)
            .with_checksum_offload(self.checksum_offload)
    }
}

//! vmnet's operating modes.

use std::fmt;

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

/// The modes of a [`Network`](crate::Network) (macOS 26): vmnet creates shared and host
/// networks only. Bridging is an interface's mode ([`InterfaceConfig::bridged`]), so a bridged
/// network cannot be asked for.
///
/// ```compile_fail
/// // A network is host or shared: asking for a bridged one does not compile.
/// let config = vmnet::NetworkConfiguration::new(vmnet::Mode::Bridged);
/// ```
///
/// [`InterfaceConfig::bridged`]: crate::InterfaceConfig::bridged
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkMode {
    /// A host-only network ([`Mode::Host`]).
    Host,
    /// A shared (NAT) network ([`Mode::Shared`]).
    Shared,
}

impl From<NetworkMode> for Mode {
    fn from(mode: NetworkMode) -> Self {
        match mode {
            NetworkMode::Host => Mode::Host,
            NetworkMode::Shared => Mode::Shared,
        }
    }
}

impl TryFrom<Mode> for NetworkMode {
    type Error = crate::network::error::NetworkConfigError;

    /// # Errors
    /// [`NetworkConfigError::BridgedNetwork`](crate::NetworkConfigError::BridgedNetwork)
    /// for [`Mode::Bridged`].
    fn try_from(mode: Mode) -> Result<Self, Self::Error> {
        match mode {
            Mode::Host => Ok(NetworkMode::Host),
            Mode::Shared => Ok(NetworkMode::Shared),
            Mode::Bridged => Err(crate::network::error::NetworkConfigError::BridgedNetwork),
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Mode::from(*self).fmt(f)
    }
}

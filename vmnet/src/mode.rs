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

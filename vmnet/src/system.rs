//! What the running system offers: its optional vmnet features and the host interfaces
//! usable for bridged mode.

use crate::capabilities::Capabilities;
use crate::error::Result;

/// The features that [`Interface::start`](crate::Interface::start) can use here.
///
/// On macOS, found by resolving the newer symbols at run time. Elsewhere, with the `sim`
/// feature, those of the default simulated segment ([`Capabilities::ALL`]); without it, none.
pub fn capabilities() -> Capabilities {
    crate::backend::platform::capabilities()
}

/// The BSD names of the host interfaces an interface can bridge to
/// ([`InterfaceConfig::bridged`](crate::InterfaceConfig::bridged)), such as `en0`.
///
/// On macOS this asks vmnet (wraps `vmnet_copy_shared_interface_list`; no list from vmnet is
/// an empty list); on other systems with the `sim` feature it returns the simulator's
/// stand-in list.
///
/// # Errors
/// [`Error::Unsupported`](crate::Error::Unsupported) on a system without vmnet when the `sim`
/// feature is off. Never fails on macOS or on the simulator.
///
/// ```
/// # #[cfg(feature = "sim")] {
/// for name in vmnet::bridgeable_interfaces()? {
///     println!("can bridge to {name}");
/// }
/// # }
/// # Ok::<(), vmnet::Error>(())
/// ```
#[doc(alias = "vmnet_copy_shared_interface_list")]
pub fn bridgeable_interfaces() -> Result<Vec<String>> {
    crate::backend::platform::bridgeable_interfaces()
}

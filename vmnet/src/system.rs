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
/// On macOS this asks vmnet (`vmnet_copy_shared_interface_list`); on other systems with the
/// `sim` feature it returns the simulator's stand-in list.
///
/// ```
/// # #[cfg(feature = "sim")] {
/// for name in vmnet::bridgeable_interfaces()? {
///     println!("can bridge to {name}");
/// }
/// # }
/// # Ok::<(), vmnet::Error>(())
/// ```
pub fn bridgeable_interfaces() -> Result<Vec<String>> {
    crate::backend::platform::bridgeable_interfaces()
}

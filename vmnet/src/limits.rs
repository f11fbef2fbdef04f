//! Limits that vmnet and this crate enforce on configurations.

/// The smallest MTU accepted: 1280, the minimum link MTU of IPv6, which vmnet always carries.
pub const MIN_MTU: u32 = 1280;

/// The largest MTU accepted: 16384, the largest this crate passes on to vmnet.
pub const MAX_MTU: u32 = 16384;

/// The longest name of a network interface, in bytes: `IFNAMSIZ` (16) less the NUL.
pub(crate) const MAX_INTERFACE_NAME_LEN: usize = 15;

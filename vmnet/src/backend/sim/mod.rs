//! The simulator backend: an in-process Ethernet segment with vmnet-like interfaces.
//!
//! See the public documentation of [`crate::sim`].

mod faults;
mod impair;
mod network;
mod port;
mod segment;
mod tap;

pub use faults::{DEFAULT_REORDER_HOLD, FaultStats, Faults};
pub use network::live_network_objects;
pub(crate) use network::{NetworkToken, network_from_token};
pub use port::HostPort;
pub use segment::{
    DEFAULT_HOST_QUEUE_CAPACITY, DEFAULT_QUEUE_CAPACITY, Segment, SegmentBuilder, SegmentStats,
};
pub use tap::{DEFAULT_TAP_CAPACITY, Tap};

/// The simulator as the platform backend (targets without vmnet, feature `sim`).
#[cfg(not(vmnet_framework))]
pub(crate) mod platform {
    use crate::backend::{NetworkConfigDriver, StartContext, Started};
    use crate::capabilities::Capabilities;
    use crate::config::InterfaceConfig;
    use crate::error::Result;
    use crate::mode::Mode;

    use super::Segment;

    pub(crate) fn start(config: &InterfaceConfig, ctx: StartContext<'_>) -> Result<Started> {
        Segment::global().start_driver(config, ctx)
    }

    pub(crate) fn capabilities() -> Capabilities {
        Segment::global().capabilities()
    }

    pub(crate) fn bridgeable_interfaces() -> Result<Vec<String>> {
        Ok(Segment::global().bridgeable_interfaces())
    }

    pub(crate) fn network_configuration(mode: Mode) -> Result<Box<dyn NetworkConfigDriver>> {
        Segment::global().network_config_driver(mode)
    }
}

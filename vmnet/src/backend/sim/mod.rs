//! The simulator backend: an in-process Ethernet segment with vmnet-like interfaces.
//!
//! See the public documentation of [`crate::sim`].

mod port;
mod segment;

pub use port::HostPort;
pub use segment::{
    DEFAULT_HOST_QUEUE_CAPACITY, DEFAULT_QUEUE_CAPACITY, Segment, SegmentBuilder, SegmentStats,
};

/// The simulator as the platform backend (targets without vmnet, feature `sim`).
#[cfg(not(target_vendor = "apple"))]
pub(crate) mod platform {
    use crate::backend::{StartContext, Started};
    use crate::capabilities::Capabilities;
    use crate::config::InterfaceConfig;
    use crate::error::Result;

    pub(crate) fn start(config: &InterfaceConfig, ctx: StartContext<'_>) -> Result<Started> {
        super::Segment::global().start_driver(config, ctx)
    }

    pub(crate) fn capabilities() -> Capabilities {
        super::Segment::global().capabilities()
    }
}

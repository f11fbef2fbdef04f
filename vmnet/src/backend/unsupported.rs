//! The backend of targets without vmnet when the simulator is not compiled in.

use super::{StartContext, Started};
use crate::capabilities::Capabilities;
use crate::config::InterfaceConfig;
use crate::error::{Error, Result};

pub(crate) fn start(_: &InterfaceConfig, _: StartContext<'_>) -> Result<Started> {
    Err(Error::Unsupported {
        feature: "vmnet (this target has no vmnet.framework; enable the `sim` feature for the simulator)",
        since: "macOS 11",
    })
}

pub(crate) fn capabilities() -> Capabilities {
    Capabilities::BASELINE
}

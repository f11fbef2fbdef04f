//! The backend of targets without vmnet when the simulator is not compiled in.

use super::{NetworkConfigDriver, StartContext, Started};
use crate::capabilities::Capabilities;
use crate::config::InterfaceConfig;
use crate::error::{Error, Result};
use crate::mode::Mode;

fn unsupported() -> Error {
    Error::Unsupported {
        feature: "vmnet (this target has no vmnet.framework; enable the `sim` feature for the simulator)",
        since: "macOS 11",
    }
}

pub(crate) fn start(_: &InterfaceConfig, _: StartContext<'_>) -> Result<Started> {
    Err(unsupported())
}

pub(crate) fn capabilities() -> Capabilities {
    Capabilities::BASELINE
}

pub(crate) fn bridgeable_interfaces() -> Result<Vec<String>> {
    Err(unsupported())
}

pub(crate) fn network_configuration(_: Mode) -> Result<Box<dyn NetworkConfigDriver>> {
    Err(unsupported())
}

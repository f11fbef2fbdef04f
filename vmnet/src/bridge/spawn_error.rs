//! [`SpawnError`]: a bridge that did not start gives its interface back.

use std::fmt;
use std::io;

use crate::error::Error;
use crate::interface::Interface;

/// A bridge that could not start (the socket could not be prepared, a thread could not be
/// created): the interface is given back, still running, with the cause, as tokio's
/// `AsyncFd` gives its descriptor back.
///
/// Converts into [`io::Error`] and [`Error`] (dropping, and so stopping, the interface) for
/// `?` in functions that do not want it back.
///
/// ```
/// # #[cfg(feature = "sim")] {
/// use std::os::unix::net::UnixDatagram;
/// use vmnet::bridge::{self, BridgeOptions};
/// # let segment = vmnet::sim::Segment::new();
/// # let iface = segment.start(&vmnet::InterfaceConfig::shared())?;
/// let (_vm, ours) = UnixDatagram::pair()?;
/// let iface = match bridge::spawn(iface, ours, &BridgeOptions::new()) {
///     Ok(bridge) => bridge.stop_and_join().interface.unwrap(),
///     Err(e) => {
///         eprintln!("{e}: {}", e.error());
///         e.into_interface() // still running: try another socket, or stop it
///     }
/// };
/// iface.stop()?;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SpawnError {
    interface: Interface,
    error: io::Error,
}

impl SpawnError {
    pub(super) fn new(interface: Interface, error: io::Error) -> Self {
        Self { interface, error }
    }

    /// The interface, still running, and the cause.
    pub fn into_parts(self) -> (Interface, io::Error) {
        (self.interface, self.error)
    }

    /// The interface, still running.
    pub fn into_interface(self) -> Interface {
        self.interface
    }

    /// Why the bridge did not start.
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

impl fmt::Debug for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the bridge could not start")
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SpawnError> for io::Error {
    fn from(e: SpawnError) -> Self {
        e.error
    }
}

impl From<SpawnError> for Error {
    fn from(e: SpawnError) -> Self {
        Error::Io(e.error)
    }
}

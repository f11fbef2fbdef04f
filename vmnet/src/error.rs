//! Errors: one [`Error`] type for the crate, and vmnet's own [`Status`] codes.

use std::fmt;
use std::time::Duration;

use crate::config::error::ConfigError;
use crate::keys::Key;
use crate::network::error::NetworkConfigError;

/// A failure status reported by vmnet.framework (`vmnet_return_t` other than success).
///
/// Every code documented up to macOS 26 has a variant; a code this crate does not know yet is
/// kept in [`Status::Unknown`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// `VMNET_FAILURE` (1001): a generic failure.
    Failure,
    /// `VMNET_MEM_FAILURE` (1002): memory allocation failed.
    MemFailure,
    /// `VMNET_INVALID_ARGUMENT` (1003): an argument or descriptor key was rejected.
    InvalidArgument,
    /// `VMNET_SETUP_INCOMPLETE` (1004): the interface is not set up (yet).
    SetupIncomplete,
    /// `VMNET_INVALID_ACCESS` (1005): permission denied.
    InvalidAccess,
    /// `VMNET_PACKET_TOO_BIG` (1006): a packet exceeds the interface's maximum packet size.
    PacketTooBig,
    /// `VMNET_BUFFER_EXHAUSTED` (1007): kernel buffers are exhausted (transient).
    BufferExhausted,
    /// `VMNET_TOO_MANY_PACKETS` (1008): more packets than one call may carry.
    TooManyPackets,
    /// `VMNET_SHARING_SERVICE_BUSY` (1009, macOS 11): a conflicting sharing service is on.
    SharingServiceBusy,
    /// `VMNET_NOT_AUTHORIZED` (1010, macOS 14): the process lacks the right to use vmnet.
    NotAuthorized,
    /// A code this version of the crate does not know.
    Unknown(u32),
}

impl Status {
    /// `Ok(())` for `VMNET_SUCCESS` (1000), else the failure.
    ///
    /// # Errors
    /// The [`Status`] of any other code; [`Status::Unknown`] for a code this crate does not
    /// know.
    pub fn check(code: u32) -> Result<(), Status> {
        use vmnet_sys::*;
        Err(match code {
            VMNET_SUCCESS => return Ok(()),
            VMNET_FAILURE => Status::Failure,
            VMNET_MEM_FAILURE => Status::MemFailure,
            VMNET_INVALID_ARGUMENT => Status::InvalidArgument,
            VMNET_SETUP_INCOMPLETE => Status::SetupIncomplete,
            VMNET_INVALID_ACCESS => Status::InvalidAccess,
            VMNET_PACKET_TOO_BIG => Status::PacketTooBig,
            VMNET_BUFFER_EXHAUSTED => Status::BufferExhausted,
            VMNET_TOO_MANY_PACKETS => Status::TooManyPackets,
            VMNET_SHARING_SERVICE_BUSY => Status::SharingServiceBusy,
            VMNET_NOT_AUTHORIZED => Status::NotAuthorized,
            other => Status::Unknown(other),
        })
    }

    /// The raw `vmnet_return_t` code.
    pub fn code(self) -> u32 {
        use vmnet_sys::*;
        match self {
            Status::Failure => VMNET_FAILURE,
            Status::MemFailure => VMNET_MEM_FAILURE,
            Status::InvalidArgument => VMNET_INVALID_ARGUMENT,
            Status::SetupIncomplete => VMNET_SETUP_INCOMPLETE,
            Status::InvalidAccess => VMNET_INVALID_ACCESS,
            Status::PacketTooBig => VMNET_PACKET_TOO_BIG,
            Status::BufferExhausted => VMNET_BUFFER_EXHAUSTED,
            Status::TooManyPackets => VMNET_TOO_MANY_PACKETS,
            Status::SharingServiceBusy => VMNET_SHARING_SERVICE_BUSY,
            Status::NotAuthorized => VMNET_NOT_AUTHORIZED,
            Status::Unknown(code) => code,
        }
    }

    /// Whether retrying the same call later may succeed (buffers were momentarily exhausted).
    pub fn is_transient(self) -> bool {
        matches!(self, Status::BufferExhausted)
    }

    /// What the status means, and what to do about it.
    fn advice(self) -> &'static str {
        match self {
            Status::Failure => {
                "vmnet failed; on macOS 15 and older this is also how missing privileges show: \
                 run as root or sign the binary with the com.apple.vm.networking entitlement"
            }
            Status::MemFailure => "vmnet could not allocate memory",
            Status::InvalidArgument => {
                "vmnet rejected an argument; check the configuration against the interface mode"
            }
            Status::SetupIncomplete => "the interface is not completely set up",
            Status::InvalidAccess => {
                "permission denied: run as root, or sign the binary with the \
                 com.apple.vm.networking entitlement"
            }
            Status::PacketTooBig => {
                "a packet is larger than the interface's maximum packet size (see Parameters)"
            }
            Status::BufferExhausted => "kernel buffers are exhausted; retry shortly",
            Status::TooManyPackets => {
                "too many packets in one call; stay within the interface's read/write limits"
            }
            Status::SharingServiceBusy => {
                "a conflicting sharing service is on: turn off Internet Sharing in System \
                 Settings > General > Sharing and try again"
            }
            Status::NotAuthorized => {
                "not authorized to use vmnet: run as root, or sign the binary with the \
                 com.apple.vm.networking entitlement (macOS 26: com.apple.security.virtualization)"
            }
            Status::Unknown(_) => "vmnet returned a status this crate does not know",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vmnet status {}: {}", self.code(), self.advice())
    }
}

impl std::error::Error for Status {}

/// The vmnet operation an error arose in.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Starting an interface.
    Start,
    /// Stopping an interface.
    Stop,
    /// Reading packets.
    Read,
    /// Writing packets.
    Write,
    /// Installing or removing the event callback.
    SetEventCallback,
    /// Adding a port-forwarding rule.
    AddPortForwardingRule,
    /// Removing a port-forwarding rule.
    RemovePortForwardingRule,
    /// Listing port-forwarding rules.
    ListPortForwardingRules,
    /// Listing the interfaces usable for bridged mode.
    ListBridgeableInterfaces,
    /// Creating a network configuration.
    CreateNetworkConfiguration,
    /// Changing a network configuration.
    ConfigureNetwork,
    /// Creating a network.
    CreateNetwork,
    /// Serializing a network.
    SerializeNetwork,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Start => "starting the interface",
            Operation::Stop => "stopping the interface",
            Operation::Read => "reading packets",
            Operation::Write => "writing packets",
            Operation::SetEventCallback => "setting the event callback",
            Operation::AddPortForwardingRule => "adding a port-forwarding rule",
            Operation::RemovePortForwardingRule => "removing a port-forwarding rule",
            Operation::ListPortForwardingRules => "listing port-forwarding rules",
            Operation::ListBridgeableInterfaces => "listing bridgeable interfaces",
            Operation::CreateNetworkConfiguration => "creating a network configuration",
            Operation::ConfigureNetwork => "configuring a network",
            Operation::CreateNetwork => "creating a network",
            Operation::SerializeNetwork => "serializing a network",
        })
    }
}

/// Everything that can go wrong in this crate.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// vmnet reported a failure.
    Vmnet {
        /// What was being done.
        operation: Operation,
        /// vmnet's status code.
        status: Status,
    },
    /// The configuration was rejected before vmnet was called.
    Config(ConfigError),
    /// A network configuration or port-forwarding input was rejected before vmnet was called.
    NetworkConfig(NetworkConfigError),
    /// The running system (or simulated segment) lacks a feature.
    Unsupported {
        /// What is missing.
        feature: &'static str,
        /// The first macOS release that has it.
        since: &'static str,
    },
    /// A completion did not arrive in time.
    Timeout {
        /// What was being waited for.
        operation: Operation,
        /// How long it was waited for.
        waited: Duration,
    },
    /// A packet is larger than the interface (or batch slot) accepts; nothing was written.
    PacketTooBig {
        /// Its position in the batch.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// A packet batch holds as many packets as it can.
    BatchFull {
        /// The batch's capacity in packets.
        capacity: usize,
    },
    /// The buffer given to a read is smaller than the interface's maximum packet size.
    BufferTooSmall {
        /// The buffer's length.
        len: usize,
        /// The length needed.
        needed: usize,
    },
    /// vmnet's parameter dictionary lacked a value or held one of the wrong form.
    Parameters {
        /// The key concerned.
        key: Key,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// vmnet listed port-forwarding rules, but none of them could be read: vmnet refused
    /// their details, or their protocol is neither TCP nor UDP. (Rules that can be read are
    /// returned, and the others skipped, whenever there is at least one.)
    UnreadableRules {
        /// How many rules vmnet listed.
        count: usize,
    },
    /// The interface has been stopped.
    Stopped,
    /// An operating-system call failed (the readiness descriptor, a queue).
    Io(std::io::Error),
}

impl Error {
    /// vmnet refused `operation` with `status`.
    pub(crate) fn vmnet(operation: Operation, status: Status) -> Self {
        Error::Vmnet { operation, status }
    }

    /// `Ok(())` when vmnet returned `VMNET_SUCCESS` for `operation`, else [`Error::Vmnet`].
    #[cfg(vmnet_framework)]
    pub(crate) fn check(operation: Operation, code: u32) -> Result<()> {
        Status::check(code).map_err(|status| Self::vmnet(operation, status))
    }

    /// The object a vmnet call returned with `code`: a failure code wins over an object (the
    /// caller drops it), and no object with success is a [`Status::Failure`].
    #[cfg(vmnet_framework)]
    pub(crate) fn check_returned<T>(
        operation: Operation,
        code: u32,
        object: Option<T>,
    ) -> Result<T> {
        Self::check(operation, code)?;
        object.ok_or(Self::vmnet(operation, Status::Failure))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Vmnet { operation, status } => write!(f, "{operation}: {status}"),
            Error::Config(e) => write!(f, "invalid interface configuration: {e}"),
            Error::NetworkConfig(e) => write!(f, "invalid network configuration: {e}"),
            Error::Unsupported { feature, since } => write!(
                f,
                "{feature} is not supported by this system; it needs {since} or later"
            ),
            Error::Timeout { operation, waited } => write!(
                f,
                "{operation}: vmnet did not complete within {waited:?}; the system may be \
                 overloaded, or the call was made from the interface's own dispatch queue"
            ),
            Error::PacketTooBig { index, len, max } => write!(
                f,
                "packet {index} is {len} bytes, more than the {max} bytes accepted; nothing \
                 was written (enable TSO for frames larger than the MTU)"
            ),
            Error::BatchFull { capacity } => write!(
                f,
                "the packet batch is full ({capacity} packets); write or clear it first"
            ),
            Error::BufferTooSmall { len, needed } => write!(
                f,
                "the read buffer holds {len} bytes but a packet may be {needed} bytes \
                 (the interface's max_packet_size)"
            ),
            Error::Parameters { key, problem } => write!(
                f,
                "vmnet's interface parameters are unusable: {} {problem}",
                key.name()
            ),
            Error::UnreadableRules { count } => write!(
                f,
                "vmnet listed {count} port-forwarding rules and none could be read (vmnet \
                 refused their details, or their protocol is neither TCP nor UDP)"
            ),
            Error::Stopped => f.write_str("the interface has been stopped"),
            Error::Io(e) => write!(f, "operating-system error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Vmnet { status, .. } => Some(status),
            Error::Config(e) => Some(e),
            Error::NetworkConfig(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<NetworkConfigError> for Error {
    fn from(e: NetworkConfigError) -> Self {
        Error::NetworkConfig(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_maps_to_its_own_variant_and_back() {
        assert_eq!(Status::check(1000), Ok(()));
        let mut seen = Vec::new();
        for code in 1001..=1010 {
            let status = Status::check(code).unwrap_err();
            assert!(
                !matches!(status, Status::Unknown(_)),
                "{code} is documented"
            );
            assert_eq!(status.code(), code);
            assert!(
                !seen.contains(&status),
                "{code} maps to a variant already used"
            );
            seen.push(status);
        }
    }

    #[test]
    fn unknown_codes_are_kept() {
        assert_eq!(Status::check(1011), Err(Status::Unknown(1011)));
        assert_eq!(Status::check(0), Err(Status::Unknown(0)));
        assert_eq!(Status::Unknown(4242).code(), 4242);
        assert!(Status::Unknown(4242).to_string().contains("4242"));
    }

    #[test]
    fn messages_say_what_to_do() {
        assert!(Status::NotAuthorized.to_string().contains("root"));
        assert!(Status::InvalidAccess.to_string().contains("entitlement"));
        assert!(
            Status::SharingServiceBusy
                .to_string()
                .contains("Internet Sharing")
        );
        assert!(Status::BufferExhausted.is_transient());
        assert!(!Status::Failure.is_transient());
        let e = Error::Unsupported {
            feature: "the virtio-net header",
            since: "macOS 15.4",
        };
        assert!(e.to_string().contains("macOS 15.4"));
    }
}

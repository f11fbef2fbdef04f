//! Errors: one [`Error`] type for the crate, and vmnet's own [`Status`] codes.
//!
//! The choice, deliberately: every operation returns the one [`Error`], so `?` carries any of
//! them through a caller's code and one `match` sees every failure. What differs per API family
//! is the input each checks before vmnet is called, and each family has its own enum for that,
//! carried in a variant of its own: [`ConfigError`] (interface configurations,
//! [`Error::Config`]), [`NetworkConfigError`] (networks, [`Error::NetworkConfig`]) and
//! [`RuleError`] (port-forwarding rules, [`Error::Rule`]). The socket bridge adds nothing: its
//! ends are reported in [`ExitReason`](crate::bridge::ExitReason), not as errors. Where a
//! failed call would otherwise lose a value the caller gave it, the error carries it back
//! (the async constructors' `RegisterError`). Messages say what to do; the cause, when there
//! is one, is [`source`](std::error::Error::source), never repeated in the message.

use std::fmt;
use std::time::Duration;

use crate::config::error::ConfigError;
use crate::forwarding::error::RuleError;
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
    /// A network configuration input was rejected before vmnet was called.
    NetworkConfig(NetworkConfigError),
    /// A port-forwarding rule was rejected before vmnet was called (wherever it was added).
    Rule(RuleError),
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
    /// vmnet took none of the packets of a write (it reported 0 written, with no error): the
    /// frame was not sent. Retry later, or count it as dropped.
    NotAccepted,
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
            // The cause (the status, the rule broken, the OS error) is `source()`, never
            // repeated here: chain printers (anyhow's `{:#}`, `Report`) show each once.
            Error::Vmnet { operation, .. } => write!(f, "{operation} failed in vmnet"),
            Error::Config(_) => f.write_str("invalid interface configuration"),
            Error::NetworkConfig(_) => f.write_str("invalid network configuration"),
            Error::Rule(_) => f.write_str("invalid port-forwarding rule"),
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
            Error::NotAccepted => f.write_str(
                "vmnet did not take the frame now (nothing was written); retry later or count \
                 it as dropped",
            ),
            Error::Stopped => f.write_str("the interface has been stopped"),
            Error::Io(_) => f.write_str(
                "an operating-system call failed (the readiness descriptor, a queue, a socket)",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Vmnet { status, .. } => Some(status),
            Error::Config(e) => Some(e),
            Error::NetworkConfig(e) => Some(e),
            Error::Rule(e) => Some(e),
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

impl From<RuleError> for Error {
    fn from(e: RuleError) -> Self {
        Error::Rule(e)
    }
}

/// An error with its causes, for people: `"context: cause: …"` on one line (as
/// `std::error::Report` will), from [`Error::report`] or, for any error, [`Report::new`].
#[derive(Debug)]
pub struct Report<'a>(&'a (dyn std::error::Error + 'static));

impl<'a> Report<'a> {
    /// The report of any error (for instance a `Box<dyn Error>` holding a vmnet [`Error`]).
    pub fn new(error: &'a (dyn std::error::Error + 'static)) -> Self {
        Report(error)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl Error {
    /// The error and every cause behind it (its [`source`](std::error::Error::source)
    /// chain) on one line, for a person to read: what was being done, then what went wrong
    /// and what to do. `Display` alone says only the first part.
    ///
    /// ```
    /// let e = vmnet::Error::from(vmnet::RuleError::ZeroPort { which: "external" });
    /// assert_eq!(e.to_string(), "invalid port-forwarding rule");
    /// assert_eq!(
    ///     e.report().to_string(),
    ///     "invalid port-forwarding rule: the external port of a port-forwarding rule is 0; \
    ///      use a port from 1 to 65535"
    /// );
    /// ```
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }

    /// The [`std::io::ErrorKind`] closest to this error, as `From<Error> for io::Error`
    /// uses it.
    pub fn kind(&self) -> std::io::ErrorKind {
        use std::io::ErrorKind;
        match self {
            Error::Vmnet { status, .. } => match status {
                Status::InvalidAccess | Status::NotAuthorized => ErrorKind::PermissionDenied,
                Status::InvalidArgument | Status::PacketTooBig | Status::TooManyPackets => {
                    ErrorKind::InvalidInput
                }
                Status::MemFailure => ErrorKind::OutOfMemory,
                Status::BufferExhausted => ErrorKind::WouldBlock,
                Status::SharingServiceBusy => ErrorKind::ResourceBusy,
                Status::Failure | Status::SetupIncomplete | Status::Unknown(_) => ErrorKind::Other,
            },
            Error::Config(_)
            | Error::NetworkConfig(_)
            | Error::Rule(_)
            | Error::PacketTooBig { .. }
            | Error::BatchFull { .. }
            | Error::BufferTooSmall { .. } => ErrorKind::InvalidInput,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Timeout { .. } => ErrorKind::TimedOut,
            Error::Parameters { .. } | Error::UnreadableRules { .. } => ErrorKind::InvalidData,
            Error::NotAccepted => ErrorKind::WouldBlock,
            Error::Stopped => ErrorKind::NotConnected,
            Error::Io(e) => e.kind(),
        }
    }
}

/// For `?` in functions returning [`std::io::Result`]: an [`Error::Io`] gives back its OS
/// error; any other error is wrapped with the [`kind`](Error::kind) closest to it (the
/// original stays reachable through `get_ref`/`into_inner` and `downcast`).
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => std::io::Error::new(other.kind(), other),
        }
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

    /// Each level of the chain as a chain printer shows it (`anyhow`'s `{:#}`,
    /// `std::error::Report`): the messages of the error and of its sources, in order.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut levels = vec![e.to_string()];
        let mut source = e.source();
        while let Some(s) = source {
            levels.push(s.to_string());
            source = s.source();
        }
        levels
    }

    fn every_variant_with_a_cause() -> Vec<Error> {
        vec![
            Error::vmnet(Operation::Start, Status::InvalidAccess),
            Error::Config(ConfigError::EmptyInterfaceName),
            Error::NetworkConfig(NetworkConfigError::BridgedNetwork),
            Error::Rule(RuleError::ZeroPort { which: "external" }),
            Error::Io(std::io::Error::from_raw_os_error(libc::EBADF)),
        ]
    }

    #[test]
    fn a_message_never_repeats_its_source() {
        for e in every_variant_with_a_cause() {
            let levels = chain(&e);
            assert_eq!(levels.len(), 2, "{e:?} has its cause as source: {levels:?}");
            assert!(
                !levels[0].contains(&levels[1]),
                "{e:?}: the message repeats the source: {levels:?}"
            );
            // What to do is still said, by the chain.
            assert!(!levels[1].is_empty());
        }
        let permission = chain(&Error::vmnet(Operation::Start, Status::InvalidAccess)).join(": ");
        assert!(
            permission.contains("starting") && permission.contains("root"),
            "{permission}"
        );
    }

    #[test]
    fn io_errors_keep_their_kind_and_ours_get_the_closest() {
        use std::io::ErrorKind;
        let os: std::io::Error = Error::Io(std::io::Error::from(ErrorKind::BrokenPipe)).into();
        assert_eq!(os.kind(), ErrorKind::BrokenPipe);
        assert!(
            os.get_ref().is_none(),
            "an OS error is given back as it was"
        );
        let cases = [
            (
                Error::vmnet(Operation::Start, Status::NotAuthorized),
                ErrorKind::PermissionDenied,
            ),
            (
                Error::vmnet(Operation::Read, Status::BufferExhausted),
                ErrorKind::WouldBlock,
            ),
            (
                Error::Config(ConfigError::EmptyInterfaceName),
                ErrorKind::InvalidInput,
            ),
            (
                Error::Unsupported {
                    feature: "network objects",
                    since: "macOS 26.0",
                },
                ErrorKind::Unsupported,
            ),
            (
                Error::Timeout {
                    operation: Operation::Stop,
                    waited: Duration::from_secs(1),
                },
                ErrorKind::TimedOut,
            ),
            (Error::Stopped, ErrorKind::NotConnected),
        ];
        for (e, kind) in cases {
            let message = e.to_string();
            let io: std::io::Error = e.into();
            assert_eq!(io.kind(), kind, "{message}");
            let inner = io.get_ref().and_then(|i| i.downcast_ref::<Error>());
            assert!(inner.is_some(), "the vmnet error stays reachable: {io:?}");
        }
    }
}

//! The command line: every flag, its help, and the parsers of the values clap does not know.
//!
//! Usage errors are reported on one line (see [`parse`]); what the flags mean together (the
//! interface configuration, the forwarding rules, the users) is checked by the modules that
//! use them, before anything starts.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use vmnet::bridge::Framing;
use vmnet::{PortForwardingRule, Uuid};

use crate::forward;

const LONG_ABOUT: &str = "\
Connects one vmnet interface to a virtual machine's network socket.

Framings:
  datagram  one Ethernet frame per datagram on a unix datagram socket
            (vfkit, krunkit, Virtualization.framework file-handle attachments)
  stream    a 4-byte big-endian length before each frame on a unix stream socket
            (QEMU -netdev stream / -netdev socket)

The VM's socket comes from one of:
  --socket PATH --listen  vmnet-bridge binds PATH and waits for the VM (for datagrams, the
                          newest sender is the VM; for streams, connections are served one
                          after another). A lock beside it (PATH.lock) keeps a second
                          vmnet-bridge off the same path.
  --socket PATH           vmnet-bridge connects to a socket the VM listens on.
  --fd N                  a connected socket the VMM passed as descriptor N (a socketpair
                          end); its type decides the framing.

Order of start-up: the flags and the interface configuration are checked; the listening
socket is bound (with --socket-mode, owned by the user dropped to); the interface starts and
the --forward rules are added; privileges are dropped to --user/--group (by default the
user who ran sudo); only then is a VM socket accepted, connected to or read.

With --json, one JSON object describing the interface is printed on stdout once it is up,
and one JSON line per counter report. Counters are printed to stderr every --stats-interval
seconds and at exit. SIGINT or SIGTERM stop the bridge cleanly.

On macOS 15 and older this needs root, or a binary signed with the com.apple.vm.networking
entitlement; for macOS 26 see docs/vmnet-bridge.md. On systems without vmnet it runs on the
in-process simulator (see --sim-network).";

/// The vmnet operating mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// NAT to the outside network, with DHCP and DNS from the host.
    Shared,
    /// Host-only network.
    Host,
    /// Bridged to a physical interface (--interface).
    Bridged,
}

/// How frames are carried on the VM's socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FramingArg {
    /// One frame per datagram (unix datagram socket).
    Datagram,
    /// 4-byte big-endian length prefix (unix stream socket, QEMU).
    Stream,
}

impl From<FramingArg> for Framing {
    fn from(framing: FramingArg) -> Self {
        match framing {
            FramingArg::Datagram => Framing::Datagram,
            FramingArg::Stream => Framing::Stream,
        }
    }
}

/// What the simulated network does with the VM's frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SimNetwork {
    /// Send every frame from the VM back to it (MAC addresses rewritten).
    Reflect,
    /// Discard the VM's frames.
    Sink,
}

#[derive(Debug, Parser)]
#[command(name = "vmnet-bridge", version, about, long_about = LONG_ABOUT)]
pub(crate) struct Args {
    /// The vmnet operating mode.
    #[arg(long, value_enum)]
    pub(crate) mode: ModeArg,

    /// The host interface to bridge to, in bridged mode (e.g. en0; one of those vmnet lists as
    /// bridgeable).
    #[arg(long, value_name = "IFNAME", required_if_eq("mode", "bridged"))]
    pub(crate) interface: Option<String>,

    /// The VM's socket: the path to bind with --listen, else the path to connect to.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "fd",
        conflicts_with = "fd"
    )]
    pub(crate) socket: Option<PathBuf>,

    /// A connected unix socket inherited from the VMM as descriptor N (e.g. one end of a
    /// socketpair), instead of --socket. Its type (datagram or stream) gives the framing.
    #[arg(long, value_name = "N", conflicts_with_all = ["listen", "bind"])]
    pub(crate) fd: Option<RawFd>,

    /// How frames are carried on the socket (with --fd: optional, checked against the
    /// socket's type).
    #[arg(long, value_enum, required_unless_present = "fd")]
    pub(crate) framing: Option<FramingArg>,

    /// Bind --socket and wait for the VM, instead of connecting to it.
    #[arg(long)]
    pub(crate) listen: bool,

    /// Datagram framing without --listen: where to bind this end, so the VM can answer
    /// [default: a file in the temporary directory, removed at exit].
    #[arg(long, value_name = "PATH")]
    pub(crate) bind: Option<PathBuf>,

    /// The permissions of the socket vmnet-bridge binds (--listen, or --bind), in octal
    /// [default: 0600, only its owner: the user privileges are dropped to].
    #[arg(long, value_name = "OCTAL", value_parser = parse_socket_mode)]
    pub(crate) socket_mode: Option<u32>,

    /// The group of the socket vmnet-bridge binds (a name or a number), e.g. with
    /// --socket-mode 0660 to let that group's members connect.
    #[arg(long, value_name = "GROUP")]
    pub(crate) socket_group: Option<String>,

    /// Once the interface has started, run as this user (a name or a number) [default: the
    /// user who ran sudo (SUDO_UID), when run as root through sudo].
    #[arg(long, value_name = "USER")]
    pub(crate) user: Option<String>,

    /// With privileges dropped, run as this group (a name or a number) [default: the
    /// user's primary group, or SUDO_GID].
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: Option<String>,

    /// Print one JSON object on stdout once the interface is up, and the counters as one JSON
    /// line per report (logs stay on stderr).
    #[arg(long)]
    pub(crate) json: bool,

    /// Print the counters every SECS seconds (0: only at exit).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub(crate) stats_interval: u64,

    /// How long to keep retrying frames for a VM that does not read before dropping them,
    /// in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub(crate) send_timeout_ms: u64,

    /// Without vmnet (not macOS): what the simulated network does with the VM's frames.
    /// Ignored on macOS.
    #[arg(long, value_enum, default_value = "reflect")]
    pub(crate) sim_network: SimNetwork,

    // The help is an attribute, not a doc comment: rustdoc would read `[fd00::5]` as a link.
    #[arg(
        long,
        value_name = "RULE",
        value_parser = forward::parse,
        help = "Forward a host port to the guest (shared mode; repeatable): \
                PROTO:HOST_PORT:ADDRESS:PORT with PROTO tcp or udp, e.g. \
                tcp:8080:192.168.64.5:22 or tcp:8080:[fd00::5]:22"
    )]
    pub(crate) forward: Vec<PortForwardingRule>,

    #[command(flatten)]
    pub(crate) interface_options: InterfaceOptions,
}

/// The interface's options, each checked by the library's `InterfaceConfig` rules.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Interface options")]
pub(crate) struct InterfaceOptions {
    /// The interface id: the same id gets the same MAC address where vmnet can.
    #[arg(long, value_name = "UUID")]
    pub(crate) interface_id: Option<Uuid>,

    /// The gateway (host and shared mode), with --end-address and --subnet-mask.
    #[arg(long, value_name = "IPV4")]
    pub(crate) start_address: Option<Ipv4Addr>,

    /// The last address DHCP hands out.
    #[arg(long, value_name = "IPV4")]
    pub(crate) end_address: Option<Ipv4Addr>,

    /// The subnet mask of the start and end addresses.
    #[arg(long, value_name = "MASK")]
    pub(crate) subnet_mask: Option<Ipv4Addr>,

    /// The NAT66 prefix, a /64 in fd00::/8 (shared mode).
    #[arg(long, value_name = "IPV6")]
    pub(crate) nat66_prefix: Option<Ipv6Addr>,

    /// Isolate the interface from other vmnet interfaces.
    #[arg(long)]
    pub(crate) isolation: bool,

    /// A host network's identifier: interfaces with the same one share an isolated network
    /// (host mode, macOS 11).
    #[arg(long, value_name = "UUID")]
    pub(crate) network_identifier: Option<Uuid>,

    /// The host's IPv4 address on the --network-identifier network, with --host-subnet-mask.
    #[arg(long, value_name = "IPV4")]
    pub(crate) host_address: Option<Ipv4Addr>,

    /// The subnet mask of --host-address.
    #[arg(long, value_name = "MASK")]
    pub(crate) host_subnet_mask: Option<Ipv4Addr>,

    /// The host's IPv6 address on the --network-identifier network.
    #[arg(long, value_name = "IPV6")]
    pub(crate) host_ipv6_address: Option<Ipv6Addr>,

    /// The interface's MTU (host and shared mode).
    #[arg(long)]
    pub(crate) mtu: Option<u32>,

    /// TCP segmentation offload: frames up to about 64 KiB pass.
    #[arg(long)]
    pub(crate) tso: bool,

    /// Checksum offload (macOS 12; not with --virtio-header).
    #[arg(long)]
    pub(crate) checksum_offload: bool,

    /// A 12-byte virtio-net header before every frame, on the VM's socket too (macOS 15.4).
    #[arg(long)]
    pub(crate) virtio_header: bool,

    /// Whether vmnet allocates a MAC address for the interface [vmnet's default: true].
    #[arg(long, value_name = "BOOL")]
    pub(crate) allocate_mac_address: Option<bool>,
}

/// Parses the command line. `Err` holds a usage error on one line (clap's message without its
/// usage and hint lines); `--help` and `--version` print and exit here.
pub(crate) fn parse() -> Result<Args, String> {
    match Args::try_parse() {
        Ok(args) => Ok(args),
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => Err(one_line(&e.render().to_string())),
    }
}

/// Clap's message up to its first blank line (what went wrong, not the usage and hint),
/// without the `error: ` prefix, its lines joined with spaces.
fn one_line(message: &str) -> String {
    let first = message
        .trim_start()
        .strip_prefix("error: ")
        .unwrap_or(message);
    first
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// An octal permission mode such as `0600`, `660` or `0o660`, at most `0777`.
fn parse_socket_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 && !digits.is_empty() => Ok(mode),
        _ => Err("expected permission bits in octal, from 0 to 0777, such as 0600 or 0660".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_modes_are_octal_permission_bits() {
        assert_eq!(parse_socket_mode("0600"), Ok(0o600));
        assert_eq!(parse_socket_mode("660"), Ok(0o660));
        assert_eq!(parse_socket_mode("0o777"), Ok(0o777));
        for bad in ["", "0o", "0800", "1777", "rw", "-1"] {
            assert!(parse_socket_mode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn clap_errors_become_one_line() {
        let message = "error: the following required arguments were not provided:\n  \
                       --framing <FRAMING>\n\nUsage: vmnet-bridge --mode <MODE>\n\nFor more \
                       information, try '--help'.\n";
        assert_eq!(
            one_line(message),
            "the following required arguments were not provided: --framing <FRAMING>"
        );
    }
}

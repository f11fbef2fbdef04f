//! What the bridge tells: log lines on stderr (always), and with `--json` one JSON object on
//! stdout when the interface is up and one JSON line per counter report.
//!
//! JSON lines carry an `event`: `"started"` (the interface, its socket, its forwarding
//! rules), `"stats"` (every `--stats-interval`), `"final"` (at exit, over every connection).

use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use vmnet::bridge::{BridgeStats, DirectionStats};
use vmnet::{Capabilities, InterfaceConfig, Parameters, PortForwardingRule};

/// One log line on stderr, prefixed with the program's name.
pub(crate) fn log(message: &str) {
    eprintln!("vmnet-bridge: {message}");
}

/// Where the bridge's socket is, for the `"started"` object.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct SocketInfo {
    /// `"datagram"` or `"stream"`; for an unconnected path, what will be connected.
    pub(crate) framing: String,
    /// The socket path (bound with --listen, else connected to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// Whether `path` is bound and listened on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen: Option<bool>,
    /// The local path a connecting datagram socket is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bind: Option<String>,
    /// The inherited descriptor (--fd).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fd: Option<i32>,
}

/// The DHCP range vmnet reports.
#[derive(Serialize)]
struct Dhcp {
    start: Ipv4Addr,
    end: Ipv4Addr,
    subnet_mask: Option<Ipv4Addr>,
}

/// A forwarding rule as JSON.
#[derive(Serialize)]
struct Rule {
    protocol: String,
    host_port: u16,
    guest_address: std::net::IpAddr,
    guest_port: u16,
}

/// The offloads asked for.
#[derive(Serialize)]
struct Offloads {
    tso: bool,
    checksum_offload: bool,
    virtio_header: bool,
}

/// The `"started"` object.
#[derive(Serialize)]
struct Started<'a> {
    event: &'static str,
    pid: u32,
    mode: String,
    mac_address: Option<String>,
    mtu: u32,
    max_packet_size: usize,
    dhcp: Option<Dhcp>,
    nat66_prefix: Option<Ipv6Addr>,
    interface_id: Option<String>,
    isolation: bool,
    offloads: Offloads,
    capabilities: Vec<String>,
    socket: &'a SocketInfo,
    forwarding: Vec<Rule>,
    uid: u32,
    gid: u32,
}

/// One direction's counters as JSON.
#[derive(Serialize)]
struct Direction {
    packets: u64,
    bytes: u64,
    drops: u64,
}

impl From<&DirectionStats> for Direction {
    fn from(s: &DirectionStats) -> Self {
        Direction {
            packets: s.packets,
            bytes: s.bytes,
            drops: s.drops,
        }
    }
}

/// A `"stats"` or `"final"` line.
#[derive(Serialize)]
struct Stats {
    event: &'static str,
    to_vm: Direction,
    from_vm: Direction,
    malformed: u64,
    protocol_errors: u64,
    peer_changes: u64,
}

/// What the interface is, for [`Output::ready`].
pub(crate) struct Interface<'a> {
    pub(crate) config: &'a InterfaceConfig,
    pub(crate) params: &'a Parameters,
    pub(crate) capabilities: Capabilities,
    pub(crate) socket: &'a SocketInfo,
    pub(crate) forwarding: &'a [PortForwardingRule],
}

/// Text on stderr, and JSON on stdout when asked for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    /// The interface has started: one log line.
    pub(crate) fn started(&self, mode: vmnet::Mode, params: &Parameters) {
        let mut line = format!(
            "{mode} interface started: MTU {}, max packet {} bytes",
            params.mtu(),
            params.max_packet_size()
        );
        if let Some(mac) = params.mac_address() {
            line.push_str(&format!(", MAC {mac}"));
        }
        if let (Some(start), Some(end)) = (params.start_address(), params.end_address()) {
            line.push_str(&format!(", DHCP {start}..{end}"));
        }
        log(&line);
    }

    /// The bridge is ready (forwarding rules added, privileges dropped): with `--json`, the
    /// `"started"` object.
    pub(crate) fn ready(&self, up: &Interface<'_>) {
        if !self.json {
            return;
        }
        let params = up.params;
        let started = Started {
            event: "started",
            pid: std::process::id(),
            mode: up.config.mode().to_string(),
            mac_address: params.mac_address().map(|m| m.to_string()),
            mtu: params.mtu(),
            max_packet_size: params.max_packet_size(),
            dhcp: match (params.start_address(), params.end_address()) {
                (Some(start), Some(end)) => Some(Dhcp {
                    start,
                    end,
                    subnet_mask: params.subnet_mask(),
                }),
                _ => None,
            },
            nat66_prefix: params.nat66_prefix(),
            interface_id: params.interface_id().map(|id| id.to_string()),
            isolation: up.config.isolation(),
            offloads: Offloads {
                tso: up.config.tso(),
                checksum_offload: up.config.checksum_offload(),
                virtio_header: params.virtio_header(),
            },
            capabilities: up
                .capabilities
                .iter_names()
                .map(|(name, _)| name.to_ascii_lowercase())
                .collect(),
            socket: up.socket,
            forwarding: up
                .forwarding
                .iter()
                .map(|r| Rule {
                    protocol: r.protocol.to_string(),
                    host_port: r.external_port,
                    guest_address: r.internal.ip(),
                    guest_port: r.internal.port(),
                })
                .collect(),
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        };
        print_json(&started);
    }

    /// A counter report: `last` at exit.
    pub(crate) fn stats(&self, stats: &BridgeStats, last: bool) {
        if last {
            log(&format!("final: {stats}"));
        } else {
            log(&stats.to_string());
        }
        if self.json {
            print_json(&Stats {
                event: if last { "final" } else { "stats" },
                to_vm: (&stats.to_vm).into(),
                from_vm: (&stats.from_vm).into(),
                malformed: stats.malformed,
                protocol_errors: stats.protocol_errors,
                peer_changes: stats.peer_changes,
            });
        }
    }
}

/// One JSON line on stdout, flushed; a reader that went away is not the bridge's problem.
fn print_json(value: &impl Serialize) {
    let mut out = std::io::stdout().lock();
    if serde_json::to_writer(&mut out, value).is_ok() {
        let _ = writeln!(out);
        let _ = out.flush();
    }
}

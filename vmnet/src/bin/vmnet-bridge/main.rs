//! `vmnet-bridge`: connects a vmnet interface to a virtual machine's unix socket.
//!
//! See `vmnet-bridge --help` and the README. On macOS it uses vmnet.framework (root, or the
//! `com.apple.vm.networking` entitlement, up to macOS 15). Everywhere else it runs on the
//! in-process simulator, whose network by default reflects every frame the VM sends back to
//! it (destination: the interface's MAC; source: the simulated gateway's), so traffic visibly
//! flows; `--sim-network sink` discards the VM's frames instead.
#![deny(unsafe_code)]

use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use vmnet::bridge::{self, BridgeOptions, BridgeStats, ExitReason, RunningBridge, VmSocket};
use vmnet::{Interface, InterfaceConfig};

#[path = "../support/stop_signal.rs"]
mod stop_signal;

const LONG_ABOUT: &str = "\
Connects one vmnet interface to a virtual machine's network socket.

Framings:
  datagram  one Ethernet frame per datagram on a unix datagram socket
            (vfkit, krunkit, Virtualization.framework file-handle attachments)
  stream    a 4-byte big-endian length before each frame on a unix stream socket
            (QEMU -netdev stream / -netdev socket)

With --listen, vmnet-bridge binds --socket and waits for the VM (for datagrams, the first
sender becomes the VM; for streams, connections are served one after another). Without it,
vmnet-bridge connects to a socket the VM listens on.

Counters are printed to stderr every --stats-interval seconds and at exit. SIGINT or SIGTERM
stop the bridge cleanly.

On macOS 15 and older this needs root, or a binary signed with the com.apple.vm.networking
entitlement. On systems without vmnet it runs on the in-process simulator (see --sim-network).";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// NAT to the outside network, with DHCP and DNS from the host.
    Shared,
    /// Host-only network.
    Host,
    /// Bridged to a physical interface (--interface).
    Bridged,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FramingArg {
    /// One frame per datagram (unix datagram socket).
    Datagram,
    /// 4-byte big-endian length prefix (unix stream socket, QEMU).
    Stream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SimNetwork {
    /// Send every frame from the VM back to it (MAC addresses rewritten).
    Reflect,
    /// Discard the VM's frames.
    Sink,
}

#[derive(Debug, Parser)]
#[command(name = "vmnet-bridge", version, about, long_about = LONG_ABOUT)]
struct Args {
    /// The vmnet operating mode.
    #[arg(long, value_enum)]
    mode: ModeArg,

    /// The host interface to bridge to, in bridged mode (e.g. en0).
    #[arg(long, value_name = "IFNAME", required_if_eq("mode", "bridged"))]
    interface: Option<String>,

    /// The VM's socket: the path to bind with --listen, else the path to connect to.
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,

    /// How frames are carried on the socket.
    #[arg(long, value_enum)]
    framing: FramingArg,

    /// Bind --socket and wait for the VM, instead of connecting to it.
    #[arg(long)]
    listen: bool,

    /// Datagram framing without --listen: where to bind this end, so the VM can answer
    /// [default: a file in the temporary directory, removed at exit].
    #[arg(long, value_name = "PATH")]
    bind: Option<PathBuf>,

    /// Print the counters every SECS seconds (0: only at exit).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    stats_interval: u64,

    /// The interface's MTU (host and shared mode).
    #[arg(long)]
    mtu: Option<u32>,

    /// How long to keep retrying frames for a VM that does not read before dropping them,
    /// in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    send_timeout_ms: u64,

    /// Without vmnet (not macOS): what the simulated network does with the VM's frames.
    /// Ignored on macOS.
    #[arg(long, value_enum, default_value = "reflect")]
    sim_network: SimNetwork,
}

/// Whether SIGINT or SIGTERM has asked the tool to stop.
fn stopping() -> bool {
    stop_signal::requested()
}

fn log(message: &str) {
    eprintln!("vmnet-bridge: {message}");
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// Paths this process created, removed at exit.
#[derive(Default)]
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn config(args: &Args) -> InterfaceConfig {
    let config = match args.mode {
        ModeArg::Shared => InterfaceConfig::shared(),
        ModeArg::Host => InterfaceConfig::host(),
        // clap requires --interface in bridged mode; an empty name is rejected by validation.
        ModeArg::Bridged => InterfaceConfig::bridged(args.interface.clone().unwrap_or_default()),
    };
    match args.mtu {
        Some(mtu) => config.with_mtu(mtu),
        None => config,
    }
}

fn run(args: &Args) -> Result<(), String> {
    stop_signal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let mode = format!("{:?}", args.mode).to_lowercase();

    #[cfg(not(vmnet_framework))]
    log(&format!(
        "{} (the simulated network {} the VM's frames)",
        vmnet::sim::NOTICE,
        match args.sim_network {
            SimNetwork::Reflect => "reflects back",
            SimNetwork::Sink => "discards",
        }
    ));
    #[cfg(vmnet_framework)]
    let _ = args.sim_network; // only meaningful on the simulator

    // The socket first: its errors need no privileges to report.
    let mut cleanup = Cleanup::default();
    let mut endpoint = Endpoint::open(args, &mut cleanup)?;

    let iface = Interface::start(&config(args))
        .map_err(|e| format!("starting the {mode} interface: {}", e.report()))?;
    let params = iface.parameters();
    let mut line = format!(
        "{mode} interface started: MTU {}, max packet {} bytes",
        params.mtu(),
        params.max_packet_size()
    );
    if let Some(mac) = params.mac_address() {
        let _ = write!(line, ", MAC {mac}");
    }
    if let (Some(start), Some(end)) = (params.start_address(), params.end_address()) {
        let _ = write!(line, ", DHCP {start}..{end}");
    }
    log(&line);

    #[cfg(not(vmnet_framework))]
    sim::spawn_network(args.sim_network, params.mac_address());

    let options =
        BridgeOptions::new().with_send_timeout(Duration::from_millis(args.send_timeout_ms));
    let interval = (args.stats_interval > 0).then(|| Duration::from_secs(args.stats_interval));
    let mut total = BridgeStats::default();
    let mut failure = None;
    // `None` once a bridge failed in a way that lost the interface (dropping stopped it).
    let mut iface = Some(iface);
    while let Some(current) = iface.take() {
        let socket = match endpoint.next() {
            Ok(Some(socket)) => socket,
            Ok(None) => {
                iface = Some(current);
                break;
            }
            Err(e) => {
                failure = Some(e);
                iface = Some(current);
                break;
            }
        };
        let bridge = match bridge::spawn(current, socket, &options) {
            Ok(bridge) => bridge,
            Err(e) => {
                failure = Some(format!("starting the bridge: {}", e.error()));
                iface = Some(e.into_interface());
                break;
            }
        };
        log(&format!("bridging ({} framing)", bridge.framing()));
        let exit = supervise(bridge, interval, total);
        total += exit.stats;
        log(&format!("bridge ended: {}", exit.reason));
        iface = exit.interface;
        let again = match &exit.reason {
            ExitReason::Stopped => false,
            // The VM went away: a listening stream bridge waits for the next connection.
            ExitReason::PeerClosed => endpoint.serves_many(),
            // So does one whose VM spoke garbage (the connection was reset).
            ExitReason::Protocol(_) if endpoint.serves_many() => true,
            other => {
                failure = Some(other.to_string());
                false
            }
        };
        if !again || stopping() {
            break;
        }
    }
    let stopped = iface.map(Interface::stop);
    drop(cleanup);
    // The counters over every connection, at exit whatever happened.
    log(&format!("final: {total}"));
    if let Some(Err(e)) = stopped {
        failure.get_or_insert(format!("stopping the interface: {}", e.report()));
    }
    match failure {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// Runs until the bridge ends or a signal stops it, printing the counters (`before` plus this
/// bridge's) every `interval`.
fn supervise(
    bridge: RunningBridge,
    interval: Option<Duration>,
    before: BridgeStats,
) -> bridge::BridgeExit {
    let mut next = interval.map(|i| Instant::now() + i);
    loop {
        if stopping() {
            bridge.stop();
        }
        if bridge.wait_timeout(Duration::from_millis(50)) {
            return bridge.join();
        }
        if let (Some(at), Some(interval)) = (next, interval) {
            if Instant::now() >= at {
                let mut stats = before;
                stats += bridge.stats();
                log(&stats.to_string());
                next = Some(at + interval);
            }
        }
    }
}

/// Where VM connections come from.
enum Endpoint {
    /// A listening stream socket: connections are served one after another.
    Listener(UnixListener),
    /// One socket, handed out once.
    Once(Option<VmSocket>),
}

impl Endpoint {
    fn open(args: &Args, cleanup: &mut Cleanup) -> Result<Self, String> {
        let path = &args.socket;
        let shown = path.display();
        Ok(match (args.framing, args.listen) {
            (FramingArg::Stream, true) => {
                remove_stale_socket(path)?;
                let listener =
                    UnixListener::bind(path).map_err(|e| format!("listening on {shown}: {e}"))?;
                cleanup.0.push(path.clone());
                listener
                    .set_nonblocking(true)
                    .map_err(|e| format!("listening on {shown}: {e}"))?;
                log(&format!("listening on {shown} (stream)"));
                Endpoint::Listener(listener)
            }
            (FramingArg::Stream, false) => {
                let stream =
                    UnixStream::connect(path).map_err(|e| format!("connecting to {shown}: {e}"))?;
                log(&format!("connected to {shown} (stream)"));
                Endpoint::Once(Some(stream.into()))
            }
            (FramingArg::Datagram, true) => {
                remove_stale_socket(path)?;
                let socket =
                    UnixDatagram::bind(path).map_err(|e| format!("binding {shown}: {e}"))?;
                cleanup.0.push(path.clone());
                log(&format!(
                    "bound {shown} (datagram); the first sender becomes the VM"
                ));
                Endpoint::Once(Some(socket.into()))
            }
            (FramingArg::Datagram, false) => {
                let local = args.bind.clone().unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("vmnet-bridge-{}.sock", std::process::id()))
                });
                remove_stale_socket(&local)?;
                let socket = UnixDatagram::bind(&local)
                    .map_err(|e| format!("binding {}: {e}", local.display()))?;
                cleanup.0.push(local.clone());
                socket
                    .connect(path)
                    .map_err(|e| format!("connecting to {shown}: {e}"))?;
                log(&format!(
                    "sending to {shown} from {} (datagram)",
                    local.display()
                ));
                Endpoint::Once(Some(socket.into()))
            }
        })
    }

    fn serves_many(&self) -> bool {
        matches!(self, Endpoint::Listener(_))
    }

    /// The next VM connection; `None` when there is none to come or a signal arrived.
    fn next(&mut self) -> Result<Option<VmSocket>, String> {
        match self {
            Endpoint::Once(socket) => Ok(socket.take().filter(|_| !stopping())),
            Endpoint::Listener(listener) => loop {
                if stopping() {
                    return Ok(None);
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        log("VM connected");
                        return Ok(Some(stream.into()));
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::Interrupted =>
                    {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => return Err(format!("accepting a connection: {e}")),
                }
            },
        }
    }
}

/// Removes a socket file left by an earlier run; refuses to touch anything else.
fn remove_stale_socket(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("checking {}: {e}", path.display())),
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .map_err(|e| format!("removing the old socket {}: {e}", path.display())),
        Ok(_) => Err(format!(
            "{} exists and is not a socket; choose another path",
            path.display()
        )),
    }
}

/// The simulated network behind the interface, on systems without vmnet.
#[cfg(not(vmnet_framework))]
mod sim {
    use std::time::Duration;

    use vmnet::MacAddr;

    use super::{SimNetwork, stopping};

    /// Plays the network: takes every frame the interface sends and, in reflect mode, sends
    /// it back addressed to the interface from the simulated gateway.
    pub(super) fn spawn_network(mode: SimNetwork, interface_mac: Option<MacAddr>) {
        let host = vmnet::sim::Segment::global().host();
        let spawned = std::thread::Builder::new()
            .name("sim-network".into())
            .spawn(move || {
                while !stopping() {
                    let Some(mut frame) = host.recv_timeout(Duration::from_millis(100)) else {
                        continue;
                    };
                    if mode == SimNetwork::Sink || frame.len() < 12 {
                        continue;
                    }
                    let source = [frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]];
                    let to = interface_mac.unwrap_or(MacAddr::new(source));
                    frame[..6].copy_from_slice(&to.octets());
                    frame[6..12].copy_from_slice(&host.mac().octets());
                    // Too large for the segment is impossible: it came from the segment.
                    let _ = host.send(&frame);
                }
            });
        if let Err(e) = spawned {
            super::log(&format!("the simulated network could not start: {e}"));
        }
    }
}

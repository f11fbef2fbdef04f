//! `vmnet-bridge`: connects a vmnet interface to a virtual machine's unix socket.
//!
//! See `vmnet-bridge --help`, the README and docs/vmnet-bridge.md. On macOS it uses
//! vmnet.framework. Everywhere else it runs on the in-process simulator, whose network by
//! default reflects every frame the VM sends back to it (destination: the interface's MAC;
//! source: the simulated gateway's), so traffic visibly flows; `--sim-network sink` discards
//! the VM's frames instead.
//!
//! One module per concept: the flags ([`args`]), the interface configuration they make
//! ([`config`]), forwarding rules ([`forward`]), the VM's socket ([`endpoint`], with
//! [`socket_path`] for bound paths and [`inherited_fd`] for `--fd`), dropping root
//! ([`privileges`]), what is printed ([`output`]) and the simulated network (`sim_network`,
//! not built on macOS). `unsafe` is denied but in one function: taking ownership of `--fd`'s
//! descriptor (and on Apple targets, `setgroups`).
#![deny(unsafe_code)]

mod args;
mod config;
mod endpoint;
mod forward;
mod inherited_fd;
mod output;
mod privileges;
#[cfg(not(vmnet_framework))]
mod sim_network;
mod socket_path;
#[path = "../support/stop_signal.rs"]
mod stop_signal;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use vmnet::Interface;
use vmnet::bridge::{self, BridgeOptions, BridgeStats, ExitReason, RunningBridge};

use crate::args::Args;
use crate::endpoint::Endpoint;
use crate::output::{Output, log};
use crate::socket_path::{Access, DEFAULT_MODE};

fn main() -> ExitCode {
    let args = match args::parse() {
        Ok(args) => args,
        Err(message) => {
            log(&format!("error: {message}"));
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// Start-up in its documented order (see `--help`), then the bridging loop.
fn run(args: &Args) -> Result<(), String> {
    // First, before this process opens any descriptor of its own.
    let inherited = args
        .fd
        .map(|n| inherited_fd::take(n, args.framing))
        .transpose()?;
    stop_signal::install().map_err(|e| format!("installing signal handlers: {e}"))?;

    // Everything that can be checked is, before anything is bound, started or printed.
    let config = config::checked(args)?;
    forward::check(&args.forward, config.mode(), vmnet::capabilities())?;
    let target = privileges::target(args.user.as_deref(), args.group.as_deref())?;
    if let Some(target) = &target {
        privileges::check_possible(target)?;
    }
    // The bound socket belongs to whoever the bridge will run as.
    let dropping = target.as_ref().filter(|t| !privileges::already(t));
    let access = Access {
        mode: args.socket_mode.unwrap_or(DEFAULT_MODE),
        owner: dropping.map(|t| t.uid),
        group: match args.socket_group.as_deref() {
            Some(group) => Some(privileges::lookup_group("--socket-group", group)?),
            None => dropping.map(|t| t.gid),
        },
    };
    let access_given = args.socket_mode.is_some() || args.socket_group.is_some();

    // Bound (and locked) before the interface starts: socket errors need no privileges.
    let mut endpoint = Endpoint::prepare(args, inherited, access, access_given)?;

    #[cfg(not(vmnet_framework))]
    log(&format!(
        "{} (the simulated network {} the VM's frames)",
        vmnet::sim::NOTICE,
        match args.sim_network {
            args::SimNetwork::Reflect => "reflects back",
            args::SimNetwork::Sink => "discards",
        }
    ));
    let mode = config.mode();
    let iface = Interface::start(&config)
        .map_err(|e| format!("starting the {mode} interface: {}", e.report()))?;
    let control = iface.control();
    let output = Output::new(args.json);
    output.started(mode, control.parameters());
    let rules = forward::add(&control, &args.forward)?;

    // Root is no longer needed: drop it before any VM socket is accepted, connected or read.
    match &target {
        Some(target) if privileges::already(target) => {
            log(&format!("running as {target}: no privileges to drop"));
        }
        Some(target) => {
            privileges::drop_to(target)?;
            log(&format!("dropped privileges to {target}"));
        }
        None if nix::unistd::geteuid().is_root() => log(
            "running as root for the bridge's whole life: give --user (or run through sudo) to \
             drop privileges once the interface has started",
        ),
        None => {}
    }

    output.ready(&output::Interface {
        config: &config,
        params: control.parameters(),
        capabilities: control.capabilities(),
        socket: endpoint.info(),
        forwarding: &rules,
    });
    endpoint.announce();

    #[cfg(not(vmnet_framework))]
    sim_network::spawn(args.sim_network, control.parameters().mac_address());
    #[cfg(vmnet_framework)]
    let _ = args.sim_network; // only meaningful on the simulator

    let (total, iface, failure) = bridge_loop(args, &mut endpoint, iface, output);
    let stopped = iface.map(Interface::stop);
    drop(endpoint);
    // The counters over every connection, at exit whatever happened.
    output.stats(&total, true);
    let mut failure = failure;
    if let Some(Err(e)) = stopped {
        failure.get_or_insert(format!("stopping the interface: {}", e.report()));
    }
    match failure {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// Bridges one VM connection after another until there is none to come, a signal arrives or
/// something fails. Returns the counters over every connection, the interface (`None` if a
/// failure lost it) and the failure, if any.
fn bridge_loop(
    args: &Args,
    endpoint: &mut Endpoint,
    iface: Interface,
    output: Output,
) -> (BridgeStats, Option<Interface>, Option<String>) {
    let options =
        BridgeOptions::new().with_send_timeout(Duration::from_millis(args.send_timeout_ms));
    let interval = (args.stats_interval > 0).then(|| Duration::from_secs(args.stats_interval));
    let mut total = BridgeStats::default();
    let mut iface = Some(iface);
    while let Some(current) = iface.take() {
        let socket = match endpoint.next() {
            Ok(Some(socket)) => socket,
            Ok(None) => return (total, Some(current), None),
            Err(e) => return (total, Some(current), Some(e)),
        };
        let bridge = match bridge::spawn(current, socket, &options) {
            Ok(bridge) => bridge,
            Err(e) => {
                let (iface, cause) = e.into_parts();
                return (
                    total,
                    Some(iface),
                    Some(format!("starting the bridge: {cause}")),
                );
            }
        };
        log(&format!("bridging ({} framing)", bridge.framing()));
        // Datagram sockets only; says when the system capped them, and which limit to raise.
        if let Some(buffers) = bridge.socket_buffers() {
            log(&buffers.to_string());
        }
        let exit = supervise(bridge, interval, total, output);
        total += exit.stats;
        log(&format!("bridge ended: {}", exit.reason));
        iface = exit.interface;
        let again = match &exit.reason {
            ExitReason::Stopped => false,
            // The VM went away: a listening stream bridge waits for the next connection.
            ExitReason::PeerClosed => endpoint.serves_many(),
            // So does one whose VM spoke garbage (the connection was reset).
            ExitReason::Protocol(_) if endpoint.serves_many() => true,
            other => return (total, iface, Some(other.to_string())),
        };
        if !again || stop_signal::requested() {
            break;
        }
    }
    (total, iface, None)
}

/// Runs until the bridge ends or a signal stops it, reporting the counters (`before` plus this
/// bridge's) every `interval`.
fn supervise(
    bridge: RunningBridge,
    interval: Option<Duration>,
    before: BridgeStats,
    output: Output,
) -> bridge::BridgeExit {
    let mut next = interval.map(|i| Instant::now() + i);
    loop {
        if stop_signal::requested() {
            bridge.stop();
        }
        if bridge.wait_timeout(Duration::from_millis(50)) {
            return bridge.join();
        }
        if let (Some(at), Some(interval)) = (next, interval) {
            if Instant::now() >= at {
                let mut stats = before;
                stats += bridge.stats();
                output.stats(&stats, false);
                next = Some(at + interval);
            }
        }
    }
}

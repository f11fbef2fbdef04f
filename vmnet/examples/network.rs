//! macOS 26 network objects: a shared network with a custom subnet, a DHCP reservation and a
//! port-forwarding rule; printed, serialized, and an interface started on it.
//!
//! ```sh
//! sudo cargo run -p vmnet --example network                 # macOS 26 (root up to macOS 15)
//! cargo run -p vmnet --features sim --example network       # elsewhere: on the simulator
//! ```
#![deny(unsafe_code)]

use std::net::Ipv4Addr;
use std::process::ExitCode;

use vmnet::{
    MacAddr, Network, NetworkConfiguration, NetworkInterfaceConfig, NetworkMode,
    PortForwardingRule, Protocol,
};

fn run() -> vmnet::Result<()> {
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    eprintln!(
        "network: {} (a network is a segment of its own)",
        vmnet::sim::NOTICE
    );
    let guest: MacAddr = "02:00:00:00:77:10".parse().expect("a valid MAC address");
    let ssh = PortForwardingRule::new(
        Protocol::Tcp,
        2222,
        "192.168.77.10:22".parse().expect("valid"),
    );
    // The subnet is given by its first host address (see with_ipv4_subnet).
    let config = NetworkConfiguration::new(NetworkMode::Shared)
        .with_ipv4_subnet(
            Ipv4Addr::new(192, 168, 77, 1),
            Ipv4Addr::new(255, 255, 255, 0),
        )
        .with_dhcp_reservation(guest, Ipv4Addr::new(192, 168, 77, 10))
        .with_port_forwarding_rule(ssh);

    // Checked here, then created: every setting is handed to vmnet in turn.
    let network = Network::new(&config)?;
    let (subnet, mask) = network.ipv4_subnet();
    let (prefix, len) = network.ipv6_prefix();
    println!("network: {subnet}/{mask}, {prefix}/{len}");
    println!("reservation: {guest} -> 192.168.77.10; forwarding: {ssh}");

    let serialized = network.serialize()?;
    match serialized.as_raw() {
        Some(object) => println!("serialized as XPC object {object:p} (send it over XPC)"),
        None => println!("serialized (simulator token, valid in this process)"),
    }
    let again = Network::from_serialization(&serialized)?;

    let iface = again.start_interface(&NetworkInterfaceConfig::new())?;
    let p = iface.parameters();
    println!(
        "interface: MAC {}, MTU {}, gateway {}",
        p.mac_address()
            .map_or_else(|| "none".to_owned(), |m| m.to_string()),
        p.mtu(),
        p.start_address()
            .map_or_else(|| "?".to_owned(), |a| a.to_string()),
    );
    iface.stop()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.report());
            ExitCode::FAILURE
        }
    }
}

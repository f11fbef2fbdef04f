//! Captures what a vmnet interface receives into a pcap file (open it with Wireshark or
//! `tcpdump -r`).
//!
//! ```sh
//! # macOS (root, or a binary signed with com.apple.vm.networking, up to macOS 15):
//! cargo build --example capture && sudo target/debug/examples/capture --mode shared -o vmnet.pcap
//! # Linux and other systems, on the simulator:
//! cargo run --example capture --features sim -- --count 10 -o sim.pcap
//! ```
//!
//! It prints a packet and byte counter on stderr once a second; Ctrl-C (or SIGTERM, or
//! `--count`, or `--seconds`) stops it, flushes and closes the file.
//!
//! On macOS it starts a real vmnet interface. Elsewhere it uses the simulator (feature `sim`),
//! where nothing would arrive on its own: a thread on the simulated segment's host side plays
//! the network and broadcasts an ARP request ("who has 192.168.105.2? tell 192.168.105.1")
//! every 250 ms, so the capture has something in it.

#![deny(unsafe_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness};
use vmnet::{Interface, InterfaceConfig, PacketBatch};

// SIGINT/SIGTERM handling, shared with the `vmnet-bridge` tool.
#[path = "../src/bin/support/stop_signal.rs"]
mod stop_signal;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Shared,
    Host,
    Bridged,
}

/// Capture the frames a vmnet interface receives into a pcap file.
#[derive(Debug, Parser)]
struct Args {
    /// The vmnet operating mode.
    #[arg(long, value_enum, default_value = "shared")]
    mode: Mode,
    /// The host interface to bridge to, in bridged mode (e.g. en0).
    #[arg(long, value_name = "IFNAME", required_if_eq("mode", "bridged"))]
    interface: Option<String>,
    /// The pcap file to write.
    #[arg(short, long, value_name = "PATH", default_value = "vmnet.pcap")]
    output: PathBuf,
    /// Stop after this many packets.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<u64>,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capture: {}", vmnet::Report::new(&*e));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    stop_signal::install()?;
    let config = match args.mode {
        Mode::Shared => InterfaceConfig::shared(),
        Mode::Host => InterfaceConfig::host(),
        Mode::Bridged => InterfaceConfig::bridged(args.interface.clone().unwrap_or_default()),
    };

    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    eprintln!(
        "capture: {} (its host side broadcasts an ARP request every 250 ms)",
        vmnet::sim::NOTICE
    );
    let mut iface = Interface::start(&config)?;
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    sim::spawn_arp_requests();

    let params = iface.parameters();
    eprintln!(
        "capture: {:?} interface, MAC {}, max packet {} bytes -> {}",
        args.mode,
        params
            .mac_address()
            .map_or_else(|| "none".to_string(), |m| m.to_string()),
        params.max_packet_size(),
        args.output.display()
    );

    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        endianness: Endianness::native(),
        snaplen: u32::try_from(params.max_packet_size()).unwrap_or(u32::MAX),
        ..PcapHeader::default()
    };
    let file = File::create(&args.output)
        .map_err(|e| format!("creating {}: {e}", args.output.display()))?;
    let mut pcap = PcapWriter::with_header(BufWriter::new(file), header)?;
    let mut batch = PacketBatch::for_interface(params);

    let started = Instant::now();
    let mut next_report = started + Duration::from_secs(1);
    let (mut packets, mut bytes) = (0u64, 0u64);
    let limit = args.count.unwrap_or(u64::MAX);
    let deadline = args.seconds.map(|s| started + Duration::from_secs(s));
    'capture: while !stop_signal::requested() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        // Short waits, so a signal, the deadline and the counter are handled promptly.
        if iface.wait_readable(Some(Duration::from_millis(100)))? {
            while iface.read_batch(&mut batch)? > 0 {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                for frame in &batch {
                    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
                    pcap.write_packet(&PcapPacket::new(now, len, frame))?;
                    packets += 1;
                    bytes += u64::from(len);
                    if packets >= limit {
                        break 'capture;
                    }
                }
            }
        }
        if Instant::now() >= next_report {
            eprintln!("capture: {packets} packets, {bytes} bytes");
            next_report += Duration::from_secs(1);
        }
    }

    // Flush and close the file before stopping the interface.
    let mut out = pcap.into_writer();
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    iface.stop()?;
    eprintln!(
        "capture: done: {packets} packets, {bytes} bytes in {:.1} s written to {}",
        started.elapsed().as_secs_f64(),
        args.output.display()
    );
    Ok(())
}

/// The simulated network's part: something to capture.
#[cfg(all(not(vmnet_framework), feature = "sim"))]
mod sim {
    use std::time::Duration;

    /// Broadcasts an ARP request from the segment's host side every 250 ms, until stopped.
    pub(super) fn spawn_arp_requests() {
        let host = vmnet::sim::Segment::global().host();
        // From the simulated gateway: "who has 192.168.105.2? tell 192.168.105.1".
        let frame = vmnet::sim::arp_request(
            host.mac(),
            std::net::Ipv4Addr::new(192, 168, 105, 1),
            std::net::Ipv4Addr::new(192, 168, 105, 2),
        );
        let spawned = std::thread::Builder::new()
            .name("sim-arp".into())
            .spawn(move || {
                while !super::stop_signal::requested() {
                    let _ = host.send(&frame);
                    std::thread::sleep(Duration::from_millis(250));
                }
            });
        if let Err(e) = spawned {
            eprintln!("capture: the simulated network could not start: {e}");
        }
    }
}

//! The first example of the other `vmnet` crate (crates.io, 0.1–0.10), ported: an event
//! callback signals that packets are waiting, and a reader thread reads them. See
//! `docs/migration.md`, section "Porting the callback-then-read example".
//!
//! ```sh
//! sudo target/debug/examples/migrate_callback --frames 8           # macOS (root up to 15)
//! cargo run -p vmnet --features sim --example migrate_callback     # elsewhere: the simulator
//! ```
//!
//! What changed from the other crate's version:
//!
//! - The callback takes one [`Event`] (not an event mask and a parameter dictionary) and must
//!   be `Fn(Event) + Send + Sync + 'static`: it only forwards vmnet's estimate through a
//!   channel. A panic in it would be caught and counted, never unwound into vmnet.
//! - Callbacks are coalesced: one runs when packets arrive, and the next only after a read.
//!   So the reader does not trust the estimate; it reads until `read` returns `Ok(None)`
//!   ("nothing queued", which the other crate reported as an error).
//! - The read buffer is sized from the interface (`Parameters::buffer_len`), not a fixed
//!   1514 bytes.
//! - The interface is `Send`: the reader thread owns it and hands it back to be stopped,
//!   with a bounded wait, instead of `finalize()`.
//!
//! It stops after `--frames` frames or `--seconds` seconds, whichever comes first. On the
//! simulator, a thread on the segment's host side broadcasts an ARP request every 100 ms, so
//! something arrives.
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use vmnet::{Event, Interface, InterfaceConfig};

/// Port of the other vmnet crate's first example: a callback signals, a thread reads.
#[derive(Debug, Parser)]
struct Args {
    /// Stop after this many frames.
    #[arg(long, default_value_t = 8)]
    frames: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `report()` prints the error with its causes, one line.
            eprintln!("migrate_callback: {}", e.report());
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> vmnet::Result<()> {
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    eprintln!(
        "migrate_callback: {} (its host side broadcasts an ARP request every 100 ms)",
        vmnet::sim::NOTICE
    );

    // Other crate: `Interface::new(Mode::Shared(Shared { .. }), Options::default())`.
    // The configuration is checked here before vmnet sees it (a `ConfigError` says what to fix).
    let iface = Interface::start(&InterfaceConfig::shared())?;
    let params = iface.parameters();
    println!(
        "started: MAC {}, MTU {}, max packet {} bytes",
        params
            .mac_address()
            .map_or_else(|| "none".to_owned(), |m| m.to_string()),
        params.mtu(),
        params.max_packet_size()
    );

    // Other crate: `set_event_callback(Events::PACKETS_AVAILABLE, |events, params| ..)`,
    // looking up `Parameter::EstimatedPacketsAvailable` in `params`. Here the estimate is a
    // method of the event. `mpsc::Sender` is `Send + Sync`, and `send` never blocks.
    let (tx, rx) = mpsc::channel::<Option<u64>>();
    iface.set_event_callback(move |event: Event| {
        // The receiver is gone once the reader has finished: nothing to do then.
        let _ = tx.send(event.estimated_packets());
    });

    let stop = Arc::new(AtomicBool::new(false));
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    let network = sim::spawn_arp_requests(Arc::clone(&stop));

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let limit = args.frames;
    let reader = thread::Builder::new()
        .name("reader".into())
        .spawn(move || read_loop(iface, &rx, limit, deadline))?;
    let outcome = reader.join().expect("the reader thread panicked");
    stop.store(true, Ordering::SeqCst);
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    network.join().expect("the simulated network panicked");

    let (iface, frames) = outcome?;
    println!(
        "{frames} frames read; {} callback panics caught",
        iface.callback_panics()
    );
    // Other crate: `finalize()` (or drop). `stop` waits for vmnet at most
    // `StartOptions::stop_timeout`, then returns `Error::Timeout` rather than hang.
    iface.stop()
}

/// Waits for the callback's signal, then reads until nothing is queued; gives the interface
/// back with the number of frames read.
fn read_loop(
    mut iface: Interface,
    signals: &mpsc::Receiver<Option<u64>>,
    limit: u64,
    deadline: Instant,
) -> vmnet::Result<(Interface, u64)> {
    // At least the largest packet vmnet may hand over; a shorter buffer is refused with
    // `Error::BufferTooSmall` before anything is read.
    let mut buf = vec![0u8; iface.parameters().buffer_len()];
    let mut frames = 0;
    while frames < limit {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            println!("time is up");
            break;
        };
        match signals.recv_timeout(left) {
            Ok(estimate) => println!("callback: about {estimate:?} packets waiting"),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // Read until the queue is empty: `Ok(None)` is "nothing now", not an error. The next
        // callback comes for packets that arrive after this.
        while let Some(len) = iface.read(&mut buf)? {
            frames += 1;
            println!("  frame {frames}: {}", describe(&buf[..len]));
            if frames >= limit {
                break;
            }
        }
    }
    Ok((iface, frames))
}

/// "<length> bytes, <source> -> <destination>, type 0x<EtherType>".
fn describe(frame: &[u8]) -> String {
    if frame.len() < 14 {
        return format!("{} bytes (runt)", frame.len());
    }
    let mac = |b: &[u8]| {
        b.iter()
            .map(|o| format!("{o:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    format!(
        "{} bytes, {} -> {}, type 0x{:02x}{:02x}",
        frame.len(),
        mac(&frame[6..12]),
        mac(&frame[..6]),
        frame[12],
        frame[13]
    )
}

/// The simulated network's part: something to read.
#[cfg(all(not(vmnet_framework), feature = "sim"))]
mod sim {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::{self, JoinHandle};
    use std::time::Duration;

    /// Broadcasts an ARP request ("who has 192.168.105.2? tell 192.168.105.1") from the
    /// segment's host side every 100 ms, until `stop`.
    pub(super) fn spawn_arp_requests(stop: Arc<AtomicBool>) -> JoinHandle<()> {
        let host = vmnet::sim::Segment::global().host();
        // From the simulated gateway: "who has 192.168.105.2? tell 192.168.105.1".
        let frame = vmnet::sim::arp_request(
            host.mac(),
            std::net::Ipv4Addr::new(192, 168, 105, 1),
            std::net::Ipv4Addr::new(192, 168, 105, 2),
        );
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let _ = host.send(&frame);
                thread::sleep(Duration::from_millis(100));
            }
        })
    }
}

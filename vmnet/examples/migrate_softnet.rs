//! A softnet-style relay ported from the other `vmnet` crate (crates.io, 0.5–0.10): frames go
//! between a vmnet interface and a VM's datagram socket, one thread each way. See
//! `docs/migration.md`, section "Porting a softnet-style relay".
//!
//! ```sh
//! sudo target/debug/examples/migrate_softnet --frames 16         # macOS (root up to 15)
//! cargo run -p vmnet --features sim --example migrate_softnet    # elsewhere: the simulator
//! ```
//!
//! A VMM such as Tart hands its helper one end of a datagram socket pair (a
//! `VZFileHandleNetworkDeviceAttachment`): one Ethernet frame per datagram. Here the example
//! makes the pair itself, and a third thread plays the VM on the other end: it sends an ARP
//! request for the gateway every 100 ms and counts the frames it receives.
//!
//! - **vmnet → VM**: wait for readiness (`wait_readable`, no callback needed), then
//!   `read_batch` into one [`PacketBatch`] allocated up front, until it returns 0; send each
//!   frame as a datagram. The other crate's version needed a `Batch` of descriptors plus a
//!   vector of buffers, and had no readiness wait.
//! - **VM → vmnet**: receive a datagram and `write` it. `Err(Error::NotAccepted)` means vmnet
//!   took nothing now: the frame is counted as dropped, as a NIC would drop it.
//! - The interface is `split` into a [`vmnet::ReadHalf`] and a [`vmnet::WriteHalf`], one per
//!   thread, with no lock; `unsplit` joins them to `stop` the interface.
//!
//! It stops after the VM has sent and received `--frames` frames each, or after `--seconds`.
//! On the simulator, a thread on the segment's host side plays the network: it broadcasts an
//! ARP request every 100 ms and counts what the VM sent. (`vmnet::bridge` is this relay
//! ready-made, with batching on the socket side too; this example shows the hand-written
//! loop a softnet port starts from.)
#![deny(unsafe_code)]

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::os::unix::net::UnixDatagram;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use vmnet::{Error, Interface, InterfaceConfig, MacAddr, PacketBatch, ReadHalf, WriteHalf};

/// A softnet-style relay between a vmnet interface and a VM's datagram socket.
#[derive(Debug, Parser)]
struct Args {
    /// Stop once the VM has sent and received this many frames.
    #[arg(long, default_value_t = 16)]
    frames: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// How often the relay threads look at the stop flag.
const TICK: Duration = Duration::from_millis(100);

/// Frame counters of the relay, shared by its threads.
#[derive(Default)]
struct Counters {
    to_vm: AtomicU64,
    to_vm_dropped: AtomicU64,
    batches: AtomicU64,
    from_vm: AtomicU64,
    from_vm_dropped: AtomicU64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("migrate_softnet: {}", vmnet::Report::new(&*e));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), BoxError> {
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    eprintln!(
        "migrate_softnet: {} (its host side broadcasts an ARP request every 100 ms)",
        vmnet::sim::NOTICE
    );
    let iface = Interface::start(&InterfaceConfig::shared())?;
    let params = iface.parameters().clone();
    let mac = params.mac_address().unwrap_or_default();
    let gateway = params
        .start_address()
        .unwrap_or(Ipv4Addr::new(192, 168, 105, 1));
    println!(
        "started: MAC {mac}, gateway {gateway}, up to {} packets per read",
        params.read_max_packets()
    );

    // The VM's end and the relay's end; both directions of the relay share the relay's end.
    let (vm_end, relay_end) = UnixDatagram::pair()?;
    // Bounded waits: the receiving thread looks at the stop flag every tick, and a VM that
    // stops reading costs dropped frames, never a stuck relay.
    relay_end.set_read_timeout(Some(TICK))?;
    relay_end.set_write_timeout(Some(Duration::from_millis(20)))?;
    vm_end.set_read_timeout(Some(TICK))?;
    let relay_send = relay_end.try_clone()?;

    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    let network = sim::spawn_network(Arc::clone(&stop));

    let (reader, writer) = iface.split();
    let to_vm = {
        let (stop, counters) = (Arc::clone(&stop), Arc::clone(&counters));
        thread::Builder::new()
            .name("vmnet-to-vm".into())
            .spawn(move || vmnet_to_vm(reader, &relay_send, &stop, &counters))?
    };
    let from_vm = {
        let (stop, counters) = (Arc::clone(&stop), Arc::clone(&counters));
        thread::Builder::new()
            .name("vm-to-vmnet".into())
            .spawn(move || vm_to_vmnet(writer, &relay_end, &stop, &counters))?
    };

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let (vm_sent, vm_received) = play_vm(&vm_end, mac, gateway, args.frames, deadline)?;

    stop.store(true, Ordering::SeqCst);
    let reader = to_vm.join().expect("the vmnet-to-vm thread panicked")?;
    let writer = from_vm.join().expect("the vm-to-vmnet thread panicked")?;
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    {
        let seen = network.join().expect("the simulated network panicked");
        println!("simulated network: received {seen} frames from the VM");
    }

    let c = &*counters;
    println!(
        "vmnet -> VM: {} frames in {} batches, {} dropped; VM -> vmnet: {} frames, {} dropped",
        c.to_vm.load(Ordering::Relaxed),
        c.batches.load(Ordering::Relaxed),
        c.to_vm_dropped.load(Ordering::Relaxed),
        c.from_vm.load(Ordering::Relaxed),
        c.from_vm_dropped.load(Ordering::Relaxed),
    );
    println!("VM: sent {vm_sent}, received {vm_received}");
    let iface = reader
        .unsplit(writer)
        .map_err(|_| "the halves belong to different interfaces")?;
    iface.stop()?;
    Ok(())
}

/// vmnet → VM: batches from the interface, one datagram per frame. Returns the read half
/// when told to stop.
fn vmnet_to_vm(
    mut reader: ReadHalf,
    socket: &UnixDatagram,
    stop: &AtomicBool,
    counters: &Counters,
) -> vmnet::Result<ReadHalf> {
    // Sized from the interface: as many slots as one read may fill, each `buffer_len` bytes.
    let mut batch = PacketBatch::for_interface(reader.parameters());
    while !stop.load(Ordering::SeqCst) {
        if !reader.wait_readable(Some(TICK))? {
            continue;
        }
        // Read until nothing is left: readiness is cleared by reads, so waiting again with
        // packets still queued could wait for the next arrival.
        loop {
            let n = reader.read_batch(&mut batch)?;
            if n == 0 {
                break;
            }
            counters.batches.fetch_add(1, Ordering::Relaxed);
            for frame in &batch {
                match socket.send(frame) {
                    Ok(_) => counters.to_vm.fetch_add(1, Ordering::Relaxed),
                    // The VM is not reading (send timeout, or its buffer is full): drop.
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        counters.to_vm_dropped.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        counters.to_vm_dropped.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => return Err(e.into()),
                };
            }
        }
    }
    Ok(reader)
}

/// VM → vmnet: one datagram, one frame, one write. Returns the write half when told to stop.
fn vm_to_vmnet(
    mut writer: WriteHalf,
    socket: &UnixDatagram,
    stop: &AtomicBool,
    counters: &Counters,
) -> vmnet::Result<WriteHalf> {
    // A datagram longer than this is truncated by `recv`; the `+ 1` tells those apart.
    let mut buf = vec![0u8; writer.parameters().buffer_len() + 1];
    while !stop.load(Ordering::SeqCst) {
        let len = match socket.recv(&mut buf) {
            Ok(len) => len,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e.into()),
        };
        if len < 14 || len >= buf.len() {
            // Not an Ethernet frame vmnet would take: a greeting, a runt, or too long.
            counters.from_vm_dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match writer.write(&buf[..len]) {
            Ok(()) => counters.from_vm.fetch_add(1, Ordering::Relaxed),
            // vmnet had no room now: the other crate reported this as a success that wrote
            // nothing; here it is an error you see, and a relay counts a drop.
            Err(Error::NotAccepted) => counters.from_vm_dropped.fetch_add(1, Ordering::Relaxed),
            Err(e) => return Err(e),
        };
    }
    Ok(writer)
}

/// The VM on the other end of the socket: an ARP request for the gateway every 100 ms, and
/// whatever arrives counted. Returns (frames sent, frames received).
fn play_vm(
    socket: &UnixDatagram,
    mac: MacAddr,
    gateway: Ipv4Addr,
    frames: u64,
    deadline: Instant,
) -> std::io::Result<(u64, u64)> {
    // The guest's address: the first of the DHCP range, which follows the gateway.
    let me = Ipv4Addr::from(u32::from(gateway).wrapping_add(1));
    let request = arp_request(mac, me, gateway);
    let (mut sent, mut received) = (0, 0);
    let mut next_send = Instant::now();
    let mut buf = [0u8; 65536];
    while (sent < frames || received < frames) && Instant::now() < deadline {
        if sent < frames && Instant::now() >= next_send {
            socket.send(&request)?;
            sent += 1;
            next_send += TICK;
        }
        match socket.recv(&mut buf) {
            Ok(_) => received += 1,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((sent, received))
}

/// An ARP request, broadcast from `mac`: "who has `target`? tell `sender`".
fn arp_request(mac: MacAddr, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::with_capacity(60);
    frame.extend_from_slice(&MacAddr::BROADCAST.octets());
    frame.extend_from_slice(&mac.octets());
    frame.extend_from_slice(&[0x08, 0x06]); // EtherType: ARP
    frame.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]); // Ethernet/IPv4, request
    frame.extend_from_slice(&mac.octets());
    frame.extend_from_slice(&sender.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target.octets());
    frame.resize(60, 0);
    frame
}

/// The simulated network's part: frames for the VM, and a count of the VM's frames.
#[cfg(all(not(vmnet_framework), feature = "sim"))]
mod sim {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::{self, JoinHandle};
    use std::time::{Duration, Instant};

    /// Broadcasts an ARP request ("who has 192.168.105.2? tell 192.168.105.1") from the
    /// segment's host side every 100 ms and counts the frames the VM sends, until `stop`;
    /// returns the count.
    pub(super) fn spawn_network(stop: Arc<AtomicBool>) -> JoinHandle<u64> {
        let host = vmnet::sim::Segment::global().host();
        let mac = host.mac();
        let frame = super::arp_request(mac, [192, 168, 105, 1].into(), [192, 168, 105, 2].into());
        thread::spawn(move || {
            let mut seen = 0;
            let mut next_send = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                if Instant::now() >= next_send {
                    let _ = host.send(&frame);
                    next_send += Duration::from_millis(100);
                }
                if host.recv_timeout(Duration::from_millis(10)).is_some() {
                    seen += 1;
                }
            }
            seen
        })
    }
}

//! The socket bridge, end to end: a vmnet interface on one side, real unix sockets (bound in
//! a temporary directory) on the other, in both framings; and the `vmnet-bridge` binary
//! itself. On every backend: the simulator (`cargo test`) and the Apple backend on the
//! stand-in vmnet.framework (`cargo xtask standin`); see `common/backend.rs`.
#![cfg(feature = "sim")]

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

use common::backend::{Host, Net};
use common::{
    NetSetup, SOON, TempDir, datagram_pair, frame, host_recv, net_setup, stream_pair, wait_stats,
    within,
};
use vmnet::MacAddr;
use vmnet::bridge::{
    self, BridgeOptions, BridgeStats, ExitReason, MalformedFrame, RunningBridge, VmSocket,
};

fn options() -> BridgeOptions {
    BridgeOptions::new().with_send_timeout(Duration::from_millis(10))
}

/// A fresh interface on `net` (as [`net_setup`] makes it) bridged with [`options`] to the
/// socket pair that `pair` makes in `dir`: the network's host endpoint, the interface's MAC
/// address, the VM's end of the pair and the running bridge.
fn start_bridge<Vm, S: Into<VmSocket>>(
    net: &Net,
    dir: &TempDir,
    pair: impl FnOnce(&TempDir) -> (Vm, S),
) -> (Host, MacAddr, Vm, RunningBridge) {
    let NetSetup { host, mac, iface } = net_setup(net);
    let (vm, ours) = pair(dir);
    let bridge = bridge::spawn(iface, ours, &options()).unwrap();
    (host, mac, vm, bridge)
}

/// The host sends `count` frames to `mac`, frame `i` `len(i)` bytes long and tagged `i`;
/// returns them as sent.
fn send_tagged(
    host: &Host,
    mac: MacAddr,
    count: usize,
    len: impl Fn(usize) -> usize,
) -> Vec<Vec<u8>> {
    let sent: Vec<Vec<u8>> = (0..count)
        .map(|i| frame(mac, host.mac(), len(i), i as u8))
        .collect();
    for f in &sent {
        host.send(f).unwrap();
    }
    sent
}

/// The host sends `count` frames of `len` bytes to the VM, which reads none of them, never
/// more than [`IN_FLIGHT`] ahead of the bridge. Waits until the bridge has passed each on or
/// dropped it, and checks that it had to drop some while the network dropped none: the
/// bridge kept reading vmnet.
fn flood_vm(
    net: &Net,
    host: &Host,
    mac: MacAddr,
    bridge: &RunningBridge,
    count: usize,
    len: usize,
) {
    /// Frames sent and not yet handled by the bridge: well within the interface's receive
    /// queue (1024 frames on both backends), so a drop there would be the bridge's fault.
    const IN_FLIGHT: usize = 256;
    let handled = |s: &BridgeStats| s.to_vm.packets + s.to_vm.drops;
    for i in 0..count {
        if i >= IN_FLIGHT {
            wait_stats(bridge, "the bridge to keep up", |s| {
                handled(s) >= (i - IN_FLIGHT) as u64
            });
        }
        host.send(&frame(mac, host.mac(), len, i as u8)).unwrap();
    }
    wait_stats(bridge, "every frame passed on or dropped", |s| {
        handled(s) == count as u64
    });
    let s = bridge.stats();
    assert!(s.to_vm.drops > 0, "{s}");
    assert_eq!(net.dropped(), 0, "the bridge kept reading vmnet");
}

/// Reads one stream frame (prefix and body) from the VM's end.
fn read_stream_frame(vm: &mut UnixStream) -> Vec<u8> {
    let mut prefix = [0u8; 4];
    vm.read_exact(&mut prefix).unwrap();
    let mut f = vec![0; u32::from_be_bytes(prefix) as usize];
    vm.read_exact(&mut f).unwrap();
    f
}

fn framed(f: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    bridge::encode_stream_frame(f, &mut out).unwrap();
    out
}

/// Stops and joins the bridge within a bound, returning what it left.
fn finish(bridge: RunningBridge) -> bridge::BridgeExit {
    within(SOON, move || bridge.stop_and_join())
}

#[test]
fn datagram_frames_flow_both_ways() {
    let net = Net::new();
    let dir = TempDir::new("dgram");
    let (host, mac, vm, bridge) = start_bridge(&net, &dir, datagram_pair);
    assert_eq!(bridge.framing(), bridge::Framing::Datagram);

    // Network to VM: one datagram per frame, exact, in order.
    let sent = send_tagged(&host, mac, 50, |i| 60 + i * 29);
    let mut buf = vec![0; 2048];
    for f in &sent {
        let n = vm.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &f[..]);
    }

    // VM to network.
    for i in 0..50u8 {
        vm.send(&frame(host.mac(), mac, 1514 - usize::from(i), i))
            .unwrap();
    }
    for i in 0..50u8 {
        let f = host_recv(&host);
        assert_eq!((f.len(), f[20]), (1514 - usize::from(i), i));
    }

    wait_stats(&bridge, "counters", |s| {
        s.to_vm.packets == 50 && s.from_vm.packets == 50
    });
    let exit = finish(bridge);
    assert!(
        matches!(exit.reason, ExitReason::Stopped),
        "{}",
        exit.reason
    );
    let s = exit.stats;
    assert_eq!(
        s.to_vm.bytes,
        sent.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(s.from_vm.bytes, (0..50u64).map(|i| 1514 - i).sum::<u64>());
    assert_eq!((s.to_vm.drops, s.from_vm.drops, s.malformed), (0, 0, 0));
    let iface = exit.interface.expect("the interface comes back");
    assert_eq!(net.running_interfaces(), 1);
    iface.stop().unwrap();
}

#[test]
fn a_bound_datagram_socket_learns_the_vm_from_its_first_datagram() {
    let net = Net::new();
    let dir = TempDir::new("learn");
    let NetSetup { host, mac, iface } = net_setup(&net);
    // The bridge only binds (vmnet-bridge --listen); the VM connects to it.
    let ours = UnixDatagram::bind(dir.path("bridge.sock")).unwrap();
    let bridge = bridge::spawn(iface, ours, &options()).unwrap();
    let vm = UnixDatagram::bind(dir.path("vm.sock")).unwrap();
    vm.connect(dir.path("bridge.sock")).unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();

    // Before the VM spoke, frames for it have nowhere to go: dropped and counted.
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    wait_stats(&bridge, "a drop", |s| s.to_vm.drops == 1);

    vm.send(&frame(host.mac(), mac, 60, 2)).unwrap();
    assert_eq!(host_recv(&host)[20], 2);
    host.send(&frame(mac, host.mac(), 60, 3)).unwrap();
    let mut buf = [0u8; 2048];
    assert_eq!(vm.recv(&mut buf).unwrap(), 60);
    assert_eq!(buf[20], 3);
    finish(bridge);
}

#[test]
fn a_restarted_vm_on_a_bound_datagram_socket_is_served() {
    let net = Net::new();
    let dir = TempDir::new("restart");
    let NetSetup { host, mac, iface } = net_setup(&net);
    // The bridge only binds (vmnet-bridge --listen); each VM binds its own path and connects
    // to the bridge's, as QEMU's `-netdev dgram` does.
    let ours = UnixDatagram::bind(dir.path("bridge.sock")).unwrap();
    let bridge = bridge::spawn(iface, ours, &options()).unwrap();
    let start_vm = |name: &str| {
        let path = dir.path(name);
        let _ = std::fs::remove_file(&path);
        let vm = UnixDatagram::bind(&path).unwrap();
        vm.connect(dir.path("bridge.sock")).unwrap();
        vm.set_read_timeout(Some(SOON)).unwrap();
        vm
    };
    let exchange = |vm: &UnixDatagram, tag: u8| {
        vm.send(&frame(host.mac(), mac, 60, tag)).unwrap();
        assert_eq!(host_recv(&host)[20], tag);
        host.send(&frame(mac, host.mac(), 61, tag)).unwrap();
        let mut buf = [0u8; 2048];
        assert_eq!(vm.recv(&mut buf).unwrap(), 61);
        assert_eq!(buf[20], tag);
    };
    let vm = start_vm("vm-1.sock");
    exchange(&vm, 1);

    // The VM exits: frames for it cannot be delivered, and are counted.
    drop(vm);
    host.send(&frame(mac, host.mac(), 60, 2)).unwrap();
    wait_stats(&bridge, "a frame for the gone VM dropped", |s| {
        s.to_vm.drops == 1
    });

    // Restarted at the same path: served again (the same address, so not a new peer).
    let vm = start_vm("vm-1.sock");
    exchange(&vm, 3);
    assert_eq!(bridge.stats().peer_changes, 0);
    drop(vm);

    // Restarted at another path: its first datagram makes it the VM.
    let vm = start_vm("vm-2.sock");
    exchange(&vm, 4);
    let exit = finish(bridge);
    let s = exit.stats;
    assert_eq!(s.peer_changes, 1, "{s}");
    assert_eq!(
        (s.from_vm.packets, s.to_vm.packets, s.to_vm.drops),
        (3, 3, 1),
        "{s}"
    );
    assert!(s.to_string().ends_with("peer changes: 1"), "{s}");
}

#[test]
fn a_vm_path_taken_by_a_socket_connected_elsewhere_costs_drops_not_the_bridge() {
    let net = Net::new();
    let dir = TempDir::new("eperm");
    let NetSetup { host, mac, iface } = net_setup(&net);
    let ours = UnixDatagram::bind(dir.path("bridge.sock")).unwrap();
    let bridge = bridge::spawn(iface, ours, &options()).unwrap();
    let vm = UnixDatagram::bind(dir.path("vm.sock")).unwrap();
    vm.connect(dir.path("bridge.sock")).unwrap();
    vm.send(&frame(host.mac(), mac, 60, 1)).unwrap();
    assert_eq!(host_recv(&host)[20], 1);
    drop(vm);
    // Another program now holds the VM's path, connected to a socket of its own: the kernel
    // refuses the bridge's datagrams (EPERM).
    std::fs::remove_file(dir.path("vm.sock")).unwrap();
    let other = UnixDatagram::bind(dir.path("other.sock")).unwrap();
    let squatter = UnixDatagram::bind(dir.path("vm.sock")).unwrap();
    squatter.connect(dir.path("other.sock")).unwrap();
    for tag in 2..5 {
        host.send(&frame(mac, host.mac(), 60, tag)).unwrap();
    }
    wait_stats(&bridge, "three undeliverable frames dropped", |s| {
        s.to_vm.drops == 3
    });
    assert!(!bridge.is_finished(), "the bridge goes on");
    // A VM at a new path is served.
    let vm = UnixDatagram::bind(dir.path("vm-2.sock")).unwrap();
    vm.connect(dir.path("bridge.sock")).unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();
    vm.send(&frame(host.mac(), mac, 60, 5)).unwrap();
    assert_eq!(host_recv(&host)[20], 5);
    host.send(&frame(mac, host.mac(), 60, 6)).unwrap();
    let mut buf = [0u8; 2048];
    assert_eq!(vm.recv(&mut buf).unwrap(), 60);
    assert_eq!(buf[20], 6);
    let exit = finish(bridge);
    assert!(
        matches!(exit.reason, ExitReason::Stopped),
        "{}",
        exit.reason
    );
    assert_eq!(exit.stats.peer_changes, 1);
    drop((other, squatter));
}

#[test]
fn a_datagram_bridge_reports_its_socket_buffers() {
    let net = Net::new();
    let dir = TempDir::new("buffers");
    let (_, _, _vm, bridge) = start_bridge(&net, &dir, datagram_pair);
    let buffers = bridge
        .socket_buffers()
        .expect("a datagram socket has buffers");
    // Room for a batch of the largest frames, asked for; the system's answer reported.
    let params = bridge.control().parameters().clone();
    let batch = params.read_max_packets().max(params.write_max_packets());
    assert_eq!(buffers.requested, params.buffer_len() * batch, "{buffers}");
    assert!(buffers.send > 0 && buffers.receive > 0, "{buffers}");
    assert!(
        buffers.to_string().starts_with("socket buffers: send "),
        "{buffers}"
    );
    finish(bridge);
    let (_, _, _vm, bridge) = start_bridge(&net, &dir, stream_pair);
    assert_eq!(
        bridge.socket_buffers(),
        None,
        "a stream socket's are left alone"
    );
    finish(bridge);
}

#[test]
fn a_bridge_that_cannot_start_gives_the_interface_back() {
    let net = Net::new();
    let NetSetup { iface, .. } = net_setup(&net);
    // A pipe dressed as a datagram socket: preparing its buffers fails.
    let (read, _write) = std::io::pipe().unwrap();
    let not_a_socket = UnixDatagram::from(OwnedFd::from(read));
    let e = bridge::spawn(iface, not_a_socket, &options()).unwrap_err();
    assert_eq!(e.error().raw_os_error(), Some(libc::ENOTSOCK), "{e:?}");
    assert_eq!(e.to_string(), "the bridge could not start");
    let iface = e.into_interface();
    assert_eq!(net.running_interfaces(), 1, "given back running");
    // It still bridges.
    let (_vm, ours) = UnixDatagram::pair().unwrap();
    let bridge = bridge::spawn(iface, ours, &options()).unwrap();
    finish(bridge).interface.unwrap().stop().unwrap();
    assert_eq!(net.running_interfaces(), 0);
}

#[test]
fn stream_frames_flow_both_ways() {
    let net = Net::new();
    let dir = TempDir::new("stream");
    let (host, mac, mut vm, bridge) = start_bridge(&net, &dir, stream_pair);
    assert_eq!(bridge.framing(), bridge::Framing::Stream);

    let sent = send_tagged(&host, mac, 100, |i| 14 + i * 15);
    for f in &sent {
        assert_eq!(&read_stream_frame(&mut vm), f);
    }

    // VM to network: frames coalesced in one write, and one frame written a byte at a time.
    let mut burst = Vec::new();
    for i in 0..20u8 {
        burst.extend_from_slice(&framed(&frame(host.mac(), mac, 100 + usize::from(i), i)));
    }
    vm.write_all(&burst).unwrap();
    let slow = framed(&frame(host.mac(), mac, 1514, 99));
    for b in &slow {
        vm.write_all(std::slice::from_ref(b)).unwrap();
        vm.flush().unwrap();
    }
    for i in 0..20u8 {
        let f = host_recv(&host);
        assert_eq!((f.len(), f[20]), (100 + usize::from(i), i));
    }
    let f = host_recv(&host);
    assert_eq!((f.len(), f[20]), (1514, 99));

    wait_stats(&bridge, "counters", |s| {
        s.to_vm.packets == 100 && s.from_vm.packets == 21
    });
    let exit = finish(bridge);
    assert_eq!((exit.stats.malformed, exit.stats.protocol_errors), (0, 0));
}

#[test]
fn malformed_datagrams_are_counted_and_dropped() {
    let net = Net::new();
    let dir = TempDir::new("bad-dgram");
    let (host, mac, vm, bridge) = start_bridge(&net, &dir, datagram_pair);
    vm.send(&[]).unwrap();
    vm.send(&[0xff; 10]).unwrap();
    vm.send(&frame(host.mac(), mac, 1515, 0)).unwrap();
    vm.send(&frame(host.mac(), mac, 9000, 0)).unwrap();
    vm.send(&frame(host.mac(), mac, 60, 7)).unwrap();
    let f = host_recv(&host);
    assert_eq!(
        (f.len(), f[20]),
        (60, 7),
        "only the good frame gets through"
    );
    wait_stats(&bridge, "malformed frames", |s| s.malformed == 4);
    assert_eq!(host.recv(), None, "nothing else reached the network");
    assert!(
        !bridge.is_finished(),
        "malformed frames do not end the bridge"
    );
    let exit = finish(bridge);
    assert_eq!(exit.stats.from_vm.packets, 1);
}

#[test]
fn malformed_stream_frames_are_counted_and_dropped() {
    let net = Net::new();
    let dir = TempDir::new("bad-stream");
    let (host, mac, mut vm, bridge) = start_bridge(&net, &dir, stream_pair);
    let mut wire = vec![0, 0, 0, 0]; // empty
    wire.extend_from_slice(&[0, 0, 0, 5, 1, 2, 3, 4, 5]); // runt
    wire.extend_from_slice(&framed(&frame(host.mac(), mac, 2000, 0))); // too long
    wire.extend_from_slice(&framed(&frame(host.mac(), mac, 60, 7)));
    vm.write_all(&wire).unwrap();
    let f = host_recv(&host);
    assert_eq!((f.len(), f[20]), (60, 7), "the stream stayed in step");
    wait_stats(&bridge, "malformed frames", |s| s.malformed == 3);
    assert!(!bridge.is_finished());
    // Still in step afterwards.
    vm.write_all(&framed(&frame(host.mac(), mac, 61, 8)))
        .unwrap();
    assert_eq!(host_recv(&host)[20], 8);
    let exit = finish(bridge);
    assert_eq!(
        (exit.stats.from_vm.packets, exit.stats.protocol_errors),
        (2, 0)
    );
}

#[test]
fn an_absurd_length_prefix_resets_the_connection() {
    let net = Net::new();
    let dir = TempDir::new("desync");
    let (host, mac, mut vm, bridge) = start_bridge(&net, &dir, stream_pair);
    let mut wire = framed(&frame(host.mac(), mac, 60, 1));
    wire.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n"); // not the stream framing
    vm.write_all(&wire).unwrap();
    assert_eq!(host_recv(&host)[20], 1);
    assert!(bridge.wait_timeout(SOON), "the bridge ends by itself");
    // The VM sees the connection closed.
    let mut rest = Vec::new();
    let _ = vm.read_to_end(&mut rest);
    let exit = bridge.join();
    match exit.reason {
        ExitReason::Protocol(MalformedFrame::Desynchronized { len }) => {
            assert_eq!(len, u32::from_be_bytes(*b"GET ") as usize);
        }
        other => panic!("expected a protocol error, got {other}"),
    }
    assert_eq!(exit.stats.protocol_errors, 1);
    assert_eq!(exit.stats.from_vm.packets, 1);
    assert!(
        exit.interface.is_some(),
        "the interface survives the connection"
    );
}

#[test]
fn a_stream_cut_inside_a_frame_is_counted_when_the_vm_closes() {
    let net = Net::new();
    let dir = TempDir::new("truncated");
    let (_, _, mut vm, bridge) = start_bridge(&net, &dir, stream_pair);
    vm.write_all(&[0, 0, 0, 100]).unwrap();
    vm.write_all(&[0xab; 50]).unwrap();
    drop(vm);
    assert!(bridge.wait_timeout(SOON));
    let exit = bridge.join();
    assert!(
        matches!(exit.reason, ExitReason::PeerClosed),
        "{}",
        exit.reason
    );
    assert_eq!(exit.stats.malformed, 1);
    assert_eq!(exit.stats.from_vm.packets, 0);
    // The interface is back and works for a new connection.
    let iface = exit.interface.unwrap();
    let (_vm, ours) = stream_pair(&TempDir::new("again"));
    let again = bridge::spawn(iface, ours, &options()).unwrap();
    finish(again);
}

#[test]
fn a_vm_that_stops_reading_datagrams_causes_drops_not_a_stall() {
    const N: usize = 4000;
    let net = Net::new();
    let dir = TempDir::new("slow-dgram");
    let (host, mac, vm, bridge) = start_bridge(&net, &dir, datagram_pair);
    // The VM never reads: its socket fills up after a few hundred datagrams.
    flood_vm(&net, &host, mac, &bridge, N, 200);
    // The other direction is not held up.
    vm.send(&frame(host.mac(), mac, 60, 1)).unwrap();
    assert_eq!(host_recv(&host)[20], 1);
    let t0 = Instant::now();
    finish(bridge);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // What did get through is intact and in order.
    let mut buf = [0u8; 2048];
    let mut last = None;
    vm.set_nonblocking(true).unwrap();
    while let Ok(n) = vm.recv(&mut buf) {
        assert_eq!(n, 200);
        last = Some(buf[20]);
    }
    assert!(last.is_some());
}

#[test]
fn a_vm_that_stops_reading_the_stream_causes_drops_not_a_stall() {
    const N: usize = 6000;
    let net = Net::new();
    let dir = TempDir::new("slow-stream");
    let (host, mac, mut vm, bridge) = start_bridge(&net, &dir, stream_pair);
    // Large frames fill the socket buffer and the bridge's output buffer quickly.
    flood_vm(&net, &host, mac, &bridge, N, 1514);
    vm.write_all(&framed(&frame(host.mac(), mac, 60, 1)))
        .unwrap();
    assert_eq!(host_recv(&host)[20], 1);
    // The stream is still in step: what the VM reads now are whole frames, in order.
    let mut previous: Option<u8> = None;
    for _ in 0..100 {
        let f = read_stream_frame(&mut vm);
        assert_eq!(f.len(), 1514);
        if let Some(p) = previous {
            assert!(f[20] != p, "no duplicate");
        }
        previous = Some(f[20]);
    }
    let t0 = Instant::now();
    finish(bridge);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[test]
fn the_stop_handle_ends_the_bridge_promptly() {
    let net = Net::new();
    for framing in ["datagram", "stream"] {
        let dir = TempDir::new("stop");
        let NetSetup { iface, .. } = net_setup(&net);
        // A long poll interval: the stop must wake the threads, not wait for it.
        let opts = options().with_poll_interval(Duration::from_secs(30));
        // The VM's ends stay open while the bridge runs.
        let (_vm_datagram, _vm_stream, bridge) = if framing == "datagram" {
            let (vm, ours) = datagram_pair(&dir);
            (Some(vm), None, bridge::spawn(iface, ours, &opts).unwrap())
        } else {
            let (vm, ours) = stream_pair(&dir);
            (None, Some(vm), bridge::spawn(iface, ours, &opts).unwrap())
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(!bridge.is_finished());
        let stop = bridge.stop_handle();
        let t0 = Instant::now();
        std::thread::spawn(move || stop.stop()).join().unwrap();
        assert!(bridge.wait_timeout(SOON), "{framing}");
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "{framing}: {:?}",
            t0.elapsed()
        );
        let exit = bridge.join();
        assert!(matches!(exit.reason, ExitReason::Stopped));
        drop(exit);
        assert_eq!(
            net.running_interfaces(),
            0,
            "dropping the exit stops the interface"
        );
    }
}

#[test]
fn dropping_a_running_bridge_stops_it() {
    let net = Net::new();
    let dir = TempDir::new("drop");
    let (_, _, _vm, bridge) = start_bridge(&net, &dir, stream_pair);
    within(SOON, move || drop(bridge));
    assert_eq!(net.running_interfaces(), 0);
}

#[test]
fn the_vm_closing_the_stream_ends_the_bridge() {
    let net = Net::new();
    let dir = TempDir::new("close");
    let (_, _, vm, bridge) = start_bridge(&net, &dir, stream_pair);
    drop(vm);
    assert!(bridge.wait_timeout(SOON));
    let exit = bridge.join();
    assert!(matches!(exit.reason, ExitReason::PeerClosed));
    assert_eq!(exit.stats, BridgeStats::default());
}

#[test]
fn a_socket_pair_descriptor_of_either_type_is_bridged() {
    // As a VM monitor hands one end of its socketpair(2) to the bridge (`--fd N`): a plain
    // descriptor, whose type decides the framing.
    let net = Net::new();
    let NetSetup { host, mac, iface } = net_setup(&net);
    let (vm, ours) = UnixDatagram::pair().unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();
    let socket = VmSocket::try_from(OwnedFd::from(ours)).unwrap();
    let bridge = bridge::spawn(iface, socket, &options()).unwrap();
    assert_eq!(bridge.framing(), bridge::Framing::Datagram);
    vm.send(&frame(host.mac(), mac, 60, 1)).unwrap();
    assert_eq!(host_recv(&host)[20], 1);
    host.send(&frame(mac, host.mac(), 61, 2)).unwrap();
    let mut buf = [0u8; 2048];
    assert_eq!(vm.recv(&mut buf).unwrap(), 61);
    let iface = finish(bridge).interface.unwrap();

    let (mut vm, ours) = UnixStream::pair().unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();
    let socket = VmSocket::try_from(OwnedFd::from(ours)).unwrap();
    let bridge = bridge::spawn(iface, socket, &options()).unwrap();
    assert_eq!(bridge.framing(), bridge::Framing::Stream);
    vm.write_all(&framed(&frame(host.mac(), mac, 62, 3)))
        .unwrap();
    assert_eq!(host_recv(&host)[20], 3);
    host.send(&frame(mac, host.mac(), 63, 4)).unwrap();
    assert_eq!(read_stream_frame(&mut vm)[20], 4);
    finish(bridge);
}

/// Sends `signal` to the child process.
#[cfg(feature = "cli")]
fn kill(child: &std::process::Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with our own child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// Waits (bounded) for the child to exit; kills it and fails the test otherwise.
#[cfg(feature = "cli")]
fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + SOON;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("vmnet-bridge did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(feature = "cli")]
fn wait_for_path(path: &std::path::Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + SOON;
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("vmnet-bridge exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `vmnet-bridge` in `mode` with `framing`, listening on `socket`, with the `extra`
/// arguments (its stdout discarded, its stderr kept), and waits until it has bound the socket.
#[cfg(feature = "cli")]
fn start_binary(
    mode: &str,
    framing: &str,
    socket: &std::path::Path,
    extra: &[&str],
) -> std::process::Child {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmnet-bridge"))
        .args(["--mode", mode, "--framing", framing, "--listen"])
        .arg("--socket")
        .arg(socket)
        .args(extra)
        // The stand-in's outside network reflects frames back (ignored by the simulator).
        .env("VMNET_STANDIN_REFLECT", "1")
        // Run through sudo, the bridge would drop to the sudo user and could not remove its
        // socket from a root-owned directory: these tests keep the user they run as.
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_path(socket, &mut child);
    child
}

/// Sends `signal` to the binary, waits (bounded) for it to exit, checks that it exited
/// successfully and returns what it wrote to stderr.
#[cfg(feature = "cli")]
fn stop_binary(mut child: std::process::Child, signal: libc::c_int) -> String {
    kill(&child, signal);
    let status = wait_exit(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}\n{stderr}");
    stderr
}

/// A broadcast frame of `len` bytes tagged `tag`, from a VM's (made-up) MAC address.
#[cfg(feature = "cli")]
fn vm_broadcast(len: usize, tag: u8) -> Vec<u8> {
    frame(
        MacAddr::BROADCAST,
        MacAddr::new([2, 0, 0, 0, 0, 9]),
        len,
        tag,
    )
}

#[cfg(feature = "cli")]
#[test]
fn the_binary_prints_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vmnet-bridge"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--mode",
        "--socket",
        "--framing",
        "--listen",
        "--stats-interval",
    ] {
        assert!(
            help.contains(option),
            "{option} missing from --help:\n{help}"
        );
    }
    // A bad argument is an error with a message, not a panic.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vmnet-bridge"))
        .args([
            "--mode",
            "sideways",
            "--socket",
            "/nonexistent",
            "--framing",
            "stream",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

// The binary is a process of its own, whose network this test cannot play: its network sends
// the VM's frames back instead. On the simulator that is `--sim-network reflect` (the
// default); on the stand-in, `VMNET_STANDIN_REFLECT=1` (set by `start_binary`).
#[cfg(feature = "cli")]
#[test]
fn the_binary_bridges_a_datagram_vm_and_stops_on_sigterm() {
    let dir = TempDir::new("bin");
    let socket = dir.path("bridge.sock");
    let child = start_binary("shared", "datagram", &socket, &["--stats-interval", "1"]);
    let vm = UnixDatagram::bind(dir.path("vm.sock")).unwrap();
    vm.connect(&socket).unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();
    // The network reflects the frame back to the interface.
    let sent = vm_broadcast(80, 0x5a);
    vm.send(&sent).unwrap();
    let mut buf = [0u8; 2048];
    let n = vm.recv(&mut buf).expect("the reflected frame");
    assert_eq!(n, 80);
    assert_eq!(&buf[12..n], &sent[12..], "payload reflected unchanged");
    let stderr = stop_binary(child, libc::SIGTERM);
    assert_eq!(
        stderr.contains(vmnet::sim::NOTICE),
        cfg!(not(vmnet_standin)),
        "says whether it runs on the simulator: {stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("final") && last.contains("to VM: 1 packets"),
        "{stderr}"
    );
    assert!(!socket.exists(), "the bound socket is removed at exit");
}

#[cfg(feature = "cli")]
#[test]
fn the_binary_serves_stream_connections_one_after_another() {
    let dir = TempDir::new("bin-stream");
    let socket = dir.path("qemu.sock");
    let child = start_binary("host", "stream", &socket, &[]);
    for round in 0..2u8 {
        let mut vm = UnixStream::connect(&socket).unwrap();
        vm.set_read_timeout(Some(SOON)).unwrap();
        let sent = vm_broadcast(64, round);
        vm.write_all(&framed(&sent)).unwrap();
        let got = read_stream_frame(&mut vm);
        assert_eq!(&got[12..], &sent[12..]);
        // Closing ends this connection; the bridge waits for the next one.
    }
    let stderr = stop_binary(child, libc::SIGINT);
    assert!(stderr.contains("final"), "{stderr}");
}

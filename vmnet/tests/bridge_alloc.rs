//! The bridge's packet path allocates nothing in steady state, in either framing.
//!
//! A counting global allocator counts every allocation in the process while counting is on:
//! the bridge's two threads, the simulator's event thread, and this test's own "VM" and
//! "network" loops, which use preallocated buffers only. Warm-up rounds run first, so
//! one-time set-up (buffers, a learned peer address) is not counted.
#![cfg(feature = "sim")]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

use common::{SOON, Setup, TempDir, datagram_pair, frame, setup, stream_pair, wait_stats};
use vmnet::MacAddr;
use vmnet::bridge::{self, BridgeOptions, RunningBridge, VmSocket};
use vmnet::sim::{HostPort, Segment};

#[path = "common/counting.rs"]
mod counting;
use counting::{Counting, Scope, allocations_during};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The checks count every allocation in the process, so this binary has a single test that runs
/// them in turn: with one test, the test harness's own thread (which allocates when a test ends)
/// is idle while they count.
#[test]
fn the_bridge_allocates_nothing_per_packet() {
    the_counter_counts();
    // Batched system calls and one call per datagram, on a connected socket; and batched on a
    // bound one, which follows the VM's address.
    the_datagram_bridge_allocates_nothing_per_packet(true, datagram_pair);
    the_datagram_bridge_allocates_nothing_per_packet(false, datagram_pair);
    the_datagram_bridge_allocates_nothing_per_packet(true, bound_datagram_pair);
    the_stream_bridge_allocates_nothing_per_packet();
}

/// The VM's socket, bound and connected to the bridge's, and the bridge's, only bound: it
/// learns the VM from its first datagram.
fn bound_datagram_pair(dir: &TempDir) -> (UnixDatagram, UnixDatagram) {
    let ours = UnixDatagram::bind(dir.path("bridge.sock")).unwrap();
    let vm = UnixDatagram::bind(dir.path("vm.sock")).unwrap();
    vm.connect(dir.path("bridge.sock")).unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();
    (vm, ours)
}

const ROUND: usize = 64;

/// Receives `n` frames at the host into `buf`, without allocating.
fn host_receive(host: &HostPort, buf: &mut [u8], n: usize) {
    let deadline = Instant::now() + SOON;
    let mut got = 0;
    while got < n {
        match host.recv_into(buf) {
            Ok(Some(_)) => got += 1,
            Ok(None) => {
                assert!(Instant::now() < deadline, "host stalled");
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// One round: `ROUND` frames each way through the bridge, the VM's first (so a bound
/// bridge socket knows where the VM is).
fn datagram_round(
    host: &HostPort,
    vm: &UnixDatagram,
    to_vm: &[u8],
    from_vm: &[u8],
    buf: &mut [u8],
) {
    for _ in 0..ROUND {
        vm.send(from_vm).unwrap();
    }
    host_receive(host, buf, ROUND);
    for _ in 0..ROUND {
        host.send(to_vm).unwrap();
    }
    for _ in 0..ROUND {
        assert_eq!(vm.recv(buf).unwrap(), to_vm.len());
    }
}

/// A shared-mode interface on a segment with the default queue capacities, bridged with the
/// default options to the socket pair that `pair` makes in `dir`: the segment (to keep), its
/// host port, the interface's MAC address, the VM's end of the pair and the running bridge.
fn start_bridge<Vm, S: Into<VmSocket>>(
    dir: &TempDir,
    pair: impl FnOnce(&TempDir) -> (Vm, S),
    options: &BridgeOptions,
) -> (Segment, HostPort, MacAddr, Vm, RunningBridge) {
    let Setup {
        seg,
        host,
        mac,
        iface,
    } = setup(1024); // the segment's default queue capacities
    let (vm, ours) = pair(dir);
    let bridge = bridge::spawn(iface, ours, options).unwrap();
    (seg, host, mac, vm, bridge)
}

fn the_counter_counts() {
    let (v, n) = allocations_during(Scope::Process, || std::hint::black_box(vec![1u8; 10]));
    assert_eq!(v.len(), 10);
    assert!(n >= 1, "the harness must see it");
}

fn the_datagram_bridge_allocates_nothing_per_packet(
    batched: bool,
    pair: fn(&TempDir) -> (UnixDatagram, UnixDatagram),
) {
    let dir = TempDir::new("alloc-dgram");
    let options = BridgeOptions::new().with_batched_io(batched);
    let (_seg, host, mac, vm, bridge) = start_bridge(&dir, pair, &options);
    let to_vm = frame(mac, host.mac(), 1000, 1);
    let from_vm = frame(host.mac(), mac, 1514, 2);
    let mut buf = vec![0u8; 2048];
    for _ in 0..3 {
        datagram_round(&host, &vm, &to_vm, &from_vm, &mut buf);
    }
    wait_stats(&bridge, "the warm-up frames to the VM", |s| {
        s.to_vm.packets >= 3 * ROUND as u64
    });

    let ((), allocations) = allocations_during(Scope::Process, || {
        for _ in 0..10 {
            datagram_round(&host, &vm, &to_vm, &from_vm, &mut buf);
        }
        wait_stats(&bridge, "the frames to the VM", |s| {
            s.to_vm.packets >= 13 * ROUND as u64
        });
    });

    let stats = bridge.stop_and_join().stats;
    assert_eq!(stats.from_vm.packets, 13 * ROUND as u64);
    assert_eq!(stats.to_vm.drops, 0, "{stats}");
    assert_eq!(
        allocations, 0,
        "allocations on the packet path (batched: {batched})"
    );
}

fn the_stream_bridge_allocates_nothing_per_packet() {
    let dir = TempDir::new("alloc-stream");
    let (_seg, host, mac, mut vm, bridge) = start_bridge(&dir, stream_pair, &BridgeOptions::new());
    let to_vm = frame(mac, host.mac(), 1000, 1);
    let mut from_vm = Vec::new();
    for _ in 0..ROUND {
        bridge::encode_stream_frame(&frame(host.mac(), mac, 1514, 2), &mut from_vm).unwrap();
    }
    let mut buf = vec![0u8; 2048];
    let round = |vm: &mut UnixStream, buf: &mut [u8]| {
        for _ in 0..ROUND {
            host.send(&to_vm).unwrap();
        }
        for _ in 0..ROUND {
            vm.read_exact(&mut buf[..4 + to_vm.len()]).unwrap();
        }
        vm.write_all(&from_vm).unwrap();
        host_receive(&host, buf, ROUND);
    };
    for _ in 0..3 {
        round(&mut vm, &mut buf);
    }

    let (_, allocations) = allocations_during(Scope::Process, || {
        for _ in 0..10 {
            round(&mut vm, &mut buf);
        }
    });

    let stats = bridge.stop_and_join().stats;
    assert_eq!(stats.to_vm.packets, 13 * ROUND as u64);
    assert_eq!(stats.from_vm.packets, 13 * ROUND as u64);
    assert_eq!(allocations, 0, "allocations on the packet path");
}

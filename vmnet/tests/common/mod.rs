//! Helpers shared by the tests.
#![allow(dead_code, unreachable_pub)]

use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vmnet::bridge::{BridgeStats, RunningBridge};
use vmnet::sim::{HostPort, Segment};
use vmnet::{Interface, InterfaceConfig, MacAddr};

pub mod backend;

/// Generous bound for anything that should happen "soon" on a loaded 2-core CI machine.
pub const SOON: Duration = Duration::from_secs(10);

/// Whether to run small: under Miri, or when `VMNET_TEST_SMALL` is set (`cargo xtask leak`
/// sets it for valgrind). Both run the code many times slower.
pub fn small() -> bool {
    cfg!(miri) || std::env::var_os("VMNET_TEST_SMALL").is_some()
}

/// `normal`, or `reduced` when running [`small`].
pub fn count(normal: usize, reduced: usize) -> usize {
    if small() { reduced } else { normal }
}

/// An Ethernet frame from `src` to `dst` of `len` bytes (at least 14), payload filled with
/// `tag` so tests can tell frames apart.
pub fn frame(dst: MacAddr, src: MacAddr, len: usize, tag: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(len.max(14));
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&[0x88, 0xb5]); // local experimental EtherType
    f.resize(len.max(14), tag);
    f
}

/// Runs `f` on another thread and fails the test if it does not finish within `limit`
/// (a deadlock shows as a failure, not a hung CI job).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("operation did not finish in time (deadlock?)")
}

/// The next frame the host sees, waiting (bounded) for it.
pub fn host_recv(host: &backend::Host) -> Vec<u8> {
    host.recv_timeout(SOON).expect("no frame reached the host")
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vmnet-test-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One shared-mode interface started on a [`backend::Net`], with the network's host endpoint
/// and the interface's MAC address: [`setup`] on either backend (the network stays with the
/// test, which declares it first so that it is dropped last).
pub struct NetSetup {
    pub host: backend::Host,
    pub mac: MacAddr,
    pub iface: Interface,
}

/// Starts one shared-mode interface on `net` (see [`NetSetup`]).
pub fn net_setup(net: &backend::Net) -> NetSetup {
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = iface.parameters().mac_address().unwrap();
    NetSetup {
        host: net.host(),
        mac,
        iface,
    }
}

/// A segment with one started interface, and the segment's host port, for the tests that
/// need the simulator's own segment (its queue capacities, its counters); [`net_setup`] on
/// either backend otherwise.
pub struct Setup {
    pub seg: Segment,
    pub host: HostPort,
    pub mac: MacAddr,
    pub iface: Interface,
}

/// A segment whose receive queues (the interfaces' and the host's) hold `queue` frames, with
/// one shared-mode interface started on it.
pub fn setup(queue: usize) -> Setup {
    let seg = Segment::builder()
        .queue_capacity(queue)
        .host_queue_capacity(queue)
        .build();
    let host = seg.host();
    let iface = seg.start(&InterfaceConfig::shared()).unwrap();
    let mac = iface.parameters().mac_address().unwrap();
    Setup {
        seg,
        host,
        mac,
        iface,
    }
}

/// The VM's datagram socket and the bridge's, bound side by side and connected to each other.
pub fn datagram_pair(dir: &TempDir) -> (UnixDatagram, UnixDatagram) {
    let ours = UnixDatagram::bind(dir.path("bridge.sock")).unwrap();
    let vm = UnixDatagram::bind(dir.path("vm.sock")).unwrap();
    vm.connect(dir.path("bridge.sock")).unwrap();
    ours.connect(dir.path("vm.sock")).unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();
    vm.set_write_timeout(Some(SOON)).unwrap();
    (vm, ours)
}

/// The VM's stream connection and the bridge's, through a listening socket (the bridge
/// listens, QEMU connects).
pub fn stream_pair(dir: &TempDir) -> (UnixStream, UnixStream) {
    let path = dir.path("qemu.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let vm = UnixStream::connect(&path).unwrap();
    let (ours, _) = listener.accept().unwrap();
    vm.set_read_timeout(Some(SOON)).unwrap();
    vm.set_write_timeout(Some(SOON)).unwrap();
    (vm, ours)
}

/// Waits (bounded) until `cond` holds for the bridge's counters. Allocates nothing unless it
/// times out.
pub fn wait_stats(bridge: &RunningBridge, what: &str, cond: impl Fn(&BridgeStats) -> bool) {
    let deadline = Instant::now() + SOON;
    while !cond(&bridge.stats()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            bridge.stats()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether a single-frame write was not accepted now (vmnet took nothing: retry); any other
/// error fails the test.
pub fn not_accepted(written: vmnet::Result<()>) -> bool {
    match written {
        Ok(()) => false,
        Err(vmnet::Error::NotAccepted) => true,
        Err(e) => panic!("the write failed: {e:?}"),
    }
}

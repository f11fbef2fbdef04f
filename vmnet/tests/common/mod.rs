//! Helpers shared by the simulator tests.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use vmnet::MacAddr;
use vmnet::sim::HostPort;

/// Generous bound for anything that should happen "soon" on a loaded 2-core CI machine.
pub const SOON: Duration = Duration::from_secs(10);

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

/// The next frame the host sees, waiting (bounded) for it. Polls: `HostPort::recv_timeout`
/// can miss the wake-up of frames after the first.
pub fn host_recv(host: &HostPort) -> Vec<u8> {
    let deadline = Instant::now() + SOON;
    loop {
        if let Some(f) = host.recv() {
            return f;
        }
        assert!(Instant::now() < deadline, "no frame reached the host");
        std::thread::sleep(Duration::from_millis(1));
    }
}

//! The simulated network behind the interface, on systems without vmnet: it takes every
//! frame the interface sends and, in reflect mode, sends it back addressed to the interface
//! from the simulated gateway, so traffic visibly flows.

use std::time::Duration;

use vmnet::MacAddr;

use crate::args::SimNetwork;
use crate::output::log;
use crate::stop_signal;

/// Starts the simulated network's thread (it ends with the process or on a stop signal).
pub(crate) fn spawn(mode: SimNetwork, interface_mac: Option<MacAddr>) {
    let host = vmnet::sim::Segment::global().host();
    let spawned = std::thread::Builder::new()
        .name("sim-network".into())
        .spawn(move || {
            while !stop_signal::requested() {
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
        log(&format!("the simulated network could not start: {e}"));
    }
}

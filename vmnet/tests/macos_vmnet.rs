//! Tests against the real vmnet.framework.
//!
//! They need macOS and privileges (root, or the `com.apple.vm.networking` entitlement; on
//! macOS 26 possibly the virtualization entitlement), so they are `#[ignore]`d and run by the
//! macOS workflow with `sudo cargo test -- --ignored`.
#![cfg(target_os = "macos")]

use std::time::Duration;

use vmnet::{Capabilities, Feature, Interface, InterfaceConfig, PacketBatch};

#[test]
fn capabilities_match_the_running_macos() {
    let caps = vmnet::capabilities();
    // Every supported macOS (11+) that runs CI today is 12 or newer.
    assert!(caps.has(Feature::IpPortForwarding), "{caps:?}");
    assert!(caps.has(Feature::ChecksumOffload), "{caps:?}");
    assert_ne!(caps, Capabilities::BASELINE);
}

#[test]
#[ignore = "needs root or the com.apple.vm.networking entitlement"]
fn shared_interface_starts_reports_parameters_and_stops() {
    let iface = Interface::start(&InterfaceConfig::shared()).expect("start (are you root?)");
    let p = iface.parameters();
    assert!(p.mac_address().is_some());
    assert_eq!(p.mtu(), 1500);
    assert!(p.max_packet_size() >= 1514);
    assert!(p.start_address().is_some());
    iface.stop().expect("stop");
}

#[test]
#[ignore = "needs root or the com.apple.vm.networking entitlement"]
fn host_interface_reads_nothing_without_traffic_and_writes_a_frame() {
    let mut iface = Interface::start(&InterfaceConfig::host()).expect("start (are you root?)");
    let mut batch = PacketBatch::for_interface(iface.parameters());
    // Reading may return 0 or stray host traffic; it must not fail.
    iface.read_batch(&mut batch).expect("read_batch");
    let mac = iface.parameters().mac_address().unwrap();
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&mac.octets());
    frame.extend_from_slice(&[0x88, 0xb5]);
    frame.resize(60, 0);
    assert!(iface.write(&frame).expect("write"));
    let _ = iface.wait_readable(Some(Duration::from_millis(200)));
    drop(iface); // stops with a bounded wait
}

#[test]
#[ignore = "needs root or the com.apple.vm.networking entitlement"]
fn dropping_many_interfaces_never_hangs() {
    for _ in 0..5 {
        let iface = Interface::start(&InterfaceConfig::shared()).expect("start");
        iface.set_event_callback(|_| {});
        drop(iface);
    }
}

//! The simulator's side of bridgeable interfaces and network objects: what a segment built
//! with its builder offers. Port forwarding and network objects on every backend are in
//! `network.rs`.
#![cfg(feature = "sim")]
#![deny(unsafe_code)]

use vmnet::sim::Segment;
use vmnet::{Capabilities, Error, Feature, NetworkConfiguration, NetworkMode};

#[test]
fn bridgeable_interfaces_come_from_the_segment() {
    #[cfg(not(vmnet_framework))]
    assert_eq!(vmnet::bridgeable_interfaces().unwrap(), ["sim0"]);
    let seg = Segment::builder()
        .bridgeable_interfaces(["en0", "en1"])
        .build();
    assert_eq!(seg.bridgeable_interfaces(), ["en0", "en1"]);
}

/// A segment without network objects refuses like macOS before 26 (the Apple backend's
/// refusal at each stand-in level is checked in `api.rs`).
#[test]
fn network_objects_need_macos_26() {
    let seg = Segment::builder()
        .capabilities(Capabilities::ALL.without(Feature::NetworkObjects))
        .build();
    match seg.network(&NetworkConfiguration::new(NetworkMode::Shared)) {
        Err(Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 26.0"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

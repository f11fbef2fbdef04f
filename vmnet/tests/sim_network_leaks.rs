//! Every simulated network object is released, on error paths too. One test in its own
//! binary: the live-object count is process-wide.
#![cfg(feature = "sim")]
#![deny(unsafe_code)]

use std::net::Ipv4Addr;

use vmnet::sim::{Segment, live_network_objects};
use vmnet::{
    Capabilities, Error, Feature, Network, NetworkConfiguration, NetworkInterfaceConfig,
    NetworkMode, PortForwardingRule, Protocol,
};

#[test]
fn network_objects_are_released_on_every_path() {
    let before = live_network_objects();
    // Checksum offload missing, so an interface asking for it fails to start on the network.
    let seg = Segment::builder()
        .capabilities(Capabilities::ALL.without(Feature::ChecksumOffload))
        .build();
    let config = NetworkConfiguration::new(NetworkMode::Shared);
    {
        // A configuration is a plain value: it holds no object.
        let refused = config.clone().with_ipv4_subnet(
            Ipv4Addr::new(192, 168, 1, 0),
            Ipv4Addr::new(255, 255, 255, 0),
        );
        assert!(seg.network(&refused).is_err());
        assert_eq!(
            live_network_objects(),
            before,
            "a refused check creates nothing"
        );
        // vmnet refuses the second rule with the same key: the object made is released.
        let rule = PortForwardingRule::new(Protocol::Tcp, 80, "192.168.1.2:80".parse().unwrap());
        let twice = config
            .clone()
            .with_port_forwarding_rule(rule)
            .with_port_forwarding_rule(rule);
        assert!(matches!(seg.network(&twice), Err(Error::Vmnet { .. })));
        assert_eq!(
            live_network_objects(),
            before,
            "a refused setting leaks nothing"
        );

        let net = seg.network(&config).unwrap();
        let serialized = net.serialize().unwrap();
        let again = Network::from_serialization(&serialized).unwrap();
        // A failed interface start on the network leaves nothing behind.
        let offload = NetworkInterfaceConfig::new().with_checksum_offload(true);
        assert!(matches!(
            net.start_interface(&offload),
            Err(Error::Unsupported { .. })
        ));
        let iface = again
            .start_interface(&NetworkInterfaceConfig::new())
            .unwrap();
        drop(iface);
        assert!(live_network_objects() > before);
        drop((net, again, serialized));
    }
    assert_eq!(live_network_objects(), before, "every object was released");
    // Unsupported: nothing is created at all.
    let old = Segment::builder()
        .capabilities(Capabilities::BASELINE)
        .build();
    assert!(matches!(
        old.network(&config),
        Err(Error::Unsupported { .. })
    ));
    assert_eq!(live_network_objects(), before);
}

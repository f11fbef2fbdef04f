//! Every simulated network object is released, on error paths too. One test in its own
//! binary: the live-object count is process-wide.
#![cfg(feature = "sim")]
#![deny(unsafe_code)]

use std::net::Ipv4Addr;

use vmnet::sim::{Segment, live_network_objects};
use vmnet::{InterfaceConfig, Mode, Network};

#[test]
fn network_objects_are_released_on_every_path() {
    let before = live_network_objects();
    {
        let mut c = vmnet::sim::network_configuration(Mode::Shared).unwrap();
        assert_eq!(live_network_objects(), before + 1);
        // Failed setters create nothing and keep nothing.
        assert!(
            c.set_ipv4_subnet(
                Ipv4Addr::new(192, 168, 1, 0),
                Ipv4Addr::new(255, 255, 255, 0)
            )
            .is_err()
        );
        let net = Network::new(&c).unwrap();
        let serialized = net.serialize().unwrap();
        let again = Network::from_serialization(&serialized).unwrap();
        // A failed interface start on the network leaves nothing behind.
        assert!(
            net.start_interface(&InterfaceConfig::shared().with_mtu(9000))
                .is_err()
        );
        let iface = again.start_interface(&InterfaceConfig::shared()).unwrap();
        drop(iface);
        assert!(live_network_objects() > before + 1);
        drop((c, net, again, serialized));
    }
    assert_eq!(live_network_objects(), before, "every object was released");
    // Unsupported: nothing is created at all.
    let old = Segment::builder()
        .capabilities(vmnet::Capabilities::BASELINE)
        .build();
    assert!(old.network_configuration(Mode::Host).is_err());
    assert_eq!(live_network_objects(), before);
}

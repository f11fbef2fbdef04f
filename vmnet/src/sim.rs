//! The simulator: an in-process Ethernet segment with vmnet-like interfaces (feature
//! `sim`).
//!
//! Everything above vmnet — configuration, validation, parameters, batches, events,
//! halves, stop and drop — runs unchanged on a simulated [`Segment`], on any platform, so
//! VMM code built on this crate can be tested on Linux CI. The segment's [`HostPort`]
//! plays the network: tests inject frames and observe what interfaces send.
//!
//! On targets without vmnet, [`Interface::start`](crate::Interface::start) uses
//! [`Segment::global`].

use crate::config::InterfaceConfig;
use crate::error::Result;
use crate::interface::Interface;
use crate::network::{Network, NetworkConfiguration};
use crate::options::StartOptions;

pub use crate::backend::sim::{
    DEFAULT_HOST_QUEUE_CAPACITY, DEFAULT_QUEUE_CAPACITY, DEFAULT_REORDER_HOLD,
    DEFAULT_TAP_CAPACITY, FaultStats, Faults, HostPort, Segment, SegmentBuilder, SegmentStats, Tap,
    live_network_objects,
};

/// What a program says when it runs on the simulator because vmnet.framework is missing, so
/// every program of this project (and yours, if you like) says it the same way:
/// `"<program>: {NOTICE} (<what the simulated network does>)"`.
pub const NOTICE: &str =
    "vmnet.framework is not available on this system: using the in-process simulator";

/// An ARP request ("who has `target`? tell `sender`"), broadcast from `sender_mac`, as a
/// minimum-size Ethernet frame: something for a simulated network's host side to send, so
/// an interface has traffic to receive.
///
/// ```
/// use std::net::Ipv4Addr;
/// let host = vmnet::sim::Segment::new().host();
/// let frame = vmnet::sim::arp_request(host.mac(), Ipv4Addr::new(192, 168, 105, 1),
///                                     Ipv4Addr::new(192, 168, 105, 2));
/// assert_eq!((frame.len(), &frame[..6], &frame[12..14]), (60, &[0xff; 6][..], &[8, 6][..]));
/// ```
pub fn arp_request(
    sender_mac: crate::MacAddr,
    sender: std::net::Ipv4Addr,
    target: std::net::Ipv4Addr,
) -> [u8; 60] {
    let mac = sender_mac.octets();
    let mut frame = [0u8; 60]; // minimum Ethernet frame (without FCS), zero-padded
    frame[..6].copy_from_slice(&[0xff; 6]); // destination: broadcast
    frame[6..12].copy_from_slice(&mac); // source
    frame[12..14].copy_from_slice(&[0x08, 0x06]); // EtherType: ARP
    frame[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]); // Ethernet/IPv4, request
    frame[22..28].copy_from_slice(&mac); // sender hardware address
    frame[28..32].copy_from_slice(&sender.octets()); // sender protocol address
    // Target hardware address (32..38): unknown, zero.
    frame[38..42].copy_from_slice(&target.octets()); // target protocol address
    frame
}

/// The simulator's operations that make public objects: interfaces and network
/// networks on a segment.
impl Segment {
    /// Starts an interface on this segment.
    ///
    /// # Errors
    /// As [`Interface::start`]: the configuration is validated exactly as for vmnet,
    /// against this segment's capabilities.
    pub fn start(&self, config: &InterfaceConfig) -> Result<Interface> {
        self.start_with(config, &StartOptions::new())
    }

    /// [`start`](Self::start) with options (the timeouts bound the event thread's shutdown).
    ///
    /// # Errors
    /// As for [`start`](Self::start).
    pub fn start_with(
        &self,
        config: &InterfaceConfig,
        options: &StartOptions,
    ) -> Result<Interface> {
        Interface::start_on(config, options, |config, ctx| {
            self.start_driver(config, ctx)
        })
    }

    /// Creates a simulated network (macOS 26's network objects) described by `config`: a new
    /// segment with this segment's capabilities. [`Network::new`] does the same on the global
    /// segment.
    ///
    /// # Errors
    /// As for [`Network::new`]: what [`NetworkConfiguration::validate`] finds;
    /// [`Error::Unsupported`](crate::Error::Unsupported) if the segment lacks
    /// [`Feature::NetworkObjects`](crate::Feature::NetworkObjects).
    pub fn network(&self, config: &NetworkConfiguration) -> Result<Network> {
        Network::with_driver(config, |mode| self.network_config_driver(mode))
    }
}

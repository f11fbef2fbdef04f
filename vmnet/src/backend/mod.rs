//! The seam between the public API and the platform.
//!
//! Everything above this module is platform-neutral. Below it, one backend per platform
//! implements [`Driver`] and the `platform` module's two functions (`start`, `capabilities`):
//!
//! | target | `platform` |
//! |---|---|
//! | Apple (cfg `vmnet_framework`) | `apple`: vmnet.framework through `vmnet-sys`, `block2` and `dispatch2` |
//! | other, built with `--cfg vmnet_standin` (cfg `vmnet_framework`) | `apple` too, linked against the stand-in framework (`cargo xtask standin`) |
//! | other, feature `sim` | the simulator's default segment |
//! | other, no `sim` | `unsupported`: starting returns [`Error::Unsupported`](crate::Error) |
//!
//! `build.rs` sets `vmnet_framework`; nothing else decides the platform. The simulator (`sim`,
//! feature `sim`) is a backend on every target; where `vmnet_framework` is set it is reached
//! through [`crate::sim::Segment`] while `Interface::start` uses vmnet.

use std::ffi::CStr;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use vmnet_sys::{interface_ref, xpc_object_t};

use crate::capabilities::Capabilities;
use crate::descs::{ReadDescs, WriteDescs};
use crate::error::Result;
use crate::events::Notifier;
use crate::forwarding::{PortForwardingKey, PortForwardingRule};
use crate::keys::Dictionary;
use crate::mac::MacAddr;
use crate::params::Parameters;

#[cfg(vmnet_framework)]
#[allow(unsafe_code)]
pub(crate) mod apple;
#[cfg(vmnet_framework)]
pub(crate) use apple as platform;

#[cfg(feature = "sim")]
pub(crate) mod sim;
#[cfg(all(not(vmnet_framework), feature = "sim"))]
pub(crate) use sim::platform;

#[cfg(all(not(vmnet_framework), not(feature = "sim")))]
pub(crate) mod unsupported;
#[cfg(all(not(vmnet_framework), not(feature = "sim")))]
pub(crate) use unsupported as platform;

/// A started interface, as a backend drives it.
///
/// Implementations are shared between a read half and a write half, so `read` and `write`
/// may run concurrently on two threads (never two reads, nor two writes: each half takes
/// `&mut self`).
pub(crate) trait Driver: Send + Sync + 'static {
    /// Reads up to `descs.len()` packets; returns how many were read (0 is normal), from the
    /// first descriptor on. Each of those then holds its packet's length in `vm_pkt_size`,
    /// within the descriptor's buffers: a backend whose platform writes the lengths checks
    /// them ([`ReadDescs::check_lengths`]).
    fn read(&self, descs: ReadDescs<'_>) -> Result<usize>;

    /// Writes the `descs.len()` packets; returns how many were accepted, from the first.
    fn write(&self, descs: WriteDescs<'_>) -> Result<usize>;

    /// Stops the interface and stops events, waiting at most `timeout` for completion.
    /// Idempotent: later calls return `Ok(())` at once.
    fn stop(&self, timeout: Duration) -> Result<()>;

    /// The vmnet handle, for backends that have one.
    fn raw(&self) -> Option<interface_ref> {
        None
    }

    /// The features this interface's system (or segment) offers.
    fn capabilities(&self) -> Capabilities;

    /// Adds a port-forwarding rule (validated by the caller), waiting for completion.
    fn add_port_forwarding_rule(&self, rule: &PortForwardingRule) -> Result<()>;

    /// Removes the rule with `key` (its family checked by the caller), waiting for completion.
    fn remove_port_forwarding_rule(&self, key: PortForwardingKey) -> Result<()>;

    /// The interface's port-forwarding rules, both families.
    fn port_forwarding_rules(&self) -> Result<Vec<PortForwardingRule>>;
}

/// The services a network configuration can turn off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Nat44,
    Nat66,
    Dhcp,
    DnsProxy,
    RouterAdvertisement,
}

/// A network configuration as a backend holds it. Inputs are validated by the caller.
pub(crate) trait NetworkConfigDriver: Send + Sync {
    fn set_external_interface(&mut self, name: &CStr) -> Result<()>;
    fn disable(&mut self, service: Service);
    fn set_ipv4_subnet(&mut self, address: Ipv4Addr, mask: Ipv4Addr) -> Result<()>;
    fn set_ipv6_prefix(&mut self, prefix: Ipv6Addr, len: u8) -> Result<()>;
    fn add_port_forwarding_rule(&mut self, rule: &PortForwardingRule) -> Result<()>;
    fn add_dhcp_reservation(&mut self, client: MacAddr, address: Ipv4Addr) -> Result<()>;
    fn set_mtu(&mut self, mtu: u32) -> Result<()>;
    fn create_network(&self) -> Result<Box<dyn NetworkDriver>>;
}

/// A network as a backend holds it.
pub(crate) trait NetworkDriver: Send + Sync {
    fn capabilities(&self) -> Capabilities;
    fn ipv4_subnet(&self) -> (Ipv4Addr, Ipv4Addr);
    fn ipv6_prefix(&self) -> (Ipv6Addr, u8);
    fn serialize(&self) -> Result<Serialization>;
    /// Starts an interface with the network-interface description `desc` (validated).
    fn start_interface(&self, desc: &Dictionary, ctx: StartContext<'_>) -> Result<Started>;
}

/// The backend-specific content of a serialized network (`NetworkSerialization`).
#[derive(Debug)]
pub(crate) enum Serialization {
    #[cfg(vmnet_framework)]
    Xpc(apple::XpcObject),
    #[cfg(feature = "sim")]
    Sim(sim::NetworkToken),
}

impl Serialization {
    pub(crate) fn as_raw(&self) -> Option<xpc_object_t> {
        // Dereferenced, so the match is also valid where the enum has no variant.
        match *self {
            #[cfg(vmnet_framework)]
            Serialization::Xpc(ref x) => Some(x.as_ptr()),
            #[cfg(feature = "sim")]
            Serialization::Sim(_) => None,
        }
    }
}

/// Recreates a network from its serialization, on the backend that made it.
pub(crate) fn network_from_serialization(
    serialization: &Serialization,
) -> Result<Box<dyn NetworkDriver>> {
    match *serialization {
        #[cfg(vmnet_framework)]
        Serialization::Xpc(ref object) => apple::network_from_serialization(object),
        #[cfg(feature = "sim")]
        Serialization::Sim(ref token) => sim::network_from_token(token),
    }
}

/// What a backend's `start` returns.
pub(crate) struct Started {
    pub(crate) driver: Box<dyn Driver>,
    pub(crate) params: Parameters,
}

/// What every backend's `start` receives besides the configuration.
pub(crate) struct StartContext<'a> {
    /// Only the Apple backend has timeouts and queues to honour at start.
    #[cfg_attr(not(vmnet_framework), allow(dead_code))]
    pub(crate) options: &'a crate::options::StartOptions,
    /// Where packet-arrival events go.
    #[cfg_attr(all(not(vmnet_framework), not(feature = "sim")), allow(dead_code))]
    pub(crate) notifier: Arc<Notifier>,
}

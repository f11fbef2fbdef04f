//! Simulated networks: each is a segment of its own, described by a configuration that is
//! stored (the simulator runs no DHCP, NAT or forwarding: it keeps what vmnet would enforce).

use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use super::segment::Segment;
use crate::backend::{
    NetworkConfigDriver, NetworkDriver, Serialization, Service, StartContext, Started,
};
use crate::capabilities::{Capabilities, Feature};
use crate::config::InterfaceConfig;
use crate::error::{Error, Operation, Result, Status};
use crate::forwarding::PortForwardingRule;
use crate::keys::{Dictionary, Key, Value};
use crate::mac::MacAddr;
use crate::mode::Mode;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Simulated network objects (configurations, networks, serializations) alive now: each
/// counts as one until dropped, as a retain count would. Tests use it to find leaks.
pub fn live_network_objects() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// One live simulated object; dropping it is the release.
#[derive(Debug)]
struct Live;

impl Live {
    fn new() -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a simulated configuration holds.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    pub(crate) external_interface: Option<String>,
    pub(crate) disabled: Vec<Service>,
    pub(crate) subnet: (Ipv4Addr, Ipv4Addr),
    pub(crate) ipv6_prefix: (Ipv6Addr, u8),
    pub(crate) rules: Vec<PortForwardingRule>,
    pub(crate) reservations: Vec<(MacAddr, Ipv4Addr)>,
    pub(crate) mtu: u32,
}

#[derive(Debug)]
pub(crate) struct SimNetworkConfig {
    capabilities: Capabilities,
    pub(crate) settings: Settings,
    _live: Live,
}

impl SimNetworkConfig {
    pub(super) fn new(capabilities: Capabilities, mode: Mode) -> Result<Self> {
        capabilities.require(Feature::NetworkObjects)?;
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            capabilities,
            settings: Settings {
                mode,
                external_interface: None,
                disabled: Vec::new(),
                // vmnet's default: a /24 in 192.168.0.0/16.
                subnet: (
                    Ipv4Addr::new(192, 168, 128 + (n % 100) as u8, 0),
                    Ipv4Addr::new(255, 255, 255, 0),
                ),
                ipv6_prefix: (
                    Ipv6Addr::new(0xfd76, 0x6d6e, 0x6574, n as u16, 0, 0, 0, 0),
                    64,
                ),
                rules: Vec::new(),
                reservations: Vec::new(),
                mtu: 1500,
            },
            _live: Live::new(),
        })
    }
}

fn refused(operation: Operation) -> Error {
    Error::vmnet(operation, Status::InvalidArgument)
}

impl NetworkConfigDriver for SimNetworkConfig {
    fn set_external_interface(&mut self, name: &CStr) -> Result<()> {
        self.settings.external_interface = Some(name.to_string_lossy().into_owned());
        Ok(())
    }

    fn disable(&mut self, service: Service) {
        if !self.settings.disabled.contains(&service) {
            self.settings.disabled.push(service);
        }
    }

    fn set_ipv4_subnet(&mut self, address: Ipv4Addr, mask: Ipv4Addr) -> Result<()> {
        let network = u32::from(address) & u32::from(mask);
        self.settings.subnet = (Ipv4Addr::from(network), mask);
        Ok(())
    }

    fn set_ipv6_prefix(&mut self, prefix: Ipv6Addr, len: u8) -> Result<()> {
        self.settings.ipv6_prefix = (prefix, len);
        Ok(())
    }

    fn add_port_forwarding_rule(&mut self, rule: &PortForwardingRule) -> Result<()> {
        let clash = self.settings.rules.iter().any(|r| r.key() == rule.key());
        if clash {
            return Err(refused(Operation::ConfigureNetwork));
        }
        self.settings.rules.push(*rule);
        Ok(())
    }

    fn add_dhcp_reservation(&mut self, client: MacAddr, address: Ipv4Addr) -> Result<()> {
        if self
            .settings
            .reservations
            .iter()
            .any(|(c, a)| *c == client || *a == address)
        {
            return Err(refused(Operation::ConfigureNetwork));
        }
        self.settings.reservations.push((client, address));
        Ok(())
    }

    fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        self.settings.mtu = mtu;
        Ok(())
    }

    fn create_network(&self) -> Result<Box<dyn NetworkDriver>> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(NetworkState {
            id,
            settings: self.settings.clone(),
            segment: Segment::builder().capabilities(self.capabilities).build(),
            _live: Live::new(),
        });
        registry().insert(id, Arc::downgrade(&state));
        Ok(Box::new(SimNetwork {
            state,
            _live: Live::new(),
        }))
    }
}

/// A created network, shared by every handle to it (and found again through its token).
#[derive(Debug)]
struct NetworkState {
    id: u64,
    settings: Settings,
    segment: Segment,
    _live: Live,
}

impl Drop for NetworkState {
    fn drop(&mut self) {
        registry().remove(&self.id);
    }
}

fn registry() -> std::sync::MutexGuard<'static, HashMap<u64, Weak<NetworkState>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<u64, Weak<NetworkState>>>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A handle to a simulated network.
#[derive(Debug)]
struct SimNetwork {
    state: Arc<NetworkState>,
    _live: Live,
}

/// The simulator's serialization of a network: its id, valid in this process while the
/// network lives.
#[derive(Debug)]
pub(crate) struct NetworkToken {
    id: u64,
    _live: Live,
}

pub(crate) fn network_from_token(token: &NetworkToken) -> Result<Box<dyn NetworkDriver>> {
    let state = registry().get(&token.id).and_then(Weak::upgrade);
    match state {
        Some(state) => Ok(Box::new(SimNetwork {
            state,
            _live: Live::new(),
        })),
        // vmnet's answer for a serialization of a network that no longer exists.
        None => Err(refused(Operation::CreateNetwork)),
    }
}

impl NetworkDriver for SimNetwork {
    fn capabilities(&self) -> Capabilities {
        self.state.segment.capabilities()
    }

    fn ipv4_subnet(&self) -> (Ipv4Addr, Ipv4Addr) {
        self.state.settings.subnet
    }

    fn ipv6_prefix(&self) -> (Ipv6Addr, u8) {
        self.state.settings.ipv6_prefix
    }

    fn serialize(&self) -> Result<Serialization> {
        Ok(Serialization::Sim(NetworkToken {
            id: self.state.id,
            _live: Live::new(),
        }))
    }

    fn start_interface(&self, desc: &Dictionary, ctx: StartContext<'_>) -> Result<Started> {
        let s = &self.state.settings;
        let (network, mask) = (u32::from(s.subnet.0), u32::from(s.subnet.1));
        let mut config = match s.mode {
            Mode::Host => InterfaceConfig::host(),
            _ => InterfaceConfig::shared().with_nat66_prefix(s.ipv6_prefix.0),
        }
        .with_address_range(
            Ipv4Addr::from(network + 1),
            Ipv4Addr::from((network | !mask) - 1),
            s.subnet.1,
        )
        .with_mtu(s.mtu);
        for (key, value) in desc.iter() {
            let on = *value == Value::Bool(true);
            config = match key {
                Key::AllocateMacAddress => config.with_allocate_mac_address(on),
                Key::EnableTso => config.with_tso(on),
                Key::EnableIsolation => config.with_isolation(on),
                Key::EnableChecksumOffload => config.with_checksum_offload(on),
                _ => config,
            };
        }
        self.state.segment.start_driver(&config, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_store_what_was_set() {
        let mut cfg = SimNetworkConfig::new(Capabilities::ALL, Mode::Shared).unwrap();
        cfg.set_external_interface(c"en7").unwrap();
        cfg.disable(Service::Dhcp);
        cfg.disable(Service::Dhcp);
        cfg.disable(Service::Nat66);
        cfg.set_ipv4_subnet(Ipv4Addr::new(10, 9, 8, 1), Ipv4Addr::new(255, 255, 252, 0))
            .unwrap();
        cfg.set_mtu(9000).unwrap();
        let client: MacAddr = "02:00:00:00:00:42".parse().unwrap();
        cfg.add_dhcp_reservation(client, Ipv4Addr::new(10, 9, 9, 9))
            .unwrap();
        let s = &cfg.settings;
        assert_eq!(s.external_interface.as_deref(), Some("en7"));
        assert_eq!(s.disabled, [Service::Dhcp, Service::Nat66]);
        assert_eq!(s.subnet.0, Ipv4Addr::new(10, 9, 8, 0));
        assert_eq!(s.mtu, 9000);
        assert_eq!(s.reservations, [(client, Ipv4Addr::new(10, 9, 9, 9))]);
        // vmnet refuses a second reservation for the same client or address.
        assert!(matches!(
            cfg.add_dhcp_reservation(client, Ipv4Addr::new(10, 9, 9, 10)),
            Err(Error::Vmnet { .. })
        ));
    }

    #[test]
    fn networks_need_the_capability() {
        assert!(matches!(
            SimNetworkConfig::new(Capabilities::BASELINE, Mode::Host),
            Err(Error::Unsupported {
                since: "macOS 26.0",
                ..
            })
        ));
    }
}

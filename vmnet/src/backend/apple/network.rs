//! Network objects (macOS 26), all resolved at run time.
//!
//! Ownership: `vmnet_network_configuration_create`, `vmnet_network_create` and
//! `vmnet_network_create_with_serialization` return +1 CoreFoundation-style references,
//! owned by [`CfOwned`] and released with `CFRelease` when it drops (on every path, error
//! paths included). `vmnet_network_copy_serialization` returns a +1 XPC object, owned by
//! [`XpcObject`]. Starting an interface on a network retains the network for the interface's
//! lifetime (vmnet's documented behaviour), so dropping our handle early is sound.

use std::ffi::{CStr, c_void};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ptr::NonNull;

use vmnet_sys as sys;

use super::addr::{from_in_addr, in_addr, in6_addr, in6_bytes};
use super::forwarding::RawAddress;
use super::xpc::XpcObject;
use crate::backend::{
    NetworkConfigDriver, NetworkDriver, Serialization, Service, StartContext, Started,
};
use crate::capabilities::{Capabilities, Feature};
use crate::error::{Error, Operation, Result};
use crate::forwarding::PortForwardingRule;
use crate::keys::Dictionary;
use crate::mac::MacAddr;
use crate::mode::Mode;

/// The function `$name` of the network-object API, or `Unsupported` before macOS 26.
macro_rules! late {
    ($name:ident) => {
        sys::weak::$name().ok_or_else(|| Feature::NetworkObjects.unsupported())?
    };
}

/// An owned (+1) reference to a vmnet network object, released with `CFRelease`.
#[derive(Debug)]
struct CfOwned<T>(NonNull<T>);

// SAFETY: vmnet's network objects are CoreFoundation-style objects whose reference counting
// is thread-safe. A configuration is only mutated through `&mut self` (one thread at a time);
// a network is immutable after creation and its functions only read it.
unsafe impl<T> Send for CfOwned<T> {}
// SAFETY: as above: no `&self` method mutates the object.
unsafe impl<T> Sync for CfOwned<T> {}

impl<T> CfOwned<T> {
    /// Takes a +1 reference returned with `status`. A failure status wins over a non-NULL
    /// pointer (which is then released).
    ///
    /// # Safety
    /// `ptr` is NULL or a +1 reference the caller owns.
    unsafe fn new(ptr: *mut T, status: sys::vmnet_return_t, operation: Operation) -> Result<Self> {
        Error::check_returned(operation, status, NonNull::new(ptr).map(Self))
    }

    fn as_ptr(&self) -> *mut T {
        self.0.as_ptr()
    }
}

impl<T> Drop for CfOwned<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference to a live object.
        unsafe { sys::CFRelease(self.0.as_ptr().cast::<c_void>().cast_const()) }
    }
}

fn check(status: sys::vmnet_return_t) -> Result<()> {
    Error::check(Operation::ConfigureNetwork, status)
}

pub(crate) fn network_configuration(mode: Mode) -> Result<Box<dyn NetworkConfigDriver>> {
    let create = late!(vmnet_network_configuration_create);
    let mut status = sys::VMNET_SUCCESS;
    // SAFETY: a valid mode value and a valid status pointer; the result is +1 or NULL.
    let ptr = unsafe { create(mode.raw(), &mut status) };
    // SAFETY: `ptr` is NULL or a +1 reference we now own.
    let cfg = unsafe { CfOwned::new(ptr, status, Operation::CreateNetworkConfiguration) }?;
    Ok(Box::new(AppleNetworkConfig { cfg }))
}

struct AppleNetworkConfig {
    cfg: CfOwned<sys::vmnet_network_configuration>,
}

impl NetworkConfigDriver for AppleNetworkConfig {
    fn set_external_interface(&mut self, name: &CStr) -> Result<()> {
        let set = late!(vmnet_network_configuration_set_external_interface);
        // SAFETY: live configuration (owned); NUL-terminated name valid for the call.
        check(unsafe { set(self.cfg.as_ptr(), name.as_ptr()) })
    }

    fn disable(&mut self, service: Service) {
        let f = match service {
            Service::Nat44 => sys::weak::vmnet_network_configuration_disable_nat44(),
            Service::Nat66 => sys::weak::vmnet_network_configuration_disable_nat66(),
            Service::Dhcp => sys::weak::vmnet_network_configuration_disable_dhcp(),
            Service::DnsProxy => sys::weak::vmnet_network_configuration_disable_dns_proxy(),
            Service::RouterAdvertisement => {
                sys::weak::vmnet_network_configuration_disable_router_advertisement()
            }
        };
        // A configuration exists only where these functions do (macOS 26).
        if let Some(f) = f {
            // SAFETY: live configuration, owned and borrowed mutably.
            unsafe { f(self.cfg.as_ptr()) }
        }
    }

    fn set_ipv4_subnet(&mut self, address: Ipv4Addr, mask: Ipv4Addr) -> Result<()> {
        let set = late!(vmnet_network_configuration_set_ipv4_subnet);
        let (a, m) = (in_addr(address), in_addr(mask));
        // SAFETY: live configuration; both pointers point at locals valid for the call.
        check(unsafe { set(self.cfg.as_ptr(), &a, &m) })
    }

    fn set_ipv6_prefix(&mut self, prefix: Ipv6Addr, len: u8) -> Result<()> {
        let set = late!(vmnet_network_configuration_set_ipv6_prefix);
        let p = in6_addr(prefix);
        // SAFETY: live configuration; the prefix points at a local valid for the call.
        check(unsafe { set(self.cfg.as_ptr(), &p, len) })
    }

    fn add_port_forwarding_rule(&mut self, rule: &PortForwardingRule) -> Result<()> {
        let add = late!(vmnet_network_configuration_add_port_forwarding_rule);
        let internal = RawAddress::new(rule.internal.ip());
        let address = internal.as_ptr();
        // SAFETY: live configuration; `address` points at an in_addr or in6_addr that matches
        // the family passed (both from one SocketAddr) and lives for the call. Note the
        // argument order of this function: internal port BEFORE external port.
        check(unsafe {
            add(
                self.cfg.as_ptr(),
                rule.protocol.number(),
                rule.family().raw(),
                rule.internal.port(),
                rule.external_port,
                address,
            )
        })
    }

    fn add_dhcp_reservation(&mut self, client: MacAddr, address: Ipv4Addr) -> Result<()> {
        let add = late!(vmnet_network_configuration_add_dhcp_reservation);
        let mac = sys::ether_addr_t {
            octet: client.octets(),
        };
        let ip = in_addr(address);
        // SAFETY: live configuration; both pointers point at locals valid for the call.
        check(unsafe { add(self.cfg.as_ptr(), &mac, &ip) })
    }

    fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        let set = late!(vmnet_network_configuration_set_mtu);
        // SAFETY: live configuration; plain value.
        check(unsafe { set(self.cfg.as_ptr(), mtu) })
    }

    fn create_network(&self) -> Result<Box<dyn NetworkDriver>> {
        let create = late!(vmnet_network_create);
        let mut status = sys::VMNET_SUCCESS;
        // SAFETY: live configuration (not consumed by the call); valid status pointer.
        let ptr = unsafe { create(self.cfg.as_ptr(), &mut status) };
        // SAFETY: `ptr` is NULL or a +1 reference we now own.
        let net = unsafe { CfOwned::new(ptr, status, Operation::CreateNetwork) }?;
        Ok(Box::new(AppleNetwork { net }))
    }
}

impl Serialization {
    /// A serialization received from elsewhere (`NetworkSerialization::from_raw`), retained.
    ///
    /// # Safety
    /// `object` is a live XPC object.
    pub(crate) unsafe fn retain_xpc(object: sys::xpc_object_t) -> Option<Self> {
        // SAFETY: the caller guarantees a live object.
        unsafe { XpcObject::retain(object) }.map(Serialization::Xpc)
    }
}

pub(crate) fn network_from_serialization(object: &XpcObject) -> Result<Box<dyn NetworkDriver>> {
    let create = late!(vmnet_network_create_with_serialization);
    let mut status = sys::VMNET_SUCCESS;
    // SAFETY: a live XPC object (owned by the serialization); valid status pointer.
    let ptr = unsafe { create(object.as_ptr(), &mut status) };
    // SAFETY: `ptr` is NULL or a +1 reference we now own.
    let net = unsafe { CfOwned::new(ptr, status, Operation::CreateNetwork) }?;
    Ok(Box::new(AppleNetwork { net }))
}

struct AppleNetwork {
    net: CfOwned<sys::vmnet_network>,
}

impl NetworkDriver for AppleNetwork {
    fn capabilities(&self) -> Capabilities {
        super::capabilities()
    }

    fn ipv4_subnet(&self) -> (Ipv4Addr, Ipv4Addr) {
        let (mut a, mut m) = (
            in_addr(Ipv4Addr::UNSPECIFIED),
            in_addr(Ipv4Addr::UNSPECIFIED),
        );
        // A network exists only where the function does; otherwise report zeros.
        if let Some(get) = sys::weak::vmnet_network_get_ipv4_subnet() {
            // SAFETY: live network; out-pointers to locals.
            unsafe { get(self.net.as_ptr(), &mut a, &mut m) }
        }
        (from_in_addr(a), from_in_addr(m))
    }

    fn ipv6_prefix(&self) -> (Ipv6Addr, u8) {
        let mut p = in6_addr(Ipv6Addr::UNSPECIFIED);
        let mut len = 0u8;
        if let Some(get) = sys::weak::vmnet_network_get_ipv6_prefix() {
            // SAFETY: live network; out-pointers to locals.
            unsafe { get(self.net.as_ptr(), &mut p, &mut len) }
        }
        (Ipv6Addr::from(in6_bytes(&p)), len)
    }

    fn serialize(&self) -> Result<Serialization> {
        let copy = late!(vmnet_network_copy_serialization);
        let mut status = sys::VMNET_SUCCESS;
        // SAFETY: live network; valid status pointer; the result is +1 or NULL.
        let object = unsafe { copy(self.net.as_ptr(), &mut status) };
        // SAFETY: `object` is NULL or a +1 XPC object we now own (released on every path).
        let object = unsafe { XpcObject::from_owned(object) };
        let object = Error::check_returned(Operation::SerializeNetwork, status, object)?;
        Ok(Serialization::Xpc(object))
    }

    fn start_interface(&self, desc: &Dictionary, ctx: StartContext<'_>) -> Result<Started> {
        let start = late!(vmnet_interface_start_with_network);
        let net = self.net.as_ptr();
        super::start_with(desc, ctx, super::capabilities(), |desc, queue, handler| {
            // SAFETY: live network (vmnet retains it for the interface); start_with passes a
            // live description, a live serial queue and a start completion block.
            unsafe { start(net, desc, queue, super::block::start_handler(handler)) }
        })
    }
}

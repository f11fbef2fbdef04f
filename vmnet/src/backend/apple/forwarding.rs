//! Port forwarding on a running interface: the IPv4+IPv6 calls of macOS 12 (resolved at run
//! time), else the IPv4-only calls of macOS 10.15.
//!
//! Every call schedules a completion block on the interface's control queue and waits for it
//! with a bound. Addresses passed by pointer are moved into the block, so they outlive any
//! use vmnet could make of them.

use std::ffi::c_void;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use block2::RcBlock;
use vmnet_sys as sys;

use super::addr::{from_in_addr, in_addr, in6_addr, in6_bytes};
use super::completion::{Completion, wait_status};
use crate::capabilities::{Capabilities, Feature};
use crate::error::{Error, Operation, Result, Status};
use crate::forwarding::{IpFamily, PortForwardingRule, Protocol};

/// An internal address as vmnet takes it (`in_addr` or `in6_addr`, by pointer).
pub(super) enum RawAddress {
    V4(sys::in_addr),
    V6(sys::in6_addr),
}

impl RawAddress {
    pub(super) fn new(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(ip) => RawAddress::V4(in_addr(ip)),
            IpAddr::V6(ip) => RawAddress::V6(in6_addr(ip)),
        }
    }

    /// The address as vmnet's `const void *` argument: valid while `self` is not moved.
    pub(super) fn as_ptr(&self) -> *const c_void {
        match self {
            RawAddress::V4(a) => (a as *const sys::in_addr).cast(),
            RawAddress::V6(a) => (a as *const sys::in6_addr).cast(),
        }
    }
}

pub(super) fn add(
    iface: sys::interface_ref,
    caps: Capabilities,
    rule: &PortForwardingRule,
    timeout: Duration,
) -> Result<()> {
    let (protocol, external) = (rule.protocol.number(), rule.external_port);
    let internal_port = rule.internal.port();
    // Boxed so that its address stays put while the block that owns it moves.
    let address = Box::new(RawAddress::new(rule.internal.ip()));
    let addr_ptr = address.as_ptr();
    let family = rule.family();
    if caps.has(Feature::IpPortForwarding) {
        let add = sys::weak::vmnet_interface_add_ip_port_forwarding_rule()
            .ok_or_else(|| Feature::IpPortForwarding.unsupported())?;
        wait_status(
            Operation::AddPortForwardingRule,
            timeout,
            |block| {
                // SAFETY: live handle (checked by the driver); `addr_ptr` points at an
                // in_addr/in6_addr matching `family` (both from one SocketAddr), kept alive by
                // the completion block; the block has the completion handler's parameters.
                unsafe {
                    add(
                        iface,
                        protocol,
                        external,
                        family.raw(),
                        addr_ptr,
                        internal_port,
                        block,
                    )
                }
            },
            address,
        )
    } else {
        let SocketAddr::V4(v4) = rule.internal else {
            return Err(Feature::IpPortForwarding.unsupported());
        };
        wait_status(
            Operation::AddPortForwardingRule,
            timeout,
            |block| {
                // SAFETY: live handle; the IPv4 address is passed by value; the block has the
                // completion handler's parameters.
                unsafe {
                    sys::vmnet_interface_add_port_forwarding_rule(
                        iface,
                        protocol,
                        external,
                        in_addr(*v4.ip()),
                        internal_port,
                        block,
                    )
                }
            },
            (),
        )
    }
}

pub(super) fn remove(
    iface: sys::interface_ref,
    caps: Capabilities,
    (protocol, external, family): (Protocol, u16, IpFamily),
    timeout: Duration,
) -> Result<()> {
    let protocol = protocol.number();
    if caps.has(Feature::IpPortForwarding) {
        let remove = sys::weak::vmnet_interface_remove_ip_port_forwarding_rule()
            .ok_or_else(|| Feature::IpPortForwarding.unsupported())?;
        wait_status(
            Operation::RemovePortForwardingRule,
            timeout,
            |block| {
                // SAFETY: live handle; plain values; the block has the completion handler's
                // parameters.
                unsafe { remove(iface, protocol, external, family.raw(), block) }
            },
            (),
        )
    } else if family == IpFamily::V4 {
        wait_status(
            Operation::RemovePortForwardingRule,
            timeout,
            |block| {
                // SAFETY: as above.
                unsafe {
                    sys::vmnet_interface_remove_port_forwarding_rule(
                        iface, protocol, external, block,
                    )
                }
            },
            (),
        )
    } else {
        Err(Feature::IpPortForwarding.unsupported())
    }
}

type Parsed = std::result::Result<Vec<PortForwardingRule>, Status>;

/// Runs a get-rules call and parses the XPC array its handler receives with `parse` (which
/// is called inside the handler, while the array is alive).
fn collect(
    timeout: Duration,
    schedule: impl FnOnce(*mut c_void) -> sys::vmnet_return_t,
    parse: impl Fn(sys::xpc_object_t) -> std::result::Result<PortForwardingRule, Status> + 'static,
) -> Result<Vec<PortForwardingRule>> {
    let operation = Operation::ListPortForwardingRules;
    let done: Arc<Completion<Parsed>> = Completion::new();
    let block = {
        let done = done.clone();
        RcBlock::new(move |rules: sys::xpc_object_t| {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: vmnet passes the rules array (or NULL for none) borrowed for the
                // duration of the block; elements are borrowed from it.
                let parsed = unsafe {
                    if !rules.is_null() && sys::xpc_get_type(rules) == sys::xpc_type_array() {
                        (0..sys::xpc_array_get_count(rules))
                            .map(|i| parse(sys::xpc_array_get_value(rules, i)))
                            .collect()
                    } else {
                        Ok(Vec::new())
                    }
                };
                done.complete(parsed);
            }));
        })
    };
    let scheduled = schedule(RcBlock::as_ptr(&block).cast());
    drop(block);
    Error::check(operation, scheduled)?;
    done.wait_for(operation, timeout)?
        .map_err(|status| Error::vmnet(operation, status))
}

fn rule(
    protocol: u8,
    external: u16,
    ip: IpAddr,
    internal_port: u16,
) -> std::result::Result<PortForwardingRule, Status> {
    let protocol = Protocol::from_number(protocol).ok_or(Status::Unknown(u32::from(protocol)))?;
    Ok(PortForwardingRule::new(
        protocol,
        external,
        SocketAddr::new(ip, internal_port),
    ))
}

pub(super) fn list(
    iface: sys::interface_ref,
    caps: Capabilities,
    timeout: Duration,
) -> Result<Vec<PortForwardingRule>> {
    if !caps.has(Feature::IpPortForwarding) {
        return collect(
            timeout,
            |block| {
                // SAFETY: live handle; the block has the rules handler's parameters.
                unsafe { sys::vmnet_interface_get_port_forwarding_rules(iface, block) }
            },
            |xrule| {
                let (mut protocol, mut external, mut port) = (0u8, 0u16, 0u16);
                let mut address = in_addr(Ipv4Addr::UNSPECIFIED);
                // SAFETY: `xrule` is a live element of the rules array; every out-pointer
                // points at a local of the declared type.
                let status = unsafe {
                    sys::vmnet_port_forwarding_rule_get_details(
                        xrule,
                        &mut protocol,
                        &mut external,
                        &mut address,
                        &mut port,
                    )
                };
                Status::check(status)?;
                rule(protocol, external, IpAddr::V4(from_in_addr(address)), port)
            },
        );
    }
    let get = sys::weak::vmnet_interface_get_ip_port_forwarding_rules()
        .ok_or_else(|| Feature::IpPortForwarding.unsupported())?;
    let details = sys::weak::vmnet_ip_port_forwarding_rule_get_details()
        .ok_or_else(|| Feature::IpPortForwarding.unsupported())?;
    let mut all = Vec::new();
    for family in [IpFamily::V4, IpFamily::V6] {
        let raw_family = family.raw();
        all.extend(collect(
            timeout,
            |block| {
                // SAFETY: live handle; the block has the ip rules handler's parameters.
                unsafe { get(iface, raw_family, block) }
            },
            move |xrule| {
                let (mut protocol, mut external, mut port) = (0u8, 0u16, 0u16);
                // Room for either family; the family argument says which is written.
                let mut address = sys::in6_addr::default();
                // SAFETY: `xrule` is a live element of the rules array; the address buffer is
                // an in6_addr (16 bytes), large enough for an in_addr too; the other
                // out-pointers point at locals of the declared types.
                let status = unsafe {
                    details(
                        xrule,
                        &mut protocol,
                        &mut external,
                        raw_family,
                        (&raw mut address).cast(),
                        &mut port,
                    )
                };
                Status::check(status)?;
                let bytes = in6_bytes(&address);
                let ip = match family {
                    IpFamily::V4 => {
                        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
                    }
                    _ => IpAddr::V6(Ipv6Addr::from(bytes)),
                };
                rule(protocol, external, ip, port)
            },
        )?);
    }
    Ok(all)
}

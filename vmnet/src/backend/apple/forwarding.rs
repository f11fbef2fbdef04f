//! Port forwarding on a running interface: the IPv4+IPv6 calls of macOS 12 (resolved at run
//! time), else the IPv4-only calls of macOS 10.15.
//!
//! Every call schedules a completion block on the interface's control queue and waits for it
//! with a bound. Addresses passed by pointer are moved into the block, so they outlive any
//! use vmnet could make of them.
//!
//! # Listing
//! The rules are listed with one call per family (IPv4, then IPv6; IPv4 only before macOS
//! 12), and each rule's details are read from the array vmnet hands the handler. What cannot
//! be read does not cost what could:
//!
//! - a rule whose details vmnet refuses, or whose protocol is neither TCP nor UDP, is
//!   **skipped** (counted as unreadable);
//! - a listing call that fails (or times out) for one family does not discard the rules of
//!   the other;
//! - an error is returned only when **nothing** could be read: the first listing failure
//!   if a listing failed, else [`Error::UnreadableRules`] if vmnet listed rules and none of
//!   them could be read.

use std::ffi::c_void;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use vmnet_sys as sys;

use super::addr::{from_in_addr, in_addr, in6_addr, in6_bytes};
use super::block::{self, RulesHandler};
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
                        block::completion_handler(block),
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
                        block::completion_handler(block),
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
                unsafe {
                    remove(
                        iface,
                        protocol,
                        external,
                        family.raw(),
                        block::completion_handler(block),
                    )
                }
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
                        iface,
                        protocol,
                        external,
                        block::completion_handler(block),
                    )
                }
            },
            (),
        )
    } else {
        Err(Feature::IpPortForwarding.unsupported())
    }
}

/// Why one listed rule could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unreadable {
    /// vmnet refused its details with this status.
    Details(Status),
    /// Its protocol number is neither TCP (6) nor UDP (17).
    Protocol(u8),
}

/// What one listing call gave: the rules read, and how many listed rules could not be.
#[derive(Debug, Default, PartialEq, Eq)]
struct Listed {
    rules: Vec<PortForwardingRule>,
    unreadable: usize,
}

impl Listed {
    /// Sorts the outcome of reading each listed rule.
    fn from_outcomes(
        outcomes: impl IntoIterator<Item = std::result::Result<PortForwardingRule, Unreadable>>,
    ) -> Self {
        let mut listed = Listed::default();
        for outcome in outcomes {
            match outcome {
                Ok(rule) => listed.rules.push(rule),
                Err(_) => listed.unreadable += 1,
            }
        }
        listed
    }
}

/// Runs a get-rules call and reads each element of the XPC array its handler receives with
/// `parse` (called inside the handler, while the array is alive, on vmnet's queue).
fn collect(
    timeout: Duration,
    schedule: impl FnOnce(&RulesHandler) -> sys::vmnet_return_t,
    parse: impl Fn(sys::xpc_object_t) -> std::result::Result<PortForwardingRule, Unreadable>
    + Send
    + Sync
    + 'static,
) -> Result<Listed> {
    let operation = Operation::ListPortForwardingRules;
    let done: Arc<Completion<Listed>> = Completion::new();
    let block = {
        let done = done.clone();
        block::guarded(move |(rules,): (sys::xpc_object_t,)| {
            // SAFETY: vmnet passes the rules array (or NULL for none) borrowed for the
            // duration of the block; its type is checked before it is read as an array, and
            // elements (index < count) are borrowed from it.
            let listed = unsafe {
                if !rules.is_null() && sys::xpc_get_type(rules) == sys::xpc_type_array() {
                    Listed::from_outcomes(
                        (0..sys::xpc_array_get_count(rules))
                            .map(|i| parse(sys::xpc_array_get_value(rules, i))),
                    )
                } else {
                    Listed::default()
                }
            };
            done.complete(listed);
        })
    };
    let scheduled = schedule(&block);
    drop(block);
    Error::check(operation, scheduled)?;
    done.wait_for(operation, timeout)
}

/// The rule of the details vmnet gave: `Unreadable::Protocol` for a protocol this crate does
/// not know (not a vmnet status: the protocol number is no status code).
fn rule(
    protocol: u8,
    external: u16,
    ip: IpAddr,
    internal_port: u16,
) -> std::result::Result<PortForwardingRule, Unreadable> {
    let known = Protocol::from_number(protocol).ok_or(Unreadable::Protocol(protocol))?;
    Ok(PortForwardingRule::new(
        known,
        external,
        SocketAddr::new(ip, internal_port),
    ))
}

/// `Ok(())` if vmnet gave a rule's details.
fn details_read(status: sys::vmnet_return_t) -> std::result::Result<(), Unreadable> {
    Status::check(status).map_err(Unreadable::Details)
}

/// The interface's rules from the listings of each family (see the module's documentation):
/// the rules read, unless nothing could be read.
fn merge(listings: impl IntoIterator<Item = Result<Listed>>) -> Result<Vec<PortForwardingRule>> {
    let mut rules = Vec::new();
    let mut unreadable = 0;
    let mut failure = None;
    for listing in listings {
        match listing {
            Ok(listed) => {
                rules.extend(listed.rules);
                unreadable += listed.unreadable;
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if !rules.is_empty() {
        return Ok(rules);
    }
    match failure {
        Some(e) => Err(e),
        None if unreadable > 0 => Err(Error::UnreadableRules { count: unreadable }),
        None => Ok(rules),
    }
}

pub(super) fn list(
    iface: sys::interface_ref,
    caps: Capabilities,
    timeout: Duration,
) -> Result<Vec<PortForwardingRule>> {
    if !caps.has(Feature::IpPortForwarding) {
        let v4 = collect(
            timeout,
            |block| {
                // SAFETY: live handle; the block has the rules handler's parameters.
                unsafe {
                    sys::vmnet_interface_get_port_forwarding_rules(
                        iface,
                        block::rules_handler(block),
                    )
                }
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
                details_read(status)?;
                rule(protocol, external, IpAddr::V4(from_in_addr(address)), port)
            },
        );
        return merge([v4]);
    }
    let get = sys::weak::vmnet_interface_get_ip_port_forwarding_rules()
        .ok_or_else(|| Feature::IpPortForwarding.unsupported())?;
    let details = sys::weak::vmnet_ip_port_forwarding_rule_get_details()
        .ok_or_else(|| Feature::IpPortForwarding.unsupported())?;
    let listings = [IpFamily::V4, IpFamily::V6].map(|family| {
        let raw_family = family.raw();
        collect(
            timeout,
            |block| {
                // SAFETY: live handle; the block has the ip rules handler's parameters.
                unsafe { get(iface, raw_family, block::rules_handler(block)) }
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
                details_read(status)?;
                let bytes = in6_bytes(&address);
                let ip = match family {
                    IpFamily::V4 => {
                        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
                    }
                    _ => IpAddr::V6(Ipv6Addr::from(bytes)),
                };
                rule(protocol, external, ip, port)
            },
        )
    });
    merge(listings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> PortForwardingRule {
        PortForwardingRule::new(
            Protocol::Tcp,
            port,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 105, 2)), 22),
        )
    }

    fn failed() -> Error {
        Error::vmnet(Operation::ListPortForwardingRules, Status::Failure)
    }

    #[test]
    fn an_unknown_protocol_is_unreadable_not_a_vmnet_status() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(rule(1, 80, ip, 80), Err(Unreadable::Protocol(1)));
        assert_eq!(rule(132, 80, ip, 80), Err(Unreadable::Protocol(132)));
        assert_eq!(
            rule(6, 80, ip, 8080),
            Ok(PortForwardingRule::new(
                Protocol::Tcp,
                80,
                SocketAddr::new(ip, 8080)
            ))
        );
        assert_eq!(
            details_read(sys::VMNET_INVALID_ARGUMENT),
            Err(Unreadable::Details(Status::InvalidArgument))
        );
        assert_eq!(details_read(sys::VMNET_SUCCESS), Ok(()));
    }

    #[test]
    fn unreadable_rules_are_skipped_and_counted() {
        let listed = Listed::from_outcomes([
            Ok(tcp(1)),
            Err(Unreadable::Protocol(1)),
            Ok(tcp(2)),
            Err(Unreadable::Details(Status::InvalidArgument)),
        ]);
        assert_eq!(listed.rules, [tcp(1), tcp(2)]);
        assert_eq!(listed.unreadable, 2);
    }

    #[test]
    fn rules_read_survive_a_failed_listing_and_unreadable_rules() {
        let v4 = Listed {
            rules: vec![tcp(1)],
            unreadable: 1,
        };
        assert_eq!(merge([Ok(v4), Err(failed())]).unwrap(), [tcp(1)]);
        let v6 = Listed {
            rules: vec![tcp(2)],
            unreadable: 0,
        };
        assert_eq!(merge([Err(failed()), Ok(v6)]).unwrap(), [tcp(2)]);
    }

    #[test]
    fn nothing_read_is_an_error_only_when_something_went_wrong() {
        assert!(
            merge([Ok(Listed::default()), Ok(Listed::default())])
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            merge([Ok(Listed::default()), Err(failed())]),
            Err(Error::Vmnet {
                status: Status::Failure,
                ..
            })
        ));
        let unreadable = Listed {
            rules: Vec::new(),
            unreadable: 3,
        };
        assert!(matches!(
            merge([Ok(unreadable), Ok(Listed::default())]),
            Err(Error::UnreadableRules { count: 3 })
        ));
        let timed_out = Error::Timeout {
            operation: Operation::ListPortForwardingRules,
            waited: Duration::from_secs(1),
        };
        let first = merge([
            Err(timed_out),
            Ok(Listed {
                rules: Vec::new(),
                unreadable: 1,
            }),
        ]);
        assert!(
            matches!(first, Err(Error::Timeout { .. })),
            "a failed listing is reported before unreadable rules: {first:?}"
        );
    }
}

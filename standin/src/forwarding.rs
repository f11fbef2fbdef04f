//! Port forwarding on a running interface: the IPv4-only functions (every level) and the
//! IPv4+IPv6 functions (macOS 12).
//!
//! Rules are keyed by (protocol, external port, family). A rule needs protocol 6 or 17 and
//! non-zero ports; a duplicate key, or removing an absent rule, fails with
//! `VMNET_INVALID_ARGUMENT` through the completion. Changes take effect when the completion
//! runs (on the queue the interface was started with, after a random delay). Rule
//! dictionaries handed to get-rules handlers use the stand-in's own keys
//! (`standin_protocol`, `standin_external_port`, `standin_family`, `standin_address` (text),
//! `standin_internal_port`) and are released after the handler returns.

use std::ffi::{CStr, c_void};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use vmnet_sys::{
    AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, VMNET_INVALID_ARGUMENT, VMNET_SUCCESS, in_addr,
    interface_ref,
};

use crate::blocks::Block;
use crate::fatal::{fatal, guard};
use crate::faults;
use crate::interface::{Iface, complete_on};
use crate::xpc::{Obj, Owned};

const KEY_PROTOCOL: &CStr = c"standin_protocol";
const KEY_EXTERNAL_PORT: &CStr = c"standin_external_port";
const KEY_FAMILY: &CStr = c"standin_family";
const KEY_ADDRESS: &CStr = c"standin_address";
const KEY_INTERNAL_PORT: &CStr = c"standin_internal_port";

/// A port-forwarding rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) protocol: u8,
    pub(crate) external_port: u16,
    pub(crate) address: IpAddr,
    pub(crate) internal_port: u16,
}

impl Rule {
    pub(crate) fn family(&self) -> u8 {
        match self.address {
            IpAddr::V4(_) => AF_INET,
            IpAddr::V6(_) => AF_INET6,
        }
    }

    /// Whether the rule's fields are acceptable (protocol, ports).
    pub(crate) fn valid(&self) -> bool {
        matches!(self.protocol, IPPROTO_TCP | IPPROTO_UDP)
            && self.external_port != 0
            && self.internal_port != 0
    }

    pub(crate) fn same_key(&self, other: &Rule) -> bool {
        self.protocol == other.protocol
            && self.external_port == other.external_port
            && self.family() == other.family()
    }

    fn to_xpc(self) -> Obj {
        let d = Obj::dictionary();
        d.set_u64(KEY_PROTOCOL, self.protocol.into());
        d.set_u64(KEY_EXTERNAL_PORT, self.external_port.into());
        d.set_u64(KEY_FAMILY, self.family().into());
        d.set_string(KEY_ADDRESS, &self.address.to_string());
        d.set_u64(KEY_INTERNAL_PORT, self.internal_port.into());
        d
    }

    fn from_xpc(rule: *mut c_void, op: &str) -> Option<Rule> {
        let d = Obj::get(rule, op);
        let u = |key: &CStr| d.get_value(op, key).and_then(|v| v.as_u64(op));
        let address = d
            .get_value(op, KEY_ADDRESS)
            .and_then(|v| v.as_string(op))?
            .parse()
            .ok()?;
        Some(Rule {
            protocol: u8::try_from(u(KEY_PROTOCOL)?).ok()?,
            external_port: u16::try_from(u(KEY_EXTERNAL_PORT)?).ok()?,
            address,
            internal_port: u16::try_from(u(KEY_INTERNAL_PORT)?).ok()?,
        })
    }
}

/// The address at `ptr` for `family`, or `None` for another family.
///
/// # Safety
/// `ptr` points at an `in_addr` (AF_INET) or `in6_addr` (AF_INET6).
#[cfg_attr(not(feature = "macos-12"), allow(dead_code))]
pub(crate) unsafe fn address_from(family: u8, ptr: *const c_void) -> Option<IpAddr> {
    if ptr.is_null() {
        return None;
    }
    match family {
        // SAFETY: the caller guarantees an in_addr, whose bytes are the octets.
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(unsafe {
            *ptr.cast::<[u8; 4]>()
        }))),
        // SAFETY: the caller guarantees an in6_addr (16 bytes).
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(unsafe {
            *ptr.cast::<[u8; 16]>()
        }))),
        _ => None,
    }
}

/// Applies `change` to the interface's rules when the completion runs, then calls the
/// handler with the status; without a handler the change is applied at once and its status
/// returned.
///
/// # Safety
/// `handler` is NULL or a `vmnet_interface_completion_handler_t` block.
unsafe fn schedule_change(
    op: &str,
    interface: interface_ref,
    handler: *mut c_void,
    change: impl FnOnce(&mut Vec<Rule>) -> u32 + Send + 'static,
) -> u32 {
    let iface = match Iface::running(interface, op) {
        Ok(iface) => iface,
        Err(status) => return status,
    };
    let fails = faults::take_forwarding_fails();
    // SAFETY: the caller passes NULL or a completion handler block.
    let Some(block) = (unsafe { Block::copy(handler) }) else {
        return fails.unwrap_or_else(|| iface.with_rules(change));
    };
    complete_on_start_queue(op, iface, move |iface| {
        let status = fails.unwrap_or_else(|| iface.with_rules(change));
        // SAFETY: a vmnet_interface_completion_handler_t takes (vmnet_return_t).
        unsafe { block.call_u32(status) };
    });
    VMNET_SUCCESS
}

/// Runs `job` with the interface as a completion on the queue it was started with (where
/// port-forwarding completions run).
fn complete_on_start_queue(op: &str, iface: Arc<Iface>, job: impl FnOnce(&Iface) + Send + 'static) {
    let Some(queue) = iface.start_queue() else {
        fatal(format_args!(
            "{op}: internal: a running interface without its queue"
        ));
    };
    complete_on(&queue, Box::new(move || job(&iface)));
}

/// Adds `rule` to `rules` unless it is invalid or its key is taken
/// (`VMNET_INVALID_ARGUMENT`): the rules of an interface or of a network configuration.
pub(crate) fn add_rule(rules: &mut Vec<Rule>, rule: Rule) -> u32 {
    if !rule.valid() || rules.iter().any(|r| r.same_key(&rule)) {
        return VMNET_INVALID_ARGUMENT;
    }
    rules.push(rule);
    VMNET_SUCCESS
}

fn remove_rule(
    protocol: u8,
    external_port: u16,
    family: u8,
) -> impl FnOnce(&mut Vec<Rule>) -> u32 + Send + 'static {
    move |rules| {
        let found = rules.iter().position(|r| {
            r.protocol == protocol && r.external_port == external_port && r.family() == family
        });
        match found {
            Some(i) => {
                rules.remove(i);
                VMNET_SUCCESS
            }
            None => VMNET_INVALID_ARGUMENT,
        }
    }
}

/// Schedules a get-rules handler: it receives an array of the rules of `family` (NULL when
/// there are none), released after it returns.
///
/// # Safety
/// `handler` is NULL or a rules handler block.
unsafe fn schedule_list(
    op: &str,
    interface: interface_ref,
    family: u8,
    handler: *mut c_void,
) -> u32 {
    let iface = match Iface::running(interface, op) {
        Ok(iface) => iface,
        Err(status) => return status,
    };
    if family != AF_INET && family != AF_INET6 {
        return VMNET_INVALID_ARGUMENT;
    }
    if handler.is_null() {
        return VMNET_INVALID_ARGUMENT;
    }
    if let Some(status) = faults::take_forwarding_fails() {
        return status;
    }
    // SAFETY: the caller passes a rules handler block.
    let block = unsafe { Block::copy(handler) }.unwrap_or_else(|| fatal("a NULL block"));
    complete_on_start_queue(op, iface, move |iface| {
        let rules: Vec<Rule> = iface.with_rules(|rules| {
            rules
                .iter()
                .filter(|r| r.family() == family)
                .copied()
                .collect()
        });
        let array = (!rules.is_empty()).then(|| {
            let array = Owned::from_obj(Obj::array());
            for rule in rules {
                array.obj().push(rule.to_xpc());
            }
            array
        });
        let ptr = array
            .as_ref()
            .map_or(std::ptr::null_mut(), |a| a.obj().as_ptr());
        // SAFETY: a rules handler takes (xpc_object_t); the array lives for the call.
        unsafe { block.call_object(ptr) };
        drop(array);
    });
    VMNET_SUCCESS
}

/// `vmnet_interface_add_port_forwarding_rule(interface, protocol, external_port,
/// internal_address, internal_port, handler)`: adds an IPv4 rule. Returns `VMNET_SUCCESS`
/// when the handler was scheduled; the handler gets the outcome. With a NULL handler the
/// rule is added at once and the outcome returned.
///
/// # Safety
/// `interface` is a running interface (checked); `handler` NULL or a completion handler.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_interface_add_port_forwarding_rule(
    interface: interface_ref,
    protocol: u8,
    external_port: u16,
    internal_address: in_addr,
    internal_port: u16,
    handler: vmnet_sys::vmnet_interface_completion_handler_t,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_interface_add_port_forwarding_rule", || {
        let rule = Rule {
            protocol,
            external_port,
            address: IpAddr::V4(Ipv4Addr::from(internal_address.s_addr.to_ne_bytes())),
            internal_port,
        };
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            schedule_change(
                "vmnet_interface_add_port_forwarding_rule",
                interface,
                handler,
                move |rules| add_rule(rules, rule),
            )
        }
    })
}

/// `vmnet_interface_remove_port_forwarding_rule(interface, protocol, external_port,
/// handler)`: removes the IPv4 rule with that key (absent: `VMNET_INVALID_ARGUMENT` in the
/// handler).
///
/// # Safety
/// As [`vmnet_interface_add_port_forwarding_rule`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_interface_remove_port_forwarding_rule(
    interface: interface_ref,
    protocol: u8,
    external_port: u16,
    handler: vmnet_sys::vmnet_interface_completion_handler_t,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_interface_remove_port_forwarding_rule", || {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            schedule_change(
                "vmnet_interface_remove_port_forwarding_rule",
                interface,
                handler,
                remove_rule(protocol, external_port, AF_INET),
            )
        }
    })
}

/// `vmnet_interface_get_port_forwarding_rules(interface, handler)`: the handler receives an
/// array of the IPv4 rules, or NULL when there are none. A NULL handler:
/// `VMNET_INVALID_ARGUMENT`.
///
/// # Safety
/// `interface` is a running interface (checked); `handler` a rules handler block.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_interface_get_port_forwarding_rules(
    interface: interface_ref,
    handler: vmnet_sys::vmnet_interface_get_port_forwarding_rules_handler_t,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_interface_get_port_forwarding_rules", || {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            schedule_list(
                "vmnet_interface_get_port_forwarding_rules",
                interface,
                AF_INET,
                handler,
            )
        }
    })
}

fn write_out<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL out-pointers are valid for writes (the caller's contract).
        unsafe { ptr.write(value) };
    }
}

/// `vmnet_port_forwarding_rule_get_details(rule, protocol, external_port,
/// internal_address, internal_port)`: the fields of an IPv4 rule dictionary (NULL
/// out-pointers are skipped). A rule of another family, or not a rule dictionary:
/// `VMNET_INVALID_ARGUMENT`.
///
/// # Safety
/// `rule` is a live XPC object (checked); out-pointers are NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_port_forwarding_rule_get_details(
    rule: vmnet_sys::xpc_object_t,
    protocol: *mut u8,
    external_port: *mut u16,
    internal_address: *mut in_addr,
    internal_port: *mut u16,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_port_forwarding_rule_get_details", || {
        let op = "vmnet_port_forwarding_rule_get_details";
        let Some(rule) = Rule::from_xpc(rule, op) else {
            return VMNET_INVALID_ARGUMENT;
        };
        let IpAddr::V4(v4) = rule.address else {
            return VMNET_INVALID_ARGUMENT;
        };
        write_out(protocol, rule.protocol);
        write_out(external_port, rule.external_port);
        write_out(
            internal_address,
            in_addr {
                s_addr: u32::from_ne_bytes(v4.octets()),
            },
        );
        write_out(internal_port, rule.internal_port);
        VMNET_SUCCESS
    })
}

/// `vmnet_interface_add_ip_port_forwarding_rule(interface, protocol, external_port,
/// address_family, internal_address, internal_port, handler)` (macOS 12): adds a rule for
/// `AF_INET` (2, `in_addr`) or `AF_INET6` (30, `in6_addr`). Another family or a NULL
/// address: `VMNET_INVALID_ARGUMENT` returned at once.
///
/// # Safety
/// As [`vmnet_interface_add_port_forwarding_rule`]; `internal_address` points at the
/// address type of the family.
#[cfg(feature = "macos-12")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_interface_add_ip_port_forwarding_rule(
    interface: interface_ref,
    protocol: u8,
    external_port: u16,
    address_family: u8,
    internal_address: *const c_void,
    internal_port: u16,
    handler: vmnet_sys::vmnet_interface_completion_handler_t,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_interface_add_ip_port_forwarding_rule", || {
        let op = "vmnet_interface_add_ip_port_forwarding_rule";
        // SAFETY: the caller's contract: the address matches the family.
        let Some(address) = (unsafe { address_from(address_family, internal_address) }) else {
            Iface::get(interface, op);
            return VMNET_INVALID_ARGUMENT;
        };
        let rule = Rule {
            protocol,
            external_port,
            address,
            internal_port,
        };
        // SAFETY: forwarded from the caller's contract.
        unsafe { schedule_change(op, interface, handler, move |rules| add_rule(rules, rule)) }
    })
}

/// `vmnet_interface_remove_ip_port_forwarding_rule(interface, protocol, external_port,
/// address_family, handler)` (macOS 12).
///
/// # Safety
/// As [`vmnet_interface_add_port_forwarding_rule`].
#[cfg(feature = "macos-12")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_interface_remove_ip_port_forwarding_rule(
    interface: interface_ref,
    protocol: u8,
    external_port: u16,
    address_family: u8,
    handler: vmnet_sys::vmnet_interface_completion_handler_t,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_interface_remove_ip_port_forwarding_rule", || {
        let op = "vmnet_interface_remove_ip_port_forwarding_rule";
        if address_family != AF_INET && address_family != AF_INET6 {
            Iface::get(interface, op);
            return VMNET_INVALID_ARGUMENT;
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            schedule_change(
                op,
                interface,
                handler,
                remove_rule(protocol, external_port, address_family),
            )
        }
    })
}

/// `vmnet_interface_get_ip_port_forwarding_rules(interface, address_family, handler)`
/// (macOS 12): the handler receives an array of the rules of that family, or NULL.
///
/// # Safety
/// As [`vmnet_interface_get_port_forwarding_rules`].
#[cfg(feature = "macos-12")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_interface_get_ip_port_forwarding_rules(
    interface: interface_ref,
    address_family: u8,
    handler: vmnet_sys::vmnet_interface_get_ip_port_forwarding_rules_handler_t,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_interface_get_ip_port_forwarding_rules", || {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            schedule_list(
                "vmnet_interface_get_ip_port_forwarding_rules",
                interface,
                address_family,
                handler,
            )
        }
    })
}

/// `vmnet_ip_port_forwarding_rule_get_details(rule, protocol, external_port,
/// address_family, internal_address, internal_port)` (macOS 12): the fields of a rule of
/// `address_family` (input); the address is written as an `in_addr` or `in6_addr`. A rule
/// of another family: `VMNET_INVALID_ARGUMENT`.
///
/// # Safety
/// `rule` is a live XPC object (checked); out-pointers are NULL or valid for writes, the
/// address one for the family's address type.
#[cfg(feature = "macos-12")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_ip_port_forwarding_rule_get_details(
    rule: vmnet_sys::xpc_object_t,
    protocol: *mut u8,
    external_port: *mut u16,
    address_family: u8,
    internal_address: *mut c_void,
    internal_port: *mut u16,
) -> vmnet_sys::vmnet_return_t {
    guard("vmnet_ip_port_forwarding_rule_get_details", || {
        let op = "vmnet_ip_port_forwarding_rule_get_details";
        let Some(rule) = Rule::from_xpc(rule, op) else {
            return VMNET_INVALID_ARGUMENT;
        };
        if rule.family() != address_family {
            return VMNET_INVALID_ARGUMENT;
        }
        write_out(protocol, rule.protocol);
        write_out(external_port, rule.external_port);
        match rule.address {
            IpAddr::V4(a) => write_out(internal_address.cast::<[u8; 4]>(), a.octets()),
            IpAddr::V6(a) => write_out(internal_address.cast::<[u8; 16]>(), a.octets()),
        }
        write_out(internal_port, rule.internal_port);
        VMNET_SUCCESS
    })
}

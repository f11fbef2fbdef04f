//! Network objects (macOS 26): configurations, networks, serialization, and starting
//! interfaces on a network.
//!
//! Configurations and networks are CF objects (`CFRetain`/`CFRelease`). A network owns a
//! segment of its own; interfaces started on it retain it until their stop completes. A
//! serialization is an XPC dictionary naming the network; it finds the network again while
//! any reference to it lives.
//!
//! Defaults of a new configuration: a /24 in 192.168.128.0/17 (192.168.128.0/24,
//! .129.0/24, … one per configuration), a ULA /64 `fd76:6d6e:6574:N::/64`, MTU 1500, no
//! external interface (the default route), every service on.
//!
//! Validation: the external interface only in shared mode and only a bridgeable name (`en0`,
//! `en1`); the IPv4 subnet is given as an address inside it that is neither its network
//! (`.0`) nor its broadcast address, with a contiguous mask of /8 to /30; the IPv6 prefix is a
//! ULA (fd00::/8) of length 48 to 64 with no bits past the length; the MTU is 1280 to 16384;
//! rules as for interfaces (protocol 6 or 17, non-zero ports, no duplicate key); a DHCP
//! reservation needs a unicast client MAC and an address inside the subnet that is not
//! reserved (network, gateway, broadcast), and neither the client nor the address may be
//! reserved twice. Everything else returns `VMNET_INVALID_ARGUMENT`.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_void};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use vmnet_sys::{
    VMNET_BRIDGED_MODE, VMNET_HOST_MODE, VMNET_INVALID_ARGUMENT, VMNET_SHARED_MODE, VMNET_SUCCESS,
    ether_addr_t, in_addr, in6_addr, interface_ref, vmnet_network_configuration_ref,
    vmnet_network_ref, vmnet_return_t,
};

use crate::cf::{CfObject, CfRef};
use crate::fatal::guard;
use crate::faults;
use crate::forwarding::{Rule, add_rule, address_from};
use crate::interface::{self, BRIDGEABLE, NetworkParams};
use crate::segment::Segment;
use crate::xpc::Obj;

const KEY_NETWORK_ID: &CStr = c"standin_network_id";
const KEY_NETWORK_NONCE: &CStr = c"standin_network_nonce";

static NEXT: AtomicU64 = AtomicU64::new(0);

/// What a configuration holds.
#[derive(Clone, Debug)]
struct Settings {
    mode: u32,
    external_interface: Option<String>,
    /// NAT44, NAT66, DHCP, DNS proxy, router advertisement.
    disabled: [bool; 5],
    /// Network address and mask.
    subnet: (Ipv4Addr, Ipv4Addr),
    prefix: (Ipv6Addr, u8),
    mtu: u32,
    rules: Vec<Rule>,
    reservations: Vec<([u8; 6], Ipv4Addr)>,
}

/// The payload of a configuration object.
struct Configuration(Mutex<Settings>);

/// The payload of a network object.
struct Network {
    id: u64,
    nonce: u64,
    settings: Settings,
    segment: Arc<Segment>,
}

impl Drop for Network {
    fn drop(&mut self) {
        networks().remove(&self.id);
    }
}

/// Live networks by id: the address of their CF object.
fn networks() -> MutexGuard<'static, HashMap<u64, usize>> {
    static ALL: OnceLock<Mutex<HashMap<u64, usize>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn settings(config: vmnet_network_configuration_ref, op: &str) -> Arc<Configuration> {
    CfObject::payload::<Configuration>(config.cast_const().cast(), op)
}

fn lock(c: &Configuration) -> MutexGuard<'_, Settings> {
    c.0.lock().unwrap_or_else(PoisonError::into_inner)
}

fn put_status(status: *mut vmnet_return_t, value: vmnet_return_t) {
    if !status.is_null() {
        // SAFETY: a non-NULL status pointer is valid for writes (the caller's contract).
        unsafe { *status = value };
    }
}

/// Runs a configuration setter: the network fault first, then `f` on the settings.
fn setter(
    config: vmnet_network_configuration_ref,
    op: &str,
    f: impl FnOnce(&mut Settings) -> vmnet_return_t,
) -> vmnet_return_t {
    let c = settings(config, op);
    if let Some(status) = faults::take_network_fails() {
        return status;
    }
    f(&mut lock(&c))
}

/// `vmnet_network_configuration_create(mode, status)`: a new configuration (+1, release
/// with `CFRelease`) for host or shared mode with the defaults of the module docs. Bridged
/// or unknown modes: NULL and `VMNET_INVALID_ARGUMENT` in `*status` (NULL allowed).
///
/// # Safety
/// `status` is NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_configuration_create(
    mode: vmnet_sys::vmnet_mode_t,
    status: *mut vmnet_return_t,
) -> vmnet_network_configuration_ref {
    guard("vmnet_network_configuration_create", || {
        if let Some(s) = faults::take_network_fails() {
            put_status(status, s);
            return std::ptr::null_mut();
        }
        if mode != VMNET_HOST_MODE && mode != VMNET_SHARED_MODE {
            let _ = VMNET_BRIDGED_MODE;
            put_status(status, VMNET_INVALID_ARGUMENT);
            return std::ptr::null_mut();
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let settings = Settings {
            mode,
            external_interface: None,
            disabled: [false; 5],
            subnet: (
                Ipv4Addr::new(192, 168, 128 + (n % 128) as u8, 0),
                Ipv4Addr::new(255, 255, 255, 0),
            ),
            prefix: (
                Ipv6Addr::new(0xfd76, 0x6d6e, 0x6574, n as u16, 0, 0, 0, 0),
                64,
            ),
            mtu: 1500,
            rules: Vec::new(),
            reservations: Vec::new(),
        };
        put_status(status, VMNET_SUCCESS);
        CfObject::create(
            "network configuration",
            Arc::new(Configuration(Mutex::new(settings))),
        )
        .cast()
    })
}

/// `vmnet_network_configuration_set_external_interface(config, interface_name)`: shared
/// mode only, and only a bridgeable name (`en0`, `en1`); else `VMNET_INVALID_ARGUMENT`.
///
/// # Safety
/// `config` is a live configuration (checked); `interface_name` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_configuration_set_external_interface(
    config: vmnet_network_configuration_ref,
    interface_name: *const c_char,
) -> vmnet_return_t {
    guard("vmnet_network_configuration_set_external_interface", || {
        setter(
            config,
            "vmnet_network_configuration_set_external_interface",
            |s| {
                if interface_name.is_null() || s.mode != VMNET_SHARED_MODE {
                    return VMNET_INVALID_ARGUMENT;
                }
                // SAFETY: a non-NULL name is NUL-terminated (the caller's contract).
                let name = unsafe { CStr::from_ptr(interface_name) }.to_string_lossy();
                if !BRIDGEABLE.contains(&&*name) {
                    return VMNET_INVALID_ARGUMENT;
                }
                s.external_interface = Some(name.into_owned());
                VMNET_SUCCESS
            },
        )
    })
}

macro_rules! disable {
    ($name:ident, $index:literal, $what:literal) => {
        #[doc = concat!("`", stringify!($name), "(config)`: turns off ", $what, ".")]
        ///
        /// # Safety
        /// `config` is a live configuration (checked).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(config: vmnet_network_configuration_ref) {
            guard(stringify!($name), || {
                lock(&settings(config, stringify!($name))).disabled[$index] = true;
            });
        }
    };
}

disable!(vmnet_network_configuration_disable_nat44, 0, "NAT44");
disable!(vmnet_network_configuration_disable_nat66, 1, "NAT66");
disable!(
    vmnet_network_configuration_disable_dhcp,
    2,
    "the DHCP server"
);
disable!(
    vmnet_network_configuration_disable_dns_proxy,
    3,
    "the DNS proxy"
);
disable!(
    vmnet_network_configuration_disable_router_advertisement,
    4,
    "router advertisements"
);

/// `vmnet_network_configuration_set_ipv4_subnet(config, subnet_addr, subnet_mask)`: an
/// address inside the subnet (not its `.0` network or its broadcast address) and a
/// contiguous mask of /8 to /30. The network later reports the network address.
///
/// # Safety
/// `config` is a live configuration (checked); the pointers are NULL or valid `in_addr`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_configuration_set_ipv4_subnet(
    config: vmnet_network_configuration_ref,
    subnet_addr: *const in_addr,
    subnet_mask: *const in_addr,
) -> vmnet_return_t {
    guard("vmnet_network_configuration_set_ipv4_subnet", || {
        setter(config, "vmnet_network_configuration_set_ipv4_subnet", |s| {
            if subnet_addr.is_null() || subnet_mask.is_null() {
                return VMNET_INVALID_ARGUMENT;
            }
            // SAFETY: non-NULL in_addrs (the caller's contract); their bytes are the octets.
            let (a, m) = unsafe {
                (
                    u32::from_be_bytes((*subnet_addr).s_addr.to_ne_bytes()),
                    u32::from_be_bytes((*subnet_mask).s_addr.to_ne_bytes()),
                )
            };
            let prefix = m.leading_ones();
            if prefix + m.trailing_zeros() != 32 || !(8..=30).contains(&prefix) {
                return VMNET_INVALID_ARGUMENT;
            }
            let network = a & m;
            if a == network || a == network | !m {
                return VMNET_INVALID_ARGUMENT;
            }
            s.subnet = (Ipv4Addr::from(network), Ipv4Addr::from(m));
            VMNET_SUCCESS
        })
    })
}

/// `vmnet_network_configuration_set_ipv6_prefix(config, prefix, len)`: a ULA (fd00::/8)
/// prefix of length 48 to 64 with no bits set past the length.
///
/// # Safety
/// `config` is a live configuration (checked); `prefix` NULL or a valid `in6_addr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_configuration_set_ipv6_prefix(
    config: vmnet_network_configuration_ref,
    prefix: *const in6_addr,
    len: u8,
) -> vmnet_return_t {
    guard("vmnet_network_configuration_set_ipv6_prefix", || {
        setter(config, "vmnet_network_configuration_set_ipv6_prefix", |s| {
            // SAFETY: NULL or a valid in6_addr (the caller's contract).
            let Some(IpAddr::V6(p)) = (unsafe { address_from(vmnet_sys::AF_INET6, prefix.cast()) })
            else {
                return VMNET_INVALID_ARGUMENT;
            };
            if p.octets()[0] != 0xfd
                || !(48..=64).contains(&len)
                || u128::from(p) & (u128::MAX >> len) != 0
            {
                return VMNET_INVALID_ARGUMENT;
            }
            s.prefix = (p, len);
            VMNET_SUCCESS
        })
    })
}

/// `vmnet_network_configuration_add_port_forwarding_rule(config, protocol, address_family,
/// internal_port, external_port, internal_address)` — note the internal port comes
/// **before** the external one. Rules as for interfaces.
///
/// # Safety
/// `config` is a live configuration (checked); `internal_address` NULL or the family's
/// address type.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_configuration_add_port_forwarding_rule(
    config: vmnet_network_configuration_ref,
    protocol: u8,
    address_family: vmnet_sys::sa_family_t,
    internal_port: u16,
    external_port: u16,
    internal_address: *const c_void,
) -> vmnet_return_t {
    guard(
        "vmnet_network_configuration_add_port_forwarding_rule",
        || {
            setter(
                config,
                "vmnet_network_configuration_add_port_forwarding_rule",
                |s| {
                    // SAFETY: the caller's contract: the address matches the family.
                    let Some(address) = (unsafe { address_from(address_family, internal_address) })
                    else {
                        return VMNET_INVALID_ARGUMENT;
                    };
                    let rule = Rule {
                        protocol,
                        external_port,
                        address,
                        internal_port,
                    };
                    add_rule(&mut s.rules, rule)
                },
            )
        },
    )
}

/// `vmnet_network_configuration_add_dhcp_reservation(config, client, reservation)`.
///
/// # Safety
/// `config` is a live configuration (checked); the pointers NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_configuration_add_dhcp_reservation(
    config: vmnet_network_configuration_ref,
    client: *const ether_addr_t,
    reservation: *const in_addr,
) -> vmnet_return_t {
    guard("vmnet_network_configuration_add_dhcp_reservation", || {
        setter(
            config,
            "vmnet_network_configuration_add_dhcp_reservation",
            |s| {
                if client.is_null() || reservation.is_null() {
                    return VMNET_INVALID_ARGUMENT;
                }
                // SAFETY: non-NULL and valid (the caller's contract).
                let (mac, ip) = unsafe {
                    (
                        (*client).octet,
                        Ipv4Addr::from((*reservation).s_addr.to_ne_bytes()),
                    )
                };
                let (n, m, a) = (u32::from(s.subnet.0), u32::from(s.subnet.1), u32::from(ip));
                if mac[0] & 1 != 0
                    || a & m != n
                    || [n, n + 1, n | !m].contains(&a)
                    || s.reservations.iter().any(|(c, r)| *c == mac || *r == ip)
                {
                    return VMNET_INVALID_ARGUMENT;
                }
                s.reservations.push((mac, ip));
                VMNET_SUCCESS
            },
        )
    })
}

/// `vmnet_network_configuration_set_mtu(config, mtu)`: 1280 to 16384.
///
/// # Safety
/// `config` is a live configuration (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_configuration_set_mtu(
    config: vmnet_network_configuration_ref,
    mtu: u32,
) -> vmnet_return_t {
    guard("vmnet_network_configuration_set_mtu", || {
        setter(config, "vmnet_network_configuration_set_mtu", |s| {
            if !interface::MTU_RANGE.contains(&u64::from(mtu)) {
                return VMNET_INVALID_ARGUMENT;
            }
            s.mtu = mtu;
            VMNET_SUCCESS
        })
    })
}

/// `vmnet_network_create(configuration, status)`: a new network (+1, `CFRelease`) with a
/// snapshot of the configuration, which is not consumed.
///
/// # Safety
/// `configuration` is a live configuration (checked); `status` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_create(
    configuration: vmnet_network_configuration_ref,
    status: *mut vmnet_return_t,
) -> vmnet_network_ref {
    guard("vmnet_network_create", || {
        let c = settings(configuration, "vmnet_network_create");
        if let Some(s) = faults::take_network_fails() {
            put_status(status, s);
            return std::ptr::null_mut();
        }
        let settings = lock(&c).clone();
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let network = Arc::new(Network {
            id,
            nonce: faults::random_u64(),
            settings,
            segment: Arc::new(Segment::default()),
        });
        let mut all = networks();
        let ptr = CfObject::create("network", network);
        all.insert(id, ptr as usize);
        drop(all);
        put_status(status, VMNET_SUCCESS);
        ptr.cast()
    })
}

fn network(ptr: vmnet_network_ref, op: &str) -> Arc<Network> {
    CfObject::payload::<Network>(ptr.cast_const().cast(), op)
}

/// `vmnet_network_get_ipv4_subnet(network, subnet, mask)`: the network address (`.0`) and
/// mask (NULL out-pointers are skipped).
///
/// # Safety
/// `network` is a live network (checked); out-pointers NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_get_ipv4_subnet(
    network_ref: vmnet_network_ref,
    subnet: *mut in_addr,
    mask: *mut in_addr,
) {
    guard("vmnet_network_get_ipv4_subnet", || {
        let n = network(network_ref, "vmnet_network_get_ipv4_subnet");
        let (a, m) = n.settings.subnet;
        for (out, value) in [(subnet, a), (mask, m)] {
            if !out.is_null() {
                // SAFETY: non-NULL out-pointers are valid for writes (the caller's contract).
                unsafe {
                    out.write(in_addr {
                        s_addr: u32::from_ne_bytes(value.octets()),
                    });
                }
            }
        }
    });
}

/// `vmnet_network_get_ipv6_prefix(network, prefix, prefix_len)`.
///
/// # Safety
/// `network` is a live network (checked); out-pointers NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_get_ipv6_prefix(
    network_ref: vmnet_network_ref,
    prefix: *mut in6_addr,
    prefix_len: *mut u8,
) {
    guard("vmnet_network_get_ipv6_prefix", || {
        let n = network(network_ref, "vmnet_network_get_ipv6_prefix");
        let (p, len) = n.settings.prefix;
        if !prefix.is_null() {
            // SAFETY: a non-NULL in6_addr out-pointer is valid for 16 bytes of writes.
            unsafe { prefix.cast::<[u8; 16]>().write(p.octets()) };
        }
        if !prefix_len.is_null() {
            // SAFETY: non-NULL and valid for writes (the caller's contract).
            unsafe { prefix_len.write(len) };
        }
    });
}

/// `vmnet_network_copy_serialization(network, status)`: a new XPC dictionary (+1, release
/// with `xpc_release`) naming the network (stand-in keys `standin_network_id` and
/// `standin_network_nonce`).
///
/// # Safety
/// `network` is a live network (checked); `status` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_copy_serialization(
    network_ref: vmnet_network_ref,
    status: *mut vmnet_return_t,
) -> vmnet_sys::xpc_object_t {
    guard("vmnet_network_copy_serialization", || {
        let n = network(network_ref, "vmnet_network_copy_serialization");
        if let Some(s) = faults::take_network_fails() {
            put_status(status, s);
            return std::ptr::null_mut();
        }
        let d = Obj::dictionary();
        d.set_u64(KEY_NETWORK_ID, n.id);
        d.set_u64(KEY_NETWORK_NONCE, n.nonce);
        put_status(status, VMNET_SUCCESS);
        d.as_ptr()
    })
}

/// `vmnet_network_create_with_serialization(network, status)`: a new reference (+1) to the
/// live network the serialization names. Unknown, malformed or for a network that no
/// longer exists: NULL and `VMNET_INVALID_ARGUMENT`.
///
/// # Safety
/// `serialization` is a live XPC object (checked); `status` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_network_create_with_serialization(
    serialization: vmnet_sys::xpc_object_t,
    status: *mut vmnet_return_t,
) -> vmnet_network_ref {
    guard("vmnet_network_create_with_serialization", || {
        let op = "vmnet_network_create_with_serialization";
        let d = Obj::get(serialization, op);
        if let Some(s) = faults::take_network_fails() {
            put_status(status, s);
            return std::ptr::null_mut();
        }
        let id = d.get_value(op, KEY_NETWORK_ID).and_then(|v| v.as_u64(op));
        let nonce = d
            .get_value(op, KEY_NETWORK_NONCE)
            .and_then(|v| v.as_u64(op));
        let found = {
            let all = networks();
            id.and_then(|id| all.get(&id).copied()).and_then(|ptr| {
                let ptr = ptr as *const c_void;
                let live = CfObject::try_retain(ptr);
                live.then_some(ptr)
            })
        };
        let Some(ptr) = found else {
            put_status(status, VMNET_INVALID_ARGUMENT);
            return std::ptr::null_mut();
        };
        if Some(network(ptr.cast_mut().cast(), op).nonce) != nonce {
            CfObject::get(ptr, op).release(op);
            put_status(status, VMNET_INVALID_ARGUMENT);
            return std::ptr::null_mut();
        }
        put_status(status, VMNET_SUCCESS);
        ptr.cast_mut().cast()
    })
}

/// `vmnet_interface_start_with_network(network, interface_desc, queue, start_block)`: as
/// `vmnet_start_interface`, on the network's own segment, with the network's mode, subnet
/// (gateway = network + 1, end = broadcast - 1), NAT66 prefix (shared mode) and MTU. Only
/// the allocate-MAC, TSO, isolation and checksum-offload keys of the description are
/// honoured. The interface retains the network until its stop completes.
///
/// # Safety
/// `network` is a live network (checked); the rest as for `vmnet_start_interface`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmnet_interface_start_with_network(
    network_ref: vmnet_network_ref,
    interface_desc: vmnet_sys::xpc_object_t,
    queue: vmnet_sys::dispatch_queue_t,
    start_block: vmnet_sys::vmnet_start_interface_completion_handler_t,
) -> interface_ref {
    guard("vmnet_interface_start_with_network", || {
        let op = "vmnet_interface_start_with_network";
        if network_ref.is_null() {
            return std::ptr::null_mut();
        }
        let n = network(network_ref, op);
        if interface_desc.is_null() || queue.is_null() || start_block.is_null() {
            return std::ptr::null_mut();
        }
        let params = NetworkParams {
            mode: n.settings.mode,
            segment: n.segment.clone(),
            subnet: n.settings.subnet,
            prefix: n.settings.prefix.0,
            mtu: n.settings.mtu,
        };
        let retained = CfRef::retain(network_ref.cast_const().cast(), op);
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            interface::start(
                op,
                interface_desc,
                queue.cast(),
                start_block,
                Some((params, retained)),
            )
        }
    })
}

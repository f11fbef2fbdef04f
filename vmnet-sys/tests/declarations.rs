//! The declarations of `vmnet-sys` against the facts of `vmnet.h`.
//!
//! Names are checked by compiling: every function and key is referenced below, so a missing or
//! renamed declaration fails the build. Values and layouts are checked at run time.

use core::mem::{align_of, offset_of, size_of};
use vmnet_sys::*;

/// Refers to each function item by name. Naming a function item (a zero-sized value) does not
/// take its address, so this links on every host, including those without vmnet.
macro_rules! functions {
    ($($name:ident),* $(,)?) => {{
        $( let _ = $name; )*
        [$(stringify!($name)),*]
    }};
}

#[test]
fn all_32_functions_are_declared() {
    let names = functions![
        // baseline (10.10 / 10.15)
        vmnet_start_interface,
        vmnet_interface_set_event_callback,
        vmnet_read,
        vmnet_write,
        vmnet_stop_interface,
        vmnet_copy_shared_interface_list,
        vmnet_interface_add_port_forwarding_rule,
        vmnet_interface_remove_port_forwarding_rule,
        vmnet_interface_get_port_forwarding_rules,
        vmnet_port_forwarding_rule_get_details,
        // IPv4 + IPv6 port forwarding (12)
        vmnet_interface_add_ip_port_forwarding_rule,
        vmnet_interface_remove_ip_port_forwarding_rule,
        vmnet_interface_get_ip_port_forwarding_rules,
        vmnet_ip_port_forwarding_rule_get_details,
        // network configuration (26)
        vmnet_network_configuration_create,
        vmnet_network_configuration_set_external_interface,
        vmnet_network_configuration_disable_nat44,
        vmnet_network_configuration_disable_nat66,
        vmnet_network_configuration_disable_dhcp,
        vmnet_network_configuration_disable_dns_proxy,
        vmnet_network_configuration_disable_router_advertisement,
        vmnet_network_configuration_set_ipv4_subnet,
        vmnet_network_configuration_set_ipv6_prefix,
        vmnet_network_configuration_add_port_forwarding_rule,
        vmnet_network_configuration_add_dhcp_reservation,
        vmnet_network_configuration_set_mtu,
        // networks (26)
        vmnet_network_create,
        vmnet_network_get_ipv4_subnet,
        vmnet_network_get_ipv6_prefix,
        vmnet_network_copy_serialization,
        vmnet_network_create_with_serialization,
        vmnet_interface_start_with_network,
    ];
    assert_eq!(names.len(), 32);
    let mut unique = names.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 32, "a function is listed twice");
}

/// Refers to each key's static by name in a generic function that is never instantiated: the
/// compiler checks the name and its type (`const char *const`) without importing the symbol.
macro_rules! keys {
    ($($name:ident),* $(,)?) => {{
        #[allow(dead_code, clippy::extra_unused_type_parameters)]
        fn declared<T>() -> Vec<*const *const core::ffi::c_char> {
            vec![$( &raw const $name ),*]
        }
        [$(stringify!($name)),*]
    }};
}

const KEYS: [&str; 23] = keys![
    vmnet_operation_mode_key,
    vmnet_interface_id_key,
    vmnet_mac_address_key,
    vmnet_mtu_key,
    vmnet_max_packet_size_key,
    vmnet_estimated_packets_available_key,
    vmnet_shared_interface_name_key,
    vmnet_allocate_mac_address_key,
    vmnet_start_address_key,
    vmnet_end_address_key,
    vmnet_subnet_mask_key,
    vmnet_nat66_prefix_key,
    vmnet_nat66_prefix_length_key,
    vmnet_network_identifier_key,
    vmnet_host_ip_address_key,
    vmnet_host_subnet_mask_key,
    vmnet_host_ipv6_address_key,
    vmnet_enable_tso_key,
    vmnet_enable_isolation_key,
    vmnet_enable_checksum_offload_key,
    vmnet_read_max_packets_key,
    vmnet_write_max_packets_key,
    vmnet_enable_virtio_header_key,
];

#[test]
fn all_23_keys_are_declared_once() {
    let mut unique = KEYS.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 23, "a key is listed twice");
    assert!(
        KEYS.iter()
            .all(|k| k.starts_with("vmnet_") && k.ends_with("_key"))
    );
}

#[test]
fn vmpktdesc_layout() {
    assert_eq!(size_of::<vmpktdesc>(), 24);
    assert_eq!(align_of::<vmpktdesc>(), 8);
    assert_eq!(offset_of!(vmpktdesc, vm_pkt_size), 0);
    assert_eq!(offset_of!(vmpktdesc, vm_pkt_iov), 8);
    assert_eq!(offset_of!(vmpktdesc, vm_pkt_iovcnt), 16);
    assert_eq!(offset_of!(vmpktdesc, vm_flags), 20);
    assert_eq!(size_of::<iovec>(), 16);
}

#[test]
fn darwin_address_layouts() {
    assert_eq!(size_of::<in_addr>(), 4);
    assert_eq!(size_of::<in6_addr>(), 16);
    assert_eq!(align_of::<in6_addr>(), 4);
    assert_eq!(size_of::<ether_addr_t>(), 6);
    // Darwin's sa_family_t is one byte (glibc's is two).
    assert_eq!(size_of::<sa_family_t>(), 1);
    assert_eq!(
        (AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP),
        (2, 30, 6, 17)
    );
}

#[test]
fn mode_and_event_values() {
    assert_eq!(
        [VMNET_HOST_MODE, VMNET_SHARED_MODE, VMNET_BRIDGED_MODE],
        [1000, 1001, 1002]
    );
    let _: vmnet_mode_t = VMNET_SHARED_MODE;
    assert_eq!(VMNET_INTERFACE_PACKETS_AVAILABLE, 1);
    assert_eq!(size_of::<operating_modes_t>(), 4);
    assert_eq!(size_of::<interface_event_t>(), 4);
}

#[test]
fn status_values() {
    let statuses: [vmnet_return_t; 11] = [
        VMNET_SUCCESS,
        VMNET_FAILURE,
        VMNET_MEM_FAILURE,
        VMNET_INVALID_ARGUMENT,
        VMNET_SETUP_INCOMPLETE,
        VMNET_INVALID_ACCESS,
        VMNET_PACKET_TOO_BIG,
        VMNET_BUFFER_EXHAUSTED,
        VMNET_TOO_MANY_PACKETS,
        VMNET_SHARING_SERVICE_BUSY,
        VMNET_NOT_AUTHORIZED,
    ];
    let expected: Vec<u32> = (1000..=1010).collect();
    assert_eq!(statuses.to_vec(), expected);
    assert_eq!(size_of::<vmnet_return_t>(), 4);
}

/// On an Apple system every key's value is its symbol's name without `_key`. Needs only macOS
/// (no privileges); the four newest keys are read through `weak`, so this links on macOS 11.
#[cfg(target_os = "macos")]
#[test]
fn key_values_on_macos() {
    // SAFETY: each key is a `const char *const` exported by vmnet.framework, pointing at a
    // NUL-terminated string with static lifetime.
    let read = |p: *const core::ffi::c_char| unsafe { core::ffi::CStr::from_ptr(p) };
    // SAFETY: reading the pointer value of an immutable exported data symbol.
    let mtu = unsafe { vmnet_mtu_key };
    assert_eq!(read(mtu).to_str(), Ok("vmnet_mtu"));
    // SAFETY: as above.
    let mode = unsafe { vmnet_operation_mode_key };
    assert_eq!(read(mode).to_str(), Ok("vmnet_operation_mode"));
    if let Some(key) = weak::vmnet_enable_checksum_offload_key() {
        assert_eq!(key.to_str(), Ok("vmnet_enable_checksum_offload"));
    }
}

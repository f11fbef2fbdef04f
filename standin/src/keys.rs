//! The dictionary key symbols (`extern const char *const vmnet_*_key`), per macOS level.
//!
//! Each value is the symbol's name without `_key`, as observed on macOS.

use std::ffi::{CStr, c_char};

/// A `const char *const` key symbol.
#[repr(transparent)]
#[derive(Debug)]
pub struct Key(*const c_char);

// SAFETY: the pointer is to a static string and never changes.
unsafe impl Sync for Key {}

impl Key {
    /// The key's string.
    pub fn name(&self) -> &'static CStr {
        // SAFETY: every `Key` is built below from a static C string literal.
        unsafe { CStr::from_ptr(self.0) }
    }
}

const _: () = assert!(size_of::<Key>() == size_of::<*const c_char>());

macro_rules! keys {
    ($( $(#[$cfg:meta])* $name:ident = $value:literal; )*) => {
        $(
            $(#[$cfg])*
            #[doc = concat!("`", stringify!($name), "`: `\"", $value, "\"`.")]
            #[unsafe(no_mangle)]
            pub static $name: Key = Key(match CStr::from_bytes_with_nul(concat!($value, "\0").as_bytes()) {
                Ok(s) => s.as_ptr(),
                Err(_) => panic!("key names hold no NUL"),
            });
        )*

        /// Compile-time check that each key is declared as `const char *const` in vmnet-sys;
        /// a generic function that is never instantiated emits no reference to the symbols.
        #[allow(dead_code, clippy::extra_unused_type_parameters)]
        fn declared<T>() -> [*const *const c_char; 0] {
            $(
                $(#[$cfg])*
                let _: *const *const c_char = &raw const vmnet_sys::$name;
            )*
            []
        }
    };
}

keys! {
    vmnet_operation_mode_key = "vmnet_operation_mode";
    vmnet_interface_id_key = "vmnet_interface_id";
    vmnet_mac_address_key = "vmnet_mac_address";
    vmnet_mtu_key = "vmnet_mtu";
    vmnet_max_packet_size_key = "vmnet_max_packet_size";
    vmnet_estimated_packets_available_key = "vmnet_estimated_packets_available";
    vmnet_shared_interface_name_key = "vmnet_shared_interface_name";
    vmnet_allocate_mac_address_key = "vmnet_allocate_mac_address";
    vmnet_start_address_key = "vmnet_start_address";
    vmnet_end_address_key = "vmnet_end_address";
    vmnet_subnet_mask_key = "vmnet_subnet_mask";
    vmnet_nat66_prefix_key = "vmnet_nat66_prefix";
    vmnet_nat66_prefix_length_key = "vmnet_nat66_prefix_length";
    vmnet_network_identifier_key = "vmnet_network_identifier";
    vmnet_host_ip_address_key = "vmnet_host_ip_address";
    vmnet_host_subnet_mask_key = "vmnet_host_subnet_mask";
    vmnet_host_ipv6_address_key = "vmnet_host_ipv6_address";
    vmnet_enable_tso_key = "vmnet_enable_tso";
    vmnet_enable_isolation_key = "vmnet_enable_isolation";
    #[cfg(feature = "macos-12")]
    vmnet_enable_checksum_offload_key = "vmnet_enable_checksum_offload";
    #[cfg(feature = "macos-15")]
    vmnet_read_max_packets_key = "vmnet_read_max_packets";
    #[cfg(feature = "macos-15")]
    vmnet_write_max_packets_key = "vmnet_write_max_packets";
    #[cfg(feature = "macos-15-4")]
    vmnet_enable_virtio_header_key = "vmnet_enable_virtio_header";
}

/// Key names as the implementation uses them (whether or not this level exports the symbol).
pub(crate) mod name {
    use std::ffi::CStr;

    pub(crate) const MODE: &CStr = c"vmnet_operation_mode";
    pub(crate) const INTERFACE_ID: &CStr = c"vmnet_interface_id";
    pub(crate) const MAC_ADDRESS: &CStr = c"vmnet_mac_address";
    pub(crate) const MTU: &CStr = c"vmnet_mtu";
    pub(crate) const MAX_PACKET_SIZE: &CStr = c"vmnet_max_packet_size";
    pub(crate) const ESTIMATED_PACKETS: &CStr = c"vmnet_estimated_packets_available";
    pub(crate) const SHARED_INTERFACE_NAME: &CStr = c"vmnet_shared_interface_name";
    pub(crate) const ALLOCATE_MAC: &CStr = c"vmnet_allocate_mac_address";
    pub(crate) const START_ADDRESS: &CStr = c"vmnet_start_address";
    pub(crate) const END_ADDRESS: &CStr = c"vmnet_end_address";
    pub(crate) const SUBNET_MASK: &CStr = c"vmnet_subnet_mask";
    pub(crate) const NAT66_PREFIX: &CStr = c"vmnet_nat66_prefix";
    pub(crate) const NETWORK_IDENTIFIER: &CStr = c"vmnet_network_identifier";
    pub(crate) const HOST_IP_ADDRESS: &CStr = c"vmnet_host_ip_address";
    pub(crate) const HOST_SUBNET_MASK: &CStr = c"vmnet_host_subnet_mask";
    pub(crate) const HOST_IPV6_ADDRESS: &CStr = c"vmnet_host_ipv6_address";
    pub(crate) const ENABLE_TSO: &CStr = c"vmnet_enable_tso";
    pub(crate) const ENABLE_ISOLATION: &CStr = c"vmnet_enable_isolation";
    /// Only read from macOS 12 on (an unknown key before).
    pub(crate) const ENABLE_CHECKSUM_OFFLOAD: &CStr = c"vmnet_enable_checksum_offload";
    pub(crate) const READ_MAX_PACKETS: &CStr = c"vmnet_read_max_packets";
    pub(crate) const WRITE_MAX_PACKETS: &CStr = c"vmnet_write_max_packets";
    /// Only read from macOS 15.4 on (an unknown key before).
    pub(crate) const ENABLE_VIRTIO_HEADER: &CStr = c"vmnet_enable_virtio_header";
}

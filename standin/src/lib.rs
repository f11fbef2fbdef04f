//! A strict stand-in for Apple's **vmnet.framework** on Linux, for running the `vmnet`
//! crate's Apple backend and its tests without a Mac.
//!
//! Built as `libvmnet.so` (soname `libvmnet.so`; the workspace's xtask also links it as
//! `libdispatch.so`), it exports vmnet's functions and key symbols, and the libdispatch, XPC
//! and CoreFoundation pieces the Rust side calls. Cargo features pick the macOS level it
//! stands in for (cumulative; none is 11.0): `macos-12`, `macos-15`, `macos-15-4`,
//! `macos-26`. Each level exports only the symbols that level has, and behaves as it does
//! (for example the parameters report the per-call packet limits only from 15.0). On Apple
//! targets the crate is empty.
//!
//! # Stricter than Apple, on purpose
//! The point is that ownership and lifetime bugs in the Rust backend fail tests here, where on
//! a Mac they would be silent undefined behaviour or timing luck:
//!
//! - **Every callback is asynchronous**: completion handlers and event callbacks run on their
//!   dispatch queue after the call returned, after a random delay of 0–2 ms
//!   (`VMNET_STANDIN_MAX_DELAY_US` overrides the maximum). Port-forwarding completions run on
//!   the queue the interface was started with.
//! - **Objects handed to blocks die right after them**: parameter, event and rules
//!   dictionaries/arrays are created with one reference and released when the handler
//!   returns. A released XPC object is **poisoned** (contents overwritten, marked dead,
//!   kept in a quarantine): any later XPC call on it aborts with a message such as
//!   `vmnet-standin: xpc_dictionary_get_value on a released dictionary (use after release)`;
//!   strings read through a stale pointer show a `<released xpc string>` pattern. A handler
//!   that retained the object keeps it alive.
//! - **Start descriptions are read when the start completion runs**, so releasing one before
//!   the completion aborts (vmnet's contract: keep it alive until then).
//! - **Everything is counted**: XPC, CF and dispatch objects, blocks the stand-in holds, and
//!   interfaces not yet stopped ([`vmnet_standin_live`](control::vmnet_standin_live)).
//!   Over-release of any of them aborts with a message naming the object; so does any use of a
//!   pointer the stand-in did not make (an XPC call on a foreign pointer, `CFRelease` on
//!   something that is not a network object, a queue that is not one of ours).
//! - **Interface handles are never reused**: stopped and failed interfaces stay as
//!   tombstones, and any use of them (read, write, events, forwarding, a second stop) aborts.
//!   Stopping an interface before its start completed, or from inside a start completion
//!   handler, aborts. `dispatch_sync` on the current queue aborts (libdispatch deadlocks).
//! - **Stop with an event callback still registered never completes**: a warning naming the
//!   problem is printed (real vmnet is reported to hang) and the stop handler is held until
//!   [`vmnet_standin_reset`](control::vmnet_standin_reset).
//! - **Reads and writes check the descriptor contract exactly** (see
//!   [`vmnet_read`](interface::vmnet_read) and [`vmnet_write`](interface::vmnet_write)):
//!   `vm_pkt_size` must not claim more than the iovecs hold, `vm_flags` must be 0 on read, a
//!   write's `vm_pkt_size` must equal its one iovec's length. The per-call limit (256 from
//!   15.0, 200 before) is enforced at every level.
//! - Out-of-range `xpc_array_get_value` indexes abort.
//!
//! # Behaviour a test author needs
//! - Start parameters: MAC `xx:xx:xx:xx:xx:xx` derived from the interface id (locally
//!   administered unicast: first octet `(id[10] & 0xfc) | 2`, then `id[11..16]`; the same id
//!   gives the same MAC; a random id when the description has none); MTU (default 1500,
//!   1280..=16384 accepted in host and shared mode, an error in bridged mode); maximum packet
//!   size MTU + 14, or 65549 with TSO (not counting the 12-byte virtio header); the interface
//!   id; start/end/mask `192.168.105.1`/`.254`/`255.255.255.0` in shared mode and
//!   `192.168.106.1`/`.254`/`255.255.255.0` in host mode unless the description gives all
//!   three; a NAT66 prefix in shared mode (`fd76:6d6e:6574:X::`, one per process, or the
//!   description's); read/write max packets 256 from 15.0.
//! - Validation (reported through the completion as `VMNET_INVALID_ARGUMENT`): the mode key
//!   is required (1000, 1001, 1002); bridged mode needs `vmnet_shared_interface_name` naming
//!   `en0` or `en1` and rejects an MTU; checksum offload (12.0) with the virtio header (15.4)
//!   is refused; a known key with a value of the wrong type is refused; start/end/mask come
//!   all three or none and must make a valid range. Unknown keys (including keys newer than
//!   the level) are ignored. Host mode with `vmnet_network_identifier` joins a segment of its
//!   own shared by interfaces with the same identifier.
//! - Frames: see [`segment`]. Receive queues hold [`segment::QUEUE_CAPACITY`] frames; the host
//!   endpoint's MAC is [`segment::HOST_MAC`]. Frames shorter than 14 bytes are accepted by
//!   `vmnet_write` and discarded. On read, a first buffer smaller than the next frame gives
//!   `VMNET_INVALID_ARGUMENT` and leaves the frame queued (as the simulator does).
//! - Reading before the start completion ran gives `VMNET_SETUP_INCOMPLETE`.
//! - Port forwarding: see [`forwarding`]. Network objects: see the `network` module (26.0
//!   only).
//!
//! # Test control (exported at every level)
//! - `uint64_t vmnet_standin_live(uint32_t kind)`: [`LIVE_XPC`] 0, [`LIVE_CF`] 1,
//!   [`LIVE_QUEUES`] 2, [`LIVE_BLOCKS`] 3, [`LIVE_INTERFACES`] 4, [`LIVE_ALL`] 5.
//! - `void vmnet_standin_reset(void)`.
//! - `uint32_t vmnet_standin_host_send(const uint8_t *frame, size_t len)`.
//! - `ssize_t vmnet_standin_host_recv(uint8_t *buf, size_t cap, uint32_t timeout_ms)`: length,
//!   -1 none within the timeout, -2 `cap` too small (the frame stays queued).
//! - `void vmnet_standin_host_mac(uint8_t out[6])`.
//! - `void vmnet_standin_fault(uint32_t kind, uint64_t arg)`: the `FAULT_*` constants below,
//!   one-shot: [`FAULT_START_FAILS`] 1 (arg: status), [`FAULT_START_RETURNS_NULL`] 2,
//!   [`FAULT_LATE_COMPLETION`] 3 (arg: ms), [`FAULT_NEVER_COMPLETES`] 4,
//!   [`FAULT_EVENT_DURING_STOP`] 5, [`FAULT_READ_BUFFER_EXHAUSTED`] 6,
//!   [`FAULT_WRITE_PARTIAL`] 7 (arg: packets), [`FAULT_FORWARDING_FAILS`] 8 (arg: status),
//!   [`FAULT_NETWORK_FAILS`] 9 (arg: status), [`FAULT_EVENT_NOT_A_DICTIONARY`] 10,
//!   [`FAULT_READ_SIZE_PAST_BUFFER`] 11.
//! - `const char *vmnet_standin_level(void)`: `"11.0"`, `"12.0"`, `"15.0"`, `"15.4"`,
//!   `"26.0"`.
//! - `uint64_t vmnet_standin_dropped(void)`, `uint64_t vmnet_standin_runts(void)`: counters
//!   since the last reset.
//!
//! # Not simulated
//! No DHCP, ARP, NAT, DNS or actual port forwarding: frames are switched, rules are stored.
//! Network configuration services (NAT44 …) are recorded only. Checksum offload changes
//! nothing. Bridged interfaces share the default segment.
#![cfg(not(target_vendor = "apple"))]

mod blocks;
pub mod cf;
pub mod control;
mod counts;
pub mod dispatch;
mod fatal;
mod faults;
pub mod forwarding;
pub mod interface;
pub mod keys;
#[cfg(feature = "macos-26")]
pub mod network;
pub mod segment;
pub mod xpc;

#[cfg(test)]
mod tests;

use std::ffi::CStr;

pub use faults::{
    FAULT_EVENT_DURING_STOP, FAULT_EVENT_NOT_A_DICTIONARY, FAULT_FORWARDING_FAILS,
    FAULT_LATE_COMPLETION, FAULT_NETWORK_FAILS, FAULT_NEVER_COMPLETES, FAULT_READ_BUFFER_EXHAUSTED,
    FAULT_READ_SIZE_PAST_BUFFER, FAULT_START_FAILS, FAULT_START_RETURNS_NULL, FAULT_WRITE_PARTIAL,
};

/// `vmnet_standin_live` kind: XPC objects.
pub const LIVE_XPC: u32 = 0;
/// `vmnet_standin_live` kind: CF objects (network configurations and networks).
pub const LIVE_CF: u32 = 1;
/// `vmnet_standin_live` kind: dispatch queues.
pub const LIVE_QUEUES: u32 = 2;
/// `vmnet_standin_live` kind: blocks the stand-in holds.
pub const LIVE_BLOCKS: u32 = 3;
/// `vmnet_standin_live` kind: interfaces started and not yet stopped.
pub const LIVE_INTERFACES: u32 = 4;
/// `vmnet_standin_live` kind: all of the above together.
pub const LIVE_ALL: u32 = 5;

/// The macOS level of this build.
pub const LEVEL: &CStr = if cfg!(feature = "macos-26") {
    c"26.0"
} else if cfg!(feature = "macos-15-4") {
    c"15.4"
} else if cfg!(feature = "macos-15") {
    c"15.0"
} else if cfg!(feature = "macos-12") {
    c"12.0"
} else {
    c"11.0"
};

/// Compile-time checks that each exported function has exactly the type vmnet-sys declares.
/// Constants that are never used emit no code, so no symbol is referenced.
macro_rules! same_signature {
    ($( $(#[$cfg:meta])* $module:ident::$name:ident: fn($($arg:ty),* $(,)?) $(-> $ret:ty)?; )*) => {$(
        $(#[$cfg])*
        const _: () = {
            type Signature = unsafe extern "C" fn($($arg),*) $(-> $ret)?;
            const _: Signature = vmnet_sys::$name;
            const _: Signature = $module::$name;
        };
    )*};
}

mod signatures {
    #[allow(unused_imports)] // c_void only from macOS 12
    use std::ffi::{c_char, c_int, c_uchar, c_void};

    use vmnet_sys::*;

    use super::*;

    same_signature! {
        interface::vmnet_start_interface:
            fn(xpc_object_t, dispatch_queue_t, vmnet_start_interface_completion_handler_t) -> interface_ref;
        interface::vmnet_interface_set_event_callback:
            fn(interface_ref, interface_event_t, dispatch_queue_t, vmnet_interface_event_callback_t) -> vmnet_return_t;
        interface::vmnet_read: fn(interface_ref, *mut vmpktdesc, *mut c_int) -> vmnet_return_t;
        interface::vmnet_write: fn(interface_ref, *mut vmpktdesc, *mut c_int) -> vmnet_return_t;
        interface::vmnet_stop_interface:
            fn(interface_ref, dispatch_queue_t, vmnet_interface_completion_handler_t) -> vmnet_return_t;
        interface::vmnet_copy_shared_interface_list: fn() -> xpc_object_t;
        forwarding::vmnet_interface_add_port_forwarding_rule:
            fn(interface_ref, u8, u16, in_addr, u16, vmnet_interface_completion_handler_t) -> vmnet_return_t;
        forwarding::vmnet_interface_remove_port_forwarding_rule:
            fn(interface_ref, u8, u16, vmnet_interface_completion_handler_t) -> vmnet_return_t;
        forwarding::vmnet_interface_get_port_forwarding_rules:
            fn(interface_ref, vmnet_interface_get_port_forwarding_rules_handler_t) -> vmnet_return_t;
        forwarding::vmnet_port_forwarding_rule_get_details:
            fn(xpc_object_t, *mut u8, *mut u16, *mut in_addr, *mut u16) -> vmnet_return_t;
        #[cfg(feature = "macos-12")]
        forwarding::vmnet_interface_add_ip_port_forwarding_rule:
            fn(interface_ref, u8, u16, u8, *const c_void, u16, vmnet_interface_completion_handler_t) -> vmnet_return_t;
        #[cfg(feature = "macos-12")]
        forwarding::vmnet_interface_remove_ip_port_forwarding_rule:
            fn(interface_ref, u8, u16, u8, vmnet_interface_completion_handler_t) -> vmnet_return_t;
        #[cfg(feature = "macos-12")]
        forwarding::vmnet_interface_get_ip_port_forwarding_rules:
            fn(interface_ref, u8, vmnet_interface_get_ip_port_forwarding_rules_handler_t) -> vmnet_return_t;
        #[cfg(feature = "macos-12")]
        forwarding::vmnet_ip_port_forwarding_rule_get_details:
            fn(xpc_object_t, *mut u8, *mut u16, u8, *mut c_void, *mut u16) -> vmnet_return_t;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_create:
            fn(vmnet_mode_t, *mut vmnet_return_t) -> vmnet_network_configuration_ref;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_set_external_interface:
            fn(vmnet_network_configuration_ref, *const c_char) -> vmnet_return_t;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_disable_nat44: fn(vmnet_network_configuration_ref);
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_disable_nat66: fn(vmnet_network_configuration_ref);
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_disable_dhcp: fn(vmnet_network_configuration_ref);
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_disable_dns_proxy: fn(vmnet_network_configuration_ref);
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_disable_router_advertisement:
            fn(vmnet_network_configuration_ref);
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_set_ipv4_subnet:
            fn(vmnet_network_configuration_ref, *const in_addr, *const in_addr) -> vmnet_return_t;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_set_ipv6_prefix:
            fn(vmnet_network_configuration_ref, *const in6_addr, u8) -> vmnet_return_t;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_add_port_forwarding_rule:
            fn(vmnet_network_configuration_ref, u8, sa_family_t, u16, u16, *const c_void) -> vmnet_return_t;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_add_dhcp_reservation:
            fn(vmnet_network_configuration_ref, *const ether_addr_t, *const in_addr) -> vmnet_return_t;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_configuration_set_mtu:
            fn(vmnet_network_configuration_ref, u32) -> vmnet_return_t;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_create:
            fn(vmnet_network_configuration_ref, *mut vmnet_return_t) -> vmnet_network_ref;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_get_ipv4_subnet: fn(vmnet_network_ref, *mut in_addr, *mut in_addr);
        #[cfg(feature = "macos-26")]
        network::vmnet_network_get_ipv6_prefix: fn(vmnet_network_ref, *mut in6_addr, *mut u8);
        #[cfg(feature = "macos-26")]
        network::vmnet_network_copy_serialization:
            fn(vmnet_network_ref, *mut vmnet_return_t) -> xpc_object_t;
        #[cfg(feature = "macos-26")]
        network::vmnet_network_create_with_serialization:
            fn(xpc_object_t, *mut vmnet_return_t) -> vmnet_network_ref;
        #[cfg(feature = "macos-26")]
        network::vmnet_interface_start_with_network:
            fn(vmnet_network_ref, xpc_object_t, dispatch_queue_t, vmnet_start_interface_completion_handler_t) -> interface_ref;
        xpc::xpc_retain: fn(xpc_object_t) -> xpc_object_t;
        xpc::xpc_release: fn(xpc_object_t);
        xpc::xpc_get_type: fn(xpc_object_t) -> xpc_type_t;
        xpc::xpc_array_create: fn(*const xpc_object_t, usize) -> xpc_object_t;
        xpc::xpc_array_get_count: fn(xpc_object_t) -> usize;
        xpc::xpc_array_get_value: fn(xpc_object_t, usize) -> xpc_object_t;
        xpc::xpc_array_append_value: fn(xpc_object_t, xpc_object_t);
        xpc::xpc_array_get_string: fn(xpc_object_t, usize) -> *const c_char;
        xpc::xpc_dictionary_create: fn(*const *const c_char, *const xpc_object_t, usize) -> xpc_object_t;
        xpc::xpc_dictionary_get_value: fn(xpc_object_t, *const c_char) -> xpc_object_t;
        xpc::xpc_dictionary_get_count: fn(xpc_object_t) -> usize;
        xpc::xpc_dictionary_set_uint64: fn(xpc_object_t, *const c_char, u64);
        xpc::xpc_dictionary_set_bool: fn(xpc_object_t, *const c_char, bool);
        xpc::xpc_dictionary_set_string: fn(xpc_object_t, *const c_char, *const c_char);
        xpc::xpc_dictionary_set_uuid: fn(xpc_object_t, *const c_char, *const c_uchar);
        xpc::xpc_dictionary_get_uint64: fn(xpc_object_t, *const c_char) -> u64;
        xpc::xpc_dictionary_get_bool: fn(xpc_object_t, *const c_char) -> bool;
        xpc::xpc_dictionary_get_string: fn(xpc_object_t, *const c_char) -> *const c_char;
        xpc::xpc_dictionary_get_uuid: fn(xpc_object_t, *const c_char) -> *const u8;
        xpc::xpc_bool_get_value: fn(xpc_object_t) -> bool;
        xpc::xpc_uint64_get_value: fn(xpc_object_t) -> u64;
        xpc::xpc_string_get_string_ptr: fn(xpc_object_t) -> *const c_char;
        xpc::xpc_uuid_get_bytes: fn(xpc_object_t) -> *const u8;
        cf::CFRetain: fn(CFTypeRef) -> CFTypeRef;
        cf::CFRelease: fn(CFTypeRef);
    }
}

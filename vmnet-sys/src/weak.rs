//! Run-time resolution of the symbols newer than macOS 11.
//!
//! Each accessor looks its symbol up by name with `dlsym(RTLD_DEFAULT, …)` on first use, caches
//! the answer, and returns `None` when the running system does not export it. A binary that only
//! reaches these symbols through this module imports none of them strongly, so it launches on
//! macOS 11 whatever features it was compiled with.
//!
//! Every function accessor's pointer type is checked at compile time against the declaration in
//! the bindings (a mismatch fails to compile), without referencing the symbol in object code.
//!
//! ```no_run
//! // Only on macOS 26 and later:
//! if let Some(create) = vmnet_sys::weak::vmnet_network_configuration_create() {
//!     let mut status = 0;
//!     // SAFETY: `create` is vmnet's own function; a NULL status pointer is allowed and a
//!     // valid one is passed here.
//!     let cfg = unsafe { create(vmnet_sys::VMNET_SHARED_MODE, &mut status) };
//!     # let _ = cfg;
//! }
//! ```

use core::ffi::{CStr, c_char, c_void};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::*;

const UNRESOLVED: usize = 0;
const ABSENT: usize = 1;

/// A symbol looked up by name in the running process, once, then cached.
#[derive(Debug)]
pub struct Symbol {
    name: &'static CStr,
    /// `UNRESOLVED`, `ABSENT`, or the address. Racing first uses resolve twice and store the
    /// same answer: `dlsym` is thread-safe and deterministic for a loaded image.
    state: AtomicUsize,
}

impl Symbol {
    /// A symbol named `name` (its C name, without the leading underscore of Mach-O).
    pub const fn new(name: &'static CStr) -> Self {
        Self {
            name,
            state: AtomicUsize::new(UNRESOLVED),
        }
    }

    /// The symbol's C name.
    pub const fn name(&self) -> &'static CStr {
        self.name
    }

    /// The symbol's address in this process, or `None` if no loaded image exports it.
    pub fn address(&self) -> Option<NonNull<c_void>> {
        match self.state.load(Ordering::Acquire) {
            UNRESOLVED => {
                // SAFETY: `name` is a valid NUL-terminated string, and RTLD_DEFAULT is a valid
                // pseudo-handle for dlsym on every Unix this crate builds for.
                let addr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, self.name.as_ptr()) };
                let found = NonNull::new(addr);
                // An address is never 0 or 1, so it cannot be confused with the two states.
                let value = found.map_or(ABSENT, |p| p.as_ptr() as usize);
                self.state.store(value, Ordering::Release);
                found
            }
            ABSENT => None,
            addr => NonNull::new(addr as *mut c_void),
        }
    }
}

/// `"name"` as a `&'static CStr`, at compile time.
macro_rules! c_name {
    ($name:ident) => {
        match CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
            Ok(name) => name,
            Err(_) => panic!("identifiers contain no NUL"),
        }
    };
}

macro_rules! weak_functions {
    ($( $since:literal $name:ident: fn($($arg:ty),* $(,)?) $(-> $ret:ty)?; )*) => {$(
        #[doc = concat!("`", stringify!($name), "` (macOS ", $since, "), if the running system exports it.")]
        ///
        /// The pointer has the signature of the declaration in this crate's bindings; calling it
        /// is `unsafe` with that function's contract.
        pub fn $name() -> Option<unsafe extern "C" fn($($arg),*) $(-> $ret)?> {
            type Signature = unsafe extern "C" fn($($arg),*) $(-> $ret)?;
            // Compile-time check that `Signature` is the bindgen declaration's type. A constant
            // that is never used emits no code, so this does not import the symbol.
            const _: Signature = crate::$name;
            static SYMBOL: Symbol = Symbol::new(c_name!($name));
            SYMBOL.address().map(|addr| {
                // SAFETY: the address is that of the exported C function `$name`, whose type is
                // `Signature` (checked above against the SDK-derived declaration); data and code
                // pointers have the same representation on Apple platforms.
                unsafe { core::mem::transmute::<*mut c_void, Signature>(addr.as_ptr()) }
            })
        }
    )*};
}

macro_rules! weak_keys {
    ($( $since:literal $name:ident; )*) => {$(
        #[doc = concat!("The value of `", stringify!($name), "` (macOS ", $since, "), if the running system exports it.")]
        pub fn $name() -> Option<&'static CStr> {
            // Compile-time check that the key is declared as `const char *const` in the
            // bindings; a generic function that is never instantiated emits no code.
            #[allow(dead_code, clippy::extra_unused_type_parameters)]
            fn declared<T>() -> *const *const c_char {
                &raw const crate::$name
            }
            static SYMBOL: Symbol = Symbol::new(c_name!($name));
            let addr = SYMBOL.address()?;
            // SAFETY: the symbol is a `const char *const` data symbol, readable for the life of
            // the process (frameworks are never unloaded).
            let value = unsafe { *addr.as_ptr().cast::<*const c_char>() };
            // A NULL value (never observed) counts as a missing key.
            // SAFETY: a non-NULL value points at a NUL-terminated string in the framework's
            // constant data, alive as long as the process.
            (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) })
        }
    )*};
}

weak_keys! {
    "12.0" vmnet_enable_checksum_offload_key;
    "15.0" vmnet_read_max_packets_key;
    "15.0" vmnet_write_max_packets_key;
    "15.4" vmnet_enable_virtio_header_key;
}

weak_functions! {
    "12.0" vmnet_interface_add_ip_port_forwarding_rule:
        fn(interface_ref, u8, u16, u8, *const c_void, u16, vmnet_interface_completion_handler_t) -> vmnet_return_t;
    "12.0" vmnet_interface_remove_ip_port_forwarding_rule:
        fn(interface_ref, u8, u16, u8, vmnet_interface_completion_handler_t) -> vmnet_return_t;
    "12.0" vmnet_interface_get_ip_port_forwarding_rules:
        fn(interface_ref, u8, vmnet_interface_get_ip_port_forwarding_rules_handler_t) -> vmnet_return_t;
    "12.0" vmnet_ip_port_forwarding_rule_get_details:
        fn(xpc_object_t, *mut u8, *mut u16, u8, *mut c_void, *mut u16) -> vmnet_return_t;
    "26.0" vmnet_network_configuration_create:
        fn(vmnet_mode_t, *mut vmnet_return_t) -> vmnet_network_configuration_ref;
    "26.0" vmnet_network_configuration_set_external_interface:
        fn(vmnet_network_configuration_ref, *const c_char) -> vmnet_return_t;
    "26.0" vmnet_network_configuration_disable_nat44: fn(vmnet_network_configuration_ref);
    "26.0" vmnet_network_configuration_disable_nat66: fn(vmnet_network_configuration_ref);
    "26.0" vmnet_network_configuration_disable_dhcp: fn(vmnet_network_configuration_ref);
    "26.0" vmnet_network_configuration_disable_dns_proxy: fn(vmnet_network_configuration_ref);
    "26.0" vmnet_network_configuration_disable_router_advertisement:
        fn(vmnet_network_configuration_ref);
    "26.0" vmnet_network_configuration_set_ipv4_subnet:
        fn(vmnet_network_configuration_ref, *const in_addr, *const in_addr) -> vmnet_return_t;
    "26.0" vmnet_network_configuration_set_ipv6_prefix:
        fn(vmnet_network_configuration_ref, *const in6_addr, u8) -> vmnet_return_t;
    "26.0" vmnet_network_configuration_add_port_forwarding_rule:
        fn(vmnet_network_configuration_ref, u8, sa_family_t, u16, u16, *const c_void) -> vmnet_return_t;
    "26.0" vmnet_network_configuration_add_dhcp_reservation:
        fn(vmnet_network_configuration_ref, *const ether_addr_t, *const in_addr) -> vmnet_return_t;
    "26.0" vmnet_network_configuration_set_mtu:
        fn(vmnet_network_configuration_ref, u32) -> vmnet_return_t;
    "26.0" vmnet_network_create:
        fn(vmnet_network_configuration_ref, *mut vmnet_return_t) -> vmnet_network_ref;
    "26.0" vmnet_network_get_ipv4_subnet: fn(vmnet_network_ref, *mut in_addr, *mut in_addr);
    "26.0" vmnet_network_get_ipv6_prefix: fn(vmnet_network_ref, *mut in6_addr, *mut u8);
    "26.0" vmnet_network_copy_serialization:
        fn(vmnet_network_ref, *mut vmnet_return_t) -> xpc_object_t;
    "26.0" vmnet_network_create_with_serialization:
        fn(xpc_object_t, *mut vmnet_return_t) -> vmnet_network_ref;
    "26.0" vmnet_interface_start_with_network:
        fn(vmnet_network_ref, xpc_object_t, dispatch_queue_t, vmnet_start_interface_completion_handler_t) -> interface_ref;
}

//! Run-time resolution of the symbols newer than macOS 11.

use vmnet_sys::weak::{self, Symbol};

#[test]
fn a_symbol_the_process_lacks_is_none_and_stays_none() {
    static MISSING: Symbol = Symbol::new(c"vmnet_sys_test_no_such_symbol");
    assert!(MISSING.address().is_none());
    assert!(MISSING.address().is_none(), "the cached answer is the same");
    assert_eq!(MISSING.name(), c"vmnet_sys_test_no_such_symbol");
}

#[test]
fn a_symbol_the_process_has_is_found_and_cached() {
    // `malloc` is exported by the C library of every Unix.
    static MALLOC: Symbol = Symbol::new(c"malloc");
    let first = MALLOC.address().expect("libc exports malloc");
    assert_eq!(MALLOC.address(), Some(first));
}

/// Without vmnet.framework (any non-Apple host) no late symbol resolves.
#[cfg(not(target_vendor = "apple"))]
#[test]
fn late_symbols_are_absent_without_vmnet() {
    assert!(weak::vmnet_network_create().is_none());
    assert!(weak::vmnet_interface_add_ip_port_forwarding_rule().is_none());
    assert!(weak::vmnet_read_max_packets_key().is_none());
    assert!(weak::vmnet_enable_virtio_header_key().is_none());
}

/// On macOS 12 or later the IPv4+IPv6 port-forwarding functions exist. Run by the macOS
/// workflow; needs no privileges.
#[cfg(target_os = "macos")]
#[test]
fn ip_port_forwarding_resolves_on_macos_12_and_later() {
    assert!(weak::vmnet_interface_add_ip_port_forwarding_rule().is_some());
    assert!(weak::vmnet_enable_checksum_offload_key().is_some());
}

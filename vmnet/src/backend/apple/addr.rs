//! Conversions between `std::net` addresses and Darwin's `in_addr` / `in6_addr`.

use std::net::{Ipv4Addr, Ipv6Addr};

use vmnet_sys as sys;

/// `struct in_addr` holds the address in network byte order: its bytes are the octets.
pub(super) fn in_addr(ip: Ipv4Addr) -> sys::in_addr {
    sys::in_addr {
        s_addr: u32::from_ne_bytes(ip.octets()),
    }
}

pub(super) fn from_in_addr(a: sys::in_addr) -> Ipv4Addr {
    Ipv4Addr::from(a.s_addr.to_ne_bytes())
}

pub(super) fn in6_addr(ip: Ipv6Addr) -> sys::in6_addr {
    sys::in6_addr {
        __u6_addr: sys::in6_addr__bindgen_ty_1 {
            __u6_addr8: ip.octets(),
        },
    }
}

/// The 16 bytes of an `in6_addr` (or the first 4 of them, an `in_addr` written into it).
pub(super) fn in6_bytes(a: &sys::in6_addr) -> [u8; 16] {
    // SAFETY: every field of the union is plain bytes of the same 16-byte storage; reading
    // the byte view is valid whatever was written.
    unsafe { a.__u6_addr.__u6_addr8 }
}

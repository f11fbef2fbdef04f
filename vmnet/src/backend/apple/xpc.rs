//! XPC objects: ownership, and translation to and from [`Dictionary`].
//!
//! Ownership rules (libxpc): objects returned by `*_create` and `*_copy_*` functions are
//! owned by the caller and released with `xpc_release`; objects returned by `*_get_*`
//! functions are borrowed from their container and must not be released; objects handed to a
//! block as parameters are borrowed for the duration of the block.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::NonNull;

use uuid::Uuid;
use vmnet_sys as sys;

use crate::error::{Error, Result};
use crate::keys::{Dictionary, Key, Value, ValueKind};

/// An owned reference to an XPC object (+1 retain count), released on drop.
#[derive(Debug)]
pub(crate) struct XpcObject(NonNull<c_void>);

// SAFETY: XPC objects are reference counted with atomic operations and immutable once built
// (this crate never mutates a dictionary after handing it to vmnet), so references may move
// between and be shared by threads.
unsafe impl Send for XpcObject {}
// SAFETY: as above; `&XpcObject` only allows reads.
unsafe impl Sync for XpcObject {}

impl XpcObject {
    /// Takes ownership of a +1 reference; `None` for NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or an XPC object the caller owns a reference to, which moves here.
    pub(super) unsafe fn from_owned(ptr: sys::xpc_object_t) -> Option<Self> {
        NonNull::new(ptr).map(Self)
    }

    /// Retains a borrowed object; `None` for NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or a live XPC object.
    pub(crate) unsafe fn retain(ptr: sys::xpc_object_t) -> Option<Self> {
        let ptr = NonNull::new(ptr)?;
        // SAFETY: the caller guarantees a live object; xpc_retain returns it with one more
        // reference, which the wrapper owns.
        Some(Self(unsafe {
            NonNull::new_unchecked(sys::xpc_retain(ptr.as_ptr()))
        }))
    }

    pub(crate) fn as_ptr(&self) -> sys::xpc_object_t {
        self.0.as_ptr()
    }
}

impl Drop for XpcObject {
    fn drop(&mut self) {
        // SAFETY: this wrapper owns exactly one reference to a live XPC object.
        unsafe { sys::xpc_release(self.0.as_ptr()) }
    }
}

/// The C string of `key`'s exported symbol, or `None` if the running system lacks it.
pub(super) fn key_name(key: Key) -> Option<&'static CStr> {
    use sys::weak;
    let symbol: *const *const c_char = match key {
        Key::EnableChecksumOffload => return weak::vmnet_enable_checksum_offload_key(),
        Key::ReadMaxPackets => return weak::vmnet_read_max_packets_key(),
        Key::WriteMaxPackets => return weak::vmnet_write_max_packets_key(),
        Key::EnableVirtioHeader => return weak::vmnet_enable_virtio_header_key(),
        // Taking the address of an extern static is safe; reading it is below.
        Key::OperationMode => &raw const sys::vmnet_operation_mode_key,
        Key::InterfaceId => &raw const sys::vmnet_interface_id_key,
        Key::MacAddress => &raw const sys::vmnet_mac_address_key,
        Key::Mtu => &raw const sys::vmnet_mtu_key,
        Key::MaxPacketSize => &raw const sys::vmnet_max_packet_size_key,
        Key::EstimatedPacketsAvailable => &raw const sys::vmnet_estimated_packets_available_key,
        Key::SharedInterfaceName => &raw const sys::vmnet_shared_interface_name_key,
        Key::AllocateMacAddress => &raw const sys::vmnet_allocate_mac_address_key,
        Key::StartAddress => &raw const sys::vmnet_start_address_key,
        Key::EndAddress => &raw const sys::vmnet_end_address_key,
        Key::SubnetMask => &raw const sys::vmnet_subnet_mask_key,
        Key::Nat66Prefix => &raw const sys::vmnet_nat66_prefix_key,
        Key::NetworkIdentifier => &raw const sys::vmnet_network_identifier_key,
        Key::HostIpAddress => &raw const sys::vmnet_host_ip_address_key,
        Key::HostSubnetMask => &raw const sys::vmnet_host_subnet_mask_key,
        Key::HostIpv6Address => &raw const sys::vmnet_host_ipv6_address_key,
        Key::EnableTso => &raw const sys::vmnet_enable_tso_key,
        Key::EnableIsolation => &raw const sys::vmnet_enable_isolation_key,
    };
    // SAFETY: `symbol` is the address of an immutable `const char *const` exported by
    // vmnet.framework since macOS 11 or earlier (linked strongly, so present).
    let value = unsafe { *symbol };
    // SAFETY: the value points at a static NUL-terminated string of the framework; a NULL
    // value (never observed) is treated as missing.
    (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) })
}

/// Builds an XPC dictionary with the entries of `dict`.
pub(super) fn to_xpc(dict: &Dictionary) -> Result<XpcObject> {
    // SAFETY: creating an empty dictionary (NULL keys and values with count 0 is allowed);
    // the +1 result is owned by the wrapper.
    let xdict = unsafe {
        XpcObject::from_owned(sys::xpc_dictionary_create(
            std::ptr::null(),
            std::ptr::null(),
            0,
        ))
    }
    .ok_or(Error::Io(std::io::Error::from(
        std::io::ErrorKind::OutOfMemory,
    )))?;
    for (key, value) in dict.iter() {
        let name = key_name(key).ok_or(Error::Unsupported {
            feature: key.name(),
            since: "a newer macOS",
        })?;
        let x = xdict.as_ptr();
        let k = name.as_ptr();
        // The SAFETY argument of every arm: `x` is a live dictionary we own and have not
        // shared yet, `k` a NUL-terminated key; libxpc copies the value.
        match value {
            Value::U64(v) => {
                // SAFETY: see above.
                unsafe { sys::xpc_dictionary_set_uint64(x, k, *v) }
            }
            Value::Bool(v) => {
                // SAFETY: see above.
                unsafe { sys::xpc_dictionary_set_bool(x, k, *v) }
            }
            Value::Uuid(v) => {
                // SAFETY: see above; the UUID pointer covers 16 bytes.
                unsafe { sys::xpc_dictionary_set_uuid(x, k, v.as_bytes().as_ptr()) }
            }
            Value::String(v) => {
                // Validation rejects NUL in every string it lets through; this is a backstop.
                let v = CString::new(v.as_str()).map_err(|_| Error::Parameters {
                    key,
                    problem: "contains a NUL byte",
                })?;
                // SAFETY: as above; `v` is NUL-terminated and outlives the call.
                unsafe { sys::xpc_dictionary_set_string(x, k, v.as_ptr()) }
            }
        }
    }
    Ok(xdict)
}

/// Whether `object` is an XPC dictionary (`false` for NULL).
///
/// # Safety
/// `object` is NULL or a live XPC object for the duration of the call.
pub(super) unsafe fn is_dictionary(object: sys::xpc_object_t) -> bool {
    // SAFETY: the caller guarantees a live object; NULL is not passed on.
    !object.is_null() && unsafe { sys::xpc_get_type(object) } == sys::xpc_type_dictionary()
}

/// Reads every known key of the borrowed XPC dictionary `xdict` that has the expected type.
///
/// # Safety
/// `xdict` is NULL or a live XPC object for the duration of the call.
pub(super) unsafe fn from_xpc(xdict: sys::xpc_object_t) -> Dictionary {
    let mut dict = Dictionary::new();
    // SAFETY: the caller guarantees `xdict` is NULL or live.
    if !unsafe { is_dictionary(xdict) } {
        return dict;
    }
    for key in Key::ALL {
        let Some(name) = key_name(key) else { continue };
        // SAFETY: live dictionary and NUL-terminated key; the result is borrowed from it.
        if let Some(value) = unsafe { read_value(xdict, name, key.kind()) } {
            dict.insert(key, value);
        }
    }
    dict
}

/// The value of `name` in `xdict` if present with the type of `kind`.
///
/// # Safety
/// `xdict` is a live XPC dictionary.
pub(super) unsafe fn read_value(
    xdict: sys::xpc_object_t,
    name: &CStr,
    kind: ValueKind,
) -> Option<Value> {
    // SAFETY: live dictionary, NUL-terminated key; the value is borrowed (not released here).
    let value = unsafe { sys::xpc_dictionary_get_value(xdict, name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: `value` is a live object borrowed from the dictionary; each getter is called
    // only on an object of its own type, and string/uuid pointers are copied out before the
    // dictionary can go away.
    unsafe {
        let ty = sys::xpc_get_type(value);
        match kind {
            ValueKind::U64 if ty == sys::xpc_type_uint64() => {
                Some(Value::U64(sys::xpc_uint64_get_value(value)))
            }
            ValueKind::Bool if ty == sys::xpc_type_bool() => {
                Some(Value::Bool(sys::xpc_bool_get_value(value)))
            }
            ValueKind::String if ty == sys::xpc_type_string() => {
                let s = sys::xpc_string_get_string_ptr(value);
                (!s.is_null())
                    .then(|| Value::String(CStr::from_ptr(s).to_string_lossy().into_owned()))
            }
            ValueKind::Uuid if ty == sys::xpc_type_uuid() => {
                let bytes = sys::xpc_uuid_get_bytes(value);
                (!bytes.is_null()).then(|| Value::Uuid(Uuid::from_bytes(*bytes.cast::<[u8; 16]>())))
            }
            _ => None,
        }
    }
}

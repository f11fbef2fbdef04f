//! `vmnet_copy_shared_interface_list`.

use std::ffi::CStr;

use vmnet_sys as sys;

use super::xpc::XpcObject;
use crate::error::Result;

pub(crate) fn bridgeable_interfaces() -> Result<Vec<String>> {
    // SAFETY: no arguments; the result is NULL or an XPC array the caller owns (+1), which
    // moves into the wrapper and is released on every path when it drops.
    let Some(list) = (unsafe { XpcObject::from_owned(sys::vmnet_copy_shared_interface_list()) })
    else {
        return Ok(Vec::new());
    };
    let array = list.as_ptr();
    // SAFETY: `array` is live while `list` lives.
    if unsafe { sys::xpc_get_type(array) } != sys::xpc_type_array() {
        return Ok(Vec::new());
    }
    // SAFETY: `array` is a live XPC array.
    let count = unsafe { sys::xpc_array_get_count(array) };
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: i < count; the string (or NULL for a non-string element) is borrowed from
        // the array and copied before `list` is released.
        let name = unsafe { sys::xpc_array_get_string(array, i) };
        if !name.is_null() {
            // SAFETY: non-NULL strings of XPC arrays are NUL-terminated.
            names.push(
                unsafe { CStr::from_ptr(name) }
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    Ok(names)
}

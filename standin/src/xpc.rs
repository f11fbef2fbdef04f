//! XPC objects: dictionaries, arrays, strings, unsigned integers, booleans and UUIDs, with
//! the libxpc functions vmnet-sys declares.
//!
//! Objects are reference counted. When a count reaches zero the object is **poisoned**: its
//! contents are overwritten (strings with a visible pattern, still NUL-terminated; numbers
//! with `0xDEAD…`; UUIDs with `0xDD`), its children released, and it is marked dead and kept
//! in a quarantine instead of being freed, so that any later call on it aborts with a message
//! naming the function and the object kind. The quarantine keeps the last
//! [`QUARANTINE`] dead objects; older ones are freed.
//!
//! Pointers that are not XPC objects of the stand-in abort too. Type mismatches (a dictionary
//! getter on an array, a string getter on an integer) return 0, false or NULL as libxpc does.

use std::collections::{HashSet, VecDeque};
use std::ffi::{CStr, CString, c_char, c_uchar, c_void};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::counts::{self, Kind};
use crate::fatal::{fatal, guard};

/// Dead objects kept (not freed) so that use after release is recognised.
pub const QUARANTINE: usize = 1 << 16;

/// What a string's bytes become when it is released.
const STRING_POISON: &[u8] = b"<released xpc string>";
const U64_POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;
const UUID_POISON: u8 = 0xDD;

/// An XPC type descriptor: what `XPC_TYPE_*` (the address of a `_xpc_type_*` static) points
/// at.
#[repr(C)]
#[derive(Debug)]
pub struct XpcType {
    name: *const c_char,
}

// SAFETY: the name points at a static string; the descriptor is immutable.
unsafe impl Sync for XpcType {}

/// `XPC_TYPE_DICTIONARY`.
#[unsafe(no_mangle)]
pub static _xpc_type_dictionary: XpcType = XpcType {
    name: c"dictionary".as_ptr(),
};
/// `XPC_TYPE_ARRAY`.
#[unsafe(no_mangle)]
pub static _xpc_type_array: XpcType = XpcType {
    name: c"array".as_ptr(),
};
/// `XPC_TYPE_STRING`.
#[unsafe(no_mangle)]
pub static _xpc_type_string: XpcType = XpcType {
    name: c"string".as_ptr(),
};
/// `XPC_TYPE_UINT64`.
#[unsafe(no_mangle)]
pub static _xpc_type_uint64: XpcType = XpcType {
    name: c"uint64".as_ptr(),
};
/// `XPC_TYPE_BOOL`.
#[unsafe(no_mangle)]
pub static _xpc_type_bool: XpcType = XpcType {
    name: c"bool".as_ptr(),
};
/// `XPC_TYPE_UUID`.
#[unsafe(no_mangle)]
pub static _xpc_type_uuid: XpcType = XpcType {
    name: c"uuid".as_ptr(),
};

/// The value an object holds.
#[derive(Debug)]
pub(crate) enum Value {
    Dictionary(Vec<(CString, Obj)>),
    Array(Vec<Obj>),
    /// The bytes with their NUL; boxed so that pointers handed out stay put.
    String(Box<[u8]>),
    U64(u64),
    Bool(bool),
    Uuid(Box<[u8; 16]>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Dictionary(_) => "dictionary",
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::U64(_) => "uint64",
            Value::Bool(_) => "bool",
            Value::Uuid(_) => "uuid",
        }
    }

    fn type_ptr(&self) -> *const XpcType {
        match self {
            Value::Dictionary(_) => &raw const _xpc_type_dictionary,
            Value::Array(_) => &raw const _xpc_type_array,
            Value::String(_) => &raw const _xpc_type_string,
            Value::U64(_) => &raw const _xpc_type_uint64,
            Value::Bool(_) => &raw const _xpc_type_bool,
            Value::Uuid(_) => &raw const _xpc_type_uuid,
        }
    }
}

#[derive(Debug)]
struct Inner {
    refs: usize,
    dead: bool,
    value: Value,
}

/// An XPC object. `xpc_object_t` values are pointers to this.
#[derive(Debug)]
pub(crate) struct Object {
    kind: &'static str,
    inner: Mutex<Inner>,
}

/// A pointer to a (registered) object, as stored in containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Obj(*mut Object);

// SAFETY: objects are only reached through their mutex; the pointer is an address.
unsafe impl Send for Obj {}

struct Registry {
    all: HashSet<usize>,
    quarantine: VecDeque<usize>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            Mutex::new(Registry {
                all: HashSet::new(),
                quarantine: VecDeque::new(),
            })
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

impl Object {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Obj {
    /// Makes an object with one reference (the caller's).
    pub(crate) fn new(value: Value) -> Obj {
        let object = Box::new(Object {
            kind: value.kind(),
            inner: Mutex::new(Inner {
                refs: 1,
                dead: false,
                value,
            }),
        });
        let ptr = Box::into_raw(object);
        registry().all.insert(ptr as usize);
        counts::created(Kind::Xpc);
        Obj(ptr)
    }

    pub(crate) fn string(s: &str) -> Obj {
        let mut bytes = s.as_bytes().to_vec();
        bytes.retain(|b| *b != 0);
        bytes.push(0);
        Obj::new(Value::String(bytes.into_boxed_slice()))
    }

    pub(crate) fn dictionary() -> Obj {
        Obj::new(Value::Dictionary(Vec::new()))
    }

    pub(crate) fn array() -> Obj {
        Obj::new(Value::Array(Vec::new()))
    }

    pub(crate) fn as_ptr(self) -> *mut c_void {
        self.0.cast()
    }

    /// The live object at `ptr`, checked: aborts for NULL, a pointer that is not an XPC
    /// object of the stand-in, or a released one. `op` names the caller in the message.
    pub(crate) fn get(ptr: *mut c_void, op: &str) -> Obj {
        if ptr.is_null() {
            fatal(format_args!("{op} with a NULL XPC object"));
        }
        if !registry().all.contains(&(ptr as usize)) {
            fatal(format_args!(
                "{op} on {ptr:p}, which is not an XPC object of the stand-in (or one released \
                 so long ago that it left the quarantine)"
            ));
        }
        let obj = Obj(ptr.cast());
        let object = obj.object();
        if object.lock().dead {
            if op == "xpc_release" {
                fatal(format_args!(
                    "xpc_release: {} released more often than retained (over-release)",
                    object.kind
                ));
            }
            fatal(format_args!(
                "{op} on a released {} (use after release)",
                object.kind
            ));
        }
        obj
    }

    fn object(self) -> &'static Object {
        // SAFETY: `Obj`s are only made from registered objects, which are freed only when
        // they leave the quarantine; the stand-in never keeps an `Obj` to a dead object past
        // that point (containers drop their children when they die).
        unsafe { &*self.0 }
    }

    /// The object's kind ("dictionary", …).
    pub(crate) fn kind(self) -> &'static str {
        self.object().kind
    }

    /// The object's state, locked; aborts for a released object (for `op`'s message).
    fn live(self, op: &str) -> MutexGuard<'static, Inner> {
        let object = self.object();
        let inner = object.lock();
        if inner.dead {
            fatal(format_args!(
                "{op} on a released {} (use after release)",
                object.kind
            ));
        }
        inner
    }

    /// Runs `f` on the value, checking the object is alive (for `op`'s message).
    pub(crate) fn with<R>(self, op: &str, f: impl FnOnce(&mut Value) -> R) -> R {
        f(&mut self.live(op).value)
    }

    pub(crate) fn retain(self, op: &str) -> Obj {
        self.live(op).refs += 1;
        self
    }

    /// Drops one reference; the last poisons the object and releases its children.
    pub(crate) fn release(self, op: &str) {
        let object = self.object();
        let mut inner = object.lock();
        if inner.dead || inner.refs == 0 {
            fatal(format_args!(
                "{op}: {} released more often than retained (over-release)",
                object.kind
            ));
        }
        inner.refs -= 1;
        if inner.refs > 0 {
            return;
        }
        inner.dead = true;
        let children: Vec<Obj> = match &mut inner.value {
            Value::Dictionary(entries) => {
                for (key, _) in entries.iter_mut() {
                    poison_cstring(key);
                }
                std::mem::take(entries)
                    .into_iter()
                    .map(|(_, child)| child)
                    .collect()
            }
            Value::Array(items) => std::mem::take(items),
            Value::String(bytes) => {
                let n = bytes.len() - 1;
                for (i, b) in bytes[..n].iter_mut().enumerate() {
                    *b = STRING_POISON[i % STRING_POISON.len()];
                }
                Vec::new()
            }
            Value::U64(v) => {
                *v = U64_POISON;
                Vec::new()
            }
            Value::Bool(v) => {
                *v = false;
                Vec::new()
            }
            Value::Uuid(bytes) => {
                **bytes = [UUID_POISON; 16];
                Vec::new()
            }
        };
        drop(inner);
        counts::destroyed(Kind::Xpc);
        for child in children {
            child.release("releasing a container's element");
        }
        let evicted = {
            let mut registry = registry();
            registry.quarantine.push_back(self.0 as usize);
            if registry.quarantine.len() > QUARANTINE {
                let old = registry.quarantine.pop_front();
                if let Some(old) = old {
                    registry.all.remove(&old);
                }
                old
            } else {
                None
            }
        };
        if let Some(old) = evicted {
            // SAFETY: `old` was made by `Box::into_raw` in `new`, is dead (children already
            // released) and has just left the registry, so nothing reaches it any more.
            drop(unsafe { Box::from_raw(old as *mut Object) });
        }
    }

    /// Whether the object has been released to zero (for tests; the object must still be in
    /// the quarantine).
    #[cfg(test)]
    pub(crate) fn is_dead(self) -> bool {
        self.object().lock().dead
    }

    /// Sets `key` in a dictionary to `value`, taking over the caller's reference to `value`
    /// (a replaced value is released).
    pub(crate) fn set(self, key: &CStr, value: Obj) {
        let old = self.with("setting a dictionary value", |v| match v {
            Value::Dictionary(entries) => {
                match entries.iter_mut().find(|(k, _)| k.as_c_str() == key) {
                    Some((_, slot)) => Some(std::mem::replace(slot, value)),
                    None => {
                        entries.push((key.to_owned(), value));
                        None
                    }
                }
            }
            _ => Some(value),
        });
        if let Some(old) = old {
            old.release("replacing a dictionary value");
        }
    }

    pub(crate) fn set_string(self, key: &CStr, value: &str) {
        self.set(key, Obj::string(value));
    }

    pub(crate) fn set_u64(self, key: &CStr, value: u64) {
        self.set(key, Obj::new(Value::U64(value)));
    }

    pub(crate) fn set_uuid(self, key: &CStr, value: [u8; 16]) {
        self.set(key, Obj::new(Value::Uuid(Box::new(value))));
    }

    /// The value of `key` in a dictionary (borrowed), if any.
    pub(crate) fn get_value(self, op: &str, key: &CStr) -> Option<Obj> {
        self.with(op, |v| match v {
            Value::Dictionary(entries) => Ok(entries
                .iter()
                .find(|(k, _)| k.as_c_str() == key)
                .map(|(_, o)| *o)),
            other => Err(other.kind()),
        })
        .unwrap_or_else(|kind| not_a_dictionary(op, kind))
    }

    /// Appends `value` to an array, taking over the caller's reference.
    pub(crate) fn push(self, value: Obj) {
        let rejected = self.with("appending to an array", |v| match v {
            Value::Array(items) => {
                items.push(value);
                None
            }
            _ => Some(value),
        });
        if let Some(rejected) = rejected {
            rejected.release("appending to a non-array");
        }
    }

    pub(crate) fn as_u64(self, op: &str) -> Option<u64> {
        self.with(op, |v| match v {
            Value::U64(n) => Some(*n),
            _ => None,
        })
    }

    pub(crate) fn as_bool(self, op: &str) -> Option<bool> {
        self.with(op, |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })
    }

    pub(crate) fn as_string(self, op: &str) -> Option<String> {
        self.with(op, |v| match v {
            Value::String(bytes) => Some(String::from_utf8_lossy(&bytes[..bytes.len() - 1]).into()),
            _ => None,
        })
    }

    pub(crate) fn as_uuid(self, op: &str) -> Option<[u8; 16]> {
        self.with(op, |v| match v {
            Value::Uuid(bytes) => Some(**bytes),
            _ => None,
        })
    }

    /// The string's bytes as a C string pointer (borrowed from the object), or NULL.
    fn string_ptr(self, op: &str) -> *const c_char {
        self.with(op, |v| match v {
            Value::String(bytes) => bytes.as_ptr().cast(),
            _ => std::ptr::null(),
        })
    }

    /// The UUID's 16 bytes (borrowed from the object), or NULL.
    fn uuid_ptr(self, op: &str) -> *const u8 {
        self.with(op, |v| match v {
            Value::Uuid(bytes) => bytes.as_ptr(),
            _ => std::ptr::null(),
        })
    }
}

fn poison_cstring(key: &mut CString) {
    let len = key.as_bytes().len();
    let poisoned: Vec<u8> = (0..len)
        .map(|i| STRING_POISON[i % STRING_POISON.len()])
        .collect();
    // The pattern holds no NUL.
    *key = CString::new(poisoned).unwrap_or_default();
}

/// An owned reference (+1), released on drop.
#[derive(Debug)]
pub(crate) struct Owned(Obj);

impl Owned {
    /// Takes over a reference the caller owns.
    pub(crate) fn from_obj(obj: Obj) -> Owned {
        Owned(obj)
    }

    pub(crate) fn obj(&self) -> Obj {
        self.0
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.0
            .release("releasing an object the stand-in handed to a block");
    }
}

/// A key argument as a `&CStr`, aborting for NULL.
///
/// # Safety
/// `key` is NULL or NUL-terminated and outlives the returned reference's use.
unsafe fn key_arg<'a>(key: *const c_char, op: &str) -> &'a CStr {
    if key.is_null() {
        fatal(format_args!("{op} with a NULL key"));
    }
    // SAFETY: the caller guarantees a NUL-terminated key.
    unsafe { CStr::from_ptr(key) }
}

/// `xpc_retain(object)`: one more reference; returns `object`.
///
/// # Safety
/// `object` is a live XPC object of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_retain(object: *mut c_void) -> *mut c_void {
    guard("xpc_retain", || {
        Obj::get(object, "xpc_retain").retain("xpc_retain").as_ptr()
    })
}

/// `xpc_release(object)`: drops a reference. The last one poisons the object (see the
/// module docs); releasing more often than retained aborts.
///
/// # Safety
/// `object` is a live XPC object of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_release(object: *mut c_void) {
    guard("xpc_release", || {
        Obj::get(object, "xpc_release").release("xpc_release");
    });
}

/// `xpc_get_type(object)`: the address of the object's `_xpc_type_*` descriptor.
///
/// # Safety
/// `object` is a live XPC object of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_get_type(object: *mut c_void) -> vmnet_sys::xpc_type_t {
    guard("xpc_get_type", || {
        Obj::get(object, "xpc_get_type").with("xpc_get_type", |v| v.type_ptr().cast())
    })
}

/// `xpc_array_create(objects, count)`: a new array (+1) holding a reference to each of the
/// `count` objects (NULL entries abort).
///
/// # Safety
/// `objects` points at `count` object pointers (may be NULL when `count` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_array_create(
    objects: *const *mut c_void,
    count: usize,
) -> *mut c_void {
    guard("xpc_array_create", || {
        if objects.is_null() && count > 0 {
            fatal("xpc_array_create with NULL objects and a non-zero count");
        }
        let array = Obj::array();
        for i in 0..count {
            // SAFETY: the caller guarantees `count` readable pointers.
            let item = unsafe { *objects.add(i) };
            array.push(Obj::get(item, "xpc_array_create").retain("xpc_array_create"));
        }
        array.as_ptr()
    })
}

/// `xpc_array_get_count(array)`: the number of elements, 0 for a non-array.
///
/// # Safety
/// `array` is a live XPC object of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_array_get_count(array: *mut c_void) -> usize {
    guard("xpc_array_get_count", || {
        Obj::get(array, "xpc_array_get_count").with("xpc_array_get_count", |v| match v {
            Value::Array(items) => items.len(),
            _ => 0,
        })
    })
}

/// The element `index` of an array (borrowed); NULL for a non-array; an index out of range
/// aborts (stricter than libxpc).
fn array_element(array: *mut c_void, index: usize, op: &str) -> Option<Obj> {
    Obj::get(array, op).with(op, |v| match v {
        Value::Array(items) => match items.get(index) {
            Some(item) => Some(*item),
            None => fatal(format_args!(
                "{op}: index {index} out of range of an array of {}",
                items.len()
            )),
        },
        _ => None,
    })
}

/// `xpc_array_get_value(array, index)`: the element (borrowed from the array).
///
/// # Safety
/// `array` is a live XPC object of the stand-in (checked); `index` is in range (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_array_get_value(array: *mut c_void, index: usize) -> *mut c_void {
    guard("xpc_array_get_value", || {
        array_element(array, index, "xpc_array_get_value").map_or(std::ptr::null_mut(), Obj::as_ptr)
    })
}

/// `xpc_array_append_value(array, value)`: appends a reference to `value`.
///
/// # Safety
/// Both are live XPC objects of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_array_append_value(array: *mut c_void, value: *mut c_void) {
    guard("xpc_array_append_value", || {
        let array = Obj::get(array, "xpc_array_append_value");
        let value = Obj::get(value, "xpc_array_append_value");
        if array == value {
            fatal("xpc_array_append_value: appending an array to itself");
        }
        array.push(value.retain("xpc_array_append_value"));
    });
}

/// `xpc_array_get_string(array, index)`: the string element's characters (borrowed), NULL
/// if the element is not a string.
///
/// # Safety
/// As [`xpc_array_get_value`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_array_get_string(array: *mut c_void, index: usize) -> *const c_char {
    guard("xpc_array_get_string", || {
        array_element(array, index, "xpc_array_get_string")
            .map_or(std::ptr::null(), |o| o.string_ptr("xpc_array_get_string"))
    })
}

/// `xpc_dictionary_create(keys, values, count)`: a new dictionary (+1) with a reference to
/// each value.
///
/// # Safety
/// `keys` and `values` point at `count` entries each (may be NULL when `count` is 0); keys
/// are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_create(
    keys: *const *const c_char,
    values: *const *mut c_void,
    count: usize,
) -> *mut c_void {
    guard("xpc_dictionary_create", || {
        if (keys.is_null() || values.is_null()) && count > 0 {
            fatal("xpc_dictionary_create with NULL keys or values and a non-zero count");
        }
        let dict = Obj::dictionary();
        for i in 0..count {
            // SAFETY: the caller guarantees `count` readable keys and values.
            let (key, value) = unsafe { (*keys.add(i), *values.add(i)) };
            // SAFETY: keys are NUL-terminated (checked for NULL).
            let key = unsafe { key_arg(key, "xpc_dictionary_create") };
            let value = Obj::get(value, "xpc_dictionary_create").retain("xpc_dictionary_create");
            dict.set(key, value);
        }
        dict.as_ptr()
    })
}

/// `xpc_dictionary_get_value(dict, key)`: the value (borrowed), NULL if absent or `dict` is
/// not a dictionary.
///
/// # Safety
/// `dict` is a live XPC object of the stand-in (checked); `key` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_get_value(
    dict: *mut c_void,
    key: *const c_char,
) -> *mut c_void {
    guard("xpc_dictionary_get_value", || {
        let op = "xpc_dictionary_get_value";
        let dict = Obj::get(dict, op);
        // SAFETY: the caller passes a NUL-terminated key.
        let key = unsafe { key_arg(key, op) };
        dict.get_value(op, key)
            .map_or(std::ptr::null_mut(), Obj::as_ptr)
    })
}

/// `xpc_dictionary_get_count(dict)`: the number of entries, 0 for a non-dictionary.
///
/// # Safety
/// `dict` is a live XPC object of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_get_count(dict: *mut c_void) -> usize {
    guard("xpc_dictionary_get_count", || {
        Obj::get(dict, "xpc_dictionary_get_count").with("xpc_dictionary_get_count", |v| match v {
            Value::Dictionary(entries) => entries.len(),
            _ => 0,
        })
    })
}

/// Common part of the dictionary setters: checks, then stores a new object made by `make`.
///
/// # Safety
/// `key` is NULL (aborts) or NUL-terminated.
unsafe fn set_entry(dict: *mut c_void, key: *const c_char, op: &str, make: impl FnOnce() -> Obj) {
    let dict = Obj::get(dict, op);
    // SAFETY: forwarded from the caller.
    let key = unsafe { key_arg(key, op) };
    if dict.kind() != "dictionary" {
        return;
    }
    dict.set(key, make());
}

/// `xpc_dictionary_set_uint64(dict, key, value)`: stores a new uint64 object.
///
/// # Safety
/// `dict` is a live XPC object of the stand-in (checked); `key` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_set_uint64(
    dict: *mut c_void,
    key: *const c_char,
    value: u64,
) {
    guard("xpc_dictionary_set_uint64", || {
        // SAFETY: forwarded from the caller.
        unsafe {
            set_entry(dict, key, "xpc_dictionary_set_uint64", || {
                Obj::new(Value::U64(value))
            });
        }
    });
}

/// `xpc_dictionary_set_bool(dict, key, value)`: stores a new bool object.
///
/// # Safety
/// As [`xpc_dictionary_set_uint64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_set_bool(
    dict: *mut c_void,
    key: *const c_char,
    value: bool,
) {
    guard("xpc_dictionary_set_bool", || {
        // SAFETY: forwarded from the caller.
        unsafe {
            set_entry(dict, key, "xpc_dictionary_set_bool", || {
                Obj::new(Value::Bool(value))
            });
        }
    });
}

/// `xpc_dictionary_set_string(dict, key, string)`: stores a new string object holding a copy
/// of `string`.
///
/// # Safety
/// As [`xpc_dictionary_set_uint64`]; `string` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_set_string(
    dict: *mut c_void,
    key: *const c_char,
    string: *const c_char,
) {
    guard("xpc_dictionary_set_string", || {
        let op = "xpc_dictionary_set_string";
        if string.is_null() {
            fatal(format_args!("{op} with a NULL string"));
        }
        // SAFETY: the caller passes a NUL-terminated string; it is copied here.
        let bytes = unsafe { CStr::from_ptr(string) }
            .to_bytes_with_nul()
            .to_vec();
        // SAFETY: forwarded from the caller.
        unsafe {
            set_entry(dict, key, op, || {
                Obj::new(Value::String(bytes.into_boxed_slice()))
            });
        }
    });
}

/// `xpc_dictionary_set_uuid(dict, key, uuid)`: stores a new UUID object with a copy of the
/// 16 bytes.
///
/// # Safety
/// As [`xpc_dictionary_set_uint64`]; `uuid` points at 16 readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_set_uuid(
    dict: *mut c_void,
    key: *const c_char,
    uuid: *const c_uchar,
) {
    guard("xpc_dictionary_set_uuid", || {
        let op = "xpc_dictionary_set_uuid";
        if uuid.is_null() {
            fatal(format_args!("{op} with a NULL uuid"));
        }
        // SAFETY: the caller guarantees 16 readable bytes.
        let bytes = unsafe { *uuid.cast::<[u8; 16]>() };
        // SAFETY: forwarded from the caller.
        unsafe {
            set_entry(dict, key, op, || Obj::new(Value::Uuid(Box::new(bytes))));
        }
    });
}

/// The value of `key` in `dict` for a typed getter.
///
/// # Safety
/// `key` is NULL (aborts) or NUL-terminated.
unsafe fn entry(dict: *mut c_void, key: *const c_char, op: &str) -> Option<Obj> {
    let dict = Obj::get(dict, op);
    // SAFETY: forwarded from the caller.
    let key = unsafe { key_arg(key, op) };
    dict.get_value(op, key)
}

/// `xpc_dictionary_get_uint64(dict, key)`: the value, 0 if absent or not a uint64.
///
/// # Safety
/// `dict` is a live XPC object of the stand-in (checked); `key` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_get_uint64(dict: *mut c_void, key: *const c_char) -> u64 {
    guard("xpc_dictionary_get_uint64", || {
        let op = "xpc_dictionary_get_uint64";
        // SAFETY: forwarded from the caller.
        unsafe { entry(dict, key, op) }
            .and_then(|o| o.as_u64(op))
            .unwrap_or(0)
    })
}

/// `xpc_dictionary_get_bool(dict, key)`: the value, false if absent or not a bool.
///
/// # Safety
/// As [`xpc_dictionary_get_uint64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_get_bool(dict: *mut c_void, key: *const c_char) -> bool {
    guard("xpc_dictionary_get_bool", || {
        let op = "xpc_dictionary_get_bool";
        // SAFETY: forwarded from the caller.
        unsafe { entry(dict, key, op) }
            .and_then(|o| o.as_bool(op))
            .unwrap_or(false)
    })
}

/// `xpc_dictionary_get_string(dict, key)`: the characters (borrowed from the string object,
/// valid while it lives), NULL if absent or not a string.
///
/// # Safety
/// As [`xpc_dictionary_get_uint64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_get_string(
    dict: *mut c_void,
    key: *const c_char,
) -> *const c_char {
    guard("xpc_dictionary_get_string", || {
        let op = "xpc_dictionary_get_string";
        // SAFETY: forwarded from the caller.
        unsafe { entry(dict, key, op) }.map_or(std::ptr::null(), |o| o.string_ptr(op))
    })
}

/// `xpc_dictionary_get_uuid(dict, key)`: the 16 bytes (borrowed), NULL if absent or not a
/// UUID.
///
/// # Safety
/// As [`xpc_dictionary_get_uint64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_dictionary_get_uuid(
    dict: *mut c_void,
    key: *const c_char,
) -> *const u8 {
    guard("xpc_dictionary_get_uuid", || {
        let op = "xpc_dictionary_get_uuid";
        // SAFETY: forwarded from the caller.
        unsafe { entry(dict, key, op) }.map_or(std::ptr::null(), |o| o.uuid_ptr(op))
    })
}

/// `xpc_bool_get_value(object)`: the boolean, false for another type.
///
/// # Safety
/// `object` is a live XPC object of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_bool_get_value(object: *mut c_void) -> bool {
    guard("xpc_bool_get_value", || {
        let op = "xpc_bool_get_value";
        Obj::get(object, op).as_bool(op).unwrap_or(false)
    })
}

/// `xpc_uint64_get_value(object)`: the integer, 0 for another type.
///
/// # Safety
/// As [`xpc_bool_get_value`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_uint64_get_value(object: *mut c_void) -> u64 {
    guard("xpc_uint64_get_value", || {
        let op = "xpc_uint64_get_value";
        Obj::get(object, op).as_u64(op).unwrap_or(0)
    })
}

/// `xpc_string_get_string_ptr(object)`: the characters (borrowed), NULL for another type.
///
/// # Safety
/// As [`xpc_bool_get_value`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_string_get_string_ptr(object: *mut c_void) -> *const c_char {
    guard("xpc_string_get_string_ptr", || {
        let op = "xpc_string_get_string_ptr";
        Obj::get(object, op).string_ptr(op)
    })
}

/// `xpc_uuid_get_bytes(object)`: the 16 bytes (borrowed), NULL for another type.
///
/// # Safety
/// As [`xpc_bool_get_value`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xpc_uuid_get_bytes(object: *mut c_void) -> *const u8 {
    guard("xpc_uuid_get_bytes", || {
        let op = "xpc_uuid_get_bytes";
        Obj::get(object, op).uuid_ptr(op)
    })
}

/// libxpc traps a dictionary function called on another type ("API misuse"); so does the
/// stand-in, naming the call and the type it got.
fn not_a_dictionary(op: &str, kind: &str) -> ! {
    fatal(format_args!(
        "{op} on an XPC {kind}, not a dictionary (libxpc traps this as API misuse: check \
         xpc_get_type first)"
    ))
}

//! CoreFoundation-style reference counting for the network and network-configuration
//! objects (`CFRetain` / `CFRelease`).
//!
//! Each object is a header with a count and a payload. The last release drops the payload
//! and marks the object dead; dead objects are kept (never freed), so that any later use,
//! including another release, aborts with a message. `CFRetain`/`CFRelease` on a pointer the
//! stand-in did not make abort as well.

use std::any::Any;
use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::counts::{self, Kind};
use crate::fatal::{fatal, guard};

struct Inner {
    refs: usize,
    payload: Option<Arc<dyn Any + Send + Sync>>,
}

/// A CF object. `vmnet_network_ref` and `vmnet_network_configuration_ref` point at this.
pub(crate) struct CfObject {
    kind: &'static str,
    inner: Mutex<Inner>,
}

fn registry() -> MutexGuard<'static, HashSet<usize>> {
    static ALL: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

impl CfObject {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new object of `kind` (for messages) holding `payload`, with one reference (+1,
    /// owned by the caller).
    #[cfg_attr(not(feature = "macos-26"), allow(dead_code))]
    pub(crate) fn create(kind: &'static str, payload: Arc<dyn Any + Send + Sync>) -> *mut c_void {
        let object: &'static CfObject = Box::leak(Box::new(CfObject {
            kind,
            inner: Mutex::new(Inner {
                refs: 1,
                payload: Some(payload),
            }),
        }));
        let ptr = (object as *const CfObject).cast_mut();
        registry().insert(ptr as usize);
        counts::created(Kind::Cf);
        ptr.cast()
    }

    /// The live object at `ptr`, checked (aborts for NULL, foreign or released pointers).
    pub(crate) fn get(ptr: *const c_void, op: &str) -> &'static CfObject {
        if ptr.is_null() {
            fatal(format_args!("{op} with NULL"));
        }
        if !registry().contains(&(ptr as usize)) {
            fatal(format_args!(
                "{op} on {ptr:p}, which is not an object the stand-in made"
            ));
        }
        // SAFETY: registered addresses are leaked `CfObject`s, never freed.
        let object = unsafe { &*ptr.cast::<CfObject>() };
        if object.lock().payload.is_none() {
            if op == "CFRelease" {
                fatal(format_args!(
                    "CFRelease: {} released more often than retained (over-release)",
                    object.kind
                ));
            }
            fatal(format_args!(
                "{op} on a released {} (use after release)",
                object.kind
            ));
        }
        object
    }

    /// The payload of the live object at `ptr` as a `T`; another kind aborts.
    #[cfg_attr(not(feature = "macos-26"), allow(dead_code))]
    pub(crate) fn payload<T: Any + Send + Sync>(ptr: *const c_void, op: &str) -> Arc<T> {
        let object = Self::get(ptr, op);
        let payload = object.lock().payload.clone();
        match payload.and_then(|p| p.downcast::<T>().ok()) {
            Some(p) => p,
            None => fatal(format_args!(
                "{op} on a {}, which is the wrong kind of object",
                object.kind
            )),
        }
    }

    /// Retains the object at `ptr` if it is a registered, live object; false otherwise.
    #[cfg_attr(not(feature = "macos-26"), allow(dead_code))]
    pub(crate) fn try_retain(ptr: *const c_void) -> bool {
        if !registry().contains(&(ptr as usize)) {
            return false;
        }
        // SAFETY: registered addresses are leaked `CfObject`s, never freed.
        let object = unsafe { &*ptr.cast::<CfObject>() };
        let mut inner = object.lock();
        if inner.payload.is_none() {
            return false;
        }
        inner.refs += 1;
        true
    }

    pub(crate) fn retain(&'static self, op: &str) {
        let mut inner = self.lock();
        if inner.payload.is_none() {
            fatal(format_args!(
                "{op} on a released {} (use after release)",
                self.kind
            ));
        }
        inner.refs += 1;
    }

    pub(crate) fn release(&'static self, op: &str) {
        let mut inner = self.lock();
        if inner.payload.is_none() || inner.refs == 0 {
            fatal(format_args!(
                "{op}: {} released more often than retained (over-release)",
                self.kind
            ));
        }
        inner.refs -= 1;
        if inner.refs == 0 {
            let payload = inner.payload.take();
            drop(inner);
            counts::destroyed(Kind::Cf);
            drop(payload);
        }
    }
}

/// An owned reference (one retain) to a CF object, released on drop.
pub(crate) struct CfRef(&'static CfObject);

impl std::fmt::Debug for CfRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CfRef").field(&self.0.kind).finish()
    }
}

impl CfRef {
    /// Retains the live object at `ptr` (checked).
    #[cfg_attr(not(feature = "macos-26"), allow(dead_code))]
    pub(crate) fn retain(ptr: *const c_void, op: &str) -> CfRef {
        let object = CfObject::get(ptr, op);
        object.retain(op);
        CfRef(object)
    }
}

impl Drop for CfRef {
    fn drop(&mut self) {
        self.0.release("releasing a retained network");
    }
}

/// `CFRetain(cf)`: one more reference to a network or network configuration; returns `cf`.
/// Any other pointer aborts.
///
/// # Safety
/// `cf` is a live object of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFRetain(cf: vmnet_sys::CFTypeRef) -> vmnet_sys::CFTypeRef {
    guard("CFRetain", || {
        CfObject::get(cf, "CFRetain").retain("CFRetain");
        cf
    })
}

/// `CFRelease(cf)`: drops a reference; the last one destroys the object (a network stays
/// reserved while interfaces started on it are running, since they retain it).
/// Over-release and pointers the stand-in did not make abort.
///
/// # Safety
/// `cf` is a live object of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CFRelease(cf: vmnet_sys::CFTypeRef) {
    guard("CFRelease", || {
        CfObject::get(cf, "CFRelease").release("CFRelease");
    });
}

//! Unit tests: the exported functions, called directly.
//!
//! Tests share the stand-in's global state (counts, faults, the default segment), so each
//! takes [`serial`] first. Tests of aborts re-run the test binary on one test in a child
//! process ([`expect_abort`]).

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::null_mut;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use block2::RcBlock;
use vmnet_sys::{
    VMNET_HOST_MODE, VMNET_INTERFACE_PACKETS_AVAILABLE, VMNET_INVALID_ARGUMENT,
    VMNET_PACKET_TOO_BIG, VMNET_SETUP_INCOMPLETE, VMNET_SHARED_MODE, VMNET_SUCCESS,
    VMNET_TOO_MANY_PACKETS, interface_ref, iovec, vmpktdesc,
};

use crate::control::*;
use crate::dispatch::*;
use crate::forwarding::*;
use crate::interface::*;
use crate::keys::*;
use crate::xpc::*;
use crate::*;

const WAIT: Duration = Duration::from_secs(5);
const CHILD: &str = "VMNET_STANDIN_TEST_CHILD";

/// Serialises tests (global state) and starts each from a reset.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    vmnet_standin_reset();
    guard
}

/// Waits until nothing the stand-in counts is live.
fn wait_all_released() {
    let deadline = Instant::now() + WAIT;
    while vmnet_standin_live(LIVE_ALL) != 0 {
        if Instant::now() > deadline {
            let counts: Vec<u64> = (0..5).map(|k| vmnet_standin_live(k)).collect();
            panic!("still live (xpc, cf, queues, blocks, interfaces): {counts:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// In the parent: runs the test `name` alone in a child process and checks that it aborts
/// with `needle` in its stderr. In that child: runs `body`, which must abort.
fn expect_abort(name: &str, needle: &str, body: impl FnOnce()) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        body();
        std::process::exit(0);
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &format!("tests::{name}"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{name} did not abort: {stderr}");
    assert!(
        stderr.contains(needle),
        "{name}: no {needle:?} in: {stderr}"
    );
}

fn key(k: &Key) -> *const c_char {
    k.name().as_ptr()
}

fn queue(label: &CStr) -> *mut c_void {
    // SAFETY: a static label; NULL attributes.
    unsafe { dispatch_queue_create(label.as_ptr(), std::ptr::null()) }
}

fn release_queue(q: *mut c_void) {
    // SAFETY: a queue the test made and owns one reference to.
    unsafe { dispatch_release(q) }
}

fn dict() -> *mut c_void {
    // SAFETY: an empty dictionary.
    unsafe { xpc_dictionary_create(std::ptr::null(), std::ptr::null(), 0) }
}

fn set_u64(d: *mut c_void, k: &Key, v: u64) {
    // SAFETY: a live dictionary and a key symbol.
    unsafe { xpc_dictionary_set_uint64(d, key(k), v) }
}

fn set_bool(d: *mut c_void, k: &Key, v: bool) {
    // SAFETY: a live dictionary and a key symbol.
    unsafe { xpc_dictionary_set_bool(d, key(k), v) }
}

fn set_str(d: *mut c_void, k: &Key, v: &str) {
    let v = CString::new(v).unwrap();
    // SAFETY: a live dictionary, a key symbol and a C string (copied).
    unsafe { xpc_dictionary_set_string(d, key(k), v.as_ptr()) }
}

fn release(o: *mut c_void) {
    // SAFETY: an object the test owns a reference to.
    unsafe { xpc_release(o) }
}

/// A parameter dictionary, copied out inside the handler.
#[derive(Debug, Default, Clone)]
struct Params(HashMap<String, String>);

impl Params {
    /// Copies every entry the stand-in reports (the dictionary is borrowed).
    fn read(p: *mut c_void) -> Params {
        let mut out = HashMap::new();
        let keys = [
            &vmnet_mac_address_key,
            &vmnet_mtu_key,
            &vmnet_max_packet_size_key,
            &vmnet_start_address_key,
            &vmnet_end_address_key,
            &vmnet_subnet_mask_key,
            &vmnet_nat66_prefix_key,
            &vmnet_interface_id_key,
        ];
        for k in keys {
            // SAFETY: a live dictionary during the handler; values borrowed and copied.
            unsafe {
                let v = xpc_dictionary_get_value(p, key(k));
                if v.is_null() {
                    continue;
                }
                let text = if xpc_get_type(v) == vmnet_sys::xpc_type_string() {
                    CStr::from_ptr(xpc_string_get_string_ptr(v))
                        .to_string_lossy()
                        .into_owned()
                } else if xpc_get_type(v) == vmnet_sys::xpc_type_uint64() {
                    xpc_uint64_get_value(v).to_string()
                } else {
                    format!("{:?}", *xpc_uuid_get_bytes(v).cast::<[u8; 16]>())
                };
                out.insert(k.name().to_string_lossy().into_owned(), text);
            }
        }
        #[cfg(feature = "macos-15")]
        for k in [&vmnet_read_max_packets_key, &vmnet_write_max_packets_key] {
            // SAFETY: as above.
            let v = unsafe { xpc_dictionary_get_uint64(p, key(k)) };
            out.insert(k.name().to_string_lossy().into_owned(), v.to_string());
        }
        Params(out)
    }

    fn get(&self, k: &Key) -> Option<&str> {
        self.0.get(&*k.name().to_string_lossy()).map(String::as_str)
    }

    fn mac(&self) -> [u8; 6] {
        let text = self.get(&vmnet_mac_address_key).unwrap();
        let mut mac = [0u8; 6];
        for (i, part) in text.split(':').enumerate() {
            mac[i] = u8::from_str_radix(part, 16).unwrap();
        }
        mac
    }

    fn max_packet(&self) -> usize {
        self.get(&vmnet_max_packet_size_key)
            .unwrap()
            .parse()
            .unwrap()
    }
}

type StartResult = (u32, Option<Params>);
type StartBlock = RcBlock<dyn Fn(u32, *mut c_void)>;

fn host_recv(buf: &mut [u8], timeout_ms: u32) -> isize {
    // SAFETY: `buf` is valid for its length.
    unsafe { vmnet_standin_host_recv(buf.as_mut_ptr(), buf.len(), timeout_ms) }
}

fn host_send(frame: &[u8]) -> u32 {
    // SAFETY: `frame` is valid for its length.
    unsafe { vmnet_standin_host_send(frame.as_ptr(), frame.len()) }
}

/// A start completion block that sends what it got (status, parameters copied out).
fn start_block() -> (StartBlock, Receiver<(StartResult, std::thread::ThreadId)>) {
    let (tx, rx) = channel();
    let block = RcBlock::new(move |status: u32, params: *mut c_void| {
        let params = (!params.is_null()).then(|| Params::read(params));
        let _ = tx.send(((status, params), std::thread::current().id()));
    });
    (block, rx)
}

fn status_block() -> (RcBlock<dyn Fn(u32)>, Receiver<u32>) {
    let (tx, rx) = channel();
    let block = RcBlock::new(move |status: u32| {
        let _ = tx.send(status);
    });
    (block, rx)
}

/// An interface started on the default segment, with its queue.
struct Started {
    iface: interface_ref,
    queue: *mut c_void,
    params: Params,
}

fn start_with(desc: *mut c_void) -> (interface_ref, *mut c_void, StartResult) {
    let q = queue(c"start");
    let (block, rx) = start_block();
    // SAFETY: a live description, queue and start block.
    let iface = unsafe { vmnet_start_interface(desc, q.cast(), RcBlock::as_ptr(&block).cast()) };
    assert!(!iface.is_null());
    drop(block);
    let (result, _) = rx.recv_timeout(WAIT).expect("start completion");
    (iface, q, result)
}

/// An interface started with `desc` (still the caller's), which must start.
fn start_desc(desc: *mut c_void) -> Started {
    let (iface, queue, (status, params)) = start_with(desc);
    assert_eq!(status, VMNET_SUCCESS);
    Started {
        iface,
        queue,
        params: params.unwrap(),
    }
}

fn start(mode: u32) -> Started {
    let desc = dict();
    set_u64(desc, &vmnet_operation_mode_key, mode.into());
    let started = start_desc(desc);
    release(desc);
    started
}

fn stop(s: Started) {
    // SAFETY: a running interface; NULL queue and block disable events.
    let disabled = unsafe {
        vmnet_interface_set_event_callback(
            s.iface,
            VMNET_INTERFACE_PACKETS_AVAILABLE,
            null_mut(),
            null_mut(),
        )
    };
    assert_eq!(disabled, VMNET_SUCCESS);
    let (block, rx) = status_block();
    // SAFETY: a running interface, a live queue and a status block.
    let scheduled =
        unsafe { vmnet_stop_interface(s.iface, s.queue.cast(), RcBlock::as_ptr(&block).cast()) };
    assert_eq!(scheduled, VMNET_SUCCESS);
    drop(block);
    assert_eq!(rx.recv_timeout(WAIT), Ok(VMNET_SUCCESS));
    release_queue(s.queue);
}

fn frame(dst: [u8; 6], src: [u8; 6], len: usize, fill: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(len, fill);
    f
}

/// `vmnet_read` or `vmnet_write`.
type Transfer = unsafe extern "C" fn(interface_ref, *mut vmpktdesc, *mut c_int) -> u32;

/// Calls `f` (`vmnet_read` or `vmnet_write`) with one descriptor per buffer, each over its
/// whole buffer (one iovec); returns (status, count, the sizes the descriptors hold after).
fn transfer(f: Transfer, iface: interface_ref, bufs: &mut [Vec<u8>]) -> (u32, c_int, Vec<usize>) {
    let mut iovs: Vec<iovec> = bufs
        .iter_mut()
        .map(|b| iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    let mut descs: Vec<vmpktdesc> = iovs
        .iter_mut()
        .map(|iov| vmpktdesc {
            vm_pkt_size: iov.iov_len,
            vm_pkt_iov: iov,
            vm_pkt_iovcnt: 1,
            vm_flags: 0,
        })
        .collect();
    let mut n = descs.len() as c_int;
    // SAFETY: descriptors, iovecs and buffers valid for `n` packets.
    let status = unsafe { f(iface, descs.as_mut_ptr(), &mut n) };
    (status, n, descs.iter().map(|d| d.vm_pkt_size).collect())
}

/// Writes `frames` (one iovec each); returns (status, count).
fn write(iface: interface_ref, frames: &mut [Vec<u8>]) -> (u32, c_int) {
    let (status, n, _) = transfer(vmnet_write, iface, frames);
    (status, n)
}

/// Reads into `count` buffers of `size` bytes; returns (status, frames read).
fn read(iface: interface_ref, count: usize, size: usize) -> (u32, Vec<Vec<u8>>) {
    let mut bufs = vec![vec![0u8; size]; count];
    let (status, n, sizes) = transfer(vmnet_read, iface, &mut bufs);
    let frames = (0..n as usize)
        .map(|i| bufs[i][..sizes[i]].to_vec())
        .collect();
    (status, frames)
}

/// Reads until a frame arrives (or the deadline).
fn read_one(iface: interface_ref, size: usize) -> Option<Vec<u8>> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let (status, mut frames) = read(iface, 1, size);
        assert_eq!(status, VMNET_SUCCESS);
        if let Some(f) = frames.pop() {
            return Some(f);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn xpc_dictionary_round_trip_and_type_mismatches() {
    let _s = serial();
    let d = dict();
    set_u64(d, &vmnet_mtu_key, 9000);
    set_bool(d, &vmnet_enable_tso_key, true);
    set_str(d, &vmnet_mac_address_key, "02:00:00:00:00:01");
    let uuid = [7u8; 16];
    // SAFETY: a live dictionary, key symbols, 16 bytes.
    unsafe {
        xpc_dictionary_set_uuid(d, key(&vmnet_interface_id_key), uuid.as_ptr());
        assert_eq!(xpc_dictionary_get_count(d), 4);
        assert_eq!(xpc_dictionary_get_uint64(d, key(&vmnet_mtu_key)), 9000);
        assert!(xpc_dictionary_get_bool(d, key(&vmnet_enable_tso_key)));
        let s = xpc_dictionary_get_string(d, key(&vmnet_mac_address_key));
        assert_eq!(CStr::from_ptr(s), c"02:00:00:00:00:01");
        assert_eq!(
            *xpc_dictionary_get_uuid(d, key(&vmnet_interface_id_key)).cast::<[u8; 16]>(),
            uuid
        );
        // Mismatches: 0, false, NULL.
        assert_eq!(xpc_dictionary_get_uint64(d, key(&vmnet_mac_address_key)), 0);
        assert!(!xpc_dictionary_get_bool(d, key(&vmnet_mtu_key)));
        assert!(xpc_dictionary_get_string(d, key(&vmnet_mtu_key)).is_null());
        assert!(xpc_dictionary_get_uuid(d, key(&vmnet_mtu_key)).is_null());
        assert!(xpc_dictionary_get_value(d, c"absent".as_ptr()).is_null());
        assert_eq!(xpc_array_get_count(d), 0);
        let v = xpc_dictionary_get_value(d, key(&vmnet_mtu_key));
        assert_eq!(xpc_get_type(v), vmnet_sys::xpc_type_uint64());
        assert!(xpc_string_get_string_ptr(v).is_null());
        // Setting again replaces (and releases) the old value.
        xpc_dictionary_set_uint64(d, key(&vmnet_mtu_key), 1500);
        assert_eq!(xpc_dictionary_get_uint64(d, key(&vmnet_mtu_key)), 1500);
        assert_eq!(xpc_dictionary_get_count(d), 4);
        // create() retains the values it is given.
        let keys = [key(&vmnet_mtu_key)];
        let vals = [xpc_dictionary_get_value(d, key(&vmnet_mtu_key))];
        let d2 = xpc_dictionary_create(keys.as_ptr(), vals.as_ptr(), 1);
        release(d);
        assert_eq!(xpc_dictionary_get_uint64(d2, key(&vmnet_mtu_key)), 1500);
        release(d2);
    }
    wait_all_released();
}

#[test]
fn xpc_arrays_and_the_shared_interface_list() {
    let _s = serial();
    let list = vmnet_copy_shared_interface_list();
    // SAFETY: a live array the test owns.
    unsafe {
        assert_eq!(xpc_get_type(list), vmnet_sys::xpc_type_array());
        assert_eq!(xpc_array_get_count(list), 2);
        assert_eq!(CStr::from_ptr(xpc_array_get_string(list, 0)), c"en0");
        assert_eq!(CStr::from_ptr(xpc_array_get_string(list, 1)), c"en1");
        let copy = xpc_array_create(std::ptr::null(), 0);
        xpc_array_append_value(copy, xpc_array_get_value(list, 1));
        release(list);
        assert_eq!(CStr::from_ptr(xpc_array_get_string(copy, 0)), c"en1");
        release(copy);
    }
    wait_all_released();
}

#[test]
fn released_objects_are_poisoned_and_a_retain_keeps_them() {
    let _s = serial();
    let d = dict();
    set_str(d, &vmnet_mac_address_key, "hello");
    // SAFETY: live objects until released below; the string pointer stays readable
    // (quarantine) after.
    unsafe {
        let s = xpc_dictionary_get_value(d, key(&vmnet_mac_address_key));
        let chars = xpc_string_get_string_ptr(s);
        xpc_retain(s);
        release(d);
        assert_eq!(CStr::from_ptr(chars), c"hello", "retained: still alive");
        assert!(!Obj::get(s, "test").is_dead());
        release(s);
        assert_eq!(
            CStr::from_ptr(chars),
            c"<rele",
            "poisoned, still NUL-terminated"
        );
    }
    wait_all_released();
}

#[test]
fn use_after_release_aborts() {
    expect_abort(
        "use_after_release_aborts",
        "xpc_dictionary_get_value on a released dictionary (use after release)",
        || {
            let d = dict();
            release(d);
            // SAFETY: deliberately not: the dictionary is dead.
            unsafe { xpc_dictionary_get_value(d, key(&vmnet_mtu_key)) };
        },
    );
}

#[test]
fn over_release_aborts() {
    expect_abort("over_release_aborts", "over-release", || {
        let q = queue(c"over");
        release_queue(q);
        // The queue is dead now: the message names it.
        release_queue(q);
    });
}

#[test]
fn xpc_over_release_aborts() {
    expect_abort(
        "xpc_over_release_aborts",
        "xpc_release: dictionary released more often than retained (over-release)",
        || {
            let d = dict();
            release(d);
            release(d);
        },
    );
}

#[test]
fn foreign_pointers_abort() {
    expect_abort(
        "foreign_pointers_abort",
        "not an XPC object of the stand-in",
        || {
            let mut not_an_object = 0u64;
            release((&raw mut not_an_object).cast());
        },
    );
}

#[test]
fn queues_run_work_in_order_on_their_own_thread_and_end_when_released() {
    let _s = serial();
    let q = queue(c"order");
    let seen: &'static Mutex<Vec<(usize, std::thread::ThreadId)>> = Box::leak(Box::default());
    unsafe extern "C" fn push(context: *mut c_void) {
        // SAFETY: the context is a leaked `(index, &Mutex)` box made below.
        let (i, seen) = *unsafe {
            Box::from_raw(context.cast::<(usize, &Mutex<Vec<(usize, std::thread::ThreadId)>>)>())
        };
        std::thread::sleep(Duration::from_micros(200));
        seen.lock().unwrap().push((i, std::thread::current().id()));
    }
    for i in 0..20usize {
        let context = Box::into_raw(Box::new((i, seen))).cast();
        // SAFETY: a live queue; `push` takes its context.
        unsafe { dispatch_async_f(q, context, Some(push)) };
    }
    // Asynchronous: dispatch_async_f returned before the work ran.
    assert!(seen.lock().unwrap().len() < 20);
    // dispatch_sync_f waits for everything queued before it.
    let context = Box::into_raw(Box::new((20usize, seen))).cast();
    // SAFETY: as above.
    unsafe { dispatch_sync_f(q, context, Some(push)) };
    let seen_now = seen.lock().unwrap().clone();
    assert_eq!(
        seen_now.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..=20).collect::<Vec<_>>()
    );
    assert!(seen_now.iter().all(|(_, t)| *t == seen_now[0].1));
    assert_ne!(seen_now[0].1, std::thread::current().id());
    // Pending work keeps a released queue alive.
    // SAFETY: a live queue; retain/release pair.
    unsafe {
        dispatch_retain(q);
        dispatch_release(q);
    }
    let context = Box::into_raw(Box::new((21usize, seen))).cast();
    // SAFETY: as above.
    unsafe { dispatch_async_f(q, context, Some(push)) };
    release_queue(q);
    wait_all_released();
    assert_eq!(seen.lock().unwrap().len(), 22);
}

#[test]
fn dispatch_sync_on_the_current_queue_aborts() {
    expect_abort(
        "dispatch_sync_on_the_current_queue_aborts",
        "deadlocks",
        || {
            let q = queue(c"self");
            unsafe extern "C" fn again(context: *mut c_void) {
                unsafe extern "C" fn nothing(_: *mut c_void) {}
                // SAFETY: `context` is the queue itself.
                unsafe { dispatch_sync_f(context, null_mut(), Some(nothing)) };
            }
            // SAFETY: a live queue.
            unsafe { dispatch_sync_f(q, q, Some(again)) };
        },
    );
}

#[test]
fn start_completes_asynchronously_with_vmnet_like_parameters() {
    let _s = serial();
    let desc = dict();
    set_u64(desc, &vmnet_operation_mode_key, VMNET_SHARED_MODE.into());
    let q = queue(c"start");
    let (block, rx) = start_block();
    // SAFETY: a live description, queue and block.
    let iface = unsafe { vmnet_start_interface(desc, q.cast(), RcBlock::as_ptr(&block).cast()) };
    assert!(!iface.is_null());
    // Not synchronous: nothing arrived during the call.
    assert!(rx.try_recv().is_err());
    let ((status, params), thread) = rx.recv_timeout(WAIT).unwrap();
    release(desc);
    drop(block);
    assert_eq!(status, VMNET_SUCCESS);
    assert_ne!(thread, std::thread::current().id());
    let p = params.unwrap();
    let mac = p.mac();
    assert_eq!(mac[0] & 0x03, 0x02, "locally administered unicast");
    assert_eq!(p.get(&vmnet_mtu_key), Some("1500"));
    assert_eq!(p.get(&vmnet_max_packet_size_key), Some("1514"));
    assert_eq!(p.get(&vmnet_start_address_key), Some("192.168.105.1"));
    assert_eq!(p.get(&vmnet_end_address_key), Some("192.168.105.254"));
    assert_eq!(p.get(&vmnet_subnet_mask_key), Some("255.255.255.0"));
    assert!(p.get(&vmnet_nat66_prefix_key).unwrap().starts_with("fd"));
    assert!(p.get(&vmnet_interface_id_key).is_some());
    #[cfg(feature = "macos-15")]
    assert_eq!(p.get(&vmnet_read_max_packets_key), Some("256"));
    assert_eq!(vmnet_standin_live(LIVE_INTERFACES), 1);
    stop(Started {
        iface,
        queue: q,
        params: p,
    });
    assert!(is_stopped(iface));
    wait_all_released();
}

#[test]
fn descriptions_are_validated_through_the_completion() {
    let _s = serial();
    let cases: Vec<Box<dyn Fn(*mut c_void)>> = vec![
        Box::new(|_| {}), // no mode
        Box::new(|d| set_u64(d, &vmnet_operation_mode_key, 7)),
        Box::new(|d| set_str(d, &vmnet_operation_mode_key, "shared")),
        Box::new(|d| {
            set_u64(
                d,
                &vmnet_operation_mode_key,
                vmnet_sys::VMNET_BRIDGED_MODE.into(),
            )
        }),
        Box::new(|d| {
            set_u64(
                d,
                &vmnet_operation_mode_key,
                vmnet_sys::VMNET_BRIDGED_MODE.into(),
            );
            set_str(d, &vmnet_shared_interface_name_key, "en7");
        }),
        Box::new(|d| {
            set_u64(
                d,
                &vmnet_operation_mode_key,
                vmnet_sys::VMNET_BRIDGED_MODE.into(),
            );
            set_str(d, &vmnet_shared_interface_name_key, "en0");
            set_u64(d, &vmnet_mtu_key, 1500);
        }),
        Box::new(|d| {
            set_u64(d, &vmnet_operation_mode_key, VMNET_HOST_MODE.into());
            set_str(d, &vmnet_start_address_key, "10.0.0.1");
        }),
    ];
    for (i, case) in cases.iter().enumerate() {
        let desc = dict();
        case(desc);
        let (_iface, q, (status, params)) = start_with(desc);
        assert_eq!(status, VMNET_INVALID_ARGUMENT, "case {i}");
        assert!(params.is_none());
        release(desc);
        release_queue(q);
    }
    // Bridged with a bridgeable name works and reports no address range.
    let desc = dict();
    set_u64(
        desc,
        &vmnet_operation_mode_key,
        vmnet_sys::VMNET_BRIDGED_MODE.into(),
    );
    set_str(desc, &vmnet_shared_interface_name_key, "en1");
    let bridged = start_desc(desc);
    release(desc);
    assert!(bridged.params.get(&vmnet_start_address_key).is_none());
    stop(bridged);
    wait_all_released();
}

#[test]
fn configured_values_and_ids_show_in_the_parameters() {
    let _s = serial();
    let id = [0x42u8; 16];
    let desc = dict();
    set_u64(desc, &vmnet_operation_mode_key, VMNET_HOST_MODE.into());
    set_u64(desc, &vmnet_mtu_key, 9000);
    set_str(desc, &vmnet_start_address_key, "10.0.7.1");
    set_str(desc, &vmnet_end_address_key, "10.0.7.100");
    set_str(desc, &vmnet_subnet_mask_key, "255.255.255.0");
    // SAFETY: a live dictionary, a key symbol and 16 bytes.
    unsafe { xpc_dictionary_set_uuid(desc, key(&vmnet_interface_id_key), id.as_ptr()) };
    let configured = start_desc(desc);
    let params = &configured.params;
    assert_eq!(params.get(&vmnet_max_packet_size_key), Some("9014"));
    assert_eq!(params.get(&vmnet_end_address_key), Some("10.0.7.100"));
    assert!(params.get(&vmnet_nat66_prefix_key).is_none());
    assert_eq!(params.mac(), mac_for_id(&id));
    stop(configured);
    // The same id again: the same MAC.
    let (iface, queue, (_, params)) = start_with(desc);
    release(desc);
    let params = params.unwrap();
    assert_eq!(params.mac(), mac_for_id(&id));
    stop(Started {
        iface,
        queue,
        params,
    });
    // Host mode default range.
    let host = start(VMNET_HOST_MODE);
    assert_eq!(
        host.params.get(&vmnet_start_address_key),
        Some("192.168.106.1")
    );
    stop(host);
    wait_all_released();
}

#[test]
fn frames_are_switched_with_events_and_reads() {
    let _s = serial();
    let a = start(VMNET_SHARED_MODE);
    let b = start(VMNET_SHARED_MODE);
    let (tx, events) = channel();
    let callback = RcBlock::new(move |mask: u32, event: *mut c_void| {
        // SAFETY: the event dictionary is live during the callback.
        let n = unsafe {
            xpc_dictionary_get_uint64(event, key(&vmnet_estimated_packets_available_key))
        };
        let _ = tx.send((mask, n));
    });
    let eq = queue(c"events");
    // SAFETY: a running interface, a live queue and an event block.
    let status = unsafe {
        vmnet_interface_set_event_callback(
            b.iface,
            VMNET_INTERFACE_PACKETS_AVAILABLE,
            eq.cast(),
            RcBlock::as_ptr(&callback).cast(),
        )
    };
    assert_eq!(status, VMNET_SUCCESS);
    drop(callback);
    let mut frames = vec![
        frame(b.params.mac(), a.params.mac(), 60, 1),
        frame(b.params.mac(), a.params.mac(), 70, 2),
    ];
    assert_eq!(write(a.iface, &mut frames), (VMNET_SUCCESS, 2));
    let (mask, estimate) = events.recv_timeout(WAIT).unwrap();
    assert_eq!(mask, VMNET_INTERFACE_PACKETS_AVAILABLE);
    assert!((1..=2).contains(&estimate));
    // A buffer too small for the first frame: error, and the frame stays queued.
    let (status, got) = read(b.iface, 1, 59);
    assert_eq!((status, got.len()), (VMNET_INVALID_ARGUMENT, 0));
    // Read one: one is left, so another event comes.
    let (status, got) = read(b.iface, 1, 1514);
    assert_eq!(status, VMNET_SUCCESS);
    assert_eq!(got, vec![frames[0].clone()]);
    let (_, estimate) = events.recv_timeout(WAIT).unwrap();
    assert_eq!(estimate, 1);
    let (status, got) = read(b.iface, 4, 1514);
    assert_eq!((status, got), (VMNET_SUCCESS, vec![frames[1].clone()]));
    assert_eq!(read(b.iface, 4, 1514), (VMNET_SUCCESS, vec![]));
    // Unknown unicast goes to the host endpoint; broadcast to the host and b.
    let mut unknown = vec![frame([0x02, 9, 9, 9, 9, 9], a.params.mac(), 64, 3)];
    assert_eq!(write(a.iface, &mut unknown), (VMNET_SUCCESS, 1));
    let mut buf = [0u8; 100];
    assert_eq!(host_recv(&mut buf, 1000), 64);
    assert_eq!(&buf[..64], &unknown[0][..]);
    assert_eq!(host_recv(&mut buf, 10), -1);
    // The host sends to b.
    let mut host = [0u8; 6];
    // SAFETY: 6 writable bytes.
    unsafe { vmnet_standin_host_mac(host.as_mut_ptr()) };
    let from_host = frame(b.params.mac(), host, 80, 4);
    assert_eq!(host_send(&from_host), VMNET_SUCCESS);
    assert_eq!(read_one(b.iface, 1514), Some(from_host));
    // A frame too big for the host buffer stays queued.
    let mut bcast = vec![frame([0xff; 6], a.params.mac(), 200, 5)];
    assert_eq!(write(a.iface, &mut bcast), (VMNET_SUCCESS, 1));
    assert_eq!(host_recv(&mut buf, 1000), -2);
    let mut big = [0u8; 300];
    assert_eq!(host_recv(&mut big, 1000), 200);
    assert_eq!(read_one(b.iface, 1514), Some(bcast[0].clone()));
    stop(a);
    stop(b);
    release_queue(eq);
    wait_all_released();
}

#[test]
fn read_and_write_check_their_descriptors() {
    let _s = serial();
    let a = start(VMNET_SHARED_MODE);
    let max = a.params.max_packet();
    let mut frames = vec![frame([0xff; 6], a.params.mac(), 60, 0); PACKETS_PER_CALL + 1];
    assert_eq!(write(a.iface, &mut frames), (VMNET_TOO_MANY_PACKETS, 0));
    assert_eq!(
        read(a.iface, PACKETS_PER_CALL + 1, 64).0,
        VMNET_TOO_MANY_PACKETS
    );
    let mut big = vec![frame([0xff; 6], a.params.mac(), max + 1, 0)];
    assert_eq!(write(a.iface, &mut big), (VMNET_PACKET_TOO_BIG, 0));
    let mut ok = vec![frame([0xff; 6], a.params.mac(), max, 0)];
    assert_eq!(write(a.iface, &mut ok), (VMNET_SUCCESS, 1));
    // Runts are accepted and discarded.
    let before = vmnet_standin_runts();
    let mut runt = vec![vec![0u8; 10]];
    assert_eq!(write(a.iface, &mut runt), (VMNET_SUCCESS, 1));
    assert_eq!(vmnet_standin_runts(), before + 1);
    let mut buf = vec![0u8; 64];
    let mut iov = iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: 64,
    };
    let mut desc = vmpktdesc {
        vm_pkt_size: 64,
        vm_pkt_iov: &mut iov,
        vm_pkt_iovcnt: 1,
        vm_flags: 0,
    };
    let call = |f: Transfer, desc: &mut vmpktdesc, n: c_int| {
        let mut n = n;
        // SAFETY: one descriptor over a 64-byte buffer (or a rejected one).
        let status = unsafe { f(a.iface, desc, &mut n) };
        (status, n)
    };
    // The good descriptor with one thing wrong, or a bad count: (call, vm_pkt_size,
    // vm_pkt_iovcnt, vm_flags, count, what is wrong).
    let rejected: [(Transfer, usize, u32, u32, c_int, &str); 6] = [
        (vmnet_write, 63, 1, 0, 1, "size != iov_len"),
        (vmnet_read, 65, 1, 0, 1, "capacity > iovecs"),
        (vmnet_read, 64, 1, 1, 1, "flags not cleared"),
        (vmnet_read, 64, 0, 0, 1, "no iovec"),
        (vmnet_write, 64, 2, 0, 1, "two iovecs"),
        (vmnet_read, 64, 1, 0, -1, "negative count"),
    ];
    for (f, size, iovcnt, flags, n, wrong) in rejected {
        desc.vm_pkt_size = size;
        desc.vm_pkt_iovcnt = iovcnt;
        desc.vm_flags = flags;
        assert_eq!(
            call(f, &mut desc, n),
            (VMNET_INVALID_ARGUMENT, 0),
            "{wrong}"
        );
    }
    assert_eq!(call(vmnet_read, &mut desc, 0), (VMNET_SUCCESS, 0));
    let mut n = 1;
    // SAFETY: NULL descriptors are rejected before anything is read.
    let null_descriptors = unsafe { vmnet_read(a.iface, null_mut(), &mut n) };
    assert_eq!(null_descriptors, VMNET_INVALID_ARGUMENT);
    // The fault: one read reports exhausted buffers.
    vmnet_standin_fault(FAULT_READ_BUFFER_EXHAUSTED, 0);
    assert_eq!(
        call(vmnet_read, &mut desc, 1),
        (vmnet_sys::VMNET_BUFFER_EXHAUSTED, 0)
    );
    assert_eq!(call(vmnet_read, &mut desc, 1), (VMNET_SUCCESS, 0));
    // The fault: a partial write.
    vmnet_standin_fault(FAULT_WRITE_PARTIAL, 1);
    let mut two = vec![frame([0xff; 6], a.params.mac(), 60, 0); 2];
    assert_eq!(write(a.iface, &mut two), (VMNET_SUCCESS, 1));
    stop(a);
    wait_all_released();
}

#[cfg(feature = "macos-15-4")]
#[test]
fn the_virtio_header_is_added_on_read_and_stripped_on_write() {
    let _s = serial();
    let desc = dict();
    set_u64(desc, &vmnet_operation_mode_key, VMNET_SHARED_MODE.into());
    set_bool(desc, &vmnet_enable_virtio_header_key, true);
    let v = start_desc(desc);
    assert_eq!(v.params.max_packet(), 1514, "the header is not counted");
    let plain = start(VMNET_SHARED_MODE);
    let f = frame(v.params.mac(), plain.params.mac(), 1514, 7);
    assert_eq!(write(plain.iface, &mut [f.clone()]), (VMNET_SUCCESS, 1));
    let got = read_one(v.iface, 1526).unwrap();
    assert_eq!(got.len(), 1526);
    assert_eq!(&got[..12], &[0; 12]);
    assert_eq!(&got[12..], &f[..]);
    let mut with_header = vec![[0u8; 12].to_vec()];
    with_header[0].extend_from_slice(&frame(plain.params.mac(), v.params.mac(), 1514, 8));
    assert_eq!(write(v.iface, &mut with_header), (VMNET_SUCCESS, 1));
    assert_eq!(read_one(plain.iface, 1514).unwrap(), &with_header[0][12..]);
    let mut too_big = vec![vec![0u8; 1527]];
    assert_eq!(write(v.iface, &mut too_big), (VMNET_PACKET_TOO_BIG, 0));
    // With checksum offload: refused.
    set_bool(desc, &vmnet_enable_checksum_offload_key, true);
    let (_bad, q, (status, _)) = start_with(desc);
    assert_eq!(status, VMNET_INVALID_ARGUMENT);
    release_queue(q);
    release(desc);
    stop(v);
    stop(plain);
    wait_all_released();
}

#[test]
fn isolated_interfaces_do_not_reach_each_other() {
    let _s = serial();
    let isolated = || {
        let desc = dict();
        set_u64(desc, &vmnet_operation_mode_key, VMNET_SHARED_MODE.into());
        set_bool(desc, &vmnet_enable_isolation_key, true);
        let started = start_desc(desc);
        release(desc);
        started
    };
    let (a, b, c) = (isolated(), isolated(), start(VMNET_SHARED_MODE));
    assert_eq!(
        write(a.iface, &mut [frame(b.params.mac(), a.params.mac(), 60, 0)]),
        (VMNET_SUCCESS, 1)
    );
    assert_eq!(
        write(a.iface, &mut [frame(c.params.mac(), a.params.mac(), 61, 0)]),
        (VMNET_SUCCESS, 1)
    );
    assert_eq!(read_one(c.iface, 1514).map(|f| f.len()), Some(61));
    assert_eq!(read(b.iface, 1, 1514), (VMNET_SUCCESS, vec![]));
    stop(a);
    stop(b);
    stop(c);
    wait_all_released();
}

#[test]
fn port_forwarding_rules_round_trip() {
    let _s = serial();
    let a = start(VMNET_SHARED_MODE);
    let add = |proto: u8, ext: u16, int: u16| {
        let (block, rx) = status_block();
        let address = vmnet_sys::in_addr {
            s_addr: u32::from_ne_bytes([192, 168, 105, 2]),
        };
        // SAFETY: a running interface and a status block.
        let r = unsafe {
            vmnet_interface_add_port_forwarding_rule(
                a.iface,
                proto,
                ext,
                address,
                int,
                RcBlock::as_ptr(&block).cast(),
            )
        };
        assert_eq!(r, VMNET_SUCCESS);
        rx.recv_timeout(WAIT).unwrap()
    };
    assert_eq!(add(6, 8080, 80), VMNET_SUCCESS);
    assert_eq!(add(6, 8080, 81), VMNET_INVALID_ARGUMENT, "duplicate");
    assert_eq!(add(17, 8080, 80), VMNET_SUCCESS);
    assert_eq!(add(1, 9, 9), VMNET_INVALID_ARGUMENT, "protocol");
    assert_eq!(add(6, 0, 9), VMNET_INVALID_ARGUMENT, "port");
    let list = || {
        let (tx, rx) = channel();
        let block = RcBlock::new(move |rules: *mut c_void| {
            let mut out = Vec::new();
            if !rules.is_null() {
                // SAFETY: the array is live during the handler.
                unsafe {
                    for i in 0..xpc_array_get_count(rules) {
                        let (mut p, mut e, mut ip, mut port) =
                            (0u8, 0u16, vmnet_sys::in_addr::default(), 0u16);
                        let s = vmnet_port_forwarding_rule_get_details(
                            xpc_array_get_value(rules, i),
                            &mut p,
                            &mut e,
                            &mut ip,
                            &mut port,
                        );
                        assert_eq!(s, VMNET_SUCCESS);
                        out.push((p, e, ip.s_addr.to_ne_bytes(), port));
                    }
                }
            }
            let _ = tx.send((rules.is_null(), out));
        });
        // SAFETY: a running interface and a rules block.
        let r = unsafe {
            vmnet_interface_get_port_forwarding_rules(a.iface, RcBlock::as_ptr(&block).cast())
        };
        assert_eq!(r, VMNET_SUCCESS);
        rx.recv_timeout(WAIT).unwrap()
    };
    let (null, rules) = list();
    assert!(!null);
    assert_eq!(
        rules,
        vec![
            (6, 8080, [192, 168, 105, 2], 80),
            (17, 8080, [192, 168, 105, 2], 80)
        ]
    );
    let remove = |proto: u8, ext: u16| {
        let (block, rx) = status_block();
        // SAFETY: a running interface and a status block.
        let r = unsafe {
            vmnet_interface_remove_port_forwarding_rule(
                a.iface,
                proto,
                ext,
                RcBlock::as_ptr(&block).cast(),
            )
        };
        assert_eq!(r, VMNET_SUCCESS);
        rx.recv_timeout(WAIT).unwrap()
    };
    assert_eq!(remove(6, 8080), VMNET_SUCCESS);
    assert_eq!(remove(6, 8080), VMNET_INVALID_ARGUMENT, "absent");
    assert_eq!(remove(17, 8080), VMNET_SUCCESS);
    assert_eq!(list(), (true, vec![]), "none: NULL");
    vmnet_standin_fault(FAULT_FORWARDING_FAILS, u64::from(vmnet_sys::VMNET_FAILURE));
    assert_eq!(add(6, 22, 22), vmnet_sys::VMNET_FAILURE);
    #[cfg(feature = "macos-12")]
    {
        let (block, rx) = status_block();
        let v6 = std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets();
        // SAFETY: a running interface, an in6_addr's bytes and a status block.
        let r = unsafe {
            vmnet_interface_add_ip_port_forwarding_rule(
                a.iface,
                6,
                443,
                vmnet_sys::AF_INET6,
                v6.as_ptr().cast(),
                4443,
                RcBlock::as_ptr(&block).cast(),
            )
        };
        assert_eq!(
            (r, rx.recv_timeout(WAIT).unwrap()),
            (VMNET_SUCCESS, VMNET_SUCCESS)
        );
        let (tx, rx) = channel();
        let block = RcBlock::new(move |rules: *mut c_void| {
            // SAFETY: the array is live during the handler.
            unsafe {
                let rule = xpc_array_get_value(rules, 0);
                let (mut p, mut e, mut port) = (0u8, 0u16, 0u16);
                let mut addr = [0u8; 16];
                let wrong = vmnet_ip_port_forwarding_rule_get_details(
                    rule,
                    &mut p,
                    &mut e,
                    vmnet_sys::AF_INET,
                    addr.as_mut_ptr().cast(),
                    &mut port,
                );
                let s = vmnet_ip_port_forwarding_rule_get_details(
                    rule,
                    &mut p,
                    &mut e,
                    vmnet_sys::AF_INET6,
                    addr.as_mut_ptr().cast(),
                    &mut port,
                );
                let _ = tx.send((wrong, s, p, e, addr, port, xpc_array_get_count(rules)));
            }
        });
        // SAFETY: a running interface and a rules block.
        let r = unsafe {
            vmnet_interface_get_ip_port_forwarding_rules(
                a.iface,
                vmnet_sys::AF_INET6,
                RcBlock::as_ptr(&block).cast(),
            )
        };
        assert_eq!(r, VMNET_SUCCESS);
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap(),
            (VMNET_INVALID_ARGUMENT, VMNET_SUCCESS, 6, 443, v6, 4443, 1)
        );
    }
    stop(a);
    wait_all_released();
}

#[test]
fn a_stop_with_the_event_callback_registered_never_completes() {
    let _s = serial();
    let a = start(VMNET_SHARED_MODE);
    let callback = RcBlock::new(|_: u32, _: *mut c_void| {});
    // SAFETY: a running interface, a live queue and an event block.
    unsafe {
        vmnet_interface_set_event_callback(
            a.iface,
            VMNET_INTERFACE_PACKETS_AVAILABLE,
            a.queue.cast(),
            RcBlock::as_ptr(&callback).cast(),
        );
    }
    drop(callback);
    let (block, rx) = status_block();
    // SAFETY: a running interface, a live queue and a status block.
    let r =
        unsafe { vmnet_stop_interface(a.iface, a.queue.cast(), RcBlock::as_ptr(&block).cast()) };
    drop(block);
    assert_eq!(r, VMNET_SUCCESS);
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "hung");
    assert_eq!(vmnet_standin_live(LIVE_INTERFACES), 1);
    vmnet_standin_reset();
    assert!(
        rx.try_recv().is_err(),
        "the handler is released, never called"
    );
    release_queue(a.queue);
    wait_all_released();
}

#[test]
fn start_faults() {
    let _s = serial();
    let desc = dict();
    set_u64(desc, &vmnet_operation_mode_key, VMNET_SHARED_MODE.into());
    let q = queue(c"faults");
    // Fails with a status.
    vmnet_standin_fault(
        FAULT_START_FAILS,
        u64::from(vmnet_sys::VMNET_INVALID_ACCESS),
    );
    let (_dead, q2, (status, params)) = start_with(desc);
    assert_eq!(
        (status, params.is_none()),
        (vmnet_sys::VMNET_INVALID_ACCESS, true)
    );
    release_queue(q2);
    // Returns NULL.
    vmnet_standin_fault(FAULT_START_RETURNS_NULL, 0);
    let (block, rx) = start_block();
    // SAFETY: a live description, queue and block.
    let iface = unsafe { vmnet_start_interface(desc, q.cast(), RcBlock::as_ptr(&block).cast()) };
    assert!(iface.is_null());
    // Late.
    vmnet_standin_fault(FAULT_LATE_COMPLETION, 150);
    let begun = Instant::now();
    // SAFETY: as above.
    let iface = unsafe { vmnet_start_interface(desc, q.cast(), RcBlock::as_ptr(&block).cast()) };
    let ((status, params), _) = rx.recv_timeout(WAIT).unwrap();
    assert!(begun.elapsed() >= Duration::from_millis(150));
    assert_eq!(status, VMNET_SUCCESS);
    // Reading before... not applicable; stop it.
    stop(Started {
        iface,
        queue: queue(c"stop"),
        params: params.unwrap(),
    });
    // Never: the block is held until reset.
    vmnet_standin_fault(FAULT_NEVER_COMPLETES, 0);
    // SAFETY: as above.
    let iface = unsafe { vmnet_start_interface(desc, q.cast(), RcBlock::as_ptr(&block).cast()) };
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    assert_eq!(read(iface, 1, 64).0, VMNET_SETUP_INCOMPLETE);
    drop(block);
    vmnet_standin_reset();
    release(desc);
    release_queue(q);
    wait_all_released();
}

#[test]
fn a_stopped_interface_aborts_on_use() {
    expect_abort(
        "a_stopped_interface_aborts_on_use",
        "on a stopped interface",
        || {
            let _s = serial();
            let a = start(VMNET_SHARED_MODE);
            let iface = a.iface;
            stop(a);
            let _ = read(iface, 1, 64);
        },
    );
}

#[test]
fn a_second_stop_aborts() {
    expect_abort("a_second_stop_aborts", "called twice", || {
        let _s = serial();
        let a = start(VMNET_SHARED_MODE);
        let iface = a.iface;
        let q = queue(c"again");
        stop(a);
        let (block, _rx) = status_block();
        // SAFETY: deliberately not: the interface is stopped.
        unsafe { vmnet_stop_interface(iface, q.cast(), RcBlock::as_ptr(&block).cast()) };
    });
}

#[test]
fn stopping_inside_the_start_handler_aborts() {
    expect_abort(
        "stopping_inside_the_start_handler_aborts",
        "inside a start completion handler",
        || {
            let _s = serial();
            let desc = dict();
            set_u64(desc, &vmnet_operation_mode_key, VMNET_SHARED_MODE.into());
            let q = queue(c"inside");
            let slot: &'static Mutex<usize> = Box::leak(Box::default());
            let block = RcBlock::new(move |_: u32, _: *mut c_void| {
                let iface = *slot.lock().unwrap() as interface_ref;
                let stop_block = RcBlock::new(|_: u32| {});
                // SAFETY: deliberately inside the start handler.
                unsafe {
                    vmnet_stop_interface(iface, q.cast(), RcBlock::as_ptr(&stop_block).cast())
                };
            });
            vmnet_standin_fault(FAULT_LATE_COMPLETION, 50);
            // SAFETY: a live description, queue and block.
            let iface =
                unsafe { vmnet_start_interface(desc, q.cast(), RcBlock::as_ptr(&block).cast()) };
            *slot.lock().unwrap() = iface as usize;
            std::thread::sleep(WAIT);
        },
    );
}

#[test]
fn releasing_the_description_before_the_completion_aborts() {
    expect_abort(
        "releasing_the_description_before_the_completion_aborts",
        "description must stay alive",
        || {
            let _s = serial();
            let desc = dict();
            set_u64(desc, &vmnet_operation_mode_key, VMNET_SHARED_MODE.into());
            let q = queue(c"early");
            let (block, _rx) = start_block();
            vmnet_standin_fault(FAULT_LATE_COMPLETION, 50);
            // SAFETY: a live description, queue and block.
            unsafe { vmnet_start_interface(desc, q.cast(), RcBlock::as_ptr(&block).cast()) };
            release(desc);
            std::thread::sleep(WAIT);
        },
    );
}

#[test]
fn the_event_during_stop_fault_calls_the_old_callback_before_the_stop_completes() {
    let _s = serial();
    let a = start(VMNET_SHARED_MODE);
    let (tx, rx) = channel();
    let events = tx.clone();
    let callback = RcBlock::new(move |_: u32, _: *mut c_void| {
        let _ = events.send("event");
    });
    let eq = queue(c"late-events");
    // SAFETY: a running interface, a live queue and an event block.
    unsafe {
        vmnet_interface_set_event_callback(
            a.iface,
            VMNET_INTERFACE_PACKETS_AVAILABLE,
            eq.cast(),
            RcBlock::as_ptr(&callback).cast(),
        );
    }
    drop(callback);
    vmnet_standin_fault(FAULT_EVENT_DURING_STOP, 0);
    // SAFETY: disabling events on a running interface.
    unsafe { vmnet_interface_set_event_callback(a.iface, 0, null_mut(), null_mut()) };
    let block = RcBlock::new(move |_: u32| {
        let _ = tx.send("stopped");
    });
    // SAFETY: a running interface, a live queue and a status block.
    unsafe { vmnet_stop_interface(a.iface, a.queue.cast(), RcBlock::as_ptr(&block).cast()) };
    drop(block);
    assert_eq!(rx.recv_timeout(WAIT), Ok("event"));
    assert_eq!(rx.recv_timeout(WAIT), Ok("stopped"));
    release_queue(a.queue);
    release_queue(eq);
    wait_all_released();
}

#[test]
fn the_level_is_reported() {
    let level = vmnet_standin_level();
    // SAFETY: a static C string.
    let level = unsafe { CStr::from_ptr(level) };
    let expected = if cfg!(feature = "macos-26") {
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
    assert_eq!(level, expected);
}

#[cfg(feature = "macos-26")]
mod networks {
    use super::*;
    use crate::network::*;
    use vmnet_sys::{in_addr, in6_addr};

    fn v4(a: [u8; 4]) -> in_addr {
        in_addr {
            s_addr: u32::from_ne_bytes(a),
        }
    }

    #[test]
    fn configurations_validate_and_networks_share_a_segment() {
        let _s = serial();
        let mut status = 0;
        // SAFETY: every call below passes live objects and valid pointers.
        unsafe {
            assert!(
                vmnet_network_configuration_create(vmnet_sys::VMNET_BRIDGED_MODE, &mut status)
                    .is_null()
            );
            assert_eq!(status, VMNET_INVALID_ARGUMENT);
            let cfg = vmnet_network_configuration_create(VMNET_SHARED_MODE, &mut status);
            assert_eq!(status, VMNET_SUCCESS);
            assert_eq!(
                vmnet_network_configuration_set_external_interface(cfg, c"en0".as_ptr()),
                VMNET_SUCCESS
            );
            assert_eq!(
                vmnet_network_configuration_set_external_interface(cfg, c"en9".as_ptr()),
                VMNET_INVALID_ARGUMENT
            );
            let mask = v4([255, 255, 255, 0]);
            assert_eq!(
                vmnet_network_configuration_set_ipv4_subnet(cfg, &v4([192, 168, 77, 0]), &mask),
                VMNET_INVALID_ARGUMENT
            );
            assert_eq!(
                vmnet_network_configuration_set_ipv4_subnet(
                    cfg,
                    &v4([192, 168, 77, 1]),
                    &v4([255, 0, 255, 0])
                ),
                VMNET_INVALID_ARGUMENT
            );
            assert_eq!(
                vmnet_network_configuration_set_ipv4_subnet(cfg, &v4([192, 168, 77, 1]), &mask),
                VMNET_SUCCESS
            );
            let prefix: in6_addr = std::mem::transmute(
                std::net::Ipv6Addr::new(0xfd12, 0x3456, 0x789a, 1, 0, 0, 0, 0).octets(),
            );
            assert_eq!(
                vmnet_network_configuration_set_ipv6_prefix(cfg, &prefix, 64),
                VMNET_SUCCESS
            );
            assert_eq!(
                vmnet_network_configuration_set_ipv6_prefix(cfg, &prefix, 96),
                VMNET_INVALID_ARGUMENT
            );
            assert_eq!(
                vmnet_network_configuration_set_mtu(cfg, 9000),
                VMNET_SUCCESS
            );
            assert_eq!(
                vmnet_network_configuration_set_mtu(cfg, 100),
                VMNET_INVALID_ARGUMENT
            );
            let addr = v4([192, 168, 77, 10]);
            assert_eq!(
                vmnet_network_configuration_add_port_forwarding_rule(
                    cfg,
                    6,
                    vmnet_sys::AF_INET,
                    80,
                    8080,
                    (&raw const addr).cast()
                ),
                VMNET_SUCCESS
            );
            assert_eq!(
                vmnet_network_configuration_add_port_forwarding_rule(
                    cfg,
                    6,
                    vmnet_sys::AF_INET,
                    81,
                    8080,
                    (&raw const addr).cast()
                ),
                VMNET_INVALID_ARGUMENT
            );
            let client = vmnet_sys::ether_addr {
                octet: [2, 0, 0, 0, 0, 9],
            };
            assert_eq!(
                vmnet_network_configuration_add_dhcp_reservation(cfg, &client, &addr),
                VMNET_SUCCESS
            );
            assert_eq!(
                vmnet_network_configuration_add_dhcp_reservation(
                    cfg,
                    &client,
                    &v4([192, 168, 77, 11])
                ),
                VMNET_INVALID_ARGUMENT
            );
            vmnet_network_configuration_disable_dhcp(cfg);
            vmnet_standin_fault(FAULT_NETWORK_FAILS, u64::from(vmnet_sys::VMNET_FAILURE));
            assert_eq!(
                vmnet_network_configuration_set_mtu(cfg, 1500),
                vmnet_sys::VMNET_FAILURE
            );

            let net = vmnet_network_create(cfg, &mut status);
            assert_eq!(status, VMNET_SUCCESS);
            vmnet_sys::CFRelease(cfg.cast_const().cast());
            let (mut subnet, mut m) = (v4([0; 4]), v4([0; 4]));
            vmnet_network_get_ipv4_subnet(net, &mut subnet, &mut m);
            assert_eq!(
                (subnet.s_addr.to_ne_bytes(), m.s_addr.to_ne_bytes()),
                ([192, 168, 77, 0], [255, 255, 255, 0])
            );
            let mut len = 0;
            let mut p = in6_addr::default();
            vmnet_network_get_ipv6_prefix(net, &mut p, &mut len);
            assert_eq!(len, 64);

            let ser = vmnet_network_copy_serialization(net, &mut status);
            let again = vmnet_network_create_with_serialization(ser, &mut status);
            assert_eq!((again, status), (net, VMNET_SUCCESS));
            vmnet_sys::CFRelease(again.cast_const().cast());

            // Two interfaces on the network reach each other; the default segment sees nothing.
            let start_on = |desc: *mut c_void| {
                let q = queue(c"net");
                let (block, rx) = start_block();
                let iface = vmnet_interface_start_with_network(
                    net,
                    desc,
                    q.cast(),
                    RcBlock::as_ptr(&block).cast(),
                );
                let ((status, params), _) = rx.recv_timeout(WAIT).unwrap();
                assert_eq!(status, VMNET_SUCCESS);
                Started {
                    iface,
                    queue: q,
                    params: params.unwrap(),
                }
            };
            let desc = dict();
            set_u64(desc, &vmnet_mtu_key, 1500); // not honoured: the network's MTU wins
            let a = start_on(desc);
            let b = start_on(desc);
            release(desc);
            assert_eq!(a.params.get(&vmnet_mtu_key), Some("9000"));
            assert_eq!(a.params.get(&vmnet_start_address_key), Some("192.168.77.1"));
            assert_eq!(a.params.get(&vmnet_end_address_key), Some("192.168.77.254"));
            // The interfaces retain the network.
            vmnet_sys::CFRelease(net.cast_const().cast());
            assert_eq!(vmnet_standin_live(LIVE_CF), 1);
            assert_eq!(
                write(a.iface, &mut [frame([0xff; 6], a.params.mac(), 60, 1)]),
                (VMNET_SUCCESS, 1)
            );
            assert_eq!(read_one(b.iface, 9014).map(|f| f.len()), Some(60));
            let mut buf = [0u8; 100];
            assert_eq!(vmnet_standin_host_recv(buf.as_mut_ptr(), 100, 20), -1);
            stop(a);
            stop(b);
            // The network is gone: its serialization finds nothing.
            assert!(vmnet_network_create_with_serialization(ser, &mut status).is_null());
            assert_eq!(status, VMNET_INVALID_ARGUMENT);
            release(ser);
        }
        wait_all_released();
    }

    #[test]
    fn cf_release_of_a_foreign_pointer_aborts() {
        expect_abort(
            "networks::cf_release_of_a_foreign_pointer_aborts",
            "not an object the stand-in made",
            || {
                let x = 0u64;
                // SAFETY: deliberately not a CF object.
                unsafe { vmnet_sys::CFRelease((&raw const x).cast()) };
            },
        );
    }
}

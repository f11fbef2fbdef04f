//! The libdispatch pieces the Rust side uses: serial queues, retain/release, sync and async
//! submission (function and block forms).
//!
//! A queue is one thread running work items in FIFO order. Each item holds a reference to
//! its queue until it has run, so a queue lives while work is pending; when the last
//! reference goes (the queue is then empty), the thread exits and the queue is dead. Dead
//! queues are never freed: they stay in a quarantine so that any later use is recognised and
//! aborts. Pointers the stand-in did not make abort too.
//!
//! Items may carry a "not before" time (the stand-in's completion delays): the thread waits
//! for it, which keeps FIFO order.

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::ffi::{CStr, c_char, c_void};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use crate::blocks::Block;
use crate::counts::{self, Kind};
use crate::fatal::{fatal, guard};

/// A dispatch work function (`dispatch_function_t`).
pub type DispatchFunction = unsafe extern "C" fn(*mut c_void);

type Work = Box<dyn FnOnce() + Send>;

struct Item {
    not_before: Instant,
    work: Work,
}

struct State {
    refs: usize,
    items: VecDeque<Item>,
    dead: bool,
}

/// A serial queue. `dispatch_queue_t` values are pointers to this.
pub(crate) struct Queue {
    label: String,
    state: Mutex<State>,
    wake: Condvar,
}

thread_local! {
    /// The queue whose thread this is, if any.
    static CURRENT: Cell<*const Queue> = const { Cell::new(std::ptr::null()) };
}

/// Addresses of every queue ever made (dead ones included: they are never freed).
fn registry() -> MutexGuard<'static, HashSet<usize>> {
    static ALL: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queue at `ptr`, checked: aborts for a pointer that is not a queue of the stand-in
    /// or a queue already released to zero.
    pub(crate) fn get(ptr: *const c_void, op: &str) -> &'static Queue {
        if ptr.is_null() {
            fatal(format_args!("{op} with a NULL dispatch queue"));
        }
        if !registry().contains(&(ptr as usize)) {
            fatal(format_args!(
                "{op} on {ptr:p}, which is not a dispatch queue the stand-in created"
            ));
        }
        // SAFETY: registered addresses are leaked `Queue`s, never freed.
        let queue = unsafe { &*ptr.cast::<Queue>() };
        if queue.state().dead {
            fatal(format_args!(
                "{op} on the released dispatch queue \"{}\" (use after release)",
                queue.label
            ));
        }
        queue
    }

    fn as_ptr(&'static self) -> *mut c_void {
        (self as *const Queue).cast_mut().cast()
    }

    /// Makes a queue with one reference (the caller's) and starts its thread.
    pub(crate) fn create(label: &str) -> &'static Queue {
        let queue: &'static Queue = Box::leak(Box::new(Queue {
            label: label.to_owned(),
            state: Mutex::new(State {
                refs: 1,
                items: VecDeque::new(),
                dead: false,
            }),
            wake: Condvar::new(),
        }));
        registry().insert(queue as *const Queue as usize);
        counts::created(Kind::Queue);
        let spawned = std::thread::Builder::new()
            .name(format!("standin-q:{label}"))
            .spawn(move || queue.run());
        if spawned.is_err() {
            fatal("cannot start a dispatch queue's thread");
        }
        queue
    }

    fn retain(&self, op: &str) {
        let mut state = self.state();
        if state.dead {
            fatal(format_args!(
                "{op} on the released dispatch queue \"{}\"",
                self.label
            ));
        }
        state.refs += 1;
    }

    fn release(&self, op: &str) {
        let mut state = self.state();
        if state.dead || state.refs == 0 {
            fatal(format_args!(
                "{op}: dispatch queue \"{}\" released more often than retained (over-release)",
                self.label
            ));
        }
        state.refs -= 1;
        if state.refs == 0 {
            // Pending items hold references, so nothing is queued now.
            state.dead = true;
            counts::destroyed(Kind::Queue);
            self.wake.notify_all();
        }
    }

    /// Queues `work` to run on this queue's thread, not before `delay` from now.
    pub(crate) fn submit(&self, delay: Duration, work: Work) {
        let mut state = self.state();
        if state.dead {
            fatal(format_args!(
                "work submitted to the released dispatch queue \"{}\"",
                self.label
            ));
        }
        state.refs += 1;
        state.items.push_back(Item {
            not_before: Instant::now() + delay,
            work,
        });
        self.wake.notify_all();
    }

    /// Runs `work` on this queue's thread and waits for it (after everything queued before).
    pub(crate) fn run_sync(&'static self, op: &str, work: Work) {
        if std::ptr::eq(CURRENT.with(Cell::get), self) {
            fatal(format_args!(
                "{op} on the queue \"{}\" from its own thread: this deadlocks in libdispatch",
                self.label
            ));
        }
        let (done, wait) = mpsc::channel::<()>();
        self.submit(
            Duration::ZERO,
            Box::new(move || {
                work();
                let _ = done.send(());
            }),
        );
        if wait.recv().is_err() {
            fatal(format_args!(
                "{op}: the work item was dropped without running"
            ));
        }
    }

    fn run(&'static self) {
        CURRENT.with(|c| c.set(self as *const Queue));
        loop {
            let mut state = self.state();
            let item = loop {
                if let Some(front) = state.items.front() {
                    let now = Instant::now();
                    if front.not_before <= now {
                        break state.items.pop_front();
                    }
                    let left = front.not_before - now;
                    state = self
                        .wake
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                } else if state.dead {
                    break None;
                } else {
                    state = self
                        .wake
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            drop(state);
            let Some(item) = item else { return };
            guard("a dispatch queue's work item", item.work);
            self.release("finishing a work item");
        }
    }
}

/// An owned reference to a queue (one retain), released on drop.
#[derive(Debug)]
pub(crate) struct QueueRef(&'static Queue);

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("label", &self.label).finish()
    }
}

impl QueueRef {
    /// Retains the queue at `ptr` (checked as by [`Queue::get`]).
    pub(crate) fn retain(ptr: *const c_void, op: &str) -> QueueRef {
        let queue = Queue::get(ptr, op);
        queue.retain(op);
        QueueRef(queue)
    }

    pub(crate) fn queue(&self) -> &'static Queue {
        self.0
    }
}

impl Clone for QueueRef {
    fn clone(&self) -> Self {
        self.0.retain("retaining a queue");
        QueueRef(self.0)
    }
}

impl Drop for QueueRef {
    fn drop(&mut self) {
        self.0.release("releasing a queue");
    }
}

/// A raw pointer that may cross to the queue's thread (the caller vouches for it).
struct SendPtr(*mut c_void);
// SAFETY: dispatch's contract: the context pointer is handed to the work function on the
// queue's thread; the submitter guarantees that is allowed.
unsafe impl Send for SendPtr {}

fn label_of(label: *const c_char) -> String {
    if label.is_null() {
        String::new()
    } else {
        // SAFETY: a non-NULL label is a NUL-terminated string (dispatch_queue_create's contract).
        unsafe { CStr::from_ptr(label) }
            .to_string_lossy()
            .into_owned()
    }
}

/// `dispatch_queue_create(label, attr)`: a new serial queue with one reference. `label` is
/// NULL or a C string (copied); `attr` is ignored (every queue is serial).
///
/// # Safety
/// `label` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_queue_create(
    label: *const c_char,
    _attr: *const c_void,
) -> *mut c_void {
    guard("dispatch_queue_create", || {
        Queue::create(&label_of(label)).as_ptr()
    })
}

/// `dispatch_queue_create_with_target(label, attr, target)`: as [`dispatch_queue_create`];
/// the target queue is checked (it must be a live queue of the stand-in, or NULL) and
/// otherwise ignored.
///
/// # Safety
/// As [`dispatch_queue_create`]; `target` is NULL or a queue.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_queue_create_with_target(
    label: *const c_char,
    _attr: *const c_void,
    target: *mut c_void,
) -> *mut c_void {
    guard("dispatch_queue_create_with_target", || {
        if !target.is_null() {
            Queue::get(target, "dispatch_queue_create_with_target");
        }
        Queue::create(&label_of(label)).as_ptr()
    })
}

/// `dispatch_retain(object)`: one more reference to a queue. Anything else aborts.
///
/// # Safety
/// `object` is a queue of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_retain(object: *mut c_void) {
    guard("dispatch_retain", || {
        Queue::get(object, "dispatch_retain").retain("dispatch_retain");
    });
}

/// `dispatch_release(object)`: drops a reference to a queue; the last one ends the queue
/// once its pending work has run. Over-release aborts.
///
/// # Safety
/// `object` is a queue of the stand-in (checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_release(object: *mut c_void) {
    guard("dispatch_release", || {
        if object.is_null() {
            fatal("dispatch_release with NULL");
        }
        if !registry().contains(&(object as usize)) {
            fatal(format_args!(
                "dispatch_release on {object:p}, which is not a dispatch object of the stand-in"
            ));
        }
        // SAFETY: registered addresses are leaked `Queue`s, never freed.
        let queue = unsafe { &*object.cast::<Queue>() };
        queue.release("dispatch_release");
    });
}

/// `dispatch_async_f(queue, context, work)`: runs `work(context)` on the queue's thread,
/// after the items queued before, and returns at once.
///
/// # Safety
/// `queue` is a live queue; `work` may be called with `context` on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_async_f(
    queue: *mut c_void,
    context: *mut c_void,
    work: Option<DispatchFunction>,
) {
    guard("dispatch_async_f", || {
        let queue = Queue::get(queue, "dispatch_async_f");
        let work = work.unwrap_or_else(|| fatal("dispatch_async_f with a NULL function"));
        let context = SendPtr(context);
        queue.submit(
            Duration::ZERO,
            Box::new(move || {
                let context = context;
                // SAFETY: the submitter's contract: `work` may run with `context` here.
                unsafe { work(context.0) }
            }),
        );
    });
}

/// `dispatch_sync_f(queue, context, work)`: runs `work(context)` on the queue's thread and
/// waits for it. Calling it on the queue's own thread aborts (libdispatch deadlocks).
///
/// # Safety
/// `queue` is a live queue; `work` may be called with `context` on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_sync_f(
    queue: *mut c_void,
    context: *mut c_void,
    work: Option<DispatchFunction>,
) {
    guard("dispatch_sync_f", || {
        let queue = Queue::get(queue, "dispatch_sync_f");
        let work = work.unwrap_or_else(|| fatal("dispatch_sync_f with a NULL function"));
        let context = SendPtr(context);
        queue.run_sync(
            "dispatch_sync_f",
            Box::new(move || {
                let context = context;
                // SAFETY: the submitter's contract: `work` may run with `context` here.
                unsafe { work(context.0) }
            }),
        );
    });
}

/// `dispatch_async(queue, block)`: copies the block, runs it on the queue's thread, then
/// releases it.
///
/// # Safety
/// `queue` is a live queue; `block` a `dispatch_block_t` that may run on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_async(queue: *mut c_void, block: *mut c_void) {
    guard("dispatch_async", || {
        let queue = Queue::get(queue, "dispatch_async");
        // SAFETY: the caller passes a valid block.
        let block = unsafe { Block::copy(block) }
            .unwrap_or_else(|| fatal("dispatch_async with a NULL block"));
        queue.submit(
            Duration::ZERO,
            Box::new(move || {
                // SAFETY: a dispatch_block_t takes no parameters.
                unsafe { block.call_void() }
            }),
        );
    });
}

/// `dispatch_sync(queue, block)`: runs the block on the queue's thread and waits for it.
///
/// # Safety
/// As [`dispatch_async`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_sync(queue: *mut c_void, block: *mut c_void) {
    guard("dispatch_sync", || {
        let queue = Queue::get(queue, "dispatch_sync");
        // SAFETY: the caller passes a valid block.
        let block = unsafe { Block::copy(block) }
            .unwrap_or_else(|| fatal("dispatch_sync with a NULL block"));
        queue.run_sync(
            "dispatch_sync",
            Box::new(move || {
                // SAFETY: a dispatch_block_t takes no parameters.
                unsafe { block.call_void() }
            }),
        );
    });
}

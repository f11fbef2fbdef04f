//! SIGINT and SIGTERM as a stop request, for the `vmnet-bridge` tool and the `capture`
//! example (each includes this file with `#[path]`): the first such signal sets a flag that
//! the program's loops poll, so it stops cleanly (flushes, prints its counters, closes its
//! sockets) instead of dying mid-write.
//!
//! The handler is [`signal_hook`]'s: an async-signal-safe atomic store, installed without
//! any `unsafe` here. Waits in the callers have short timeouts, so a set flag is seen
//! promptly whether or not the interrupted call is restarted.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Set by SIGINT and SIGTERM once [`install`] has run.
static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Makes SIGINT and SIGTERM set the stop flag (see [`requested`]) instead of ending the
/// process.
///
/// # Errors
/// The OS error of a handler that could not be installed.
pub(crate) fn install() -> io::Result<()> {
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&STOP))?;
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM has arrived.
pub(crate) fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

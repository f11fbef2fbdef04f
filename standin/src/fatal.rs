//! Aborting with a message, and keeping panics from unwinding into C callers.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Prints `vmnet-standin: {message}` to stderr and aborts the process.
///
/// Every misuse the stand-in detects ends here: on a Mac the same misuse is undefined
/// behaviour that may or may not crash, so a test run on the stand-in fails loudly instead.
pub(crate) fn fatal(message: impl Display) -> ! {
    eprintln!("vmnet-standin: {message}");
    std::process::abort()
}

/// Runs `body`, the implementation of the exported function `name`; a panic aborts with a
/// message instead of unwinding into the C caller.
pub(crate) fn guard<R>(name: &str, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic".to_owned());
            fatal(format_args!("internal panic in {name}: {text}"))
        }
    }
}

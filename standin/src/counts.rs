//! Live objects, counted by kind.
//!
//! Every object the stand-in makes on behalf of a caller (XPC objects, CF objects, dispatch
//! queues), every block it holds and every interface not yet stopped is counted here while
//! it lives. Tests read the counts through `vmnet_standin_live` to find leaks.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::fatal::fatal;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// XPC objects not yet released to a count of zero (quarantined ones are not live).
    Xpc = 0,
    /// CoreFoundation-style objects: network configurations and networks.
    Cf = 1,
    /// Dispatch queues with a reference left.
    Queue = 2,
    /// Blocks the stand-in holds a copy of.
    Block = 3,
    /// Interfaces whose start was scheduled and whose stop has not completed (a failed start
    /// ends the interface too).
    Interface = 4,
}

impl Kind {
    pub(crate) const ALL: [Kind; 5] = [
        Kind::Xpc,
        Kind::Cf,
        Kind::Queue,
        Kind::Block,
        Kind::Interface,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Xpc => "XPC object",
            Kind::Cf => "CF object",
            Kind::Queue => "dispatch queue",
            Kind::Block => "block",
            Kind::Interface => "interface",
        }
    }
}

static LIVE: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// One more live object of `kind`.
pub(crate) fn created(kind: Kind) {
    LIVE[kind as usize].fetch_add(1, Ordering::SeqCst);
}

/// One live object of `kind` fewer. Going below zero is a bug of the stand-in itself (each
/// object checks its own over-release first) and aborts.
pub(crate) fn destroyed(kind: Kind) {
    let before = LIVE[kind as usize].fetch_sub(1, Ordering::SeqCst);
    if before == 0 {
        fatal(format_args!(
            "the live count of {}s went below zero",
            kind.name()
        ));
    }
}

/// Live objects of `kind`.
pub(crate) fn live(kind: Kind) -> u64 {
    LIVE[kind as usize].load(Ordering::SeqCst)
}

//! The few socket calls std does not offer: `poll(2)` on several descriptors, and sends that
//! neither block nor raise `SIGPIPE`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// Flags for every send: never block (the socket may be shared with a blocking user), and on
/// systems that have it, no `SIGPIPE` when the peer has gone (Apple systems use the
/// `SO_NOSIGPIPE` socket option instead, see [`no_sigpipe`]).
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT;

/// Sends `buf` on the connected socket `fd` without blocking.
pub(super) fn send(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, initialised byte slice for the duration of the call, and
    // `fd` is an open socket borrowed for it.
    let n = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), SEND_FLAGS) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n.unsigned_abs())
    }
}

/// Makes writes to a closed peer fail with `EPIPE` instead of raising `SIGPIPE` (Apple
/// systems, which lack `MSG_NOSIGNAL`).
#[cfg(target_vendor = "apple")]
pub(super) fn no_sigpipe(fd: &impl AsRawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on an open socket with a pointer to a live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NOSIGPIPE,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// See the Apple version: elsewhere `MSG_NOSIGNAL` does the job per call.
#[cfg(not(target_vendor = "apple"))]
pub(super) fn no_sigpipe(_fd: &impl AsRawFd) -> io::Result<()> {
    Ok(())
}

/// Whether a send error means "the receiver is full right now" (`EAGAIN`, or `ENOBUFS`, which
/// macOS reports for a full datagram receiver).
pub(super) fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// Whether a datagram send error means "nobody to send to" (no peer yet, or it went away).
pub(super) fn is_no_peer(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTCONN | libc::EDESTADDRREQ | libc::ECONNREFUSED | libc::ENOENT)
    )
}

/// Whether a stream error means the peer closed the connection.
pub(super) fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

/// One descriptor to wait on, and what for.
#[derive(Clone, Copy)]
pub(super) struct Wait {
    pub(super) fd: RawFd,
    pub(super) writable: bool,
}

impl Wait {
    pub(super) fn read(fd: &impl AsRawFd) -> Self {
        Self {
            fd: fd.as_raw_fd(),
            writable: false,
        }
    }
    pub(super) fn write(fd: &impl AsRawFd) -> Self {
        Self {
            fd: fd.as_raw_fd(),
            writable: true,
        }
    }
}

/// Waits until one of `waits` is ready (or has an error or hang-up) or `timeout` passes.
/// Returns one flag per entry (at most 4), in order. An interrupted wait returns no flag set;
/// callers loop anyway.
pub(super) fn wait(waits: &[Wait], timeout: Duration) -> io::Result<[bool; 4]> {
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let count = waits.len().min(fds.len());
    for (p, w) in fds.iter_mut().zip(&waits[..count]) {
        p.fd = w.fd;
        p.events = if w.writable {
            libc::POLLOUT
        } else {
            libc::POLLIN
        };
    }
    // Round up, so a sub-millisecond remainder waits instead of spinning.
    let millis = timeout.as_nanos().div_ceil(1_000_000);
    let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a valid array of `count` (<= its length) initialised pollfds for the
    // duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), count as libc::nfds_t, millis) };
    let mut ready = [false; 4];
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(ready)
        } else {
            Err(e)
        };
    }
    for (r, p) in ready.iter_mut().zip(&fds[..count]) {
        *r = p.revents != 0;
    }
    Ok(ready)
}

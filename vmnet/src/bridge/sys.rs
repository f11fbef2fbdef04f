//! The few socket calls std does not offer: `poll(2)` on several descriptors, sends that
//! neither block nor raise `SIGPIPE`, and datagram receives that report truncation.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// Flags for every send: never block (the socket may be shared with a blocking user), and on
/// systems that have it, no `SIGPIPE` when the peer has gone (Apple systems use the
/// `SO_NOSIGPIPE` socket option instead, see [`no_sigpipe`]).
#[cfg(not(target_vendor = "apple"))]
pub(super) const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
#[cfg(target_vendor = "apple")]
pub(super) const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT;

/// Sends `buf` on `fd` without blocking: to `to`, or (`None`) to the connected peer.
pub(super) fn send(fd: &impl AsRawFd, buf: &[u8], to: Option<&Address>) -> io::Result<usize> {
    let (name, name_len) = match to {
        Some(to) => ((&raw const to.addr).cast::<libc::sockaddr>(), to.len),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: `buf` is a valid, initialised byte slice for the duration of the call; `name` is
    // null with length 0, or points at `to`'s live `sockaddr_un` with a length within it (an
    // `Address` only holds lengths up to its size). `fd` is an open socket borrowed for it.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            SEND_FLAGS,
            name,
            name_len,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n.unsigned_abs())
    }
}

/// One datagram received by [`recv`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Datagram {
    /// The bytes stored at the start of the buffer.
    pub(super) len: usize,
    /// The datagram was longer than the buffer: only its first `len` bytes were stored, the
    /// rest is lost.
    pub(super) truncated: bool,
}

/// A unix datagram socket's address, as [`recv`] fills it in and [`send`] sends to it: a
/// path, (on Linux) an abstract name, or nothing (an unnamed socket).
#[derive(Clone, Copy)]
pub(super) struct Address {
    pub(super) addr: libc::sockaddr_un,
    /// At most [`SOCKADDR_UN_LEN`].
    pub(super) len: libc::socklen_t,
}

impl Address {
    /// No address.
    pub(super) fn new() -> Self {
        Self {
            // SAFETY: `sockaddr_un` is plain integers and integer arrays, for which all zeros
            // is a valid value (an unspecified family and an empty path).
            addr: unsafe { std::mem::zeroed() },
            len: 0,
        }
    }

    /// The name's bytes (the path, or Linux's abstract name with its leading 0).
    fn name(&self) -> &[libc::c_char] {
        let offset = std::mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = usize::try_from(self.len)
            .unwrap_or(0)
            .saturating_sub(offset)
            .min(self.addr.sun_path.len());
        &self.addr.sun_path[..len]
    }

    /// Whether frames can be sent to it: a sender with a path or an abstract name, not an
    /// unnamed socket (whose name, where the system reports one, is all zeros).
    pub(super) fn is_named(&self) -> bool {
        self.name().iter().any(|&c| c != 0)
    }
}

/// Same name (the family of a received address is always `AF_UNIX`).
impl PartialEq for Address {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// Receives one datagram into `buf` without blocking, and with `from`, its sender's address.
///
/// A datagram longer than `buf` is cut to it and reported `truncated`: `recvmsg` sets
/// `MSG_TRUNC` in the returned `msg_flags` on Linux and macOS alike (passing `MSG_TRUNC` as a
/// flag, to learn the real length, is Linux-only).
pub(super) fn recv(
    fd: &impl AsRawFd,
    buf: &mut [u8],
    from: Option<&mut Address>,
) -> io::Result<Datagram> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is integers and pointers (and, on some C libraries, private padding),
    // for which all zeros is a valid value: no name, no iovec, no control data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    let mut name_len = None;
    if let Some(from) = from {
        msg.msg_name = (&raw mut from.addr).cast();
        msg.msg_namelen = SOCKADDR_UN_LEN;
        name_len = Some(&mut from.len);
    }
    // SAFETY: `msg` points at one iovec spanning `buf`, a writable byte slice, and optionally
    // at `from.addr` with its exact size; all of them live, and exclusively borrowed, for the
    // duration of the call. `fd` is an open socket borrowed for it.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if let Some(len) = name_len {
        *len = msg.msg_namelen.min(SOCKADDR_UN_LEN);
    }
    Ok(Datagram {
        len: n.unsigned_abs().min(buf.len()),
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
    })
}

/// The size of a `sockaddr_un` (about 110 bytes, so the cast is exact).
pub(super) const SOCKADDR_UN_LEN: libc::socklen_t =
    std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;

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

/// Whether a datagram error means "nobody to send to" (no peer yet, or it went away).
pub(super) fn is_no_peer(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTCONN | libc::EDESTADDRREQ | libc::ECONNREFUSED | libc::ENOENT)
    )
}

/// Whether a datagram send error means this frame cannot be delivered, while the next may
/// be: no peer (see [`is_no_peer`]), a receiver that refuses the size (`EMSGSIZE`), or a path
/// now held by a socket that is connected elsewhere (`EPERM`) or that we may not write
/// (`EACCES`).
pub(super) fn is_undeliverable(e: &io::Error) -> bool {
    is_no_peer(e)
        || matches!(
            e.raw_os_error(),
            Some(libc::EMSGSIZE | libc::EPERM | libc::EACCES)
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

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;

    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement datagram sockets")]
    fn recv_reports_a_datagram_cut_to_the_buffer() {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(&[7; 10]).unwrap();
        a.send(&[8; 10]).unwrap();
        let mut buf = [0u8; 10];
        let cut = recv(&b, &mut buf[..9], None).unwrap();
        assert_eq!((cut.len, cut.truncated), (9, true));
        let whole = recv(&b, &mut buf, None).unwrap();
        assert_eq!((whole.len, whole.truncated), (10, false));
        assert_eq!(buf, [8; 10]);
        let e = recv(&b, &mut buf, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "never blocks");
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement datagram sockets")]
    fn recv_tells_the_sender_and_send_reaches_it() {
        let dir = std::env::temp_dir().join(format!("vmnet-sys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ours, theirs) = (dir.join("ours.sock"), dir.join("theirs.sock"));
        let _ = std::fs::remove_file(&ours);
        let _ = std::fs::remove_file(&theirs);
        let b = UnixDatagram::bind(&ours).unwrap();
        let a = UnixDatagram::bind(&theirs).unwrap();
        a.send_to(&[1; 20], &ours).unwrap();
        UnixDatagram::unbound()
            .unwrap()
            .send_to(&[2; 20], &ours)
            .unwrap();
        let mut buf = [0u8; 64];
        let mut from = Address::new();
        assert_eq!(recv(&b, &mut buf, Some(&mut from)).unwrap().len, 20);
        assert!(from.is_named());
        let mut unnamed = Address::new();
        assert_eq!(recv(&b, &mut buf, Some(&mut unnamed)).unwrap().len, 20);
        assert!(!unnamed.is_named(), "an unnamed sender");
        assert!(from != unnamed);
        // `b` is not connected: the address is where the reply goes.
        assert_eq!(send(&b, &[3; 30], Some(&from)).unwrap(), 30);
        assert_eq!(a.recv(&mut buf).unwrap(), 30);
        let e = send(&b, &[3; 30], None).unwrap_err();
        assert!(is_no_peer(&e), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

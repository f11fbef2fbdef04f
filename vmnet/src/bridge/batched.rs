//! Batched datagram system calls: many datagrams per call where the system has such a call —
//! Linux's `recvmmsg`/`sendmmsg`; macOS's `recvmsg_x`/`sendmsg_x`, private but exported by
//! libSystem, so looked up at run time — and one call per datagram otherwise, or when asked
//! ([`BridgeOptions::with_batched_io`](super::BridgeOptions::with_batched_io)).
//!
//! Raw `libc` rather than nix: nix's `recvmmsg`/`sendmmsg` take the buffers as arrays of
//! `IoSlice`s built for each call and borrowed for as long as its preallocated headers, which
//! a thread that owns both cannot provide without building them per call, and nix does not
//! reset each header's address length between calls (a short sender address would cut the
//! next one); macOS's calls are in neither crate.

use std::io;
use std::os::fd::AsRawFd;

use super::sys::{self, Address, SOCKADDR_UN_LEN};
use crate::batch::PacketBatch;

/// The most datagrams one call moves: the kernels' limit on a vector (`UIO_MAXIOV`).
const MAX_PER_CALL: usize = 1024;

/// A receive buffer of the VM-to-vmnet direction: the whole buffer, and the frame in it.
pub(super) struct Slot {
    buf: Box<[u8]>,
    len: usize,
    /// The datagram was longer than the buffer: only its start was kept.
    pub(super) truncated: bool,
    /// Its sender, when [`DatagramIo::recv`] was asked for it.
    pub(super) from: Address,
}

impl Slot {
    /// A buffer of `size` bytes (allocated here, once), holding no frame.
    pub(super) fn new(size: usize) -> Self {
        Self {
            buf: vec![0; size].into_boxed_slice(),
            len: 0,
            truncated: false,
            from: Address::new(),
        }
    }

    /// The whole buffer, to fill; then [`set_len`](Self::set_len).
    pub(super) fn buf_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The frame is the first `len` bytes (at most the buffer).
    pub(super) fn set_len(&mut self, len: usize) {
        self.len = len.min(self.buf.len());
    }
}

/// The frame.
impl AsRef<[u8]> for Slot {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// How datagrams move on one socket: batched calls, or one call per datagram.
pub(super) struct DatagramIo {
    /// `None`: one call per datagram (asked for, or the system has no batched calls).
    batch: Option<Headers>,
}

impl DatagramIo {
    /// Up to `capacity` datagrams per call when `batched` and the system has batched calls;
    /// else one per call. Allocates here, once.
    pub(super) fn new(capacity: usize, batched: bool) -> Self {
        Self {
            batch: if batched {
                Headers::new(capacity.clamp(1, MAX_PER_CALL))
            } else {
                None
            },
        }
    }

    /// Receives datagrams without blocking into `slots`, from the first: as many as wait
    /// and fit (batched), or one. Each filled slot gets its length, whether it was cut, and
    /// with `senders`, its sender. Returns how many; an error if none.
    pub(super) fn recv(
        &mut self,
        fd: &impl AsRawFd,
        slots: &mut [Slot],
        senders: bool,
    ) -> io::Result<usize> {
        if slots.is_empty() {
            return Ok(0);
        }
        if let Some(headers) = self.batch.as_mut().filter(|_| !senders || imp::NAMES) {
            match headers.recv(fd, slots, senders) {
                Err(e) if imp::unsupported(&e) => self.batch = None,
                done => return done,
            }
        }
        let slot = &mut slots[0];
        let datagram = sys::recv(fd, &mut slot.buf, senders.then_some(&mut slot.from))?;
        slot.set_len(datagram.len);
        slot.truncated = datagram.truncated;
        Ok(1)
    }

    /// Sends the frames of `batch` from `first` on, one datagram each, without blocking, to
    /// `to` (`None`: the connected peer): as many as the socket takes in one batched call, or
    /// one. Returns how many were sent, from `first`; an error (frame `first`'s) if none.
    pub(super) fn send(
        &mut self,
        fd: &impl AsRawFd,
        batch: &PacketBatch,
        first: usize,
        to: Option<&Address>,
    ) -> io::Result<usize> {
        let Some(frame) = batch.get(first) else {
            return Ok(0);
        };
        if let Some(headers) = self.batch.as_mut().filter(|_| to.is_none() || imp::NAMES) {
            match headers.send(fd, batch, first, to) {
                Err(e) if imp::unsupported(&e) => self.batch = None,
                done => return done,
            }
        }
        sys::send(fd, frame, to).map(|_| 1)
    }
}

/// Preallocated headers and iovecs, pointed at the buffers afresh for each call, and the
/// system's batched calls.
struct Headers {
    calls: imp::Calls,
    msgs: Box<[imp::Header]>,
    iovs: Box<[libc::iovec]>,
}

// SAFETY: the pointers inside `msgs` and `iovs` are set, before each call, to buffers
// borrowed for that call only, and nothing dereferences them outside it: between calls they
// are stale values no code reads. The arrays are owned plain memory; `calls` holds plain
// function pointers (or nothing).
unsafe impl Send for Headers {}

impl Headers {
    /// `count` headers, if the system has batched calls.
    fn new(count: usize) -> Option<Self> {
        let iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Some(Self {
            calls: imp::Calls::find()?,
            msgs: (0..count).map(|_| imp::empty()).collect(),
            iovs: vec![iov; count].into_boxed_slice(),
        })
    }

    fn recv(&mut self, fd: &impl AsRawFd, slots: &mut [Slot], senders: bool) -> io::Result<usize> {
        let mut count = 0;
        for ((msg, iov), slot) in self.msgs.iter_mut().zip(&mut *self.iovs).zip(&mut *slots) {
            *iov = libc::iovec {
                iov_base: slot.buf.as_mut_ptr().cast(),
                iov_len: slot.buf.len(),
            };
            let (name, name_len) = if senders {
                ((&raw mut slot.from.addr).cast(), SOCKADDR_UN_LEN)
            } else {
                (std::ptr::null_mut(), 0)
            };
            imp::point(msg, iov, name, name_len);
            count += 1;
        }
        // SAFETY: each of the first `count` headers points (just above) at one iovec spanning
        // one slot's whole buffer, writable and exclusively borrowed through `slots` for this
        // call, and with `senders` at that slot's `sockaddr_un` with its exact size; no
        // control data. Headers and iovecs live through the call.
        let n = unsafe { self.calls.recv(fd.as_raw_fd(), &mut self.msgs[..count]) }?;
        for (msg, slot) in self.msgs.iter().zip(&mut *slots).take(n) {
            let (len, truncated, name_len) = imp::received(msg);
            slot.set_len(len);
            slot.truncated = truncated;
            slot.from.len = if senders {
                name_len.min(SOCKADDR_UN_LEN)
            } else {
                0
            };
        }
        Ok(n)
    }

    fn send(
        &mut self,
        fd: &impl AsRawFd,
        batch: &PacketBatch,
        first: usize,
        to: Option<&Address>,
    ) -> io::Result<usize> {
        let (name, name_len) = match to {
            Some(to) => ((&raw const to.addr).cast_mut().cast(), to.len),
            None => (std::ptr::null_mut(), 0),
        };
        let mut count = 0;
        let frames = batch.iter().skip(first);
        for ((msg, iov), frame) in self.msgs.iter_mut().zip(&mut *self.iovs).zip(frames) {
            *iov = libc::iovec {
                iov_base: frame.as_ptr().cast_mut().cast(),
                iov_len: frame.len(),
            };
            imp::point(msg, iov, name, name_len);
            count += 1;
        }
        // SAFETY: each of the first `count` headers points (just above) at one iovec spanning
        // one frame of `batch` (initialised bytes, borrowed for the call; the kernel only
        // reads them), and at `to`'s live `sockaddr_un` with a length within it, or at no
        // name; no control data. Headers and iovecs live through the call.
        unsafe { self.calls.send(fd.as_raw_fd(), &mut self.msgs[..count]) }
    }
}

/// Linux: `recvmmsg`/`sendmmsg` (since Linux 2.6.33 and 3.0).
#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::io;
    use std::os::fd::RawFd;

    use super::super::sys::SEND_FLAGS;

    pub(super) type Header = libc::mmsghdr;

    /// The batched calls take a sender's or destination's address.
    pub(super) const NAMES: bool = true;

    /// The calls are the C library's own: nothing to find.
    pub(super) struct Calls;

    impl Calls {
        pub(super) fn find() -> Option<Self> {
            Some(Calls)
        }

        /// `recvmmsg(2)` into `msgs`, without blocking.
        ///
        /// # Safety
        /// Each header must point at iovecs over writable buffers, and at a name buffer of the
        /// length it gives or none, all live and unaliased for the call.
        pub(super) unsafe fn recv(&self, fd: RawFd, msgs: &mut [Header]) -> io::Result<usize> {
            // SAFETY: `msgs` is `msgs.len()` headers whose pointers the caller vouches for;
            // no timeout.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    msgs.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            count(n)
        }

        /// `sendmmsg(2)` of `msgs`, without blocking or `SIGPIPE`.
        ///
        /// # Safety
        /// Each header must point at iovecs over initialised buffers, and at a name of the
        /// length it gives or none, all live for the call.
        pub(super) unsafe fn send(&self, fd: RawFd, msgs: &mut [Header]) -> io::Result<usize> {
            // SAFETY: `msgs` is `msgs.len()` headers whose pointers the caller vouches for.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    msgs.len() as libc::c_uint,
                    SEND_FLAGS,
                )
            };
            count(n)
        }
    }

    /// A call's result: how many messages, or the error.
    fn count(n: libc::c_int) -> io::Result<usize> {
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n.unsigned_abs() as usize)
        }
    }

    /// Whether a batched call's error means it is not available (an old kernel).
    pub(super) fn unsupported(e: &io::Error) -> bool {
        e.raw_os_error() == Some(libc::ENOSYS)
    }

    pub(super) fn empty() -> Header {
        // SAFETY: `mmsghdr` is integers and pointers (and, on some C libraries, private
        // padding), for which all zeros is a valid value: no name, no iovec, no control.
        unsafe { std::mem::zeroed() }
    }

    /// Points `msg` at one iovec and a name (null: none); no control data, flags cleared.
    pub(super) fn point(
        msg: &mut Header,
        iov: &mut libc::iovec,
        name: *mut libc::c_void,
        name_len: libc::socklen_t,
    ) {
        let h = &mut msg.msg_hdr;
        h.msg_iov = iov;
        h.msg_iovlen = 1;
        h.msg_name = name;
        h.msg_namelen = name_len;
        h.msg_control = std::ptr::null_mut();
        h.msg_controllen = 0;
        h.msg_flags = 0;
        msg.msg_len = 0;
    }

    /// After a receive: the datagram's length, whether it was cut, its sender's address length.
    pub(super) fn received(msg: &Header) -> (usize, bool, libc::socklen_t) {
        (
            msg.msg_len as usize,
            msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            msg.msg_hdr.msg_namelen,
        )
    }
}

/// macOS: `recvmsg_x`/`sendmsg_x` (XNU's `bsd/sys/socket_private.h`), private but exported
/// by libSystem, looked up once with `dlsym`; a system without them gets one call per
/// datagram.
#[cfg(target_vendor = "apple")]
mod imp {
    use std::io;
    use std::os::fd::RawFd;
    use std::sync::OnceLock;

    /// XNU's `struct msghdr_x`: a `msghdr` with the datagram's length (`msg_datalen`), which
    /// `recvmsg_x` sets.
    #[repr(C)]
    #[allow(non_camel_case_types)]
    pub(super) struct msghdr_x {
        msg_name: *mut libc::c_void,
        msg_namelen: libc::socklen_t,
        msg_iov: *mut libc::iovec,
        msg_iovlen: libc::c_int,
        msg_control: *mut libc::c_void,
        msg_controllen: libc::socklen_t,
        msg_flags: libc::c_int,
        msg_datalen: libc::size_t,
    }

    pub(super) type Header = msghdr_x;

    /// XNU documents that `sendmsg_x` (and, in newer headers, `recvmsg_x`) supports no
    /// address: `msg_name` and `msg_namelen` must be zero. A call that needs one (a bound
    /// socket learning or following its VM) is made one datagram at a time instead, and never
    /// relies on how a batched call would treat a name.
    pub(super) const NAMES: bool = false;

    /// `ssize_t recvmsg_x(int s, const struct msghdr_x *msgp, u_int cnt, int flags)`, and
    /// `sendmsg_x` with the same signature.
    type BatchCall = unsafe extern "C" fn(
        libc::c_int,
        *const msghdr_x,
        libc::c_uint,
        libc::c_int,
    ) -> libc::ssize_t;

    /// The two calls, found in the running system.
    #[derive(Clone, Copy)]
    pub(super) struct Calls {
        recv: BatchCall,
        send: BatchCall,
    }

    impl Calls {
        /// The calls, if this system exports both (looked up once).
        pub(super) fn find() -> Option<Self> {
            static CALLS: OnceLock<Option<Calls>> = OnceLock::new();
            *CALLS.get_or_init(|| {
                Some(Calls {
                    recv: lookup(c"recvmsg_x")?,
                    send: lookup(c"sendmsg_x")?,
                })
            })
        }

        /// `recvmsg_x` into `msgs`. Flags 0: the bridge's descriptor is non-blocking
        /// (`O_NONBLOCK`), which keeps the call from waiting.
        ///
        /// # Safety
        /// Each header must point at iovecs over writable buffers, and at a name buffer of the
        /// length it gives or none, all live and unaliased for the call.
        pub(super) unsafe fn recv(&self, fd: RawFd, msgs: &mut [Header]) -> io::Result<usize> {
            // SAFETY: `msgs` is `msgs.len()` headers whose pointers the caller vouches for;
            // `recv` is `recvmsg_x` (see `lookup`).
            let n = unsafe { (self.recv)(fd, msgs.as_ptr(), msgs.len() as libc::c_uint, 0) };
            count(n)
        }

        /// `sendmsg_x` of `msgs`. Flags 0: the descriptor is non-blocking and has
        /// `SO_NOSIGPIPE` (`sys::no_sigpipe`).
        ///
        /// # Safety
        /// Each header must point at iovecs over initialised buffers, and at a name of the
        /// length it gives or none, all live for the call.
        pub(super) unsafe fn send(&self, fd: RawFd, msgs: &mut [Header]) -> io::Result<usize> {
            // SAFETY: `msgs` is `msgs.len()` headers whose pointers the caller vouches for;
            // `send` is `sendmsg_x` (see `lookup`).
            let n = unsafe { (self.send)(fd, msgs.as_ptr(), msgs.len() as libc::c_uint, 0) };
            count(n)
        }
    }

    fn lookup(name: &std::ffi::CStr) -> Option<BatchCall> {
        // SAFETY: `name` is a NUL-terminated string; RTLD_DEFAULT searches the images loaded.
        let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        if symbol.is_null() {
            return None;
        }
        // SAFETY: libSystem exports `recvmsg_x` and `sendmsg_x` as C functions of exactly
        // this signature (XNU's socket_private.h); a non-null symbol is the function.
        Some(unsafe { std::mem::transmute::<*mut libc::c_void, BatchCall>(symbol) })
    }

    /// A call's result: how many messages, or the error.
    fn count(n: libc::ssize_t) -> io::Result<usize> {
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n.unsigned_abs())
        }
    }

    /// Whether a batched call's error means it cannot be used here: not implemented for this
    /// socket (`EOPNOTSUPP`, `ENOTSUP`, `ENOSYS`) or refusing what a plain call accepts
    /// (`EINVAL`, e.g. a destination on an unconnected socket).
    pub(super) fn unsupported(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EOPNOTSUPP | libc::ENOTSUP | libc::ENOSYS | libc::EINVAL)
        )
    }

    pub(super) fn empty() -> Header {
        msghdr_x {
            msg_name: std::ptr::null_mut(),
            msg_namelen: 0,
            msg_iov: std::ptr::null_mut(),
            msg_iovlen: 0,
            msg_control: std::ptr::null_mut(),
            msg_controllen: 0,
            msg_flags: 0,
            msg_datalen: 0,
        }
    }

    /// Points `msg` at one iovec and a name (null: none); no control data, flags cleared.
    pub(super) fn point(
        msg: &mut Header,
        iov: &mut libc::iovec,
        name: *mut libc::c_void,
        name_len: libc::socklen_t,
    ) {
        *msg = empty();
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        msg.msg_name = name;
        msg.msg_namelen = name_len;
    }

    /// After a receive: the datagram's length, whether it was cut, its sender's address length.
    pub(super) fn received(msg: &Header) -> (usize, bool, libc::socklen_t) {
        (
            msg.msg_datalen,
            msg.msg_flags & libc::MSG_TRUNC != 0,
            msg.msg_namelen,
        )
    }
}

/// Elsewhere: no batched calls; one call per datagram.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
mod imp {
    use std::io;
    use std::os::fd::RawFd;

    pub(super) type Header = ();

    /// Irrelevant: there are no batched calls.
    pub(super) const NAMES: bool = false;

    /// Never made: there are no batched calls here.
    pub(super) enum Calls {}

    impl Calls {
        pub(super) fn find() -> Option<Self> {
            None
        }

        pub(super) unsafe fn recv(&self, _: RawFd, _: &mut [Header]) -> io::Result<usize> {
            match *self {}
        }

        pub(super) unsafe fn send(&self, _: RawFd, _: &mut [Header]) -> io::Result<usize> {
            match *self {}
        }
    }

    pub(super) fn unsupported(_: &io::Error) -> bool {
        false
    }

    pub(super) fn empty() -> Header {}

    pub(super) fn point(
        _: &mut Header,
        _: &mut libc::iovec,
        _: *mut libc::c_void,
        _: libc::socklen_t,
    ) {
    }

    pub(super) fn received(_: &Header) -> (usize, bool, libc::socklen_t) {
        (0, false, 0)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;

    use super::*;

    /// Both ways of moving datagrams carry the same frames, in order, and report truncation
    /// and senders alike.
    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement datagram sockets")]
    fn batched_and_per_frame_calls_agree() {
        for batched in [true, false] {
            let (a, b) = UnixDatagram::pair().unwrap();
            let mut io = DatagramIo::new(8, batched);
            let mut batch = PacketBatch::new(8, 100);
            for i in 0..5u8 {
                batch.push(&[i; 40][..20 + usize::from(i)]).unwrap();
            }
            let mut sent = 0;
            while sent < batch.len() {
                sent += io.send(&a, &batch, sent, None).unwrap();
            }
            // One datagram longer than the slots, cut.
            a.send(&[9; 70]).unwrap();
            let mut slots: Vec<Slot> = (0..8).map(|_| Slot::new(64)).collect();
            let mut got = 0;
            while got < 6 {
                got += io.recv(&b, &mut slots[got..], true).unwrap();
            }
            for (i, slot) in slots.iter().take(5).enumerate() {
                assert_eq!(
                    slot.as_ref(),
                    &[i as u8; 40][..20 + i],
                    "batched: {batched}"
                );
                assert!(!slot.truncated);
                assert!(!slot.from.is_named(), "a socket pair's ends are unnamed");
            }
            assert_eq!((slots[5].as_ref().len(), slots[5].truncated), (64, true));
            let e = io.recv(&b, &mut slots, false).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "batched: {batched}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement datagram sockets")]
    fn a_batched_receive_takes_everything_waiting_at_once() {
        let (a, b) = UnixDatagram::pair().unwrap();
        for i in 0..6u8 {
            a.send(&[i; 30]).unwrap();
        }
        let mut slots: Vec<Slot> = (0..4).map(|_| Slot::new(64)).collect();
        let mut io = DatagramIo::new(4, true);
        let expected = if io.batch.is_some() { 4 } else { 1 };
        assert_eq!(io.recv(&b, &mut slots, false).unwrap(), expected);
        let mut per_frame = DatagramIo::new(4, false);
        assert_eq!(per_frame.recv(&b, &mut slots, false).unwrap(), 1);
    }
}

//! The VM's socket: its [`Framing`], and [`VmSocket`] from a typed socket or any descriptor.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockType, SockaddrLike, SockaddrStorage, sockopt};

use super::sys;

/// How frames travel on the VM's socket.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Framing {
    /// One Ethernet frame per datagram on a unix datagram socket (vfkit, krunkit,
    /// Virtualization.framework file-handle attachments).
    Datagram,
    /// A 4-byte big-endian length before each frame on a unix stream socket (QEMU
    /// `-netdev stream`/`socket`).
    Stream,
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framing::Datagram => "datagram",
            Framing::Stream => "stream",
        })
    }
}

/// The bridge's end of the VM's socket; its type decides the [`Framing`].
///
/// A datagram socket may be connected (to the VM's address, or one end of a socket pair): the
/// bridge then sends to that peer only. Or it may be only bound (a path the VM sends to): the
/// bridge then follows the newest sender, as the [module docs](super#datagram-peers)
/// describe, so a VM that restarts is served again. A stream socket is one accepted or
/// connected connection; the bridge ends when the VM closes it.
///
/// Any descriptor of a unix-domain socket converts with [`TryFrom<OwnedFd>`], its framing
/// found from the socket's type: that is how a descriptor inherited from a VM monitor (one end
/// of its `socketpair(2)`) is bridged.
///
/// The bridge puts the socket in non-blocking mode.
///
/// ```
/// use std::os::fd::OwnedFd;
/// use std::os::unix::net::{UnixDatagram, UnixStream};
/// use vmnet::bridge::{Framing, VmSocket};
/// let (a, _b) = UnixStream::pair()?;
/// assert_eq!(VmSocket::from(a).framing(), Framing::Stream);
/// let (c, _d) = UnixDatagram::pair()?;
/// assert_eq!(VmSocket::from(c).framing(), Framing::Datagram);
///
/// // A descriptor of either type, e.g. inherited from the VM monitor:
/// let (e, _f) = UnixDatagram::pair()?;
/// let fd = OwnedFd::from(e);
/// assert_eq!(VmSocket::try_from(fd)?.framing(), Framing::Datagram);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum VmSocket {
    /// [`Framing::Datagram`].
    Datagram(UnixDatagram),
    /// [`Framing::Stream`].
    Stream(UnixStream),
}

impl VmSocket {
    /// The framing this socket carries.
    pub fn framing(&self) -> Framing {
        match self {
            VmSocket::Datagram(_) => Framing::Datagram,
            VmSocket::Stream(_) => Framing::Stream,
        }
    }

    pub(super) fn try_clone(&self) -> io::Result<VmSocket> {
        Ok(match self {
            VmSocket::Datagram(s) => VmSocket::Datagram(s.try_clone()?),
            VmSocket::Stream(s) => VmSocket::Stream(s.try_clone()?),
        })
    }

    /// Makes the socket non-blocking and free of `SIGPIPE`; a datagram socket also gets
    /// buffers of at least `buffer` bytes each way, as far as the system allows (it never
    /// shrinks them), and what it got is returned.
    pub(super) fn prepare(&self, buffer: usize) -> io::Result<Option<SocketBuffers>> {
        match self {
            VmSocket::Datagram(s) => {
                s.set_nonblocking(true)?;
                sys::no_sigpipe(s)?;
                Ok(Some(SocketBuffers {
                    requested: buffer,
                    send: grow_buffer(s, sockopt::SndBuf, buffer)?,
                    receive: grow_buffer(s, sockopt::RcvBuf, buffer)?,
                }))
            }
            VmSocket::Stream(s) => {
                s.set_nonblocking(true)?;
                sys::no_sigpipe(s)?;
                Ok(None)
            }
        }
    }
}

/// Raises one of `socket`'s buffer sizes (`option`: `SO_SNDBUF` or `SO_RCVBUF`) to `want`
/// bytes, or as close as the system allows, and returns the size it reports then.
///
/// Linux caps the size silently (`net.core.wmem_max`/`rmem_max`) and reports twice what it
/// keeps for data; macOS refuses sizes above `kern.ipc.maxsockbuf` (`ENOBUFS`), so the size
/// asked for is halved until it is accepted.
fn grow_buffer<O>(socket: &UnixDatagram, option: O, want: usize) -> io::Result<usize>
where
    O: socket::GetSockOpt<Val = usize> + socket::SetSockOpt<Val = usize> + Copy,
{
    let now = socket::getsockopt(socket, option)?;
    let mut ask = want;
    while ask > now {
        match socket::setsockopt(socket, option, &ask) {
            Ok(()) => break,
            Err(Errno::ENOBUFS) => ask /= 2,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(socket::getsockopt(socket, option)?)
}

/// The buffer sizes of a datagram VM socket: what the bridge asked for (the largest frame
/// times the frames of one batch, so a whole batch fits) and what the system gave, from
/// [`RunningBridge::socket_buffers`](super::RunningBridge::socket_buffers). Its `Display` is
/// one line, for logs, saying what to raise when the system capped them.
///
/// Too small a send buffer drops frames a VM would have read in time; on macOS it also
/// limits the largest datagram (2048 bytes by default), so TSO-sized frames need it raised.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketBuffers {
    /// Bytes asked for, each way.
    pub requested: usize,
    /// The send buffer's size, as the system reports it (Linux reports twice the payload it
    /// keeps, to cover its bookkeeping).
    pub send: usize,
    /// The receive buffer's size, as the system reports it.
    pub receive: usize,
}

impl SocketBuffers {
    /// Whether the system gave less than was asked for, either way.
    pub fn is_capped(&self) -> bool {
        self.send < self.requested || self.receive < self.requested
    }
}

impl fmt::Display for SocketBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "socket buffers: send {} bytes, receive {} bytes",
            self.send, self.receive
        )?;
        if self.is_capped() {
            write!(
                f,
                " (capped by the system below the {} bytes asked for: raise \
                 net.core.wmem_max and net.core.rmem_max on Linux, kern.ipc.maxsockbuf on \
                 macOS)",
                self.requested
            )?;
        }
        Ok(())
    }
}

impl From<UnixDatagram> for VmSocket {
    fn from(socket: UnixDatagram) -> Self {
        VmSocket::Datagram(socket)
    }
}

impl From<UnixStream> for VmSocket {
    fn from(socket: UnixStream) -> Self {
        VmSocket::Stream(socket)
    }
}

/// A descriptor of a unix-domain socket, its framing found from its type (`SO_TYPE`):
/// `SOCK_DGRAM` is [`Framing::Datagram`], `SOCK_STREAM` [`Framing::Stream`].
///
/// # Errors
/// [`SocketError`] when the descriptor is not a socket, not a unix-domain one, or of another
/// type; the descriptor is then closed.
impl TryFrom<OwnedFd> for VmSocket {
    type Error = SocketError;

    fn try_from(fd: OwnedFd) -> Result<Self, SocketError> {
        let ty = match socket::getsockopt(&fd, sockopt::SockType) {
            Ok(ty) => ty,
            Err(Errno::ENOTSOCK) => return Err(SocketError::NotASocket),
            // nix reports a type it has no name for as EINVAL.
            Err(Errno::EINVAL) => return Err(SocketError::UnsupportedType(None)),
            Err(e) => return Err(SocketError::Io(e.into())),
        };
        let addr = socket::getsockname::<SockaddrStorage>(fd.as_raw_fd())
            .map_err(|e| SocketError::Io(e.into()))?;
        if addr.family() != Some(AddressFamily::Unix) {
            return Err(SocketError::NotUnix);
        }
        match ty {
            SockType::Datagram => Ok(VmSocket::Datagram(fd.into())),
            SockType::Stream => {
                let listening = socket::getsockopt(&fd, sockopt::AcceptConn)
                    .map_err(|e| SocketError::Io(e.into()))?;
                if listening {
                    return Err(SocketError::Listening);
                }
                Ok(VmSocket::Stream(fd.into()))
            }
            other => Err(SocketError::UnsupportedType(Some(other))),
        }
    }
}

/// A descriptor that cannot be a [`VmSocket`], from [`VmSocket::try_from`].
#[non_exhaustive]
#[derive(Debug)]
pub enum SocketError {
    /// It is not a socket (a pipe, a file, a terminal).
    NotASocket,
    /// It is a socket, but not a unix-domain one (`AF_UNIX`).
    NotUnix,
    /// It is a unix-domain socket of a type that carries no framing the bridge knows
    /// (`SOCK_SEQPACKET`, …); the type, when it has a name.
    UnsupportedType(Option<SockType>),
    /// It is a listening stream socket, not a connection.
    Listening,
    /// The socket could not be examined.
    Io(io::Error),
}

/// What every message ends with: what the bridge does take.
const WANTED: &str = "the bridge takes a unix-domain SOCK_DGRAM or SOCK_STREAM socket, e.g. one end of a \
     socketpair(AF_UNIX, …)";

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::NotASocket => write!(f, "the descriptor is not a socket; {WANTED}"),
            SocketError::NotUnix => {
                write!(f, "the descriptor is not a unix-domain socket; {WANTED}")
            }
            SocketError::UnsupportedType(Some(ty)) => {
                write!(f, "the descriptor is a {ty:?} socket; {WANTED}")
            }
            SocketError::UnsupportedType(None) => {
                write!(f, "the descriptor is a socket of an unknown type; {WANTED}")
            }
            SocketError::Listening => f.write_str(
                "the descriptor is a listening stream socket, not a connection; pass a \
                 connected one (accept(2) first, or one end of a socketpair(AF_UNIX, …))",
            ),
            SocketError::Io(_) => f.write_str("the descriptor's socket type cannot be read"),
        }
    }
}

impl std::error::Error for SocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SocketError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// For `?` in functions returning `io::Result`: [`io::ErrorKind::InvalidInput`] with this
/// message, or the examining call's own error.
impl From<SocketError> for io::Error {
    fn from(e: SocketError) -> Self {
        match e {
            SocketError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixListener;

    use super::*;

    fn classify(fd: impl Into<OwnedFd>) -> Result<Framing, SocketError> {
        VmSocket::try_from(fd.into()).map(|s| s.framing())
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement getsockopt")]
    fn socket_pairs_of_both_types_are_recognised() {
        let (a, _) = UnixDatagram::pair().unwrap();
        assert_eq!(classify(a).unwrap(), Framing::Datagram);
        let (b, _) = UnixStream::pair().unwrap();
        assert_eq!(classify(b).unwrap(), Framing::Stream);
        // Unbound too: only the type counts.
        assert_eq!(
            classify(UnixDatagram::unbound().unwrap()).unwrap(),
            Framing::Datagram
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement getsockopt")]
    fn a_recognised_descriptor_still_carries_its_bytes() {
        let (a, b) = UnixStream::pair().unwrap();
        let VmSocket::Stream(mut ours) = VmSocket::try_from(OwnedFd::from(a)).unwrap() else {
            panic!("a stream socket pair end is a stream");
        };
        ours.write_all(b"frame").unwrap();
        let mut buf = [0; 5];
        std::io::Read::read_exact(&mut &b, &mut buf).unwrap();
        assert_eq!(&buf, b"frame");
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement getsockopt")]
    fn datagram_buffers_grow_as_far_as_the_system_allows() {
        let (a, _) = UnixDatagram::pair().unwrap();
        let socket = VmSocket::from(a);
        let small = socket.prepare(4096).unwrap().unwrap();
        assert!(!small.is_capped(), "{small}");
        assert!(small.send >= 4096 && small.receive >= 4096, "{small}");
        assert!(!small.to_string().contains("capped"), "{small}");
        // No system gives a socket a gigabyte by default.
        let huge = socket.prepare(1 << 30).unwrap().unwrap();
        assert!(huge.is_capped(), "{huge}");
        assert!(huge.send >= small.send, "never shrinks: {huge}");
        assert!(
            huge.to_string().contains("raise net.core.wmem_max"),
            "{huge}"
        );
        let (b, _) = UnixStream::pair().unwrap();
        assert_eq!(VmSocket::from(b).prepare(4096).unwrap(), None);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement getsockopt")]
    fn a_pipe_or_a_file_is_not_a_socket() {
        let (read, _write) = std::io::pipe().unwrap();
        let e = classify(read).unwrap_err();
        assert!(matches!(e, SocketError::NotASocket), "{e:?}");
        assert!(
            e.to_string().starts_with("the descriptor is not a socket;"),
            "{e}"
        );
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(matches!(classify(file), Err(SocketError::NotASocket)));
        let io: io::Error = SocketError::NotASocket.into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not implement getsockopt")]
    fn other_families_and_types_are_refused() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(matches!(classify(udp), Err(SocketError::NotUnix)));
        let seq = socket::socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            socket::SockFlag::empty(),
            None,
        )
        .unwrap();
        let e = classify(seq).unwrap_err();
        assert!(
            matches!(e, SocketError::UnsupportedType(Some(SockType::SeqPacket))),
            "{e:?}"
        );
        assert!(e.to_string().contains("SeqPacket"), "{e}");
        // A listening stream socket is a stream socket, but no connection to a VM.
        let dir = std::env::temp_dir().join(format!("vmnet-socket-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let e = classify(listener).unwrap_err();
        assert!(matches!(e, SocketError::Listening), "{e:?}");
        assert!(e.to_string().contains("accept(2) first"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

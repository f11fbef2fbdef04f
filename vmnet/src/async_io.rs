//! Async packet I/O on tokio (feature `tokio`).
//!
//! [`AsyncInterface`] wraps an [`Interface`] and registers its readiness descriptor with
//! tokio's reactor through [`AsyncFd`]. Reads are `async` and wait without a thread of their
//! own; writes stay synchronous, because vmnet never blocks on a write (it accepts a packet or
//! reports that it did not). [`AsyncInterface::split`] gives an [`AsyncReadHalf`] for one task
//! and the plain [`WriteHalf`] for another, and [`PacketStream`] turns either reader into a
//! [`Stream`] of frames.
//!
//! How readiness works: the descriptor becomes readable when packets arrive and a read clears
//! it. So every read here first waits until tokio reports the descriptor readable, then reads;
//! a read that finds nothing clears tokio's readiness flag and waits again. Reads never return
//! `0` packets.
//!
//! ```
//! # #[cfg(feature = "sim")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> vmnet::Result<()> {
//! use vmnet::async_io::AsyncInterface;
//! use vmnet::{InterfaceConfig, PacketBatch};
//!
//! // On macOS this is vmnet (root or an entitlement); elsewhere the simulator.
//! # let segment = vmnet::sim::Segment::new();
//! # let host = segment.host();
//! # let start = |config: &InterfaceConfig| segment.start(config);
//! let iface = start(&InterfaceConfig::shared())?;
//! let mut iface = AsyncInterface::new(iface)?;
//! let mut batch = PacketBatch::for_interface(iface.parameters());
//! # let mac = iface.parameters().mac_address().unwrap();
//! # let mut frame = mac.octets().to_vec();
//! # frame.extend_from_slice(&host.mac().octets());
//! # frame.extend_from_slice(&[0x88, 0xb5]);
//! # frame.resize(60, 0);
//! # host.send(&frame)?;
//! let n = iface.read_batch(&mut batch).await?; // waits for at least one packet
//! for frame in batch.iter().take(n) {
//!     println!("{} bytes", frame.len());
//! }
//! # assert_eq!(n, 1);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sim"))]
//! # fn main() {}
//! ```

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::batch::PacketBatch;
use crate::error::{Error, Result};
use crate::interface::{Interface, ReadHalf, WriteHalf};
use crate::params::Parameters;

/// What an [`AsyncReader`] reads from: [`Interface`] or [`ReadHalf`]. Sealed.
pub trait Readable: sealed::Sealed + AsRawFd + Unpin {}

impl Readable for Interface {}
impl Readable for ReadHalf {}

mod sealed {
    use crate::batch::PacketBatch;
    use crate::error::Result;
    use crate::params::Parameters;

    /// The reading side of [`Interface`](crate::Interface) and
    /// [`ReadHalf`](crate::ReadHalf), so one implementation serves both; and keeps
    /// [`Readable`](super::Readable) and [`PacketSource`](super::PacketSource) implemented by
    /// this crate only.
    #[allow(unreachable_pub)] // must be `pub` to bound a public trait; its module is private
    pub trait Sealed {
        fn read_batch(&mut self, batch: &mut PacketBatch) -> Result<usize>;
        fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>>;
        fn params(&self) -> &Parameters;
    }
}

impl sealed::Sealed for Interface {
    fn params(&self) -> &Parameters {
        self.parameters()
    }
    fn read_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        Interface::read_batch(self, batch)
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        Interface::read(self, buf)
    }
}

impl sealed::Sealed for ReadHalf {
    fn params(&self) -> &Parameters {
        self.parameters()
    }
    fn read_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        ReadHalf::read_batch(self, batch)
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        ReadHalf::read(self, buf)
    }
}

/// Registering with tokio's reactor failed; the interface (or half) is given back, still
/// running, with the reactor's error. As tokio's own `AsyncFdRegisterError`.
///
/// Converts into [`io::Error`] and [`Error`] (dropping, and so stopping, what it holds) for
/// `?` in functions that do not want it back.
pub struct RegisterError<T> {
    inner: T,
    error: io::Error,
}

impl<T> RegisterError<T> {
    /// What failed to register, and why.
    pub fn into_parts(self) -> (T, io::Error) {
        (self.inner, self.error)
    }

    /// What failed to register, still running.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// The reactor's error.
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

impl<T> fmt::Debug for RegisterError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for RegisterError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "tokio's reactor did not accept the interface's readiness descriptor (is the \
             runtime built with I/O enabled?)",
        )
    }
}

impl<T> std::error::Error for RegisterError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<RegisterError<T>> for io::Error {
    fn from(e: RegisterError<T>) -> Self {
        e.error
    }
}

impl<T> From<RegisterError<T>> for Error {
    fn from(e: RegisterError<T>) -> Self {
        Error::Io(e.error)
    }
}

/// An [`Interface`] (or a [`ReadHalf`]) whose reads are `async`, for tokio (feature `tokio`):
/// [`AsyncInterface`] and [`AsyncReadHalf`].
///
/// Reads wait on the interface's readiness descriptor through tokio's reactor; writes (on
/// [`AsyncInterface`]) are synchronous pass-throughs (vmnet writes never block). The packet
/// path allocates nothing: [`read_batch`](Self::read_batch) fills a [`PacketBatch`] you
/// allocate once.
///
/// Dropping an `AsyncInterface` drops the interface, which stops it and waits (bounded by the
/// stop timeout) for vmnet: a short blocking wait on the current thread. To stop from async
/// code without blocking a runtime thread, take the interface out with
/// [`into_inner`](Self::into_inner) and stop it in `tokio::task::spawn_blocking`.
pub struct AsyncReader<T: Readable> {
    fd: AsyncFd<T>,
    /// Read before consulting the reactor, until a read finds nothing. Set on registration:
    /// packets may already be queued while the descriptor is clear (the previous owner did
    /// not read until empty), and no readiness event would announce them. And a read that
    /// finds packets drains the descriptor, possibly before the reactor ever saw it readable,
    /// so only a read that finds nothing proves the reactor's view can be trusted again.
    optimistic: bool,
}

/// An [`Interface`] whose reads are `async`; see [`AsyncReader`] for the reading methods.
///
/// ```
/// # #[cfg(feature = "sim")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> vmnet::Result<()> {
/// use vmnet::async_io::AsyncInterface;
/// use vmnet::{InterfaceConfig, PacketBatch};
///
/// # let segment = vmnet::sim::Segment::new();
/// # let host = segment.host();
/// // `Interface::start` on macOS; a simulated segment here.
/// let mut iface = AsyncInterface::new(segment.start(&InterfaceConfig::shared())?)?;
/// let mut batch = PacketBatch::for_interface(iface.parameters());
/// # let mac = iface.parameters().mac_address().unwrap();
/// # let mut frame = mac.octets().to_vec();
/// # frame.extend_from_slice(&host.mac().octets());
/// # frame.extend_from_slice(&[0x88, 0xb5]);
/// # frame.resize(60, 0);
/// # host.send(&frame)?;
/// # let mut rounds = 0;
/// loop {
///     let n = iface.read_batch(&mut batch).await?;
///     // Echo every frame back (a real VMM would hand them to the guest).
///     iface.write_batch(&mut batch)?;
///     # rounds += n;
///     # if rounds == 1 { break; }
/// }
/// # assert_eq!(host.recv_timeout(std::time::Duration::from_secs(5)), Some(frame));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sim"))]
/// # fn main() {}
/// ```
pub type AsyncInterface = AsyncReader<Interface>;

/// The async reading half of a split [`AsyncInterface`] (see [`AsyncInterface::split`]); see
/// [`AsyncReader`] for its methods. To join the halves again, take the read half out with
/// [`into_inner`](AsyncReader::into_inner) and use [`ReadHalf::unsplit`].
pub type AsyncReadHalf = AsyncReader<ReadHalf>;

impl<T: Readable + fmt::Debug> fmt::Debug for AsyncReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncReader")
            .field("inner", self.fd.get_ref())
            .finish_non_exhaustive()
    }
}

impl<T: Readable> AsyncReader<T> {
    /// Registers the readiness descriptor of `inner` (an [`Interface`] or a [`ReadHalf`])
    /// with the current tokio runtime.
    ///
    /// # Errors
    /// The reactor refused the descriptor (an operating-system error): [`RegisterError`]
    /// gives `inner` back, still running.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled (`tokio::runtime::Builder::enable_io`; the
    /// `#[tokio::main]` and `#[tokio::test]` runtimes have it), as tokio's own `AsyncFd`
    /// does.
    ///
    /// ```
    /// # #[cfg(feature = "sim")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let segment = vmnet::sim::Segment::new();
    /// let iface = segment.start(&vmnet::InterfaceConfig::host())?;
    /// let iface = vmnet::async_io::AsyncInterface::new(iface)?;
    /// assert_eq!(iface.parameters().mtu(), 1500);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sim"))]
    /// # fn main() {}
    /// ```
    pub fn new(inner: T) -> std::result::Result<Self, RegisterError<T>> {
        // Panics outside a runtime, as documented.
        // SAFETY: `inner` is an `Interface` or a `ReadHalf` (the trait is sealed), whose
        // `as_raw_fd` is always the read end of its notifier's pipe: an open descriptor owned
        // by the notifier, which the `AsyncFd` keeps alive (through `inner`) until it is
        // dropped or `into_inner` deregisters it; it never changes and is never closed before.
        match unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) } {
            Ok(fd) => Ok(Self {
                fd,
                optimistic: true,
            }),
            Err(e) => {
                let (inner, error) = e.into_parts();
                Err(RegisterError { inner, error })
            }
        }
    }

    /// What vmnet reported about the interface.
    pub fn parameters(&self) -> &Parameters {
        self.fd.get_ref().params()
    }

    /// Polls `read` until it returns something. `read` answers `Ok(None)` for "nothing now".
    ///
    /// Each call either reads (and returns `Ready`) or reads nothing and returns `Pending`
    /// with the waker registered: state changes only together with a `Ready` result, which is
    /// what makes the futures built on it cancellation-safe.
    fn poll_with<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut read: impl FnMut(&mut T) -> Result<Option<R>>,
    ) -> Poll<Result<R>> {
        if self.optimistic {
            match read(self.fd.get_mut()) {
                Ok(Some(r)) => return Poll::Ready(Ok(r)),
                Ok(None) => self.optimistic = false,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        loop {
            let mut guard = ready!(self.fd.poll_read_ready_mut(cx)).map_err(Error::Io)?;
            match read(guard.get_inner_mut()) {
                Ok(Some(r)) => return Poll::Ready(Ok(r)),
                // Drained: forget the readiness tokio saw (unless a newer event arrived in the
                // meantime, which tokio keeps) and wait for the next one.
                Ok(None) => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Waits until packets are available, then reads as many as are waiting (up to the batch's
    /// capacity and the interface's read limit) into `batch`. Returns how many: always at
    /// least 1.
    ///
    /// Allocates nothing; the batch's slots must hold the maximum packet size
    /// ([`PacketBatch::for_interface`] sizes them so), else [`Error::BufferTooSmall`].
    ///
    /// # Cancel safety
    /// Cancellation-safe: the only await point is the wait for readiness, and packets are
    /// read from vmnet synchronously in the same poll that returns them. A future dropped
    /// before completing (for instance by `tokio::time::timeout` or in a losing
    /// `tokio::select!` branch) has read nothing, so no packet is lost: the next read gets it.
    /// The batch may have been emptied by such a cancelled call.
    ///
    /// # Errors
    /// As [`Interface::read_batch`]; [`Error::Io`] if the reactor fails.
    #[doc(alias = "vmnet_read")]
    pub async fn read_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        poll_fn(|cx| self.poll_read_batch(cx, batch)).await
    }

    /// Polling form of [`read_batch`](Self::read_batch), for hand-written futures and
    /// streams: `Ready` with at least one packet, or `Pending` having read nothing.
    ///
    /// # Errors
    /// As [`read_batch`](Self::read_batch).
    #[doc(alias = "vmnet_read")]
    pub fn poll_read_batch(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut PacketBatch,
    ) -> Poll<Result<usize>> {
        // A buffer that cannot hold the largest packet is an error at once, not after waiting.
        self.parameters().check_read_len(batch.slot_size())?;
        self.poll_with(cx, |r| Ok(Some(r.read_batch(batch)?).filter(|&n| n > 0)))
    }

    /// Waits for a packet and reads one into `buf`, which must hold the interface's maximum
    /// packet size; returns its length. Cancellation-safe, as
    /// [`read_batch`](Self::read_batch). Prefer `read_batch` for throughput.
    ///
    /// # Errors
    /// As [`Interface::read`]: [`Error::BufferTooSmall`] for a short buffer;
    /// [`Error::Io`] if the reactor fails.
    #[doc(alias = "vmnet_read")]
    pub async fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.parameters().check_read_len(buf.len())?;
        poll_fn(|cx| self.poll_with(cx, |r| r.read(buf))).await
    }

    /// The interface (or half).
    pub fn get_ref(&self) -> &T {
        self.fd.get_ref()
    }

    /// The interface (or half), mutably, for synchronous calls. Reads made through it may
    /// leave packets queued without a readiness event to announce them, so the next async
    /// read starts with an attempt before it waits: nothing is missed.
    pub fn get_mut(&mut self) -> &mut T {
        self.optimistic = true;
        self.fd.get_mut()
    }

    /// Deregisters from the reactor and gives the interface (or half) back, still running.
    pub fn into_inner(self) -> T {
        self.fd.into_inner()
    }

    /// A stream of the frames this reader receives, one owned `Vec<u8>` each. See
    /// [`PacketStream`].
    pub fn into_stream(self) -> PacketStream<Self> {
        let batch = PacketBatch::for_interface(self.parameters());
        PacketStream::new(self, batch)
    }
}

impl AsyncReader<Interface> {
    /// Writes one frame ([`Error::NotAccepted`] if vmnet did not take it now). Synchronous:
    /// vmnet writes never block. See [`Interface::write`].
    ///
    /// # Errors
    /// As [`Interface::write`].
    #[doc(alias = "vmnet_write")]
    pub fn write(&mut self, frame: &[u8]) -> Result<()> {
        self.fd.get_mut().write(frame)
    }

    /// Writes a batch; returns how many packets vmnet accepted. Synchronous: vmnet writes never
    /// block. See [`Interface::write_batch`].
    ///
    /// # Errors
    /// As [`Interface::write_batch`].
    #[doc(alias = "vmnet_write")]
    pub fn write_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        self.fd.get_mut().write_batch(batch)
    }

    /// Like [`write_batch`](Self::write_batch), from packet `first` on. See
    /// [`Interface::write_batch_from`].
    ///
    /// # Errors
    /// As [`Interface::write_batch_from`].
    #[doc(alias = "vmnet_write")]
    pub fn write_batch_from(&mut self, batch: &mut PacketBatch, first: usize) -> Result<usize> {
        self.fd.get_mut().write_batch_from(batch, first)
    }

    /// Splits into an async read half and a (synchronous, never blocking) write half, for two
    /// tasks or a task and a thread.
    ///
    /// # Errors
    /// Re-registering the read half with the reactor failed: [`RegisterError`] gives both
    /// halves back, still running.
    ///
    /// ```
    /// # #[cfg(feature = "sim")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let segment = vmnet::sim::Segment::new();
    /// let iface = vmnet::async_io::AsyncInterface::new(segment.start(&vmnet::InterfaceConfig::shared())?)?;
    /// let (mut reader, mut writer) = iface.split()?;
    /// let mut frame = vec![0xff; 6]; // broadcast
    /// frame.extend_from_slice(&writer.parameters().mac_address().unwrap().octets());
    /// frame.extend_from_slice(&[0x88, 0xb5]);
    /// frame.resize(60, 0);
    /// writer.write(&frame)?;
    /// # let _ = &mut reader;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sim"))]
    /// # fn main() {}
    /// ```
    #[allow(clippy::type_complexity)] // the halves, given back on failure
    pub fn split(
        self,
    ) -> std::result::Result<(AsyncReadHalf, WriteHalf), RegisterError<(ReadHalf, WriteHalf)>> {
        let (read, write) = self.into_inner().split();
        match AsyncReadHalf::new(read) {
            Ok(read) => Ok((read, write)),
            Err(e) => {
                let (read, error) = e.into_parts();
                Err(RegisterError {
                    inner: (read, write),
                    error,
                })
            }
        }
    }
}

/// What a [`PacketStream`] reads from: [`AsyncInterface`] or [`AsyncReadHalf`].
pub trait PacketSource: Unpin {
    /// Polls for at least one packet into `batch`, as [`AsyncReader::poll_read_batch`].
    ///
    /// # Errors
    /// As [`AsyncReader::poll_read_batch`].
    fn poll_read_batch(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut PacketBatch,
    ) -> Poll<Result<usize>>;
}

impl<T: Readable> PacketSource for AsyncReader<T> {
    fn poll_read_batch(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut PacketBatch,
    ) -> Poll<Result<usize>> {
        AsyncReader::poll_read_batch(self, cx, batch)
    }
}

/// A [`Stream`] of received frames, in order, from [`AsyncInterface::into_stream`] or
/// [`AsyncReadHalf::into_stream`].
///
/// Each item is one Ethernet frame as an owned `Vec<u8>`, or an error. Internally the stream
/// reads whole batches into one [`PacketBatch`] allocated when it is created, then hands the
/// frames out one by one.
///
/// **Allocation:** every frame yielded is a fresh `Vec<u8>` (one allocation and one copy per
/// frame). That is the price of owned items; for an allocation-free packet path use
/// [`AsyncInterface::read_batch`] with a reused batch instead.
///
/// The stream ends (`None`) when the interface has been stopped ([`Error::Stopped`]). Other
/// errors are yielded as items and the stream continues.
///
/// ```
/// # #[cfg(feature = "sim")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> vmnet::Result<()> {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
///
/// # let segment = vmnet::sim::Segment::new();
/// # let host = segment.host();
/// let iface = segment.start(&vmnet::InterfaceConfig::shared())?;
/// let mut frames = vmnet::async_io::AsyncInterface::new(iface)?.into_stream();
/// # let mut frame = vec![0xff; 6];
/// # frame.extend_from_slice(&host.mac().octets());
/// # frame.extend_from_slice(&[0x88, 0xb5]);
/// # frame.resize(60, 0);
/// # host.send(&frame)?;
/// // With `futures::StreamExt` or `tokio_stream::StreamExt` this is `frames.next().await`.
/// let first = poll_fn(|cx| Pin::new(&mut frames).poll_next(cx)).await;
/// assert_eq!(first.transpose()?.map(|f| f.len()), Some(60));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sim"))]
/// # fn main() {}
/// ```
pub struct PacketStream<S: PacketSource = AsyncInterface> {
    source: S,
    batch: PacketBatch,
    /// The next frame of `batch` to hand out.
    next: usize,
    done: bool,
}

impl<S: PacketSource> fmt::Debug for PacketStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketStream")
            .field("buffered", &self.buffered())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<S: PacketSource> PacketStream<S> {
    /// A stream reading from `source` through `batch` (whose slots must hold the maximum
    /// packet size, as [`PacketBatch::for_interface`] makes them).
    pub fn new(source: S, batch: PacketBatch) -> Self {
        Self {
            source,
            batch,
            next: 0,
            done: false,
        }
    }

    /// How many frames have been read from the interface but not yet yielded.
    pub fn buffered(&self) -> usize {
        self.batch.len().saturating_sub(self.next)
    }

    /// The source. The [`buffered`](Self::buffered) frames, already read from the interface,
    /// are discarded; read until it is 0 first to lose nothing.
    pub fn into_inner(self) -> S {
        self.source
    }
}

impl<S: PacketSource> Stream for PacketStream<S> {
    type Item = Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.next >= this.batch.len() {
            match ready!(this.source.poll_read_batch(cx, &mut this.batch)) {
                Ok(_) => this.next = 0,
                Err(Error::Stopped) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        let frame = this.batch.get(this.next).map(<[u8]>::to_vec);
        this.next += 1;
        // `get` is `Some` here: a successful read holds at least one frame.
        Poll::Ready(frame.map(Ok))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (self.buffered(), None)
        }
    }
}

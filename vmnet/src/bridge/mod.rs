//! A socket bridge: one vmnet [`Interface`] connected to a virtual machine's network socket.
//!
//! Virtual machine monitors that do not link vmnet themselves take their network from a unix
//! socket, in one of two framings ([`Framing`]):
//!
//! - **datagram**: one Ethernet frame per datagram on a unix datagram socket (vfkit, krunkit,
//!   and Virtualization.framework's `VZFileHandleNetworkDeviceAttachment`);
//! - **stream**: each frame preceded by its length as 4 bytes, big-endian, on a unix stream
//!   socket (QEMU's `-netdev stream` and `-netdev socket`).
//!
//! [`spawn`] runs a bridge on two threads, one per direction, with batched I/O on both sides:
//! [`PacketBatch`](crate::PacketBatch) reads and caller-owned buffers written through
//! [`Descriptors`](crate::Descriptors) on the vmnet side; on the socket side, datagrams move
//! many per system call (`recvmmsg`/`sendmmsg` on Linux, `recvmsg_x`/`sendmsg_x` on macOS
//! where the system exports them; one call per datagram elsewhere, or with
//! [`BridgeOptions::with_batched_io`]`(false)`), straight into and out of preallocated buffers,
//! and stream bytes go through a [`StreamDecoder`] over one reusable buffer. After start-up
//! nothing is allocated per packet. A datagram socket's buffers are raised to hold a batch of
//! the largest frames, as far as the system allows: [`RunningBridge::socket_buffers`] says
//! what it got, and whether the system capped it.
//!
//! - **A full VM side never stalls the bridge.** When the VM does not read (`EAGAIN`/`ENOBUFS`
//!   on send), the bridge retries for at most [`BridgeOptions::send_timeout`] per batch, then
//!   drops and counts ([`DirectionStats::drops`]). Frames vmnet does not accept are retried for
//!   at most [`BridgeOptions::write_timeout`], then dropped and counted the same way.
//! - **Malformed frames from the VM are dropped and counted**, never a crash: empty, shorter
//!   than an Ethernet header, longer than the interface accepts, or cut short by the end of the
//!   stream ([`MalformedFrame`], [`BridgeStats::malformed`]). A stream length prefix that cannot
//!   be a frame (above [`RESYNC_LIMIT`]) means the stream is lost: the connection is shut down
//!   and the bridge ends with [`ExitReason::Protocol`] ([`BridgeStats::protocol_errors`]).
//! - **It stops promptly** through a [`StopHandle`] (from a signal handler's thread, a test,
//!   another component), when the VM closes a stream connection, or on an unrecoverable error;
//!   [`RunningBridge::join`] gives the interface back with the final [`BridgeStats`] and the
//!   [`ExitReason`].
//!
//! # Datagram peers
//!
//! A datagram socket given **connected** (one end of a `socketpair(2)`, a descriptor from the
//! VM monitor, a socket `connect`ed to the VM's path) stays so: frames go to that peer only.
//!
//! A socket given only **bound** (a path the VM sends to, as `vmnet-bridge --listen` and
//! QEMU's `-netdev dgram` use it) is never connected: the bridge **follows the newest
//! sender**. Each datagram's sender address is looked at as it is received; frames for the
//! VM go (`sendto`) to the address of the latest one with a name (an unnamed socket cannot
//! be answered, and does not move the VM). When it changes — a VM restarted at another path,
//! or a second VM took over — the bridge switches at once and counts it in
//! [`BridgeStats::peer_changes`]. So a VM that exits and comes back, at the same path or a
//! new one, is served again with nothing to restart on the bridge's side.
//!
//! Datagrams have no connection: a VM that goes away is not noticed. Every frame that cannot
//! be delivered — no VM has sent anything yet, the VM's socket is gone (`ENOENT`) or closed
//! (`ECONNREFUSED`), it refuses the frame's size (`EMSGSIZE`), its path is now held by a
//! socket connected elsewhere (`EPERM`) — is dropped and counted in the VM direction's
//! [`DirectionStats::drops`], and the next frame is tried; the bridge goes on until stopped.
//!
//! The frame checks are public for fuzzing and reuse: [`check_frame`], [`StreamDecoder`],
//! [`encode_stream_frame`].
//!
//! The `vmnet-bridge` command-line tool (feature `cli`) wraps this module; see the README.
//!
//! ```
//! # #[cfg(feature = "sim")] {
//! use std::os::unix::net::UnixDatagram;
//! use std::time::Duration;
//! use vmnet::bridge::{self, BridgeOptions, ExitReason};
//! use vmnet::InterfaceConfig;
//!
//! // A simulated network here; on macOS, `vmnet::Interface::start(&config)`.
//! let segment = vmnet::sim::Segment::new();
//! let host = segment.host();
//! let iface = segment.start(&InterfaceConfig::shared())?;
//! let mac = iface.parameters().mac_address().unwrap();
//!
//! // The VM's end of the socket, and the bridge's.
//! let (vm, ours) = UnixDatagram::pair()?;
//! let bridge = bridge::spawn(iface, ours, &BridgeOptions::new())?;
//!
//! // A frame from the network reaches the VM as one datagram…
//! let mut frame = mac.octets().to_vec();
//! frame.extend_from_slice(&host.mac().octets());
//! frame.extend_from_slice(&[0x88, 0xb5]);
//! frame.resize(60, 0);
//! host.send(&frame)?;
//! vm.set_read_timeout(Some(Duration::from_secs(5)))?;
//! let mut buf = [0u8; 2048];
//! assert_eq!(vm.recv(&mut buf)?, 60);
//!
//! // …and a datagram from the VM reaches the network.
//! vm.send(&buf[..60])?;
//! assert!(host.recv_timeout(Duration::from_secs(5)).is_some());
//!
//! let exit = bridge.stop_and_join();
//! assert!(matches!(exit.reason, ExitReason::Stopped));
//! assert_eq!(exit.stats.to_vm.packets, 1);
//! let _iface = exit.interface.expect("the interface comes back");
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[allow(unsafe_code)]
mod batched;
mod frame;
mod peer;
mod pump;
mod socket;
mod spawn_error;
mod stats;
#[allow(unsafe_code)]
mod sys;

use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::control::Control;
use crate::error::Error;
use crate::interface::{Interface, ReadHalf, WriteHalf};

pub use frame::{
    DEFAULT_DECODER_BUFFER, LENGTH_PREFIX_LEN, MIN_FRAME_LEN, MalformedFrame, RESYNC_LIMIT,
    StreamDecoder, check_frame, encode_stream_frame,
};
pub use socket::{Framing, SocketBuffers, SocketError, VmSocket};
pub use spawn_error::SpawnError;
pub use stats::{BridgeStats, DirectionStats};

/// How long, by default, the bridge keeps retrying frames for a VM that does not read, per
/// batch, before dropping them.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_millis(20);
/// How long, by default, the bridge keeps retrying frames vmnet does not accept, per batch,
/// before dropping them.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_millis(20);
/// How often, at the latest, the bridge threads look at the stop flag by default (a stop
/// wakes them at once anyway; this is a safety net).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Tuning of a bridge; [`new`](Self::new) gives the defaults, by-value setters change them.
///
/// ```
/// use std::time::Duration;
/// let options = vmnet::bridge::BridgeOptions::new()
///     .with_send_timeout(Duration::from_millis(5))
///     .with_max_frame_len(1514);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct BridgeOptions {
    send_timeout: Duration,
    write_timeout: Duration,
    poll_interval: Duration,
    max_frame_len: Option<usize>,
    batched_io: bool,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl BridgeOptions {
    /// [`DEFAULT_SEND_TIMEOUT`], [`DEFAULT_WRITE_TIMEOUT`], [`DEFAULT_POLL_INTERVAL`], the
    /// interface's maximum packet size as the largest frame, and batched datagram I/O.
    pub fn new() -> Self {
        Self {
            send_timeout: DEFAULT_SEND_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            max_frame_len: None,
            batched_io: true,
        }
    }

    /// The most time spent, per batch, retrying frames for a VM whose socket is full; what
    /// is left of the batch is then dropped (and counted). Zero: never wait, drop at once.
    #[must_use]
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The most time spent, per batch, retrying frames vmnet does not accept; the rest is then
    /// dropped (and counted).
    #[must_use]
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// The longest the threads wait before looking at the stop flag again (a stop wakes them
    /// at once; this bounds the delay if that wake-up were lost). At least 1 ms.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The largest frame accepted from the VM; frames above it are malformed. Default, and
    /// upper bound: the interface's maximum packet size.
    #[must_use]
    pub fn with_max_frame_len(mut self, len: usize) -> Self {
        self.max_frame_len = Some(len);
        self
    }

    /// Whether datagrams move in batches, many per system call (`recvmmsg`/`sendmmsg` on
    /// Linux, `recvmsg_x`/`sendmsg_x` on macOS where the system has them), or one call per
    /// datagram. Default: batched; the per-frame path is kept for comparison
    /// (`cargo xtask bench`) and as a fallback, which a system without batched calls gets
    /// anyway. Stream sockets are unaffected. On macOS the batched calls take no address, so
    /// a bound socket that follows its VM by address (`--listen`) moves datagrams one call at
    /// a time; a connected socket (a socket pair, `--fd`) is batched.
    #[must_use]
    pub fn with_batched_io(mut self, batched: bool) -> Self {
        self.batched_io = batched;
        self
    }

    /// Whether datagrams move in batches (see [`with_batched_io`](Self::with_batched_io)).
    pub fn batched_io(&self) -> bool {
        self.batched_io
    }

    /// The most time spent, per batch, retrying frames for a VM whose socket is full.
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// The most time spent, per batch, retrying frames vmnet does not accept.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// The longest the threads wait before looking at the stop flag again.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// The largest frame accepted from the VM, if set (`None`: the interface's maximum packet
    /// size).
    pub fn max_frame_len(&self) -> Option<usize> {
        self.max_frame_len
    }
}

/// Stops a bridge from anywhere: another thread, a signal-watching loop, a test. Cloneable.
///
/// Stopping wakes the bridge's threads at once; they finish the batch in hand (bounded by the
/// send and write timeouts) and exit.
#[derive(Clone, Debug)]
pub struct StopHandle {
    inner: Arc<StopInner>,
}

#[derive(Debug)]
struct StopInner {
    stopped: AtomicBool,
    /// Written once on stop; never read, so `wake_rx` stays readable and every `poll` on it
    /// returns at once.
    wake_tx: UnixStream,
    wake_rx: UnixStream,
}

impl StopHandle {
    fn new() -> io::Result<Self> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        Ok(Self {
            inner: Arc::new(StopInner {
                stopped: AtomicBool::new(false),
                wake_tx,
                wake_rx,
            }),
        })
    }

    /// Asks the bridge to stop. Idempotent; returns at once.
    pub fn stop(&self) {
        if !self.inner.stopped.swap(true, Ordering::AcqRel) {
            // One byte into an empty socket buffer cannot block; if it failed anyway, the
            // threads still see the flag within the poll interval.
            let _ = (&self.inner.wake_tx).write(&[1]);
        }
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Readable once stopped.
    fn wake_fd(&self) -> BorrowedFd<'_> {
        self.inner.wake_rx.as_fd()
    }
}

/// Why a bridge ended.
#[non_exhaustive]
#[derive(Debug)]
pub enum ExitReason {
    /// Its [`StopHandle`] was used (or the [`RunningBridge`] dropped).
    Stopped,
    /// The VM closed the stream connection (or the stream socket failed as closed).
    PeerClosed,
    /// The VM sent something that is not the stream framing; the connection was shut down.
    Protocol(MalformedFrame),
    /// A socket or descriptor operation failed.
    Io(io::Error),
    /// vmnet failed (for instance, the interface was stopped under the bridge).
    Interface(Error),
    /// A bridge thread panicked: a bug in this crate (please report it). The interface is
    /// lost if the panicking thread held it.
    Panicked,
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Stopped => f.write_str("stopped"),
            ExitReason::PeerClosed => f.write_str("the VM closed the connection"),
            ExitReason::Protocol(e) => write!(f, "stream protocol error: {e}"),
            ExitReason::Io(e) => write!(f, "socket error: {e}"),
            ExitReason::Interface(e) => write!(f, "vmnet error: {}", e.report()),
            ExitReason::Panicked => f.write_str("a bridge thread panicked (a bug; please report)"),
        }
    }
}

/// What a finished bridge leaves: why it ended, its final counters, and the interface.
#[non_exhaustive]
#[derive(Debug)]
pub struct BridgeExit {
    /// Why it ended (the first cause, if several).
    pub reason: ExitReason,
    /// The final counters.
    pub stats: BridgeStats,
    /// The interface, still running, for another connection or to stop it; `None` only after
    /// [`ExitReason::Panicked`].
    pub interface: Option<Interface>,
}

/// State shared by the bridge threads and the [`RunningBridge`].
#[derive(Debug)]
struct Shared {
    stop: StopHandle,
    counters: stats::Counters,
    reason: Mutex<Option<ExitReason>>,
    exited: Mutex<u8>,
    exited_cond: Condvar,
    options: BridgeOptions,
    max_frame_len: usize,
    /// The VM's address, for a bound datagram socket (unused otherwise).
    peer: peer::Peer,
}

impl Shared {
    /// Records why the bridge ends (the first cause wins) and stops both threads.
    fn end(&self, reason: ExitReason) {
        let mut slot = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.stop.stop();
    }
}

/// Counts a thread as exited when dropped, even by a panic.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.end(ExitReason::Panicked);
        }
        *self.0.exited.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.exited_cond.notify_all();
        // Wake the other thread too: one direction alone is no bridge.
        self.0.stop.stop();
    }
}

/// A bridge at work, from [`spawn`]. Dropping it stops it and waits for its threads.
pub struct RunningBridge {
    shared: Arc<Shared>,
    control: Control,
    framing: Framing,
    socket_buffers: Option<SocketBuffers>,
    to_vm: Option<JoinHandle<Option<ReadHalf>>>,
    from_vm: Option<JoinHandle<Option<WriteHalf>>>,
}

impl fmt::Debug for RunningBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningBridge")
            .field("framing", &self.framing)
            .field("stats", &self.stats())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Starts bridging `interface` and the VM's `socket` on two threads (named
/// `vmnet-bridge-to-vm` and `vmnet-bridge-from-vm`).
///
/// # Errors
/// [`SpawnError`] if the socket cannot be prepared (made non-blocking, cloned) or a thread
/// cannot be started; it gives the interface back, still running.
pub fn spawn(
    interface: Interface,
    socket: impl Into<VmSocket>,
    options: &BridgeOptions,
) -> Result<RunningBridge, SpawnError> {
    let socket = socket.into();
    let framing = socket.framing();
    let params = interface.parameters();
    // Packets carry the virtio-net header when it is on: buffer_len counts it.
    let interface_max = params.buffer_len();
    let max_frame_len = options
        .max_frame_len
        .map_or(interface_max, |len| len.min(interface_max));
    // Room for a batch of the largest frames, each way.
    let batch = params.read_max_packets().max(params.write_max_packets());
    let prepared = socket
        .prepare(interface_max.saturating_mul(batch))
        .and_then(|buffers| Ok((buffers, socket.try_clone()?, StopHandle::new()?)));
    let (socket_buffers, other, stop) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return Err(SpawnError::new(interface, e)),
    };
    let shared = Arc::new(Shared {
        stop,
        counters: stats::Counters::default(),
        reason: Mutex::new(None),
        exited: Mutex::new(0),
        exited_cond: Condvar::new(),
        options: options.clone(),
        max_frame_len,
        peer: peer::Peer::default(),
    });
    // Both threads start before the interface is split: if either cannot, the other gets no
    // work (its channel closes) and the interface is given back whole.
    let (to_vm_work, to_vm_rx) = mpsc::sync_channel(1);
    let to_vm = match start_thread("vmnet-bridge-to-vm", to_vm_rx, &shared, pump::ToVm::run) {
        Ok(handle) => handle,
        Err(e) => return Err(SpawnError::new(interface, e)),
    };
    let (from_vm_work, from_vm_rx) = mpsc::sync_channel(1);
    let from_vm = match start_thread(
        "vmnet-bridge-from-vm",
        from_vm_rx,
        &shared,
        pump::FromVm::run,
    ) {
        Ok(handle) => handle,
        Err(e) => {
            drop(to_vm_work);
            let _ = to_vm.join();
            return Err(SpawnError::new(interface, e));
        }
    };
    let control = interface.control();
    let (read, write) = interface.split();
    // Each thread waits in `recv` until it gets its work or the sender is dropped, so these
    // sends into a one-slot channel neither block nor fail.
    let _ = to_vm_work.send(pump::ToVm::new(read, socket, shared.clone()));
    let _ = from_vm_work.send(pump::FromVm::new(write, other, shared.clone()));
    Ok(RunningBridge {
        shared,
        control,
        framing,
        socket_buffers,
        to_vm: Some(to_vm),
        from_vm: Some(from_vm),
    })
}

/// Starts a bridge thread named `name` that runs `run` on the work `rx` delivers (and does
/// nothing if the sender is dropped first); it counts as exited when it ends, even by a panic.
fn start_thread<W: Send + 'static, R: Send + 'static>(
    name: &str,
    rx: mpsc::Receiver<W>,
    shared: &Arc<Shared>,
    run: fn(W) -> R,
) -> io::Result<JoinHandle<Option<R>>> {
    let guard = ExitGuard(shared.clone());
    thread::Builder::new().name(name.into()).spawn(move || {
        let _guard = guard;
        rx.recv().ok().map(run)
    })
}

impl RunningBridge {
    /// The framing of the VM's socket.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The datagram socket's buffer sizes, as asked for and as the system set them (`None`
    /// for a stream socket). [`SocketBuffers::is_capped`] says whether the system gave less;
    /// its `Display` is a line for a log saying what to raise. The library prints nothing.
    ///
    /// ```
    /// # #[cfg(feature = "sim")] {
    /// use std::os::unix::net::UnixDatagram;
    /// use vmnet::bridge::{self, BridgeOptions};
    /// # let segment = vmnet::sim::Segment::new();
    /// # let iface = segment.start(&vmnet::InterfaceConfig::shared())?;
    /// let (_vm, ours) = UnixDatagram::pair()?;
    /// let bridge = bridge::spawn(iface, ours, &BridgeOptions::new())?;
    /// let buffers = bridge.socket_buffers().unwrap();
    /// if buffers.is_capped() {
    ///     eprintln!("{buffers}");
    /// }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn socket_buffers(&self) -> Option<SocketBuffers> {
        self.socket_buffers
    }

    /// A [`Control`] of the bridged interface: port forwarding (and its parameters and
    /// capabilities) from any thread while the bridge moves its frames. It stays valid after
    /// [`join`](Self::join), as long as the interface given back runs, and reports
    /// [`Error::Stopped`] once that interface is stopped or dropped.
    ///
    /// ```
    /// # #[cfg(feature = "sim")] {
    /// use std::os::unix::net::UnixDatagram;
    /// use vmnet::bridge::{self, BridgeOptions};
    /// use vmnet::{InterfaceConfig, PortForwardingRule, Protocol};
    ///
    /// # let segment = vmnet::sim::Segment::new();
    /// # let iface = segment.start(&InterfaceConfig::shared())?;
    /// // let iface = vmnet::Interface::start(&InterfaceConfig::shared())?;
    /// let (_vm, ours) = UnixDatagram::pair()?;
    /// let bridge = bridge::spawn(iface, ours, &BridgeOptions::new())?;
    /// let ssh = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.105.2:22".parse().unwrap());
    /// bridge.control().add_port_forwarding_rule(&ssh)?;
    /// assert_eq!(bridge.control().port_forwarding_rules()?, [ssh]);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// A handle that stops this bridge, for another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.shared.stop.clone()
    }

    /// Asks the bridge to stop (see [`StopHandle::stop`]); [`join`](Self::join) then returns
    /// promptly.
    pub fn stop(&self) {
        self.shared.stop.stop();
    }

    /// The counters now. Each direction adds a batch's frames once the batch is handled, so
    /// the far side may already hold frames that the counters do not show yet; wait for the
    /// counts rather than assume them.
    pub fn stats(&self) -> BridgeStats {
        self.shared.counters.snapshot()
    }

    /// Whether both threads have exited (stopped, or ended on their own).
    pub fn is_finished(&self) -> bool {
        *self
            .shared
            .exited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            >= 2
    }

    /// Waits up to `timeout` for the bridge to end (by itself or after a stop); returns whether
    /// it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut exited = self
            .shared
            .exited
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *exited < 2 {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            exited = self
                .shared
                .exited_cond
                .wait_timeout(exited, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Waits for the bridge to end by itself (the VM closes the connection, an error) or
    /// through its [`StopHandle`], and returns what it leaves.
    pub fn join(mut self) -> BridgeExit {
        let read = self.to_vm.take().and_then(|h| h.join().ok().flatten());
        let write = self.from_vm.take().and_then(|h| h.join().ok().flatten());
        let interface = match (read, write) {
            (Some(read), Some(write)) => read.unsplit(write).ok(),
            _ => None,
        };
        let reason = self
            .shared
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or(ExitReason::Stopped);
        BridgeExit {
            reason,
            stats: self.stats(),
            interface,
        }
    }

    /// [`stop`](Self::stop), then [`join`](Self::join).
    pub fn stop_and_join(self) -> BridgeExit {
        self.stop();
        self.join()
    }
}

impl Drop for RunningBridge {
    fn drop(&mut self) {
        self.shared.stop.stop();
        if let Some(h) = self.to_vm.take() {
            let _ = h.join();
        }
        if let Some(h) = self.from_vm.take() {
            let _ = h.join();
        }
    }
}

//! [`Interface`]: a started vmnet interface and its read and write halves.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use vmnet_sys::{interface_ref, vmpktdesc};

use crate::backend::{self, Driver, StartContext, Started};
use crate::batch::PacketBatch;
use crate::config::InterfaceConfig;
use crate::control::{self, Control, Controlled, Gate};
use crate::descs::{Descriptors, ReadDescs, SingleRead, SingleWrite, WriteDescs};
use crate::error::{Error, Result};
use crate::events::{Event, Notifier};
use crate::forwarding::{PortForwardingKey, PortForwardingRule};
use crate::options::StartOptions;
use crate::params::Parameters;

/// State shared by an interface's halves. Dropping the last half stops the interface.
/// [`Control`]s hold it weakly.
struct Shared {
    driver: Box<dyn Driver>,
    notifier: Arc<Notifier>,
    params: Parameters,
    stop_timeout: Duration,
    /// Keeps control operations (which may run on any thread) off a stopping driver.
    gate: Gate,
}

impl Controlled for Shared {
    fn driver(&self) -> &dyn Driver {
        &*self.driver
    }

    fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl Shared {
    fn stop(&self) -> Result<()> {
        // No new callback invocation starts once this returns; then control operations are
        // waited for and refused from now on; then vmnet's events are disabled and the
        // interface stopped (the driver does both, in that order).
        self.notifier.set_callback(None);
        self.gate.close();
        self.driver.stop(self.stop_timeout)
    }

    fn control(self: &Arc<Self>) -> Control {
        Control::new(self, self.params.clone())
    }

    /// Every read goes through here: readiness is cleared first (frames arriving after this
    /// raise a new event), then the driver reads (and checks the lengths its platform claims
    /// against the buffers: [`Driver::read`]).
    fn read_descs(&self, descs: ReadDescs<'_>) -> Result<usize> {
        self.notifier.clear();
        self.driver.read(descs)
    }

    fn read(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.params.check_read_len(buf.len())?;
        let room = buf.len();
        let mut one = SingleRead::new(buf);
        if self.read_descs(one.descs())? == 0 {
            return Ok(None);
        }
        let len = one.len();
        if len > room {
            return Err(Error::PacketTooBig {
                index: 0,
                len,
                max: room,
            });
        }
        Ok(Some(len))
    }

    fn write(&self, frame: &[u8]) -> Result<()> {
        self.check_len(0, frame.len())?;
        match self.driver.write(SingleWrite::new(frame).descs())? {
            0 => Err(Error::NotAccepted),
            _ => Ok(()),
        }
    }

    fn read_batch(&self, batch: &mut PacketBatch) -> Result<usize> {
        self.params.check_read_len(batch.slot_size())?;
        let descs = batch.prepare_read(self.params.read_max_packets());
        if descs.is_empty() {
            return Ok(0);
        }
        let read = self.read_descs(descs);
        batch.finish_read(read)
    }

    fn write_batch(&self, batch: &mut PacketBatch, first: usize) -> Result<usize> {
        let end = batch
            .len()
            .min(first.saturating_add(self.params.write_max_packets()));
        if first >= end {
            return Ok(0);
        }
        // No packet is longer than its slot: only a batch with larger slots needs the check.
        if batch.slot_size() > self.params.buffer_len() {
            for (index, packet) in batch.iter().enumerate().take(end).skip(first) {
                self.check_len(index, packet.len())?;
            }
        }
        self.driver.write(batch.prepare_write(first..end))
    }

    fn read_into<B: AsMut<[u8]>>(&self, descs: &mut Descriptors, bufs: &mut [B]) -> Result<usize> {
        let set = descs.prepare_read(
            bufs,
            self.params.read_max_packets(),
            self.params.buffer_len(),
        )?;
        if set.is_empty() {
            return Ok(0);
        }
        let n = self.read_descs(set)?;
        descs.finish_read(n)?;
        Ok(n)
    }

    fn write_from<B: AsRef<[u8]>>(&self, descs: &mut Descriptors, frames: &[B]) -> Result<usize> {
        let set = descs.prepare_write(frames, self.params.write_max_packets(), |index, len| {
            self.check_len(index, len)
        })?;
        if set.is_empty() {
            return Ok(0);
        }
        self.driver.write(set)
    }

    fn check_len(&self, index: usize, len: usize) -> Result<()> {
        self.params.check_write_len(index, len)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Bounded by stop_timeout; an error here has nowhere to go and the handle is
        // abandoned either way.
        let _ = self.stop();
    }
}

/// A started vmnet interface: a virtual Ethernet port on a host-only, shared or bridged
/// network.
///
/// Reads and writes move raw Ethernet frames. Events (a callback, a pollable descriptor or a
/// blocking wait) say when packets arrive. [`split`](Self::split) gives a read half and a write
/// half for two threads. Dropping the interface (or its last half) stops it, with a bounded
/// wait; [`stop`](Self::stop) does the same and reports errors.
///
/// ```no_run
/// use vmnet::{Interface, InterfaceConfig, PacketBatch};
/// # fn main() -> vmnet::Result<()> {
/// let mut iface = Interface::start(&InterfaceConfig::shared())?;
/// let mut batch = PacketBatch::for_interface(iface.parameters());
/// loop {
///     iface.wait_readable(None)?;
///     while iface.read_batch(&mut batch)? > 0 {
///         for frame in &batch {
///             println!("{} bytes", frame.len());
///         }
///     }
/// }
/// # }
/// ```
pub struct Interface {
    shared: Arc<Shared>,
}

impl fmt::Debug for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interface")
            .field("parameters", &self.shared.params)
            .finish_non_exhaustive()
    }
}

impl Interface {
    /// Starts an interface with `config` on this platform's backend and default options.
    ///
    /// On macOS this is vmnet.framework (root or the `com.apple.vm.networking` entitlement is
    /// needed up to macOS 15): wraps `vmnet_start_interface`, then
    /// `vmnet_interface_set_event_callback`. Elsewhere, with the `sim` feature, it is the
    /// simulator's default segment ([`sim::Segment::global`](crate::sim::Segment::global));
    /// without it, [`Error::Unsupported`].
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration and [`Error::Unsupported`] for an option
    /// this system lacks (or for no vmnet at all), before anything is started;
    /// [`Error::Vmnet`] when vmnet refuses to start (`Operation::Start`) or to take the event
    /// callback; [`Error::Timeout`] when it does not answer within
    /// [`StartOptions::start_timeout`]; [`Error::Parameters`] if the parameters vmnet reports
    /// are unusable and [`Error::Io`] if the readiness descriptor cannot be made (the
    /// interface is stopped again in both cases).
    #[doc(alias = "vmnet_start_interface")]
    pub fn start(config: &InterfaceConfig) -> Result<Self> {
        Self::start_with(config, &StartOptions::new())
    }

    /// [`start`](Self::start) with options.
    ///
    /// # Errors
    /// As for [`start`](Self::start).
    #[doc(alias = "vmnet_start_interface")]
    pub fn start_with(config: &InterfaceConfig, options: &StartOptions) -> Result<Self> {
        Self::start_on(config, options, backend::platform::start)
    }

    /// Starts through a backend's `start`, wiring up the notifier.
    pub(crate) fn start_on<F>(
        config: &InterfaceConfig,
        options: &StartOptions,
        start: F,
    ) -> Result<Self>
    where
        F: FnOnce(&InterfaceConfig, StartContext<'_>) -> Result<Started>,
    {
        let notifier = Arc::new(Notifier::new()?);
        let Started { driver, params } = start(
            config,
            StartContext {
                options,
                notifier: notifier.clone(),
            },
        )?;
        Ok(Self {
            shared: Arc::new(Shared {
                driver,
                notifier,
                params,
                stop_timeout: options.stop_timeout,
                gate: Gate::new(),
            }),
        })
    }

    /// What vmnet reported about the interface: MAC address, MTU, packet limits, range…
    pub fn parameters(&self) -> &Parameters {
        &self.shared.params
    }

    /// Reads one packet into `buf`, which must hold the interface's largest packet,
    /// [`buffer_len`](Parameters::buffer_len). `Ok(None)`: nothing to read now. Wraps
    /// `vmnet_read` with one descriptor.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if `buf` is shorter than
    /// [`buffer_len`](Parameters::buffer_len) (nothing is read); [`Error::Vmnet`] when vmnet
    /// refuses; [`Error::PacketTooBig`] if vmnet reports a length past `buf` (the packet is
    /// lost).
    #[doc(alias = "vmnet_read")]
    pub fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.shared.read(buf)
    }

    /// Writes one Ethernet frame (after the virtio-net header when it is on).
    ///
    /// Wraps `vmnet_write` with one descriptor.
    ///
    /// # Errors
    /// [`Error::NotAccepted`] when vmnet took nothing now (it reports 0 packets written, with
    /// no error): the frame was not sent — retry later, or count it as dropped; its
    /// [`kind`](Error::kind) is `WouldBlock`, as for a non-blocking socket.
    /// [`Error::PacketTooBig`] for a packet larger than [`buffer_len`](Parameters::buffer_len)
    /// (nothing is written), [`Error::Vmnet`] when vmnet refuses.
    #[doc(alias = "vmnet_write")]
    pub fn write(&mut self, frame: &[u8]) -> Result<()> {
        self.shared.write(frame)
    }

    /// Reads as many packets as are waiting, up to the batch's capacity and the interface's
    /// read limit, into `batch` (emptied first). Returns how many; 0 means nothing now.
    ///
    /// Allocates nothing. The batch's slots must hold [`buffer_len`](Parameters::buffer_len)
    /// ([`PacketBatch::for_interface`] sizes them so), else [`Error::BufferTooSmall`]. Wraps
    /// one `vmnet_read` call.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] for slots shorter than
    /// [`buffer_len`](Parameters::buffer_len) (nothing is read); [`Error::Vmnet`] when vmnet
    /// refuses; [`Error::PacketTooBig`] if vmnet reports a length past a slot (that call's
    /// packets are lost). The batch is left empty on an error.
    #[doc(alias = "vmnet_read")]
    pub fn read_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        self.shared.read_batch(batch)
    }

    /// Writes the batch's packets, as many as the interface's write limit allows in one call;
    /// returns how many vmnet accepted. Packets from that count on were not written: pass it
    /// to [`write_batch_from`](Self::write_batch_from) to continue.
    ///
    /// Wraps one `vmnet_write` call.
    ///
    /// # Errors
    /// [`Error::PacketTooBig`] (before anything is written) if a packet exceeds
    /// [`buffer_len`](Parameters::buffer_len); [`Error::Vmnet`] when vmnet refuses.
    #[doc(alias = "vmnet_write")]
    pub fn write_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        self.shared.write_batch(batch, 0)
    }

    /// Like [`write_batch`](Self::write_batch), starting at packet `first`.
    ///
    /// # Errors
    /// As for [`write_batch`](Self::write_batch).
    #[doc(alias = "vmnet_write")]
    pub fn write_batch_from(&mut self, batch: &mut PacketBatch, first: usize) -> Result<usize> {
        self.shared.write_batch(batch, first)
    }

    /// Reads as many packets as are waiting into buffers you own — guest memory, your own
    /// ring — one packet per buffer, with no copy and no allocation: vmnet's read call
    /// (`vmnet_read`) through `descs`, pointed at the buffers for this call. Returns how many
    /// packets were read, into the first buffers; 0 means nothing now. Packet `i` is then the
    /// first [`descs.lens()[i]`](Descriptors::lens) bytes of `bufs[i]`.
    ///
    /// One call reads into at most [`read_max_packets`](Parameters::read_max_packets) buffers,
    /// and at most `descs`' [capacity](Descriptors::capacity); the buffers past those are not
    /// used. Each buffer used must hold [`buffer_len`](Parameters::buffer_len) bytes (the
    /// maximum packet size, plus the virtio-net header when it is on). `bufs` is anything
    /// whose items are byte slices: `&mut [u8]`, `Vec<u8>`, `[u8; N]`…
    ///
    /// ```
    /// # #[cfg(feature = "sim")] {
    /// use vmnet::{Descriptors, InterfaceConfig};
    /// # let segment = vmnet::sim::Segment::new();
    /// let mut iface = segment.start(&InterfaceConfig::shared())?;
    /// let mut descs = Descriptors::for_interface(iface.parameters());
    /// let len = iface.parameters().buffer_len();
    /// // Say, part of the guest's memory, cut into receive buffers.
    /// let mut guest = vec![0u8; 8 * len];
    /// let mut bufs: Vec<&mut [u8]> = guest.chunks_mut(len).collect();
    /// let n = iface.read_into(&mut descs, &mut bufs)?;
    /// for (buf, &len) in bufs.iter().zip(descs.lens()) {
    ///     println!("received {:?}", &buf[..len]);
    /// }
    /// assert_eq!(n, 0, "nothing was sent to this interface yet");
    /// # }
    /// # Ok::<(), vmnet::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if a buffer it would use is shorter than
    /// [`buffer_len`](Parameters::buffer_len) (nothing is read); [`Error::Vmnet`] when vmnet
    /// refuses; [`Error::PacketTooBig`] if vmnet reports a length past its buffer (that
    /// call's packets are lost). [`lens`](Descriptors::lens) is empty after an error.
    #[doc(alias = "vmnet_read")]
    pub fn read_into<B: AsMut<[u8]>>(
        &mut self,
        descs: &mut Descriptors,
        bufs: &mut [B],
    ) -> Result<usize> {
        self.shared.read_into(descs, bufs)
    }

    /// Writes frames from buffers you own, one whole Ethernet frame (after the virtio-net
    /// header when it is on) per item of `frames`, with no copy and no allocation: vmnet's
    /// write call (`vmnet_write`) through `descs`, pointed at the frames for this call.
    /// Returns how many frames vmnet took, from the first; the rest were not written: pass
    /// `&frames[n..]` to continue.
    ///
    /// One call carries at most [`write_max_packets`](Parameters::write_max_packets) frames,
    /// and at most `descs`' [capacity](Descriptors::capacity). `frames` is anything whose
    /// items are byte slices: `&[u8]`, `Vec<u8>`, `[u8; N]`…
    ///
    /// ```
    /// # #[cfg(feature = "sim")] {
    /// use vmnet::{Descriptors, InterfaceConfig, MacAddr};
    /// # let segment = vmnet::sim::Segment::new();
    /// let mut iface = segment.start(&InterfaceConfig::shared())?;
    /// let mut descs = Descriptors::for_interface(iface.parameters());
    /// let mac = iface.parameters().mac_address().unwrap();
    /// let mut frame = [0u8; 60];
    /// frame[..6].copy_from_slice(&MacAddr::BROADCAST.octets());
    /// frame[6..12].copy_from_slice(&mac.octets());
    /// // Two frames, wherever they are (say, in the guest's transmit ring).
    /// let frames: [&[u8]; 2] = [&frame, &frame];
    /// let mut sent = 0;
    /// while sent < frames.len() {
    ///     sent += iface.write_from(&mut descs, &frames[sent..])?;
    /// }
    /// # }
    /// # Ok::<(), vmnet::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::PacketTooBig`] (before anything is written) if a frame it would send is
    /// larger than [`buffer_len`](Parameters::buffer_len); [`Error::Vmnet`] when vmnet
    /// refuses.
    #[doc(alias = "vmnet_write")]
    pub fn write_from<B: AsRef<[u8]>>(
        &mut self,
        descs: &mut Descriptors,
        frames: &[B],
    ) -> Result<usize> {
        self.shared.write_from(descs, frames)
    }

    /// Reads into packet descriptors you built: vmnet's own read call (`vmnet_read`), for
    /// buffers this crate does not own — guest memory, your own ring. Returns how many
    /// descriptors were filled, from the first; each filled one's `vm_pkt_size` is then its
    /// packet's length. Like every read, it clears readiness first. Buffers should hold
    /// [`buffer_len`](Parameters::buffer_len) bytes (the maximum packet size, plus the
    /// virtio-net header when it is on).
    ///
    /// vmnet writes each filled descriptor's `vm_pkt_size`, and nothing but vmnet keeps it
    /// within the buffer: it may claim more bytes than the descriptor's iovecs hold. This is
    /// checked after the call; such a length is [`Error::PacketTooBig`] naming the descriptor
    /// (and the packets of that call are lost), never a length past a buffer.
    ///
    /// [`read_batch`](Self::read_batch) is the safe form; it builds such descriptors over a
    /// [`PacketBatch`]. The types are vmnet's, re-exported as [`ffi`](crate::ffi).
    ///
    /// ```
    /// # #[cfg(feature = "sim")] {
    /// use vmnet::ffi::{iovec, vmpktdesc};
    /// # let segment = vmnet::sim::Segment::new();
    /// # let mut iface = segment.start(&vmnet::InterfaceConfig::shared())?;
    /// let mut buf = vec![0u8; iface.parameters().buffer_len()];
    /// let mut iov = iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    /// let mut descs = [vmpktdesc {
    ///     vm_pkt_size: buf.len(),
    ///     vm_pkt_iov: &raw mut iov,
    ///     vm_pkt_iovcnt: 1,
    ///     vm_flags: 0,
    /// }];
    /// // SAFETY: one descriptor with one iovec over `buf`, which nothing else uses meanwhile;
    /// // the size equals the iovec length.
    /// let n = unsafe { iface.read_raw(&mut descs)? };
    /// assert_eq!(n, 0, "nothing was sent to this interface yet");
    /// # }
    /// # Ok::<(), vmnet::Error>(())
    /// ```
    ///
    /// # Safety
    /// Every descriptor has `vm_pkt_iovcnt == 1` and `vm_flags == 0`, and `vm_pkt_iov` points
    /// at an iovec whose base is valid for writes of `iov_len` bytes, with
    /// `vm_pkt_size == iov_len`; the iovecs and buffers stay valid, and nothing else accesses
    /// them, until the call returns; no buffer overlaps the descriptors or the iovecs. (vmnet
    /// reads the iovecs and writes the buffers and each descriptor's `vm_pkt_size` and
    /// `vm_flags`.)
    ///
    /// # Errors
    /// [`Error::Vmnet`] as vmnet answers: more descriptors than
    /// [`read_max_packets`](Parameters::read_max_packets), a buffer smaller than the waiting
    /// packet; [`Error::PacketTooBig`] for a length past its buffer (above).
    #[doc(alias = "vmnet_read")]
    #[allow(unsafe_code)] // A public `unsafe fn`: its contract becomes a read set's invariant.
    pub unsafe fn read_raw(&mut self, descs: &mut [vmpktdesc]) -> Result<usize> {
        // SAFETY: the caller keeps the contract above, which is the invariant of a read set.
        let descs = unsafe { ReadDescs::from_raw(descs) };
        self.shared.read_descs(descs)
    }

    /// Writes the packets of descriptors you built: vmnet's own write call (`vmnet_write`),
    /// for frames in buffers this crate does not own. Returns how many packets vmnet took,
    /// from the first. [`write_batch`](Self::write_batch) is the safe form.
    ///
    /// # Safety
    /// Every descriptor has `vm_pkt_iovcnt == 1` and `vm_flags == 0`, and `vm_pkt_iov` points
    /// at an iovec whose base is valid for reads of `iov_len` bytes (one whole Ethernet
    /// frame), with `vm_pkt_size == iov_len`; the iovecs and frames stay valid, and nothing
    /// writes them, until the call returns.
    ///
    /// # Errors
    /// [`Error::Vmnet`] as vmnet answers: more descriptors than
    /// [`write_max_packets`](Parameters::write_max_packets), a packet larger than
    /// [`buffer_len`](Parameters::buffer_len).
    #[doc(alias = "vmnet_write")]
    #[allow(unsafe_code)] // A public `unsafe fn`: its contract becomes a write set's invariant.
    pub unsafe fn write_raw(&mut self, descs: &mut [vmpktdesc]) -> Result<usize> {
        // SAFETY: the caller keeps the contract above, which is the invariant of a write set.
        let descs = unsafe { WriteDescs::from_raw(descs) };
        self.shared.driver.write(descs)
    }

    /// Calls `callback` when packets become available.
    ///
    /// Coalesced: after one call, the next comes only once a read has drained the interface
    /// and new packets arrived. It runs on a backend thread (a dispatch queue on macOS), must
    /// not block for long, and must not stop the interface. A panic in it is caught, counted
    /// ([`callback_panics`](Self::callback_panics)) and never unwinds into vmnet. Replaces any
    /// earlier callback.
    ///
    /// On macOS the interface's own `vmnet_interface_set_event_callback` block, installed at
    /// start, calls it; this only changes what it calls.
    #[doc(alias = "vmnet_interface_set_event_callback")]
    pub fn set_event_callback<F>(&self, callback: F)
    where
        F: Fn(Event) + Send + Sync + 'static,
    {
        self.shared.notifier.set_callback(Some(Arc::new(callback)));
    }

    /// Removes the event callback.
    #[doc(alias = "vmnet_interface_set_event_callback")]
    pub fn clear_event_callback(&self) {
        self.shared.notifier.set_callback(None);
    }

    /// How many panics of the event callback were caught.
    pub fn callback_panics(&self) -> u64 {
        self.shared.notifier.callback_panics()
    }

    /// Blocks until packets are available or `timeout` passes (`None`: no limit); returns
    /// whether packets are available. Reads clear the state, so read until a read returns
    /// nothing before waiting again.
    ///
    /// # Errors
    /// [`Error::Io`] if polling the readiness descriptor fails.
    pub fn wait_readable(&self, timeout: Option<Duration>) -> Result<bool> {
        Ok(self.shared.notifier.wait(timeout)?)
    }

    /// Splits into a read half and a write half, usable from two threads at once.
    pub fn split(self) -> (ReadHalf, WriteHalf) {
        (
            ReadHalf {
                shared: self.shared.clone(),
            },
            WriteHalf {
                shared: self.shared,
            },
        )
    }

    /// Stops the interface: disables events, stops it, and waits (bounded) for vmnet. Wraps
    /// `vmnet_stop_interface` (after `vmnet_interface_set_event_callback` with no callback).
    ///
    /// # Errors
    /// [`Error::Vmnet`] when vmnet reports a failed stop; [`Error::Timeout`] when its
    /// completion, or an event callback still running, does not finish within
    /// [`StartOptions::stop_timeout`]. The interface is unusable afterwards either way.
    #[doc(alias = "vmnet_stop_interface")]
    pub fn stop(self) -> Result<()> {
        self.shared.stop()
    }

    /// A [`Control`] of this interface: port forwarding, parameters and capabilities from any
    /// thread, before and after a [`split`](Self::split) or a hand-over to a
    /// [bridge](crate::bridge). It does not keep the interface running: once the interface is
    /// stopped or dropped, its operations return [`Error::Stopped`].
    pub fn control(&self) -> Control {
        self.shared.control()
    }

    /// Adds a port-forwarding rule; see [`Control::add_port_forwarding_rule`], which does the
    /// same from any thread.
    ///
    /// # Errors
    /// As for [`Control::add_port_forwarding_rule`].
    #[doc(alias = "vmnet_interface_add_port_forwarding_rule")]
    #[doc(alias = "vmnet_interface_add_ip_port_forwarding_rule")]
    pub fn add_port_forwarding_rule(&self, rule: &PortForwardingRule) -> Result<()> {
        control::add_port_forwarding_rule(&*self.shared, rule)
    }

    /// Removes the port-forwarding rule with `key` (a [`PortForwardingKey`], or a
    /// `&PortForwardingRule`, which stands for its [`key`](PortForwardingRule::key)); see
    /// [`Control::remove_port_forwarding_rule`].
    ///
    /// ```
    /// # #[cfg(feature = "sim")] {
    /// use vmnet::{PortForwardingRule, Protocol};
    /// # let segment = vmnet::sim::Segment::new();
    /// # let iface = segment.start(&vmnet::InterfaceConfig::shared())?;
    /// let ssh = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.105.2:22".parse().unwrap());
    /// iface.add_port_forwarding_rule(&ssh)?;
    /// iface.remove_port_forwarding_rule(&ssh)?;
    /// assert!(iface.port_forwarding_rules()?.is_empty());
    /// # }
    /// # Ok::<(), vmnet::Error>(())
    /// ```
    ///
    /// # Errors
    /// As for [`Control::remove_port_forwarding_rule`].
    #[doc(alias = "vmnet_interface_remove_port_forwarding_rule")]
    #[doc(alias = "vmnet_interface_remove_ip_port_forwarding_rule")]
    pub fn remove_port_forwarding_rule(&self, key: impl Into<PortForwardingKey>) -> Result<()> {
        control::remove_port_forwarding_rule(&*self.shared, key.into())
    }

    /// The interface's port-forwarding rules; see [`Control::port_forwarding_rules`].
    ///
    /// # Errors
    /// As for [`Control::port_forwarding_rules`].
    #[doc(alias = "vmnet_interface_get_port_forwarding_rules")]
    #[doc(alias = "vmnet_interface_get_ip_port_forwarding_rules")]
    #[doc(alias = "vmnet_port_forwarding_rule_get_details")]
    #[doc(alias = "vmnet_ip_port_forwarding_rule_get_details")]
    pub fn port_forwarding_rules(&self) -> Result<Vec<PortForwardingRule>> {
        control::port_forwarding_rules(&*self.shared)
    }

    /// The raw vmnet handle, for calls this crate does not wrap; `None` for simulated
    /// interfaces. It is valid until the interface is stopped or dropped.
    pub fn as_raw(&self) -> Option<interface_ref> {
        self.shared.driver.raw()
    }
}

/// A descriptor that is readable while packets are available (reads clear it). Register it
/// with `poll`, `mio`, tokio's `AsyncFd`…; never read from or close it yourself.
impl AsFd for Interface {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.notifier.fd()
    }
}

impl AsRawFd for Interface {
    fn as_raw_fd(&self) -> RawFd {
        self.shared.notifier.fd().as_raw_fd()
    }
}

/// The reading half of a split [`Interface`].
pub struct ReadHalf {
    shared: Arc<Shared>,
}

/// The writing half of a split [`Interface`].
pub struct WriteHalf {
    shared: Arc<Shared>,
}

impl fmt::Debug for ReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl fmt::Debug for WriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

impl ReadHalf {
    /// See [`Interface::parameters`].
    pub fn parameters(&self) -> &Parameters {
        &self.shared.params
    }
    /// A [`Control`] of the interface; see [`Interface::control`].
    pub fn control(&self) -> Control {
        self.shared.control()
    }
    /// See [`Interface::read`].
    ///
    /// # Errors
    /// As for [`Interface::read`].
    #[doc(alias = "vmnet_read")]
    pub fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.shared.read(buf)
    }
    /// See [`Interface::read_batch`].
    ///
    /// # Errors
    /// As for [`Interface::read_batch`].
    #[doc(alias = "vmnet_read")]
    pub fn read_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        self.shared.read_batch(batch)
    }
    /// [`Interface::read_into`] on the read half.
    ///
    /// # Errors
    /// As for [`Interface::read_into`].
    #[doc(alias = "vmnet_read")]
    pub fn read_into<B: AsMut<[u8]>>(
        &mut self,
        descs: &mut Descriptors,
        bufs: &mut [B],
    ) -> Result<usize> {
        self.shared.read_into(descs, bufs)
    }
    /// See [`Interface::read_raw`].
    ///
    /// # Safety
    /// As for [`Interface::read_raw`].
    ///
    /// # Errors
    /// As for [`Interface::read_raw`].
    #[doc(alias = "vmnet_read")]
    #[allow(unsafe_code)] // As `Interface::read_raw`.
    pub unsafe fn read_raw(&mut self, descs: &mut [vmpktdesc]) -> Result<usize> {
        // SAFETY: the caller keeps `Interface::read_raw`'s contract, a read set's invariant.
        let descs = unsafe { ReadDescs::from_raw(descs) };
        self.shared.read_descs(descs)
    }
    /// See [`Interface::wait_readable`].
    ///
    /// # Errors
    /// As for [`Interface::wait_readable`].
    pub fn wait_readable(&self, timeout: Option<Duration>) -> Result<bool> {
        Ok(self.shared.notifier.wait(timeout)?)
    }
    /// See [`Interface::set_event_callback`].
    #[doc(alias = "vmnet_interface_set_event_callback")]
    pub fn set_event_callback<F>(&self, callback: F)
    where
        F: Fn(Event) + Send + Sync + 'static,
    {
        self.shared.notifier.set_callback(Some(Arc::new(callback)));
    }
    /// Joins the halves again; gives them back if they belong to different interfaces.
    ///
    /// # Errors
    /// Both halves, given back unchanged, if they belong to different interfaces.
    pub fn unsplit(
        self,
        write: WriteHalf,
    ) -> std::result::Result<Interface, (ReadHalf, WriteHalf)> {
        if Arc::ptr_eq(&self.shared, &write.shared) {
            drop(write);
            Ok(Interface {
                shared: self.shared,
            })
        } else {
            Err((self, write))
        }
    }
}

impl AsFd for ReadHalf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.notifier.fd()
    }
}

impl AsRawFd for ReadHalf {
    fn as_raw_fd(&self) -> RawFd {
        self.shared.notifier.fd().as_raw_fd()
    }
}

impl WriteHalf {
    /// See [`Interface::parameters`].
    pub fn parameters(&self) -> &Parameters {
        &self.shared.params
    }
    /// A [`Control`] of the interface; see [`Interface::control`].
    pub fn control(&self) -> Control {
        self.shared.control()
    }
    /// See [`Interface::write`].
    ///
    /// # Errors
    /// As for [`Interface::write`].
    #[doc(alias = "vmnet_write")]
    pub fn write(&mut self, frame: &[u8]) -> Result<()> {
        self.shared.write(frame)
    }
    /// See [`Interface::write_batch`].
    ///
    /// # Errors
    /// As for [`Interface::write_batch`].
    #[doc(alias = "vmnet_write")]
    pub fn write_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        self.shared.write_batch(batch, 0)
    }
    /// See [`Interface::write_batch_from`].
    ///
    /// # Errors
    /// As for [`Interface::write_batch_from`].
    #[doc(alias = "vmnet_write")]
    pub fn write_batch_from(&mut self, batch: &mut PacketBatch, first: usize) -> Result<usize> {
        self.shared.write_batch(batch, first)
    }
    /// [`Interface::write_from`] on the write half.
    ///
    /// # Errors
    /// As for [`Interface::write_from`].
    #[doc(alias = "vmnet_write")]
    pub fn write_from<B: AsRef<[u8]>>(
        &mut self,
        descs: &mut Descriptors,
        frames: &[B],
    ) -> Result<usize> {
        self.shared.write_from(descs, frames)
    }
    /// See [`Interface::write_raw`].
    ///
    /// # Safety
    /// As for [`Interface::write_raw`].
    ///
    /// # Errors
    /// As for [`Interface::write_raw`].
    #[doc(alias = "vmnet_write")]
    #[allow(unsafe_code)] // As `Interface::write_raw`.
    pub unsafe fn write_raw(&mut self, descs: &mut [vmpktdesc]) -> Result<usize> {
        // SAFETY: the caller keeps `Interface::write_raw`'s contract, a write set's invariant.
        let descs = unsafe { WriteDescs::from_raw(descs) };
        self.shared.driver.write(descs)
    }
}

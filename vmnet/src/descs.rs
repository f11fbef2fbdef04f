//! Packet-descriptor sets that carry their own validity: what a backend's read or write gets.
//!
//! vmnet's packet calls take an array of `vmpktdesc`, each pointing at iovecs that point at
//! packet memory. Nothing in those types says that the pointers are valid, so a function that
//! takes `&mut [vmpktdesc]` and follows them must be `unsafe`. A [`ReadDescs`] or
//! [`WriteDescs`] is such an array together with that promise (the [invariant](Descs)), made
//! once, where the array is built:
//!
//! - **safely**, by [`PacketBatch::prepare_read`](crate::PacketBatch) and `prepare_write`
//!   over the batch's arena, by [`SingleRead`] and [`SingleWrite`] over one caller buffer,
//!   and by [`Descriptors`] over the caller's buffers, one per packet, each a borrowed slice;
//! - **unsafely**, by [`Descs::from_raw`], for `Interface::read_raw` and `write_raw`, whose
//!   contract is the invariant.
//!
//! So `Driver::read` and `Driver::write` are safe functions: a backend reaches packet memory
//! only through the safe accessors here (the simulator), or hands the array to its platform
//! (the Apple backend, whose `unsafe` call to vmnet relies on the invariant).

use std::fmt;
use std::marker::PhantomData;

use vmnet_sys::{iovec, vmpktdesc};

use crate::error::{Error, Result};
use crate::params::Parameters;

/// Marks a descriptor set whose buffers receive packets (vmnet writes them).
#[derive(Debug)]
pub(crate) enum ForRead {}

/// Marks a descriptor set whose buffers hold packets to send (vmnet only reads them).
#[derive(Debug)]
pub(crate) enum ForWrite {}

/// The descriptors of one read or write call, valid for it. See the [module](self).
///
/// **Invariant**, for `'a`:
/// - each descriptor's `vm_pkt_iov` points at `vm_pkt_iovcnt` initialised iovecs (it is not
///   followed when the count is 0), which nothing writes;
/// - each of those iovecs' `iov_base` is valid for `iov_len` bytes: for writes in a read set
///   ([`ReadDescs`]), for reads of initialised bytes in a write set ([`WriteDescs`]); nothing
///   else accesses those bytes (in a write set: nothing writes them), and in a read set they
///   overlap neither the descriptors nor the iovecs;
/// - each descriptor's `vm_pkt_size` is at most the total `iov_len` of its iovecs.
///
/// vmnet asks for more (one iovec, no flags, the size equal to the iovec's length); those are
/// its arguments' rules, which it checks, not what memory safety needs, and the safe
/// constructors meet them too.
///
/// A set serves one call: `Driver::read` and `Driver::write` take it by value. A platform
/// call through [`as_mut_ptr`](Self::as_mut_ptr) may change the sizes and flags (vmnet writes
/// each read packet's length), never the pointers; after a read,
/// [`check_lengths`](ReadDescs::check_lengths) checks the lengths the platform claims. Only
/// [`fill`](ReadDescs::fill) changes them otherwise (a size, within its buffer), so an owner
/// that keeps its descriptors between calls ([`PacketBatch`](crate::PacketBatch)) rewrites
/// only what a call may have changed: a set it makes [`reports`](Self::reporting_hand_out)
/// whether it went to a platform.
pub(crate) struct Descs<'a, A> {
    descs: &'a mut [vmpktdesc],
    /// Set to true when the descriptors go to a platform call ([`as_mut_ptr`](Self::as_mut_ptr)),
    /// for their owner: after that call they may hold anything but their pointers.
    handed_out: Option<&'a mut bool>,
    /// The packet memory the descriptors point at, borrowed for `'a` (exclusively for a read).
    _memory: PhantomData<(&'a mut [u8], A)>,
}

/// The descriptors of a read: buffers for vmnet to fill.
pub(crate) type ReadDescs<'a> = Descs<'a, ForRead>;

/// The descriptors of a write: the frames to send.
pub(crate) type WriteDescs<'a> = Descs<'a, ForWrite>;

impl<'a, A> Descs<'a, A> {
    /// Wraps descriptors built elsewhere.
    ///
    /// # Safety
    /// `descs` meets the [invariant](Descs) for `'a`: for a [`ReadDescs`], what
    /// `Interface::read_raw` asks of its caller; for a [`WriteDescs`], what
    /// `Interface::write_raw` asks.
    pub(crate) unsafe fn from_raw(descs: &'a mut [vmpktdesc]) -> Self {
        Self {
            descs,
            handed_out: None,
            _memory: PhantomData,
        }
    }

    /// The same set, setting `*flag` to true if it is handed to a platform call
    /// ([`as_mut_ptr`](Self::as_mut_ptr)); `*flag` is left alone otherwise.
    pub(crate) fn reporting_hand_out(self, flag: &'a mut bool) -> Self {
        Self {
            handed_out: Some(flag),
            ..self
        }
    }

    /// How many descriptors (packets) the set has.
    pub(crate) fn len(&self) -> usize {
        self.descs.len()
    }

    /// Whether the set has no descriptor.
    pub(crate) fn is_empty(&self) -> bool {
        self.descs.is_empty()
    }

    /// The descriptors, to read their fields.
    pub(crate) fn as_slice(&self) -> &[vmpktdesc] {
        self.descs
    }

    /// The first descriptor, for a platform call on the whole set (`vmnet_read`,
    /// `vmnet_write`); the invariant is what such a call needs of its arguments. Reported to
    /// the set's owner ([`reporting_hand_out`](Self::reporting_hand_out)): the platform may
    /// change what it likes but the pointers.
    // Only the Apple backend hands a set to its platform (and the batch's tests, as one).
    #[cfg_attr(not(any(vmnet_framework, test)), allow(dead_code))]
    pub(crate) fn as_mut_ptr(&mut self) -> *mut vmpktdesc {
        if let Some(flag) = self.handed_out.as_deref_mut() {
            *flag = true;
        }
        self.descs.as_mut_ptr()
    }
}

/// The one iovec of `desc`, if it has exactly one.
fn only_iovec(desc: &vmpktdesc) -> Option<iovec> {
    if desc.vm_pkt_iovcnt != 1 || desc.vm_pkt_iov.is_null() {
        return None;
    }
    // SAFETY: the set's invariant: `vm_pkt_iov` points at `vm_pkt_iovcnt` (here 1)
    // initialised iovecs, which nothing writes meanwhile; `iovec` is `Copy`.
    Some(unsafe { *desc.vm_pkt_iov })
}

impl ReadDescs<'_> {
    /// Fills descriptor `index` with a packet: `fill` gets the descriptor's buffer, whole, and
    /// returns the packet's length, which becomes its `vm_pkt_size`. Returns that length;
    /// `None`, with the descriptor unchanged, when there is no such descriptor, it does not
    /// have exactly one iovec, `fill` returns `None`, or the length is more than the buffer.
    pub(crate) fn fill(
        &mut self,
        index: usize,
        fill: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Option<usize> {
        let desc = self.descs.get_mut(index)?;
        let iov = only_iovec(desc)?;
        let buf: &mut [u8] = if iov.iov_len == 0 {
            &mut []
        } else {
            // SAFETY: the invariant: the base is valid for writes of `iov_len` bytes, which
            // nothing else accesses and which overlap neither the descriptors nor the iovecs;
            // the slice lives only while `self` is borrowed mutably, so no other slice of
            // this set exists meanwhile (two descriptors may share a buffer).
            unsafe { std::slice::from_raw_parts_mut(iov.iov_base.cast::<u8>(), iov.iov_len) }
        };
        let len = fill(buf).filter(|&len| len <= iov.iov_len)?;
        desc.vm_pkt_size = len;
        Some(len)
    }

    /// Checks the first `count` descriptors after a read: the platform sets each one's
    /// `vm_pkt_size` to its packet's length, and nothing but the platform stops it from
    /// claiming more than the descriptor's iovecs hold.
    ///
    /// # Errors
    /// [`Error::PacketTooBig`] names the first descriptor that claims more, so no caller is
    /// handed a length past its buffer.
    // Only the Apple backend hands a set to its platform.
    #[cfg_attr(not(vmnet_framework), allow(dead_code))]
    pub(crate) fn check_lengths(&self, count: usize) -> Result<()> {
        for (index, desc) in self.descs.iter().take(count).enumerate() {
            let iovs: &[iovec] = if desc.vm_pkt_iov.is_null() || desc.vm_pkt_iovcnt == 0 {
                &[]
            } else {
                // SAFETY: the invariant: `vm_pkt_iovcnt` initialised iovecs at `vm_pkt_iov`,
                // which nothing writes (a platform call changes sizes and flags only).
                unsafe { std::slice::from_raw_parts(desc.vm_pkt_iov, desc.vm_pkt_iovcnt as usize) }
            };
            let room = iovs
                .iter()
                .fold(0usize, |sum, iov| sum.saturating_add(iov.iov_len));
            if desc.vm_pkt_size > room {
                return Err(Error::PacketTooBig {
                    index,
                    len: desc.vm_pkt_size,
                    max: room,
                });
            }
        }
        Ok(())
    }
}

impl WriteDescs<'_> {
    /// The packet of descriptor `index`: its first `vm_pkt_size` bytes. `None` when there is
    /// no such descriptor or it does not have exactly one iovec.
    pub(crate) fn packet(&self, index: usize) -> Option<&[u8]> {
        let desc = self.descs.get(index)?;
        let iov = only_iovec(desc)?;
        let len = desc.vm_pkt_size.min(iov.iov_len);
        if len == 0 {
            return Some(&[]);
        }
        // SAFETY: the invariant: the base is valid for reads of `iov_len` (>= len)
        // initialised bytes, which nothing writes while the set lives.
        Some(unsafe { std::slice::from_raw_parts(iov.iov_base.cast::<u8>(), len) })
    }
}

impl<A> fmt::Debug for Descs<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Descs")
            .field("len", &self.descs.len())
            .finish_non_exhaustive()
    }
}

/// One caller buffer as a one-descriptor read set ([`Interface::read`](crate::Interface)):
/// the iovec and the descriptor live here, typically on the caller's stack.
pub(crate) struct SingleRead<'a> {
    iov: iovec,
    desc: [vmpktdesc; 1],
    _buf: PhantomData<&'a mut [u8]>,
}

impl<'a> SingleRead<'a> {
    /// Over the whole of `buf`, which stays borrowed (exclusively) while `self` lives.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self {
            iov: iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            },
            desc: [empty_desc()],
            _buf: PhantomData,
        }
    }

    /// The set for one read: one descriptor, one iovec over the whole buffer, the size equal
    /// to the buffer's length, no flags (whatever an earlier read changed).
    pub(crate) fn descs(&mut self) -> ReadDescs<'_> {
        let len = self.iov.iov_len;
        self.desc = [one_desc(&raw mut self.iov, len)];
        // SAFETY: the descriptor points at `self.iov`, one initialised iovec that nothing
        // writes while `self` is borrowed; it covers `buf`, valid for writes and borrowed
        // exclusively for `'a`, longer than the set, and disjoint from `self` (a separate
        // borrow); the size is the iovec's length.
        unsafe { ReadDescs::from_raw(&mut self.desc) }
    }

    /// The length of the packet the last read put in the buffer, as the backend recorded it
    /// (the buffer's length before any read).
    pub(crate) fn len(&self) -> usize {
        self.desc[0].vm_pkt_size
    }
}

/// One caller frame as a one-descriptor write set ([`Interface::write`](crate::Interface)).
pub(crate) struct SingleWrite<'a> {
    iov: iovec,
    desc: [vmpktdesc; 1],
    _frame: PhantomData<&'a [u8]>,
}

impl<'a> SingleWrite<'a> {
    /// Over the whole of `frame`, which stays borrowed while `self` lives.
    pub(crate) fn new(frame: &'a [u8]) -> Self {
        Self {
            iov: iovec {
                // Only ever read through: the iovec type is shared with reads.
                iov_base: frame.as_ptr().cast_mut().cast(),
                iov_len: frame.len(),
            },
            desc: [empty_desc()],
            _frame: PhantomData,
        }
    }

    /// The set for one write: one descriptor, one iovec over the whole frame, the size equal
    /// to the frame's length, no flags.
    pub(crate) fn descs(&mut self) -> WriteDescs<'_> {
        let len = self.iov.iov_len;
        self.desc = [one_desc(&raw mut self.iov, len)];
        // SAFETY: the descriptor points at `self.iov`, one initialised iovec that nothing
        // writes while `self` is borrowed; it covers `frame`, initialised and borrowed
        // (shared, so nothing writes it) for `'a`, longer than the set; the size is the
        // iovec's length.
        unsafe { WriteDescs::from_raw(&mut self.desc) }
    }
}

/// The most descriptors a [`Descriptors`] holds; larger capacities are clamped to it. The same
/// bound as a batch's, `MAX_BATCH_PACKETS` (the API tests check that they agree: this module
/// may not import `batch`).
pub(crate) const MAX_DESCRIPTORS: usize = 4096;

/// Reusable packet descriptors for reads into, and writes from, buffers you own: guest
/// memory, your own ring ([`Interface::read_into`](crate::Interface::read_into),
/// [`Interface::write_from`](crate::Interface::write_from)).
///
/// vmnet takes one contiguous buffer per packet, described by a `vmpktdesc` and an `iovec`. A
/// `Descriptors` owns those arrays (and the packet lengths of the last read), allocated once,
/// in [`new`](Self::new): each call points them at the buffers it is given, so a read or a
/// write through it allocates nothing and copies nothing beyond vmnet's own copy. It keeps
/// no pointer that outlives a call: the buffers are borrowed for the call only, and the
/// borrow checker keeps them alive and (for a read) exclusive meanwhile, with no `unsafe`.
///
/// [`Interface::read_raw`](crate::Interface::read_raw) and `write_raw` remain for what this
/// cannot express (several iovecs per packet, memory that is not a Rust slice).
///
/// ```
/// # #[cfg(feature = "sim")] {
/// # let segment = vmnet::sim::Segment::new();
/// # let mut iface = segment.start(&vmnet::InterfaceConfig::shared())?;
/// use vmnet::Descriptors;
/// // Once, with the interface: as many descriptors as one call may carry.
/// let mut descs = Descriptors::for_interface(iface.parameters());
/// // Your memory: here four buffers of the largest packet each.
/// let mut memory = vec![0u8; 4 * iface.parameters().buffer_len()];
/// let mut bufs: Vec<&mut [u8]> =
///     memory.chunks_mut(iface.parameters().buffer_len()).collect();
/// let n = iface.read_into(&mut descs, &mut bufs)?;
/// for (buf, &len) in bufs.iter().zip(descs.lens()) {
///     println!("{len} bytes: {:?}", &buf[..len.min(14)]);
/// }
/// assert_eq!(n, descs.lens().len());
/// # }
/// # Ok::<(), vmnet::Error>(())
/// ```
pub struct Descriptors {
    /// Rewritten for every call: descriptor `i` gets one iovec, `iovs[i]`, over buffer `i`.
    /// Between calls the pointers are stale and never followed.
    descs: Vec<vmpktdesc>,
    iovs: Vec<iovec>,
    /// `lens[..filled]`: the packet lengths of the last read.
    lens: Vec<usize>,
    filled: usize,
}

// SAFETY: the raw pointers in `descs` and `iovs` are followed only during a call that borrows
// `self` mutably together with the buffers they point at (and are rewritten before every
// call); between calls they are never dereferenced. The rest is plain owned data.
unsafe impl Send for Descriptors {}
// SAFETY: `&self` methods read `lens` and the capacity only; no pointer is followed through a
// shared reference.
unsafe impl Sync for Descriptors {}

impl Descriptors {
    /// Room for `capacity` packets per call, clamped to
    /// `0..=`[`MAX_BATCH_PACKETS`](crate::MAX_BATCH_PACKETS). For an interface, prefer
    /// [`for_interface`](Self::for_interface).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(MAX_DESCRIPTORS);
        Self {
            descs: vec![empty_desc(); capacity],
            iovs: vec![
                iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                capacity
            ],
            lens: vec![0; capacity],
            filled: 0,
        }
    }

    /// Room for as many packets as one read or write on an interface with `params` may carry
    /// ([`read_max_packets`](Parameters::read_max_packets),
    /// [`write_max_packets`](Parameters::write_max_packets)).
    pub fn for_interface(params: &Parameters) -> Self {
        Self::new(params.read_max_packets().max(params.write_max_packets()))
    }

    /// The most packets one call through these descriptors carries.
    pub fn capacity(&self) -> usize {
        self.descs.len()
    }

    /// The lengths of the packets the last [`read_into`](crate::Interface::read_into) put in
    /// its buffers, in order: packet `i` is the first `lens()[i]` bytes of buffer `i`. Empty
    /// after a read that failed or got nothing, and after a write.
    pub fn lens(&self) -> &[usize] {
        &self.lens[..self.filled]
    }

    /// Points the descriptors at the first buffers of `bufs`, as many as `max` and the
    /// capacity allow, for a read: one iovec each over the whole buffer, sizes equal to the
    /// buffers' lengths, no flags. Forgets the last read's lengths.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if one of those buffers is shorter than `needed` (nothing is
    /// read).
    pub(crate) fn prepare_read<'s, B: AsMut<[u8]>>(
        &'s mut self,
        bufs: &'s mut [B],
        max: usize,
        needed: usize,
    ) -> Result<ReadDescs<'s>> {
        self.filled = 0;
        let count = bufs.len().min(max).min(self.capacity());
        for ((buf, iov), desc) in bufs
            .iter_mut()
            .zip(&mut self.iovs)
            .zip(&mut self.descs)
            .take(count)
        {
            // Borrowed for `'s`, as long as the set: all of them at once, so disjoint.
            let buf: &'s mut [u8] = <B as AsMut<[u8]>>::as_mut(buf);
            if buf.len() < needed {
                return Err(Error::BufferTooSmall {
                    len: buf.len(),
                    needed,
                });
            }
            *iov = iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            *desc = one_desc(std::ptr::null_mut(), buf.len());
        }
        let descs = point_at_iovecs(&mut self.descs[..count], &mut self.iovs);
        // SAFETY: descriptor `i` points at `iovs[i]`, one initialised iovec that nothing
        // writes while the set lives (`self` is borrowed for `'s`); that iovec covers the
        // whole of buffer `i`, a `&'s mut [u8]`: valid for writes, borrowed exclusively for
        // as long as the set, so nothing else accesses it, no two buffers overlap, and none
        // overlaps `self`'s own arrays (borrowed exclusively too); each size is its iovec's
        // length.
        Ok(unsafe { ReadDescs::from_raw(descs) })
    }

    /// Records the outcome of a read that filled the first `count` descriptors: their
    /// lengths become [`lens`](Self::lens).
    ///
    /// # Errors
    /// [`Error::PacketTooBig`] if one claims more than its buffer (then `lens` is empty).
    pub(crate) fn finish_read(&mut self, count: usize) -> Result<()> {
        let count = count.min(self.capacity());
        for (index, ((desc, iov), len)) in self
            .descs
            .iter()
            .zip(&self.iovs)
            .zip(&mut self.lens)
            .take(count)
            .enumerate()
        {
            if desc.vm_pkt_size > iov.iov_len {
                return Err(Error::PacketTooBig {
                    index,
                    len: desc.vm_pkt_size,
                    max: iov.iov_len,
                });
            }
            *len = desc.vm_pkt_size;
        }
        self.filled = count;
        Ok(())
    }

    /// Points the descriptors at the first frames of `frames`, as many as `max` and the
    /// capacity allow, for a write: one iovec each over the whole frame, sizes equal to the
    /// frames' lengths, no flags. Forgets the last read's lengths.
    ///
    /// # Errors
    /// What `check(index, len)` says of a frame (nothing is written).
    pub(crate) fn prepare_write<'s, B: AsRef<[u8]>>(
        &'s mut self,
        frames: &'s [B],
        max: usize,
        check: impl Fn(usize, usize) -> Result<()>,
    ) -> Result<WriteDescs<'s>> {
        self.filled = 0;
        let count = frames.len().min(max).min(self.capacity());
        for (index, ((frame, iov), desc)) in frames
            .iter()
            .zip(&mut self.iovs)
            .zip(&mut self.descs)
            .take(count)
            .enumerate()
        {
            // Borrowed (shared) for `'s`, as long as the set.
            let frame: &'s [u8] = <B as AsRef<[u8]>>::as_ref(frame);
            check(index, frame.len())?;
            *iov = iovec {
                // Only ever read through: the iovec type is shared with reads.
                iov_base: frame.as_ptr().cast_mut().cast(),
                iov_len: frame.len(),
            };
            *desc = one_desc(std::ptr::null_mut(), frame.len());
        }
        let descs = point_at_iovecs(&mut self.descs[..count], &mut self.iovs);
        // SAFETY: descriptor `i` points at `iovs[i]`, one initialised iovec that nothing
        // writes while the set lives (`self` is borrowed for `'s`); that iovec covers the
        // whole of frame `i`, a `&'s [u8]`: initialised, and shared-borrowed for as long as
        // the set, so nothing writes it; each size is its iovec's length.
        Ok(unsafe { WriteDescs::from_raw(descs) })
    }
}

/// Points descriptor `i` of `descs` at `iovs[i]`, with one pointer taken after the iovecs
/// were written (and nothing reading or writing them through `iovs` after it). Returns
/// `descs`.
fn point_at_iovecs<'a>(descs: &'a mut [vmpktdesc], iovs: &mut [iovec]) -> &'a mut [vmpktdesc] {
    let first = iovs.as_mut_ptr();
    for (i, desc) in descs.iter_mut().enumerate() {
        // In bounds: there are as many iovecs as descriptors; `wrapping_add` keeps this safe.
        desc.vm_pkt_iov = first.wrapping_add(i);
    }
    descs
}

impl fmt::Debug for Descriptors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Descriptors")
            .field("capacity", &self.capacity())
            .field("lens", &self.lens())
            .finish()
    }
}

/// A descriptor of one iovec at `iov`, `size` bytes, no flags.
fn one_desc(iov: *mut iovec, size: usize) -> vmpktdesc {
    vmpktdesc {
        vm_pkt_size: size,
        vm_pkt_iov: iov,
        vm_pkt_iovcnt: 1,
        vm_flags: 0,
    }
}

/// A descriptor of no iovec, until [`SingleRead::descs`] or [`SingleWrite::descs`] points it.
fn empty_desc() -> vmpktdesc {
    vmpktdesc {
        vm_pkt_size: 0,
        vm_pkt_iov: std::ptr::null_mut(),
        vm_pkt_iovcnt: 0,
        vm_flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the safe constructors promise beyond the invariant (vmnet's rules): every
    /// descriptor has one iovec, no flags, and a size equal to the iovec's length; the
    /// iovecs cover `memory` at the given offsets and lengths.
    fn assert_well_formed<A>(descs: &Descs<'_, A>, memory: *const u8, spans: &[(usize, usize)]) {
        assert_eq!(descs.len(), spans.len());
        for (desc, &(offset, len)) in descs.as_slice().iter().zip(spans) {
            assert_eq!((desc.vm_pkt_iovcnt, desc.vm_flags), (1, 0));
            assert!(!desc.vm_pkt_iov.is_null());
            // SAFETY: checked non-null; the set's invariant makes it a live iovec.
            let iov = unsafe { *desc.vm_pkt_iov };
            assert_eq!((desc.vm_pkt_size, iov.iov_len), (len, len));
            assert_eq!(iov.iov_base as usize - memory as usize, offset);
        }
    }

    #[test]
    fn a_single_read_covers_its_buffer_and_is_reset_for_every_read() {
        let mut buf = [0u8; 32];
        let at = buf.as_ptr();
        let mut one = SingleRead::new(&mut buf);
        let mut descs = one.descs();
        assert_well_formed(&descs, at, &[(0, 32)]);
        assert_eq!(
            descs.fill(0, |b| {
                assert_eq!(b.len(), 32, "the whole buffer");
                b[..3].copy_from_slice(&[1, 2, 3]);
                Some(3)
            }),
            Some(3)
        );
        assert!(descs.check_lengths(1).is_ok());
        assert_eq!(one.len(), 3);
        // The next read starts from the whole buffer again.
        assert_well_formed(&one.descs(), at, &[(0, 32)]);
        assert_eq!(buf[..4], [1, 2, 3, 0]);
    }

    #[test]
    fn a_single_write_covers_its_frame() {
        let frame = [9u8; 60];
        let mut one = SingleWrite::new(&frame);
        let descs = one.descs();
        assert_well_formed(&descs, frame.as_ptr(), &[(0, 60)]);
        assert_eq!(descs.packet(0), Some(&frame[..]));
        assert_eq!(descs.packet(1), None);
    }

    #[test]
    fn empty_buffers_make_empty_packets() {
        let mut buf = [0u8; 0];
        let mut one = SingleRead::new(&mut buf);
        let mut descs = one.descs();
        assert_eq!(descs.fill(0, |b| Some(b.len())), Some(0));
        assert_eq!(descs.fill(0, |_| Some(1)), None, "past the buffer");
        let mut one = SingleWrite::new(&[]);
        assert_eq!(one.descs().packet(0), Some(&[][..]));
    }

    #[test]
    fn fill_records_no_length_past_the_buffer() {
        let mut buf = [0u8; 8];
        let mut one = SingleRead::new(&mut buf);
        let mut descs = one.descs();
        assert_eq!(descs.fill(0, |_| Some(9)), None);
        assert_eq!(descs.fill(0, |_| None), None);
        assert_eq!(descs.fill(1, |_| Some(1)), None, "no such descriptor");
        assert!(descs.check_lengths(1).is_ok());
        assert_eq!(one.len(), 8, "unchanged");
    }

    #[test]
    fn only_single_iovec_descriptors_are_filled_or_read() {
        let mut bufs = [[0u8; 4]; 2];
        let [b0, b1] = &mut bufs;
        let mut iovs = [
            iovec {
                iov_base: b0.as_mut_ptr().cast(),
                iov_len: 4,
            },
            iovec {
                iov_base: b1.as_mut_ptr().cast(),
                iov_len: 4,
            },
        ];
        let first = iovs.as_mut_ptr();
        let mut raw = [
            vmpktdesc {
                vm_pkt_size: 8,
                vm_pkt_iov: first,
                vm_pkt_iovcnt: 2,
                vm_flags: 0,
            },
            empty_desc(),
        ];
        // SAFETY: the first descriptor points at two live iovecs over `bufs`, 8 bytes in
        // all, the second at none; nothing else touches them while the set lives.
        let mut descs = unsafe { ReadDescs::from_raw(&mut raw) };
        assert_eq!(descs.fill(0, |_| Some(1)), None, "two iovecs");
        assert_eq!(descs.fill(1, |_| Some(0)), None, "no iovec");
        assert!(
            descs.check_lengths(2).is_ok(),
            "8 bytes fit two iovecs of 4"
        );
        // SAFETY: as above, read only.
        let descs = unsafe { WriteDescs::from_raw(&mut raw) };
        assert_eq!((descs.packet(0), descs.packet(1)), (None, None));
    }

    #[test]
    fn lengths_past_the_buffers_are_refused() {
        let mut bufs = [[0u8; 16]; 3];
        let mut iovs: Vec<iovec> = bufs
            .iter_mut()
            .map(|b| iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: 16,
            })
            .collect();
        let mut raw: Vec<vmpktdesc> = iovs.iter_mut().map(|iov| one_desc(iov, 16)).collect();
        // What a read's platform may claim (it writes sizes and counts, not the pointers).
        raw[1].vm_pkt_size = 17;
        raw[2].vm_pkt_iovcnt = 0;
        // SAFETY: each descriptor points at its own live iovec (the third at none) over a
        // buffer of `bufs`; nothing else touches them while the set lives. The second's size
        // breaks the invariant on purpose, as a platform's claim would: only the lengths
        // are read.
        let descs = unsafe { ReadDescs::from_raw(&mut raw) };
        assert!(descs.check_lengths(1).is_ok(), "a whole buffer fits");
        assert!(matches!(
            descs.check_lengths(2),
            Err(Error::PacketTooBig {
                index: 1,
                len: 17,
                max: 16
            })
        ));
        raw[1].vm_pkt_size = 0;
        // SAFETY: as above.
        let descs = unsafe { ReadDescs::from_raw(&mut raw) };
        assert!(matches!(
            descs.check_lengths(3),
            Err(Error::PacketTooBig {
                index: 2,
                len: 16,
                max: 0
            })
        ));
    }

    #[test]
    fn descriptors_cover_the_callers_buffers_up_to_the_limit() {
        let mut memory = [0u8; 64];
        let at = memory.as_ptr();
        let mut bufs: Vec<&mut [u8]> = memory.chunks_mut(16).collect();
        let mut d = Descriptors::new(3);
        let descs = d.prepare_read(&mut bufs, 8, 16).unwrap();
        assert_well_formed(&descs, at, &[(0, 16), (16, 16), (32, 16)]);
        let mut descs = d.prepare_read(&mut bufs, 2, 16).unwrap();
        assert_well_formed(&descs, at, &[(0, 16), (16, 16)]);
        assert_eq!(descs.fill(1, |b| Some(b.len() - 1)), Some(15));
        d.finish_read(2).unwrap();
        assert_eq!(d.lens(), [16, 15]);
        assert!(matches!(
            d.prepare_read(&mut bufs, 8, 17),
            Err(Error::BufferTooSmall {
                len: 16,
                needed: 17
            })
        ));
        assert!(d.lens().is_empty(), "forgotten by the next call");

        let frames = [&[1u8; 10][..], &[2u8; 20][..]];
        let descs = d
            .prepare_write(&frames, 8, |_, len| {
                if len > 15 {
                    Err(Error::NotAccepted)
                } else {
                    Ok(())
                }
            })
            .err();
        assert!(matches!(descs, Some(Error::NotAccepted)));
        let descs = d.prepare_write(&frames, 8, |_, _| Ok(())).unwrap();
        assert_eq!(descs.len(), 2);
        assert_eq!(descs.packet(1), Some(&[2u8; 20][..]));
    }

    #[test]
    fn descriptors_refuse_lengths_past_a_buffer() {
        let mut bufs = [[0u8; 8]; 2];
        let mut d = Descriptors::new(2);
        assert_eq!(d.prepare_read(&mut bufs, 2, 8).unwrap().len(), 2);
        // What a platform may claim.
        d.descs[1].vm_pkt_size = 9;
        assert!(matches!(
            d.finish_read(2),
            Err(Error::PacketTooBig {
                index: 1,
                len: 9,
                max: 8
            })
        ));
        assert!(d.lens().is_empty());
    }
}

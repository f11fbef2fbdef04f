//! Packet-descriptor sets that carry their own validity: what a backend's read or write gets.
//!
//! vmnet's packet calls take an array of `vmpktdesc`, each pointing at iovecs that point at
//! packet memory. Nothing in those types says that the pointers are valid, so a function that
//! takes `&mut [vmpktdesc]` and follows them must be `unsafe`. A [`ReadDescs`] or
//! [`WriteDescs`] is such an array together with that promise (the [invariant](Descs)), made
//! once, where the array is built:
//!
//! - **safely**, by [`PacketBatch::prepare_read`](crate::PacketBatch) and `prepare_write`
//!   over the batch's arena, and by [`SingleRead`] and [`SingleWrite`] over one caller buffer;
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
/// [`check_lengths`](ReadDescs::check_lengths) checks the lengths the platform claims.
pub(crate) struct Descs<'a, A> {
    descs: &'a mut [vmpktdesc],
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
            _memory: PhantomData,
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
    /// `vmnet_write`); the invariant is what such a call needs of its arguments.
    // Only the Apple backend hands a set to its platform.
    #[cfg_attr(not(vmnet_framework), allow(dead_code))]
    pub(crate) fn as_mut_ptr(&mut self) -> *mut vmpktdesc {
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
}

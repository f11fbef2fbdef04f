//! [`PacketBatch`]: reusable buffers and descriptors for batched packet I/O.

use std::convert::Infallible;
use std::fmt;
use std::ops::Range;
use std::ptr::NonNull;

use vmnet_sys::{iovec, vmpktdesc};

use crate::descs::{ReadDescs, WriteDescs};
use crate::error::{Error, Result};
use crate::params::Parameters;

/// The most packets a batch holds; larger capacities are clamped to it.
pub const MAX_BATCH_PACKETS: usize = 4096;
/// The largest packet slot a batch has; larger slot sizes are clamped to it.
pub const MAX_SLOT_SIZE: usize = 256 * 1024;

/// A reusable set of packet buffers for [`read_batch`](crate::Interface::read_batch) and
/// [`write_batch`](crate::Interface::write_batch).
///
/// A batch owns one contiguous arena of `capacity` slots of `slot_size` bytes, and the
/// `iovec`/`vmpktdesc` arrays vmnet reads and writes through. All of it is allocated once, in
/// [`new`](Self::new); reads and writes reuse it, so the packet path allocates nothing and
/// copies nothing beyond the one copy vmnet itself makes between the kernel and the arena.
///
/// ```
/// use vmnet::PacketBatch;
/// let mut batch = PacketBatch::new(4, 1514);
/// batch.push(&[0xff; 60])?;
/// let len = batch.push_with(|slot| {
///     slot[..14].fill(0);
///     64
/// })?;
/// assert_eq!((batch.len(), len), (2, 64));
/// assert_eq!(batch.iter().map(<[u8]>::len).collect::<Vec<_>>(), [60, 64]);
/// # Ok::<(), vmnet::Error>(())
/// ```
pub struct PacketBatch {
    arena: Heap<u8>,
    slot_size: usize,
    /// The held packets' lengths, but after a read ([`Form::Filled`]): then they are the
    /// descriptors' sizes.
    lens: Box<[usize]>,
    /// `iovs[i]` covers slot `i` of the arena, for good: only its length changes.
    iovs: Heap<iovec>,
    /// `descs[i]` points at `iovs[i]`, for good: a call on packets `range` gets
    /// `descs[range]`, with sizes, iovec count and flags as it needs them ([`Form`]).
    descs: Box<[vmpktdesc]>,
    len: usize,
    /// What `descs` and `iovs` hold now, so that a call rewrites only what it needs.
    form: Form,
    /// Whether the last set went to a platform call ([`Descs::as_mut_ptr`]), which may have
    /// changed the descriptors: then their [`form`](Self::form) is unknown.
    ///
    /// [`Descs::as_mut_ptr`]: crate::descs::Descs
    handed_out: bool,
}

/// What a batch's descriptors and iovecs are known to hold, besides their pointers (descriptor
/// `i` at iovec `i`, iovec `i` at slot `i`), which nothing changes.
///
/// Only the batch, [`ReadDescs::fill`](crate::descs::ReadDescs) (a size, within its buffer)
/// and a platform call (reported: [`PacketBatch::handed_out`]) change them. Keeping track
/// spares a call the rewriting of fields that are right already: a batch written again and
/// again (or read again and again) rewrites only what its calls change, as a C caller of vmnet
/// would, instead of every field of every descriptor per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// Ready for a read but for the sizes, which [`PacketBatch::prepare_read`] sets to the
    /// whole slot (vmnet's rule before a read): every descriptor has one iovec over its whole
    /// slot and no flags, and a size of at most the slot.
    Read,
    /// After a read of `len` packets: as [`Read`](Self::Read), and the sizes of descriptors
    /// `0..len` are the packets' lengths, each within its slot (written by
    /// [`fill`](crate::descs::ReadDescs), which keeps to its buffer, or by a platform and then
    /// checked by [`PacketBatch::finish_read`]). The batch reads the lengths there, so a read
    /// copies none; they move to `lens` before anything changes the descriptors.
    Filled,
    /// Ready to write the held packets: descriptors `0..len` have one iovec over their
    /// packet, the packet's length as size and iovec length, and no flags.
    Write,
    /// None of these is known (a platform had them): every field is rewritten before the next
    /// call.
    Unknown,
}

// SAFETY: the raw pointers inside `arena`, `iovs` and `descs` only point into this batch's own
// heap allocations, which it owns exclusively and frees once (in `Heap`'s drop); they are
// only dereferenced by vmnet during a call that holds `&mut self`. The batch is plain owned
// memory.
unsafe impl Send for PacketBatch {}
// SAFETY: `&self` methods only read the arena's packets, `lens` and the descriptors' sizes
// (plain integers: a read's lengths); nothing is written through a shared reference.
unsafe impl Sync for PacketBatch {}

/// A heap slice that is only ever reached through the raw pointer it was leaked as — never
/// reborrowed as a whole through a `Box` — so the pointers into it that the batch hands vmnet
/// stay valid across the batch's own (shorter-lived) accesses.
struct Heap<T> {
    ptr: NonNull<[T]>,
}

impl<T> Heap<T> {
    fn new(items: Vec<T>) -> Self {
        Self {
            ptr: NonNull::from(Box::leak(items.into_boxed_slice())),
        }
    }

    /// A pointer to the first element, from which pointers to the others are derived.
    fn first(&self) -> *mut T {
        self.ptr.as_ptr().cast()
    }

    fn as_slice(&self) -> &[T] {
        // SAFETY: `ptr` is a live, initialised allocation of `len` elements owned by `self`;
        // `&self` allows shared access, and no `&mut` to it can exist meanwhile (those need
        // `&mut self`).
        unsafe { self.ptr.as_ref() }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as above; `&mut self` makes this the only access for its lifetime.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for Heap<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `Box::leak` in `new` and is freed only here, once.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

impl PacketBatch {
    /// A batch of `capacity` packets of at most `slot_size` bytes each.
    ///
    /// `capacity` is clamped to `0..=`[`MAX_BATCH_PACKETS`], `slot_size` to
    /// `1..=`[`MAX_SLOT_SIZE`]. For an interface, prefer [`for_interface`](Self::for_interface).
    pub fn new(capacity: usize, slot_size: usize) -> Self {
        let capacity = capacity.min(MAX_BATCH_PACKETS);
        let slot_size = slot_size.clamp(1, MAX_SLOT_SIZE);
        let arena = Heap::new(vec![0; capacity * slot_size]);
        // The arena holds `capacity * slot_size` bytes, so every slot start is in bounds;
        // `wrapping_add` keeps this safe code.
        let iovs = Heap::new(
            (0..capacity)
                .map(|i| iovec {
                    iov_base: arena.first().wrapping_add(i * slot_size).cast(),
                    iov_len: slot_size,
                })
                .collect(),
        );
        let descs = (0..capacity)
            .map(|i| vmpktdesc {
                vm_pkt_size: slot_size,
                vm_pkt_iov: iovs.first().wrapping_add(i),
                vm_pkt_iovcnt: 1,
                vm_flags: 0,
            })
            .collect();
        Self {
            arena,
            slot_size,
            lens: vec![0; capacity].into_boxed_slice(),
            iovs,
            descs,
            len: 0,
            form: Form::Read,
            handed_out: false,
        }
    }

    /// A batch sized for `params`: as many packets as one read or write may carry, each slot
    /// as large as the interface's largest packet, [`Parameters::buffer_len`] (the maximum
    /// packet size, plus the virtio-net header when it is on).
    pub fn for_interface(params: &Parameters) -> Self {
        let capacity = params.read_max_packets().max(params.write_max_packets());
        Self::new(capacity, params.buffer_len())
    }

    /// How many packets the batch can hold.
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// The size of each packet slot in bytes.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// How many packets the batch holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no packet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every packet (the memory is kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The length of held packet `index` (`index < len`).
    fn packet_len(&self, index: usize) -> usize {
        if self.form == Form::Filled {
            self.descs[index].vm_pkt_size
        } else {
            self.lens[index]
        }
    }

    /// Appends a copy of `frame`.
    ///
    /// # Errors
    /// [`Error::BatchFull`] when the batch is full, [`Error::PacketTooBig`] when `frame` is
    /// larger than a slot. The batch is unchanged on error.
    pub fn push(&mut self, frame: &[u8]) -> Result<()> {
        let slot = self.next_slot(frame.len())?;
        slot[..frame.len()].copy_from_slice(frame);
        self.commit(frame.len());
        Ok(())
    }

    /// Appends a packet built in place: `build` gets the whole next slot and returns the
    /// packet's length. Returns that length.
    ///
    /// # Errors
    /// [`Error::BatchFull`] when the batch is full (`build` is not called), and
    /// [`Error::PacketTooBig`] when `build` returns more than the slot size (nothing is added).
    pub fn push_with<F: FnOnce(&mut [u8]) -> usize>(&mut self, build: F) -> Result<usize> {
        self.push_with_or_skip(|slot| Ok::<_, Infallible>(build(slot)))
            .map(|built| built.unwrap_or_else(|never| match never {}))
    }

    /// Like [`push_with`](Self::push_with), but `fill` may also add nothing: it gets the whole
    /// next slot and returns the packet's length, or an error, and then the batch is unchanged
    /// (whatever `fill` wrote in the slot is overwritten by the next packet). Returns `fill`'s
    /// outcome: to receive a packet straight into its slot, and skip it if it is unfit.
    ///
    /// # Errors
    /// [`Error::BatchFull`] when the batch is full (`fill` is not called), and
    /// [`Error::PacketTooBig`] when `fill` returns more than the slot size (nothing is added).
    pub(crate) fn push_with_or_skip<E>(
        &mut self,
        fill: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<Result<usize, E>> {
        let slot_size = self.slot_size;
        let index = self.len;
        let len = match fill(self.next_slot(0)?) {
            Ok(len) => len,
            Err(e) => return Ok(Err(e)),
        };
        if len > slot_size {
            return Err(Error::PacketTooBig {
                index,
                len,
                max: slot_size,
            });
        }
        self.commit(len);
        Ok(Ok(len))
    }

    /// Packet `index`, if the batch holds it.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        (index < self.len).then(|| &self.arena.as_slice()[self.slot(index, self.packet_len(index))])
    }

    /// Packet `index`, mutably (to edit a frame in place before writing it).
    pub fn get_mut(&mut self, index: usize) -> Option<&mut [u8]> {
        (index < self.len).then(|| {
            let range = self.slot(index, self.packet_len(index));
            &mut self.arena.as_mut_slice()[range]
        })
    }

    /// The packets, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            batch: self,
            next: 0,
        }
    }

    fn slot(&self, index: usize, len: usize) -> Range<usize> {
        let start = index * self.slot_size;
        start..start + len
    }

    /// The next free slot, whole, if the batch has one and `len` fits.
    fn next_slot(&mut self, len: usize) -> Result<&mut [u8]> {
        if self.len == self.capacity() {
            return Err(Error::BatchFull {
                capacity: self.capacity(),
            });
        }
        if len > self.slot_size {
            return Err(Error::PacketTooBig {
                index: self.len,
                len,
                max: self.slot_size,
            });
        }
        let range = self.slot(self.len, self.slot_size);
        Ok(&mut self.arena.as_mut_slice()[range])
    }

    fn commit(&mut self, len: usize) {
        self.keep_read_lens();
        let index = self.len;
        self.lens[index] = len;
        if self.form() == Form::Write {
            // Keep the held packets ready to write.
            set_lengths(&mut self.descs, &self.iovs, index..index + 1, |_| len);
        }
        self.len += 1;
    }

    /// Moves the lengths of read packets from the descriptors' sizes into `lens`
    /// ([`Form::Filled`] to [`Form::Read`]), before a push or a write changes the descriptors.
    fn keep_read_lens(&mut self) {
        if self.form == Form::Filled {
            let len = self.len;
            for (kept, desc) in self.lens[..len].iter_mut().zip(&self.descs[..len]) {
                *kept = desc.vm_pkt_size;
            }
            self.form = Form::Read;
        }
    }

    /// What the descriptors hold now: [`Form::Unknown`] once a set went to a platform.
    fn form(&mut self) -> Form {
        if std::mem::take(&mut self.handed_out) {
            self.form = Form::Unknown;
        }
        self.form
    }

    /// Empties the batch and points the first `min(max, capacity)` descriptors at whole
    /// slots, ready for a read: sizes at slot capacity, one iovec each, flags zero (vmnet
    /// requires this before every read). Returns those descriptors, as a set a backend may
    /// read into.
    ///
    /// Per call only the sizes are set (a read changes them); iovecs, counts and flags only
    /// when a write or a platform call changed them (`Form`).
    pub(crate) fn prepare_read(&mut self, max: usize) -> ReadDescs<'_> {
        self.len = 0;
        let count = max.min(self.capacity());
        let slot = self.slot_size;
        if !matches!(self.form(), Form::Read | Form::Filled) {
            let all = 0..self.capacity();
            set_lengths(&mut self.descs, &self.iovs, all, |_| slot);
        }
        self.form = Form::Read;
        let descs = &mut self.descs[..count];
        for desc in descs.iter_mut() {
            desc.vm_pkt_size = slot;
        }
        // Descriptor `i` points at iovec `i`, covering slot `i` of the arena whole (set in
        // `new`; length, count and flags kept so in `Form::Read` and `Form::Filled`, which a
        // platform call ends), and each size is that length. Arena, iovecs and descriptors
        // are three allocations, the first two reached only through their leaked pointers
        // (`Heap`).
        // SAFETY: distinct, initialised slots valid for writes, apart from the iovecs and
        // descriptors; `&mut self` keeps the batch off all three while the set lives.
        unsafe { ReadDescs::from_raw(descs) }.reporting_hand_out(&mut self.handed_out)
    }

    /// Records the outcome of the read of a [`prepare_read`](Self::prepare_read) set:
    /// `Ok(count)` when it filled the first `count` descriptors, whose sizes are then the
    /// packets' lengths ([`Form::Filled`]). Returns `count`.
    ///
    /// A length a platform wrote is checked against its slot here; one written by
    /// [`fill`](crate::descs::ReadDescs) (the simulator) is within its buffer, the whole slot,
    /// already.
    ///
    /// # Errors
    /// The read's error; [`Error::PacketTooBig`] if a length a platform wrote claims more than
    /// its slot (refused rather than exposed). Both leave the batch empty.
    pub(crate) fn finish_read(&mut self, read: Result<usize>) -> Result<usize> {
        let count = match read {
            Ok(count) => count.min(self.capacity()),
            Err(e) => {
                // What the failed call changed is not known.
                self.form = Form::Unknown;
                return Err(e);
            }
        };
        let slot = self.slot_size;
        if self.handed_out
            && let Some(index) = self.descs[..count]
                .iter()
                .position(|desc| desc.vm_pkt_size > slot)
        {
            return Err(Error::PacketTooBig {
                index,
                len: self.descs[index].vm_pkt_size,
                max: slot,
            });
        }
        self.form = Form::Filled;
        self.len = count;
        Ok(count)
    }

    /// The descriptors of the held packets `range` (clamped to `0..len`), ready for a write,
    /// as a set a backend may send.
    ///
    /// The descriptors of the held packets are set only when a read or a platform call
    /// changed them (`Form`); a pushed packet's is set as it is pushed.
    pub(crate) fn prepare_write(&mut self, range: Range<usize>) -> WriteDescs<'_> {
        self.keep_read_lens();
        if self.form() != Form::Write {
            let lens = &self.lens;
            set_lengths(&mut self.descs, &self.iovs, 0..self.len, |packet| {
                lens[packet]
            });
            self.form = Form::Write;
        }
        let end = range.end.min(self.len);
        let descs = &mut self.descs[range.start.min(end)..end];
        // Descriptor `i` (a held packet's) points at iovec `i`, covering the first `lens[i]`
        // bytes of slot `i`, with that length as the size, one iovec, no flags (`Form::Write`:
        // set above or as the packet was pushed, ended by a read or a platform call). Arena
        // and iovecs are reached only through their leaked pointers (`Heap`).
        // SAFETY: initialised memory of the arena, apart from the iovecs and descriptors;
        // `&mut self` keeps the batch off all three while the set lives.
        unsafe { WriteDescs::from_raw(descs) }.reporting_hand_out(&mut self.handed_out)
    }
}

/// Sets the descriptors `range` (within the capacity) for a call: each packet's length
/// (`len(packet)`) as its size and its iovec's length (vmnet requires them equal), one iovec,
/// no flags — whatever a read or the platform changed. The pointers were set once, in
/// [`PacketBatch::new`]: descriptor `i`, iovec `i` and slot `i` belong together.
fn set_lengths(
    descs: &mut [vmpktdesc],
    iovs: &Heap<iovec>,
    range: Range<usize>,
    len: impl Fn(usize) -> usize,
) {
    let first = iovs.first();
    for (packet, desc) in range.clone().zip(&mut descs[range]) {
        let len = len(packet);
        // SAFETY: `packet` indexes the descriptors, and there are as many iovecs, so this
        // one is in bounds; it is plain data, written through the pointer the descriptors
        // hold (no reference to it is made, so theirs stays valid).
        unsafe { (*first.add(packet)).iov_len = len };
        desc.vm_pkt_size = len;
        desc.vm_pkt_iovcnt = 1;
        desc.vm_flags = 0;
    }
}

impl fmt::Debug for PacketBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBatch")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot_size)
            .finish()
    }
}

impl<'a> IntoIterator for &'a PacketBatch {
    type Item = &'a [u8];
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over the packets of a [`PacketBatch`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    batch: &'a PacketBatch,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let packet = self.batch.get(self.next)?;
        self.next += 1;
        Some(packet)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batch.len - self.next.min(self.batch.len);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_and_errors() {
        let mut b = PacketBatch::new(2, 8);
        assert!(b.is_empty());
        b.push(&[1, 2, 3]).unwrap();
        assert!(matches!(
            b.push(&[0; 9]),
            Err(Error::PacketTooBig {
                index: 1,
                len: 9,
                max: 8
            })
        ));
        assert_eq!(b.len(), 1, "a rejected push changes nothing");
        b.push_with(|s| {
            s[..2].copy_from_slice(&[7, 7]);
            2
        })
        .unwrap();
        assert!(matches!(
            b.push(&[1]),
            Err(Error::BatchFull { capacity: 2 })
        ));
        assert_eq!(b.get(0), Some(&[1, 2, 3][..]));
        assert_eq!(b.get(1), Some(&[7, 7][..]));
        assert_eq!(b.get(2), None);
        b.get_mut(0).unwrap()[0] = 9;
        assert_eq!(b.iter().next(), Some(&[9, 2, 3][..]));
        assert_eq!(b.iter().len(), 2);
        b.clear();
        assert_eq!(b.iter().count(), 0);
    }

    #[test]
    fn push_with_rejects_an_overlong_length() {
        let mut b = PacketBatch::new(1, 4);
        assert!(matches!(
            b.push_with(|_| 5),
            Err(Error::PacketTooBig { len: 5, max: 4, .. })
        ));
        assert!(b.is_empty());
    }

    #[test]
    fn push_with_or_skip_adds_a_packet_or_nothing() {
        let mut b = PacketBatch::new(2, 8);
        let skipped = b.push_with_or_skip(|slot| {
            slot.fill(5);
            Err::<usize, &str>("unfit")
        });
        assert!(matches!(skipped, Ok(Err("unfit"))));
        assert!(b.is_empty(), "a skipped packet adds nothing");
        let added = b.push_with_or_skip(|slot| {
            assert_eq!(slot.len(), 8, "the whole slot");
            slot[..3].copy_from_slice(&[1, 2, 3]);
            Ok::<usize, ()>(3)
        });
        assert!(matches!(added, Ok(Ok(3))));
        assert!(matches!(
            b.push_with_or_skip(|_| Ok::<usize, ()>(9)),
            Err(Error::PacketTooBig {
                index: 1,
                len: 9,
                max: 8
            })
        ));
        assert_eq!(b.iter().collect::<Vec<_>>(), [&[1, 2, 3][..]]);
        b.push(&[4]).unwrap();
        assert!(matches!(
            b.push_with_or_skip(|_| -> Result<usize, ()> {
                unreachable!("not called on a full batch")
            }),
            Err(Error::BatchFull { capacity: 2 })
        ));
    }

    #[test]
    fn sizes_are_clamped() {
        let b = PacketBatch::new(MAX_BATCH_PACKETS + 1, 0);
        assert_eq!((b.capacity(), b.slot_size()), (MAX_BATCH_PACKETS, 1));
        let b = PacketBatch::new(1, usize::MAX);
        assert_eq!(b.slot_size(), MAX_SLOT_SIZE);
    }

    /// Does what a platform call may do to a set's descriptors (through
    /// [`Descs::as_mut_ptr`](crate::descs::Descs), as the Apple backend hands them to
    /// vmnet): `change` gets each descriptor and its iovec.
    fn as_a_platform<A>(
        set: &mut crate::descs::Descs<'_, A>,
        mut change: impl FnMut(usize, &mut vmpktdesc, &mut usize),
    ) {
        let first = set.as_mut_ptr();
        for i in 0..set.len() {
            // SAFETY: the set's descriptor `i`, which points at its own iovec of the batch
            // (plain data, reached through the pointers the batch made); nothing else
            // accesses either meanwhile.
            unsafe {
                let desc = &mut *first.add(i);
                let iov = desc.vm_pkt_iov;
                change(i, desc, &mut (*iov).iov_len);
            }
        }
    }

    /// Each descriptor of a set as (size, iovec length, iovec count, flags, slot), its slot
    /// the index of the slot its iovec starts at.
    fn fields<A>(b_arena: usize, set: &crate::descs::Descs<'_, A>) -> Vec<[usize; 5]> {
        set.as_slice()
            .iter()
            .map(|d| {
                // SAFETY: a batch's set points every descriptor at a valid iovec of the
                // batch.
                let iov = unsafe { *d.vm_pkt_iov };
                [
                    d.vm_pkt_size,
                    iov.iov_len,
                    d.vm_pkt_iovcnt as usize,
                    d.vm_flags as usize,
                    (iov.iov_base as usize - b_arena) / 16,
                ]
            })
            .collect()
    }

    #[test]
    fn read_descriptors_are_reset_before_every_read() {
        let mut b = PacketBatch::new(4, 16);
        let arena = b.arena.first() as usize;
        let mut set = b.prepare_read(3);
        assert_eq!(set.len(), 3);
        // A platform's read of two packets of 5 and 16 bytes, with a flag on the third.
        as_a_platform(&mut set, |i, d, _| match i {
            0 => d.vm_pkt_size = 5,
            2 => d.vm_flags = 7,
            _ => {}
        });
        b.finish_read(Ok(2)).unwrap();
        assert_eq!(b.iter().map(<[u8]>::len).collect::<Vec<_>>(), [5, 16]);
        let set = b.prepare_read(10);
        assert_eq!(
            fields(arena, &set),
            (0..4).map(|i| [16, 16, 1, 0, i]).collect::<Vec<_>>(),
            "clamped to capacity, each over its whole slot"
        );
        assert!(b.is_empty(), "a read empties the batch first");
    }

    #[test]
    fn a_read_claiming_more_than_a_slot_is_refused() {
        let mut b = PacketBatch::new(2, 16);
        let mut set = b.prepare_read(2);
        as_a_platform(&mut set, |i, d, _| d.vm_pkt_size = 16 + i);
        assert!(matches!(
            b.finish_read(Ok(2)),
            Err(Error::PacketTooBig {
                index: 1,
                len: 17,
                max: 16
            })
        ));
        assert!(b.is_empty());
        let arena = b.arena.first() as usize;
        assert_eq!(
            fields(arena, &b.prepare_read(2)),
            [[16, 16, 1, 0, 0], [16, 16, 1, 0, 1]],
            "the next read gets whole slots"
        );
    }

    #[test]
    fn a_failed_read_leaves_the_batch_empty_and_the_next_read_whole_slots() {
        let mut b = PacketBatch::new(2, 16);
        b.push(&[1; 3]).unwrap();
        let mut set = b.prepare_read(2);
        // A backend that shortened a size, then failed.
        assert_eq!(set.fill(0, |_| Some(1)), Some(1));
        assert!(matches!(
            b.finish_read(Err(Error::Stopped)),
            Err(Error::Stopped)
        ));
        assert!(b.is_empty());
        let arena = b.arena.first() as usize;
        assert_eq!(
            fields(arena, &b.prepare_read(2)),
            [[16, 16, 1, 0, 0], [16, 16, 1, 0, 1]]
        );
    }

    #[test]
    fn what_a_platform_changed_in_a_call_is_reset_for_the_next() {
        let mut b = PacketBatch::new(3, 16);
        let arena = b.arena.first() as usize;
        // A read in which the platform shortened sizes and iovecs and set flags and counts.
        let mut set = b.prepare_read(3);
        as_a_platform(&mut set, |_, d, iov_len| {
            d.vm_pkt_size = 4;
            d.vm_pkt_iovcnt = 9;
            d.vm_flags = 1;
            *iov_len = 4;
        });
        b.finish_read(Ok(3)).unwrap();
        assert_eq!(b.iter().map(<[u8]>::len).collect::<Vec<_>>(), [4, 4, 4]);
        assert_eq!(
            fields(arena, &b.prepare_write(1..3)),
            [[4, 4, 1, 0, 1], [4, 4, 1, 0, 2]]
        );
        assert_eq!(
            fields(arena, &b.prepare_read(3)),
            [[16, 16, 1, 0, 0], [16, 16, 1, 0, 1], [16, 16, 1, 0, 2]]
        );
        // And a write the platform changed, for the next write.
        b.push(&[1; 5]).unwrap();
        let mut set = b.prepare_write(0..1);
        as_a_platform(&mut set, |_, d, iov_len| {
            d.vm_pkt_size = 16;
            d.vm_pkt_iovcnt = 2;
            d.vm_flags = 3;
            *iov_len = 16;
        });
        assert_eq!(fields(arena, &b.prepare_write(0..1)), [[5, 5, 1, 0, 0]]);
    }

    /// Without a platform (the simulator's sets change only sizes, through `fill`), a batch
    /// keeps its descriptors between calls: a read after a read sets only the sizes, a write
    /// after a write nothing; what reads, writes and pushes change in between is set right.
    #[test]
    fn descriptors_kept_between_calls_are_right_for_every_call() {
        let mut b = PacketBatch::new(3, 16);
        let arena = b.arena.first() as usize;
        let read = |b: &mut PacketBatch, lens: &[usize]| {
            let mut set = b.prepare_read(3);
            let whole = fields(arena, &set);
            for (i, &len) in lens.iter().enumerate() {
                assert_eq!(set.fill(i, |slot| Some(len.min(slot.len()))), Some(len));
            }
            b.finish_read(Ok(lens.len())).unwrap();
            whole
        };
        let whole: Vec<[usize; 5]> = (0..3).map(|i| [16, 16, 1, 0, i]).collect();
        assert_eq!(read(&mut b, &[3, 16]), whole);
        assert_eq!(read(&mut b, &[1, 2, 3]), whole, "sizes reset after a read");
        assert_eq!(
            fields(arena, &b.prepare_write(0..3)),
            [[1, 1, 1, 0, 0], [2, 2, 1, 0, 1], [3, 3, 1, 0, 2]]
        );
        assert_eq!(
            fields(arena, &b.prepare_write(1..9)),
            [[2, 2, 1, 0, 1], [3, 3, 1, 0, 2]],
            "clamped to the held packets"
        );
        b.clear();
        b.push(&[9; 7]).unwrap();
        assert_eq!(fields(arena, &b.prepare_write(0..3)), [[7, 7, 1, 0, 0]]);
        b.push(&[8; 16]).unwrap();
        assert_eq!(
            fields(arena, &b.prepare_write(0..3)),
            [[7, 7, 1, 0, 0], [16, 16, 1, 0, 1]],
            "a push after a write"
        );
        assert_eq!(read(&mut b, &[5]), whole, "a read after a write");
        b.push(&[6; 2]).unwrap();
        assert_eq!(
            fields(arena, &b.prepare_write(0..3)),
            [[5, 5, 1, 0, 0], [2, 2, 1, 0, 1]],
            "a push after a read"
        );
        assert_eq!(b.iter().collect::<Vec<_>>(), [&[9; 5][..], &[6; 2]]);
    }

    /// The safe way into a batch's sets: what a backend writes lands in the slots, within
    /// them, and what it reads is the packets.
    #[test]
    fn a_read_set_fills_the_slots_and_a_write_set_reads_the_packets() {
        let mut b = PacketBatch::new(3, 16);
        let mut descs = b.prepare_read(3);
        assert_eq!(
            descs.fill(0, |slot| Some(slot.len())),
            Some(16),
            "whole slots"
        );
        assert_eq!(
            descs.fill(1, |slot| {
                slot[..2].copy_from_slice(&[1, 2]);
                Some(2)
            }),
            Some(2)
        );
        assert_eq!(descs.fill(2, |_| Some(17)), None, "nothing past a slot");
        assert_eq!(descs.fill(3, |_| Some(1)), None, "nor past the set");
        assert!(descs.check_lengths(3).is_ok());
        b.finish_read(Ok(2)).unwrap();
        assert_eq!(b.get(1), Some(&[1, 2][..]));
        let descs = b.prepare_write(0..2);
        assert_eq!(descs.packet(0), Some(&[0; 16][..]));
        assert_eq!(descs.packet(1), Some(&[1, 2][..]));
        assert_eq!(descs.packet(2), None);
    }

    #[test]
    fn a_moved_batch_keeps_its_descriptors_valid() {
        let mut b = PacketBatch::new(2, 8);
        b.push(&[7; 8]).unwrap();
        let moved = Box::new(b);
        let mut b = *moved;
        assert_eq!(b.prepare_write(0..1).packet(0), Some(&[7; 8][..]));
    }

    #[test]
    fn write_descriptors_carry_exact_lengths() {
        let mut b = PacketBatch::new(4, 16);
        for len in [3, 16, 1] {
            b.push(&vec![len as u8; len]).unwrap();
        }
        let descs = b.prepare_write(1..3);
        assert_eq!(descs.len(), 2);
        let sizes: Vec<usize> = descs.as_slice().iter().map(|d| d.vm_pkt_size).collect();
        assert_eq!(sizes, [16, 1]);
        for (i, d) in descs.as_slice().iter().enumerate() {
            // SAFETY: prepare_write points every descriptor at a valid iovec of the batch.
            let iov = unsafe { *d.vm_pkt_iov };
            assert_eq!(
                (iov.iov_len, d.vm_pkt_iovcnt, d.vm_flags),
                (d.vm_pkt_size, 1, 0)
            );
            let bytes = descs.packet(i).unwrap();
            assert!(bytes.iter().all(|&x| x as usize == iov.iov_len));
        }
    }
}

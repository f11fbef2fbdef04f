//! Frame checks and the stream framing's decoder: pure functions over bytes, no I/O.

use std::fmt;

/// The shortest acceptable frame: an Ethernet header (destination, source, EtherType).
pub const MIN_FRAME_LEN: usize = 14;

/// Length prefixes above this (or above the decoder's maximum frame length, if larger) are
/// taken as garbage: a peer that sends one is not speaking the stream framing, and the stream
/// cannot be resynchronised. 256 KiB, well above any real frame (64 KiB with TSO).
pub const RESYNC_LIMIT: usize = 256 * 1024;

/// The size of a stream frame's length prefix: 4 bytes, big-endian.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// The decoder's default buffer size (it is never smaller than one largest frame).
pub const DEFAULT_DECODER_BUFFER: usize = 256 * 1024;

/// Why a frame from the VM side was rejected.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MalformedFrame {
    /// A frame (or length prefix) of 0 bytes.
    Empty,
    /// Shorter than an Ethernet header ([`MIN_FRAME_LEN`] bytes).
    TooShort {
        /// The frame's length.
        len: usize,
    },
    /// Longer than the interface accepts.
    TooLong {
        /// The frame's length.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// The stream ended inside a frame (or inside its length prefix).
    Truncated {
        /// Bytes the frame needed, prefix included.
        expected: usize,
        /// Bytes that arrived.
        received: usize,
    },
    /// A length prefix above [`RESYNC_LIMIT`]: the peer is not speaking this framing, or the
    /// stream lost synchronisation. Fatal: nothing after it can be trusted.
    Desynchronized {
        /// The length the prefix claimed.
        len: usize,
    },
}

impl MalformedFrame {
    /// Whether the stream cannot continue after this error (the connection must be reset).
    /// Every other kind drops one frame and leaves the stream in step.
    pub fn is_fatal(&self) -> bool {
        matches!(self, MalformedFrame::Desynchronized { .. })
    }
}

impl fmt::Display for MalformedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MalformedFrame::Empty => f.write_str("an empty frame (length 0) was dropped"),
            MalformedFrame::TooShort { len } => write!(
                f,
                "a {len}-byte frame was dropped: an Ethernet frame has at least \
                 {MIN_FRAME_LEN} bytes (destination, source, EtherType)"
            ),
            MalformedFrame::TooLong { len, max } => write!(
                f,
                "a {len}-byte frame was dropped: the interface takes at most {max} bytes; \
                 lower the guest's MTU or start the interface with a larger MTU (or TSO)"
            ),
            MalformedFrame::Truncated { expected, received } => write!(
                f,
                "the stream ended inside a frame ({received} of {expected} bytes arrived)"
            ),
            MalformedFrame::Desynchronized { len } => write!(
                f,
                "a length prefix of {len} bytes is beyond any frame ({RESYNC_LIMIT} bytes at \
                 most): the peer does not speak the 4-byte big-endian length framing (QEMU \
                 `-netdev stream`), or the stream is corrupt; the connection was reset"
            ),
        }
    }
}

impl std::error::Error for MalformedFrame {}

/// Checks one frame from the VM side: not empty, at least an Ethernet header
/// ([`MIN_FRAME_LEN`]), at most `max_len` bytes (the interface's maximum packet size).
///
/// # Errors
/// [`MalformedFrame::Empty`], [`MalformedFrame::TooShort`] or [`MalformedFrame::TooLong`]:
/// the first of those rules the frame breaks.
///
/// ```
/// use vmnet::bridge::{MalformedFrame, check_frame};
/// assert_eq!(check_frame(&[0; 60], 1514), Ok(()));
/// assert_eq!(check_frame(&[], 1514), Err(MalformedFrame::Empty));
/// assert_eq!(check_frame(&[0; 13], 1514), Err(MalformedFrame::TooShort { len: 13 }));
/// assert_eq!(
///     check_frame(&[0; 1515], 1514),
///     Err(MalformedFrame::TooLong { len: 1515, max: 1514 })
/// );
/// ```
pub fn check_frame(frame: &[u8], max_len: usize) -> Result<(), MalformedFrame> {
    check_len(frame.len(), max_len)
}

fn check_len(len: usize, max: usize) -> Result<(), MalformedFrame> {
    match len {
        0 => Err(MalformedFrame::Empty),
        len if len < MIN_FRAME_LEN => Err(MalformedFrame::TooShort { len }),
        len if len > max => Err(MalformedFrame::TooLong { len, max }),
        _ => Ok(()),
    }
}

/// Appends `frame` in the stream framing (a 4-byte big-endian length, then the frame) to
/// `out`. Allocates only if `out` lacks the capacity.
///
/// # Errors
/// [`MalformedFrame::TooLong`] if the length does not fit the 32-bit prefix; `out` is
/// unchanged.
///
/// ```
/// let mut out = Vec::new();
/// vmnet::bridge::encode_stream_frame(&[0xab; 60], &mut out)?;
/// assert_eq!(&out[..4], &[0, 0, 0, 60]);
/// assert_eq!(out.len(), 64);
/// # Ok::<(), vmnet::bridge::MalformedFrame>(())
/// ```
pub fn encode_stream_frame(frame: &[u8], out: &mut Vec<u8>) -> Result<(), MalformedFrame> {
    let len = u32::try_from(frame.len()).map_err(|_| MalformedFrame::TooLong {
        len: frame.len(),
        max: u32::MAX as usize,
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame);
    Ok(())
}

/// Decodes the stream framing (QEMU's `-netdev stream`/`socket`: each frame preceded by its
/// length as 4 bytes, big-endian) from bytes that arrive in arbitrary pieces.
///
/// Memory is bounded: one buffer, allocated in [`new`](Self::new), of at least one largest
/// frame plus its prefix; nothing else is ever allocated. Feed it with [`push`](Self::push)
/// (copies) or by reading straight into [`spare_capacity_mut`](Self::spare_capacity_mut) and
/// calling [`commit`](Self::commit), then take frames with [`next_frame`](Self::next_frame)
/// until it returns `None`.
///
/// Malformed frames are reported once each and skipped without being buffered (even a
/// 200 KiB one), so the stream stays in step: [`MalformedFrame::Empty`],
/// [`TooShort`](MalformedFrame::TooShort), [`TooLong`](MalformedFrame::TooLong). A length
/// prefix above [`RESYNC_LIMIT`] cannot be skipped safely: it is reported as
/// [`MalformedFrame::Desynchronized`], after which the decoder is *failed*: it takes no more
/// bytes (`push` returns 0), yields nothing, and [`error`](Self::error) tells why, until
/// [`reset`](Self::reset). At the end of the stream, [`finish`](Self::finish) reports a frame
/// cut short.
///
/// Nothing in it panics, whatever the input (it is meant to be fuzzed).
///
/// ```
/// use vmnet::bridge::{MalformedFrame, StreamDecoder};
///
/// let mut decoder = StreamDecoder::new(1514);
/// let mut wire = vec![0, 0, 0, 20];
/// wire.extend_from_slice(&[7; 20]);
/// wire.extend_from_slice(&[0, 0, 0, 0]); // an empty frame
/// wire.extend_from_slice(&[0, 0, 0, 16]);
/// wire.extend_from_slice(&[8; 10]); // the first 10 bytes of a 16-byte frame
///
/// assert_eq!(decoder.push(&wire), wire.len());
/// assert_eq!(decoder.next_frame(), Some(Ok(&[7; 20][..])));
/// assert_eq!(decoder.next_frame(), Some(Err(MalformedFrame::Empty)));
/// assert_eq!(decoder.next_frame(), None); // the rest has not arrived yet
/// decoder.push(&[8; 6]);
/// assert_eq!(decoder.next_frame(), Some(Ok(&[8; 16][..])));
/// assert_eq!(decoder.finish(), Ok(()));
///
/// decoder.push(&[0xff, 0xff, 0xff, 0xff]); // garbage: 4 GiB "frame"
/// assert!(matches!(decoder.next_frame(), Some(Err(e)) if e.is_fatal()));
/// assert_eq!(decoder.push(&[0; 10]), 0, "failed until reset");
/// decoder.reset();
/// assert_eq!(decoder.error(), None);
/// ```
pub struct StreamDecoder {
    buf: Box<[u8]>,
    /// First byte not yet consumed.
    start: usize,
    /// End of the bytes received.
    end: usize,
    max_frame_len: usize,
    /// Bytes of a rejected frame still to discard as they arrive.
    skip: usize,
    failed: Option<MalformedFrame>,
}

impl fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamDecoder")
            .field("buffered", &self.buffered())
            .field("capacity", &self.buf.len())
            .field("max_frame_len", &self.max_frame_len)
            .field("skip", &self.skip)
            .field("failed", &self.failed)
            .finish()
    }
}

impl StreamDecoder {
    /// A decoder for frames of at most `max_frame_len` bytes (the interface's maximum packet
    /// size), with a [`DEFAULT_DECODER_BUFFER`]-byte buffer. `max_frame_len` is clamped to
    /// `MIN_FRAME_LEN..=RESYNC_LIMIT`.
    pub fn new(max_frame_len: usize) -> Self {
        Self::with_buffer_len(max_frame_len, DEFAULT_DECODER_BUFFER)
    }

    /// Like [`new`](Self::new) with a buffer of `buffer_len` bytes, raised to hold at least
    /// one largest frame with its prefix (a smaller buffer is useful to fuzz the compaction).
    pub fn with_buffer_len(max_frame_len: usize, buffer_len: usize) -> Self {
        let max_frame_len = max_frame_len.clamp(MIN_FRAME_LEN, RESYNC_LIMIT);
        let len = buffer_len.max(LENGTH_PREFIX_LEN + max_frame_len);
        Self {
            buf: vec![0; len].into_boxed_slice(),
            start: 0,
            end: 0,
            max_frame_len,
            skip: 0,
            failed: None,
        }
    }

    /// The largest frame accepted.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// The buffer's size in bytes.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Bytes received and not yet consumed (a partial frame, or whole frames not yet taken).
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The fatal error that failed the decoder, if any.
    pub fn error(&self) -> Option<MalformedFrame> {
        self.failed
    }

    /// Copies as many bytes of `bytes` as fit into the buffer; returns how many. Returns less
    /// than `bytes.len()` when the buffer is full (take frames with
    /// [`next_frame`](Self::next_frame), then push the rest) and 0 once the decoder has
    /// failed.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let spare = self.spare_capacity_mut();
        let n = spare.len().min(bytes.len());
        spare[..n].copy_from_slice(&bytes[..n]);
        self.commit(n);
        n
    }

    /// The free part of the buffer, to read into directly (e.g. with `recv`); then call
    /// [`commit`](Self::commit) with the number of bytes written. Empty when the buffer is
    /// full or the decoder has failed.
    pub fn spare_capacity_mut(&mut self) -> &mut [u8] {
        if self.failed.is_some() {
            return &mut [];
        }
        self.compact();
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were written at the start of
    /// [`spare_capacity_mut`](Self::spare_capacity_mut). Values beyond the free space are
    /// clamped to it.
    pub fn commit(&mut self, n: usize) {
        if self.failed.is_none() {
            self.end += n.min(self.buf.len() - self.end);
        }
    }

    /// Moves the unconsumed bytes to the front of the buffer when that frees useful room.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < self.buf.len() / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// The next complete frame, a malformed one (reported once, then skipped), or `None` when
    /// more bytes are needed (or the decoder has failed).
    ///
    /// The frame borrows the decoder's buffer; it is valid until the next call that takes
    /// `&mut self`.
    pub fn next_frame(&mut self) -> Option<Result<&[u8], MalformedFrame>> {
        if self.failed.is_some() {
            return None;
        }
        if self.skip > 0 {
            let n = self.skip.min(self.buffered());
            self.start += n;
            self.skip -= n;
            if self.skip > 0 {
                return None;
            }
        }
        let available = self.buffered();
        if available < LENGTH_PREFIX_LEN {
            return None;
        }
        let len = announced_len(&self.buf, self.start);
        if len > RESYNC_LIMIT.max(self.max_frame_len) {
            let e = MalformedFrame::Desynchronized { len };
            self.failed = Some(e);
            self.start = 0;
            self.end = 0;
            return Some(Err(e));
        }
        if let Err(e) = check_len(len, self.max_frame_len) {
            // The length is plausible: skip the frame's bytes as they come, keeping in step.
            self.start += LENGTH_PREFIX_LEN;
            self.skip = len;
            return Some(Err(e));
        }
        if available < LENGTH_PREFIX_LEN + len {
            return None;
        }
        let frame = self.start + LENGTH_PREFIX_LEN;
        self.start = frame + len;
        Some(Ok(&self.buf[frame..frame + len]))
    }

    /// The stream has ended: `Err(Truncated)` if it stopped inside a frame or a length prefix
    /// (a frame already reported as malformed and being skipped is not reported again).
    /// Complete frames not yet taken are not an error. Resets the decoder either way.
    ///
    /// # Errors
    /// [`MalformedFrame::Truncated`] if the stream ended inside a frame or a length prefix.
    pub fn finish(&mut self) -> Result<(), MalformedFrame> {
        let result = self.pending_truncation();
        self.reset();
        result
    }

    fn pending_truncation(&self) -> Result<(), MalformedFrame> {
        if self.failed.is_some() || self.skip > 0 {
            return Ok(());
        }
        let mut start = self.start;
        loop {
            let available = self.end - start;
            if available == 0 {
                return Ok(());
            }
            if available < LENGTH_PREFIX_LEN {
                return Err(MalformedFrame::Truncated {
                    expected: LENGTH_PREFIX_LEN,
                    received: available,
                });
            }
            let len = announced_len(&self.buf, start);
            let needed = LENGTH_PREFIX_LEN.saturating_add(len);
            if available < needed {
                return Err(MalformedFrame::Truncated {
                    expected: needed,
                    received: available,
                });
            }
            // Whole frames left untaken are not truncated; look past them.
            start += needed;
        }
    }

    /// Forgets everything buffered and any failure, for a new connection. Keeps the buffer.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.skip = 0;
        self.failed = None;
    }
}

/// The frame length announced by the length prefix at `buf[at..]`; callers check that its
/// [`LENGTH_PREFIX_LEN`] bytes are there.
fn announced_len(buf: &[u8], at: usize) -> usize {
    let mut prefix = [0u8; LENGTH_PREFIX_LEN];
    prefix.copy_from_slice(&buf[at..at + LENGTH_PREFIX_LEN]);
    // A u32 always fits in usize on the targets vmnet has (64-bit); saturate elsewhere.
    usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            encode_stream_frame(f, &mut out).unwrap();
        }
        out
    }

    /// Feeds `bytes` to `d` in pieces of `chunk` bytes, each piece as far as the decoder takes
    /// it, and collects every frame (or error) it yields along the way.
    fn decode_in_chunks(
        d: &mut StreamDecoder,
        bytes: &[u8],
        chunk: usize,
    ) -> Vec<Result<Vec<u8>, MalformedFrame>> {
        let mut got = Vec::new();
        for piece in bytes.chunks(chunk) {
            let mut piece = piece;
            while !piece.is_empty() {
                let n = d.push(piece);
                piece = &piece[n..];
                while let Some(r) = d.next_frame() {
                    got.push(r.map(<[u8]>::to_vec));
                }
            }
        }
        got
    }

    #[test]
    fn frames_survive_any_chunking() {
        let frames: Vec<Vec<u8>> = (0..40u8)
            .map(|i| vec![i; 14 + usize::from(i) * 37 % 1500])
            .collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let bytes = wire(&refs);
        for chunk in [1, 2, 3, 4, 5, 7, 13, 1000, 4096, bytes.len()] {
            // A small buffer forces compaction too.
            let mut d = StreamDecoder::with_buffer_len(1514, 0);
            let got = decode_in_chunks(&mut d, &bytes, chunk);
            assert_eq!(d.finish(), Ok(()));
            let got: Vec<Vec<u8>> = got.into_iter().map(Result::unwrap).collect();
            assert_eq!(got, frames, "chunk size {chunk}");
        }
    }

    #[test]
    fn malformed_frames_are_reported_once_and_skipped() {
        let mut bytes = wire(&[&[1; 20]]);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(&[0, 0, 0, 5, 9, 9, 9, 9, 9]);
        bytes.extend_from_slice(&wire(&[&[2; 3000]]));
        bytes.extend_from_slice(&wire(&[&[3; 60]]));
        for chunk in [1, 3, 64, bytes.len()] {
            let mut d = StreamDecoder::with_buffer_len(1514, 2000);
            let got = decode_in_chunks(&mut d, &bytes, chunk);
            assert_eq!(
                got,
                vec![
                    Ok(vec![1; 20]),
                    Err(MalformedFrame::Empty),
                    Err(MalformedFrame::TooShort { len: 5 }),
                    Err(MalformedFrame::TooLong {
                        len: 3000,
                        max: 1514
                    }),
                    Ok(vec![3; 60]),
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn an_absurd_length_fails_the_decoder_until_reset() {
        let mut d = StreamDecoder::new(1514);
        d.push(&[0x7f, 0, 0, 0, 1, 2, 3]);
        let e = d.next_frame().unwrap().unwrap_err();
        assert_eq!(e, MalformedFrame::Desynchronized { len: 0x7f00_0000 });
        assert!(e.is_fatal() && e.to_string().contains("reset"));
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.push(&[0; 8]), 0);
        assert!(d.spare_capacity_mut().is_empty());
        assert_eq!(d.error(), Some(e));
        d.reset();
        d.push(&wire(&[&[5; 14]]));
        assert_eq!(d.next_frame(), Some(Ok(&[5; 14][..])));
    }

    #[test]
    fn truncation_is_reported_at_the_end() {
        let mut d = StreamDecoder::new(1514);
        d.push(&[0, 0]);
        assert_eq!(
            d.finish(),
            Err(MalformedFrame::Truncated {
                expected: 4,
                received: 2
            })
        );
        d.push(&[0, 0, 0, 100]);
        d.push(&[0; 50]);
        assert_eq!(d.next_frame(), None);
        assert_eq!(
            d.finish(),
            Err(MalformedFrame::Truncated {
                expected: 104,
                received: 54
            })
        );
        // A whole frame not taken yet, then a partial one.
        let mut bytes = wire(&[&[1; 20]]);
        bytes.extend_from_slice(&[0, 0, 0, 30, 1]);
        d.push(&bytes);
        assert_eq!(
            d.finish(),
            Err(MalformedFrame::Truncated {
                expected: 34,
                received: 5
            })
        );
        // Skipping an oversize frame when the stream ends is not reported twice.
        d.push(&[0, 0, 8, 0, 1, 2]);
        assert!(matches!(
            d.next_frame(),
            Some(Err(MalformedFrame::TooLong { .. }))
        ));
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn a_full_buffer_always_yields_something() {
        // Largest frames back to back in a minimal buffer.
        let mut d = StreamDecoder::with_buffer_len(100, 0);
        assert_eq!(d.capacity(), 104);
        let f = [0x42u8; 100];
        let bytes = wire(&[&f, &f, &f]);
        let mut rest = &bytes[..];
        let mut frames = 0;
        for _ in 0..1000 {
            if rest.is_empty() {
                break;
            }
            let n = d.push(rest);
            rest = &rest[n..];
            while let Some(r) = d.next_frame() {
                assert_eq!(r.unwrap(), &f);
                frames += 1;
            }
        }
        assert!(rest.is_empty(), "no progress with a full buffer");
        assert_eq!(frames, 3);
    }

    #[test]
    fn commit_is_clamped_and_lengths_are_checked() {
        let mut d = StreamDecoder::with_buffer_len(20, 0);
        d.commit(10_000);
        assert_eq!(d.buffered(), 24);
        assert_eq!(check_frame(&[0; 14], 14), Ok(()));
        assert!(
            MalformedFrame::TooLong { len: 2, max: 1 }
                .to_string()
                .contains("MTU")
        );
        let mut out = Vec::with_capacity(64);
        encode_stream_frame(&[1; 14], &mut out).unwrap();
        assert_eq!(out.len(), 18);
    }
}

//! The socket bridge's frame parsing, for both framings.
//!
//! Datagram framing: `check_frame` accepts exactly the frames of 14 (an Ethernet header) to
//! `max_len` bytes and names the documented reason for every other length.
//!
//! Stream framing (4-byte big-endian length before each frame): a `StreamDecoder` fed an
//! arbitrary byte stream in arbitrary pieces — through `push` or by writing into
//! `spare_capacity_mut` and committing part of it — yields exactly what a plain reference
//! decoder, reading the whole stream at once, yields: the same frames with the same bytes,
//! the same malformed-frame reports in the same order, the same fatal desynchronisation, and
//! the same verdict from `finish` on where the stream ended. It never panics, never stalls
//! (while it has not failed, a drained decoder always takes more bytes) and never buffers more
//! than its capacity. Frames encoded with `encode_stream_frame` decode back to themselves.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vmnet::bridge::{
    LENGTH_PREFIX_LEN, MIN_FRAME_LEN, MalformedFrame, RESYNC_LIMIT, StreamDecoder, check_frame,
    encode_stream_frame,
};

#[derive(Arbitrary, Debug)]
enum Piece {
    /// A frame, correctly encoded.
    Frame(Vec<u8>),
    /// A length prefix with whatever follows.
    Prefix(u32),
    /// A small length prefix (often a malformed but skippable frame).
    SmallPrefix(u8),
    /// Raw bytes.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_frame_len: u32,
    buffer_len: u16,
    pieces: Vec<Piece>,
    /// Feeding: sizes of the pieces the stream arrives in, and how each is handed over.
    chunks: Vec<(u16, bool)>,
}

type Event = Result<Vec<u8>, MalformedFrame>;

/// The documented length rules, restated.
fn expected_check(len: usize, max: usize) -> Result<(), MalformedFrame> {
    if len == 0 {
        Err(MalformedFrame::Empty)
    } else if len < MIN_FRAME_LEN {
        Err(MalformedFrame::TooShort { len })
    } else if len > max {
        Err(MalformedFrame::TooLong { len, max })
    } else {
        Ok(())
    }
}

/// A plain decoder over the whole stream: the events, and what `finish` must say at its end.
fn reference(stream: &[u8], max: usize) -> (Vec<Event>, Result<(), MalformedFrame>) {
    let mut events = Vec::new();
    let mut pos = 0;
    loop {
        let rest = stream.len() - pos;
        if rest < LENGTH_PREFIX_LEN {
            let end = match rest {
                0 => Ok(()),
                _ => Err(MalformedFrame::Truncated {
                    expected: LENGTH_PREFIX_LEN,
                    received: rest,
                }),
            };
            return (events, end);
        }
        let prefix: [u8; 4] = stream[pos..pos + 4].try_into().unwrap();
        let len = u32::from_be_bytes(prefix) as usize;
        if len > RESYNC_LIMIT.max(max) {
            // Fatal; a failed decoder has nothing to report at the end.
            events.push(Err(MalformedFrame::Desynchronized { len }));
            return (events, Ok(()));
        }
        let needed = LENGTH_PREFIX_LEN + len;
        if let Err(e) = expected_check(len, max) {
            events.push(Err(e));
            if rest < needed {
                // Still skipping the rejected frame: not reported again at the end.
                return (events, Ok(()));
            }
            pos += needed;
            continue;
        }
        if rest < needed {
            return (
                events,
                Err(MalformedFrame::Truncated {
                    expected: needed,
                    received: rest,
                }),
            );
        }
        events.push(Ok(stream[pos + LENGTH_PREFIX_LEN..pos + needed].to_vec()));
        pos += needed;
    }
}

fn drain(decoder: &mut StreamDecoder, events: &mut Vec<Event>) {
    while let Some(event) = decoder.next_frame() {
        events.push(event.map(<[u8]>::to_vec));
        assert!(
            events.len() <= 1 << 20,
            "the decoder does not stop yielding"
        );
    }
    assert!(decoder.buffered() <= decoder.capacity());
}

fuzz_target!(|input: Input| {
    let max_requested = input.max_frame_len as usize % 70_000;
    let max = max_requested.clamp(MIN_FRAME_LEN, RESYNC_LIMIT);

    // Datagram framing: every piece's bytes as one datagram.
    for piece in &input.pieces {
        if let Piece::Frame(bytes) | Piece::Raw(bytes) = piece {
            let result = check_frame(bytes, max);
            assert_eq!(result, expected_check(bytes.len(), max));
            if let Err(e) = result {
                assert!(!e.is_fatal() && !e.to_string().is_empty());
            }
        }
    }

    // Stream framing.
    let mut stream = Vec::new();
    for piece in &input.pieces {
        match piece {
            Piece::Frame(bytes) => {
                let before = stream.len();
                encode_stream_frame(bytes, &mut stream).unwrap();
                assert_eq!(stream.len(), before + LENGTH_PREFIX_LEN + bytes.len());
                assert_eq!(
                    stream[before..before + 4],
                    (bytes.len() as u32).to_be_bytes()
                );
            }
            Piece::Prefix(len) => stream.extend_from_slice(&len.to_be_bytes()),
            Piece::SmallPrefix(len) => stream.extend_from_slice(&u32::from(*len).to_be_bytes()),
            Piece::Raw(bytes) => stream.extend_from_slice(bytes),
        }
    }
    let (want, want_end) = reference(&stream, max);

    let mut decoder = StreamDecoder::with_buffer_len(max_requested, usize::from(input.buffer_len));
    assert_eq!(decoder.max_frame_len(), max);
    assert!(decoder.capacity() >= LENGTH_PREFIX_LEN + max);
    let mut got = Vec::new();
    let mut rest = &stream[..];
    let mut chunks = input.chunks.iter().cycle();
    while !rest.is_empty() && decoder.error().is_none() {
        let (size, direct) = chunks.next().copied().unwrap_or((u16::MAX, false));
        let piece = &rest[..rest.len().min(usize::from(size).max(1))];
        let taken = if direct {
            let spare = decoder.spare_capacity_mut();
            let n = spare.len().min(piece.len());
            spare[..n].copy_from_slice(&piece[..n]);
            decoder.commit(n);
            n
        } else {
            decoder.push(piece)
        };
        rest = &rest[taken..];
        drain(&mut decoder, &mut got);
        if taken == 0 && decoder.error().is_none() {
            // A drained decoder that has not failed must have room.
            assert!(
                !decoder.spare_capacity_mut().is_empty(),
                "stalled with {} buffered of {}",
                decoder.buffered(),
                decoder.capacity()
            );
        }
    }
    drain(&mut decoder, &mut got);
    assert_eq!(got, want);
    let fatal = want
        .last()
        .is_some_and(|e| e.as_ref().is_err_and(MalformedFrame::is_fatal));
    assert_eq!(decoder.error().is_some(), fatal);
    if fatal {
        assert_eq!(decoder.push(&[0; 8]), 0, "a failed decoder takes nothing");
        assert_eq!(decoder.next_frame(), None);
    }
    assert_eq!(decoder.finish(), want_end);
    // finish resets: a fresh stream decodes from scratch.
    assert_eq!(decoder.error(), None);
    assert_eq!(decoder.buffered(), 0);
    let frame = [0x5au8; MIN_FRAME_LEN];
    let mut wire = Vec::new();
    encode_stream_frame(&frame, &mut wire).unwrap();
    assert_eq!(decoder.push(&wire), wire.len());
    assert_eq!(decoder.next_frame(), Some(Ok(&frame[..])));
    assert_eq!(decoder.next_frame(), None);
    assert_eq!(decoder.finish(), Ok(()));
});

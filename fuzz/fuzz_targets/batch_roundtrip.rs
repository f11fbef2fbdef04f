//! `PacketBatch` bookkeeping with random packet sizes, and a round trip through the simulator.
//!
//! Random operations (`push`, `push_with`, `get`, `get_mut`, `clear`, send) run against a
//! plain `Vec<Vec<u8>>` model: after every step the batch holds exactly the model's packets,
//! and every refusal is the documented one (`BatchFull`, `PacketTooBig` with the right index,
//! the batch unchanged). A send writes the batch from one simulated interface with
//! `write_batch` and reads it on another with `read_batch`: each frame of 14 bytes or more
//! arrives once, in order, with its exact bytes and length; shorter ones are counted as runts;
//! a frame over the interface's maximum packet size fails the whole write before anything is
//! sent. One pair of interfaces has the default 1514-byte maximum, the other TSO (64 KiB).
#![no_main]

use std::sync::{Mutex, OnceLock, PoisonError};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vmnet::sim::{HostPort, Segment};
use vmnet::{Error, Interface, InterfaceConfig, MAX_BATCH_PACKETS, MAX_SLOT_SIZE, PacketBatch};

#[derive(Arbitrary, Debug)]
enum Op {
    Push { len: u32, fill: u8, broadcast: bool },
    PushWith { len: u32, fill: u8 },
    Get(u8),
    GetMut { index: u8, at: u16 },
    Clear,
    Send,
}

#[derive(Arbitrary, Debug)]
struct Input {
    capacity: u16,
    slot_size: u32,
    tso: bool,
    ops: Vec<Op>,
}

/// A sender and a receiver on a segment of their own, with a batch for reading.
struct Pair {
    segment: Segment,
    host: HostPort,
    tx: Interface,
    rx: Interface,
    read: PacketBatch,
    host_buf: Vec<u8>,
}

impl Pair {
    fn new(config: &InterfaceConfig) -> Self {
        let segment = Segment::new();
        let tx = segment.start(config).expect("start the sender");
        let rx = segment.start(config).expect("start the receiver");
        let read = PacketBatch::for_interface(rx.parameters());
        Pair {
            host: segment.host(),
            host_buf: vec![0; 70_000],
            segment,
            tx,
            rx,
            read,
        }
    }
}

fn pairs() -> &'static Mutex<[Pair; 2]> {
    static PAIRS: OnceLock<Mutex<[Pair; 2]>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        Mutex::new([
            Pair::new(&InterfaceConfig::shared()),
            Pair::new(&InterfaceConfig::shared().with_tso(true)),
        ])
    })
}

/// Bytes `len` long: an Ethernet header to `dst` from `src`, then a pattern from `fill`
/// (truncated for runts).
fn frame(dst: [u8; 6], src: [u8; 6], len: usize, fill: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(len.max(14));
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend((0..len.saturating_sub(14)).map(|i| fill.wrapping_add(i as u8)));
    f.truncate(len);
    f
}

fn assert_same(batch: &PacketBatch, model: &[Vec<u8>]) {
    assert_eq!(batch.len(), model.len());
    assert_eq!(batch.is_empty(), model.is_empty());
    assert_eq!(batch.iter().len(), model.len());
    assert!(batch.iter().eq(model.iter().map(Vec::as_slice)));
    assert_eq!(batch.get(model.len()), None);
}

fn send(pair: &mut Pair, batch: &mut PacketBatch, model: &[Vec<u8>]) {
    let max = pair.tx.parameters().max_packet_size();
    let before = pair.segment.stats();
    assert_eq!(pair.rx.read_batch(&mut pair.read).unwrap(), 0, "left over");
    if let Some(index) = model.iter().position(|f| f.len() > max) {
        match pair.tx.write_batch(batch) {
            Err(Error::PacketTooBig {
                index: i,
                len,
                max: m,
            }) => {
                assert_eq!((i, len, m), (index, model[index].len(), max));
            }
            other => panic!("oversize packet {index} written: {other:?}"),
        }
        assert_eq!(pair.segment.stats(), before, "nothing was sent");
        assert_same(batch, model);
        return;
    }
    let mut written = 0;
    while written < batch.len() {
        let n = pair.tx.write_batch_from(batch, written).unwrap();
        assert!(n > 0, "the simulator takes every packet");
        written += n;
    }
    assert_eq!(pair.tx.write_batch_from(batch, written).unwrap(), 0);
    assert_same(batch, model);

    // The host sees every frame that is not a runt; the receiver those addressed to it or to a
    // group (`get_mut` may have rewritten a destination into someone else's, or nobody's).
    let to_host: Vec<&Vec<u8>> = model.iter().filter(|f| f.len() >= 14).collect();
    let rx_mac = pair.rx.parameters().mac_address().unwrap().octets();
    let expected: Vec<&Vec<u8>> = to_host
        .iter()
        .copied()
        .filter(|f| f[0] & 1 == 1 || f[..6] == rx_mac)
        .collect();
    let runts = (model.len() - to_host.len()) as u64;
    let after = pair.segment.stats();
    assert_eq!(after.runts - before.runts, runts);
    assert_eq!(
        after.delivered - before.delivered,
        (to_host.len() + expected.len()) as u64
    );
    assert_eq!(after.dropped, before.dropped);

    let mut got = 0;
    loop {
        let n = pair.rx.read_batch(&mut pair.read).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(pair.read.len(), n);
        for f in pair.read.iter() {
            assert_eq!(f, expected[got].as_slice(), "frame {got}");
            got += 1;
        }
    }
    assert_eq!(got, expected.len());
    let mut host_seen = 0;
    while let Some(len) = pair.host.recv_into(&mut pair.host_buf).unwrap() {
        assert_eq!(&pair.host_buf[..len], to_host[host_seen].as_slice());
        host_seen += 1;
    }
    assert_eq!(host_seen, to_host.len());
}

fuzz_target!(|input: Input| {
    // Small batches keep each run fast; clamping itself is checked with the raw values.
    let capacity = usize::from(input.capacity % 65);
    let slot_size = input.slot_size as usize % 70_000;
    let raw = PacketBatch::new(usize::from(input.capacity) * 64, 1);
    assert_eq!(
        raw.capacity(),
        (usize::from(input.capacity) * 64).min(MAX_BATCH_PACKETS)
    );
    let mut batch = PacketBatch::new(capacity, slot_size);
    assert_eq!(batch.capacity(), capacity);
    let slot = slot_size.clamp(1, MAX_SLOT_SIZE);
    assert_eq!(batch.slot_size(), slot);

    let mut pairs = pairs().lock().unwrap_or_else(PoisonError::into_inner);
    let pair = &mut pairs[usize::from(input.tso)];
    let src = pair.tx.parameters().mac_address().unwrap().octets();
    let dst = pair.rx.parameters().mac_address().unwrap().octets();
    let mut model: Vec<Vec<u8>> = Vec::new();

    for op in input.ops.iter().take(256) {
        match *op {
            Op::Push {
                len,
                fill,
                broadcast,
            } => {
                let len = len as usize % (slot + 2);
                let to = if broadcast { [0xff; 6] } else { dst };
                let f = frame(to, src, len, fill);
                match batch.push(&f) {
                    Ok(()) => {
                        assert!(model.len() < capacity && len <= slot);
                        model.push(f);
                    }
                    Err(Error::BatchFull { capacity: c }) => {
                        assert_eq!((model.len(), c), (capacity, capacity));
                    }
                    Err(Error::PacketTooBig { index, len: l, max }) => {
                        assert!(model.len() < capacity);
                        assert_eq!((index, l, max), (model.len(), len, slot));
                    }
                    Err(other) => panic!("push: {other:?}"),
                }
            }
            Op::PushWith { len, fill } => {
                let len = len as usize % (slot + 2);
                let mut called = false;
                let mut built = Vec::new();
                let result = batch.push_with(|s| {
                    called = true;
                    assert_eq!(s.len(), slot, "the whole slot");
                    let n = len.min(s.len());
                    for (i, b) in s[..n].iter_mut().enumerate() {
                        *b = fill.wrapping_mul(i as u8);
                    }
                    built = s[..n].to_vec();
                    len
                });
                match result {
                    Ok(n) => {
                        assert!(called && n == len && len <= slot);
                        model.push(built);
                    }
                    Err(Error::BatchFull { capacity: c }) => {
                        assert!(!called, "build runs only when there is room");
                        assert_eq!((model.len(), c), (capacity, capacity));
                    }
                    Err(Error::PacketTooBig { index, len: l, max }) => {
                        assert!(called);
                        assert_eq!((index, l, max), (model.len(), len, slot));
                    }
                    Err(other) => panic!("push_with: {other:?}"),
                }
            }
            Op::Get(i) => {
                let i = usize::from(i);
                assert_eq!(batch.get(i), model.get(i).map(Vec::as_slice));
            }
            Op::GetMut { index, at } => {
                let i = usize::from(index);
                match (batch.get_mut(i), model.get_mut(i)) {
                    (Some(p), Some(m)) => {
                        assert_eq!(p, m.as_slice());
                        if !m.is_empty() {
                            let at = usize::from(at) % m.len();
                            p[at] ^= 0x5a;
                            m[at] ^= 0x5a;
                        }
                    }
                    (None, None) => {}
                    (p, m) => panic!("get_mut({i}): {p:?} vs {m:?}"),
                }
            }
            Op::Clear => {
                batch.clear();
                model.clear();
            }
            Op::Send => send(pair, &mut batch, &model),
        }
        assert_same(&batch, &model);
    }
    send(pair, &mut batch, &model);
});

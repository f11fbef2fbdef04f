//! What the benchmarks share: the counting allocator behind their allocation checks, the
//! frames they send, and the simulator's ring shape that their baselines copy into.

/// The simulator's receive ring, which the baselines mirror: this many slots…
pub(crate) const RING_SLOTS: usize = vmnet::sim::DEFAULT_QUEUE_CAPACITY;
/// …each preallocated with this much room (a larger frame grows its slot once).
pub(crate) const PREALLOCATED_SLOT: usize = 2048;

#[path = "../../tests/common/counting.rs"]
mod counting;
pub(crate) use counting::Counting;

/// Allocations anywhere in the process while `f` runs (every thread counts: the simulator's
/// event threads and the bridge's do part of the work). Panics unless the counter works.
pub(crate) fn allocations_during(f: impl FnOnce()) -> usize {
    let (_, counted) = counting::allocations_during(counting::Scope::Process, || {
        drop(std::hint::black_box(vec![1u8; 10]));
        f();
    });
    assert!(counted >= 1, "the counting allocator is not installed");
    counted - 1
}

/// A frame of `len` bytes from `src` to `dst`, its payload a pattern seeded by `tag`.
pub(crate) fn frame(dst: [u8; 6], src: [u8; 6], len: usize, tag: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend((0..len - 14).map(|i| (i as u8).wrapping_add(tag)));
    f
}

/// Blocks of each path that [`paired_ratio`] alternates.
const PAIRED_BLOCKS: usize = 41;
/// The length of one block, roughly.
const PAIRED_BLOCK: std::time::Duration = std::time::Duration::from_millis(2);

/// Safe/baseline in frames per second (baseline time over safe time for the same rounds),
/// measured in alternating blocks: a block of `safe` rounds, then a block of `baseline`
/// rounds, [`PAIRED_BLOCKS`] times, and the ratio of the two medians. Criterion measures each
/// benchmark seconds after the other, so on a shared machine a change of load or memory
/// bandwidth between the two moves its ratio; alternating every few milliseconds exposes
/// both paths to the same machine.
pub(crate) fn paired_ratio<A, B>(
    mut safe: impl FnMut() -> A,
    mut baseline: impl FnMut() -> B,
) -> f64 {
    use std::hint::black_box;
    use std::time::Instant;
    let mut safe = move || drop(black_box(safe()));
    let mut baseline = move || drop(black_box(baseline()));
    // Warm both, and size the blocks from one timed round of each.
    safe();
    baseline();
    let once = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed()
    };
    let slowest = once(&mut safe)
        .max(once(&mut baseline))
        .max(std::time::Duration::from_nanos(1));
    let rounds = (PAIRED_BLOCK.as_nanos() / slowest.as_nanos()).clamp(1, 10_000) as usize;
    let mut times = [
        Vec::with_capacity(PAIRED_BLOCKS),
        Vec::with_capacity(PAIRED_BLOCKS),
    ];
    for _ in 0..PAIRED_BLOCKS {
        for (path, f) in [&mut safe as &mut dyn FnMut(), &mut baseline]
            .into_iter()
            .enumerate()
        {
            let t = Instant::now();
            for _ in 0..rounds {
                f();
            }
            times[path].push(t.elapsed());
        }
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort_unstable();
        v[v.len() / 2].as_secs_f64()
    };
    let [safe_times, baseline_times] = &mut times;
    median(baseline_times) / median(safe_times)
}

/// Whether the binary runs as a benchmark (`cargo bench` passes `--bench`), not as a test.
pub(crate) fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Prints a paired ratio of two paths (`pair`, as "safe/baseline") and records it for
/// `cargo xtask bench`, which reads `$CRITERION_HOME/<group>/paired/<a>-<b>/<size>` into its
/// table.
pub(crate) fn record_paired(group: &str, pair: &str, size: usize, ratio: f64) {
    println!("paired: {group}/{size}: {pair} {ratio:.2}");
    let Some(home) = std::env::var_os("CRITERION_HOME") else {
        return;
    };
    let dir = std::path::Path::new(&home)
        .join(group)
        .join("paired")
        .join(pair.replace('/', "-"));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(size.to_string()), format!("{ratio}\n")));
    if let Err(e) = written {
        eprintln!(
            "paired: cannot record {group}/{size} in {}: {e}",
            dir.display()
        );
    }
}

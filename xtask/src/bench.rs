//! `cargo xtask bench [--quick]`: runs the criterion benchmarks and prints a table.
//!
//! The benchmarks (`vmnet/benches/`) compare the safe layer on the simulator with a baseline
//! that only copies the same bytes the same number of times, and (`sim_io`) with vmnet's raw
//! calls on the same simulator (see `vmnet/benches/sim_io.rs`). Criterion measures; this
//! reads its estimates (`<target>/criterion/<group>/<path>/<size>/new/`) and prints frames/s
//! and Gbit/s of each path and the ratios between them, with the machine. After criterion,
//! each bench measures every ratio again in alternating blocks of the two paths
//! (`paired_ratio` in `vmnet/benches/support/mod.rs`), which a change of load between two
//! criterion measurements does not skew; it leaves it in `<group>/paired/<a>-<b>/<size>` and
//! the table shows it after criterion's ratio.
//! `--quick` shortens warm-up and measurement (1 s + 2 s per benchmark) for a rough look.

use std::path::Path;
use std::process::Command;

/// The criterion bench targets of `vmnet`, and their groups: each group has `safe/<size>` and
/// `baseline/<size>` benchmarks (`sim_io` also `raw/<size>`) whose throughput is in frames
/// (elements) per iteration.
/// `bridge_io` has one group per framing of the VM's socket (datagram, stream); the datagram
/// group also has `per_frame/<size>`, the bridge with one system call per datagram.
const BENCHES: &[(&str, &[&str])] = &[
    ("sim_io", &["sim_io"]),
    ("bridge_io", &["bridge_io", "bridge_io_stream"]),
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => return Err(format!("bench: unknown argument `{other}`")),
        }
    }
    let criterion_home = crate::toolchain::target_dir().join("criterion");
    let load_at_start = load_average();
    let mut groups = Vec::new();
    for (bench, bench_groups) in BENCHES {
        let file = super::root().join(format!("vmnet/benches/{bench}.rs"));
        if !file.exists() {
            eprintln!("xtask: no {} (skipped)", file.display());
            continue;
        }
        let mut cmd = crate::toolchain::cargo();
        cmd.args([
            "bench",
            "-p",
            "vmnet",
            "--all-features",
            "--bench",
            bench,
            "--",
        ])
        .env("CRITERION_HOME", &criterion_home);
        if quick {
            cmd.args(["--warm-up-time", "1", "--measurement-time", "2"]);
        }
        for group in *bench_groups {
            // Paired ratios of an earlier run must not pass for this one's.
            let _ = std::fs::remove_dir_all(criterion_home.join(group).join("paired"));
        }
        super::run(&mut cmd)?;
        groups.extend_from_slice(bench_groups);
    }
    println!();
    println!("{}", machine());
    // What else ran meanwhile: on a shared machine it moves criterion's numbers (less so the
    // paired ratios), so a recorded table says it.
    println!(
        "load (1-minute average): {} at the start, {} at the end",
        load_at_start.as_deref().unwrap_or("unknown"),
        load_average().as_deref().unwrap_or("unknown")
    );
    for group in groups {
        println!();
        print!("{}", table(&criterion_home.join(group), group)?);
    }
    Ok(())
}

/// One line about the machine: cores, CPU model, compiler.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let rustc = crate::toolchain::output(
        Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())).arg("-V"),
    )
    .unwrap_or_else(|e| e);
    format!("machine: {cores} cores, {cpu}, {rustc}")
}

/// The paths a group may measure, in column order: the safe layer, the safe layer with a
/// reader that waits for events, vmnet's raw calls (those two only in `sim_io`), the bridge
/// with one system call per datagram (only in `bridge_io`'s datagram group), and the copy
/// baseline.
const PATHS: [&str; 5] = ["safe", "waiting", "raw", "per_frame", "baseline"];

/// The table of one group: one row per frame size; a column per measured path (frames/s and
/// Gbit/s), then each ratio of two paths as criterion's estimate / the paired measurement.
fn table(dir: &Path, group: &str) -> Result<String, String> {
    let safe_dir = dir.join("safe");
    let mut sizes: Vec<u64> = std::fs::read_dir(&safe_dir)
        .map_err(|e| format!("no results in {}: {e}", safe_dir.display()))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    sizes.sort_unstable();
    let paths: Vec<&str> = PATHS
        .into_iter()
        .filter(|path| dir.join(path).is_dir())
        .collect();
    let ratios: Vec<(&str, &str)> = [
        ("safe", "baseline"),
        ("waiting", "baseline"),
        ("raw", "baseline"),
        ("per_frame", "baseline"),
        ("safe", "raw"),
        ("safe", "per_frame"),
    ]
    .into_iter()
    .filter(|(a, b)| paths.contains(a) && paths.contains(b))
    .collect();
    let mut out = format!(
        "{group}: one batch per iteration; ratios in frames/s, criterion / paired\n| frame (bytes) | frames/batch |"
    );
    for path in &paths {
        out.push_str(&format!(" {path} Mframes/s (Gbit/s) |"));
    }
    for (a, b) in &ratios {
        out.push_str(&format!(" {a}/{b} |"));
    }
    out.push_str(&format!(
        "\n|---:|---:|{}\n",
        "---:|".repeat(paths.len() + ratios.len())
    ));
    for size in sizes {
        let measured = paths
            .iter()
            .map(|path| Ok((*path, result(&dir.join(path).join(size.to_string()))?)))
            .collect::<Result<Vec<_>, String>>()?;
        let fps = |path: &str| {
            measured
                .iter()
                .find(|(p, _)| *p == path)
                .map_or(f64::NAN, |(_, m)| m.frames_per_second())
        };
        out.push_str(&format!(
            "| {size} | {} |",
            measured[0].1.frames_per_iteration
        ));
        for (_, m) in &measured {
            let fps = m.frames_per_second();
            let gbit = fps * size as f64 * 8.0 / 1e9;
            out.push_str(&format!(" {:.3} ({gbit:.2}) |", fps / 1e6));
        }
        for (a, b) in &ratios {
            // Written by the bench's alternating-blocks pass (see benches/support/mod.rs).
            let paired = std::fs::read_to_string(
                dir.join("paired")
                    .join(format!("{a}-{b}"))
                    .join(size.to_string()),
            )
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"));
            out.push_str(&format!(" {:.2} / {paired} |", fps(a) / fps(b)));
        }
        out.push('\n');
    }
    Ok(out)
}

struct Measured {
    /// Criterion's typical time per iteration (the slope estimate, else the mean), in ns.
    nanos: f64,
    frames_per_iteration: u64,
}

impl Measured {
    fn frames_per_second(&self) -> f64 {
        self.frames_per_iteration as f64 * 1e9 / self.nanos
    }
}

fn result(dir: &Path) -> Result<Measured, String> {
    let read = |name: &str| {
        let path = dir.join("new").join(name);
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let estimates = read("estimates.json")?;
    let benchmark = read("benchmark.json")?;
    let section = match estimates.find("\"slope\":{") {
        Some(i) => &estimates[i..],
        None => {
            let i = estimates
                .find("\"mean\":{")
                .ok_or_else(|| format!("no mean in {}", dir.display()))?;
            &estimates[i..]
        }
    };
    let nanos = number_after(section, "\"point_estimate\":")
        .ok_or_else(|| format!("no point estimate in {}", dir.display()))?;
    let frames = number_after(&benchmark, "\"Elements\":")
        .ok_or_else(|| format!("no element throughput in {}", dir.display()))?;
    Ok(Measured {
        nanos,
        frames_per_iteration: frames as u64,
    })
}

/// The number right after `key` in `json`.
fn number_after(json: &str, key: &str) -> Option<f64> {
    let start = json.find(key)? + key.len();
    let text: String = json[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        .collect();
    text.parse().ok()
}

/// The 1-minute load average (`/proc/loadavg`), where the system has one.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}

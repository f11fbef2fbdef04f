//! `cargo xtask fuzz [--smoke] [--runs N] [TARGET...]`: builds the fuzz targets in `fuzz/`
//! and runs each for a fixed number of inputs.
//!
//! The targets are a cargo-fuzz project (libFuzzer through `libfuzzer-sys`), so
//! `cargo +nightly fuzz run <target>` works for long runs where cargo-fuzz is installed. This
//! command does not need it: it builds with the nightly compiler and the instrumentation
//! cargo-fuzz uses by default — libFuzzer's coverage counters (SanitizerCoverage), comparison
//! tracing, AddressSanitizer, debug assertions and `--cfg fuzzing` — and runs the binaries.
//! That saves CI the minutes of compiling cargo-fuzz itself. The toolchain is `nightly` (or
//! `VMNET_NIGHTLY`); a stable one also works, with `RUSTC_BOOTSTRAP=1` (`.ci/run`'s fallback
//! where no nightly can be installed).
//!
//! `--smoke` is CI's run: a fixed seed and few inputs per target. Inputs that crash are written
//! to `fuzz/artifacts/<target>/`; the corpus grows in `fuzz/corpus/<target>/`. Neither is
//! committed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::toolchain::{nightly, nightly_cargo, nightly_tool, output};

/// The fuzz targets (`fuzz/fuzz_targets/<name>.rs`).
const TARGETS: &[&str] = &[
    "config_validate",
    "params_parse",
    "batch_roundtrip",
    "bridge_frames",
];

/// Inputs per target for `--smoke` and by default.
const SMOKE_RUNS: u64 = 20_000;
const DEFAULT_RUNS: u64 = 1_000_000;
/// A bound on each target's run, whatever the input count (libFuzzer stops cleanly).
const SMOKE_SECONDS: u64 = 120;
const DEFAULT_SECONDS: u64 = 1800;

/// The instrumentation, as cargo-fuzz applies it by default on Linux.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cllvm-args=-sanitizer-coverage-stack-depth",
    "-Zsanitizer=address",
    "-Cdebug-assertions",
    "--cfg",
    "fuzzing",
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut smoke = false;
    let mut runs = None;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--runs" => {
                let n = it.next().ok_or("--runs needs a number")?;
                runs = Some(n.parse::<u64>().map_err(|e| format!("--runs {n}: {e}"))?);
            }
            name if TARGETS.contains(&name) => targets.push(name.to_owned()),
            other => {
                return Err(format!(
                    "fuzz: unknown argument `{other}` (targets: {})",
                    TARGETS.join(", ")
                ));
            }
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    let runs = runs.unwrap_or(if smoke { SMOKE_RUNS } else { DEFAULT_RUNS });
    let seconds = if smoke {
        SMOKE_SECONDS
    } else {
        DEFAULT_SECONDS
    };

    let toolchain = nightly();
    // `rustc -vV`: the version on the first line, the host triple on the `host:` line.
    let verbose = output(nightly_tool("rustc").arg("-vV")).map_err(|e| {
        format!(
            "fuzzing needs a nightly compiler (sanitizers are unstable): {e}\n\
             Install one with `rustup toolchain install {toolchain} --profile minimal`."
        )
    })?;
    let version = verbose.lines().next().unwrap_or_default();
    let host = verbose
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or_else(|| format!("no host line in `rustc -vV` of {toolchain}"))?;
    // A stable toolchain (VMNET_NIGHTLY=stable) is the fallback where no nightly can be
    // installed: RUSTC_BOOTSTRAP=1 lets it take the unstable sanitizer flag, and its standard
    // library ships the AddressSanitizer runtime on Linux.
    let bootstrap = !version.contains("nightly");
    if bootstrap {
        eprintln!("xtask: FALLBACK: fuzzing with {version} and RUSTC_BOOTSTRAP=1 (not a nightly)");
    } else {
        eprintln!("xtask: fuzzing with {version}");
    }
    let started = Instant::now();
    let fuzz = super::root().join("fuzz");
    // --target keeps the instrumentation away from build scripts and proc macros; an explicit
    // --target-dir puts the binaries where `bin_dir` says even if CARGO_TARGET_DIR is set.
    let target_dir = fuzz.join("target");
    super::run(
        nightly_cargo()
            .args(["build", "--release", "--bins", "--target", host])
            .arg("--manifest-path")
            .arg(fuzz.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .env("CARGO_ENCODED_RUSTFLAGS", RUSTFLAGS.join("\u{1f}"))
            .env_remove("RUSTFLAGS")
            .envs(bootstrap.then_some(("RUSTC_BOOTSTRAP", "1"))),
    )?;
    let bin_dir = target_dir.join(host).join("release");
    for target in &targets {
        run_target(&fuzz, &bin_dir, target, runs, seconds, smoke)?;
    }
    eprintln!(
        "xtask: fuzz passed: {} targets, up to {runs} inputs each, in {} s",
        targets.len(),
        started.elapsed().as_secs()
    );
    Ok(())
}

fn run_target(
    fuzz: &std::path::Path,
    bin_dir: &std::path::Path,
    target: &str,
    runs: u64,
    seconds: u64,
    smoke: bool,
) -> Result<(), String> {
    let corpus = fuzz.join("corpus").join(target);
    let artifacts: PathBuf = fuzz.join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut cmd = Command::new(bin_dir.join(target));
    cmd.arg(format!("-runs={runs}"))
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1");
    if smoke {
        // The same inputs on every CI run.
        cmd.arg("-seed=1");
    }
    cmd.arg(&corpus);
    let t0 = Instant::now();
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let out = cmd
        .current_dir(super::root())
        .output()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        eprintln!("{log}");
        return Err(format!(
            "fuzz target `{target}` failed ({}); the crashing input is in {}",
            out.status,
            artifacts.display()
        ));
    }
    // libFuzzer refuses to run without coverage counters; check they are there anyway.
    let counters = log
        .lines()
        .find(|l| l.contains("inline 8-bit counters"))
        .unwrap_or("");
    if counters.is_empty() {
        eprintln!("{log}");
        return Err(format!("`{target}` is not instrumented for coverage"));
    }
    let done = log
        .lines()
        .rev()
        .find(|l| l.starts_with("Done "))
        .unwrap_or("(no summary)");
    eprintln!("xtask: {target}: {done} ({} s)", t0.elapsed().as_secs());
    Ok(())
}

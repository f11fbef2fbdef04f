//! `cargo xtask miri`: the simulator's test suite under Miri.
//!
//! Runs the `vmnet` unit tests and the simulator integration tests with `--features sim`
//! under `cargo +nightly miri test`, which checks every executed instruction for undefined
//! behaviour (out-of-bounds or dangling accesses, aliasing violations of the borrow rules, data
//! races, invalid values) and, at the end of each test binary, for leaked memory and threads.
//!
//! Installs nothing: it needs `rustup +nightly component add miri rust-src` (`.ci/run` does
//! that), and says so when Miri is missing. What Miri cannot run, or runs too slowly, is left
//! out by name below, each with its reason; everything else runs.

use std::path::Path;
use std::time::Instant;

use crate::toolchain::{nightly, nightly_cargo, output};

/// Integration test files (`vmnet/tests/*.rs`) that run under Miri.
const RUN: &[&str] = &[
    "sim_interface",
    "sim_alloc",
    "stress_sim",
    "sim_network",
    "sim_network_leaks",
];

/// Integration test files that do not run under Miri, and why.
const NOT_RUN: &[(&str, &str)] = &[
    ("macos_vmnet", "real vmnet.framework (macOS only)"),
    (
        "async_sim",
        "tokio's I/O driver: Miri runs it only in part (no level-triggered epoll, no poll)",
    ),
    (
        "bridge_e2e",
        "Unix-domain sockets bound to paths, which Miri does not implement",
    ),
    (
        "bridge_alloc",
        "Unix-domain sockets bound to paths, which Miri does not implement",
    ),
];

/// Single tests left out (substring filters passed to `--skip`), and why. Each can go once
/// its test uses smaller counts under `cfg(miri)` (see docs/benchmarks.md).
const SKIP: &[(&str, &str)] = &[
    (
        "the_readiness_descriptor_works_with_poll",
        "calls poll(2), which Miri does not implement",
    ),
    (
        "stop_while_events_fire_is_bounded",
        "20 rounds of 2000 frames: about 8 minutes under Miri",
    ),
    (
        "split_halves_work_from_two_threads_at_once",
        "2000 frames each way: about 2 minutes under Miri",
    ),
    (
        "read_batch_and_write_batch_allocate_nothing_in_steady_state",
        "200 rounds of 256 frames: about 10 minutes under Miri",
    ),
];

/// Unit tests that need `-Zmiri-ignore-leaks`, run separately so the rest keeps the leak
/// check, and why.
const LEAKY: (&str, &str) = (
    "backend::sim::segment::tests",
    "these tests drop simulator drivers without stopping them, which leaves their event \
     threads running at exit",
);

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("miri takes no arguments (got `{arg}`)"));
    }
    let toolchain = nightly();
    let version = output(nightly_cargo().args(["miri", "--version"])).map_err(|e| {
        format!(
            "Miri is not available for the `{toolchain}` toolchain ({e}).\n\
             Install it with `rustup +{toolchain} component add miri rust-src` \
             (or `rustup toolchain install {toolchain} --component miri,rust-src`)."
        )
    })?;
    eprintln!("xtask: {version} ({toolchain})");
    check_test_files()?;

    let started = Instant::now();
    super::run(nightly_cargo().args(["miri", "setup"]))?;

    let user_flags = std::env::var("MIRIFLAGS").unwrap_or_default();
    let mut main = nightly_cargo();
    main.args(["miri", "test", "-p", "vmnet", "--features", "sim", "--lib"]);
    for test in RUN {
        main.args(["--test", test]);
    }
    main.arg("--").args(["--skip", LEAKY.0]);
    for (name, why) in SKIP {
        eprintln!("xtask: not under Miri: {name} ({why})");
        main.args(["--skip", name]);
    }
    main.env("MIRIFLAGS", &user_flags);
    super::run(&mut main)?;

    eprintln!("xtask: with -Zmiri-ignore-leaks: {} ({})", LEAKY.0, LEAKY.1);
    let mut leaky = nightly_cargo();
    leaky
        .args(["miri", "test", "-p", "vmnet", "--features", "sim", "--lib"])
        .args(["--", LEAKY.0])
        .env("MIRIFLAGS", format!("{user_flags} -Zmiri-ignore-leaks"));
    super::run(&mut leaky)?;

    eprintln!(
        "xtask: miri passed: vmnet unit tests and {} in {} s; left out: {} tests (see above)",
        RUN.join(", "),
        started.elapsed().as_secs(),
        SKIP.len()
    );
    Ok(())
}

/// Every integration test file is either run or listed with a reason, so a new one is not
/// left out of Miri silently.
fn check_test_files() -> Result<(), String> {
    let dir = super::root().join("vmnet/tests");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut unknown = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let known = RUN.contains(&name.as_str()) || NOT_RUN.iter().any(|(n, _)| *n == name);
        if !known {
            unknown.push(name);
        }
    }
    for name in RUN {
        if !Path::new(&dir).join(format!("{name}.rs")).exists() {
            return Err(format!(
                "vmnet/tests/{name}.rs is listed for Miri but does not exist: update xtask/src/miri.rs"
            ));
        }
    }
    for (name, why) in NOT_RUN {
        if Path::new(&dir).join(format!("{name}.rs")).exists() {
            eprintln!("xtask: not under Miri: tests/{name}.rs ({why})");
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        unknown.sort();
        Err(format!(
            "vmnet/tests/{{{}}}.rs: neither run under Miri nor listed as not run; add each to \
             RUN or NOT_RUN in xtask/src/miri.rs",
            unknown.join(",")
        ))
    }
}

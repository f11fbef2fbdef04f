//! `cargo xtask leak`: the simulator's test binaries under valgrind's leak checker.
//!
//! Builds the test binaries exactly as `.ci/run`'s test step does (`cargo test --workspace
//! --all-features`, so nothing is compiled twice there), then runs the `vmnet` unit tests and
//! the integration tests listed below (the simulator's, the bridge's, the async layer's) under
//!
//! ```text
//! valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 --fair-sched=yes
//! ```
//!
//! A definitely lost block (memory no pointer refers to any more) fails the run, as does any
//! other memory error valgrind finds (invalid reads or writes, uninitialised values).
//! `--fair-sched=yes` hands the CPU between threads in turn: valgrind runs one thread at a
//! time, and without it a spinning thread can starve the others for many seconds.
//! `VMNET_TEST_SMALL=1` makes the slow tests use small counts (`small()` in
//! `vmnet/tests/common/mod.rs`). Every integration test file is run or listed as not run, with
//! its reason, as for `cargo xtask miri`.

use std::process::Command;
use std::time::Instant;

/// Integration test files (`vmnet/tests/*.rs`) that run under valgrind, after the unit tests
/// (`lib`).
const RUN: &[&str] = &[
    "sim_interface",
    "sim_alloc",
    "stress_sim",
    "sim_network",
    "sim_network_leaks",
    "bridge_alloc",
    "bridge_e2e",
    "async_sim",
];

/// Integration test files that do not run under valgrind, and why.
const NOT_RUN: &[(&str, &str)] = &[("macos_vmnet", "real vmnet.framework (macOS only)")];

const VALGRIND_ARGS: &[&str] = &[
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--error-exitcode=1",
    "--fair-sched=yes",
    "--quiet",
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("leak takes no arguments (got `{arg}`)"));
    }
    let version =
        crate::toolchain::output(Command::new("valgrind").arg("--version")).map_err(|e| {
            format!("valgrind is needed ({e}); install it with `apt-get install valgrind`")
        })?;
    eprintln!("xtask: {version}");
    crate::test_files::check("valgrind", "xtask/src/leak.rs", RUN, NOT_RUN)?;
    let started = Instant::now();
    let binaries = build()?;
    for target in std::iter::once(&"lib").chain(RUN) {
        let Some((_, path)) = binaries.iter().find(|(name, _)| name == target) else {
            return Err(format!(
                "cargo built no test binary `{target}` for vmnet: update xtask/src/leak.rs"
            ));
        };
        let t0 = Instant::now();
        super::run(
            Command::new("valgrind")
                .args(VALGRIND_ARGS)
                .arg(path)
                .arg("--quiet")
                .env("VMNET_TEST_SMALL", "1"),
        )
        .map_err(|e| format!("{e}\nvalgrind found leaks or memory errors in `{target}` (above)"))?;
        eprintln!(
            "xtask: {target}: no definite leak, no memory error ({} s)",
            t0.elapsed().as_secs()
        );
    }
    eprintln!(
        "xtask: leak passed: {} test binaries under valgrind in {} s",
        RUN.len() + 1,
        started.elapsed().as_secs()
    );
    Ok(())
}

/// Builds the workspace's test binaries and returns vmnet's as (target name, path); the unit
/// test binary is named `lib`.
fn build() -> Result<Vec<(String, String)>, String> {
    let stdout = crate::toolchain::run_output(crate::toolchain::cargo().args([
        "test",
        "--workspace",
        "--all-features",
        "--no-run",
        "--message-format=json",
    ]))?;
    let manifest = super::root().join("vmnet").join("Cargo.toml");
    let manifest = format!("\"manifest_path\":\"{}\"", manifest.display());
    let mut binaries = Vec::new();
    for line in stdout.lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") || !line.contains(&manifest) {
            continue;
        }
        let Some(executable) = string_field(line, "executable") else {
            continue;
        };
        let Some(target) = line.split("\"target\":{").nth(1) else {
            continue;
        };
        let (Some(kind), Some(name)) = (
            target.split("\"kind\":[\"").nth(1),
            string_field(target, "name"),
        ) else {
            continue;
        };
        let name = if kind.starts_with("lib\"") {
            "lib".to_owned()
        } else if kind.starts_with("test\"") {
            name
        } else {
            continue;
        };
        binaries.push((name, executable));
    }
    Ok(binaries)
}

/// The first string value of `"field":"…"` in a JSON line (cargo's paths need no unescaping
/// on the systems this runs on).
fn string_field(json: &str, field: &str) -> Option<String> {
    let start = json.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let end = json[start..].find('"')? + start;
    Some(json[start..end].to_owned())
}

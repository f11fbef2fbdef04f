//! `cargo xtask leak`: the simulator's test binaries under valgrind's leak checker.
//!
//! Builds the test binaries exactly as `.ci/run`'s test step does (`cargo test --workspace
//! --all-features`, so nothing is compiled twice there), then runs the `vmnet` unit tests and
//! the integration tests that xtask/src/test_files.rs lists for valgrind, under
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
//! `vmnet/tests/common/mod.rs`).

use std::ffi::OsStr;
use std::process::Command;
use std::time::Instant;

pub(crate) const VALGRIND_ARGS: &[&str] = &[
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--error-exitcode=1",
    "--fair-sched=yes",
    "--quiet",
];

/// `valgrind` with [`VALGRIND_ARGS`] running the test binary `binary`, with the slow tests'
/// small counts (`VMNET_TEST_SMALL=1`).
pub(crate) fn valgrind(binary: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.args(VALGRIND_ARGS)
        .arg(binary)
        .env("VMNET_TEST_SMALL", "1");
    cmd
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("leak takes no arguments (got `{arg}`)"));
    }
    let version =
        crate::toolchain::output(Command::new("valgrind").arg("--version")).map_err(|e| {
            format!("valgrind is needed ({e}); install it with `apt-get install valgrind`")
        })?;
    eprintln!("xtask: {version}");
    let run = crate::test_files::for_tool(crate::test_files::Tool::Valgrind)?;
    let started = Instant::now();
    let binaries = crate::test_files::build(crate::toolchain::cargo().args([
        "test",
        "--workspace",
        "--all-features",
    ]))?;
    for target in std::iter::once(&"lib").chain(&run) {
        let path = crate::test_files::binary(&binaries, target, "leak.rs")?;
        let t0 = Instant::now();
        super::run(valgrind(path).arg("--quiet")).map_err(|e| {
            format!("{e}\nvalgrind found leaks or memory errors in `{target}` (above)")
        })?;
        eprintln!(
            "xtask: {target}: no definite leak, no memory error ({} s)",
            t0.elapsed().as_secs()
        );
    }
    eprintln!(
        "xtask: leak passed: {} test binaries under valgrind in {} s",
        run.len() + 1,
        started.elapsed().as_secs()
    );
    Ok(())
}

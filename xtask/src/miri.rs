//! `cargo xtask miri`: the simulator's test suite under Miri.
//!
//! Runs the `vmnet` unit tests and the simulator integration tests with `--features sim`
//! under `cargo +nightly miri test`, which checks every executed instruction for undefined
//! behaviour (out-of-bounds or dangling accesses, aliasing violations of the borrow rules, data
//! races, invalid values) and, at the end of each test binary, for leaked memory and threads.
//!
//! Installs nothing: it needs `rustup +nightly component add miri rust-src` (`.ci/run` does
//! that), and says so when Miri is missing. Test files Miri cannot run are left out in
//! the table of xtask/src/test_files.rs, each with its reason; everything else runs. Within the files that run, the tests
//! themselves adapt to Miri: the slow ones use smaller counts under `cfg(miri)` (`small()` in
//! `vmnet/tests/common/mod.rs`), and the ones that call `poll(2)` or use Unix-domain sockets
//! are `#[cfg_attr(miri, ignore)]`.

use std::time::Instant;

use crate::toolchain::{nightly, nightly_cargo, output};

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
    let run = crate::test_files::for_tool(crate::test_files::Tool::Miri)?;

    let started = Instant::now();
    super::run(nightly_cargo().args(["miri", "setup"]))?;

    // One run, with Miri's leak check on for every test binary (MIRIFLAGS passes through).
    let mut test = nightly_cargo();
    test.args(["miri", "test", "-p", "vmnet", "--features", "sim", "--lib"]);
    for file in &run {
        test.args(["--test", file]);
    }
    super::run(&mut test)?;

    eprintln!(
        "xtask: miri passed: vmnet unit tests and {} in {} s",
        run.join(", "),
        started.elapsed().as_secs()
    );
    Ok(())
}

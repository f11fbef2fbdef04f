//! Running tools: the workspace's cargo, cargo of the nightly toolchain (for the checks that
//! need it: Miri, fuzzing), and any command whose output is wanted.

use std::process::Command;

/// The nightly toolchain to use: `VMNET_NIGHTLY` (e.g. `nightly-2026-05-19`), else `nightly`.
/// (`cargo xtask fuzz` also accepts a stable toolchain here, see there.)
pub(crate) fn nightly() -> String {
    std::env::var("VMNET_NIGHTLY").unwrap_or_else(|_| "nightly".to_owned())
}

/// The cargo that runs `cargo xtask` (`$CARGO`, else `cargo` on `PATH`), in the workspace root.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(super::root());
    cmd
}

/// `cargo` of the nightly toolchain, through `rustup run` (which also puts that toolchain's
/// tools, such as `cargo-miri`, first on `PATH`). Not `$CARGO`: `cargo xtask` sets it to the
/// stable toolchain's cargo. `RUSTC` and `RUSTDOC` are removed so they cannot pull in the
/// stable compiler.
pub(crate) fn nightly_cargo() -> Command {
    nightly_tool("cargo")
}

/// A tool (`cargo`, `rustc`) of the nightly toolchain.
pub(crate) fn nightly_tool(tool: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", &nightly(), tool])
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// Runs `cmd` quietly and returns its trimmed standard output, or why it could not.
pub(crate) fn output(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// [`output`], saying first what runs (for the long commands, such as builds).
pub(crate) fn run_output(cmd: &mut Command) -> Result<String, String> {
    eprintln!("xtask: running {cmd:?}");
    output(cmd)
}

/// The directory cargo builds into: `CARGO_TARGET_DIR`, else `target/` in the workspace.
pub(crate) fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => super::root().join(dir),
        None => super::root().join("target"),
    }
}

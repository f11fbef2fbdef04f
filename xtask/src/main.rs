//! `cargo xtask` — project automation.
//!
//! ```text
//! cargo xtask bindgen [--sdk PATH] [--check]   regenerate vmnet-sys/src/bindings.rs (or check it)
//! cargo xtask darwin-check                    check, clippy and doc for both darwin targets
//! cargo xtask symbols                         no post-macOS-11 symbol is imported strongly
//! ```

mod bindings;
mod darwin;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  bindgen [--sdk PATH] [--check]  regenerate vmnet-sys/src/bindings.rs from a macOS SDK
                                  (default: SDKROOT or xcrun's SDK on macOS, the stand-in
                                  fixture xtask/sdk-fixture elsewhere); --check fails if the
                                  checked-in file differs instead of writing it
  darwin-check                    cargo check, clippy -D warnings and doc (warnings denied) for
                                  aarch64-apple-darwin and x86_64-apple-darwin, all features
  symbols                         build the darwin rlibs and fail if any imports a symbol newer
                                  than macOS 11 strongly (llvm-nm -u)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bindgen") => bindings::run(&args[1..]),
        Some("darwin-check") => darwin::check(&args[1..]),
        Some("symbols") => darwin::symbols(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Runs a command from the workspace root; an error names the command and its exit status.
fn run(cmd: &mut std::process::Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

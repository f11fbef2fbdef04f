//! `cargo xtask` — project automation.
//!
//! ```text
//! cargo xtask bindgen [--sdk PATH] [--check]   regenerate vmnet-sys/src/bindings.rs (or check it)
//! cargo xtask darwin-check                    clippy (which type-checks) and doc for both darwin targets
//! cargo xtask symbols                         no post-macOS-11 symbol is imported strongly
//! cargo xtask miri                            the simulator's tests under Miri (nightly)
//! cargo xtask fuzz [--smoke] [--runs N]       build and run the fuzz targets (nightly)
//! cargo xtask leak                            the simulator's tests under valgrind
//! cargo xtask bench [--quick]                 the benchmarks, with a table of results
//! cargo xtask standin [--level L] [--valgrind] the Apple backend on the stand-in framework
//! cargo xtask standin --clippy                clippy on vmnet as built for the stand-in
//! cargo xtask mutants [--list]                deliberate Apple-backend bugs the stand-in must catch
//! cargo xtask aliases [--list]                every vmnet.h function has a doc(alias) in vmnet
//! ```

mod aliases;
mod bench;
mod bindings;
mod darwin;
mod fuzz;
mod items;
mod leak;
mod miri;
mod mutants;
mod standin;
mod test_files;
mod toolchain;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  bindgen [--sdk PATH] [--check]  regenerate vmnet-sys/src/bindings.rs from a macOS SDK
                                  (default: SDKROOT or xcrun's SDK on macOS, the stand-in
                                  fixture xtask/sdk-fixture elsewhere); --check fails if the
                                  checked-in file differs instead of writing it
  darwin-check                    clippy -D warnings (which type-checks) and doc (warnings denied) for
                                  aarch64-apple-darwin and x86_64-apple-darwin, all features
  symbols                         build the darwin rlibs and fail if any imports a symbol newer
                                  than macOS 11 strongly (llvm-nm -u)
  miri                            vmnet's unit tests and simulator tests under Miri (needs
                                  `rustup +nightly component add miri rust-src`)
  fuzz [--smoke] [--runs N] [TARGET...]
                                  build the fuzz targets in fuzz/ with libFuzzer and
                                  AddressSanitizer (nightly) and run each for N inputs
                                  (--smoke: 20000 inputs, fixed seed; default 1000000)
  leak                            vmnet's unit tests and simulator tests under valgrind
                                  --leak-check=full; fails on a definite leak or memory error
  standin [--level L]... [--valgrind] | --clippy
                                  build the stand-in vmnet.framework (standin/) at each macOS
                                  level (11.0 12.0 15.0 15.4 26.0, or those given) and run
                                  vmnet's tests on the Apple backend against each; --valgrind
                                  also runs them under valgrind at the newest level; --clippy
                                  lints vmnet as built for the stand-in instead
  mutants [--list] [--working-tree] [--all-tests] [--only NAME]...
                                  apply deliberate bugs to the Apple backend, one at a time,
                                  to a copy of HEAD (or of the working tree) and require the
                                  stand-in tests at macOS 26.0 to fail for each; a table says
                                  which test caught each bug (--list: the bugs, nothing run)
  bench [--quick]                 the criterion benchmarks of vmnet and a table of frames/s,
                                  Gbit/s and safe/baseline ratios (--quick: short runs)
  aliases [--list]                fail unless each vmnet_* function of vmnet-sys's bindings
                                  is named by a #[doc(alias)] on a public item of vmnet/src,
                                  naming each one missing (--list: the table of C function
                                  and items)

The nightly toolchain is `nightly`, or VMNET_NIGHTLY if set.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bindgen") => bindings::run(&args[1..]),
        Some("darwin-check") => darwin::check(&args[1..]),
        Some("symbols") => darwin::symbols(&args[1..]),
        Some("miri") => miri::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("leak") => leak::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("standin") => standin::run(&args[1..]),
        Some("mutants") => mutants::run(&args[1..]),
        Some("aliases") => aliases::run(&args[1..]),
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

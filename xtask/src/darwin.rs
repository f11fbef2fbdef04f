//! Checks of the Apple-only code from any host: `darwin-check` and `symbols`.

use std::process::Command;

use crate::toolchain::{output, run_output};

/// The Apple targets every run checks.
const TARGETS: [&str; 2] = ["aarch64-apple-darwin", "x86_64-apple-darwin"];
/// The crates whose code ships (xtask is host-only).
const PACKAGES: [&str; 2] = ["vmnet-sys", "vmnet"];
/// The programs of `vmnet` (`--example` or `--bin`, name). Generic code of the library that
/// only they instantiate is compiled into their objects, not into the rlib, so `symbols`
/// checks their objects too.
const PROGRAMS: [(&str, &str); 4] = [
    ("--example", "bridgeable"),
    ("--example", "capture"),
    ("--example", "network"),
    ("--bin", "vmnet-bridge"),
];

/// A cargo command for a darwin target over `packages`, all features. With
/// `VMNET_BUILD_STD=1` (set by `.ci/run` when rustup cannot install the darwin standard
/// library) the standard library is built from source.
fn cargo_for(subcommand: &str, target: &str, packages: &[&str]) -> Command {
    let mut cmd = crate::toolchain::cargo();
    cmd.arg(subcommand).args(["--target", target]);
    if std::env::var_os("VMNET_BUILD_STD").is_some_and(|v| v == "1") {
        cmd.env("RUSTC_BOOTSTRAP", "1").arg("-Zbuild-std");
    }
    for package in packages {
        cmd.args(["--package", package]);
    }
    cmd.arg("--all-features");
    cmd
}

/// [`cargo_for`] over the shipped crates.
fn cargo(subcommand: &str, target: &str) -> Command {
    cargo_for(subcommand, target, &PACKAGES)
}

pub(crate) fn check(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("darwin-check takes no arguments (got `{arg}`)"));
    }
    for target in TARGETS {
        super::run(
            cargo("clippy", target)
                .arg("--all-targets")
                .args(["--", "-D", "warnings"]),
        )?;
        super::run(
            cargo("doc", target)
                .arg("--no-deps")
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
    }
    eprintln!("xtask: darwin-check passed for {}", TARGETS.join(" and "));
    Ok(())
}

/// Builds the darwin rlibs (no linking is needed for an rlib) and lists the symbols each
/// leaves undefined. None may be one of the symbols that `vmnet-sys` resolves at run time.
pub(crate) fn symbols(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("symbols takes no arguments (got `{arg}`)"));
    }
    let late = late_symbols()?;
    let nm = which_nm()?;
    for target in TARGETS {
        let mut files = build_rlibs(target)?;
        files.extend(build_program_objects(target)?);
        for file in &files {
            let text = output(
                Command::new(&nm)
                    .args(["-u", "--just-symbol-name"])
                    .arg(file),
            )?;
            // Mach-O prefixes C names with one underscore.
            let bad: Vec<&str> = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix('_'))
                .filter(|name| late.iter().any(|l| l == name))
                .collect();
            if !bad.is_empty() {
                return Err(format!(
                    "{file} imports symbols newer than macOS 11 strongly: {}. Reach them \
                     through vmnet_sys::weak instead, or the binary will not launch on older macOS.",
                    bad.join(", ")
                ));
            }
            let undefined = text.lines().filter(|l| l.starts_with('_')).count();
            eprintln!("xtask: {file}: {undefined} undefined symbols, none newer than macOS 11");
        }
    }
    eprintln!(
        "xtask: symbols passed ({} late symbols checked on {}, in the rlibs and the objects of {} programs)",
        late.len(),
        TARGETS.join(" and "),
        PROGRAMS.len()
    );
    Ok(())
}

/// The symbols newer than macOS 11, read from `vmnet-sys/src/weak.rs` — the one list of them —
/// where each accessor is declared as `"<version>" <name>`.
fn late_symbols() -> Result<Vec<String>, String> {
    let path = super::root().join("vmnet-sys/src/weak.rs");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix('"') else {
            continue;
        };
        let Some((version, rest)) = rest.split_once('"') else {
            continue;
        };
        if !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            continue;
        }
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.starts_with("vmnet_") {
            names.push(name);
        }
    }
    // 4 IPv4+IPv6 port-forwarding functions, 18 network-object functions, 4 keys.
    if names.len() != 26 {
        return Err(format!(
            "expected 26 late symbols in {}, found {}: {names:?}",
            path.display(),
            names.len()
        ));
    }
    Ok(names)
}

fn which_nm() -> Result<String, String> {
    for candidate in [
        "llvm-nm",
        "llvm-nm-19",
        "llvm-nm-16",
        "llvm-nm-15",
        "llvm-nm-14",
    ] {
        if Command::new(candidate).arg("--version").output().is_ok() {
            return Ok(candidate.to_owned());
        }
    }
    Err("llvm-nm not found (apt-get install llvm, or Xcode's command line tools)".to_owned())
}

/// Builds the shipped crates' rlibs for `target` and returns their paths, taken from cargo's
/// JSON messages so stale artifacts in `target/` are never inspected.
fn build_rlibs(target: &str) -> Result<Vec<String>, String> {
    let mut cmd = cargo("build", target);
    cmd.args(["--lib", "--message-format=json"]);
    let stdout = run_output(&mut cmd)?;
    let mut rlibs = Vec::new();
    for line in stdout.lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") {
            continue;
        }
        for package in PACKAGES {
            // Requested packages' rlibs are uplifted as `lib<name>.rlib`.
            let crate_file = format!("lib{}.rlib", package.replace('-', "_"));
            for piece in line.split('"') {
                let file = piece.rsplit('/').next().unwrap_or_default();
                if file == crate_file {
                    rlibs.push(piece.to_owned());
                }
            }
        }
    }
    if rlibs.len() != PACKAGES.len() {
        return Err(format!(
            "expected the rlibs of {PACKAGES:?} for {target}, cargo reported {rlibs:?}"
        ));
    }
    Ok(rlibs)
}

/// Compiles each of [`PROGRAMS`] for `target` to object files (`--emit=obj`) and returns
/// their paths. Objects left by earlier runs are removed first, so only
/// this build's are checked.
fn build_program_objects(target: &str) -> Result<Vec<String>, String> {
    let profile_dir = crate::toolchain::target_dir().join(target).join("debug");
    let mut objects = Vec::new();
    for (kind, name) in PROGRAMS {
        let dir = profile_dir.join(if kind == "--bin" { "deps" } else { "examples" });
        // rustc names the objects `<crate name>-<hash>[.<unit>].o`.
        let prefix = format!("{}-", name.replace('-', "_"));
        let find = || -> Vec<String> {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| {
                    path.extension().is_some_and(|e| e == "o")
                        && path
                            .file_name()
                            .and_then(|f| f.to_str())
                            .is_some_and(|f| f.starts_with(&prefix))
                })
                .map(|path| path.display().to_string())
                .collect()
        };
        for stale in find() {
            std::fs::remove_file(&stale).map_err(|e| format!("cannot remove {stale}: {e}"))?;
        }
        let mut cmd = cargo_for("rustc", target, &["vmnet"]);
        // rustc still links too (cargo asks for `link`); `true` stands in for Apple's linker,
        // which this host may lack, so no executable comes out: only the objects matter.
        cmd.args([kind, name, "--", "--emit=obj", "-C", "linker=true"]);
        // Quiet unless it fails: rustc warns on every darwin link that `xcrun` (absent here)
        // could not find the SDK, which is expected and says nothing about the symbols.
        eprintln!("xtask: compiling {name} for {target} to object files");
        crate::toolchain::output(&mut cmd)?;
        let found = find();
        if found.is_empty() {
            return Err(format!(
                "`cargo rustc {kind} {name} --target {target} -- --emit=obj` left no object \
                 named {prefix}*.o in {}",
                dir.display()
            ));
        }
        objects.extend(found);
    }
    Ok(objects)
}

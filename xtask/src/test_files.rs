//! The integration test files of `vmnet` (`vmnet/tests/*.rs`), in one table that says where
//! each runs — under Miri, under valgrind, on the stand-in framework — and the check that the
//! table knows every file, so a new one is never left out of a tool silently.

/// A tool that runs a chosen set of the test files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tool {
    /// `cargo xtask miri`.
    Miri,
    /// `cargo xtask leak` (valgrind).
    Valgrind,
    /// `cargo xtask standin` (the Apple backend on the stand-in framework).
    Standin,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Miri => "Miri",
            Tool::Valgrind => "valgrind",
            Tool::Standin => "the stand-in",
        }
    }
}

/// Where a file runs under one tool: `None` runs it, `Some(why)` does not, saying why.
type Where = Option<&'static str>;

/// One test file and where it runs (Miri, valgrind, stand-in).
struct File {
    name: &'static str,
    miri: Where,
    valgrind: Where,
    standin: Where,
}

const RUNS: Where = None;
const MACOS_ONLY: &str = "real vmnet.framework with privileges (macOS only)";
const STANDIN_ONLY: &str = "the stand-in framework only: cargo xtask standin";
const NO_UNIX_SOCKETS: &str = "Unix-domain sockets bound to paths, which Miri does not implement";
const SIM_MECHANICS: &str = "the simulator's own mechanics, not the public API on a backend";

/// Every integration test file of vmnet. Add a new one here (the tools refuse to run while a
/// file is missing).
const FILES: &[File] = &[
    File {
        name: "api",
        miri: RUNS,
        valgrind: RUNS,
        standin: RUNS,
    },
    File {
        name: "async_io",
        miri: Some(
            "tokio's I/O driver: Miri runs it only in part (no level-triggered epoll, no poll)",
        ),
        valgrind: RUNS,
        standin: RUNS,
    },
    File {
        name: "bridge_e2e",
        miri: Some(NO_UNIX_SOCKETS),
        valgrind: RUNS,
        standin: RUNS,
    },
    File {
        name: "network",
        miri: RUNS,
        valgrind: RUNS,
        standin: RUNS,
    },
    File {
        name: "standin_faults",
        miri: Some(STANDIN_ONLY),
        valgrind: Some(STANDIN_ONLY),
        standin: RUNS,
    },
    File {
        name: "sim_interface",
        miri: RUNS,
        valgrind: RUNS,
        standin: Some(
            "the simulator's own mechanics (segment builder, host port, counters, queue capacity, runt frames)",
        ),
    },
    File {
        name: "sim_alloc",
        miri: RUNS,
        valgrind: RUNS,
        standin: Some("allocation counts of the simulator's packet path"),
    },
    File {
        name: "stress_sim",
        miri: RUNS,
        valgrind: RUNS,
        standin: Some("the simulator's segment under load; not yet ported to the backend harness"),
    },
    File {
        name: "sim_network",
        miri: RUNS,
        valgrind: RUNS,
        standin: Some(
            "what the simulator's segment builder offers (bridgeable names, capabilities)",
        ),
    },
    File {
        name: "sim_network_leaks",
        miri: RUNS,
        valgrind: RUNS,
        standin: Some(SIM_MECHANICS),
    },
    File {
        name: "sim_faults",
        // The fault injection and the tap are safe code (the crate denies `unsafe` there), so
        // Miri could only find what the compiler already rules out, at 3 minutes of CI; the
        // unit tests in backend/sim/{faults,impair,tap}.rs still run under Miri with the lib.
        miri: Some(
            "safe code only (deny(unsafe_code)); 3 minutes under Miri for nothing it can find",
        ),
        valgrind: RUNS,
        standin: Some("the simulator's fault injection (sim-only)"),
    },
    File {
        name: "bridge_alloc",
        miri: Some(NO_UNIX_SOCKETS),
        valgrind: RUNS,
        standin: Some("allocation counts of the bridge on the simulator"),
    },
    File {
        name: "qemu",
        // Its tests are #[ignore]d (they need QEMU); .ci/run runs them once, on the simulator.
        miri: Some("runs QEMU and vmnet-bridge as processes, which Miri cannot spawn"),
        valgrind: Some(
            "the code under test runs in other processes (vmnet-bridge, QEMU), not in the one valgrind watches",
        ),
        standin: Some(
            "a real QEMU under TCG takes tens of seconds per run; vmnet-bridge on the stand-in is covered by bridge_e2e",
        ),
    },
    File {
        name: "bridge_cli",
        miri: Some("runs vmnet-bridge as a process, which Miri cannot spawn"),
        valgrind: Some(
            "the code under test runs in vmnet-bridge's own process, not in the one valgrind watches",
        ),
        standin: RUNS,
    },
    File {
        name: "macos_vmnet",
        miri: Some(MACOS_ONLY),
        valgrind: Some(MACOS_ONLY),
        standin: Some(MACOS_ONLY),
    },
];

impl File {
    fn under(&self, tool: Tool) -> Where {
        match tool {
            Tool::Miri => self.miri,
            Tool::Valgrind => self.valgrind,
            Tool::Standin => self.standin,
        }
    }
}

/// The test files `tool` runs, after checking that the table lists every file in
/// `vmnet/tests` and nothing else; prints the files it does not run, with their reasons.
pub(crate) fn for_tool(tool: Tool) -> Result<Vec<&'static str>, String> {
    let dir = super::root().join("vmnet/tests");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut on_disk: Vec<String> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .filter_map(|path| path.file_stem()?.to_str().map(str::to_owned))
        .collect();
    on_disk.sort();
    let unknown: Vec<&str> = on_disk
        .iter()
        .map(String::as_str)
        .filter(|name| !FILES.iter().any(|f| f.name == *name))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "vmnet/tests/{{{}}}.rs: not in the table of test files; add each to FILES in \
             xtask/src/test_files.rs, saying where it runs",
            unknown.join(",")
        ));
    }
    let mut run = Vec::new();
    for file in FILES {
        if !on_disk.iter().any(|name| name == file.name) {
            return Err(format!(
                "vmnet/tests/{}.rs is in FILES of xtask/src/test_files.rs but does not exist",
                file.name
            ));
        }
        match file.under(tool) {
            None => run.push(file.name),
            Some(why) => eprintln!(
                "xtask: not under {}: tests/{}.rs ({why})",
                tool.name(),
                file.name
            ),
        }
    }
    Ok(run)
}

/// Builds test binaries with `test` (a `cargo test` command, to which `--no-run
/// --message-format=json` is added) and returns vmnet's as (target name, path); the unit test
/// binary is named `lib`.
pub(crate) fn build(test: &mut std::process::Command) -> Result<Vec<(String, String)>, String> {
    let stdout = crate::toolchain::run_output(test.args(["--no-run", "--message-format=json"]))?;
    let manifest = super::root().join("vmnet").join("Cargo.toml");
    Ok(stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter_map(|message| test_binary(&message, &manifest))
        .collect())
}

/// The test binary of the crate of `manifest` (a `Cargo.toml`) that one message of cargo's
/// JSON output announces, as (target name, path); the unit test binary is named `lib`.
/// `None` for any other message.
pub(crate) fn test_binary(
    message: &serde_json::Value,
    manifest: &std::path::Path,
) -> Option<(String, String)> {
    if message["reason"] != "compiler-artifact"
        || message["manifest_path"].as_str() != manifest.to_str()
    {
        return None;
    }
    let executable = message["executable"].as_str()?;
    let target = &message["target"];
    let name = match target["kind"][0].as_str()? {
        "lib" => "lib",
        "test" => target["name"].as_str()?,
        _ => return None,
    };
    Some((name.to_owned(), executable.to_owned()))
}

/// The path of the test binary `target` among `binaries` (as [`build`] returns them);
/// `source`, the file in xtask/src that asked for it, is named when it is missing.
pub(crate) fn binary<'a>(
    binaries: &'a [(String, String)],
    target: &str,
    source: &str,
) -> Result<&'a str, String> {
    binaries
        .iter()
        .find(|(name, _)| name == target)
        .map(|(_, path)| path.as_str())
        .ok_or_else(|| {
            format!("cargo built no test binary `{target}` for vmnet: update xtask/src/{source}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_binary_names_the_lib_and_test_targets_of_the_manifest_only() {
        let manifest = std::path::Path::new("/w/vmnet/Cargo.toml");
        let artifact = |manifest: &str, kind: &str, name: &str| {
            serde_json::json!({
                "reason": "compiler-artifact",
                "manifest_path": manifest,
                "target": { "kind": [kind], "name": name },
                "executable": format!("/t/debug/deps/{name}-0123"),
            })
        };
        assert_eq!(
            test_binary(&artifact("/w/vmnet/Cargo.toml", "lib", "vmnet"), manifest),
            Some(("lib".to_owned(), "/t/debug/deps/vmnet-0123".to_owned()))
        );
        assert_eq!(
            test_binary(&artifact("/w/vmnet/Cargo.toml", "test", "api"), manifest),
            Some(("api".to_owned(), "/t/debug/deps/api-0123".to_owned()))
        );
        assert_eq!(
            test_binary(
                &artifact("/w/vmnet/Cargo.toml", "bench", "sim_io"),
                manifest
            ),
            None
        );
        assert_eq!(
            test_binary(
                &artifact("/w/standin/Cargo.toml", "lib", "vmnet_standin"),
                manifest
            ),
            None
        );
        let mut no_executable = artifact("/w/vmnet/Cargo.toml", "lib", "vmnet");
        no_executable["executable"] = serde_json::Value::Null;
        assert_eq!(test_binary(&no_executable, manifest), None);
        let message = serde_json::json!({ "reason": "compiler-message" });
        assert_eq!(test_binary(&message, manifest), None);
    }
}

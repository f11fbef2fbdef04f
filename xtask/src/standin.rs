//! `cargo xtask standin`: the Apple backend (`vmnet/src/backend/apple`) run on Linux against
//! the stand-in vmnet.framework (`standin/`), at every macOS level.
//!
//! 1. Builds the stand-in once per level, each exporting only that level's symbols, into
//!    `target/standin/<level>/libvmnet.so`, with `libdispatch.so` beside it (one library
//!    serves vmnet, XPC, CoreFoundation and libdispatch; its soname is `libvmnet.so`).
//! 2. Builds vmnet's test binaries with `--cfg vmnet_standin` (the Apple backend becomes the
//!    platform; `vmnet-sys` links the stand-in), linked against the newest level, in their own
//!    target directory (`target/standin/build`), so the normal build is not invalidated.
//! 3. Runs the listed test files against each level (`LD_LIBRARY_PATH`). A binary that
//!    imported a symbol newer than the level strongly would not even load there: the 11.0 run
//!    is the run-time proof that nothing newer is imported strongly, generics instantiated in
//!    the test crates included.
//! 4. Runs the examples (`bridgeable`, `network` where the level has network objects,
//!    `capture`) and `vmnet-bridge` (a datagram VM sends one frame; SIGTERM ends it) against
//!    each level: a smoke run of real programs on the Apple backend.
//! 5. Runs the same test files on the simulator (the normal build) and fails if fewer tests
//!    pass on the stand-in than there, at any level: one set of tests, both backends.
//! 6. With `--valgrind`, runs them once more at the newest level under valgrind's memcheck
//!    (the arguments of `cargo xtask leak`): no definite leak, no invalid access.
//!
//! `--clippy` instead runs clippy (`-D warnings`) on vmnet as built for the stand-in: the Apple
//! backend's code as Linux compiles it.
//!
//! Needs the system's BlocksRuntime (`apt-get install libblocksruntime-dev`), which `block2`
//! and the stand-in link. Prints a table of tests passed per level and file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The macOS levels, with the stand-in's feature for each (none: macOS 11.0).
const LEVELS: &[(&str, Option<&str>)] = &[
    ("11.0", None),
    ("12.0", Some("macos-12")),
    ("15.0", Some("macos-15")),
    ("15.4", Some("macos-15-4")),
    ("26.0", Some("macos-26")),
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut valgrind = false;
    let mut clippy = false;
    let mut only: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--valgrind" => valgrind = true,
            "--clippy" => clippy = true,
            "--level" => {
                let level = args.next().ok_or("--level needs a level, e.g. 11.0")?;
                let known = LEVELS.iter().find(|(l, _)| l == level).ok_or_else(|| {
                    format!(
                        "unknown level {level}; the levels are {}",
                        LEVELS
                            .iter()
                            .map(|(l, _)| *l)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
                only.push(known.0);
            }
            other => return Err(format!("standin: unknown argument `{other}`")),
        }
    }
    let started = Instant::now();
    let root = crate::toolchain::target_dir().join("standin");
    if clippy {
        let (level, feature) = LEVELS[LEVELS.len() - 1];
        let dir = build_level(&root, level, feature)?;
        let mut cmd = standin_cargo(&root, &dir);
        cmd.args(["clippy", "-p", "vmnet", "--all-features", "--all-targets"])
            .args(["--", "-D", "warnings"]);
        super::run(&mut cmd)?;
        eprintln!("xtask: clippy of the Apple backend built for Linux passed");
        return Ok(());
    }
    let run = crate::test_files::for_tool(crate::test_files::Tool::Standin)?;
    let levels: Vec<(&str, PathBuf)> = LEVELS
        .iter()
        .filter(|(level, _)| only.is_empty() || only.contains(level))
        .map(|&(level, feature)| Ok((level, build_level(&root, level, feature)?)))
        .collect::<Result<_, String>>()?;
    let newest = root.join(LEVELS[LEVELS.len() - 1].0);
    if !newest.join("libvmnet.so").exists() {
        build_level(
            &root,
            LEVELS[LEVELS.len() - 1].0,
            LEVELS[LEVELS.len() - 1].1,
        )?;
    }
    let binaries = build_tests(&root, &newest)?;
    let programs = build_programs(&root, &newest)?;

    // The same test files on the simulator, for the comparison below.
    let simulated = crate::test_files::build(crate::toolchain::cargo().args([
        "test",
        "-p",
        "vmnet",
        "--all-features",
    ]))?;
    let mut on_simulator = Vec::new();
    for target in &run {
        let path = binary(&simulated, target)?;
        on_simulator.push(run_tests("(simulator)", target, Command::new(path), &root)?);
    }

    let mut table = Vec::new();
    for (level, dir) in &levels {
        for target in std::iter::once(&"lib").chain(&run) {
            let path = binary(&binaries, target)?;
            let passed = run_tests(level, target, Command::new(path), dir)?;
            table.push((level.to_string(), target.to_string(), passed));
        }
    }
    for (level, dir) in &levels {
        smoke(level, dir, &programs)?;
    }
    if valgrind {
        let (level, dir) = levels.last().ok_or("no level selected")?;
        for target in std::iter::once(&"lib").chain(&run) {
            let path = binary(&binaries, target)?;
            let passed = run_tests(level, target, crate::leak::valgrind(path), dir)?;
            table.push((format!("{level} valgrind"), target.to_string(), passed));
        }
    }
    eprintln!("\nxtask: the Apple backend on the stand-in framework, tests passed:");
    eprintln!(
        "  {:<15} {:<16} {:>8} {:>10}",
        "macOS level", "tests", "passed", "simulator"
    );
    let mut fewer = Vec::new();
    for (level, target, passed) in &table {
        // `lib` differs by design (unit tests of each backend); the integration test files
        // are the same source on both.
        let sim = run
            .iter()
            .position(|t| t == target)
            .map(|i| on_simulator[i]);
        let shown = sim.map_or_else(|| "-".to_owned(), |n| n.to_string());
        eprintln!("  {level:<15} {target:<16} {passed:>8} {shown:>10}");
        if sim.is_some_and(|sim| *passed < sim) {
            fewer.push(format!("{target} at {level}"));
        }
    }
    if !fewer.is_empty() {
        return Err(format!(
            "fewer tests passed on the stand-in than on the simulator: {}",
            fewer.join(", ")
        ));
    }
    eprintln!(
        "xtask: standin passed: {} runs in {} s",
        table.len(),
        started.elapsed().as_secs()
    );
    Ok(())
}

/// Builds the stand-in for `level` and installs it as `<root>/<level>/libvmnet.so` with a
/// `libdispatch.so` link beside it; returns that directory.
fn build_level(root: &Path, level: &str, feature: Option<&str>) -> Result<PathBuf, String> {
    let build_dir = root.join("lib-build");
    let mut cmd = crate::toolchain::cargo();
    cmd.args(["build", "-p", "vmnet-standin"])
        .env("CARGO_TARGET_DIR", &build_dir);
    if let Some(feature) = feature {
        cmd.args(["--features", feature]);
    }
    super::run(&mut cmd)?;
    install(&build_dir, &root.join(level))
}

/// Installs the stand-in library that cargo built in `build_dir` (a target directory) as
/// `<dir>/libvmnet.so`, with a `libdispatch.so` link beside it; returns `dir`.
pub(crate) fn install(build_dir: &Path, dir: &Path) -> Result<PathBuf, String> {
    let built = build_dir.join("debug").join("libvmnet_standin.so");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lib = dir.join("libvmnet.so");
    std::fs::copy(&built, &lib)
        .map_err(|e| format!("cannot copy {} to {}: {e}", built.display(), lib.display()))?;
    let dispatch = dir.join("libdispatch.so");
    let _ = std::fs::remove_file(&dispatch);
    std::os::unix::fs::symlink("libvmnet.so", &dispatch)
        .map_err(|e| format!("cannot link {}: {e}", dispatch.display()))?;
    Ok(dir.to_path_buf())
}

/// Cargo building for the stand-in: `--cfg vmnet_standin` added to `RUSTFLAGS`, linking the
/// library in `link_dir`, in its own target directory under `root`.
pub(crate) fn standin_cargo(root: &Path, link_dir: &Path) -> Command {
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(' ');
    }
    flags.push_str("--cfg vmnet_standin");
    let mut cmd = crate::toolchain::cargo();
    cmd.env("RUSTFLAGS", flags)
        .env("VMNET_STANDIN_DIR", link_dir)
        .env("CARGO_TARGET_DIR", root.join("build"));
    cmd
}

/// Builds vmnet's test binaries for the stand-in, linked against the library in `link_dir`.
fn build_tests(root: &Path, link_dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut cmd = standin_cargo(root, link_dir);
    cmd.args(["test", "-p", "vmnet", "--all-features"]);
    crate::test_files::build(&mut cmd)
}

/// The examples and `vmnet-bridge`, built for the stand-in like the tests.
struct Programs {
    dir: PathBuf,
}

fn build_programs(root: &Path, link_dir: &Path) -> Result<Programs, String> {
    let mut cmd = standin_cargo(root, link_dir);
    cmd.args([
        "build",
        "-p",
        "vmnet",
        "--all-features",
        "--examples",
        "--bins",
    ]);
    super::run(&mut cmd)?;
    Ok(Programs {
        dir: root.join("build").join("debug"),
    })
}

/// Runs the examples and `vmnet-bridge` briefly against the stand-in in `dir`.
fn smoke(level: &str, dir: &Path, programs: &Programs) -> Result<(), String> {
    let t0 = Instant::now();
    let example = |name: &str| {
        let mut cmd = Command::new(programs.dir.join("examples").join(name));
        cmd.env("LD_LIBRARY_PATH", dir);
        cmd
    };
    let listed = crate::toolchain::output(&mut example("bridgeable"))
        .map_err(|e| format!("example bridgeable at macOS {level}: {e}"))?;
    if !listed.contains("en0") {
        return Err(format!(
            "example bridgeable at macOS {level} listed no en0:\n{listed}"
        ));
    }
    let network = example("network").output().map_err(|e| e.to_string())?;
    let has_networks = level.starts_with("26");
    if network.status.success() != has_networks {
        return Err(format!(
            "example network at macOS {level}: exit {} (expected {}):\n{}",
            network.status,
            if has_networks { "success" } else { "failure" },
            String::from_utf8_lossy(&network.stderr)
        ));
    }
    let scratch = std::env::temp_dir().join(format!("vmnet-standin-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let pcap = scratch.join("capture.pcap");
    crate::toolchain::output(example("capture").args(["--seconds", "1", "-o"]).arg(&pcap))
        .map_err(|e| format!("example capture at macOS {level}: {e}"))?;
    let header = std::fs::read(&pcap).map_err(|e| format!("{}: {e}", pcap.display()))?;
    if header.len() < 24 || header[..4] != [0xd4, 0xc3, 0xb2, 0xa1] {
        return Err(format!(
            "example capture at macOS {level} wrote no pcap file header"
        ));
    }
    bridge_smoke(level, dir, programs, &scratch)?;
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!(
        "xtask: macOS {level}: examples and vmnet-bridge ran ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `vmnet-bridge --listen` on a datagram socket: a "VM" sends one broadcast frame; after
/// SIGTERM the bridge must exit cleanly and count the frame.
fn bridge_smoke(
    level: &str,
    dir: &Path,
    programs: &Programs,
    scratch: &Path,
) -> Result<(), String> {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    let socket = scratch.join("bridge.sock");
    let mut child = Command::new(programs.dir.join("vmnet-bridge"))
        .args([
            "--mode",
            "shared",
            "--framing",
            "datagram",
            "--listen",
            "--socket",
        ])
        .arg(&socket)
        .env("LD_LIBRARY_PATH", dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start vmnet-bridge: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        if Instant::now() >= deadline || child.try_wait().map_err(|e| e.to_string())?.is_some() {
            let _ = child.kill();
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            return Err(format!(
                "vmnet-bridge at macOS {level} never bound its socket:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let vm = UnixDatagram::bind(scratch.join("vm.sock")).map_err(|e| e.to_string())?;
    let mut frame = vec![0xffu8; 6];
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x42, 0x88, 0xb5]);
    frame.resize(60, 0x5a);
    vm.send_to(&frame, &socket)
        .map_err(|e| format!("sending to vmnet-bridge: {e}"))?;
    std::thread::sleep(Duration::from_millis(300));
    crate::toolchain::output(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.contains("from VM: 1 packets") {
        return Err(format!(
            "vmnet-bridge at macOS {level}: exit {}, expected success and one frame from the VM:\n{stderr}",
            out.status
        ));
    }
    Ok(())
}

fn binary<'a>(binaries: &'a [(String, String)], target: &str) -> Result<&'a str, String> {
    crate::test_files::binary(binaries, target, "standin.rs")
}

/// Runs one test binary (through `cmd`) against the stand-in in `dir`; returns how many tests
/// passed. Its output is shown when it fails.
fn run_tests(level: &str, target: &str, mut cmd: Command, dir: &Path) -> Result<usize, String> {
    cmd.arg("--quiet")
        .env("LD_LIBRARY_PATH", dir)
        .current_dir(super::root());
    let t0 = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let passed = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum::<usize>();
    if !out.status.success() {
        return Err(format!(
            "tests `{target}` failed on the stand-in at macOS {level} ({}):\n{stdout}\n{stderr}",
            out.status
        ));
    }
    eprintln!(
        "xtask: macOS {level}: {target}: {passed} passed ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    Ok(passed)
}

//! `cargo xtask mutants`: deliberate bugs in the Apple backend, one at a time, each of which
//! the stand-in test run must catch.
//!
//! The stand-in vmnet.framework (`standin/`) exists so that ownership, lifetime and contract
//! bugs of the Apple backend fail tests on Linux instead of being silent undefined behaviour
//! on a Mac. This check shows that it does: for every entry of [`MUTATIONS`] it
//!
//! 1. takes a copy of the sources (`<target>/mutants/tree`: the files of `HEAD`, or with
//!    `--working-tree` the working tree's tracked and untracked, not ignored, files), never
//!    the working tree itself; files are rewritten only when their content changed, so cargo
//!    rebuilds only what a mutation touched (one shared target directory,
//!    `<target>/mutants/build`);
//! 2. checks first that every anchor of every mutation occurs exactly once in its file, and
//!    fails with the mutation's name if code moved;
//! 3. builds the stand-in at macOS 26.0 and runs the **unmutated** tests (the baseline): they
//!    must pass, or nothing below would mean anything;
//! 4. applies one mutation's edits, builds vmnet's stand-in test binaries and runs them
//!    (`LD_LIBRARY_PATH` on the stand-in; one test thread and no output capture, so that an
//!    abort names its test and panic messages land in the log): the run must **fail** — a
//!    failing test, an abort of the stand-in, a hang killed after [`RUN_LIMIT`], or (for
//!    mutations marked so) a valgrind error. A binary is stopped at its first failing test
//!    (one is all a mutation needs; `--all-tests` runs them all). A mutation that does not
//!    compile counts as **not caught**: it must be caught by tests, not by the compiler. Then
//!    the file is restored.
//!
//! It prints a table: mutation, time, and what caught it: the failing tests (the first with
//! its panic message), `abort: <message> (in <test>)` when the stand-in aborted the process,
//! `valgrind: <error> in <function>`, and any warning the stand-in printed. Every run's
//! output is kept in `<target>/mutants/logs/`.
//!
//! ```text
//! cargo xtask mutants [--list] [--working-tree] [--all-tests] [--only NAME]...
//! ```
//!
//! `--list` prints the mutations without running anything; `--only` runs the mutations whose
//! name contains NAME (the baseline always runs).
//!
//! A mutation is a list of edits (file, exact anchor text, replacement). When code moves, the
//! anchor check names the mutation; update its anchor here. The anchor that follows work in
//! progress has constants of its own ([`VIRTIO_FILE`], [`VIRTIO_ANCHOR`],
//! [`VIRTIO_REPLACEMENT`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The macOS level the mutations run at, and the stand-in's feature for it: the newest, which
/// has every feature (packet limits, virtio header, network objects).
const LEVEL: (&str, &str) = ("26.0", "macos-26");

/// The test binaries of the stand-in run: vmnet's unit tests (`lib`) and the integration
/// test files `cargo xtask standin` runs. A file not in the copied tree is skipped.
const BINARIES: &[&str] = &["lib", "api", "standin_faults"];

/// The longest one test binary may run before it counts as hung and is killed.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// One textual change: `anchor` (which must occur exactly once in `file`) becomes
/// `replacement`.
struct Edit {
    file: &'static str,
    anchor: &'static str,
    replacement: &'static str,
}

/// Which tests run for a mutation.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Test binaries (of [`BINARIES`]); empty: all of them.
    binaries: &'static [&'static str],
    /// libtest filters (substrings of test names); empty: every test.
    filters: &'static [&'static str],
    /// Under valgrind's memcheck (`cargo xtask leak`'s arguments): for bugs whose only
    /// symptom is an access to freed memory.
    valgrind: bool,
}

/// Every test of every stand-in binary, natively.
const ALL: Run = Run {
    binaries: &[],
    filters: &[],
    valgrind: false,
};

/// A deliberate bug.
struct Mutation {
    name: &'static str,
    /// What the bug is, for `--list`.
    about: &'static str,
    edits: &'static [Edit],
    run: Run,
}

const APPLE: &str = "vmnet/src/backend/apple/mod.rs";
const COMPLETION: &str = "vmnet/src/backend/apple/completion.rs";
const XPC: &str = "vmnet/src/backend/apple/xpc.rs";
const BATCH: &str = "vmnet/src/batch.rs";
const INTERFACE: &str = "vmnet/src/interface.rs";

/// The file and the anchor of the virtio-net header's +12: where the read buffer length
/// (max packet size + 12 with the header) is derived from the parameters. Update these when
/// that code moves.
const VIRTIO_FILE: &str = "vmnet/src/params.rs";
const VIRTIO_ANCHOR: &str = "self.max_packet_size + Self::VIRTIO_HEADER_LEN";
const VIRTIO_REPLACEMENT: &str = "self.max_packet_size";

/// The mutations, in the order they run.
const MUTATIONS: &[Mutation] = &[
    Mutation {
        name: "start parameters parsed after the handler returned",
        about: "the start completion keeps the borrowed parameter dictionary (xpc_object_t) \
                instead of copying it, and start parses it after the completion wait, when \
                vmnet has released it",
        edits: &[
            Edit {
                file: APPLE,
                anchor: "type StartOutcome = std::result::Result<Dictionary, Status>;",
                replacement: "type StartOutcome = std::result::Result<usize, Status>;",
            },
            Edit {
                file: APPLE,
                anchor: "unsafe { xpc::from_xpc(params) }",
                replacement: "params as usize",
            },
            Edit {
                file: APPLE,
                anchor: "Ok(dict) if !iface.is_null() => dict,",
                replacement: "Ok(params) if !iface.is_null() => unsafe { \
                              xpc::from_xpc(params as sys::xpc_object_t) },",
            },
        ],
        run: ALL,
    },
    Mutation {
        name: "xpc_release missing (XpcObject's Drop)",
        about: "an owned XPC object (the start description, a copied interface list, a \
                serialization) is never released",
        edits: &[Edit {
            file: XPC,
            anchor: "unsafe { sys::xpc_release(self.0.as_ptr()) }",
            replacement: "let _ = self.0;",
        }],
        run: ALL,
    },
    Mutation {
        name: "events not disabled before stop",
        about: "stop calls vmnet_stop_interface with the event callback still registered \
                (real vmnet is reported to hang there)",
        edits: &[Edit {
            file: APPLE,
            anchor: "        unsafe {
            sys::vmnet_interface_set_event_callback(
                self.iface.0,
                sys::VMNET_INTERFACE_PACKETS_AVAILABLE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
",
            replacement: "",
        }],
        run: ALL,
    },
    Mutation {
        name: "read pktcnt not clamped to read_max_packets",
        about: "a read hands vmnet every descriptor of the batch, more than the interface's \
                read_max_packets when the batch is larger",
        edits: &[Edit {
            file: BATCH,
            anchor: "let count = max.min(self.capacity());",
            replacement: "let count = self.capacity();",
        }],
        run: ALL,
    },
    Mutation {
        name: "write pktcnt not clamped to write_max_packets",
        about: "write_batch hands vmnet every held packet, more than the interface's \
                write_max_packets when the batch holds more",
        edits: &[Edit {
            file: INTERFACE,
            anchor: ".min(first.saturating_add(self.params.write_max_packets()));",
            replacement: ";",
        }],
        run: ALL,
    },
    Mutation {
        name: "virtio-net header's +12 missing",
        about: "with the virtio-net header on, buffers are sized to the max packet size, 12 \
                bytes short of the largest packet vmnet reads",
        edits: &[Edit {
            file: VIRTIO_FILE,
            anchor: VIRTIO_ANCHOR,
            replacement: VIRTIO_REPLACEMENT,
        }],
        run: ALL,
    },
    Mutation {
        name: "event object read without checking its type",
        about: "the event callback reads the estimated packet count from vmnet's event object \
                without checking that it is a dictionary (libxpc traps dictionary calls on \
                another type)",
        edits: &[Edit {
            file: APPLE,
            anchor: "Some(key) if unsafe { xpc::is_dictionary(event) } => {",
            replacement: "Some(key) if !event.is_null() => {",
        }],
        run: ALL,
    },
    Mutation {
        name: "read lengths past the buffers trusted",
        about: "the Apple driver returns the packet count of a read without checking the \
                lengths vmnet wrote against the buffers (caller-built descriptors then report \
                a packet longer than its buffer)",
        edits: &[Edit {
            file: APPLE,
            anchor: "descs.check_lengths(count)?;",
            replacement: "let _ = &descs;",
        }],
        run: ALL,
    },
    Mutation {
        name: "completion slot freed when the wait times out",
        about: "the completion block of a stop or port-forwarding call borrows the waiter's \
                result slot ('static by an unsafe cast) instead of sharing it; after a \
                timeout the waiter frees the slot and the late completion writes to freed \
                memory (run under valgrind: the access is the only symptom)",
        edits: &[Edit {
            file: COMPLETION,
            anchor: "let done = done.clone();",
            replacement: "// The waiter waits for the completion: the block may borrow its slot.
        let done: &'static Completion<sys::vmnet_return_t> = unsafe { &*Arc::as_ptr(&done) };",
        }],
        run: Run {
            binaries: &["standin_faults"],
            filters: &["late_forwarding_completion"],
            valgrind: true,
        },
    },
];

/// How the sources are copied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The files of the `HEAD` commit (`git archive`).
    Head,
    /// The working tree's tracked and untracked (not ignored) files.
    WorkingTree,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut list = false;
    let mut source = Source::Head;
    let mut only: Vec<&str> = Vec::new();
    let mut every_test = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            "--working-tree" => source = Source::WorkingTree,
            "--all-tests" => every_test = true,
            "--only" => only.push(args.next().ok_or("--only needs a mutation name")?),
            other => return Err(format!("mutants: unknown argument `{other}`")),
        }
    }
    if list {
        print_list();
        return Ok(());
    }
    let selected: Vec<(usize, &Mutation)> = MUTATIONS
        .iter()
        .enumerate()
        .filter(|(_, m)| only.is_empty() || only.iter().any(|o| m.name.contains(o)))
        .collect();
    if selected.is_empty() {
        return Err(format!("no mutation matches {only:?}; see --list"));
    }

    let started = Instant::now();
    let home = crate::toolchain::target_dir().join("mutants");
    let tree = home.join("tree");
    copy_sources(source, &home, &tree)?;
    check_anchors(&tree, &selected)?;
    let lib_dir = build_standin(&tree, &home)?;
    let logs = home.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let present: Vec<&str> = BINARIES
        .iter()
        .copied()
        .filter(|b| *b == "lib" || tree.join(format!("vmnet/tests/{b}.rs")).exists())
        .collect();
    for b in BINARIES.iter().filter(|b| !present.contains(b)) {
        eprintln!("xtask: mutants: no vmnet/tests/{b}.rs in the copied sources (skipped)");
    }
    let ctx = Context {
        tree: &tree,
        home: &home,
        lib_dir: &lib_dir,
        logs: &logs,
        present: &present,
        every_test,
    };

    // The baseline: every run configuration the selected mutations use, unmutated.
    let mut runs: Vec<Run> = vec![ALL];
    for (_, m) in &selected {
        if !runs.contains(&m.run) {
            runs.push(m.run);
        }
    }
    let t0 = Instant::now();
    let binaries = ctx
        .build()
        .map_err(|e| format!("the unmutated sources do not build: {e}"))?;
    for (k, run) in runs.iter().enumerate() {
        let outcome = ctx.run_tests(&binaries, *run, &format!("baseline-{k}"))?;
        if let Some(failure) = outcome {
            return Err(format!(
                "the baseline (no mutation) fails: {failure}; logs in {}",
                logs.display()
            ));
        }
    }
    eprintln!(
        "xtask: mutants: baseline passed ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );

    let mut table = Vec::new();
    for (index, m) in &selected {
        eprintln!("\nxtask: mutants: #{} {}", index + 1, m.name);
        let t0 = Instant::now();
        let verdict = ctx.mutate(*index, m)?;
        table.push((*index, m.name, verdict, t0.elapsed()));
    }

    eprintln!(
        "\nxtask: mutants at macOS {}: deliberate bugs in the Apple backend",
        LEVEL.0
    );
    let width = table.iter().map(|(_, n, _, _)| n.len()).max().unwrap_or(8);
    eprintln!("  #  {:<width$}  {:>7}  caught by", "mutation", "time");
    let mut missed = Vec::new();
    for (index, name, verdict, took) in &table {
        let shown = match verdict {
            Verdict::Caught(by) => by.clone(),
            Verdict::NotCaught => {
                missed.push(format!("{name}: the tests passed"));
                "NOT CAUGHT: every test passed".to_owned()
            }
            Verdict::DoesNotCompile(why) => {
                missed.push(format!("{name}: does not compile"));
                format!("NOT CAUGHT: does not compile ({why})")
            }
        };
        eprintln!(
            "  {:<2} {name:<width$}  {:>6.1}s  {shown}",
            index + 1,
            took.as_secs_f64()
        );
    }
    eprintln!(
        "xtask: mutants: {} of {} caught in {} s; logs in {}",
        table.len() - missed.len(),
        table.len(),
        started.elapsed().as_secs(),
        logs.display()
    );
    if missed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "mutations not caught by the stand-in tests:\n  {}",
            missed.join("\n  ")
        ))
    }
}

fn print_list() {
    println!(
        "mutations of `cargo xtask mutants` (each must make the stand-in tests at macOS {} fail):",
        LEVEL.0
    );
    for (i, m) in MUTATIONS.iter().enumerate() {
        println!("\n{:>2}. {}\n    {}", i + 1, m.name, m.about);
        for edit in m.edits {
            let first = edit.anchor.trim().lines().next().unwrap_or_default();
            println!("    {}: `{}`", edit.file, first.trim());
        }
        let mut how = Vec::new();
        if !m.run.binaries.is_empty() {
            how.push(format!("tests {}", m.run.binaries.join(", ")));
        }
        if !m.run.filters.is_empty() {
            how.push(format!("matching {}", m.run.filters.join(", ")));
        }
        if m.run.valgrind {
            how.push("under valgrind".to_owned());
        }
        if !how.is_empty() {
            println!("    runs: {}", how.join(", "));
        }
    }
}

/// What a mutation's run showed.
enum Verdict {
    /// The tests failed: what failed.
    Caught(String),
    NotCaught,
    /// The compiler's first error.
    DoesNotCompile(String),
}

/// Copies the sources into `tree`, rewriting only the files whose content differs and
/// removing files the source no longer has.
fn copy_sources(source: Source, home: &Path, tree: &Path) -> Result<(), String> {
    let root = super::root();
    let (from, files) = match source {
        Source::Head => {
            let staging = home.join("head");
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging)
                .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
            let archive = home.join("head.tar");
            crate::toolchain::output(
                Command::new("git")
                    .args(["archive", "--format=tar", "-o"])
                    .arg(&archive)
                    .arg("HEAD")
                    .current_dir(&root),
            )?;
            crate::toolchain::output(
                Command::new("tar")
                    .arg("-xf")
                    .arg(&archive)
                    .arg("-C")
                    .arg(&staging),
            )?;
            let mut files = Vec::new();
            walk(&staging, Path::new(""), &mut files)?;
            (staging, files)
        }
        Source::WorkingTree => {
            let listed = crate::toolchain::output(
                Command::new("git")
                    .args([
                        "ls-files",
                        "-z",
                        "--cached",
                        "--others",
                        "--exclude-standard",
                    ])
                    .current_dir(&root),
            )?;
            let files = listed
                .split('\0')
                .filter(|f| !f.is_empty() && root.join(f).is_file())
                .map(PathBuf::from)
                .collect();
            (root, files)
        }
    };
    let mut changed = 0;
    for file in &files {
        let content = std::fs::read(from.join(file))
            .map_err(|e| format!("cannot read {}: {e}", from.join(file).display()))?;
        let to = tree.join(file);
        if std::fs::read(&to).ok().as_deref() != Some(&content[..]) {
            write(&to, &content)?;
            changed += 1;
        }
    }
    let keep: BTreeSet<&PathBuf> = files.iter().collect();
    let mut present = Vec::new();
    if tree.exists() {
        walk(tree, Path::new(""), &mut present)?;
    }
    for file in present.iter().filter(|f| !keep.contains(f)) {
        std::fs::remove_file(tree.join(file))
            .map_err(|e| format!("cannot remove {}: {e}", tree.join(file).display()))?;
    }
    let what = match source {
        Source::Head => "HEAD",
        Source::WorkingTree => "the working tree",
    };
    eprintln!(
        "xtask: mutants: sources of {what} in {} ({changed} of {} files updated)",
        tree.display(),
        files.len()
    );
    Ok(())
}

/// Every file under `dir/rel`, as paths relative to `dir`.
fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let here = dir.join(rel);
    let entries =
        std::fs::read_dir(&here).map_err(|e| format!("cannot list {}: {e}", here.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", here.display()))?;
        let rel = rel.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", dir.join(&rel).display()))?;
        if kind.is_dir() {
            walk(dir, &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

fn write(path: &Path, content: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, content).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Fails, naming every mutation concerned, unless each anchor occurs exactly once in its file
/// (and differs from its replacement).
fn check_anchors(tree: &Path, selected: &[(usize, &Mutation)]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (index, m) in selected {
        for (k, edit) in m.edits.iter().enumerate() {
            let path = tree.join(edit.file);
            let found = match read(&path) {
                Ok(text) => text.matches(edit.anchor).count(),
                Err(e) => {
                    problems.push(format!("#{} {}: {e}", index + 1, m.name));
                    continue;
                }
            };
            if found != 1 || edit.anchor == edit.replacement {
                let first = edit.anchor.trim().lines().next().unwrap_or_default().trim();
                problems.push(format!(
                    "#{} {} (edit {}): the anchor `{first}` occurs {found} times in {} \
                     (expected exactly once)",
                    index + 1,
                    m.name,
                    k + 1,
                    edit.file
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the code moved under these mutations: update their anchors in xtask/src/mutants.rs\n  {}",
        problems.join("\n  ")
    ))
}

/// Builds the stand-in at [`LEVEL`] from the copied sources; returns the directory holding
/// `libvmnet.so` and its `libdispatch.so` link.
fn build_standin(tree: &Path, home: &Path) -> Result<PathBuf, String> {
    let build_dir = home.join("lib-build");
    let mut cmd = crate::toolchain::cargo();
    cmd.current_dir(tree)
        .args(["build", "-p", "vmnet-standin", "--features", LEVEL.1])
        .env("CARGO_TARGET_DIR", &build_dir);
    crate::toolchain::run_output(&mut cmd)?;
    crate::standin::install(&build_dir, &home.join(LEVEL.0))
}

struct Context<'a> {
    tree: &'a Path,
    home: &'a Path,
    lib_dir: &'a Path,
    logs: &'a Path,
    /// The binaries of [`BINARIES`] the copied sources have.
    present: &'a [&'a str],
    /// Run every test of a binary even after one failed (else the binary is stopped at its
    /// first failure).
    every_test: bool,
}

impl Context<'_> {
    /// Applies `m`, builds and runs its tests, restores the sources.
    fn mutate(&self, index: usize, m: &Mutation) -> Result<Verdict, String> {
        let mut originals: Vec<(PathBuf, String)> = Vec::new();
        let applied = (|| {
            for edit in m.edits {
                let path = self.tree.join(edit.file);
                let text = read(&path)?;
                if !originals.iter().any(|(p, _)| *p == path) {
                    originals.push((path.clone(), text.clone()));
                }
                if text.matches(edit.anchor).count() != 1 {
                    return Err(format!(
                        "{}: an anchor of `{}` is gone after its earlier edits",
                        edit.file, m.name
                    ));
                }
                write(
                    &path,
                    text.replacen(edit.anchor, edit.replacement, 1).as_bytes(),
                )?;
            }
            Ok(())
        })();
        let verdict = applied.and_then(|()| match self.build() {
            Err(why) => Ok(Verdict::DoesNotCompile(why)),
            Ok(binaries) => {
                let failure = self.run_tests(&binaries, m.run, &format!("{:02}", index + 1))?;
                Ok(failure.map_or(Verdict::NotCaught, Verdict::Caught))
            }
        });
        // Restored whatever happened, with a fresh modification time, so cargo rebuilds.
        for (path, text) in &originals {
            write(path, text.as_bytes())?;
        }
        verdict
    }

    /// Builds vmnet's stand-in test binaries; `Err` is the first compiler error.
    fn build(&self) -> Result<Vec<(String, PathBuf)>, String> {
        let mut cmd = crate::standin::standin_cargo(self.home, self.lib_dir);
        cmd.current_dir(self.tree)
            .args(["test", "-p", "vmnet", "--all-features", "--no-run"])
            .args(["--message-format=json-diagnostic-short"]);
        for binary in self.present {
            if *binary == "lib" {
                cmd.arg("--lib");
            } else {
                cmd.args(["--test", binary]);
            }
        }
        eprintln!("xtask: mutants: building the stand-in tests");
        let out = cmd
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("could not start cargo: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let manifest = self.tree.join("vmnet").join("Cargo.toml");
        let mut binaries = Vec::new();
        let mut first_error = None;
        for line in stdout.lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            match message["reason"].as_str() {
                Some("compiler-message")
                    if first_error.is_none() && message["message"]["level"] == "error" =>
                {
                    first_error = message["message"]["rendered"]
                        .as_str()
                        .map(|s| s.trim().to_owned());
                }
                _ => binaries.extend(
                    crate::test_files::test_binary(&message, &manifest)
                        .map(|(name, path)| (name, PathBuf::from(path))),
                ),
            }
        }
        if !out.status.success() {
            return Err(first_error.unwrap_or_else(|| {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr.trim().lines().last().unwrap_or_default().to_owned();
                format!("cargo failed ({}): {last}", out.status)
            }));
        }
        for binary in self.present {
            if !binaries.iter().any(|(name, _)| name == binary) {
                return Err(format!("cargo built no test binary `{binary}` for vmnet"));
            }
        }
        Ok(binaries)
    }

    /// Runs the binaries of `run`; `None` when every one passed, else what failed.
    fn run_tests(
        &self,
        binaries: &[(String, PathBuf)],
        run: Run,
        tag: &str,
    ) -> Result<Option<String>, String> {
        let mut failures = Vec::new();
        for (name, path) in binaries {
            if !run.binaries.is_empty() && !run.binaries.contains(&name.as_str()) {
                continue;
            }
            let log = self.logs.join(format!("{tag}-{name}.log"));
            let t0 = Instant::now();
            let outcome = self.run_binary(path, run, &log)?;
            let took = t0.elapsed().as_secs_f64();
            match outcome.failure(name) {
                None => eprintln!("xtask: mutants:   {name}: passed ({took:.1} s)"),
                Some(failure) => {
                    eprintln!(
                        "xtask: mutants:   {name}: FAILED ({took:.1} s): {failure}; log {}",
                        log.display()
                    );
                    failures.push(failure);
                }
            }
        }
        // Each binary's failure is "; "-separated parts; a part two binaries share (the same
        // stand-in warning) is shown once.
        let mut parts: Vec<&str> = Vec::new();
        for part in failures.iter().flat_map(|f| f.split("; ")) {
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
        Ok((!parts.is_empty()).then(|| parts.join("; ")))
    }

    /// Runs one test binary with its output (stdout and stderr interleaved) in `log`. Unless
    /// every test is wanted, the binary is stopped at its first failing test.
    fn run_binary(&self, path: &Path, run: Run, log: &Path) -> Result<Outcome, String> {
        let mut cmd = if run.valgrind {
            crate::leak::valgrind(path)
        } else {
            Command::new(path)
        };
        let file =
            File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
        // One thread: a test's name is printed before it runs, so an abort names its test;
        // no capture: panic messages appear in the log where they happen.
        cmd.args(run.filters)
            .args(["--test-threads=1", "--nocapture"])
            .env("RUST_BACKTRACE", "0")
            .env("LD_LIBRARY_PATH", self.lib_dir)
            .current_dir(self.tree)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
        let deadline = Instant::now() + RUN_LIMIT;
        let mut stop = None;
        let status = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| format!("waiting for {cmd:?}: {e}"))?
            {
                break status;
            }
            if Instant::now() >= deadline {
                stop = Some(Stopped::Hung);
            } else if !self.every_test && !run.valgrind && a_test_failed(log) {
                stop = Some(Stopped::AtFirstFailure);
            }
            if stop.is_some() {
                let _ = child.kill();
                break child
                    .wait()
                    .map_err(|e| format!("waiting for {cmd:?}: {e}"))?;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let output =
            std::fs::read(log).map_err(|e| format!("cannot read {}: {e}", log.display()))?;
        Ok(Outcome {
            status,
            stop,
            output: String::from_utf8_lossy(&output).into_owned(),
            valgrind: run.valgrind,
        })
    }
}

/// Whether the output so far (in `log`) reports a failed test.
fn a_test_failed(log: &Path) -> bool {
    let output = std::fs::read(log).unwrap_or_default();
    !progress(&String::from_utf8_lossy(&output))
        .failed
        .is_empty()
}

/// Why a test binary was killed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stopped {
    /// It ran longer than [`RUN_LIMIT`].
    Hung,
    /// A test had failed, which is all a mutation needs.
    AtFirstFailure,
}

/// What libtest's output (one test thread, no capture) says so far.
struct Progress {
    /// Tests reported as failed, in order, each with the first panic message seen while it
    /// ran.
    failed: Vec<(String, Option<String>)>,
    /// The test started last, if its result has not been printed.
    running: Option<String>,
}

/// Reads libtest's output: `test NAME ... ` starts a test; its result (`ok`, `FAILED`,
/// `ignored`) follows on the same line or, after the test's own output, on a line of its
/// own. A panic is `thread '…' panicked at …:` with the message on the next line. Lines of
/// other threads (the stand-in's messages) may be interleaved.
fn progress(output: &str) -> Progress {
    let mut failed: Vec<(String, Option<String>)> = Vec::new();
    let mut running: Option<String> = None;
    let mut panic: Option<String> = None;
    let mut lines = output.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("thread '") && line.contains(" panicked at ") {
            let message = lines.next().unwrap_or_default().trim();
            panic.get_or_insert_with(|| message.to_owned());
            continue;
        }
        let result = match line
            .strip_prefix("test ")
            .and_then(|l| l.split_once(" ... "))
        {
            Some((name, rest)) => {
                running = Some(name.to_owned());
                panic = None;
                rest.trim()
            }
            None => line.trim(),
        };
        match result {
            "ok" | "ignored" => running = None,
            "FAILED" => {
                if let Some(name) = running.take() {
                    if !failed.iter().any(|(n, _)| *n == name) {
                        failed.push((name, panic.take()));
                    }
                }
            }
            _ => {}
        }
    }
    Progress { failed, running }
}

/// `text`, cut to about `max` characters.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// How a test binary ended, and its output.
struct Outcome {
    status: std::process::ExitStatus,
    stop: Option<Stopped>,
    output: String,
    valgrind: bool,
}

impl Outcome {
    /// `None` if the binary passed; else the failing tests (`binary::test`), the stand-in's
    /// abort message with the test it happened in, valgrind's first error, or the hang.
    fn failure(&self, binary: &str) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        if self.status.success() && self.stop.is_none() {
            return None;
        }
        let mut parts = Vec::new();
        let Progress { failed, running } = progress(&self.output);
        if let Some((first, message)) = failed.first() {
            // The first failure with its panic message; the others by name.
            let mut shown = format!("{binary}::{first}");
            if let Some(message) = message {
                shown.push_str(&format!(" (\"{}\")", shorten(message, 80)));
            }
            for (name, _) in failed.iter().skip(1).take(2) {
                shown.push_str(&format!(", {binary}::{name}"));
            }
            if failed.len() > 3 {
                shown.push_str(&format!(" (+{} more)", failed.len() - 3));
            }
            parts.push(shown);
        }
        let running = running
            .map(|t| format!(" (in {binary}::{t})"))
            .unwrap_or_default();
        if self.stop == Some(Stopped::AtFirstFailure) {
            // The failed test says it all.
        } else if self.stop == Some(Stopped::Hung) {
            parts.push(format!(
                "hang: killed after {} s{running}",
                RUN_LIMIT.as_secs()
            ));
        } else if let Some(signal) = self.status.signal() {
            let message = self
                .output
                .lines()
                .filter_map(|l| l.split_once("vmnet-standin: ").map(|(_, m)| m))
                .rfind(|m| !m.starts_with("warning:"))
                .map_or_else(|| format!("signal {signal}"), str::to_owned);
            parts.push(format!("abort: {message}{running}"));
        } else if self.valgrind {
            if let Some(error) = self.valgrind_error(binary) {
                parts.push(format!("valgrind: {error}"));
            }
        }
        if parts.is_empty() {
            parts.push(format!("{binary}: {}", self.status));
        }
        let warning = self
            .output
            .lines()
            .find_map(|l| l.split_once("vmnet-standin: warning: ").map(|(_, m)| m));
        if let Some(warning) = warning {
            parts.push(format!("stand-in warning: \"{}\"", shorten(warning, 80)));
        }
        Some(parts.join("; "))
    }

    /// Valgrind's first error, with the innermost frame of this project's code and the test
    /// that was running when valgrind reported it.
    fn valgrind_error(&self, binary: &str) -> Option<String> {
        // (line number in the output, valgrind's text without its `==PID== ` prefix)
        let lines: Vec<(usize, &str)> = self
            .output
            .lines()
            .enumerate()
            .filter_map(|(n, l)| {
                let rest = l.strip_prefix("==")?;
                let (_pid, text) = rest.split_once("== ")?;
                Some((n, text))
            })
            .collect();
        // An error is a headline followed by its stack (`   at 0x…: function (file:line)`);
        // other lines (`Thread 3:`, blank ones) are context. Leaks that do not fail the run
        // (possibly lost, still reachable) are skipped.
        let start = lines.windows(2).position(|w| {
            let (headline, next) = (w[0].1, w[1].1);
            !headline.is_empty()
                && !headline.starts_with(' ')
                && !headline.contains("possibly lost")
                && !headline.contains("still reachable")
                && next.trim_start().starts_with("at 0x")
        })?;
        let (at, headline) = lines[start];
        let frame = lines[start + 1..]
            .iter()
            .map(|(_, l)| *l)
            .take_while(|l| l.starts_with(' '))
            .filter_map(|l| l.trim().split_once(": ").map(|(_, f)| f))
            .find(|f| f.contains("vmnet::"))
            .map(|f| f.split(" (").next().unwrap_or(f).to_owned());
        let before: Vec<&str> = self.output.lines().take(at).collect();
        let running = progress(&before.join("\n"))
            .running
            .map(|t| format!(" (in {binary}::{t})"))
            .unwrap_or_default();
        Some(match frame {
            Some(frame) => format!("{headline} in {frame}{running}"),
            None => format!("{headline}{running}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_finds_failures_their_messages_and_the_running_test() {
        let output = "\
running 4 tests
test a ... ok
test b ... vmnet-standin: warning: something
ok
test c ... 
thread 'c' (12) panicked at vmnet/tests/api.rs:3:5:
objects still alive on the stand-in after the test: 4 XPC objects
FAILED
test d ... FAILED
test e ... ";
        let p = progress(output);
        assert_eq!(
            p.failed,
            [
                (
                    "c".to_owned(),
                    Some(
                        "objects still alive on the stand-in after the test: 4 XPC objects".into()
                    )
                ),
                ("d".to_owned(), None)
            ]
        );
        assert_eq!(p.running.as_deref(), Some("e"));
        assert!(progress("test a ... ok\n").running.is_none());
    }

    #[test]
    fn an_abort_names_the_stand_in_message_and_the_test() {
        use std::os::unix::process::ExitStatusExt;
        let outcome = Outcome {
            status: std::process::ExitStatus::from_raw(6), // killed by SIGABRT
            stop: None,
            output: "test a ... ok\ntest b ... vmnet-standin: warning: late\n\
                     vmnet-standin: xpc_get_type on a released dictionary (use after release)\n"
                .to_owned(),
            valgrind: false,
        };
        assert_eq!(
            outcome.failure("api").as_deref(),
            Some(
                "abort: xpc_get_type on a released dictionary (use after release) \
                 (in api::b); stand-in warning: \"late\""
            )
        );
        let passed = Outcome {
            status: std::process::ExitStatus::from_raw(0),
            stop: None,
            output: "test a ... ok\n".to_owned(),
            valgrind: false,
        };
        assert_eq!(passed.failure("api"), None);
    }

    #[test]
    fn valgrind_errors_are_named_with_this_projects_frame() {
        use std::os::unix::process::ExitStatusExt;
        let outcome = Outcome {
            status: std::process::ExitStatus::from_raw(1 << 8), // exit code 1
            stop: None,
            output: "\
test w ... ok
test x ... 
==42== Thread 3:
==42== 34 bytes in 2 blocks are possibly lost in loss record 9 of 40
==42==    at 0x48417B4: malloc (in vgpreload_memcheck-amd64-linux.so)
==42==
==42== Invalid read of size 4
==42==    at 0x1234: std::sys::sync::mutex::futex::Mutex::lock (futex.rs:20)
==42==    by 0x5678: vmnet::backend::apple::completion::Completion<T>::complete (completion.rs:38)
==42==  Address 0x99 is 16 bytes inside a block of size 40 free'd
ok
"
            .to_owned(),
            valgrind: true,
        };
        assert_eq!(
            outcome.failure("standin_faults").as_deref(),
            Some(
                "valgrind: Invalid read of size 4 in \
                 vmnet::backend::apple::completion::Completion<T>::complete \
                 (in standin_faults::x)"
            )
        );
    }

    #[test]
    fn anchors_must_occur_exactly_once() {
        let tree = std::env::temp_dir().join(format!("xtask-mutants-{}", std::process::id()));
        write(&tree.join("a.rs"), b"one two two").unwrap();
        static ONCE: Mutation = Mutation {
            name: "once",
            about: "",
            edits: &[Edit {
                file: "a.rs",
                anchor: "one",
                replacement: "1",
            }],
            run: ALL,
        };
        static TWICE: Mutation = Mutation {
            name: "twice",
            about: "",
            edits: &[Edit {
                file: "a.rs",
                anchor: "two",
                replacement: "2",
            }],
            run: ALL,
        };
        static GONE: Mutation = Mutation {
            name: "gone",
            about: "",
            edits: &[Edit {
                file: "a.rs",
                anchor: "three",
                replacement: "3",
            }],
            run: ALL,
        };
        assert!(check_anchors(&tree, &[(0, &ONCE)]).is_ok());
        let err = check_anchors(&tree, &[(0, &ONCE), (1, &TWICE), (2, &GONE)]).unwrap_err();
        let _ = std::fs::remove_dir_all(&tree);
        assert!(!err.contains("#1 once"), "{err}");
        assert!(err.contains("#2 twice (edit 1): the anchor `two` occurs 2 times in a.rs"));
        assert!(err.contains("#3 gone (edit 1): the anchor `three` occurs 0 times in a.rs"));
    }

    #[test]
    fn mutations_have_distinct_names_and_real_edits() {
        let mut names = BTreeSet::new();
        for m in MUTATIONS {
            assert!(names.insert(m.name), "two mutations named {}", m.name);
            assert!(!m.edits.is_empty(), "{} changes nothing", m.name);
            for edit in m.edits {
                assert_ne!(edit.anchor, edit.replacement, "{}", m.name);
                assert!(!edit.anchor.is_empty(), "{}", m.name);
            }
            for binary in m.run.binaries {
                assert!(BINARIES.contains(binary), "{}: unknown {binary}", m.name);
            }
        }
    }
}

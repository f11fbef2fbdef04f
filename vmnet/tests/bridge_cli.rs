//! The `vmnet-bridge` binary as launchers use it: a socket passed as a descriptor (`--fd`),
//! privileges dropped, the listening socket's mode, group and lock, the `--json` output,
//! every interface option as a flag (checked by the library's rules, with its messages),
//! port forwarding while bridging, and a one-line error with a non-zero exit for each bad
//! input, before anything is bound or printed.
//!
//! The binary is a process of its own, whose network these tests cannot play: its network
//! sends the VM's frames back (`--sim-network reflect` on the simulator,
//! `VMNET_STANDIN_REFLECT=1` on the stand-in). What the binary should report is computed
//! here through the library on the same backend (its capabilities, bridgeable interfaces,
//! validation messages).
#![cfg(feature = "cli")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::{SOON, TempDir, frame};
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, geteuid};
use serde_json::Value;
use vmnet::bridge::encode_stream_frame;
use vmnet::{InterfaceConfig, MacAddr, Uuid};

/// Held while a child is spawned: a descriptor made inheritable for one child must not leak
/// into another test's child started at the same moment.
static SPAWN: Mutex<()> = Mutex::new(());

/// `vmnet-bridge` with `args`, its network reflecting frames, not under sudo's defaults.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmnet-bridge"));
    cmd.args(args)
        .env("VMNET_STANDIN_REFLECT", "1")
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A running `vmnet-bridge`, its stdout and stderr read line by line as they come.
struct Bridge {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// The stderr lines read so far.
    seen: Vec<String>,
}

/// Reads `from` line by line into a channel, on a thread of its own.
fn lines(from: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Bridge {
    /// Starts `vmnet-bridge args`, with `inherit` (if any) open in it under its own number.
    fn start(args: &[&str], inherit: Option<&dyn AsFd>) -> Bridge {
        let mut cmd = command(args);
        let guard = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fd) = inherit {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
        }
        let spawned = cmd.spawn();
        if let Some(fd) = inherit {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).unwrap();
        }
        drop(guard);
        let mut child = spawned.unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Bridge {
            child,
            stdout,
            stderr,
            seen: Vec::new(),
        }
    }

    /// The next JSON line on stdout.
    fn json(&mut self) -> Value {
        let Ok(line) = self.stdout.recv_timeout(SOON) else {
            panic!("no JSON line; stderr:\n{}", self.stderr_now());
        };
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The next JSON line whose `event` is `event`.
    fn event(&mut self, event: &str) -> Value {
        loop {
            let value = self.json();
            if value["event"] == event {
                return value;
            }
        }
    }

    /// Waits until stderr says (or has said) something containing `text`; returns that line.
    fn wait_log(&mut self, text: &str) -> String {
        let deadline = Instant::now() + SOON;
        let mut at = 0;
        loop {
            if let Some(line) = self.seen[at..].iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            at = self.seen.len();
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("vmnet-bridge never logged {text:?}: {:#?}", self.seen),
            }
        }
    }

    /// What stderr holds so far.
    fn stderr_now(&mut self) -> String {
        self.seen.extend(self.stderr.try_iter());
        self.seen.join("\n")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for a successful exit; returns the rest of stdout.
    fn stop(mut self) -> Vec<String> {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let status = wait(&mut self.child);
        assert!(status.success(), "{status}: {}", self.stderr_now());
        self.stdout.iter().collect()
    }

    /// Waits (bounded) for the bridge to exit by itself, successfully.
    fn exits(mut self) {
        let status = wait(&mut self.child);
        assert!(status.success(), "{status}: {}", self.stderr_now());
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + SOON;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "vmnet-bridge did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `vmnet-bridge args` (with `inherit` open in it) to its end and checks that it failed
/// the way bad input must: non-zero exit, one line on stderr, nothing bound, nothing on
/// stdout. Returns that line.
fn refused(args: &[&str], inherit: Option<&dyn AsFd>) -> String {
    let mut bridge = Bridge::start(args, inherit);
    let status = wait(&mut bridge.child);
    let stderr: Vec<String> = bridge.stderr.iter().collect();
    let stdout: Vec<String> = bridge.stdout.iter().collect();
    assert!(!status.success(), "{args:?} succeeded: {stderr:?}");
    assert!(
        status.code().is_some(),
        "{args:?}: killed by a signal: {status}"
    );
    assert!(stdout.is_empty(), "{args:?} printed {stdout:?}");
    assert_eq!(stderr.len(), 1, "{args:?}: not one line: {stderr:#?}");
    assert!(
        stderr[0].starts_with("vmnet-bridge: error: "),
        "{}",
        stderr[0]
    );
    stderr[0].clone()
}

/// A broadcast frame from a VM's (made-up) MAC address, tagged `tag`.
fn vm_frame(len: usize, tag: u8) -> Vec<u8> {
    frame(
        MacAddr::BROADCAST,
        MacAddr::new([2, 0, 0, 0, 0, 9]),
        len,
        tag,
    )
}

fn send_stream(vm: &mut UnixStream, frame: &[u8]) {
    let mut out = Vec::new();
    encode_stream_frame(frame, &mut out).unwrap();
    vm.write_all(&out).unwrap();
}

fn recv_stream(vm: &mut UnixStream) -> Vec<u8> {
    vm.set_read_timeout(Some(SOON)).unwrap();
    let mut prefix = [0u8; 4];
    vm.read_exact(&mut prefix).unwrap();
    let mut f = vec![0; u32::from_be_bytes(prefix) as usize];
    vm.read_exact(&mut f).unwrap();
    f
}

/// Connects to a listening bridge's stream socket, sends a frame and checks that the
/// network's reflection of it comes back.
fn stream_round_trip(socket: &Path, tag: u8) {
    let mut vm = UnixStream::connect(socket).unwrap();
    let sent = vm_frame(64, tag);
    send_stream(&mut vm, &sent);
    let got = recv_stream(&mut vm);
    assert_eq!(
        &got[12..],
        &sent[12..],
        "the frame came back through the bridge"
    );
}

fn wait_for(path: &Path, bridge: &mut Bridge) {
    let deadline = Instant::now() + SOON;
    while !path.exists() {
        if let Some(status) = bridge.child.try_wait().unwrap() {
            panic!(
                "vmnet-bridge exited early: {status}: {}",
                bridge.stderr_now()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The flags of a bridge in `mode` listening on `path` with `framing`.
fn listen_args<'a>(mode: &'a str, framing: &'a str, path: &'a str) -> Vec<&'a str> {
    vec![
        "--mode",
        mode,
        "--framing",
        framing,
        "--listen",
        "--socket",
        path,
    ]
}

/// `vmnet-bridge --listen` on a stream socket at `socket`, with `extra` flags, once it is
/// ready for the VM.
fn listening(socket: &Path, extra: &[&str]) -> Bridge {
    let path = socket.to_str().unwrap();
    let mut args = listen_args("shared", "stream", path);
    args.extend_from_slice(extra);
    let mut bridge = Bridge::start(&args, None);
    wait_for(socket, &mut bridge);
    bridge.wait_log("listening on");
    bridge
}

#[test]
fn an_inherited_stream_socket_is_bridged_with_its_framing_found() {
    let (mut vm, theirs) = UnixStream::pair().unwrap();
    let raw = theirs.as_raw_fd();
    let n = raw.to_string();
    let mut bridge = Bridge::start(&["--mode", "shared", "--fd", &n, "--json"], Some(&theirs));
    drop(theirs);
    let started = bridge.event("started");
    assert_eq!(started["socket"]["fd"], raw);
    assert_eq!(started["socket"]["framing"], "stream");
    assert!(started["socket"].get("path").is_none(), "{started}");
    bridge.wait_log(&format!("using descriptor {n} (stream framing)"));
    let sent = vm_frame(90, 0x33);
    send_stream(&mut vm, &sent);
    assert_eq!(&recv_stream(&mut vm)[12..], &sent[12..]);
    // The VM closing its end ends the bridge: there is no other connection to wait for.
    drop(vm);
    bridge.exits();
}

#[test]
fn an_inherited_datagram_socket_is_bridged_and_counted() {
    let (vm, theirs) = UnixDatagram::pair().unwrap();
    let n = theirs.as_raw_fd().to_string();
    let args = [
        "--mode",
        "host",
        "--fd",
        &n,
        "--framing",
        "datagram",
        "--json",
        "--stats-interval",
        "1",
    ];
    let mut bridge = Bridge::start(&args, Some(&theirs));
    drop(theirs);
    assert_eq!(bridge.event("started")["socket"]["framing"], "datagram");
    vm.set_read_timeout(Some(SOON)).unwrap();
    let sent = vm_frame(70, 0x44);
    vm.send(&sent).unwrap();
    let mut buf = [0u8; 2048];
    let n = vm.recv(&mut buf).unwrap();
    assert_eq!(&buf[12..n], &sent[12..]);
    // The datagram socket's buffers are reported, with the limit to raise if the system
    // capped them.
    let buffers = bridge.wait_log("socket buffers: send ");
    assert!(buffers.contains(" bytes, receive "), "{buffers}");
    if buffers.contains("capped") {
        assert!(buffers.contains("net.core.wmem_max"), "{buffers}");
    }
    // A report counts the frame each way; so does the final line.
    let deadline = Instant::now() + SOON;
    loop {
        let stats = bridge.event("stats");
        if stats["from_vm"]["packets"] == 1 && stats["to_vm"]["packets"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never counted: {stats}");
    }
    let rest = bridge.stop();
    let last: Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(last["event"], "final");
    assert_eq!(last["from_vm"]["packets"], 1);
    assert_eq!(last["from_vm"]["bytes"], 70);
    assert_eq!(last["peer_changes"], 0, "a socketpair has one peer");
}

#[test]
fn bad_descriptors_are_refused_on_one_line() {
    fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        [&["--mode", "shared"][..], extra].concat()
    }
    let e = refused(&with(&["--fd", "987"]), None);
    assert!(e.contains("--fd 987 is not an open descriptor"), "{e}");
    let e = refused(&with(&["--fd", "0"]), None);
    assert!(e.contains("--fd 0 is standard input"), "{e}");
    let e = refused(&with(&["--fd=-1"]), None);
    assert!(e.contains("--fd -1 is not a descriptor number"), "{e}");

    let file = std::fs::File::open("/dev/null").unwrap();
    let n = file.as_raw_fd().to_string();
    let e = refused(&with(&["--fd", &n]), Some(&file));
    assert!(
        e.contains(&format!("--fd {n}: the descriptor is not a socket")),
        "{e}"
    );

    let (_vm, theirs) = UnixDatagram::pair().unwrap();
    let n = theirs.as_raw_fd().to_string();
    let e = refused(&with(&["--fd", &n, "--framing", "stream"]), Some(&theirs));
    assert!(
        e.contains(&format!(
            "--fd {n} is a datagram socket but --framing stream was given"
        )),
        "{e}"
    );

    let dir = TempDir::new("cli-fd");
    let listener = UnixListener::bind(dir.path("l.sock")).unwrap();
    let n = listener.as_raw_fd().to_string();
    let e = refused(&with(&["--fd", &n]), Some(&listener));
    assert!(e.contains("listening stream socket"), "{e}");

    // Flags that cannot go together are usage errors (exit 2), on one line too.
    for args in [
        with(&["--fd", "3", "--socket", "/x"]),
        with(&["--fd", "3", "--listen"]),
        with(&["--framing", "stream"]),
    ] {
        let mut bridge = Bridge::start(&args, None);
        assert_eq!(wait(&mut bridge.child).code(), Some(2), "{args:?}");
        let stderr: Vec<String> = bridge.stderr.iter().collect();
        assert_eq!(stderr.len(), 1, "{stderr:#?}");
    }
}

#[test]
fn privileges_are_dropped_before_the_vm_is_served() {
    let nobody = User::from_name("nobody")
        .unwrap()
        .expect("a user named nobody");
    let dir = TempDir::new("cli-drop");
    let socket = dir.path("drop.sock");
    let path = socket.to_str().unwrap();
    if !geteuid().is_root() {
        // Only root can change user: asking is refused up front, nothing bound.
        let other = if nobody.uid == geteuid() {
            "0"
        } else {
            "nobody"
        };
        let args = listen_args("shared", "stream", path);
        let e = refused(&[&args[..], &["--user", other]].concat(), None);
        assert!(e.contains("cannot drop privileges to user"), "{e}");
        assert!(!socket.exists());
        return;
    }
    // Others may reach the socket only through the directory.
    std::fs::set_permissions(dir.path(""), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut bridge = listening(&socket, &["--user", "nobody", "--json"]);
    let line = bridge.wait_log("dropped privileges");
    assert!(
        line.contains(&format!(
            "dropped privileges to user nobody (uid {}), group ",
            nobody.uid
        )) && line.ends_with(&format!("(gid {})", nobody.gid)),
        "{line}"
    );
    let started = bridge.event("started");
    assert_eq!(started["uid"], nobody.uid.as_raw());
    assert_eq!(started["gid"], nobody.gid.as_raw());
    // The process itself runs as nobody, real, effective and saved ids alike.
    let status = std::fs::read_to_string(format!("/proc/{}/status", bridge.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let ids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
    assert!(
        ids.iter().all(|id| *id == nobody.uid.to_string()),
        "{uid_line}"
    );
    // The socket is nobody's, private to it, and the bridge serves it as nobody.
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (nobody.uid.as_raw(), nobody.gid.as_raw())
    );
    assert_eq!(meta.mode() & 0o777, 0o600);
    stream_round_trip(&socket, 1);
    bridge.stop();
}

#[test]
fn the_socket_gets_its_mode_and_group() {
    let dir = TempDir::new("cli-mode");
    let socket = dir.path("mode.sock");
    let bridge = listening(&socket, &[]);
    assert_eq!(
        std::fs::metadata(&socket).unwrap().mode() & 0o777,
        0o600,
        "default"
    );
    bridge.stop();

    let group = nix::unistd::getgid().as_raw().to_string();
    let bridge = listening(
        &socket,
        &["--socket-mode", "0660", "--socket-group", &group],
    );
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.gid().to_string(), group);
    stream_round_trip(&socket, 2);
    bridge.stop();
    assert!(!socket.exists(), "removed at exit");
    assert!(!dir.path("mode.sock.lock").exists(), "its lock too");

    let path = socket.to_str().unwrap();
    let listen = listen_args("shared", "stream", path);
    let e = refused(&[&listen[..], &["--socket-mode", "0800"]].concat(), None);
    assert!(e.contains("expected permission bits in octal"), "{e}");
    let e = refused(
        &[&listen[..], &["--socket-group", "no-such-group-vmnet"]].concat(),
        None,
    );
    assert!(
        e.ends_with("--socket-group no-such-group-vmnet: no such group"),
        "{e}"
    );
    let connect = ["--mode", "shared", "--framing", "stream", "--socket", path];
    let e = refused(&[&connect[..], &["--socket-mode", "0660"]].concat(), None);
    assert!(e.contains("apply to a socket vmnet-bridge binds"), "{e}");
}

#[test]
fn a_second_bridge_on_a_served_path_names_the_first_and_leaves_it_alone() {
    let dir = TempDir::new("cli-lock");
    let socket = dir.path("lock.sock");
    let first = listening(&socket, &[]);
    let lock = std::fs::read_to_string(dir.path("lock.sock.lock")).unwrap();
    assert_eq!(
        lock.trim(),
        first.pid().to_string(),
        "the lock holds the PID"
    );
    let path = socket.to_str().unwrap();
    let args = listen_args("shared", "stream", path);
    let e = refused(&args, None);
    assert!(
        e.contains(&format!(
            "{path} is served by vmnet-bridge pid {}",
            first.pid()
        )),
        "{e}"
    );
    // The first one still has its socket and serves it.
    assert!(socket.exists());
    stream_round_trip(&socket, 3);
    first.stop();
}

#[test]
fn the_socket_path_appears_only_when_it_accepts_connections() {
    let dir = TempDir::new("cli-ready");
    let socket = dir.path("ready.sock");
    let staged = dir.path("ready.sock.new");
    // A staged socket a killed bridge left behind is replaced, not refused.
    drop(UnixListener::bind(&staged).unwrap());
    let path = socket.to_str().unwrap();
    for round in 0..5u8 {
        let mut bridge = Bridge::start(&listen_args("shared", "stream", path), None);
        // Connect the moment the file exists, as a launcher that waits for it would.
        let deadline = Instant::now() + SOON;
        while !socket.exists() {
            assert!(bridge.child.try_wait().unwrap().is_none(), "exited early");
            assert!(Instant::now() < deadline, "{path} never appeared");
            std::thread::sleep(Duration::from_micros(200));
        }
        let connected = UnixStream::connect(&socket);
        assert!(connected.is_ok(), "round {round}: {connected:?}");
        assert!(!staged.exists(), "the staged name is gone once in place");
        drop(connected);
        bridge.wait_log("listening on");
        stream_round_trip(&socket, round);
        bridge.stop();
        assert!(!socket.exists(), "removed at exit");
    }
}

#[test]
fn a_path_too_long_to_stage_is_bound_directly() {
    let dir = TempDir::new("cli-long");
    // sun_path holds 107 bytes and a NUL on Linux (103 on macOS): a path of 105 fits, the
    // staged name (4 bytes more) does not.
    let base = dir.path("").to_str().unwrap().len();
    let limit = if cfg!(target_os = "linux") { 105 } else { 101 };
    let socket = dir.path(&"s".repeat(limit - base));
    assert_eq!(socket.to_str().unwrap().len(), limit);
    let bridge = listening(&socket, &[]);
    stream_round_trip(&socket, 9);
    bridge.stop();
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_never() {
    let dir = TempDir::new("cli-stale");
    // A socket file nothing serves any more (its process went away without removing it).
    let stale = dir.path("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let bridge = listening(&stale, &[]);
    stream_round_trip(&stale, 4);
    bridge.stop();

    // A socket another program serves, with no lock beside it: left alone, in both types.
    let live = dir.path("live.sock");
    let path = live.to_str().unwrap();
    let args = listen_args("shared", "datagram", path);
    let foreign = UnixDatagram::bind(&live).unwrap();
    let e = refused(&args, None);
    assert!(e.contains("is a socket another process serves"), "{e}");
    let probe = UnixDatagram::unbound().unwrap();
    probe.send_to(b"still there", &live).unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(
        foreign.recv(&mut buf).unwrap(),
        11,
        "the foreign socket still works"
    );
    drop(foreign);
    std::fs::remove_file(&live).unwrap();
    let _foreign = UnixListener::bind(&live).unwrap();
    let e = refused(&args, None);
    assert!(e.contains("is a socket another process serves"), "{e}");
    assert!(
        UnixStream::connect(&live).is_ok(),
        "the foreign listener still works"
    );

    let file = dir.path("file");
    std::fs::write(&file, b"").unwrap();
    let e = refused(
        &listen_args("shared", "stream", file.to_str().unwrap()),
        None,
    );
    assert!(e.contains("exists and is not a socket"), "{e}");
}

#[test]
fn json_reports_the_interface_its_rules_and_counters() {
    let dir = TempDir::new("cli-json");
    let socket = dir.path("json.sock");
    let id = Uuid::from_u128(0x5a4e_0b7e_1111_2222_3333_4444_5555_6666);
    let flags = [
        "--json",
        "--stats-interval",
        "1",
        "--interface-id",
        &id.to_string(),
        "--start-address",
        "192.168.77.1",
        "--end-address",
        "192.168.77.50",
        "--subnet-mask",
        "255.255.255.0",
        "--nat66-prefix",
        "fd00:77:1:2::",
        "--mtu",
        "4000",
        "--forward",
        "tcp:8080:192.168.77.5:22",
    ];
    // IPv6 rules from macOS 12 (the stand-in runs older levels too).
    let ipv6 = vmnet::capabilities().has(vmnet::Feature::IpPortForwarding);
    let v6_rule = ["--forward", "udp:5353:[fd00:77:1:2::5]:53"];
    let flags = [&flags[..], if ipv6 { &v6_rule[..] } else { &[] }].concat();
    let mut bridge = listening(&socket, &flags);
    let started = bridge.event("started");
    // What the library reports for the same configuration on this backend.
    let config = InterfaceConfig::shared()
        .with_interface_id(id)
        .with_address_range(
            "192.168.77.1".parse().unwrap(),
            "192.168.77.50".parse().unwrap(),
            "255.255.255.0".parse().unwrap(),
        )
        .with_nat66_prefix("fd00:77:1:2::".parse().unwrap())
        .with_mtu(4000);
    let net = common::backend::Net::new();
    let iface = net.start(&config).unwrap();
    let params = iface.parameters();
    assert_eq!(started["mode"], "shared");
    assert_eq!(started["pid"], bridge.pid());
    assert_eq!(started["mtu"], params.mtu());
    assert_eq!(started["max_packet_size"], params.max_packet_size());
    assert_eq!(
        started["mac_address"],
        params.mac_address().unwrap().to_string()
    );
    assert_eq!(started["interface_id"], id.to_string());
    assert_eq!(started["dhcp"]["start"], "192.168.77.1");
    assert_eq!(started["dhcp"]["end"], "192.168.77.50");
    assert_eq!(started["dhcp"]["subnet_mask"], "255.255.255.0");
    assert_eq!(started["nat66_prefix"], "fd00:77:1:2::");
    assert_eq!(started["socket"]["path"], socket.to_str().unwrap());
    assert_eq!(started["socket"]["listen"], true);
    let caps: Vec<String> = net
        .capabilities()
        .iter_names()
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    assert_eq!(started["capabilities"], serde_json::json!(caps));
    // The rules as the running interface lists them back, in any order.
    let mut rules: Vec<String> = started["forwarding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{}:{}",
                r["protocol"].as_str().unwrap(),
                r["host_port"],
                r["guest_address"].as_str().unwrap(),
                r["guest_port"]
            )
        })
        .collect();
    rules.sort();
    let expected = ["tcp:8080:192.168.77.5:22", "udp:5353:fd00:77:1:2::5:53"];
    assert_eq!(rules, expected[..if ipv6 { 2 } else { 1 }]);
    drop(iface);

    // Reports come while a VM is connected.
    let mut vm = UnixStream::connect(&socket).unwrap();
    let sent = vm_frame(64, 5);
    send_stream(&mut vm, &sent);
    assert_eq!(&recv_stream(&mut vm)[12..], &sent[12..]);
    let deadline = Instant::now() + SOON;
    while bridge.event("stats")["from_vm"]["packets"] != 1 {
        assert!(Instant::now() < deadline, "the frame was never counted");
    }
    drop(vm);
    let rest = bridge.stop();
    let last: Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(last["event"], "final");
    assert_eq!(last["from_vm"]["packets"], 1);
    assert_eq!(last["to_vm"]["packets"], 1);
}

#[test]
fn interface_options_reach_the_interface() {
    let dir = TempDir::new("cli-options");
    let socket = dir.path("opts.sock");
    let network = Uuid::from_u128(7).to_string();
    let mut args = listen_args("host", "stream", socket.to_str().unwrap());
    args.extend_from_slice(&[
        "--json",
        "--network-identifier",
        &network,
        "--host-address",
        "10.9.8.1",
        "--host-subnet-mask",
        "255.255.255.0",
        "--host-ipv6-address",
        "fd00:9::1",
        "--isolation",
        "--tso",
        "--allocate-mac-address",
        "false",
    ]);
    let mut bridge = Bridge::start(&args, None);
    let started = bridge.event("started");
    assert_eq!(started["mode"], "host");
    assert_eq!(started["isolation"], true);
    assert_eq!(started["offloads"]["tso"], true);
    assert_eq!(started["mac_address"], Value::Null, "no MAC allocated");
    let tso = common::backend::Net::new()
        .start(&InterfaceConfig::host().with_tso(true))
        .unwrap()
        .parameters()
        .max_packet_size();
    assert_eq!(started["max_packet_size"], tso);
    bridge.stop();

    if vmnet::capabilities().has(vmnet::Feature::VirtioHeader) {
        let mut bridge = listening(&socket, &["--json", "--virtio-header"]);
        assert_eq!(bridge.event("started")["offloads"]["virtio_header"], true);
        bridge.stop();
    }
}

#[test]
fn every_interface_option_is_checked_by_the_library_rules_first() {
    let dir = TempDir::new("cli-rules");
    let socket = dir.path("rules.sock");
    let path = socket.to_str().unwrap();
    let bridgeable = vmnet::bridgeable_interfaces().unwrap();
    let caps = vmnet::capabilities();
    let shared = InterfaceConfig::shared;
    let host = InterfaceConfig::host;
    let ip = |s: &str| s.parse().unwrap();
    let cases: Vec<(Vec<&str>, InterfaceConfig)> = vec![
        (
            vec!["--mode", "shared", "--mtu", "99"],
            shared().with_mtu(99),
        ),
        (
            vec!["--mode", "shared", "--start-address", "192.168.9.1"],
            shared().with_start_address(ip("192.168.9.1")),
        ),
        (
            vec![
                "--mode",
                "host",
                "--start-address",
                "192.168.9.9",
                "--end-address",
                "192.168.9.2",
                "--subnet-mask",
                "255.255.255.0",
            ],
            host().with_address_range(ip("192.168.9.9"), ip("192.168.9.2"), ip("255.255.255.0")),
        ),
        (
            vec!["--mode", "shared", "--nat66-prefix", "2001:db8::"],
            shared().with_nat66_prefix("2001:db8::".parse().unwrap()),
        ),
        (
            vec!["--mode", "host", "--nat66-prefix", "fd00::"],
            host().with_nat66_prefix("fd00::".parse().unwrap()),
        ),
        (
            vec![
                "--mode",
                "host",
                "--host-address",
                "10.0.0.1",
                "--host-subnet-mask",
                "255.0.0.0",
            ],
            host()
                .with_host_address(ip("10.0.0.1"))
                .with_host_subnet_mask(ip("255.0.0.0")),
        ),
        (
            vec![
                "--mode",
                "shared",
                "--network-identifier",
                "00000000-0000-0000-0000-000000000007",
            ],
            shared().with_network_identifier(Uuid::from_u128(7)),
        ),
        (
            vec!["--mode", "shared", "--virtio-header", "--checksum-offload"],
            shared()
                .with_virtio_header(true)
                .with_checksum_offload(true),
        ),
        (
            vec![
                "--mode",
                "bridged",
                "--interface",
                &bridgeable[0],
                "--mtu",
                "1500",
            ],
            InterfaceConfig::bridged(bridgeable[0].clone()).with_mtu(1500),
        ),
    ];
    for (flags, config) in cases {
        let expected = config.validate(caps).unwrap_err().report().to_string();
        let args = [
            &flags[..],
            &[
                "--framing",
                "stream",
                "--listen",
                "--socket",
                path,
                "--json",
            ],
        ]
        .concat();
        let e = refused(&args, None);
        assert_eq!(e, format!("vmnet-bridge: error: {expected}"), "{flags:?}");
        assert!(
            !socket.exists(),
            "{flags:?}: nothing is bound before the check"
        );
    }
}

#[test]
fn bridged_mode_takes_only_an_interface_vmnet_can_bridge_to() {
    let dir = TempDir::new("cli-bridged");
    let socket = dir.path("bridged.sock");
    let path = socket.to_str().unwrap();
    let listen = [
        "--framing",
        "stream",
        "--listen",
        "--socket",
        path,
        "--json",
    ];
    let bridgeable = vmnet::bridgeable_interfaces().unwrap();
    let e = refused(
        &[
            &["--mode", "bridged", "--interface", "nosuch0"][..],
            &listen,
        ]
        .concat(),
        None,
    );
    assert!(
        e.ends_with(&format!(
            "--interface nosuch0: vmnet cannot bridge to \"nosuch0\"; the interfaces it can \
             bridge to are: {}",
            bridgeable.join(", ")
        )),
        "{e}"
    );
    let mut bridge = Bridge::start(
        &[
            &["--mode", "bridged", "--interface", &bridgeable[0]][..],
            &listen,
        ]
        .concat(),
        None,
    );
    assert_eq!(bridge.event("started")["mode"], "bridged");
    bridge.stop();
}

#[test]
fn forwarding_rules_are_checked_before_anything_starts() {
    let dir = TempDir::new("cli-forward");
    let socket = dir.path("fwd.sock");
    let path = socket.to_str().unwrap();
    let listen = ["--framing", "stream", "--listen", "--socket", path];
    let with = |mode: &str, rules: &[&str]| {
        let mut args = vec!["--mode", mode];
        args.extend_from_slice(&listen);
        for rule in rules {
            args.extend_from_slice(&["--forward", rule]);
        }
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, None)
    };
    for bad in [
        "tcp:8080",
        "icmp:1:192.168.64.5:22",
        "tcp:8080:fd00::5:22",
        "tcp:0:10.0.0.1:1",
    ] {
        let e = run(with("shared", &[bad]));
        assert!(
            e.contains("expected PROTO:HOST_PORT:ADDRESS:PORT"),
            "{bad}: {e}"
        );
    }
    let e = run(with("host", &["tcp:8080:192.168.64.5:22"]));
    assert!(e.contains("--forward needs --mode shared"), "{e}");
    let e = run(with(
        "shared",
        &["tcp:8080:192.168.64.5:22", "tcp:8080:192.168.64.6:80"],
    ));
    assert!(
        e.contains("use the same protocol, host port and address family"),
        "{e}"
    );
    assert!(!socket.exists());
}

#[test]
fn users_and_groups_that_do_not_exist_are_refused_up_front() {
    let args = [
        "--mode",
        "shared",
        "--framing",
        "stream",
        "--socket",
        "/nonexistent",
    ];
    let e = refused(
        &[&args[..], &["--user", "no-such-user-vmnet"]].concat(),
        None,
    );
    assert!(
        e.ends_with("--user no-such-user-vmnet: no such user"),
        "{e}"
    );
    let e = refused(
        &[
            &args[..],
            &["--user", "0", "--group", "no-such-group-vmnet"],
        ]
        .concat(),
        None,
    );
    assert!(
        e.ends_with("--group no-such-group-vmnet: no such group"),
        "{e}"
    );
    let e = refused(&[&args[..], &["--group", "0"]].concat(), None);
    assert!(e.contains("--group needs --user"), "{e}");
}

#[test]
fn a_restarted_datagram_vm_is_served_and_the_change_counted() {
    let dir = TempDir::new("cli-restart");
    let socket = dir.path("dgram.sock");
    let path = socket.to_str().unwrap();
    let args = listen_args("shared", "datagram", path);
    let mut bridge = Bridge::start(&[&args[..], &["--json"]].concat(), None);
    bridge.event("started");
    for (round, name) in ["vm1.sock", "vm2.sock"].into_iter().enumerate() {
        // Each VM binds its own address; the first is gone before the second speaks.
        let vm = UnixDatagram::bind(dir.path(name)).unwrap();
        vm.connect(&socket).unwrap();
        vm.set_read_timeout(Some(SOON)).unwrap();
        let sent = vm_frame(60, round as u8);
        vm.send(&sent).unwrap();
        let mut buf = [0u8; 2048];
        let n = vm
            .recv(&mut buf)
            .expect("the reflected frame reaches this VM");
        assert_eq!(&buf[12..n], &sent[12..]);
    }
    let rest = bridge.stop();
    let last: Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(last["event"], "final");
    assert_eq!(last["to_vm"]["packets"], 2);
    assert_eq!(last["peer_changes"], 1, "{last}");
}

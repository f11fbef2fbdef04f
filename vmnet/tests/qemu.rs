//! A real VMM through `vmnet-bridge`: QEMU network-boots iPXE from its virtio-net ROM (TCG,
//! `-boot n`) through the binary on the simulator, in both framings, and VMs restarted one
//! after another on one datagram bridge.
//!
//! The bridge's simulated network (`--sim-network reflect`, the default) sends every frame the
//! VM sends back to the interface's MAC address from the simulated gateway, MAC addresses
//! rewritten and nothing else. So iPXE's DHCP DISCOVER reached the simulated network intact,
//! and the network's frames reached QEMU, when QEMU's `filter-dump` pcap of its netdev holds
//! the DISCOVER as sent and, after it, a frame to the guest with the same bytes past the MAC
//! addresses.
//!
//! The tests need `qemu-system-x86_64` and iPXE's ROMs (Debian: `qemu-system-x86`,
//! `ipxe-qemu`) and take seconds to minutes under TCG, so they are `#[ignore]`d: `cargo test`
//! passes over them on a machine without QEMU, and `.ci/run` runs them with `--ignored`, where
//! a missing QEMU fails with a message saying what to install.
#![cfg(feature = "cli")]

mod common;

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{SOON, TempDir};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use pcap_file::DataLink;
use pcap_file::pcap::PcapParser;
use vmnet::MacAddr;
use vmnet::bridge::BridgeStats;

const QEMU: &str = "qemu-system-x86_64";
const INSTALL: &str = "install Debian's qemu-system-x86 and ipxe-qemu \
                       (apt-get install qemu-system-x86 ipxe-qemu)";

/// From QEMU's start to iPXE's DHCP DISCOVER and its reflection in the dump: about 3 s on an
/// idle 2-core machine under TCG, much longer while other builds run.
const FRAMES_WITHIN: Duration = Duration::from_secs(90);
/// How long timeout(1) lets a QEMU live at all, should this test die without stopping it.
const QEMU_BOUND: Duration = Duration::from_secs(300);
/// The same for the bridge, which outlives up to three QEMUs.
const BRIDGE_BOUND: Duration = Duration::from_secs(900);
/// What iPXE prints once none of its DHCP attempts (about 15 s of them) got an answer.
const IPXE_GAVE_UP: &str = "No configuration methods";
/// How long after iPXE gave up a frame already on its way may still show in the dump.
const GIVE_UP_GRACE: Duration = Duration::from_secs(2);
/// How often the dump and the bridge's stderr are read while waiting.
const POLL: Duration = Duration::from_millis(200);

/// A process run under timeout(1), so that it ends within its bound even if this test is
/// killed, and killed on drop with its process group (timeout(1) makes one, holding the
/// process), so that a failing assertion leaves no QEMU or bridge behind.
struct Bounded {
    name: String,
    child: Child,
}

impl Bounded {
    /// Starts `program` with `args` under timeout(1) with `bound`, its stdout and stderr
    /// written to `stdout` and `stderr`.
    fn spawn(
        name: &str,
        bound: Duration,
        program: &str,
        args: &[OsString],
        stdout: &Path,
        stderr: &Path,
    ) -> Self {
        let child = Command::new("timeout")
            .arg("--kill-after=5")
            .arg(bound.as_secs().to_string())
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(stdout).unwrap())
            .stderr(File::create(stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} under timeout(1): {e}"));
        Self {
            name: name.to_owned(),
            child,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// Its exit status, once it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Sends SIGTERM, which timeout(1) passes on, and waits (bounded) for the exit.
    fn terminate(&mut self) -> ExitStatus {
        if self.exited().is_none() {
            // Not reaped yet, so the pid is still ours.
            kill(self.pid(), Signal::SIGTERM).unwrap();
        }
        let deadline = Instant::now() + SOON;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {SOON:?} of SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bounded {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // timeout(1) is not reaped, so its pid still names its process group.
            let _ = killpg(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Fails the test, saying what to install, if QEMU cannot be run.
fn require_qemu() {
    match Command::new(QEMU).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{QEMU} --version` failed ({}): {}; {INSTALL}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("cannot run {QEMU} ({e}): {INSTALL}"),
    }
}

/// A file's text, so far (empty if it does not exist yet).
fn text(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// The last `max` bytes or so of a file's text, for failure messages.
fn tail(path: &Path, max: usize) -> String {
    let text = text(path);
    let start = (text.len().saturating_sub(max)..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

/// The bridge's counters from one of its report lines (the `Display` of [`BridgeStats`]:
/// `to VM: N packets, N bytes, N dropped; from VM: …; malformed: N; protocol errors: N; peer
/// changes: N`, and any further counters, which these tests do not read).
fn parse_stats(line: &str) -> Option<BridgeStats> {
    let report = &line[line.find("to VM: ")?..];
    let mut stats = BridgeStats::default();
    let mut read = 0;
    for part in report.split("; ") {
        let (label, values) = part.split_once(": ")?;
        // "N packets, N bytes, N dropped" or "N"
        let numbers: Vec<u64> = values
            .split(", ")
            .map(|value| value.split(' ').next()?.parse().ok())
            .collect::<Option<_>>()?;
        let direction = match label {
            "to VM" => Some(&mut stats.to_vm),
            "from VM" => Some(&mut stats.from_vm),
            _ => None,
        };
        match (direction, &numbers[..]) {
            (Some(d), &[packets, bytes, drops]) => {
                (d.packets, d.bytes, d.drops) = (packets, bytes, drops);
            }
            (None, &[n]) if label == "malformed" => stats.malformed = n,
            (None, &[n]) if label == "protocol errors" => stats.protocol_errors = n,
            (None, &[n]) if label == "peer changes" => stats.peer_changes = n,
            (Some(_), _) => return None,
            (None, _) => continue,
        }
        read += 1;
    }
    (read == 5).then_some(stats)
}

/// `vmnet-bridge --listen` on the simulator, reporting its counters every second.
struct Bridge {
    process: Bounded,
    socket: PathBuf,
    stderr: PathBuf,
    /// The interface's MAC address, which the VM uses (as with vmnet).
    mac: MacAddr,
}

impl Bridge {
    fn start(dir: &TempDir, framing: &str) -> Self {
        let socket = dir.path("bridge.sock");
        let stderr = dir.path("bridge.stderr");
        let mut args: Vec<OsString> = [
            "--mode",
            "shared",
            "--listen",
            "--framing",
            framing,
            "--stats-interval",
            "1",
            "--socket",
        ]
        .map(OsString::from)
        .into();
        args.push(socket.clone().into());
        let mut process = Bounded::spawn(
            "vmnet-bridge",
            BRIDGE_BOUND,
            env!("CARGO_BIN_EXE_vmnet-bridge"),
            &args,
            &dir.path("bridge.stdout"),
            &stderr,
        );
        // Ready once it has bound the socket and started the interface, whose MAC address
        // (the only one it prints) it says as it starts.
        let deadline = Instant::now() + SOON;
        let mac = loop {
            let text = text(&stderr);
            let mac = text
                .split(|c: char| c.is_whitespace() || c == ',')
                .find_map(|word| word.parse().ok());
            if let (Some(mac), true) = (mac, socket.exists()) {
                break mac;
            }
            if let Some(status) = process.exited() {
                panic!("vmnet-bridge exited ({status}) before it was ready:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "vmnet-bridge had not bound {} and printed a MAC address within {SOON:?}:\n{text}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            process,
            socket,
            stderr,
            mac,
        }
    }

    /// What it printed, but of its periodic reports only the latest.
    fn log(&self) -> String {
        let text = text(&self.stderr);
        let lines: Vec<&str> = text.lines().collect();
        let last_report = lines.iter().rposition(|line| parse_stats(line).is_some());
        let kept = lines
            .iter()
            .enumerate()
            .filter(|&(i, line)| Some(i) == last_report || parse_stats(line).is_none());
        kept.map(|(_, line)| format!("{line}\n")).collect()
    }

    /// The counters of its latest report.
    fn counters(&self) -> Option<BridgeStats> {
        let text = text(&self.stderr);
        text.lines().rev().find_map(parse_stats)
    }

    /// Waits (bounded) until its reported counters satisfy `ok`.
    fn wait_counters(&self, what: &str, ok: impl Fn(&BridgeStats) -> bool) -> BridgeStats {
        let deadline = Instant::now() + SOON;
        loop {
            if let Some(counters) = self.counters().filter(|c| ok(c)) {
                return counters;
            }
            assert!(
                Instant::now() < deadline,
                "the bridge's counters never showed {what} within {SOON:?}:\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Stops it with SIGTERM; checks that it exited successfully and returns its final
    /// counters (over every VM it served).
    fn stop(mut self) -> BridgeStats {
        let status = self.process.terminate();
        let log = self.log();
        assert!(status.success(), "vmnet-bridge: {status}\n{log}");
        let last = log.lines().last().unwrap_or_default();
        assert!(last.contains("final: "), "{log}");
        parse_stats(last).unwrap_or_else(|| panic!("no counters in {last:?}"))
    }
}

/// A path in QEMU's option syntax, where a comma is written twice.
fn qemu_path(path: &Path) -> String {
    path.to_str().unwrap().replace(',', ",,")
}

/// QEMU's side of the bridge's socket.
enum Netdev {
    /// `-netdev stream`, connecting to the bridge's listening socket.
    Stream,
    /// `-netdev dgram` from a socket bound at this path to the bridge's.
    Datagram(PathBuf),
}

/// A QEMU network-booting iPXE, its netdev dumped to a pcap file.
struct Qemu {
    process: Bounded,
    dump: PathBuf,
    console: PathBuf,
    stderr: PathBuf,
}

impl Qemu {
    /// Starts a QEMU named `name` (the prefix of its files in `dir`) with the bridge's MAC
    /// address, on `netdev` to `bridge`.
    fn start(dir: &TempDir, name: &str, bridge: &Bridge, netdev: Netdev) -> Self {
        let dump = dir.path(&format!("{name}.pcap"));
        let console = dir.path(&format!("{name}.console"));
        let stderr = dir.path(&format!("{name}.stderr"));
        let remote = qemu_path(&bridge.socket);
        let netdev = match netdev {
            Netdev::Stream => {
                format!("stream,id=n0,server=off,addr.type=unix,addr.path={remote}")
            }
            Netdev::Datagram(local) => format!(
                "dgram,id=n0,local.type=unix,local.path={},remote.type=unix,remote.path={remote}",
                qemu_path(&local)
            ),
        };
        let args: Vec<OsString> = [
            "-machine",
            "accel=tcg",
            "-nographic",
            "-m",
            "128",
            "-no-reboot",
            "-boot",
            "n",
            "-device",
            &format!("virtio-net-pci,netdev=n0,mac={}", bridge.mac),
            "-netdev",
            &netdev,
            "-object",
            &format!("filter-dump,id=f0,netdev=n0,file={}", qemu_path(&dump)),
        ]
        .map(OsString::from)
        .into();
        let process = Bounded::spawn(name, QEMU_BOUND, QEMU, &args, &console, &stderr);
        Self {
            process,
            dump,
            console,
            stderr,
        }
    }

    /// Waits (bounded by [`FRAMES_WITHIN`]) until the dump shows iPXE's DHCP DISCOVER sent
    /// and reflected back by the network through `bridge`, then checks every frame in it (see
    /// [`Dump::check`]). Fails as soon as QEMU exits or iPXE gives up on DHCP.
    fn wait_for_dhcp(&mut self, bridge: &Bridge) -> Dump {
        let t0 = Instant::now();
        let mut gave_up: Option<Instant> = None;
        loop {
            let dump = Dump::read(&self.dump, bridge.mac);
            if let Some(back) = dump.reflected_discover() {
                dump.check(source(back));
                eprintln!(
                    "{}: DHCP DISCOVER out and back after {:.1?} ({} frames sent, {} received)",
                    self.process.name,
                    t0.elapsed(),
                    dump.sent.len(),
                    dump.received.len()
                );
                return dump;
            }
            let stderr = tail(&self.stderr, 4000);
            let why = if let Some(status) = self.process.exited() {
                let hint = if stderr.contains("romfile") {
                    format!(" (no iPXE ROM: {INSTALL})")
                } else {
                    String::new()
                };
                Some(format!("QEMU exited ({status}){hint}"))
            } else if gave_up.is_some_and(|at| at.elapsed() > GIVE_UP_GRACE) {
                Some("iPXE gave up on DHCP: none of its DISCOVERs came back".to_owned())
            } else if t0.elapsed() > FRAMES_WITHIN {
                Some(format!("nothing within {FRAMES_WITHIN:?}"))
            } else {
                None
            };
            if let Some(why) = why {
                panic!(
                    "{}: no DHCP DISCOVER out and back: {why}\n{dump}\nbridge: {}\n\
                     QEMU's stderr: {stderr}\nconsole: {}",
                    self.process.name,
                    bridge.log(),
                    tail(&self.console, 2000)
                );
            }
            // iPXE's console wraps at 80 columns, so only the start of its line is matched.
            if gave_up.is_none() && text(&self.console).contains(IPXE_GAVE_UP) {
                gave_up = Some(Instant::now());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops it (SIGTERM, as a person quitting it would) and waits for it to go.
    fn stop(mut self) {
        self.process.terminate();
    }
}

/// The frames in a dump of QEMU's netdev, in order, told apart by their source address:
/// filter-dump records both directions alike, but a frame from the guest's MAC was sent by
/// the guest, since the network never sends one (its frames come from the gateway's); every
/// other frame was received.
struct Dump {
    guest: MacAddr,
    /// (position in the dump, frame)
    sent: Vec<(usize, Vec<u8>)>,
    received: Vec<(usize, Vec<u8>)>,
}

fn destination(frame: &[u8]) -> MacAddr {
    MacAddr::new(frame[..6].try_into().unwrap())
}

fn source(frame: &[u8]) -> MacAddr {
    MacAddr::new(frame[6..12].try_into().unwrap())
}

impl Dump {
    /// The dump so far (QEMU writes it as frames pass: a record cut short at the end is left
    /// for the next read).
    fn read(path: &Path, guest: MacAddr) -> Self {
        let mut dump = Dump {
            guest,
            sent: Vec::new(),
            received: Vec::new(),
        };
        let bytes = std::fs::read(path).unwrap_or_default();
        let Ok((mut rest, parser)) = PcapParser::new(&bytes) else {
            return dump; // not even the header yet
        };
        assert_eq!(parser.header().datalink, DataLink::ETHERNET);
        let mut position = 0;
        while let Ok((next, packet)) = parser.next_packet(rest) {
            rest = next;
            let frame = packet.data.into_owned();
            assert_eq!(packet.orig_len as usize, frame.len(), "dumped whole");
            assert!(frame.len() >= 14, "a runt in the dump: {frame:02x?}");
            if source(&frame) == guest {
                dump.sent.push((position, frame));
            } else {
                dump.received.push((position, frame));
            }
            position += 1;
        }
        dump
    }

    /// What came back from the network for the first DHCP DISCOVER the guest broadcast that
    /// came back: a frame after it in the dump with the same bytes past the MAC addresses.
    fn reflected_discover(&self) -> Option<&[u8]> {
        self.sent
            .iter()
            .filter(|(_, f)| destination(f) == MacAddr::BROADCAST && is_dhcp_discover(f))
            .find_map(|(at, sent)| {
                let (_, back) = self
                    .received
                    .iter()
                    .find(|(back_at, back)| back_at > at && back[12..] == sent[12..])?;
                Some(&back[..])
            })
    }

    /// Every frame the guest received is one it sent before, MAC addresses rewritten (to the
    /// guest, from `gateway`) and every other byte intact.
    fn check(&self, gateway: MacAddr) {
        assert!(gateway.is_unicast(), "from the gateway: {gateway}");
        for (at, frame) in &self.received {
            assert_eq!(destination(frame), self.guest, "frame {at}\n{self}");
            assert_eq!(source(frame), gateway, "frame {at}\n{self}");
            assert!(
                self.sent
                    .iter()
                    .any(|(sent_at, sent)| sent_at < at && sent[12..] == frame[12..]),
                "frame {at} is not one the guest sent before, reflected intact\n{self}"
            );
        }
    }
}

impl std::fmt::Display for Dump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut all: Vec<_> = self
            .sent
            .iter()
            .map(|(at, frame)| (at, "sent", frame))
            .chain(
                self.received
                    .iter()
                    .map(|(at, frame)| (at, "received", frame)),
            )
            .collect();
        all.sort();
        writeln!(f, "dump ({} frames; guest {}):", all.len(), self.guest)?;
        for (at, way, frame) in all {
            writeln!(
                f,
                "  {at:3} {way:8} {} -> {} type {:02x}{:02x}, {} bytes{}",
                source(frame),
                destination(frame),
                frame[12],
                frame[13],
                frame.len(),
                if is_dhcp_discover(frame) {
                    " (DHCP DISCOVER)"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}

/// Whether `frame` is an IPv4 UDP datagram from port 68 to 67 carrying a DHCP message whose
/// message type (option 53) is DISCOVER.
fn is_dhcp_discover(frame: &[u8]) -> bool {
    const ETHERNET: usize = 14;
    if frame.len() < ETHERNET + 20 || frame[12..14] != [0x08, 0x00] {
        return false;
    }
    let ip = &frame[ETHERNET..];
    let header = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ip[9] != 17 || ip.len() < header + 8 {
        return false;
    }
    let udp = &ip[header..];
    if udp[..4] != [0, 68, 0, 67] {
        return false;
    }
    // The fixed BOOTP fields (236 bytes), then the magic cookie and the options.
    let Some(options) = udp[8..]
        .get(236..)
        .and_then(|b| b.strip_prefix(&[99, 130, 83, 99]))
    else {
        return false;
    };
    let mut rest = options;
    while let [code, tail @ ..] = rest {
        match code {
            0 => rest = tail,
            255 => return false,
            _ => {
                let Some((&len, tail)) = tail.split_first() else {
                    return false;
                };
                let Some(value) = tail.get(..usize::from(len)) else {
                    return false;
                };
                if *code == 53 {
                    return value == [1];
                }
                rest = &tail[usize::from(len)..];
            }
        }
    }
    false
}

/// Runs `qemu` on `bridge` until its DHCP DISCOVER came back and the bridge's counters, from
/// `before`, cover every frame in its dump (each the guest sent went through the bridge, each
/// it received came through it); then stops it. Returns those counters.
fn serve(bridge: &Bridge, mut qemu: Qemu, before: BridgeStats) -> BridgeStats {
    let dump = qemu.wait_for_dhcp(bridge);
    let name = &qemu.process.name;
    let counters = bridge.wait_counters(&format!("{name}'s frames"), |c| {
        c.from_vm.packets >= before.from_vm.packets + dump.sent.len() as u64
            && c.to_vm.packets >= before.to_vm.packets + dump.received.len() as u64
    });
    qemu.stop();
    counters
}

/// Stops `bridge`, which must exit successfully having dropped nothing from the VMs and seen
/// nothing malformed; returns its final counters.
fn finish(bridge: Bridge, what: &str, t0: Instant) -> BridgeStats {
    let last = bridge.stop();
    assert_eq!(
        (last.from_vm.drops, last.malformed, last.protocol_errors),
        (0, 0, 0),
        "{last}"
    );
    eprintln!("{what}: {:.1?} in all; bridge {last}", t0.elapsed());
    last
}

/// One QEMU through a bridge in `framing`.
fn boots_through(framing: &str, netdev: impl FnOnce(&TempDir) -> Netdev) {
    require_qemu();
    let t0 = Instant::now();
    let dir = TempDir::new(&format!("qemu-{framing}"));
    let bridge = Bridge::start(&dir, framing);
    let qemu = Qemu::start(&dir, "qemu", &bridge, netdev(&dir));
    serve(&bridge, qemu, BridgeStats::default());
    let last = finish(bridge, framing, t0);
    assert_eq!(last.peer_changes, 0, "one VM");
}

#[test]
#[ignore = "needs qemu-system-x86_64 and ipxe-qemu; run by .ci/run"]
fn qemu_boots_through_a_stream_bridge() {
    boots_through("stream", |_| Netdev::Stream);
}

#[test]
#[ignore = "needs qemu-system-x86_64 and ipxe-qemu; run by .ci/run"]
fn qemu_boots_through_a_datagram_bridge() {
    boots_through("datagram", |dir| Netdev::Datagram(dir.path("qemu.sock")));
}

/// A datagram bridge serves a VM started after the last one went away: QEMU is stopped and
/// started again twice on one bridge, first at the same socket path (its old socket file
/// removed, as a launcher restarting it would), then at another path; each time frames must
/// flow both ways. Only the move to another path is a new peer for the bridge (the first VM
/// is learnt, and the second has the first one's address).
#[test]
#[ignore = "needs qemu-system-x86_64 and ipxe-qemu; run by .ci/run"]
fn a_restarted_qemu_is_served_by_the_same_datagram_bridge() {
    require_qemu();
    let t0 = Instant::now();
    let dir = TempDir::new("qemu-restart");
    let bridge = Bridge::start(&dir, "datagram");
    let first = dir.path("first.sock");
    let other = dir.path("other.sock");
    let mut counters = BridgeStats::default();
    for (name, local) in [("qemu-1", &first), ("qemu-2", &first), ("qemu-3", &other)] {
        // A QEMU that exited leaves its socket file behind; binding it again would fail.
        let _ = std::fs::remove_file(local);
        let qemu = Qemu::start(&dir, name, &bridge, Netdev::Datagram(local.clone()));
        counters = serve(&bridge, qemu, counters);
    }
    let last = finish(bridge, "restarts", t0);
    assert_eq!(last.peer_changes, 1, "{last}");
}

/// The QEMU tests read the bridge's counters from its stderr: this keeps [`parse_stats`] in
/// step with the library's format, in every `cargo test`.
#[test]
fn the_counters_are_read_back_from_a_report_line() {
    let mut stats = BridgeStats::default();
    (stats.to_vm.packets, stats.to_vm.bytes, stats.to_vm.drops) = (1, 2, 3);
    (
        stats.from_vm.packets,
        stats.from_vm.bytes,
        stats.from_vm.drops,
    ) = (4, 5, 6);
    (stats.malformed, stats.protocol_errors, stats.peer_changes) = (7, 8, 9);
    assert_eq!(
        parse_stats(&format!("vmnet-bridge: final: {stats}")),
        Some(stats)
    );
    assert_eq!(parse_stats("vmnet-bridge: bridging (stream framing)"), None);
    assert_eq!(parse_stats("to VM: 4 packets"), None);
    let more = format!("vmnet-bridge: {stats}; some new counter: 10");
    assert_eq!(parse_stats(&more), Some(stats), "{more}");
}

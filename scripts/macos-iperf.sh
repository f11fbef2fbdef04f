#!/usr/bin/env bash
# Throughput through the socket bridge on real macOS: iperf3 between the host and a VM whose
# network is `vmnet-bridge`, in both directions, reported in Gbit/s.
#
#   sudo scripts/macos-iperf.sh --guest-ip IP [--guest-cmd CMD] [--framing stream|datagram]
#                                [--mode shared|host] [--seconds N] [--socket PATH]
#   sudo scripts/macos-iperf.sh --smoke
#
# The VM is yours: a QEMU, vfkit or krunkit guest (any OS) that runs `iperf3 -s` and takes its
# network from the bridge's socket. The script
#
#   1. builds `vmnet-bridge` (cargo build --release --features cli),
#   2. starts it as `vmnet-bridge --mode MODE --socket PATH --framing FRAMING --listen`,
#   3. runs --guest-cmd if given (every `{socket}` in it replaced by the socket's path), e.g.
#        --guest-cmd 'qemu-system-aarch64 ... -netdev stream,id=n0,server=off,addr.type=unix,addr.path={socket} -device virtio-net-pci,netdev=n0'
#      or waits for you to start the VM yourself (stream framing: connect to the socket;
#      datagram framing: send from the VM's socket to it),
#   4. waits until GUEST_IP answers on iperf3's port, then runs `iperf3 -c GUEST_IP -t N -J`
#      (host to VM) and the same with `-R` (VM to host), and prints Gbit/s each way plus the
#      bridge's counters.
#
# --smoke needs no VM (what CI can run unattended on a macOS runner): it starts the bridge in
# shared mode with stream framing, connects a small Python peer to the socket as the "VM",
# sends an ARP request for the gateway from the interface's MAC address and checks that vmnet
# answers through the bridge. It measures no throughput.
#
# Needs root (or the com.apple.vm.networking entitlement) on macOS 15 and older, cargo, python3
# and, except for --smoke, iperf3 (brew install iperf3).
set -euo pipefail

MODE=shared
FRAMING=stream
SECONDS_PER_RUN=10
SOCKET=
GUEST_IP=
GUEST_CMD=
SMOKE=0

usage() {
    sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

while [[ $# -gt 0 ]]; do
    case $1 in
    --mode) MODE=$2; shift 2 ;;
    --framing) FRAMING=$2; shift 2 ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --socket) SOCKET=$2; shift 2 ;;
    --guest-ip) GUEST_IP=$2; shift 2 ;;
    --guest-cmd) GUEST_CMD=$2; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

if [[ $(uname -s) != Darwin ]]; then
    echo "macos-iperf.sh: needs macOS (vmnet.framework); on Linux, use cargo xtask bench" >&2
    exit 2
fi
if [[ $SMOKE -eq 0 && -z $GUEST_IP ]]; then
    echo "macos-iperf.sh: --guest-ip is required (or --smoke)" >&2
    exit 2
fi
if [[ $SMOKE -eq 1 ]]; then
    MODE=shared
    FRAMING=stream
fi
for tool in cargo python3; do
    command -v "$tool" >/dev/null || { echo "macos-iperf.sh: $tool not found" >&2; exit 2; }
done
if [[ $SMOKE -eq 0 ]] && ! command -v iperf3 >/dev/null; then
    echo "macos-iperf.sh: iperf3 not found (brew install iperf3)" >&2
    exit 2
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmnet-iperf.XXXXXX")
SOCKET=${SOCKET:-$WORK/vm.sock}
LOG=$WORK/bridge.log
BRIDGE_PID=
GUEST_PID=

cleanup() {
    [[ -n $GUEST_PID ]] && kill "$GUEST_PID" 2>/dev/null || true
    if [[ -n $BRIDGE_PID ]]; then
        kill -TERM "$BRIDGE_PID" 2>/dev/null || true
        wait "$BRIDGE_PID" 2>/dev/null || true
    fi
    if [[ -f $LOG ]]; then
        echo "--- vmnet-bridge log"
        cat "$LOG"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> building vmnet-bridge"
# Built by the invoking user's toolchain; under sudo, keep the caller's cargo and rustup homes.
# --smoke checks that frames cross, not speed: the debug build is enough (and quicker to build).
if [[ $SMOKE -eq 1 ]]; then
    (cd "$ROOT" && cargo build --package vmnet --all-features --bin vmnet-bridge)
    BRIDGE=$ROOT/target/debug/vmnet-bridge
else
    (cd "$ROOT" && cargo build --release --package vmnet --features cli --bin vmnet-bridge)
    BRIDGE=$ROOT/target/release/vmnet-bridge
fi

echo "==> starting vmnet-bridge --mode $MODE --socket $SOCKET --framing $FRAMING --listen"
"$BRIDGE" --mode "$MODE" --socket "$SOCKET" --framing "$FRAMING" --listen --stats-interval 5 \
    >"$LOG" 2>&1 &
BRIDGE_PID=$!

# Wait for the interface to start (its line names the MAC address) or the bridge to fail.
MAC=
for _ in $(seq 1 100); do
    if ! kill -0 "$BRIDGE_PID" 2>/dev/null; then
        echo "macos-iperf.sh: vmnet-bridge exited early (not root? see the log below)" >&2
        exit 1
    fi
    MAC=$(sed -n 's/.*MAC \([0-9a-f:]\{11,17\}\).*/\1/p' "$LOG" | head -n 1)
    [[ -n $MAC && -S $SOCKET ]] && break
    sleep 0.1
done
if [[ -z $MAC || ! -S $SOCKET ]]; then
    echo "macos-iperf.sh: vmnet-bridge did not start within 10 s" >&2
    exit 1
fi
GATEWAY=$(sed -n 's/.*DHCP \([0-9.]*\)\.\..*/\1/p' "$LOG" | head -n 1)
echo "interface MAC $MAC, gateway ${GATEWAY:-unknown}"

if [[ $SMOKE -eq 1 ]]; then
    echo "==> smoke: ARP for the gateway through the bridge"
    python3 - "$SOCKET" "$MAC" "$GATEWAY" <<'PY'
import socket, struct, sys, time

path, mac_text, gateway = sys.argv[1], sys.argv[2], sys.argv[3]
mac = bytes(int(x, 16) for x in mac_text.split(":"))
gw = socket.inet_aton(gateway)
# The "VM" asks who has the gateway's address, from an address in the gateway's subnet.
ip = gw[:3] + bytes([200])
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\0" * 6, gw)
frame = b"\xff" * 6 + mac + b"\x08\x06" + arp
frame += b"\0" * (60 - len(frame))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.settimeout(1.0)
buf = b""
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    s.sendall(struct.pack("!I", len(frame)) + frame)
    try:
        buf += s.recv(65536)
    except socket.timeout:
        pass
    while len(buf) >= 4:
        (n,) = struct.unpack("!I", buf[:4])
        if len(buf) < 4 + n:
            break
        f, buf = buf[4 : 4 + n], buf[4 + n :]
        if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == gw:
            print("ARP reply from the gateway %s: %s" % (gateway, f[22:28].hex(":")))
            sys.exit(0)
print("no ARP reply from the gateway within 15 s", file=sys.stderr)
sys.exit(1)
PY
    echo "==> smoke passed: frames cross the bridge both ways (no throughput measured)"
    exit 0
fi

if [[ -n $GUEST_CMD ]]; then
    echo "==> starting the guest"
    bash -c "${GUEST_CMD//\{socket\}/$SOCKET}" &
    GUEST_PID=$!
else
    echo "==> start your VM now, with its network on $SOCKET ($FRAMING framing)"
fi

echo "==> waiting for iperf3 on $GUEST_IP:5201"
for _ in $(seq 1 300); do
    if nc -z -G 1 "$GUEST_IP" 5201 2>/dev/null; then
        break
    fi
    sleep 1
done

gbits() {
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'
}

echo "==> iperf3: host to VM, $SECONDS_PER_RUN s"
TO_VM=$(iperf3 -c "$GUEST_IP" -t "$SECONDS_PER_RUN" -J | gbits)
echo "==> iperf3: VM to host, $SECONDS_PER_RUN s"
FROM_VM=$(iperf3 -c "$GUEST_IP" -t "$SECONDS_PER_RUN" -J -R | gbits)

echo
echo "| direction | Gbit/s |"
echo "|---|---:|"
echo "| host to VM | $TO_VM |"
echo "| VM to host | $FROM_VM |"
echo "(mode $MODE, $FRAMING framing, macOS $(sw_vers -productVersion), $(sysctl -n machdep.cpu.brand_string))"

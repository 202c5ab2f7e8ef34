#!/usr/bin/python3
"""Testbed benchmark: the modem as a real kernel sees it, over usbredir in a QEMU guest (TCG).

  enumeration: from "new high-speed USB device" to the last driver bound (wwan0 registered),
               on the guest kernel's clock
  AT round trip: "AT" to "OK" on /dev/ttyUSB2 through option, usbredir and the emulator
  packet data:   UDP echo to the gateway through qmi_wwan's wwan0 (raw IP) and the session, 32
                 datagrams in flight (tests/testbed/guest/net_load.c): packets/s with 64-byte
                 datagrams, throughput with 1400-byte ones
  QDL download:  qmi-firmware-update --update on an MC7455 with a .cwe grown by --size: the
                 firmware image's QDL download (1 MiB unframed writes through qcserial), as
                 the updater itself times it

Reports the figures and the ratio of the guest's AT round trip to the host pty's, and of the
in-process data path (bench_data_path) to the guest's (both run the same emulator; the
difference is the kernel, QEMU and usbredir path).

  bench/testbed_bench.py [--short] [--modemu PATH]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))
import testbed  # noqa: E402


def start_modemu(a, d, profile, extra=()):
    sock = os.path.join(d, profile + ".sock")
    modemu = subprocess.Popen([a.modemu, "run", "--quiet", "--profile", profile, "--transport", "usbredir",
                               "--listen", "unix:" + sock, "--state-dir", os.path.join(d, "state-" + profile),
                               "--time-scale", "0.05", *extra])
    for _ in range(100):  # the listener is up within milliseconds
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    return modemu, sock


def guest_tool(d, source):
    """A static build of a guest program (the guest has busybox and no compiler)."""
    tool = os.path.join(d, os.path.splitext(os.path.basename(source))[0])
    subprocess.run(["gcc", "-static", "-O2", "-o", tool, os.path.join(ROOT, source)], check=True)
    return tool


def run_in_guest(a, d, profile, script, tool):
    """Runs `script` in a guest with one modem of `profile` attached and `tool` at /NAME."""
    modemu, sock = start_modemu(a, d, profile)
    try:
        with open(tool, "rb") as f:
            rc, out, _ = testbed.run(script, [sock], timeout=300, files={os.path.basename(tool): (f.read(), 0o755)})
    finally:
        modemu.terminate()
        modemu.wait()
    if rc != 0:
        sys.exit(f"testbed bench failed ({rc}):\n{out}")
    return out


def host_figure(a, bench, pattern):
    """A figure of an in-process benchmark (built beside modemu), for the ratios."""
    out = subprocess.run([os.path.join(os.path.dirname(a.modemu), "..", "bench", bench), "--short"],
                         capture_output=True, text=True).stdout
    return re.search(pattern, out)


def data_bench(a, d):
    """Packets per second and throughput through the session, in the guest."""
    seconds = 1 if a.short else 4
    script = f"""
wait_for /sys/class/net/wwan0 30 || exit 3
ip link set wwan0 down
qmicli -d /dev/cdc-wdm0 --wda-set-data-format=raw-ip > /dev/null || exit 4
echo Y > /sys/class/net/wwan0/qmi/raw_ip
ip link set wwan0 up
n=0; until qmicli -d /dev/cdc-wdm0 --wds-start-network=apn=internet,ip-type=4 --client-no-release-cid > /dev/null; do
  n=$((n+1)); [ $n -gt 40 ] && exit 5; usleep 250000
done
qmicli -d /dev/cdc-wdm0 --wds-get-current-settings > /tmp/s
addr=$(sed -n 's/^ *IPv4 address: //p' /tmp/s); gw=$(sed -n 's/^ *IPv4 gateway address: //p' /tmp/s)
ip addr add $addr/30 dev wwan0
/net_load $gw 7 64 {seconds} window 32
/net_load $gw 7 1400 {seconds} window 32
"""
    out = run_in_guest(a, d, "quectel-ec25", script, guest_tool(d, "tests/testbed/guest/net_load.c"))
    runs = re.findall(r"rate_bps=(\d+) pps=(\d+) span_s=[\d.]+ p50_us=(\d+)", out)
    (_, small_pps, small_p50), (big_bps, _, _) = [(int(b), int(p), int(l)) for b, p, l in runs]
    print(f"  UDP echo through wwan0 (raw IP):        {small_pps:7d} packets/s (64 B, p50 {small_p50} us), "
          f"{int(big_bps) / 8e6:.1f} MB/s each way (1400 B)")
    hm = host_figure(a, "bench_data_path", r"DataPath, raw IP:\s+(\d+) packets/s \(64 B\)\s+([\d.]+) MB/s")
    if hm:
        print(f"  ratio in-process / guest, packets/s:    {int(hm.group(1)) / small_pps:7.0f}")
        print(f"  ratio in-process / guest, MB/s:         {float(hm.group(2)) / (int(big_bps) / 8e6):7.0f}")


def qdl_bench(a, d):
    """QDL download throughput of a real updater in the guest (qmi-firmware-update, MC7455)."""
    # The guest gets the files in its initramfs: a 64 MB .cwe arrives there damaged (its md5 differs;
    # the guest has about 330 MB of RAM), 16 MB intact.
    size = "8M" if a.short else "16M"
    fw = os.path.join(d, "fw")
    subprocess.run([a.modemu, "firmware", "build", "--profile", "sierra-mc7455", "--version", "02.30.01.01",
                    "--carrier", "GENERIC", "--size", size, "-o", fw, "--quiet"], check=True)
    files = {}
    for n in os.listdir(fw):
        with open(os.path.join(fw, n), "rb") as f:
            files["fw/" + n] = (f.read(), 0o644)
    script = """
start_udev
mkdir -p /run/dbus /var/lib/dbus
dbus-daemon --system --fork
wait_for /dev/cdc-wdm0 30 || exit 3
cd /fw
qmi-firmware-update --update -d 1199:9071 *.cwe *.nvu > /tmp/qfu.log 2>&1 || { tail -20 /tmp/qfu.log; exit 4; }
tr '\\r' '\\n' < /tmp/qfu.log | grep -E '^(downloading|successfully downloaded)'
"""
    modemu, sock = start_modemu(a, d, "sierra-mc7455")
    try:
        rc, out, _ = testbed.run(script, [sock], timeout=600, files=files)
    finally:
        modemu.terminate()
        modemu.wait()
    if rc != 0:
        sys.exit(f"testbed QDL bench failed ({rc}):\n{out}")
    m = re.search(r"downloading cwe image: (\S+\.cwe) \(([^)]+)\)...\s*successfully downloaded in ([\d.]+)s \(([^)]+)/s\)", out)
    if not m:
        sys.exit(f"testbed QDL bench: no download figure in:\n{out}")
    rate, size = (g.replace("?", " ").replace("\u00a0", " ") for g in (m.group(4), m.group(2)))  # glib sizes in the C locale
    print(f"  QDL download (qmi-firmware-update):     {rate}/s ({size} .cwe in {m.group(3)} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="fewer rounds (CI)")
    ap.add_argument("--modemu", default=os.path.join(ROOT, "build", "release", "grpc-api", "modemu"))
    a = ap.parse_args()
    rounds = 100 if a.short else 1000
    script = f"""
wait_for /sys/class/net/wwan0 30 || exit 3
dmesg | grep -E 'new high-speed USB device|wwan0: register'
/at_rtt /dev/ttyUSB2 {rounds}
"""
    with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
        out = run_in_guest(a, d, "quectel-eg12", script, guest_tool(d, "bench/guest/at_rtt.c"))
    stamps = [float(x) for x in re.findall(r"\[\s*([\d.]+)\]", out)]
    enumeration_ms = (stamps[-1] - stamps[0]) * 1000
    m = re.search(r"p50_us=(\d+) p99_us=(\d+) mean_us=(\d+)", out)
    p50, p99, mean = (int(x) for x in m.groups())
    print(f"testbed (QEMU TCG guest, usbredir; AT on EG12, data on EC25, QDL on MC7455) rounds={rounds}")
    print(f"  enumeration, plug to all drivers bound: {enumeration_ms:7.0f} ms")
    print(f"  AT round trip in the guest:             {p50:7d} us p50, {p99} us p99, {mean} us mean")
    hm = host_figure(a, "bench_at_roundtrip", r"through the pty:\s+\d+ round trips/s\s+\(([\d.]+) us each\)")
    if hm:
        print(f"  ratio guest / host pty AT round trip:   {p50 / float(hm.group(1)):7.1f}")
    with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
        data_bench(a, d)
    with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
        qdl_bench(a, d)
    return 0


if __name__ == "__main__":
    sys.exit(main())

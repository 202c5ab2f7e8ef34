#!/usr/bin/python3
"""Testbed benchmark: the modem as a real kernel sees it, in a QEMU guest (TCG), per transport:
usbredir (QEMU's usb-redir device) and USB/IP (the guest's vhci_hcd attaching modemu's USB/IP
server over QEMU's user-mode network, as a router attaches it over Ethernet).

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

The same AT round trip and packet data over the FunctionFS gadget: modemu runs inside the guest
(--transport gadget on usbip-vudc, looped back through vhci_hcd, and on dummy_hcd), so the
emulator, the kernel's gadget and host sides and the clients share the guest's one emulated CPU.

  bench/testbed_bench.py [--short] [--modemu PATH] [--transport usbredir|usbip|gadget]...
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))
import testbed  # noqa: E402


def start_modemu(a, d, profile, transport, extra=()):
    """modemu serving one modem on `transport`; returns the process and how the guest reaches it:
    (usbredir sockets, shell lines that attach it, run(net=...))."""
    events = os.path.join(d, profile + "-events.jsonl")
    if transport == "usbredir":
        sock = os.path.join(d, profile + ".sock")
        listen = ["--transport", "usbredir", "--listen", "unix:" + sock]
    else:
        listen = ["--transport", "usbip", "--listen", "127.0.0.1:0"]
    modemu = subprocess.Popen([a.modemu, "run", "--quiet", "--event-log", events, "--profile", profile, *listen,
                               "--state-dir", os.path.join(d, "state-" + profile), "--time-scale", "0.05", *extra])
    start = None
    for _ in range(200):  # the listener is up within milliseconds
        if os.path.exists(events):
            with open(events) as f:
                start = next((json.loads(line) for line in f if '"kind":"start"' in line), None)
            if start:
                break
        time.sleep(0.05)
    if start is None:
        modemu.kill()
        sys.exit("testbed bench: modemu did not start")
    if transport == "usbredir":
        return modemu, [sock], "", False
    port, busid = start["fields"]["listen"].rpartition(":")[2], start["fields"]["busid"]
    return modemu, [], f"use_usbip || exit 2\nusbip --tcp-port {port} attach -r 10.0.2.2 -b {busid} || exit 2\n", True


def guest_tool(d, source):
    """A static build of a guest program (the guest has busybox and no compiler)."""
    tool = os.path.join(d, os.path.splitext(os.path.basename(source))[0])
    subprocess.run(["gcc", "-static", "-O2", "-o", tool, os.path.join(ROOT, source)], check=True)
    return tool


def run_in_guest(a, d, profile, script, tool, transport):
    """Runs `script` in a guest with one modem of `profile` attached over `transport` and `tool`
    at /NAME."""
    modemu, sockets, attach, net = start_modemu(a, d, profile, transport)
    try:
        with open(tool, "rb") as f:
            rc, out, console = testbed.run(attach + script, sockets, timeout=300, net=net,
                                     files={os.path.basename(tool): (f.read(), 0o755)})
    finally:
        modemu.terminate()
        modemu.wait()
    if rc != 0:
        sys.exit(f"testbed bench failed ({rc}):\n{out if rc != 124 else console[-6000:]}")
    return out


def host_figure(a, bench, pattern):
    """A figure of an in-process benchmark (built beside modemu), for the ratios."""
    out = subprocess.run([os.path.join(os.path.dirname(a.modemu), "..", "bench", bench), "--short"],
                         capture_output=True, text=True).stdout
    return re.search(pattern, out)


def session_script(seconds):
    """A raw-IP session on wwan0, then UDP echo to the gateway: 64-byte then 1400-byte datagrams."""
    return f"""
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


def data_figures(out):
    """(packets/s with 64 B, p50 us, bits/s with 1400 B) from the two net_load runs."""
    runs = re.findall(r"rate_bps=(\d+) pps=(\d+) span_s=[\d.]+ p50_us=(\d+)", out)
    (_, small_pps, small_p50), (big_bps, _, _) = [(int(b), int(p), int(l)) for b, p, l in runs]
    return small_pps, small_p50, big_bps


def data_bench(a, d, transport):
    """Packets per second and throughput through the session, in the guest."""
    seconds = 1 if a.short else 4
    out = run_in_guest(a, d, "quectel-ec25", session_script(seconds), guest_tool(d, "tests/testbed/guest/net_load.c"),
                       transport)
    small_pps, small_p50, big_bps = data_figures(out)
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
    modemu, sockets, _, _ = start_modemu(a, d, "sierra-mc7455", "usbredir")
    try:
        rc, out, _ = testbed.run(script, sockets, timeout=600, files=files)
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


def at_bench(a, d, transport, rounds):
    """Enumeration and AT round trips on the EG12."""
    script = f"""
wait_for /sys/class/net/wwan0 30 || exit 3
dmesg | grep -E 'new high-speed USB device|wwan0: register'
/at_rtt /dev/ttyUSB2 {rounds}
"""
    out = run_in_guest(a, d, "quectel-eg12", script, guest_tool(d, "bench/guest/at_rtt.c"), transport)
    stamps = [float(x) for x in re.findall(r"\[\s*([\d.]+)\]", out)]
    enumeration_ms = (stamps[-1] - stamps[0]) * 1000
    m = re.search(r"p50_us=(\d+) p99_us=(\d+) mean_us=(\d+)", out)
    p50, p99, mean = (int(x) for x in m.groups())
    print(f"testbed (QEMU TCG guest, {transport}; AT on EG12, data on EC25) rounds={rounds}")
    print(f"  enumeration, plug to all drivers bound: {enumeration_ms:7.0f} ms")
    print(f"  AT round trip in the guest:             {p50:7d} us p50, {p99} us p99, {mean} us mean")
    hm = host_figure(a, "bench_at_roundtrip", r"through the pty:\s+\d+ round trips/s\s+\(([\d.]+) us each\)")
    if hm:
        print(f"  ratio guest / host pty AT round trip:   {p50 / float(hm.group(1)):7.1f}")
    return p50


def gadget_bench(a, d, rounds, udc):
    """AT round trip and packet data with modemu in the guest serving the FunctionFS gadget, on
    usbip-vudc (the whole EC25) or dummy_hcd (its AT and QMI interfaces: AT is ttyUSB0)."""
    seconds = 1 if a.short else 4
    setup = ("gadget_setup vudc\nkeep_vudc_attached &\n" if udc == "vudc" else "gadget_setup dummy\n")
    extra, at_port = ("", "/dev/ttyUSB2") if udc == "vudc" else ("--gadget-interfaces 2,4", "/dev/ttyUSB0")
    script = setup + f"""
modemu_start --profile quectel-ec25 --time-scale 0.05 -t gadget --quiet {extra}
wait_for /sys/class/net/wwan0 40 || exit 3
/at_rtt {at_port} {rounds}
""" + session_script(seconds) + "modemu_stop\n"
    files = {}
    for source in ("bench/guest/at_rtt.c", "tests/testbed/guest/net_load.c"):
        tool = guest_tool(d, source)
        with open(tool, "rb") as f:
            files[os.path.basename(tool)] = (f.read(), 0o755)
    rc, out, _ = testbed.run(script, timeout=400, files=files, overlays=[testbed.modemu_overlay(a.modemu)])
    if rc != 0:
        sys.exit(f"testbed gadget bench failed ({rc}):\n{out}")
    at = re.search(r"p50_us=(\d+) p99_us=(\d+) mean_us=(\d+)", out)
    if not at or len(re.findall(r"rate_bps=", out)) != 2:
        sys.exit(f"testbed gadget bench ({udc}): no figures in the guest's output:\n{out}")
    p50, p99, mean = (int(x) for x in at.groups())
    pps, p50_data, bps = data_figures(out)
    where = "usbip-vudc through vhci_hcd; EC25" if udc == "vudc" else "dummy_hcd; EC25 interfaces 2 and 4"
    print(f"testbed, FunctionFS gadget (modemu in the guest on {where}) rounds={rounds}")
    print(f"  AT round trip in the guest:             {p50:7d} us p50, {p99} us p99, {mean} us mean")
    print(f"  UDP echo through wwan0 (raw IP):        {pps:7d} packets/s (64 B, p50 {p50_data} us), "
          f"{bps / 8e6:.1f} MB/s each way (1400 B)")



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="fewer rounds (CI)")
    ap.add_argument("--modemu", default=os.path.join(ROOT, "build", "release", "grpc-api", "modemu"))
    ap.add_argument("--transport", action="append", choices=["usbredir", "usbip", "gadget"],
                    help="the transports to measure (repeatable; default: all)")
    a = ap.parse_args()
    rounds = 100 if a.short else 1000
    p50s = {}
    transports = a.transport or ["usbredir", "usbip", "gadget"]
    for transport in [t for t in transports if t != "gadget"]:
        with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
            p50s[transport] = at_bench(a, d, transport, rounds)
        with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
            data_bench(a, d, transport)
    if len(p50s) > 1 and "usbredir" in p50s:
        for transport, p50 in p50s.items():
            if transport != "usbredir":
                print(f"ratio {transport} / usbredir AT round trip p50: {p50 / p50s['usbredir']:.1f}")
    if "usbredir" in transports:
        print("testbed (QEMU TCG guest, usbredir): a real updater's QDL download on an MC7455")
        with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
            qdl_bench(a, d)
    if "gadget" in transports:
        for udc in ("vudc", "dummy"):
            with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
                gadget_bench(a, d, rounds, udc)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Testbed benchmark: the modem as a real kernel sees it, over usbredir in a QEMU guest (TCG).

  enumeration: from "new high-speed USB device" to the last driver bound (wwan0 registered),
               on the guest kernel's clock
  AT round trip: "AT" to "OK" on /dev/ttyUSB2 through option, usbredir and the emulator

Reports the figures and the ratio of the guest's AT round trip to the host pty's (both run the
same emulator; the difference is the kernel, QEMU and usbredir path).

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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="fewer rounds (CI)")
    ap.add_argument("--modemu", default=os.path.join(ROOT, "build", "release", "grpc-api", "modemu"))
    a = ap.parse_args()
    rounds = 100 if a.short else 1000
    with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
        tool = os.path.join(d, "at_rtt")
        subprocess.run(["gcc", "-static", "-O2", "-o", tool, os.path.join(ROOT, "bench", "guest", "at_rtt.c")], check=True)
        sock = os.path.join(d, "m.sock")
        modemu = subprocess.Popen([a.modemu, "run", "--quiet", "--profile", "quectel-eg12", "--transport", "usbredir",
                                   "--listen", "unix:" + sock, "--state-dir", os.path.join(d, "state"),
                                   "--time-scale", "0.05"])
        try:
            for _ in range(100):  # the listener is up within milliseconds
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            script = f"""
wait_for /sys/class/net/wwan0 30 || exit 3
dmesg | grep -E 'new high-speed USB device|wwan0: register'
/at_rtt /dev/ttyUSB2 {rounds}
"""
            rc, out, _ = testbed.run(script, [sock], timeout=300, files={"at_rtt": (open(tool, "rb").read(), 0o755)})
        finally:
            modemu.terminate()
            modemu.wait()
    if rc != 0:
        sys.exit(f"testbed bench failed ({rc}):\n{out}")
    stamps = [float(x) for x in re.findall(r"\[\s*([\d.]+)\]", out)]
    enumeration_ms = (stamps[-1] - stamps[0]) * 1000
    m = re.search(r"p50_us=(\d+) p99_us=(\d+) mean_us=(\d+)", out)
    p50, p99, mean = (int(x) for x in m.groups())
    print(f"testbed (QEMU TCG guest, usbredir, EG12) rounds={rounds}")
    print(f"  enumeration, plug to all drivers bound: {enumeration_ms:7.0f} ms")
    print(f"  AT round trip in the guest:             {p50:7d} us p50, {p99} us p99, {mean} us mean")
    host = subprocess.run([os.path.join(os.path.dirname(a.modemu), "..", "bench", "bench_at_roundtrip"), "--short"],
                          capture_output=True, text=True)
    hm = re.search(r"through the pty:\s+\d+ round trips/s\s+\(([\d.]+) us each\)", host.stdout)
    if hm:
        print(f"  ratio guest / host pty AT round trip:   {p50 / float(hm.group(1)):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

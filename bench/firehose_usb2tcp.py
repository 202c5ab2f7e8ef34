#!/usr/bin/python3
"""Firehose program throughput over usb2tcp on loopback (issue: at least 200 MB/s, so that the
emulator is never what limits a CI update; USB 2.0 high speed tops out near 53 MB/s).

A package of about 100 MB (`modemu firmware build --size`), a modem serving QFirehose's TCP
framing, and the updater of tests/integration/usb2tcp_updater.py doing what QFirehose does: the
DIAG switch, Sahara, configure, the SBL erased first and programmed last, the power reset. The
figure is the program data phase (ACK rawmode="true" to the final ACK of every image), reported
with its ratio to USB 2.0's ceiling; the whole update's time is reported beside it.

  bench/firehose_usb2tcp.py [--short] [--modemu PATH] [--payload BYTES]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import usb2tcp_updater  # noqa: E402

USB2_MB_S = 53.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="a 20 MB package (CI)")
    ap.add_argument("--modemu", default=os.path.join(ROOT, "build", "release", "grpc-api", "modemu"))
    ap.add_argument("--payload", type=int, default=16384,
                    help="MaxPayloadSizeToTargetInBytes asked (QFirehose asks 8192 for NAND; default: the "
                         "programmer's maximum, 16384)")
    a = ap.parse_args()
    size = "20M" if a.short else "100M"
    with tempfile.TemporaryDirectory(prefix="modemu-bench-") as d:
        pkg = os.path.join(d, "pkg")
        subprocess.run([a.modemu, "firmware", "build", "--profile", "quectel-ec25", "--version", "EC25EFAR06A11M4G",
                        "--size", size, "-o", pkg, "--quiet"], check=True)
        events = os.path.join(d, "events.jsonl")
        modemu = subprocess.Popen([a.modemu, "run", "--quiet", "--profile", "quectel-ec25", "--usb2tcp", "127.0.0.1:0",
                                   "--state-dir", os.path.join(d, "state"), "--time-scale", "0.01",
                                   "--event-log", events, "--dev-dir", os.path.join(d, "dev")])
        try:
            address = None
            deadline = time.monotonic() + 10
            while address is None and time.monotonic() < deadline:
                if os.path.exists(events):
                    with open(events) as f:
                        for line in f:
                            if '"kind":"usb2tcp"' in line.replace(" ", "") and '"address"' in line:
                                address = json.loads(line)["fields"]["address"]
                                break
                if address is None:
                    time.sleep(0.05)  # the listener is up within milliseconds
            if address is None:
                raise SystemExit("modemu did not report its usb2tcp address")
            stats = {}
            started = time.perf_counter()
            usb2tcp_updater.update(address, pkg, payload=a.payload, stats=stats)
            total = time.perf_counter() - started
            # The figure counts only if the module then boots what was written.
            booted = None
            deadline = time.monotonic() + 30
            while booted is None and time.monotonic() < deadline:
                with open(events) as f:
                    for line in f:
                        e = json.loads(line)
                        if e["kind"] == "boot" and e["fields"].get("mode") == "APPLICATION" and \
                                e["fields"].get("firmware") == "EC25EFAR06A11M4G":
                            booted = e
                if booted is None:
                    time.sleep(0.05)  # the boot chain reads back 100 MB of images
            if booted is None:
                raise SystemExit("the module did not boot the flashed EC25EFAR06A11M4G")
        finally:
            modemu.terminate()
            modemu.wait(timeout=10)
    mb = stats["program_bytes"] / 1e6
    rate = mb / stats["program_seconds"]
    print(f"firehose program over usb2tcp: {mb:.1f} MB in {stats['program_seconds']:.3f} s = {rate:.0f} MB/s "
          f"({rate / USB2_MB_S:.1f}x USB 2.0's {USB2_MB_S:.0f} MB/s; goal 200 MB/s = 3.8x); "
          f"payload {a.payload} bytes; whole update (switch, Sahara, erase, program, reset) {total:.2f} s")


if __name__ == "__main__":
    main()

"""The modem seen by a real Linux kernel: QEMU guests (tests/testbed) with the emulator attached
over usbredir, or running inside the guest as a USB gadget (GadgetInTheGuest), real drivers
(option, qcserial, qmi_wwan), qmicli, qdl, udev and ModemManager."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

from harness import Modemu, ROOT, csq_of, profile_value

sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))
import testbed  # noqa: E402


class Guest:
    """A modemu usbredir listener per profile, and the guest that attaches them."""

    def __init__(self, *profiles, time_scale="0.1", pcap=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="modemu-tb-")
        self.modems = []
        for i, p in enumerate(profiles):
            sock = os.path.join(self.dir, f"m{i}.sock")
            args = ["--transport", "usbredir", "--listen", "unix:" + sock, *extra]
            if pcap:
                args += ["--pcap", pcap]
            m = Modemu(*args, profile=p, time_scale=time_scale, workdir=os.path.join(self.dir, f"w{i}"))
            m.wait_kind("start")
            m.sock = sock
            self.modems.append(m)

    def run(self, script, timeout=150, hotplug=False):
        socks = [m.sock for m in self.modems]
        rc, out, console = testbed.run(script, [] if hotplug else socks, timeout=timeout,
                                       hotplug=socks if hotplug else ())
        return rc, out

    def close(self):
        for m in self.modems:
            m.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        # A failed test shows what each modem saw (ctest --output-on-failure prints stderr).
        if exc_type is not None:
            for i, m in enumerate(self.modems):
                print(f"== modem {i}: its last events\n{m.last_events(80)}", file=sys.stderr)
        self.close()


def sysfs_lines(out):
    return dict(line.split(" ", 1) for line in out.splitlines() if line.startswith("sys:") and " " in line)


class Enumeration(unittest.TestCase):
    SCRIPT = r"""
wait_for /sys/class/net/wwan0 20 || exit 3
d=/sys/bus/usb/devices/1-1
echo "sys:ids $(cat $d/idVendor):$(cat $d/idProduct)"
echo "sys:strings $(cat $d/manufacturer)/$(cat $d/product)"
for i in $d/1-1:1.*; do echo "sys:if$(cat $i/bInterfaceNumber) $(basename $(readlink $i/driver))"; done
echo "sys:nodes $(ls /dev | grep -E '^(ttyUSB|cdc-wdm)' | tr '\n' ' ')"
at /dev/ttyUSB2 ATI
at /dev/ttyUSB2 AT+CSQ
"""

    def check_quectel(self, profile):
        with Guest(profile) as g:
            rc, out = g.run(self.SCRIPT)
            self.assertEqual(rc, 0, out)
            sys_ = sysfs_lines(out)
            app = profile_value(profile, r"idProduct:\s*0x([0-9a-f]+)")
            self.assertEqual(sys_["sys:ids"], f"2c7c:{app}")
            self.assertEqual(sys_["sys:strings"], "Quectel/" + profile_value(profile, r'product:\s*"([^"]+)"'))
            for i in range(4):
                self.assertEqual(sys_[f"sys:if0{i}"], "option")
            self.assertEqual(sys_["sys:if04"], "qmi_wwan")
            self.assertEqual(sys_["sys:nodes"].split(), ["cdc-wdm0", "ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3"])
            self.assertIn("Revision: " + profile_value(profile, r'default_version:\s*"([^"]+)"'), out)
            self.assertIn(f"+CSQ: {csq_of(profile)},99", out)

    def test_quectel_ec25(self):
        self.check_quectel("quectel-ec25")

    def test_quectel_eg12(self):
        self.check_quectel("quectel-eg12")

    def test_sierra_mc7455(self):
        with Guest("sierra-mc7455") as g:
            rc, out = g.run(self.SCRIPT.replace("wwan0 20", "wwan1 20"))
            self.assertEqual(rc, 0, out)
            sys_ = sysfs_lines(out)
            self.assertEqual(sys_["sys:ids"], "1199:9071")
            for n in ("00", "02", "03"):
                self.assertEqual(sys_[f"sys:if{n}"], "qcserial")
            for n in ("08", "0a"):
                self.assertEqual(sys_[f"sys:if{n}"], "qmi_wwan")
            self.assertEqual(sys_["sys:nodes"].split(), ["cdc-wdm0", "cdc-wdm1", "ttyUSB0", "ttyUSB1", "ttyUSB2"])
            self.assertIn("Model: MC7455", out)

    def test_sierra_boothold_is_the_one_interface_upgrade_mode(self):
        """AT!BOOTHOLD: the module comes back at 1199:9070 with one interface bound to qcserial (a
        ttyUSB for the download), no QMI: the upgrade mode of seed 000; AT!USBPID? named the PID."""
        script = r"""
wait_for /sys/class/net/wwan1 20 || exit 3
at /dev/ttyUSB2 'AT!USBPID?'
at /dev/ttyUSB2 'AT!ENTERCND="A710"'
at /dev/ttyUSB2 'AT!BOOTHOLD'
n=0; while [ "$(cat /sys/bus/usb/devices/1-1/idProduct 2>/dev/null)" != 9070 ] && [ $n -lt 300 ]; do usleep 100000; n=$((n+1)); done
wait_for /dev/ttyUSB0 10 || exit 4
d=/sys/bus/usb/devices/1-1
echo "sys:ids $(cat $d/idVendor):$(cat $d/idProduct)"
echo "sys:interfaces $(cat $d/bNumInterfaces | tr -d ' ')"
echo "sys:if0 $(basename $(readlink $d/1-1:1.0/driver))"
echo "sys:nodes $(ls /dev | grep -E '^(ttyUSB|cdc-wdm)' | tr '\n' ' ')"
"""
        with Guest("sierra-mc7455") as g:
            rc, out = g.run(script)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"9071 9070")
        sys_ = sysfs_lines(out)
        self.assertEqual(sys_["sys:ids"], "1199:9070")
        self.assertEqual(sys_["sys:interfaces"], "1")
        self.assertEqual(sys_["sys:if0"], "qcserial")
        self.assertEqual(sys_["sys:nodes"].split(), ["ttyUSB0"])


def qmicli_suite_script(at_port="/dev/ttyUSB2"):
    """qmicli in auto mode on /dev/cdc-wdm0: 30 calls and a data session (check_qmicli_suite)."""
    commands = ["--get-service-version-info", "--dms-get-manufacturer", "--dms-get-model", "--dms-get-revision",
                "--dms-get-ids", "--dms-get-capabilities", "--dms-uim-get-pin-status", "--dms-uim-get-iccid",
                "--dms-uim-get-imsi", "--dms-get-operating-mode", "--nas-get-signal-strength",
                "--nas-get-signal-info", "--nas-get-serving-system", "--nas-get-system-info",
                "--nas-get-home-network", "--uim-get-card-status", "--uim-get-slot-status",
                "--wda-get-data-format", "--wda-set-data-format=raw-ip", "--wds-get-packet-service-status",
                "--wds-get-profile-list=3gpp", "--dms-get-hardware-revision", "--dms-get-software-version",
                "--dms-get-band-capabilities", "--dms-get-msisdn", "--dms-get-power-state",
                "--wds-get-default-settings=3gpp", "--wds-get-autoconnect-settings",
                "--wds-set-autoconnect-settings=disabled", "--wds-set-ip-family=4",
                "--wds-modify-profile=3gpp,1,apn=internet", "--device-open-sync --dms-get-manufacturer"]
    script = "wait_for /dev/cdc-wdm0 20 || exit 3\n"
    for c in commands:
        script += f"echo '== {c}'; qmi {c} || echo FAILED\n"
    script += ("echo '== session'; out=$(qmi --wds-start-network=apn=internet,ip-type=4 "
               "--client-no-release-cid); echo \"$out\"\n"
               "h=$(echo \"$out\" | sed -n \"s/.*handle: '\\([0-9]*\\)'.*/\\1/p\"); "
               "c=$(echo \"$out\" | sed -n \"s/.*CID: '\\([0-9]*\\)'.*/\\1/p\")\n"
               "qmi --wds-get-current-settings\n"
               "qmi --wds-get-channel-rates\n"
               "qmi --wds-get-packet-statistics\n"
               "qmi --wds-get-data-bearer-technology\n"
               "qmi --wds-stop-network=$h --client-cid=$c\n"
               f"at {at_port} AT+CGACT?\n")
    return script


def check_qmicli_suite(test, out, p, version=None):
    """The answers of qmicli_suite_script that `test` checks, for profile `p` on firmware `version`
    (default: the profile's)."""
    test.assertNotIn("FAILED", out)
    test.assertNotRegex(out, r"(?m)^error:")
    test.assertIn("IMEI: '%s'" % profile_value(p, r'imei:\s*"(\d+)"'), out)
    test.assertIn("IMSI: '%s'" % profile_value(p, r'imsi:\s*"(\d+)"'), out)
    test.assertIn("Registration state: 'registered'", out)
    test.assertIn("Link layer protocol: 'raw-ip'", out)
    test.assertIn("IPv4 address: %s" % profile_value(p, r'ipv4_address:\s*"([^"]+)"'), out)
    test.assertIn("Network stopped", out)
    test.assertIn("Max TX rate", out)
    test.assertIn("Software version: %s" % (version or profile_value(p, r'default_version:\s*"([^"]+)"')), out)
    test.assertIn("MSISDN: '%s'" % profile_value(p, r'msisdn:\s*"([^"]+)"'), out)
    distinct = set(re.findall(r"^== (--[a-z-]+)", out, re.M)) | {"--wds-start-network", "--wds-get-current-settings",
               "--wds-get-channel-rates", "--wds-get-packet-statistics", "--wds-get-data-bearer-technology",
               "--wds-stop-network"}
    test.assertGreaterEqual(len(distinct), 30)


class TestbedWatchdog(unittest.TestCase):
    """A guest script that hangs is stopped by the guest's watchdog before the host's time limit,
    with a report of what every process was waiting in and the ends of the logs in /tmp, so a
    hang seen once in CI says where it was."""

    def test_hung_script_is_reported(self):
        script = "echo 'the log line' > /tmp/probe.log\nsleep 600\necho 'not reached'\n"
        rc, out, _ = testbed.run(script, timeout=30)
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("not reached", out)
        report = out.partition(f"@@TESTBED-WATCHDOG@@ the script still runs after {testbed.watchdog_limit(30)} s")[2]
        self.assertRegex(report, r"\n  \d+ S \(sleeping\) in hrtimer_nanosleep: sleep 600 \n", out)
        self.assertIn("== the kernel's last messages", report)
        self.assertIn("== the end of /tmp/probe.log\nthe log line\n", report)

    def test_frozen_guest_panics_with_its_stack(self):
        # A real-time busy loop on the only CPU, without throttling: nothing else in the guest
        # runs, its watchdog included. The host's NMI at the time limit shows what held the CPU.
        script = ("echo -1 > /proc/sys/kernel/sched_rt_runtime_us\n"
                  "chrt -f 99 sh -c 'while :; do :; done'\necho 'not reached'\n")
        rc, out, console = testbed.run(script, timeout=25)
        self.assertNotEqual(rc, 0, console)
        self.assertNotIn("@@TESTBED-WATCHDOG@@", console)
        self.assertIn("Kernel panic - not syncing: NMI: Not continuing", console)
        self.assertRegex(console, r"CPU: 0 PID: \d+ Comm: sh ")
        self.assertIn("Call Trace:", console)


class QmicliOnTheRealNode(unittest.TestCase):
    """qmicli in auto mode against /dev/cdc-wdm0 as qmi_wwan made it."""

    def test_suite(self):
        p = "quectel-eg12"
        with Guest(p) as g:
            rc, out = g.run(qmicli_suite_script())
        self.assertEqual(rc, 0, out)
        check_qmicli_suite(self, out, p)


class ResetPattern(unittest.TestCase):
    """AT+CFUN=1,1 and DMS reset look in the guest's dmesg as seed 002's field log does."""

    def test_cfun_and_dms_reset(self):
        script = r"""
wait_for /sys/class/net/wwan0 20 || exit 3
at /dev/ttyUSB2 AT+CFUN=1,1
wait_for /sys/class/net/wwan0 5 && usleep 500000
wait_for /sys/class/net/wwan0 20 || exit 4
qmicli -d /dev/cdc-wdm0 --dms-set-operating-mode=reset
usleep 500000
wait_for /sys/class/net/wwan0 20 || exit 5
dmesg
"""
        with Guest("quectel-eg12") as g:
            rc, out = g.run(script)
        self.assertEqual(rc, 0, out)
        events = re.findall(r"(USB disconnect|new high-speed USB device|now disconnected from ttyUSB\d|"
                            r"wwan0: unregister|wwan0: register|now attached to ttyUSB\d)", out)
        # enumerate, then twice: disconnect, ttys and wwan0 go, a new enumeration, drivers attach again
        cycle = ["USB disconnect"] + [f"now disconnected from ttyUSB{i}" for i in range(4)] + ["wwan0: unregister",
                 "new high-speed USB device"] + [f"now attached to ttyUSB{i}" for i in range(4)] + ["wwan0: register"]
        first = ["new high-speed USB device"] + [f"now attached to ttyUSB{i}" for i in range(4)] + ["wwan0: register"]
        self.assertEqual(events, first + cycle + cycle)
        self.assertIn("Operating mode set successfully", out)


class ModemManagerInTheGuest(unittest.TestCase):
    SCRIPT = r"""
start_udev
start_modemmanager
n=0; while ! mmcli -L 2>/dev/null | grep -q Modem/ && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); done
mmcli -m any -e || exit 3
n=0; while ! mmcli -m any | grep -qE "state: .*registered" && [ $n -lt 40 ]; do sleep 1; n=$((n+1)); done
mmcli -m any
"""

    def detect_enable_register(self, p, plugin, manufacturer, extra=""):
        """ModemManager detects the module with `plugin`, enables it and sees it registered."""
        with Guest(p) as g:
            rc, out = g.run(self.SCRIPT + extra, timeout=240)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"plugin: " + plugin)
        self.assertRegex(out, r"manufacturer: " + manufacturer)
        self.assertRegex(out, r"model: " + profile_value(p, r'model:\s*"([^"]+)"'))
        self.assertRegex(out, r"firmware revision: " + profile_value(p, r'default_version:\s*"([^"]+)"'))
        self.assertRegex(out, r"equipment id: " + profile_value(p, r'imei:\s*"(\d+)"'))
        self.assertRegex(out, r"\bstate: .*registered")
        self.assertRegex(out, r"operator id: " + profile_value(p, r'mcc:\s*"(\d+)"') + profile_value(p, r'mnc:\s*"(\d+)"'))
        return out

    def test_detect_enable_register_command(self):
        out = self.detect_enable_register("quectel-ec25", "quectel", "Quectel", 'mmcli -m any --command="AT+CGMI"\n')
        self.assertIn("response: 'Quectel'", out)
        # DIAG answers ModemManager's QCDM probe on the DM port
        self.assertRegex(out, r"ttyUSB0 \(qcdm\)")

    def test_sierra_mc7455_detected_by_the_sierra_plugin_and_registered(self):
        out = self.detect_enable_register("sierra-mc7455", "sierra", "Sierra Wireless")
        # both QMI ports, the AT port and the NMEA port are ModemManager's
        self.assertRegex(out, r"cdc-wdm0 \(qmi\), cdc-wdm1 \(qmi\)")
        self.assertRegex(out, r"ttyUSB2 \(at\)")
        self.assertRegex(out, r"ttyUSB1 \(gps\)")


class HotPlugAndSeveralModems(unittest.TestCase):
    def test_two_modems_attached_through_the_monitor_and_detached(self):
        script = r"""
ls /dev | grep -E 'ttyUSB|cdc-wdm' && exit 3
hotplug 0
wait_for /dev/cdc-wdm0 20 || exit 4
hotplug 1
wait_for /dev/cdc-wdm2 20 || exit 5
for d in /sys/bus/usb/devices/*; do [ -f $d/idProduct ] && echo "sys:$(basename $d) $(cat $d/idVendor):$(cat $d/idProduct)"; done
unplug 0
n=50; while [ -e /sys/class/net/wwan0 ] && [ $n -gt 0 ]; do usleep 100000; n=$((n-1)); done
[ -e /sys/class/net/wwan0 ] && exit 6
ls /dev | grep -E 'cdc-wdm' | tr '\n' ' '
echo
dmesg | grep -E 'USB disconnect'
"""
        with Guest("quectel-ec25", "sierra-mc7455") as g:
            rc, out = g.run(script, hotplug=True)
        self.assertEqual(rc, 0, out)
        ids = sorted(v for k, v in sysfs_lines(out).items())
        self.assertIn("2c7c:0125", ids)
        self.assertIn("1199:9071", ids)
        self.assertIn("USB disconnect", out)


def firmware_package(profile, version, directory):
    """`modemu firmware build`, and the package as guest files under /pkg."""
    out = os.path.join(directory, "pkg")
    r = subprocess.run([os.environ["MODEMU"], "firmware", "build", "--profile", profile, "--version", version,
                        "-o", out, "--quiet"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    files = {}
    for base, _, names in os.walk(out):
        for n in names:
            path = os.path.join(base, n)
            with open(path, "rb") as f:
                files["pkg/" + os.path.relpath(path, out)] = (f.read(), 0o644)
    return files


# The guest's side of an update, as a router's updater does it: QFirehose's DIAG switch on the DM
# port, then qdl (linux-msm/qdl, usbfs) on the 05c6:9008 device qcserial bound.
EDL_GUEST_LIB = r"""
edl_switch() {
  stty -F /dev/ttyUSB0 raw -echo
  printf '\113\145\001\000\124\017\176' > /dev/ttyUSB0
}
# usb_count VID PID: devices with that identity on the bus
usb_count() {
  n=0
  for d in /sys/bus/usb/devices/*; do
    [ -f "$d/idVendor" ] && [ "$(cat $d/idVendor)" = "$1" ] && [ "$(cat $d/idProduct)" = "$2" ] && n=$((n+1))
  done
  echo $n
}
# wait_usb VID PID [SECONDS]
wait_usb() {
  n=$(( ${3:-20} * 10 ))
  while [ "$(usb_count $1 $2)" = 0 ] && [ $n -gt 0 ]; do usleep 100000; n=$((n-1)); done
  [ "$(usb_count $1 $2)" != 0 ]
}
# wait_dmesg COUNT PATTERN [SECONDS]: until PATTERN appears COUNT times in dmesg
wait_dmesg() {
  n=$(( ${3:-20} * 10 ))
  while [ "$(dmesg | grep -c "$2")" -lt "$1" ] && [ $n -gt 0 ]; do usleep 100000; n=$((n-1)); done
  [ "$(dmesg | grep -c "$2")" -ge "$1" ]
}
# flash [PROGRAMMER GEOMETRY]: qdl on the package in /pkg (default: the EG12's)
flash() {
  (cd /pkg/update/firehose && qdl --storage nand "${1:-prog_nand_firehose_sdx20.mbn}" \
      "rawprogram_nand_${2:-p4K_b256K}_update.xml" "patch_${2:-p4K_b256K}.xml")
}
"""


class FirmwareUpdateWithQdl(unittest.TestCase):
    """Issue 5's acceptance: qdl flashes a package into an EG12 put into EDL by the DIAG switch."""

    def test_update_a09_to_a12(self):
        script = EDL_GUEST_LIB + r"""
wait_for /dev/cdc-wdm0 20 || exit 3
qmicli -d /dev/cdc-wdm0 --dms-get-revision
edl_switch
wait_usb 05c6 9008 20 || exit 4
wait_dmesg 1 "Qualcomm USB modem converter now attached" 10 || exit 5
echo "sys: 9008 $(usb_count 05c6 9008) interfaces $(cat /sys/bus/usb/devices/*/bNumInterfaces | tr -d ' ' | tr '
' ' ')"
flash
echo "qdl-rc=$?"
wait_usb 2c7c 0512 30 || exit 6
wait_for /dev/cdc-wdm0 20 || exit 7
wait_for /dev/ttyUSB2 20 || exit 8
qmicli -d /dev/cdc-wdm0 --dms-get-revision
at /dev/ttyUSB2 AT+QGMR
"""
        with tempfile.TemporaryDirectory() as d:
            files = firmware_package("quectel-eg12", "EG12EAPAR01A12M4G", d)
            with Guest("quectel-eg12", extra=["--firmware", "EG12EAPAR01A09M4G"]) as g:
                rc, out, console = testbed.run(script, [g.modems[0].sock], timeout=240, files=files)
                m = g.modems[0]
                self.assertEqual(rc, 0, console[-6000:])
                m.wait_event(lambda e: e["kind"] == "boot" and e.get("fields", {}).get("firmware") == "EG12EAPAR01A12M4G"
                             and e.get("fields", {}).get("mode") == "APPLICATION", timeout=5, what="boot into A12")
        self.assertIn("Revision: 'EG12EAPAR01A09M4G'", out)
        self.assertIn("sys: 9008 1", out)
        self.assertIn("qdl-rc=0", out)
        self.assertIn("Revision: 'EG12EAPAR01A12M4G'", out)
        self.assertRegex(out, r"AT\+QGMR\nEG12EAPAR01A12M4G_01\.001\.01\.001\n\nOK")

    def test_power_cut_leaves_edl_and_flashing_again_recovers(self):
        script = EDL_GUEST_LIB + r"""
wait_for /dev/ttyUSB0 20 || exit 3
edl_switch
wait_usb 05c6 9008 20 || exit 4
wait_dmesg 1 "Qualcomm USB modem converter now attached" 10 || exit 5
flash > /tmp/qdl1.log 2>&1 &
q=$!
# the cut: the module drops off the bus in the middle of the update...
wait_dmesg 2 "USB disconnect" 90 || { cat /tmp/qdl1.log; exit 6; }
# ...and on the next power-on it is in emergency download, qcserial bound again
wait_dmesg 2 "Qualcomm USB modem converter now attached" 20 || exit 7
echo "sys: after-cut 9008 $(usb_count 05c6 9008) 0512 $(usb_count 2c7c 0512)"
kill $q 2>/dev/null; wait $q 2>/dev/null
flash
echo "qdl-rc=$?"
wait_usb 2c7c 0512 30 || exit 8
wait_for /dev/cdc-wdm0 20 || exit 9
qmicli -d /dev/cdc-wdm0 --dms-get-revision
"""
        with tempfile.TemporaryDirectory() as d:
            files = firmware_package("quectel-eg12", "EG12EAPAR01A12M4G", d)
            extra = ["--firmware", "EG12EAPAR01A09M4G", "--power-cut-after-program", "40K", "--power-off-time", "1s"]
            with Guest("quectel-eg12", extra=extra) as g:
                rc, out, console = testbed.run(script, [g.modems[0].sock], timeout=240, files=files)
                m = g.modems[0]
                self.assertEqual(rc, 0, console[-6000:])
                m.wait_kind("power", "power cut after", timeout=5)
                edl = m.wait_event(lambda e: e["kind"] == "boot" and e.get("fields", {}).get("mode") == "EDL",
                                   timeout=5, what="boot into EDL from the flash")
                self.assertIn("SBL unusable", edl["message"])
        self.assertIn("sys: after-cut 9008 1 0512 0", out)
        self.assertIn("qdl-rc=0", out)
        self.assertIn("Revision: 'EG12EAPAR01A12M4G'", out)


class FieldFailuresInTheTestbed(unittest.TestCase):
    """Scenarios with a real kernel attached (real time, profile delays scaled down): the host-side
    symptom in the guest, the recovery by the guest's own updater, and `--check`."""

    def run_scenario(self, scenario, script, files, profile, time_scale):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "scenario.txtpb")
            with open(path, "w") as f:
                f.write(scenario)
            with Guest(profile, time_scale=time_scale, extra=["--scenario", path, "--check"]) as g:
                m = g.modems[0]
                rc, out, console = testbed.run(script, [m.sock], timeout=240, files=files)
                self.assertEqual(rc, 0, console[-6000:])
                # The scenario ends by itself; --check gives its verdict.
                check_rc = m.proc.wait(timeout=120)
                verdicts = m.proc.stderr.read().decode()
                self.assertEqual(check_rc, 0, verdicts)
                self.assertIn("every expectation held", verdicts)
        return out

    def test_f01_reset_loop_seen_by_the_kernel_and_stopped_by_flashing_a12(self):
        # --time-scale 0.0005 also scales the firmware's trait: a reset every 7.2 s +- 1.8 s.
        scenario = """
name: "f01-testbed" seed: 2 duration: "70s"
modems { id: "eg12" profile: "quectel-eg12" firmware: "EG12EAPAR01A09M4G" }
expectations { name: "the module drops off USB" within_event { kind: "usb.unplug" } time: "20s" }
expectations { name: "the firmware becomes A12" eventually { kind: "boot" fields { key: "firmware" value: "EG12EAPAR01A12M4G" } fields { key: "mode" value: "APPLICATION" } } }
expectations {
  name: "no USB disconnect for 25 s (three periods) after the update"
  after { kind: "boot" fields { key: "firmware" value: "EG12EAPAR01A12M4G" } fields { key: "mode" value: "APPLICATION" } }
  never { kind: "usb.unplug" } time: "25s"
}
"""
        script = EDL_GUEST_LIB + r"""
wait_for /dev/ttyUSB0 20 || exit 3
wait_dmesg 3 "USB disconnect" 40 || exit 4
echo "sys: disconnects-before $(dmesg | grep -c 'USB disconnect')"
wait_for /dev/ttyUSB0 20 || exit 5
edl_switch
wait_usb 05c6 9008 20 || exit 6
flash
echo "qdl-rc=$?"
wait_usb 2c7c 0512 30 || exit 7
wait_for /dev/cdc-wdm0 20 || exit 8
n=$(dmesg | grep -c 'USB disconnect')
qmicli -d /dev/cdc-wdm0 --dms-get-revision
sleep 20
echo "sys: disconnects-after-update $(( $(dmesg | grep -c 'USB disconnect') - n ))"
"""
        with tempfile.TemporaryDirectory() as d:
            files = firmware_package("quectel-eg12", "EG12EAPAR01A12M4G", d)
        out = self.run_scenario(scenario, script, files, "quectel-eg12", "0.0005")
        self.assertIn("qdl-rc=0", out)
        self.assertIn("Revision: 'EG12EAPAR01A12M4G'", out)
        self.assertIn("sys: disconnects-after-update 0", out)

    def test_f02_module_in_edl_recovered_by_flashing(self):
        scenario = """
name: "f02-testbed" seed: 1 duration: "45s"
modems { id: "ec25" profile: "quectel-ec25" firmware: "EC25EFAR06A06M4G" flash: FLASH_ERASED_SBL }
expectations { name: "05c6:9008 at power-on" within_event { kind: "usb.plug" fields { key: "pid" value: "9008" } } time: "10s" }
expectations { name: "boots the new version after the update" eventually { kind: "boot" fields { key: "firmware" value: "EC25EFAR06A11M4G" } fields { key: "mode" value: "APPLICATION" } } }
"""
        script = EDL_GUEST_LIB + r"""
wait_usb 05c6 9008 20 || exit 3
wait_dmesg 1 "Qualcomm USB modem converter now attached" 10 || exit 4
echo "sys: only-9008 $(usb_count 05c6 9008) $(usb_count 2c7c 0125)"
flash prog_nand_firehose_9x07.mbn p2K_b128K
echo "qdl-rc=$?"
wait_usb 2c7c 0125 30 || exit 5
wait_for /dev/cdc-wdm0 20 || exit 6
qmicli -d /dev/cdc-wdm0 --dms-get-revision
"""
        with tempfile.TemporaryDirectory() as d:
            files = firmware_package("quectel-ec25", "EC25EFAR06A11M4G", d)
        out = self.run_scenario(scenario, script, files, "quectel-ec25", "0.1")
        self.assertIn("sys: only-9008 1 0", out)
        self.assertIn("qdl-rc=0", out)
        self.assertIn("Revision: 'EC25EFAR06A11M4G'", out)


class UsbipGuest:
    """A modemu USB/IP server on the host's loopback (a port it picks) and a guest that attaches
    the modem through vhci_hcd over QEMU's user-mode network, with examples/usbip-watchdog.sh."""

    def __init__(self, profile, extra=(), time_scale="0.1"):
        self.dir = tempfile.mkdtemp(prefix="modemu-usbip-")
        self.modem = Modemu("--transport", "usbip", "--listen", "127.0.0.1:0", *extra, profile=profile,
                            time_scale=time_scale, workdir=os.path.join(self.dir, "w"))
        start = self.modem.wait_kind("start")
        self.port = int(start["fields"]["listen"].rpartition(":")[2])
        self.busid = start["fields"]["busid"]

    def run(self, script, timeout=180, files=None):
        with open(os.path.join(ROOT, "examples", "usbip-watchdog.sh"), "rb") as f:
            guest_files = {"watchdog.sh": (f.read(), 0o755)}
        guest_files.update(files or {})
        head = (f"use_usbip || exit 2\nexport USBIP_PORT={self.port}\n"
                f"sh /watchdog.sh 10.0.2.2 {self.busid} > /tmp/watchdog.log 2>&1 &\n")
        return testbed.run(head + script, [], timeout=timeout, files=guest_files, net=True)

    def close(self):
        self.modem.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class UsbipFromTheGuest(unittest.TestCase):
    """Issue 8's USB/IP acceptance: the guest's vhci_hcd attaches the modem from modemu's USB/IP
    server; option and qmi_wwan bind, AT and qmicli work, a reset closes the connection and the
    router-side watchdog attaches the new device, and qdl flashes through the EDL composition."""

    def test_enumeration_at_qmicli_reset_and_reattach(self):
        p = "quectel-ec25"
        script = EDL_GUEST_LIB + r"""
wait_for /sys/class/net/wwan0 30 || { cat /tmp/watchdog.log; dmesg | tail -20; exit 3; }
d=$(dirname $(readlink -f /sys/class/net/wwan0/device))
d=/sys/bus/usb/devices/$(basename $d)
echo "sys:bus $(basename $d)"
echo "sys:ids $(cat $d/idVendor):$(cat $d/idProduct)"
echo "sys:speed $(cat $d/speed)"
for i in $d/*:1.*; do echo "sys:if$(cat $i/bInterfaceNumber) $(basename $(readlink $i/driver))"; done
echo "sys:nodes $(ls /dev | grep -E '^(ttyUSB|cdc-wdm)' | tr '\n' ' ')"
at /dev/ttyUSB2 ATI
at /dev/ttyUSB2 AT+CSQ
for c in --dms-get-ids --dms-get-revision --nas-get-serving-system --uim-get-card-status --wds-get-packet-service-status; do
  echo "== $c"; qmicli -d /dev/cdc-wdm0 $c || echo FAILED
done
echo "== reset"
at /dev/ttyUSB2 AT+CFUN=1,1
wait_dmesg 1 "USB disconnect" 10 || exit 4
wait_dmesg 2 "New USB device found, idVendor=2c7c" 30 || { cat /tmp/watchdog.log; exit 5; }
wait_for /sys/class/net/wwan0 20 || exit 6
wait_for /dev/ttyUSB2 10 || exit 7
at /dev/ttyUSB2 ATI
qmicli -d /dev/cdc-wdm0 --dms-get-revision || echo FAILED
usbip --tcp-port $USBIP_PORT list -r 10.0.2.2
dmesg | grep -E "vhci_hcd: connection closed|USB disconnect|New USB device found"
cat /tmp/watchdog.log
"""
        with UsbipGuest(p) as g:
            rc, out, console = g.run(script)
            self.assertEqual(rc, 0, console[-6000:])
            g.modem.wait_kind("usb.usbip", "left the bus: closing the connection", timeout=5)
        sys_ = sysfs_lines(out)
        self.assertRegex(sys_["sys:bus"], r"^\d+-1$")
        self.assertEqual(sys_["sys:ids"], "2c7c:0125")
        self.assertEqual(sys_["sys:speed"], "480")
        for i in range(4):
            self.assertEqual(sys_[f"sys:if0{i}"], "option")
        self.assertEqual(sys_["sys:if04"], "qmi_wwan")
        self.assertEqual(sys_["sys:nodes"].split(), ["cdc-wdm0", "ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3"])
        self.assertNotIn("FAILED", out)
        self.assertEqual(out.count("Revision: " + profile_value(p, r'default_version:\s*"([^"]+)"')), 2)
        self.assertIn(f"+CSQ: {csq_of(p)},99", out)
        self.assertIn("IMEI: '%s'" % profile_value(p, r'imei:\s*"(\d+)"'), out)
        self.assertIn("Registration state: 'registered'", out)
        self.assertEqual(out.count("Revision: '%s'" % profile_value(p, r'default_version:\s*"([^"]+)"')), 2)
        # the reset: the connection closes, the kernel sees a disconnect, the watchdog attaches again
        self.assertIn("vhci_hcd: connection closed", out)
        self.assertEqual(len(re.findall(r"New USB device found, idVendor=2c7c, idProduct=0125", out)), 2)
        self.assertIn("connection closed (module reset or changed mode)", out)
        self.assertEqual(len(re.findall(r"usbip-watchdog: attached 1-1 from 10\.0\.2\.2", out)), 2)
        # `usbip list -r` lists the modem after the reset too
        self.assertRegex(out, r"1-1: .*\(2c7c:0125\)")

    def test_qdl_flash_through_the_edl_composition(self):
        script = EDL_GUEST_LIB + r"""
wait_for /dev/cdc-wdm0 30 || { cat /tmp/watchdog.log; exit 3; }
qmicli -d /dev/cdc-wdm0 --dms-get-revision
edl_switch
wait_usb 05c6 9008 30 || { cat /tmp/watchdog.log; exit 4; }
wait_dmesg 1 "Qualcomm USB modem converter now attached" 10 || exit 5
echo "sys: 9008 $(usb_count 05c6 9008) 0512 $(usb_count 2c7c 0512)"
flash
echo "qdl-rc=$?"
wait_usb 2c7c 0512 30 || { cat /tmp/watchdog.log; exit 6; }
wait_for /dev/cdc-wdm0 20 || exit 7
wait_for /dev/ttyUSB2 20 || exit 8
qmicli -d /dev/cdc-wdm0 --dms-get-revision
at /dev/ttyUSB2 AT+QGMR
echo "sys: disconnects $(dmesg | grep -c 'vhci_hcd: connection closed')"
cat /tmp/watchdog.log
"""
        with tempfile.TemporaryDirectory() as d:
            files = firmware_package("quectel-eg12", "EG12EAPAR01A12M4G", d)
            with UsbipGuest("quectel-eg12", extra=["--firmware", "EG12EAPAR01A09M4G"]) as g:
                rc, out, console = g.run(script, timeout=300, files=files)
                self.assertEqual(rc, 0, console[-6000:])
                g.modem.wait_event(lambda e: e["kind"] == "boot" and e.get("fields", {}).get("firmware") ==
                                   "EG12EAPAR01A12M4G" and e.get("fields", {}).get("mode") == "APPLICATION",
                                   timeout=5, what="boot into A12")
        self.assertIn("Revision: 'EG12EAPAR01A09M4G'", out)
        self.assertIn("sys: 9008 1 0512 0", out)
        self.assertIn("qdl-rc=0", out)
        self.assertIn("Revision: 'EG12EAPAR01A12M4G'", out)
        self.assertRegex(out, r"AT\+QGMR\nEG12EAPAR01A12M4G_01\.001\.01\.001\n\nOK")
        # application -> EDL -> application: two closed connections, three attaches
        self.assertIn("sys: disconnects 2", out)
        self.assertEqual(len(re.findall(r"usbip-watchdog: attached", out)), 3)


def sierra_package(profile, version, directory, carrier="GENERIC"):
    """`modemu firmware build` for a Sierra module: the .cwe and .nvu as guest files under /fw."""
    out = os.path.join(directory, "fw")
    r = subprocess.run([os.environ["MODEMU"], "firmware", "build", "--profile", profile, "--version", version,
                        "--carrier", carrier, "-o", out, "--quiet"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    files = {}
    for n in sorted(os.listdir(out)):
        with open(os.path.join(out, n), "rb") as f:
            files["fw/" + n] = (f.read(), 0o644)
    return files


# qmi-firmware-update as a router runs it: udev for its device waits, dbus for its check that
# ModemManager is not running (transports.md section 6).
SIERRA_GUEST_LIB = EDL_GUEST_LIB + r"""
start_udev
mkdir -p /run/dbus /var/lib/dbus
dbus-daemon --system --fork
"""


class SierraFirmwareUpdate(unittest.TestCase):
    """Issue 9's acceptance: qmi-firmware-update updates and recovers Sierra modules."""

    @staticmethod
    def update_script(app):
        """qmi-firmware-update --update on the application-mode device `app` (VID:PID), then the
        revision over QMI and AT!IMPREF?. The tool runs verbose: when it fails, its reasons (it
        logs why each download protocol was refused only at debug level) are in the output."""
        return SIERRA_GUEST_LIB + rf"""
wait_for /dev/cdc-wdm0 20 || exit 3
cd /fw
timeout 200 qmi-firmware-update -v --update -d {app} *.cwe *.nvu > /tmp/qfu.log 2>&1
rc=$?
echo "qfu-rc=$rc"
[ $rc -eq 0 ] || grep -aE 'creation failed|sahara|qdl|error|TTY|tty|waiting' /tmp/qfu.log |
  grep -avE 'version:|compatible:|max length:|mode: |hello-req' | uniq -c | tail -60
tr '\r' '\n' < /tmp/qfu.log | grep -avE '^\[|^.\[K|%$' | tail -60
wait_for /dev/cdc-wdm0 30 || exit 4
qmicli -d /dev/cdc-wdm0 --dms-get-revision
at /dev/ttyUSB2 'AT!IMPREF?'
"""

    def update(self, profile, version, app, boot, boot_event):
        """Runs update_script on `profile` with a `version` package: the module must show up as
        `boot` (VID:PID) and log `boot_event` (kind, text) on the way, and the tool must finish
        with no mismatch. Returns the guest's output and its part from the new revision on."""
        with tempfile.TemporaryDirectory() as d:
            files = sierra_package(profile, version, d)
            with Guest(profile) as g:
                rc, out, console = testbed.run(self.update_script(app), [g.modems[0].sock], timeout=300,
                                               files=files)
                m = g.modems[0]
                self.assertEqual(rc, 0, console[-8000:])
                m.wait_kind("usb.plug", boot, timeout=5)
                m.wait_kind(*boot_event, timeout=5)
        self.assertIn("qfu-rc=0", out, out[-6000:])
        self.assertIn("firmware update operation finished successfully", out)
        self.assertNotIn("mismatch", out)
        return out, out[out.index("new firmware revision is:"):]

    def test_mc7455_update_through_boot_and_hold_and_qdl(self):
        out, new = self.update("sierra-mc7455", "02.30.01.01", "1199:9071", "1199:9070", ("qdl", "HELLO version 6"))
        self.assertRegex(new, r"SWI9X30C_02\.30\.01\.01")
        self.assertRegex(new, r"Config version: GENERIC_002\.079_000")
        self.assertRegex(out, r"Revision: 'SWI9X30C_02\.30\.01\.01")
        self.assertRegex(out, r"preferred fw version:\s+02\.30\.01\.01")
        self.assertRegex(out, r"current fw version:\s+02\.30\.01\.01")
        self.assertRegex(out, r"current carrier name:\s+GENERIC")

    def test_em7565_update_through_sahara_and_firehose(self):
        out, new = self.update("sierra-em7565", "01.08.04.00", "1199:9091", "1199:9090",
                               ("firehose", "program start_sector -1"))
        self.assertRegex(new, r"SWI9X50C_01\.08\.04\.00")
        self.assertRegex(new, r"Config version: GENERIC_001\.028_000")
        self.assertRegex(out, r"Revision: 'SWI9X50C_01\.08\.04\.00")
        self.assertRegex(out, r"current fw version:\s+01\.08\.04\.00")

    def test_f09_loader_answers_dload_sdp_with_0x13(self):
        scenario = """
name: "f09-testbed" seed: 9 duration: "600s"
modems { id: "mc7455" profile: "sierra-mc7455" }
faults { type: "qdl_sdp_reply" }
"""
        script = SIERRA_GUEST_LIB + r"""
wait_for /dev/cdc-wdm0 20 || exit 3
cd /fw
timeout 120 qmi-firmware-update -v --update -d 1199:9071 *.cwe *.nvu > /tmp/qfu.log 2>&1
echo "qfu-rc=$?"
grep -E '^error|dload sdp' /tmp/qfu.log
echo "sys: 9070 $(usb_count 1199 9070) 9071 $(usb_count 1199 9071)"
"""
        with tempfile.TemporaryDirectory() as d:
            files = sierra_package("sierra-mc7455", "02.30.01.01", d)
            path = os.path.join(d, "scenario.txtpb")
            with open(path, "w") as f:
                f.write(scenario)
            with Guest("sierra-mc7455", extra=["--scenario", path]) as g:
                rc, out, console = testbed.run(script, [g.modems[0].sock], timeout=300, files=files)
                self.assertEqual(rc, 0, console[-8000:])
                g.modems[0].wait_kind("qdl", "DLOAD SDP: answered 13", timeout=5)
        self.assertRegex(out, r"qfu-rc=[1-9]")
        # qmi-firmware-update's verbose log has the field's line; its verdict is "unsupported download protocol"
        self.assertIn("qdl device creation failed: unexpected response received in dload sdp: 0x13", out)
        self.assertIn("error: unsupported download protocol", out)
        self.assertIn("sys: 9070 1 9071 0", out)

    def test_seed000_power_cut_in_the_download_then_update_download_recovers(self):
        # The cut: half-way through the first image of the QDL download (F3, seed 000).
        scenario = """
name: "f03-testbed" seed: 3 duration: "600s"
modems { id: "mc7455" profile: "sierra-mc7455" }
faults { type: "power_cut" params { key: "point" value: "qdl_image" } params { key: "percent" value: "50" } params { key: "off_time" value: "1s" } }
"""
        script = SIERRA_GUEST_LIB + r"""
wait_for /dev/cdc-wdm0 20 || exit 3
cd /fw
timeout 120 qmi-firmware-update --update -d 1199:9071 *.cwe *.nvu > /tmp/qfu1.log 2>&1
echo "qfu1-rc=$?"
tr '\r' '\n' < /tmp/qfu1.log | grep -E '^error' | tail -3
# upgrade mode: back on the bus with the boot PID, one interface, no QMI, no SIM
wait_usb 1199 9070 20 || exit 4
wait_for /dev/ttyUSB0 20 || exit 5
sleep 2
echo "sys: after-cut 9070 $(usb_count 1199 9070) 9071 $(usb_count 1199 9071) interfaces $(cat /sys/bus/usb/devices/1-1/bNumInterfaces | tr -d ' ') wdm $(ls /dev | grep -c cdc-wdm)"
timeout 120 qmi-firmware-update --update-download -d 1199:9070 *.cwe *.nvu > /tmp/qfu2.log 2>&1
echo "qfu2-rc=$?"
tr '\r' '\n' < /tmp/qfu2.log | grep -vE '^.\[K|%$' | tail -20
wait_usb 1199 9071 30 || exit 6
wait_for /dev/cdc-wdm0 30 || exit 7
qmicli -d /dev/cdc-wdm0 --dms-get-revision
n=0; while ! qmicli -d /dev/cdc-wdm0 --uim-get-card-status 2>/dev/null | grep -q "Card state: 'present'" && [ $n -lt 20 ]; do sleep 1; n=$((n+1)); done
qmicli -d /dev/cdc-wdm0 --uim-get-card-status | grep -E "Card state|Application state" | head -2
"""
        with tempfile.TemporaryDirectory() as d:
            files = sierra_package("sierra-mc7455", "02.30.01.01", d)
            path = os.path.join(d, "scenario.txtpb")
            with open(path, "w") as f:
                f.write(scenario)
            with Guest("sierra-mc7455", extra=["--scenario", path]) as g:
                rc, out, console = testbed.run(script, [g.modems[0].sock], timeout=400, files=files)
                m = g.modems[0]
                self.assertEqual(rc, 0, console[-8000:])
                m.wait_kind("power", "power cut 50% into QDL image #1", timeout=5)
                hold = m.wait_event(lambda e: e["kind"] == "boot" and "download" in e["message"], timeout=5,
                                    what="boot decision: interrupted download")
                self.assertIn("boot-and-hold", hold["message"])
        self.assertRegex(out, r"qfu1-rc=[1-9]")
        self.assertIn("sys: after-cut 9070 1 9071 0 interfaces 1 wdm 0", out)
        self.assertIn("qfu2-rc=0", out)
        self.assertRegex(out, r"Revision: 'SWI9X30C_02\.30\.01\.01")
        self.assertIn("Card state: 'present'", out)


class PcapInTshark(unittest.TestCase):
    def test_at_decoded(self):
        with tempfile.TemporaryDirectory() as d:
            pcap = os.path.join(d, "session.pcap")
            with Guest("quectel-ec25", pcap=pcap) as g:
                rc, out = g.run("wait_for /dev/ttyUSB2 20 || exit 3\nat /dev/ttyUSB2 ATI\n")
                self.assertEqual(rc, 0, out)
            r = subprocess.run(["tshark", "-r", pcap, "-Y", "at"], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Sent AT Command: ATI", r.stdout)
            self.assertRegex(r.stdout, r"Rcvd AT Command:.*Quectel")
            r = subprocess.run(["tshark", "-r", pcap, "-Y", "usb.bDescriptorType == 1", "-V"], capture_output=True,
                               text=True, timeout=60)
            self.assertIn("idVendor: Quectel Wireless Solutions Co., Ltd. (0x2c7c)", r.stdout)



# The device in the guest, whichever bus it is on: ids, strings, drivers per interface, nodes.
GADGET_ENUMERATION = r"""
d=$(for d in /sys/bus/usb/devices/*-1; do [ -f $d/idProduct ] && [ "$(cat $d/idVendor)" != 1d6b ] && echo $d; done)
echo "sys:ids $(cat $d/idVendor):$(cat $d/idProduct)"
echo "sys:strings $(cat $d/manufacturer)/$(cat $d/product)"
for i in $d/*:1.*; do echo "sys:if$(cat $i/bInterfaceNumber) $(basename $(readlink $i/driver 2>/dev/null || echo none))"; done
echo "sys:nodes $(ls /dev | grep -E '^(ttyUSB|cdc-wdm)' | tr '\n' ' ')"
"""


class GadgetInTheGuest(unittest.TestCase):
    """Issue 8's first acceptance item: modemu runs inside the guest with --transport gadget
    (configfs through libusbgx, FunctionFS) and the guest's own kernel is the host. Full
    compositions on usbip-vudc looped back through vhci_hcd; a reduced one on dummy_hcd, whose
    endpoints are too few for five interfaces (transports.md section 3)."""

    # Whatever the script's end, modemu is stopped and its log and the gadgets left are shown.
    EPILOGUE = ("trap 'modemu_stop; echo \"modemu-rc=$?\"; echo \"sys:gadgets-left [$(ls /sys/kernel/config/usb_gadget "
                "2>/dev/null)]\"; echo \"== modemu log\"; cat /tmp/modemu.log' EXIT\n")
    VUDC = "gadget_setup vudc\nkeep_vudc_attached &\n"

    def run_guest(self, script, files=None, timeout=300):
        overlay = testbed.modemu_overlay(os.environ["MODEMU"])
        rc, out, console = testbed.run(EDL_GUEST_LIB + self.EPILOGUE + script, timeout=timeout, overlays=[overlay],
                                       files=files)
        self.assertEqual(rc, 0, console[-8000:])
        # SIGTERM: modemu unbinds and removes everything it made in configfs, and exits 0
        self.assertIn("modemu-rc=0", out)
        self.assertIn("sys:gadgets-left []", out)
        return out

    def check_full(self, out, profile, pid):
        sys_ = sysfs_lines(out)
        self.assertEqual(sys_["sys:ids"], f"2c7c:{pid}")
        self.assertEqual(sys_["sys:strings"], "Quectel/" + profile_value(profile, r'product:\s*"([^"]+)"'))
        for i in range(4):
            self.assertEqual(sys_[f"sys:if0{i}"], "option")
        self.assertEqual(sys_["sys:if04"], "qmi_wwan")
        self.assertEqual(sys_["sys:nodes"].split(), ["cdc-wdm0", "ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3"])
        self.assertIn("bound to usbip-vudc.0 (interfaces 0 1 2 3 4)", out)

    def test_ec25_full_composition_on_vudc(self):
        p = "quectel-ec25"
        out = self.run_guest(self.VUDC + f"modemu_start --profile {p} --time-scale 0.1 -t gadget --udc usbip-vudc.0\n"
                             "wait_for /sys/class/net/wwan0 40 || exit 3\n" + GADGET_ENUMERATION +
                             "at /dev/ttyUSB2 ATI\n" + qmicli_suite_script())
        self.check_full(out, p, "0125")
        self.assertIn("Revision: " + profile_value(p, r'default_version:\s*"([^"]+)"'), out)
        check_qmicli_suite(self, out, p)

    def test_sierra_mc7455_keeps_its_interface_numbers_on_vudc(self):
        # 0 2 3 8 10: qcserial and qmi_wwan pick their interfaces by number
        out = self.run_guest(self.VUDC + "modemu_start --profile sierra-mc7455 --time-scale 0.1 -t gadget\n"
                             "wait_for /sys/class/net/wwan1 40 || exit 3\n" + GADGET_ENUMERATION +
                             "at /dev/ttyUSB2 ATI\nqmicli -d /dev/cdc-wdm0 --dms-get-model\n")
        sys_ = sysfs_lines(out)
        self.assertEqual(sys_["sys:ids"], "1199:9071")
        for n in ("00", "02", "03"):
            self.assertEqual(sys_[f"sys:if{n}"], "qcserial")
        for n in ("08", "0a"):
            self.assertEqual(sys_[f"sys:if{n}"], "qmi_wwan")
        for n in ("01", "04", "05", "06", "07", "09"):
            self.assertEqual(sys_[f"sys:if{n}"], "none")
        self.assertEqual(sys_["sys:nodes"].split(), ["cdc-wdm0", "cdc-wdm1", "ttyUSB0", "ttyUSB1", "ttyUSB2"])
        self.assertIn("Model: MC7455", out)
        self.assertIn("Model: 'MC7455'", out)
        self.assertIn("(interfaces 0 2 3 8 10; placeholders 1 4 5 6 7 9)", out)

    def test_eg12_full_composition_reset_edl_and_qdl_on_vudc(self):
        p = "quectel-eg12"
        script = self.VUDC + f"""
modemu_start --profile {p} --time-scale 0.1 -t gadget --firmware EG12EAPAR01A09M4G
wait_for /sys/class/net/wwan0 40 || exit 3
{GADGET_ENUMERATION}
at /dev/ttyUSB2 ATI
{qmicli_suite_script()}
# a reset: the gadget is unbound and bound again, the host sees a disconnect and a new device
at /dev/ttyUSB2 AT+CFUN=1,1
wait_dmesg 1 "USB disconnect" 20 || exit 4
wait_dmesg 2 "wwan0: register" 40 || exit 5
wait_for /dev/cdc-wdm0 20 || exit 6
echo "sys:after-reset $(usb_count 2c7c 0512)"
# the DIAG switch into EDL: one interface, 05c6:9008, bound by qcserial; qdl flashes A12 into it
edl_switch
wait_usb 05c6 9008 30 || exit 7
wait_dmesg 1 "Qualcomm USB modem converter now attached" 10 || exit 8
echo "sys:9008 $(usb_count 05c6 9008) 0512 $(usb_count 2c7c 0512)"
flash
echo "qdl-rc=$?"
wait_usb 2c7c 0512 30 || exit 9
wait_for /dev/cdc-wdm0 20 || exit 10
qmicli -d /dev/cdc-wdm0 --dms-get-revision
"""
        with tempfile.TemporaryDirectory() as d:
            files = firmware_package(p, "EG12EAPAR01A12M4G", d)
            out = self.run_guest(script, files=files, timeout=400)
        self.check_full(out, p, "0512")
        check_qmicli_suite(self, out, p, "EG12EAPAR01A09M4G")
        self.assertIn("sys:after-reset 1", out)
        self.assertIn("sys:9008 1 0512 0", out)
        self.assertIn("05c6:9008 bound to usbip-vudc.0 (interfaces 0)", out)
        self.assertIn("qdl-rc=0", out)
        self.assertIn("Revision: 'EG12EAPAR01A12M4G'", out)
        # every plug built a new gadget: start, reset, EDL, A12
        self.assertEqual(len(re.findall(r"gadget modemu-quectel-eg12 \S+ bound to", out)), 4)

    def test_reduced_composition_on_dummy_hcd_errors_and_leftover(self):
        p = "quectel-ec25"
        run = f"MODEMU_PROFILE_PATH=/modemu/profiles /modemu/modemu run -p {p} -t gadget --state-dir /tmp/s"
        script = f"""
echo "== no configfs"; {run} 2>&1; echo "rc=$?"
gadget_setup none
echo "== no udc"; {run} 2>&1; echo "rc=$?"
echo "== bad list"; {run} --gadget-interfaces 2,x 2>&1; echo "rc=$?"
gadget_setup dummy
for m in $(grep -E 'usbip-(core|vudc)' /etc/testbed-gadget-modules); do insmod $m; done
echo "== several udcs"; {run} 2>&1; echo "rc=$?"
echo "== unknown udc"; {run} --udc nope 2>&1; echo "rc=$?"
modemu_start --profile {p} --time-scale 0.1 -t gadget --udc dummy_udc.0 --gadget-interfaces 2,4
wait_for /sys/class/net/wwan0 40 || exit 3
{GADGET_ENUMERATION}
at /dev/ttyUSB0 ATI
{qmicli_suite_script("/dev/ttyUSB0")}
# killed without cleaning up: the gadget stays in configfs, unbound; the next start replaces it
kill -9 $(cat /tmp/modemu.pid); wait
wait_dmesg 1 "USB disconnect" 10 || exit 4
echo "sys:left-after-kill $(ls /sys/kernel/config/usb_gadget)"
modemu_start --profile {p} --time-scale 0.1 -t gadget --udc dummy_udc.0 --gadget-interfaces 2,4
wait_dmesg 2 "wwan0: register" 40 || exit 5
wait_for /dev/cdc-wdm0 20 || exit 6
qmicli -d /dev/cdc-wdm0 --dms-get-revision
"""
        out = self.run_guest(script)
        self.assertRegex(out, r"== no configfs\nmodemu run: error: --transport gadget: no /sys/kernel/config/usb_gadget: "
                              r"mount configfs .*\nrc=1")
        self.assertRegex(out, r"== no udc\nmodemu run: error: --transport gadget: no USB device controller in "
                              r"/sys/class/udc.*\nrc=1")
        self.assertRegex(out, r"== bad list\nmodemu run: error: --gadget-interfaces: \"x\" is not an interface number")
        self.assertRegex(out, r"== several udcs\nmodemu run: error: --transport gadget: several USB device controllers "
                              r"\(dummy_udc.0, usbip-vudc.0\): choose one with --udc NAME\nrc=1")
        self.assertRegex(out, r"== unknown udc\nmodemu run: error: --udc nope: no such USB device controller in "
                              r"/sys/class/udc \(there: dummy_udc.0, usbip-vudc.0\)\nrc=1")
        sys_ = sysfs_lines(out)
        # AT and QMI keep their numbers 2 and 4; 0, 1 and 3 are interfaces without endpoints
        # that no driver claims
        self.assertEqual(sys_["sys:ids"], "2c7c:0125")
        self.assertEqual(sys_["sys:if02"], "option")
        self.assertEqual(sys_["sys:if04"], "qmi_wwan")
        for n in ("00", "01", "03"):
            self.assertEqual(sys_[f"sys:if{n}"], "none")
        self.assertEqual(sys_["sys:nodes"].split(), ["cdc-wdm0", "ttyUSB0"])
        self.assertIn("bound to dummy_udc.0 (interfaces 2 4; placeholders 0 1 3)", out)
        self.assertRegex(out, r"ATI\nQuectel\nEC25\n")
        # QMI responses are announced with the real interface number, or cdc-wdm would not fetch them
        check_qmicli_suite(self, out, p)
        self.assertIn("sys:left-after-kill modemu-quectel-ec25", out)
        self.assertIn("removed the gadget modemu-quectel-ec25 left by an earlier run", out)
        self.assertIn("Revision: 'EC25EFAR06A06M4G'", out)


if __name__ == "__main__":
    unittest.main()

"""qmicli (libqmi-utils, Debian) against the modem's QMI function, over the raw pty
(--device-open-qmi) and over the qmi-proxy socket (-p), every answer checked against the profile."""
import os
import re
import signal
import subprocess
import unittest

from harness import Modemu, profile_value

PROFILE = "quectel-eg12"


def pv(pattern):
    return profile_value(PROFILE, pattern)


class QmicliBase:
    """Runs the suite; subclasses say how qmicli reaches the device."""

    proxy = False

    @classmethod
    def setUpClass(cls):
        extra = ("--qmi-proxy",) if cls.proxy else ()
        cls.m = Modemu(*extra, profile=PROFILE, netns=cls.proxy)
        cls.m.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def qmicli(self, *args, ok=True):
        cmd = ["qmicli", "-d", self.m.port("cdc-wdm0"), "--device-open-qmi"]
        if self.proxy:
            cmd.insert(1, "-p")
        r = self.m.run_in_netns([*cmd, *args], timeout=30)
        out = r.stdout + r.stderr
        if ok:
            self.assertEqual(r.returncode, 0, out)
        else:
            self.assertNotEqual(r.returncode, 0, out)
        return out

    def test_identity_and_device(self):
        out = self.qmicli("--get-service-version-info")
        for line in ("ctl (1.5)", "wds (1.67)", "dms (1.14)", "nas (1.25)", "uim (1.2)", "wda (1.16)"):
            self.assertIn(line, out)
        self.assertIn("Manufacturer: '%s'" % pv(r'manufacturer:\s*"([^"]+)"'), self.qmicli("--dms-get-manufacturer"))
        self.assertIn("Model: '%s'" % pv(r'model:\s*"([^"]+)"'), self.qmicli("--dms-get-model"))
        revision = pv(r'default_version:\s*"([^"]+)"')
        self.assertIn("Revision: '%s'" % revision, self.qmicli("--dms-get-revision"))
        self.assertIn("Software version: %s" % revision, self.qmicli("--dms-get-software-version"))
        self.assertIn("IMEI: '%s'" % pv(r'imei:\s*"(\d+)"'), self.qmicli("--dms-get-ids"))
        out = self.qmicli("--dms-get-capabilities")
        self.assertIn("Networks: 'gsm, umts, lte'", out)
        self.assertIn("Max RX channel rate: '%s'" % pv(r"max_rx_bps:\s*(\d+)"), out)
        self.assertIn("Revision: '%s'" % pv(r'hardware_revision:\s*"([^"]+)"'), self.qmicli("--dms-get-hardware-revision"))
        self.assertIn("LTE bands: '%s'" % pv(r"band:\s*(\d+)"), self.qmicli("--dms-get-band-capabilities"))
        self.assertIn("MSISDN: '%s'" % pv(r'msisdn:\s*"([^"]+)"'), self.qmicli("--dms-get-msisdn"))
        self.assertIn("Power state", self.qmicli("--dms-get-power-state"))

    def test_sim(self):
        out = self.qmicli("--dms-uim-get-pin-status")
        self.assertRegex(out, r"PIN1:\s*\n\s*Status: disabled")
        self.assertIn("ICCID: '%s'" % pv(r'iccid:\s*"(\d+)"'), self.qmicli("--dms-uim-get-iccid"))
        self.assertIn("IMSI: '%s'" % pv(r'imsi:\s*"(\d+)"'), self.qmicli("--dms-uim-get-imsi"))
        out = self.qmicli("--uim-get-card-status")
        self.assertIn("Card state: 'present'", out)
        self.assertIn("Application state: 'ready'", out)
        self.assertIn("ICCID: %s" % pv(r'iccid:\s*"(\d+)"'), self.qmicli("--uim-get-slot-status"))

    def test_network(self):
        out = self.qmicli("--nas-get-serving-system")
        self.assertIn("Registration state: 'registered'", out)
        self.assertIn("MCC: '%s'" % pv(r'mcc:\s*"(\d+)"'), out)
        self.assertIn("Description: '%s'" % pv(r'operator_long:\s*"([^"]+)"'), out)
        self.assertIn("LTE tracking area code: '%d'" % int(pv(r"tac:\s*(0x[0-9A-Fa-f]+)"), 16), out)
        out = self.qmicli("--nas-get-signal-strength")
        self.assertIn("Network 'lte': '%s dBm'" % pv(r"rssi_dbm:\s*(-?\d+)"), out)
        self.assertIn("Network 'lte': '%s dBm'" % pv(r"rsrp_dbm:\s*(-?\d+)"), out)
        out = self.qmicli("--nas-get-signal-info")
        self.assertIn("SNR: '%s dB'" % pv(r"sinr_db:\s*(-?[\d.]+)"), out)
        self.assertIn("RSRQ: '%d dB'" % round(float(pv(r"rsrq_db:\s*(-?[\d.]+)"))), out)
        out = self.qmicli("--nas-get-system-info")
        self.assertIn("Status: 'available'", out)
        self.assertIn("Cell ID: '%d'" % int(pv(r"cell_id:\s*(0x[0-9A-Fa-f]+)"), 16), out)
        self.assertIn("Description: '%s'" % pv(r'spn:\s*"([^"]+)"'), self.qmicli("--nas-get-home-network"))

    def test_data_format_and_profiles(self):
        self.assertIn("Link layer protocol: '802-3'", self.qmicli("--wda-get-data-format"))
        self.assertIn("Link layer protocol: 'raw-ip'", self.qmicli("--wda-set-data-format=link-layer-protocol=raw-ip"))
        self.assertIn("Link layer protocol: 'raw-ip'", self.qmicli("--wda-get-data-format"))
        self.qmicli("--wda-set-data-format=802-3")
        self.assertIn("APN: '%s'" % pv(r'apn:\s*"([^"]+)"'), self.qmicli("--wds-get-profile-list=3gpp"))
        self.assertIn("APN: '%s'" % pv(r'apn:\s*"([^"]+)"'), self.qmicli("--wds-get-default-settings=3gpp"))
        self.qmicli("--wds-set-autoconnect-settings=disabled")
        self.assertIn("Status: 'disabled'", self.qmicli("--wds-get-autoconnect-settings"))

    def test_data_session(self):
        out = self.qmicli("--wds-start-network=apn=internet,ip-type=4", "--client-no-release-cid")
        handle = re.search(r"Packet data handle: '(\d+)'", out).group(1)
        cid = re.search(r"CID: '(\d+)'", out).group(1)
        try:
            self.assertIn("Connection status: 'connected'", self.qmicli("--wds-get-packet-service-status"))
            out = self.qmicli("--wds-get-current-settings")
            self.assertIn("IPv4 address: %s" % pv(r'ipv4_address:\s*"([^"]+)"'), out)
            self.assertIn("IPv4 primary DNS: %s" % pv(r'ipv4_dns:\s*"([^"]+)"'), out)
            self.assertIn("Max TX rate", self.qmicli("--wds-get-channel-rates"))
            self.assertIn("TX packets OK", self.qmicli("--wds-get-packet-statistics"))
            self.assertIn("lte", self.qmicli("--wds-get-data-bearer-technology"))
            # a second start on the same session has no effect, as on a real module
            self.assertIn("NoEffect", self.qmicli("--wds-start-network=apn=internet", ok=False))
        finally:
            self.qmicli("--wds-stop-network=%s" % handle, "--client-cid=%s" % cid)
        self.assertIn("Connection status: 'disconnected'", self.qmicli("--wds-get-packet-service-status"))
        self.assertIn("OutOfCall", self.qmicli("--wds-get-current-settings", ok=False))

    def test_bad_arguments_and_errors(self):
        self.assertIn("InvalidHandle", self.qmicli("--wds-stop-network=12345", ok=False))
        self.qmicli("--dms-set-operating-mode=not-a-mode", ok=False)
        self.qmicli("--wds-set-ip-family=5", ok=False)
        self.assertIn("InvalidClientId", self.qmicli("--dms-get-ids", "--client-cid=200", ok=False))

    def test_sync(self):
        self.assertIn("Manufacturer", self.qmicli("--device-open-sync", "--dms-get-manufacturer"))


class QmicliOverPty(QmicliBase, unittest.TestCase):
    proxy = False

    def test_operating_modes_and_reset(self):
        self.qmicli("--dms-set-operating-mode=low-power")
        self.assertIn("DeviceNotReady", self.qmicli("--nas-get-signal-strength", ok=False))
        self.qmicli("--dms-set-operating-mode=online")
        self.m.wait_event(lambda e: e["kind"] == "radio.registration" and e["fields"]["to"] == "home",
                          what="registration after online")
        self.qmicli("--dms-set-operating-mode=offline")
        self.assertIn("Mode: 'offline'", self.qmicli("--dms-get-operating-mode"))
        self.assertIn("InvalidTransition", self.qmicli("--dms-set-operating-mode=online", ok=False))
        self.qmicli("--dms-set-operating-mode=reset")
        # reset: cdc-wdm0 vanishes with the other ports, and comes back
        self.m.wait_kind("ports", "ports gone")
        self.m.wait_ports_up()
        self.assertTrue(os.path.islink(self.m.port("cdc-wdm0")))
        self.m.wait_ready()
        self.assertIn("Mode: 'online'", self.qmicli("--dms-get-operating-mode"))

    def test_sim_power_cycle(self):
        self.qmicli("--uim-sim-power-off=1")
        self.assertIn("Card state: 'error: power-down", self.qmicli("--uim-get-card-status"))
        self.assertIn("UimUninitialized", self.qmicli("--dms-uim-get-pin-status", ok=False))
        self.qmicli("--uim-sim-power-on=1")
        self.assertIn("Application state: 'ready'", self.qmicli("--uim-get-card-status"))
        self.m.wait_event(lambda e: e["kind"] == "radio.registration" and e["fields"]["to"] == "home",
                          what="registration after SIM power on")


@unittest.skipUnless(os.geteuid() == 0, "the proxy runs in a private network namespace (unshare -n), which needs root")
class QmicliOverProxy(QmicliBase, unittest.TestCase):
    proxy = True


class SierraFirmware(unittest.TestCase):
    """The Sierra profile: two QMI functions, and the firmware messages qmi-firmware-update reads."""

    def test_images_and_compositions(self):
        p = "sierra-mc7455"
        fw = profile_value(p, r'default_version:\s*"([^"]+)"')
        block = profile_value(p, r'(versions \{\s*version:\s*"' + fw + r'"[^}]*)')
        modem_version = re.search(r'modem_version:\s*"([^"]+)"', block).group(1)
        carrier = re.search(r'carrier:\s*"([^"]+)"', block).group(1)
        config = re.search(r'carrier_config:\s*"([^"]+)"', block).group(1)
        with Modemu(profile=p) as m:
            m.wait_ports_up()
            for node in ("cdc-wdm0", "cdc-wdm1"):
                r = subprocess.run(["qmicli", "-d", m.port(node), "--device-open-qmi", "--dms-list-stored-images"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("Build ID:      '%s_?'" % modem_version, r.stdout)
                self.assertIn("Build ID:      '%s_%s'" % (modem_version, carrier), r.stdout)
                self.assertIn("PRI info:      '%s'" % config, r.stdout)
            r = subprocess.run(["qmicli", "-d", m.port("cdc-wdm0"), "--device-open-qmi", "--dms-swi-get-current-firmware"],
                               capture_output=True, text=True, timeout=30)
            self.assertIn("AMSS version: %s" % fw, r.stdout)
            self.assertIn("Config version: %s" % config, r.stdout)
            r = subprocess.run(["qmicli", "-d", m.port("cdc-wdm1"), "--device-open-qmi", "--dms-get-firmware-preference"],
                               capture_output=True, text=True, timeout=30)
            self.assertIn("Unique ID:  '%s'" % config.split("_", 1)[1], r.stdout)


class SierraFirmwarePreference(unittest.TestCase):
    """qmicli drives the Sierra firmware storage as qmi-firmware-update does before a download:
    the preference names a release that is not stored, so the reply lists both images to
    download; offline + reset then ends in boot-and-hold (1199:9070, one interface). A power cycle
    without the download leaves the old firmware running in low-power mode (F9), as AT!GSTATUS?,
    AT!IMPREF? and DMS say; setting the preference back to the stored pair recovers."""

    def q(self, m, *args, ok=True):
        r = subprocess.run(["qmicli", "-d", m.port("cdc-wdm0"), "--device-open-qmi", *args],
                           capture_output=True, text=True, timeout=30)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout + r.stderr

    def test_preference_boot_hold_and_low_power(self):
        import shutil
        import tempfile
        from harness import SerialPort
        p = "sierra-mc7455"
        work = tempfile.mkdtemp(prefix="modemu-it-")
        self.addCleanup(shutil.rmtree, work, True)
        with Modemu(profile=p, workdir=work) as m:
            m.wait_ready()
            out = self.q(m, "--dms-set-firmware-preference=firmware-version=02.30.01.01,config-version=002.080_000,"
                            "carrier=GENERIC")
            self.assertIn("Images to download", out)
            self.assertIn("modem", out)
            self.assertIn("pri", out)
            out = self.q(m, "--dms-get-firmware-preference")
            self.assertIn("Build ID:   '02.30.01.01_?'", out)
            self.assertIn("Unique ID:  '002.080_000'", out)
            self.q(m, "--dms-set-operating-mode=offline")
            self.q(m, "--dms-set-operating-mode=reset")
            e = m.wait_event(lambda e: e["kind"] == "usb.plug" and e["fields"]["mode"] == "SIERRA_BOOT_HOLD",
                             what="boot-and-hold")
            self.assertEqual(e["fields"]["pid"], "9070")
            self.assertIn("interfaces 0=ttyUSB0)", e["message"])
            # No download. The emulator is killed (SIGKILL: the preference must already be on disk)
            # and started again: the application boots and finds the preference unmet.
            m.stop(signal.SIGKILL)
        with Modemu(profile=p, workdir=work) as m2:
            e = m2.wait_event(lambda e: e["kind"] == "boot", what="boot decision")
            self.assertEqual(e["fields"].get("low_power"), "true", e["message"])
            m2.wait_kind("ready")
            with SerialPort(m2.port("ttyUSB2")) as at:
                self.assertIn("LOW POWER MODE", at.command("AT!GSTATUS?"))
                out = at.command("AT!IMPREF?")
                self.assertIn("preferred fw version:    02.30.01.01", out)
                self.assertIn("fw version mismatch", out)
                self.assertIn("config name mismatch", out)
            self.assertIn("Mode: 'low-power'", self.q(m2, "--dms-get-operating-mode"))
            self.q(m2, "--dms-uim-get-iccid", ok=False)
            # The stored pair again (qmicli picks it from List Stored Images): nothing to download.
            out = self.q(m2, "--dms-select-stored-image=modem0,pri0")
            self.q(m2, "--dms-set-operating-mode=offline")
            self.q(m2, "--dms-set-operating-mode=reset")
            m2.wait_event(lambda e: e["kind"] == "boot" and "running" in e["message"], what="normal boot")
            m2.wait_ready()
            self.assertIn("'SWI9X30C_02.33.03.00", self.q(m2, "--dms-get-revision"))

    def test_boot_image_download_mode_and_usb_composition(self):
        with Modemu(profile="sierra-mc7455") as m:
            m.wait_ports_up()
            self.assertIn("Boot image download mode: normal", self.q(m, "--dms-get-boot-image-download-mode"))
            self.assertIn("[*] USB composition 6: DM, NMEA, AT, QMI", self.q(m, "--dms-swi-get-usb-composition"))
            self.q(m, "--dms-swi-set-usb-composition=6")
            self.q(m, "--dms-swi-set-usb-composition=8", ok=False)
            self.q(m, "--dms-set-boot-image-download-mode=boot-and-recovery")
            e = m.wait_event(lambda e: e["kind"] == "usb.plug" and e["fields"]["mode"] == "SIERRA_BOOT_HOLD",
                             what="boot-and-hold")
            self.assertEqual(e["fields"]["pid"], "9070")


class SierraMalformedImageInfo(unittest.TestCase):
    """F4 with a real client: under the malformed_image_info fault, qmicli lists a carrier image
    whose build id has an empty version field, with version 0, and still exits cleanly."""

    def test_qmicli_lists_the_malformed_entry(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f4.txtpb")
            with open(path, "w") as f:
                f.write('name: "f4-qmicli" duration: "1h"\nmodems { profile: "sierra-mc7455" }\n'
                        'faults { type: "malformed_image_info" }\n')
            with Modemu("--scenario", path, profile="sierra-mc7455") as m:
                m.wait_ports_up()
                r = subprocess.run(["qmicli", "-d", m.port("cdc-wdm0"), "--device-open-qmi", "--dms-list-stored-images"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("Build ID:      '_001.000_000'", r.stdout)
                self.assertIn("PRI version:   '0'", r.stdout)
                self.assertIn("Build ID:      '02.33.03.00_GENERIC'", r.stdout)  # the real one is still there


class PersonalInfo(unittest.TestCase):
    def test_redacted_unless_asked_for(self):
        imei = pv(r'imei:\s*"(\d+)"')
        for flag, shown in (((), False), (("--show-personal-info",), True)):
            with Modemu(*flag, profile=PROFILE) as m:
                m.wait_ports_up()
                subprocess.run(["qmicli", "-d", m.port("cdc-wdm0"), "--device-open-qmi", "--dms-get-ids"],
                               capture_output=True, timeout=30, check=True)
                e = m.wait_event(lambda e: e["kind"] == "qmi" and "Get IDs response" in e["message"], what="Get IDs")
                self.assertEqual(imei in e["message"], shown, e["message"])
                self.assertEqual("imei=<personal>" in e["message"], not shown, e["message"])


class OpenWrtQmiSh(unittest.TestCase):
    """OpenWrt's qmi.sh order (qmi.md), one qmicli process a step, reaches "connected"."""

    def test_sequence(self):
        with Modemu(profile=PROFILE) as m:
            m.wait_kind("ready")

            def q(*args, ok=True):
                r = subprocess.run(["qmicli", "-d", m.port("cdc-wdm0"), "--device-open-qmi", *args],
                                   capture_output=True, text=True, timeout=30)
                if ok:
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                return r.stdout + r.stderr

            self.assertIn("PIN1", q("--dms-uim-get-pin-status"))
            self.assertIn("Application state: 'ready'", q("--uim-get-card-status"))
            q("--wds-stop-network=disable-autoconnect")
            q("--dms-set-operating-mode=online")
            q("--wda-set-data-format=802-3")
            self.assertIn("802-3", q("--wda-get-data-format"))
            q("--device-open-sync", "--get-service-version-info")
            # poll the serving system until registered, waiting on the modem's own event
            m.wait_event(lambda e: e["kind"] == "radio.registration" and e["fields"]["to"] == "home",
                         what="registration")
            self.assertIn("Registration state: 'registered'", q("--nas-get-serving-system"))
            q("--wds-modify-profile=3gpp,1,apn=internet,pdp-type=IP")
            out = q("--wds-set-ip-family=4", "--client-no-release-cid")
            cid = re.search(r"CID: '(\d+)'", out).group(1)
            out = q("--wds-start-network=apn=internet", "--client-cid=" + cid, "--client-no-release-cid")
            self.assertRegex(out, r"Packet data handle: '\d+'")
            self.assertIn("'connected'", q("--wds-get-packet-service-status"))
            self.assertIn("IPv4 address: %s" % pv(r'ipv4_address:\s*"([^"]+)"'),
                          q("--wds-get-current-settings", "--client-cid=" + cid, "--client-no-release-cid"))


if __name__ == "__main__":
    unittest.main()

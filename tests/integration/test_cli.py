"""The command line as users meet it: help, errors, the default run, Ctrl-C, the state lock."""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import MODEMU, Modemu


def modemu(*args, env=None, timeout=30):
    return subprocess.run([MODEMU, *args], capture_output=True, text=True, timeout=timeout, env=env)


class Help(unittest.TestCase):
    def test_help_explains_with_examples(self):
        r = modemu("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Examples:", r.stdout)
        self.assertIn("run", r.stdout)
        r = modemu("run", "--help")
        self.assertEqual(r.returncode, 0)
        for option in ("--profile", "--transport", "--dev-dir", "--state-dir", "--id", "--firmware", "--time-scale",
                       "--event-log", "--duration", "--json", "--quiet"):
            self.assertIn(option, r.stdout)
        self.assertIn("modemu run --profile quectel-ec25 --dev-dir", r.stdout)

    def test_no_command(self):
        r = modemu()
        self.assertEqual(r.returncode, 2)
        self.assertIn("subcommand is required", r.stderr)


class BadInput(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="modemu-cli-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_unknown_transport(self):
        r = modemu("run", "--transport", "carrier-pigeon")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--transport", r.stderr)
        self.assertIn("carrier-pigeon", r.stderr)

    def test_unknown_option(self):
        r = modemu("run", "--colour")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--colour", r.stderr)

    def test_unknown_profile_lists_the_known_ones(self):
        r = modemu("run", "--profile", "nokia-3310", "--state-dir", self.dir)
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown profile "nokia-3310"', r.stderr)
        self.assertIn("quectel-eg12", r.stderr)

    def test_bad_profile_file_names_file_line_and_field(self):
        path = os.path.join(self.dir, "broken.txtpb")
        with open(path, "w") as f:
            f.write('name: "broken"\nvendor: QUECTEL\nidentity {\n  imei: \"12\"\n  colour: "red"\n}\n')
        r = modemu("run", "--profile", path, "--state-dir", self.dir)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{path}:5:", r.stderr)
        self.assertIn('no field named "colour"', r.stderr)
        r = modemu("profiles", "check", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{path}:5:", r.stderr)
        self.assertEqual(os.listdir(self.dir), ["broken.txtpb"])  # nothing was created

    def test_bad_duration_and_time_scale(self):
        r = modemu("run", "--duration", "soon", "--state-dir", self.dir)
        self.assertEqual(r.returncode, 2)
        self.assertIn('--duration "soon"', r.stderr)
        r = modemu("run", "--time-scale", "-1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--time-scale", r.stderr)

    def test_unknown_firmware(self):
        r = modemu("run", "--firmware", "EG12EAPAR01A99M4G", "--state-dir", self.dir, "--dev-dir", self.dir + "/dev")
        self.assertEqual(r.returncode, 1)
        self.assertIn("EG12EAPAR01A09M4G, EG12EAPAR01A12M4G", r.stderr)


class Profiles(unittest.TestCase):
    def test_list(self):
        r = modemu("profiles", "list")
        self.assertEqual(r.returncode, 0, r.stdout)
        for name in ("quectel-ec25", "quectel-eg12", "sierra-mc7455"):
            self.assertIn(name, r.stdout)


class Running(unittest.TestCase):
    def test_default_run_prints_where_the_ports_are_and_stops_on_ctrl_c(self):
        home = tempfile.mkdtemp(prefix="modemu-home-")
        env = dict(os.environ, HOME=home)
        env.pop("XDG_STATE_HOME", None)
        try:
            proc = subprocess.Popen([MODEMU, "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            dev = os.path.join(home, ".local", "state", "modemu", "quectel-eg12", "dev")
            seen = []
            for line in proc.stdout:  # bounded: the module enumerates after its 3 s boot
                seen.append(line)
                if "ports up in" in line:
                    break
                self.assertIsNone(proc.poll(), "".join(seen))
            self.assertIn(f"ports up in {dev}: ttyUSB0 (DM), ttyUSB1 (NMEA), ttyUSB2 (AT), ttyUSB3 (AT/modem)",
                          "".join(seen))
            self.assertTrue(os.path.islink(os.path.join(dev, "ttyUSB2")))
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=15)
            self.assertEqual(proc.returncode, 0)
            self.assertIn("stopped (SIGINT)", out)
            self.assertEqual(os.listdir(dev), [])
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def test_second_instance_on_the_same_state_is_refused(self):
        with Modemu() as first:
            first.wait_ports_up()
            r = modemu("run", "--state-dir", first.state, "--dev-dir", first.dev + "2")
            self.assertEqual(r.returncode, 1)
            self.assertIn("modem 'quectel-eg12' is already running", r.stderr)
            self.assertIn("give another --id or --state-dir", r.stderr)

    def test_event_log_file_and_duration(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "events.jsonl")
            r = modemu("run", "--quiet", "--time-scale", "0.01", "--duration", "1s", "--state-dir", d,
                       "--dev-dir", os.path.join(d, "dev"), "--event-log", log)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "")
            with open(log) as f:
                kinds = [__import__("json").loads(line)["kind"] for line in f]
            self.assertEqual(kinds[0], "start")
            self.assertIn("usb.plug", kinds)
            self.assertEqual(kinds[-1], "stop")


if __name__ == "__main__":
    unittest.main()


class SierraFirmwareBuild(unittest.TestCase):
    """`modemu firmware build` for Sierra profiles writes a .cwe and a .nvu named like Sierra
    releases, and qmi-firmware-update (libqmi-utils) reads the versions from them."""

    def verify(self, profile, version, prefix, product, config):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "fw")
            r = modemu("firmware", "build", "--profile", profile, "--version", version, "--carrier", "GENERIC", "-o", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            cwe = f"{prefix}_{version}.cwe"
            nvu = f"{prefix}_{version}_GENERIC_{config}.nvu"
            self.assertEqual(sorted(os.listdir(out)), [cwe, nvu])
            v = subprocess.run(["qmi-firmware-update", "--verify", os.path.join(out, cwe), os.path.join(out, nvu)],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
            self.assertEqual(v.stdout.count(f"[cwe] detected firmware version: {version}"), 2, v.stdout)
            self.assertIn(f"[cwe] detected config version:   {config}", v.stdout)
            self.assertIn("[cwe] detected carrier:          GENERIC", v.stdout)
            self.assertIn(f"[cwe 0] product: {product}", v.stdout)
            for t in ("SPKG", "BOOT", "APPL", "NVUP"):
                self.assertIn(f"type:    {t}", v.stdout)
            # the same directory again is refused without --force, and nothing changes
            r = modemu("firmware", "build", "--profile", profile, "--version", version, "-o", out)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("is not empty", r.stderr)

    def test_mc7455(self):
        self.verify("sierra-mc7455", "02.30.01.01", "SWI9X30C", "9X30", "002.079_000")

    def test_em7565(self):
        self.verify("sierra-em7565", "01.14.02.00", "SWI9X50C", "9X50", "001.045_000")

    def test_bad_version_and_options(self):
        with tempfile.TemporaryDirectory() as d:
            r = modemu("firmware", "build", "--profile", "sierra-mc7455", "--version", "2.30", "-o", d + "/x")
            self.assertEqual(r.returncode, 2)
            self.assertIn('version "2.30": expected dd.dd.dd.dd', r.stderr)
            r = modemu("firmware", "build", "--profile", "sierra-mc7455", "--version", "02.30.01.01", "--config", "79",
                       "-o", d + "/x")
            self.assertEqual(r.returncode, 2)
            self.assertIn("ddd.ddd_ddd", r.stderr)
            self.assertFalse(os.path.exists(d + "/x"))

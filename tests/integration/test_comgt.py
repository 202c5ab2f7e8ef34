"""`comgt` (OpenWrt's gcom) runs its built-in info, sig and reg scripts against the AT port."""
import unittest

from harness import Modemu, csq_of, profile_value, run_client


class Comgt(unittest.TestCase):
    def run_script(self, m, port, script):
        r = run_client(["comgt", "-d", m.port(port), script], timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def check_module(self, profile, port, info):
        operator = profile_value(profile, r'operator_long:\s*"([^"]+)"')
        with Modemu(profile=profile) as m:
            m.wait_ready()
            out = self.run_script(m, port, "sig")
            self.assertIn(f"Signal Quality: {csq_of(profile)},99", out)
            out = self.run_script(m, port, "reg")
            self.assertIn(f'Registered on Home network: "{operator}",7', out)
            if info:
                out = self.run_script(m, port, "info")
                self.assertIn("Manufacturer:           " + profile_value(profile, r'manufacturer:\s*"([^"]+)"'), out)
                self.assertIn("IMEI and Serial Number: " + profile_value(profile, r'imei:\s*"(\d+)"'), out)
                self.assertIn(profile_value(profile, r'model:\s*"([^"]+)"'), out)
                apn = profile_value(profile, r'apn:\s*"([^"]+)"')
                self.assertIn(f'APN:                    1,"IP","{apn}"', out)

    def test_quectel_eg12(self):
        self.check_module("quectel-eg12", "ttyUSB2", info=True)

    def test_sierra_mc7455(self):
        self.check_module("sierra-mc7455", "ttyUSB2", info=False)

    def test_reg_waits_for_registration(self):
        # Started before the module registers, comgt's reg script waits and then succeeds.
        with Modemu(time_scale="0.5") as m:
            m.wait_kind("ready")
            r = run_client(["comgt", "-d", m.port("ttyUSB2"), "reg"], timeout=90)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("Registered on Home network", r.stdout)


if __name__ == "__main__":
    unittest.main()

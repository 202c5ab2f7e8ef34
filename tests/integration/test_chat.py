"""`chat` (package ppp) drives the AT port through a script, as router dial-up scripts do."""
import os
import unittest

from harness import Modemu, csq_of, profile_value, run_client


class ChatScript(unittest.TestCase):
    def test_script_through_reset(self):
        profile = "quectel-eg12"
        revision = profile_value(profile, r'default_version:\s*"([^"]+)"')
        full = profile_value(profile, r'full_revision:\s*"(' + revision + r'_[^"]+)"')
        with Modemu(profile=profile) as m:
            m.wait_ready()
            port = m.port("ttyUSB2")
            script = ["", "AT", "OK", "ATE0", "OK",
                      "ATI", "Revision: " + revision, "", "OK",
                      "AT+QGMR", full, "", "OK",
                      "AT+CPIN?", "+CPIN: READY", "", "OK",
                      "AT+CSQ", f"+CSQ: {csq_of(profile)},99", "", "OK",
                      "AT+CFUN=1,1", "OK"]
            with open(port, "rb") as rd, open(port, "wb") as wr:
                r = run_client(["chat", "-s", "-v", "-t", "5", *script], stdin=rd, stdout=wr)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("-- got it", r.stderr)
            self.assertIn(full, r.stderr)
            # The reset: the module leaves USB, its ports vanish, then it enumerates again.
            m.wait_kind("usb.unplug")
            gone = m.wait_kind("ports", "ports gone")
            self.assertTrue(gone)
            m.wait_kind("usb.plug")
            m.wait_ports_up()
            for node in ("ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3"):
                self.assertTrue(os.path.islink(m.port(node)), node)
            commands = [e["fields"]["command"] for e in m.events if e["kind"] == "at"]
            self.assertEqual(commands, ["AT", "ATE0", "ATI", "AT+QGMR", "AT+CPIN?", "AT+CSQ", "AT+CFUN=1,1"])

    def test_links_vanish_during_reset(self):
        # At time scale 0.2 the EG12's 7.5 s reset keeps the module off the bus for 1.5 s: time
        # enough to look at DIR between the "ports gone" and the next plug.
        with Modemu(time_scale="0.2") as m:
            m.wait_ready(timeout=30)
            with open(m.port("ttyUSB2"), "rb") as rd, open(m.port("ttyUSB2"), "wb") as wr:
                r = run_client(["chat", "-t", "5", "", "AT+CFUN=1,1", "OK"], stdin=rd, stdout=wr)
            self.assertEqual(r.returncode, 0, r.stderr)
            m.wait_kind("ports", "ports gone")
            self.assertEqual([n for n in os.listdir(m.dev) if n.startswith("ttyUSB")], [])
            m.wait_ports_up()
            self.assertEqual(sorted(n for n in os.listdir(m.dev) if n.startswith("ttyUSB")),
                             ["ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3"])


if __name__ == "__main__":
    unittest.main()

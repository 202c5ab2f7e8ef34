"""`modemu run --transport usbip` on the host, judged by the real usbip client (`usbip list -r`
needs no vhci_hcd) and by a raw socket client that sends what no usbip tool would. Attaching
through a real vhci_hcd is in test_testbed.py (UsbipFromTheGuest)."""
import os
import socket
import struct
import subprocess
import tempfile
import unittest

from harness import MODEMU, Modemu


def usbip_list(port):
    r = subprocess.run(["usbip", "--tcp-port", str(port), "list", "-r", "127.0.0.1"], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout + r.stderr


def started(m):
    start = m.wait_kind("start")
    return int(start["fields"]["listen"].rpartition(":")[2]), start


class UsbipOnTheHost(unittest.TestCase):
    def test_usbip_list_shows_the_composition(self):
        with Modemu("--transport", "usbip", "--listen", "127.0.0.1:0", profile="quectel-ec25") as m:
            port, start = started(m)
            self.assertEqual(start["fields"]["busid"], "1-1")
            m.wait_kind("usb.usbip", "exported as bus id 1-1")
            rc, out = usbip_list(port)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"1-1: .*\(2c7c:0125\)")
        self.assertIn("(ef/02/01)", out)  # the device class triple: IAD
        for i in range(4):
            self.assertRegex(out, rf":\s+{i} - .*\((ff/(ff|00)/(ff|00))\)")
        self.assertRegex(out, r":\s+4 - .*\(ff/ff/ff\)")

    def test_every_modem_of_a_scenario_is_a_bus_id(self):
        scenario = """
name: "two" duration: "60s"
modems { id: "a" profile: "quectel-ec25" }
modems { id: "b" profile: "sierra-mc7455" }
"""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "two.txtpb")
            with open(path, "w") as f:
                f.write(scenario)
            with Modemu("--transport", "usbip", "--listen", "127.0.0.1:0", "--scenario", path,
                        profile="quectel-ec25") as m:
                port, _ = started(m)
                second = m.wait_kind("start")
                self.assertEqual(second["fields"]["busid"], "1-2")
                m.wait_kind("usb.usbip", "exported as bus id 1-2", timeout=30)
                rc, out = usbip_list(port)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"1-1: .*\(2c7c:0125\)")
        self.assertRegex(out, r"1-2: .*\(1199:9071\)")

    def test_malformed_clients_are_closed_and_the_server_goes_on(self):
        with Modemu("--transport", "usbip", "--listen", "127.0.0.1:0", profile="quectel-ec25") as m:
            port, _ = started(m)
            m.wait_kind("usb.usbip", "exported as bus id 1-1")
            # A wrong protocol version: closed without an answer.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(struct.pack(">HHI", 0x0106, 0x8005, 0))
                self.assertEqual(s.recv(100), b"")
            # An import of an unknown bus id: refused with ST_NODEV (4), then closed.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(struct.pack(">HHI", 0x0111, 0x8003, 0) + b"9-9".ljust(32, b"\0"))
                reply = s.recv(100)
                self.assertEqual(struct.unpack(">HHI", reply[:8]), (0x0111, 0x0003, 4))
                self.assertEqual(s.recv(100), b"")
            # Imported, then a URB header with a garbage command: closed, with the reason logged.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(struct.pack(">HHI", 0x0111, 0x8003, 0) + b"1-1".ljust(32, b"\0"))
                reply = b""
                while len(reply) < 8 + 312:
                    chunk = s.recv(1000)
                    self.assertTrue(chunk)
                    reply += chunk
                self.assertEqual(struct.unpack(">HHI", reply[:8]), (0x0111, 0x0003, 0))
                self.assertEqual(reply[8 + 256:8 + 259], b"1-1")
                s.sendall(struct.pack(">IIIII", 7, 1, 0x10002, 0, 0) + bytes(28))
                self.assertEqual(s.recv(100), b"")
            m.wait_kind("usb.usbip", "malformed traffic from the client: URB header seqnum 1: command 7")
            rc, out = usbip_list(port)
            self.assertEqual(rc, 0, out)
            self.assertRegex(out, r"1-1: .*\(2c7c:0125\)")

    def test_flags(self):
        r = subprocess.run([MODEMU, "run", "--transport", "usbip", "--listen", "localhost:3240", "--quiet",
                            "--duration", "1s"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--listen \"localhost:3240\" is not HOST:PORT with a numeric address", r.stderr)
        r = subprocess.run([MODEMU, "run", "--transport", "usbip", "--virtual-time", "--quiet"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("a real kernel attached over usbip needs real time", r.stderr)
        r = subprocess.run([MODEMU, "run", "--help"], capture_output=True, text=True, timeout=30)
        self.assertIn("usbip attach -r SERVER -b 1-1", r.stdout)


if __name__ == "__main__":
    unittest.main()

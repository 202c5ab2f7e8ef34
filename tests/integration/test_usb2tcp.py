"""QFirehose's TCP transport (`modemu run --usb2tcp ADDR:PORT`), driven by a client written to the
documented framing (shared/reference/edl-sahara-firehose.md "QFirehose over TCP (usb2tcp)"):

- a 20-byte header in one piece: u32 LE tag 0x12345678, length 12, idVendor, idProduct,
  bNumInterfaces of the composition on the bus, held back while the module is off the bus;
- then every bulk transfer in either direction is a frame: tag, u32 length, payload; the server
  never sends a zero-length frame;
- the normal -> EDL switch as QFirehose does it: Extended Build ID, the EDL switch, close,
  reconnect, and the new header says 05c6:9008 with one interface.

Every wait is a socket timeout or an event of the modem's log: nothing sleeps.
"""
import signal
import socket
import struct
import subprocess
import tempfile
import unittest

from harness import MODEMU, Modemu
from usb2tcp_updater import EDL_SWITCH, EXTENDED_BUILD_ID, TAG, connect, frame

# The real modules' identities (shared/reference/usb-identities.md): EG12 application mode, and
# Qualcomm's emergency download as every Quectel module shows it.
EG12 = (0x2C7C, 0x0512, 5)
EDL = (0x05C6, 0x9008, 1)
TIMEOUT = 10.0


def hdlc_unescape(data):
    out = bytearray()
    escaped = False
    for b in data:
        if escaped:
            out.append(b ^ 0x20)
            escaped = False
        elif b == 0x7D:
            escaped = True
        else:
            out.append(b)
    return bytes(out)


class Client:
    """One usb2tcp connection, as QFirehose makes it: connection refused means try again."""

    def __init__(self, test, address, timeout=TIMEOUT):
        self.test = test
        self.sock = connect(address, timeout)

    def header(self, timeout=TIMEOUT):
        """The device header, read the way QFirehose reads it: one 20-byte read."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(20)
        self.test.assertEqual(len(data), 20, f"the header came split or short: {data.hex()}")
        tag, length, vid, pid, interfaces = struct.unpack("<5I", data)
        self.test.assertEqual((tag, length), (TAG, 12), data.hex())
        return vid, pid, interfaces

    def recv_exact(self, n, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise AssertionError(f"connection closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def send_frame(self, payload, tag=TAG):
        self.sock.sendall(frame(payload, tag))

    def read_frame(self, timeout=TIMEOUT):
        tag, length = struct.unpack("<II", self.recv_exact(8, timeout))
        self.test.assertEqual(tag, TAG, "bad tag from the server")
        self.test.assertNotEqual(length, 0, "the server sent a zero-length frame")
        return self.recv_exact(length, timeout)

    def expect_closed(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return
            if not data:
                return

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Usb2TcpCase(unittest.TestCase):
    time_scale = "0.05"

    def start(self, profile="quectel-eg12"):
        # Port 0: the kernel picks a free port, so parallel runs never collide (QFirehose itself
        # needs 9008; the framing does not care).
        self.m = Modemu("--usb2tcp", "127.0.0.1:0", profile=profile, time_scale=self.time_scale)
        self.addCleanup(self.m.close)
        serving = self.m.wait_kind("usb2tcp", "serving")
        self.address = serving["fields"]["address"]
        self.firmware = self.m.wait_kind("start")["fields"]["firmware"]
        return self.m

    def connect(self):
        c = Client(self, self.address)
        self.addCleanup(c.close)
        return c

    def extended_build_id(self, c):
        """Extended Build ID as QFirehose checks it: 0x7C first, 0x7E last, and a NUL-terminated
        revision of 6 to 63 characters at offset 12 of the unescaped reply."""
        c.send_frame(EXTENDED_BUILD_ID)
        raw = c.read_frame()
        self.assertEqual(raw[0], 0x7C, raw.hex())
        self.assertEqual(raw[-1], 0x7E, raw.hex())
        reply = hdlc_unescape(raw[:-1])
        self.assertEqual(reply[0], 0x7C)
        end = reply.index(b"\0", 12)
        revision = reply[12:end].decode()
        self.assertTrue(6 <= len(revision) <= 63, revision)
        return revision


class NormalToEdl(Usb2TcpCase):
    # Long enough a reset that a connection made on the unplug surely waits for the plug.
    time_scale = "0.2"

    def switch_to_edl(self):
        with self.connect() as c:
            self.assertEqual(c.header(), EG12)
            self.m.wait_kind("usb2tcp", "sent header 2c7c:0512, 5 interface(s); serving the DM interface 0")
            self.assertEqual(self.extended_build_id(c), self.firmware)
            c.send_frame(EDL_SWITCH)
            self.assertEqual(c.read_frame(), EDL_SWITCH)  # the module echoes it, then resets
        self.m.wait_kind("usb.unplug")
        # QFirehose reconnects now; the module is still off the bus: the header waits for it.
        c = self.connect()
        connected = self.m.wait_kind("usb2tcp", "connected")
        self.assertIn("off the bus", connected["message"])
        self.assertEqual(c.header(), EDL)
        self.m.wait_kind("usb.plug", "05c6:9008")
        self.m.wait_kind("usb2tcp", "sent header 05c6:9008, 1 interface(s); serving the Sahara interface 0")
        return c

    def test_extended_build_id_edl_switch_and_the_edl_header(self):
        self.start()
        self.switch_to_edl()

    def test_a_connection_outlives_the_unplug_silently(self):
        self.start()
        old = self.connect()
        self.assertEqual(old.header(), EG12)
        old.send_frame(EDL_SWITCH)
        self.assertEqual(old.read_frame(), EDL_SWITCH)
        self.m.wait_kind("usb2tcp", "usb2tcp#1: the module left the bus")
        # The old connection stays open and silent, as a vanished USB device times reads out;
        # a new connection gets the new composition's header.
        with self.connect() as new:
            self.assertEqual(new.header(), EDL)
        old.sock.setblocking(False)
        with self.assertRaises(BlockingIOError):
            old.sock.recv(20)
        old.close()
        self.m.wait_kind("usb2tcp", "usb2tcp#1: closed: the client closed the connection")

    def test_sahara_hello_follows_the_edl_header(self):
        self.start()
        c = self.switch_to_edl()
        try:
            # QFirehose waits 5 s for HELLO before poking the target with a 1-byte frame.
            hello = c.read_frame(timeout=5.0)
        except socket.timeout:
            self.skipTest("no Sahara HELLO after the EDL header: the EDL interface has no Sahara engine yet "
                          "(emulator port for profile::SAHARA missing; the composition serves an InertPort)")
        self.assertEqual(len(hello), 0x30, hello.hex())
        command, length = struct.unpack("<II", hello[:8])
        self.assertEqual((command, length), (0x01, 0x30))
        # HELLO_RESP (image transfer mode): the next packet is a read of the programmer, not a
        # second HELLO (the port says HELLO when it starts and when it is opened: once in all).
        c.send_frame(struct.pack("<6I", 0x02, 0x30, 2, 1, 0, 0) + bytes(24))
        read = c.read_frame()
        self.assertIn(struct.unpack("<I", read[:4])[0], (0x03, 0x12), read.hex())
        c.close()
        # A new connection to the bootloader gets the header and a HELLO again.
        with self.connect() as again:
            self.assertEqual(again.header(), EDL)
            hello = again.read_frame(timeout=5.0)
            self.assertEqual(struct.unpack("<I", hello[:4])[0], 0x01)


class Framing(Usb2TcpCase):
    def test_bad_tag_closes_the_connection_and_the_server_serves_the_next(self):
        self.start()
        with self.connect() as c:
            self.assertEqual(c.header(), EG12)
            c.send_frame(EXTENDED_BUILD_ID, tag=0xDEADBEEF)
            c.expect_closed()
        self.m.wait_kind("usb2tcp", "framing error: a frame starts with tag 0xdeadbeef")
        with self.connect() as c:
            self.assertEqual(c.header(), EG12)
            self.assertEqual(self.extended_build_id(c), self.firmware)

    def test_absurd_length_closes_the_connection(self):
        self.start()
        with self.connect() as c:
            self.assertEqual(c.header(), EG12)
            c.sock.sendall(struct.pack("<II", TAG, 0x7FFFFFFF))
            c.expect_closed()
        self.m.wait_kind("usb2tcp", "framing error: frame length 2147483647 exceeds the limit")
        with self.connect() as c:
            self.assertEqual(c.header(), EG12)

    def test_frames_in_any_tcp_pieces(self):
        self.start()
        with self.connect() as c:
            self.assertEqual(c.header(), EG12)
            # One frame a byte at a time, then two frames and a half in one write.
            for b in frame(EXTENDED_BUILD_ID):
                c.sock.sendall(bytes([b]))
            first = c.read_frame()
            self.assertEqual(first[0], 0x7C)
            both = frame(EXTENDED_BUILD_ID) * 3
            c.sock.sendall(both[:len(both) - 3])
            self.assertEqual(c.read_frame(), first)
            self.assertEqual(c.read_frame(), first)
            c.sock.sendall(both[len(both) - 3:])
            self.assertEqual(c.read_frame(), first)

    def test_a_large_frame_arrives_whole(self):
        self.start()
        with self.connect() as c:
            self.assertEqual(c.header(), EG12)
            # 2 MiB of line noise ahead of the request: the DM port's deframer drops it and still
            # answers; the frame goes out in many TCP pieces.
            payload = b"\x55" * (2 * 1024 * 1024) + EXTENDED_BUILD_ID
            data = frame(payload)
            for i in range(0, len(data), 100_000):
                c.sock.sendall(data[i:i + 100_000])
            self.assertEqual(c.read_frame()[0], 0x7C)
        self.m.wait_kind("usb2tcp", f"1 frame(s) / {len(payload)} bytes in")

    def test_a_second_client_waits_for_the_first(self):
        self.start()
        first = self.connect()
        self.assertEqual(first.header(), EG12)
        self.m.wait_kind("usb2tcp", "usb2tcp#1: sent header")
        second = self.connect()
        self.m.wait_kind("usb2tcp", "usb2tcp#2: connected")
        second.sock.setblocking(False)
        with self.assertRaises(BlockingIOError):
            second.sock.recv(20)  # no header while the first client holds the DM interface
        second.sock.setblocking(True)
        self.assertEqual(self.extended_build_id(first), self.firmware)
        first.close()
        self.m.wait_kind("usb2tcp", "usb2tcp#1: closed")
        self.assertEqual(second.header(), EG12)
        self.assertEqual(self.extended_build_id(second), self.firmware)


class Listening(unittest.TestCase):
    def run_modemu(self, address):
        with tempfile.TemporaryDirectory(prefix="modemu-usb2tcp-") as d:
            return subprocess.run([MODEMU, "run", "--usb2tcp", address, "--duration", "5s", "--state-dir", d,
                                   "--dev-dir", d + "/dev"], capture_output=True, text=True, timeout=30)

    def test_a_taken_address_is_a_clear_error(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            r = self.run_modemu(f"127.0.0.1:{port}")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"usb2tcp: cannot listen on 127.0.0.1:{port}: Address already in use", r.stderr)

    def test_only_numeric_ipv4_host_port(self):
        for bad in ("localhost:9008", "127.0.0.1", "::1:9008", "127.0.0.1:99999", "127.0.0.1:90x8"):
            r = self.run_modemu(bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn(f'usb2tcp: "{bad}" is not IPV4:PORT', r.stderr)


if __name__ == "__main__":
    unittest.main()


class WholeUpdate(Usb2TcpCase):
    """A whole update over usb2tcp by a QFirehose-like updater (usb2tcp_updater.py): the switch,
    Sahara, Firehose with the configure renegotiation, and the module boots the new version."""

    def test_a09_to_a12_and_back_in_application_mode(self):
        import usb2tcp_updater
        with tempfile.TemporaryDirectory() as d:
            pkg = d + "/pkg"
            subprocess.run([MODEMU, "firmware", "build", "--profile", "quectel-eg12", "--version", "EG12EAPAR01A12M4G",
                            "-o", pkg, "--quiet"], check=True, timeout=60)
            self.m = Modemu("--usb2tcp", "127.0.0.1:0", "--firmware", "EG12EAPAR01A09M4G", profile="quectel-eg12",
                            time_scale=self.time_scale)
            self.addCleanup(self.m.close)
            address = self.m.wait_kind("usb2tcp", "serving")["fields"]["address"]
            self.assertEqual(self.m.wait_kind("start")["fields"]["firmware"], "EG12EAPAR01A09M4G")
            stats = {}
            # QFirehose asks 1 MiB for NAND-less hosts; the NAK carries what the programmer takes.
            usb2tcp_updater.update(address, pkg, payload=1 << 20, stats=stats)
        self.m.wait_kind("firehose", "NAK")
        boot = self.m.wait_event(lambda e: e["kind"] == "boot" and e["fields"].get("mode") == "APPLICATION",
                                 what="the boot after the update")
        self.assertEqual(boot["fields"]["firmware"], "EG12EAPAR01A12M4G")
        self.assertGreater(stats["program_bytes"], 0)

    def test_killed_mid_update_the_flash_reloads_and_a_new_update_recovers(self):
        """The emulator process dies (SIGKILL) in the middle of a program: the flash in the state
        directory reloads, the boot chain finds the SBL erased (EDL), and flashing again works."""
        import threading
        import usb2tcp_updater
        with tempfile.TemporaryDirectory() as d:
            pkg = d + "/pkg"
            subprocess.run([MODEMU, "firmware", "build", "--profile", "quectel-ec25", "--version", "EC25EFAR06A11M4G",
                            "--size", "60M", "-o", pkg, "--quiet"], check=True, timeout=60)
            m = Modemu("--usb2tcp", "127.0.0.1:0", profile="quectel-ec25", time_scale=self.time_scale,
                       workdir=d + "/w")
            address = m.wait_kind("usb2tcp", "serving")["fields"]["address"]
            failure = []
            updater = threading.Thread(target=lambda: failure.append(
                self.update_expecting_failure(usb2tcp_updater, address, pkg)), daemon=True)
            updater.start()
            m.wait_kind("firehose.progress", timeout=30)
            m.proc.kill()
            m.proc.wait(timeout=10)
            updater.join(timeout=30)
            self.assertTrue(failure and failure[0], "the update must fail when the module dies under it")
            m.close()
            again = Modemu("--usb2tcp", "127.0.0.1:0", profile="quectel-ec25", time_scale=self.time_scale,
                           workdir=d + "/w")
            try:  # stopped before its directory goes
                address = again.wait_kind("usb2tcp", "serving")["fields"]["address"]
                edl = again.wait_event(lambda e: e["kind"] == "boot", what="the first boot after the crash")
                self.assertEqual(edl["fields"]["mode"], "EDL", edl["message"])
                usb2tcp_updater.update(address, pkg, payload=16384)
                boot = again.wait_event(lambda e: e["kind"] == "boot", timeout=30, what="the boot after the update")
            finally:
                again.close()
            self.assertEqual(boot["fields"]["mode"], "APPLICATION", boot["message"])
            self.assertEqual(boot["fields"]["firmware"], "EC25EFAR06A11M4G")

    @staticmethod
    def update_expecting_failure(updater, address, pkg):
        try:
            updater.update(address, pkg, payload=8192, timeout=5)
        except (updater.UpdateError, OSError):
            return True
        return False

    def test_sigusr1_cuts_the_power_and_it_returns(self):
        m = Modemu("--power-off-time", "1s", profile="quectel-eg12", time_scale=self.time_scale)
        self.addCleanup(m.close)
        m.wait_kind("usb.plug")
        m.proc.send_signal(signal.SIGUSR1)
        cut = m.wait_kind("power", "SIGUSR1 power cut")
        self.assertEqual(cut["fields"]["to"], "powered-off")
        m.wait_kind("power.restore")
        m.wait_kind("power", "power restored after the cut")
        m.wait_kind("usb.plug")

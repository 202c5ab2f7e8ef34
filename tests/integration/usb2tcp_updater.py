"""An updater over QFirehose's TCP framing, written from the documented behaviour
(shared/reference/edl-sahara-firehose.md "QFirehose over TCP (usb2tcp)", "Sahara", "Firehose"):
the normal -> EDL switch, Sahara serving the programmer with READ_DATA, then Firehose: configure
(renegotiated on a NAK), the SBL erased first, every image programmed in payload-sized frames
with the SBL last, and the power reset. Used by the integration tests and by the throughput
benchmark (bench/firehose_usb2tcp.py).
"""
import os
import re
import socket
import struct
import time

TAG = 0x12345678
EXTENDED_BUILD_ID = bytes.fromhex("7e7c93497e")
EDL_SWITCH = bytes.fromhex("4b650100540f7e")
HELLO, HELLO_RESP, READ_DATA, END_IMAGE_TX, DONE, DONE_RESP, READ_DATA_64 = 1, 2, 3, 4, 5, 6, 0x12


class UpdateError(Exception):
    pass


def frame(payload, tag=TAG):
    return struct.pack("<II", tag, len(payload)) + payload


def connect(address, timeout=10.0):
    """A TCP connection to ADDR:PORT, as QFirehose makes it: connection refused means try again."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, int(port)), timeout=timeout)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # a bounded retry of a refused connection, not a wait for time
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Connection:
    """One usb2tcp connection: the 20-byte header, then one frame per bulk transfer."""

    def __init__(self, address, timeout=10.0):
        self.sock = connect(address, timeout)
        self.timeout = timeout
        header = self.recv_exact(20)
        tag, length, vid, pid, interfaces = struct.unpack("<5I", header)
        if tag != TAG or length != 12:
            raise UpdateError(f"bad usb2tcp header {header.hex()}")
        self.identity = (vid, pid, interfaces)

    def recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise UpdateError("connection closed")
            out += chunk
        return bytes(out)

    def send(self, payload):
        self.sock.sendall(frame(payload))

    def send_many(self, payloads):
        self.sock.sendall(b"".join(frame(p) for p in payloads))

    def read(self, timeout=None):
        self.sock.settimeout(timeout or self.timeout)
        try:
            tag, length = struct.unpack("<II", self.recv_exact(8))
            if tag != TAG or length == 0:
                raise UpdateError(f"bad frame tag 0x{tag:08x} length {length}")
            return self.recv_exact(length)
        finally:
            self.sock.settimeout(self.timeout)

    def close(self):
        self.sock.close()


def switch_to_edl(address, timeout=20.0):
    """From application mode to 05c6:9008, as QFirehose does it; returns the EDL connection."""
    c = Connection(address, timeout)
    if c.identity[:2] == (0x05C6, 0x9008):
        return c
    c.send(EXTENDED_BUILD_ID)
    reply = c.read()
    if not (reply.startswith(b"\x7c") and reply.endswith(b"\x7e")):
        raise UpdateError(f"Extended Build ID reply {reply[:16].hex()}")
    c.send(EDL_SWITCH)
    c.read()  # the echo
    c.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = Connection(address, timeout)
        if c.identity[:2] == (0x05C6, 0x9008):
            return c
        c.close()
    raise UpdateError("the module did not come back in emergency download")


def sahara_load(c, programmer):
    """Sahara: HELLO -> HELLO_RESP, READ_DATA served from the programmer, DONE."""
    while True:
        pkt = c.read()
        cmd, length = struct.unpack_from("<II", pkt)
        if cmd == HELLO:
            version, supported = struct.unpack_from("<II", pkt, 8)
            c.send(struct.pack("<12I", HELLO_RESP, 0x30, version, supported, 0, 0, 1, 2, 3, 4, 5, 6))
        elif cmd == READ_DATA:
            _, offset, size = struct.unpack_from("<III", pkt, 8)
            data = programmer[offset:offset + size]
            c.send_many([data[i:i + 4096] for i in range(0, len(data), 4096)])
        elif cmd == READ_DATA_64:
            _, offset, size = struct.unpack_from("<QQQ", pkt, 8)
            data = programmer[offset:offset + size]
            c.send_many([data[i:i + 4096] for i in range(0, len(data), 4096)])
        elif cmd == END_IMAGE_TX:
            status = struct.unpack_from("<I", pkt, 12)[0]
            if status != 0:
                raise UpdateError(f"END_IMAGE_TX status 0x{status:02x}")
            c.send(struct.pack("<II", DONE, 8))
        elif cmd == DONE_RESP:
            return
        else:
            raise UpdateError(f"unexpected Sahara command 0x{cmd:02x}")


def xml(element):
    return f'<?xml version="1.0" encoding="UTF-8" ?><data>{element}</data>'.encode()


def response(c, timeout=None):
    """The next <response>: (value, attributes); logs are collected on c.logs."""
    while True:
        doc = c.read(timeout).decode()
        for m in re.finditer(r"<(log|response) ([^>]*)/>", doc):
            attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            if m.group(1) == "log":
                c.logs.append(attrs.get("value", ""))
            else:
                return attrs.get("value"), attrs


def configure(c, payload):
    c.send(xml(f'<configure MemoryName="nand" MaxPayloadSizeToTargetInBytes="{payload}" ZlpAwareHost="1" '
               f'SkipStorageInit="0" />'))
    value, attrs = response(c)
    if value == "NAK" and "MaxPayloadSizeToTargetInBytes" in attrs:
        return configure(c, int(attrs["MaxPayloadSizeToTargetInBytes"]))
    if value != "ACK":
        raise UpdateError(f"configure: {value} {attrs}")
    return payload


def read_rawprogram(package):
    firehose = os.path.join(package, "update", "firehose")
    name = next(n for n in sorted(os.listdir(firehose)) if n.startswith("rawprogram"))
    with open(os.path.join(firehose, name)) as f:
        text = f.read()
    entries = []
    for m in re.finditer(r"<(program|erase) ([^>]*)/>", text):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        attrs["tag"] = m.group(1)
        if attrs.get("filename"):
            attrs["path"] = os.path.normpath(os.path.join(firehose, attrs["filename"].replace("\\", "/")))
        entries.append(attrs)
    return entries


def programmer_of(package):
    firehose = os.path.join(package, "update", "firehose")
    name = next(n for n in sorted(os.listdir(firehose)) if n.startswith("prog_"))
    with open(os.path.join(firehose, name), "rb") as f:
        return f.read()


def update(address, package, payload=8192, timeout=20.0, stats=None):
    """The whole update. `stats` (a dict) receives program_bytes and program_seconds."""
    c = switch_to_edl(address, timeout)
    try:
        c.logs = []
        sahara_load(c, programmer_of(package))
        # Firehose: the programmer says hello with logs first.
        while len(c.logs) < 1:
            doc = c.read().decode()
            c.logs += re.findall(r'<log value="([^"]*)"', doc)
        payload = configure(c, payload)
        entries = read_rawprogram(package)
        program_bytes, program_seconds = 0, 0.0
        for e in entries:
            if e["tag"] == "erase":
                c.send(xml(f'<erase SECTOR_SIZE_IN_BYTES="{e["SECTOR_SIZE_IN_BYTES"]}" '
                           f'num_partition_sectors="{e["num_partition_sectors"]}" start_sector="{e["start_sector"]}" />'))
                value, attrs = response(c)
                if value != "ACK":
                    raise UpdateError(f"erase {e}: {value} {c.logs[-1:]}")
        ordered = [e for e in entries if e["tag"] == "program"]
        for e in ordered:
            sector = int(e["SECTOR_SIZE_IN_BYTES"])
            with open(e["path"], "rb") as f:
                data = f.read()
            sectors = (len(data) + sector - 1) // sector
            data += b"\0" * (sectors * sector - len(data))
            c.send(xml(f'<program SECTOR_SIZE_IN_BYTES="{sector}" num_partition_sectors="{sectors}" '
                       f'physical_partition_number="0" start_sector="{e["start_sector"]}" filename="{e["filename"]}" />'))
            value, attrs = response(c)
            if value != "ACK" or attrs.get("rawmode") != "true":
                raise UpdateError(f"program {e['label']}: {value} {c.logs[-1:]}")
            started = time.perf_counter()
            view = memoryview(data)
            batch = 64
            for i in range(0, len(data), payload * batch):
                c.send_many([view[j:j + payload] for j in range(i, min(len(data), i + payload * batch), payload)])
            value, attrs = response(c, timeout=120)
            program_seconds += time.perf_counter() - started
            program_bytes += len(data)
            if value != "ACK":
                raise UpdateError(f"program {e['label']} data: {value} {c.logs[-1:]}")
        c.send(xml('<power value="reset" />'))
        value, _ = response(c)
        if value != "ACK":
            raise UpdateError(f"power reset: {value}")
    finally:
        c.close()
    if stats is not None:
        stats.update(program_bytes=program_bytes, program_seconds=program_seconds)

"""Runs the real `modemu` binary for integration tests and waits on its event stream.

Every wait is bounded and waits on an event (a JSON line from `modemu run --json`, a client's
output, a process exit): nothing sleeps.
"""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time

MODEMU = os.environ.get("MODEMU", "modemu")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROFILES = os.path.join(ROOT, "emulator", "profiles")


def profile_value(profile, pattern):
    """The first capture of `pattern` in a shipped profile file: tests compare with the profile,
    never with numbers written twice."""
    with open(os.path.join(PROFILES, profile + ".txtpb")) as f:
        m = re.search(pattern, f.read())
    if not m:
        raise AssertionError(f"{pattern!r} not found in profile {profile}")
    return m.group(1)


def csq_of(profile):
    rssi = int(profile_value(profile, r"rssi_dbm:\s*(-?\d+)"))
    return max(0, min(31, (rssi + 113) // 2))


class Modemu:
    """One `modemu run` process with its own state and dev directories."""

    def __init__(self, *extra, profile="quectel-eg12", time_scale="0.05", workdir=None, env=None, netns=False):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="modemu-it-")
        self.dev = os.path.join(self.dir, "dev")
        self.state = os.path.join(self.dir, "state")
        args = [MODEMU, "run", "--json", "--profile", profile, "--state-dir", self.state, "--dev-dir", self.dev,
                "--time-scale", time_scale, *extra]
        # netns: a private network namespace (its own abstract sockets, so its qmi-proxy is private)
        self.netns = netns
        if netns:
            args = ["unshare", "-n", *args]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.events = []
        self._seen = 0
        # A reader thread drains stdout all the time: a pipe nobody reads fills up and then
        # blocks the emulator's event log, and with it the emulator.
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read_events, daemon=True)
        self._reader.start()

    def run_in_netns(self, args, timeout=30):
        """Runs a client where it sees the modem's sockets (in its namespace when it has one)."""
        if self.netns:
            args = ["nsenter", "-t", str(self.proc.pid), "-n", *args]
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout)

    def port(self, node):
        return os.path.join(self.dev, node)

    def _read_events(self):
        for line in self.proc.stdout:
            if line.strip():
                event = json.loads(line)
                with self._cond:
                    self.events.append(event)
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def last_events(self, n):
        """The last `n` events, a JSON line each: what a failure message shows."""
        with self._cond:
            return "\n".join(json.dumps(e) for e in self.events[-n:])

    def wait_event(self, predicate, timeout=15.0, what="event"):
        """Returns the first event not returned before that matches."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while self._seen < len(self.events):
                    e = self.events[self._seen]
                    self._seen += 1
                    if predicate(e):
                        return e
                remaining = deadline - time.monotonic()
                if remaining > 0 and not self._eof:
                    self._cond.wait(remaining)
                    continue
                tail = self.last_events(15)
            err = ""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
            raise AssertionError(f"timed out waiting for {what}; last events:\n{tail}\n{err}")

    def wait_kind(self, kind, contains="", timeout=15.0):
        return self.wait_event(lambda e: e["kind"] == kind and contains in e["message"], timeout,
                               f"{kind} {contains!r}")

    def wait_ports_up(self, timeout=15.0):
        return self.wait_kind("ports", "ports up", timeout)

    def wait_ready(self, timeout=15.0):
        self.wait_kind("ready", timeout=timeout)
        return self.wait_event(lambda e: e["kind"] == "radio.registration" and
                               e.get("fields", {}).get("to") in ("home", "roaming"), timeout, "registration")

    def stop(self, sig=signal.SIGINT, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("modemu did not stop on a signal")
        self._reader.join(timeout)  # the rest of the event stream
        return rc

    def close(self):
        try:
            if self.proc.poll() is None:
                self.stop()
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()
            if self.own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialPort:
    """A raw AT conversation over a port with pyserial (Debian's python3-serial)."""

    def __init__(self, path):
        import serial  # imported here so tests that do not need it run without it
        self.ser = serial.Serial(path, 115200, timeout=0)

    def read_until(self, token, timeout=5.0):
        deadline = time.monotonic() + timeout
        data = b""
        while token.encode() not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {token!r}; got {data!r}")
            ready, _, _ = select.select([self.ser.fileno()], [], [], remaining)
            if ready:
                data += self.ser.read(4096)
        return data.decode(errors="replace")

    def command(self, line, final="OK\r\n", timeout=5.0):
        self.ser.write((line + "\r").encode())
        return self.read_until(final, timeout)

    def close(self):
        self.ser.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_client(args, timeout=60, stdin=None, stdout=None):
    return subprocess.run(args, stdin=stdin, stdout=stdout if stdout is not None else subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, text=True)


class Lines:
    """The lines of a child's pipe, read on a thread, each wait bounded: a child that goes quiet
    fails the test with what it was waiting for instead of hanging it."""

    def __init__(self, stream):
        import queue
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream):
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def next(self, timeout=20.0, what="a line"):
        import queue
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {what} within {timeout} s") from None
        if line is None:
            raise AssertionError(f"the stream ended while waiting for {what}")
        return line

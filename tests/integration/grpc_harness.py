"""`modemu serve` for the gRPC tests, and the modemu.v1 Python modules generated at test time.

The stubs are generated from the .proto files into a temporary directory with Debian's
python3-grpc-tools (nothing generated is committed). Every wait is bounded.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from harness import MODEMU, ROOT

_api = None


def api():
    """(modemu_pb2, modemu_pb2_grpc, scenario_pb2), generated once per test process."""
    global _api
    if _api is None:
        out = tempfile.mkdtemp(prefix="modemu-stubs-")
        atexit.register(shutil.rmtree, out, True)
        protos = [os.path.join(ROOT, "grpc-api", "proto", "modemu", "v1", "modemu.proto"),
                  os.path.join(ROOT, "scenarios", "proto", "modemu", "scenario", "scenario.proto")]
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "grpc-api", "proto"),
                        "-I", os.path.join(ROOT, "scenarios", "proto"), f"--python_out={out}",
                        f"--grpc_python_out={out}", *protos], check=True)
        sys.path.insert(0, out)
        from modemu.v1 import modemu_pb2, modemu_pb2_grpc
        from modemu.scenario import scenario_pb2
        _api = (modemu_pb2, modemu_pb2_grpc, scenario_pb2)
    return _api


class Server:
    """One `modemu serve` on a unix socket in its own directory, its events read as JSON lines."""

    def __init__(self, *extra, time_scale="0.05", token=None):
        self.dir = tempfile.mkdtemp(prefix="modemu-grpc-")
        self.socket = os.path.join(self.dir, "grpc.sock")
        self.address = "unix:" + self.socket
        self.state = os.path.join(self.dir, "state")
        self.token = token
        args = [MODEMU, "serve", "--json", "--grpc", self.address, "--state-dir", self.state,
                "--time-scale", time_scale, *extra]
        if token is not None:
            self.token_file = os.path.join(self.dir, "token")
            with open(self.token_file, "w") as f:
                f.write(token + "\n")
            args += ["--token-file", self.token_file]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events = []
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_event(lambda e: e["kind"] == "start", what="the server's start event")
        self.channels = []

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                with self._cond:
                    self.events.append(json.loads(line))
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_event(self, predicate, timeout=20.0, what="event"):
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for e in self.events[seen:]:
                    if predicate(e):
                        return e
                seen = len(self.events)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    err = ""
                    if self.proc.poll() is not None:
                        err = self.proc.stderr.read().decode(errors="replace")
                    raise AssertionError(f"timed out waiting for {what}; last events: {self.events[-5:]}\n{err}")
                self._cond.wait(remaining)

    def stub(self, token=None):
        import grpc
        _, pb_grpc, _ = api()
        channel = grpc.insecure_channel(self.address)
        self.channels.append(channel)
        return Timed(pb_grpc.ModemuStub(channel))

    def metadata(self, token=None):
        token = self.token if token is None else token
        return [("authorization", "Bearer " + token)] if token else []

    def ctl(self, *args, timeout=30):
        cmd = [MODEMU, "ctl", "--grpc", self.address]
        if self.token:
            cmd += ["--token-file", self.token_file]
        return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("modemu serve did not stop on SIGINT")
        self._reader.join(timeout)
        for c in self.channels:
            c.close()
        return rc

    def close(self):
        try:
            if self.proc.poll() is None:
                self.stop()
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Timed:
    """A stub whose unary calls have a deadline: a server that stopped answering fails the test
    with DEADLINE_EXCEEDED instead of hanging it."""

    def __init__(self, stub, timeout=60):
        self._stub = stub
        self._timeout = timeout

    def __getattr__(self, name):
        method = getattr(self._stub, name)
        if name == "WatchEvents":
            return method

        def call(request, **kw):
            kw.setdefault("timeout", self._timeout)
            return method(request, **kw)
        call.__name__ = name
        return call


class Watcher:
    """A WatchEvents stream read on its own thread: every event in arrival order."""

    def __init__(self, stub, metadata=(), **request):
        pb, _, _ = api()
        self.events = []
        self.batches = 0
        self.missed = 0
        self.error = None
        self._cond = threading.Condition()
        self.stream = stub.WatchEvents(pb.WatchEventsRequest(**request), metadata=list(metadata))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        # The first batch comes at once: the subscription is in place after it.
        self.wait(lambda: self.batches > 0 or self.error is not None, what="the first batch")
        if self.error is not None and not hasattr(self.error, "code"):
            raise self.error

    def _read(self):
        try:
            for batch in self.stream:
                with self._cond:
                    self.batches += 1
                    self.missed += batch.missed
                    self.events.extend(batch.events)
                    self._cond.notify_all()
        except Exception as e:  # grpc.RpcError on cancel or server end
            with self._cond:
                self.error = e
                self._cond.notify_all()

    def wait(self, predicate, timeout=30.0, what="events"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}; {len(self.events)} event(s), "
                                         f"last: {[(e.seq, e.modem, e.kind) for e in self.events[-5:]]}")
                self._cond.wait(remaining)

    def wait_kind(self, kind, modem=None, count=1, timeout=30.0):
        def n():
            return sum(1 for e in self.events if e.kind == kind and (modem is None or e.modem == modem))
        self.wait(lambda: n() >= count, timeout, f"{count} x {kind} of {modem}")
        return [e for e in self.events if e.kind == kind and (modem is None or e.modem == modem)][count - 1]

    def cancel(self):
        self.stream.cancel()
        self._thread.join(10)

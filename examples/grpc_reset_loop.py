#!/usr/bin/python3
"""A Python client of modemu's gRPC API (modemu.v1): start a modem, inject a USB reset loop,
watch the module re-enumerate, and clear the fault.

Needs Debian's python3-grpcio and python3-grpc-tools: the client code is generated from the
.proto files when the script starts, into a temporary directory. Against a running server:

    modemu serve --time-scale 0.05 &
    examples/grpc_reset_loop.py --resets 3

Prints one line per re-enumeration and exits 0 once the module has come back --resets times and
the fault is cleared; 1 when that does not happen within --timeout seconds.
"""
import argparse
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_api(proto_root):
    """Generates the modemu.v1 Python modules from the .proto files and imports them."""
    api = os.path.join(proto_root, "grpc-api", "proto")
    scenario = os.path.join(proto_root, "scenarios", "proto")
    if not os.path.isdir(api):  # an installed tree: PREFIX/share/modemu/proto holds both
        api = scenario = proto_root
    out = tempfile.mkdtemp(prefix="modemu-py-")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", api, "-I", scenario, f"--python_out={out}",
                    f"--grpc_python_out={out}", os.path.join(api, "modemu", "v1", "modemu.proto"),
                    os.path.join(scenario, "modemu", "scenario", "scenario.proto")], check=True)
    sys.path.insert(0, out)
    from modemu.v1 import modemu_pb2, modemu_pb2_grpc  # noqa: E402 (generated just now)
    from modemu.scenario import scenario_pb2  # noqa: E402
    return modemu_pb2, modemu_pb2_grpc, scenario_pb2


def default_address():
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return "unix:" + os.path.join(runtime, "modemu", "grpc.sock")
    return f"unix:/tmp/modemu-{os.getuid()}/grpc.sock"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grpc", default=default_address(), help="unix:PATH or HOST:PORT of `modemu serve`")
    ap.add_argument("--token-file", help="the server's bearer token")
    ap.add_argument("--profile", default="quectel-eg12")
    ap.add_argument("--id", default="py-eg12", help="the modem's id")
    ap.add_argument("--period", default="2s", help="time between resets")
    ap.add_argument("--downtime", default="0.5s", help="time off the bus at each reset")
    ap.add_argument("--resets", type=int, default=3, help="re-enumerations to watch")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--keep", action="store_true", help="leave the modem on the server")
    ap.add_argument("--proto-root", default=os.environ.get("MODEMU_PROTO_ROOT", os.path.dirname(HERE)),
                    help="the modemu source tree, or the installed PREFIX/share/modemu/proto (default: this source tree)")
    args = ap.parse_args()

    import grpc
    pb, pb_grpc, scenario_pb2 = load_api(args.proto_root)
    metadata = []
    if args.token_file:
        with open(args.token_file) as f:
            metadata.append(("authorization", "Bearer " + f.read().strip()))
    channel = grpc.insecure_channel(args.grpc)
    api = pb_grpc.ModemuStub(channel)
    deadline = time.monotonic() + args.timeout

    # Watch first: the stream's first batch says the subscription is in place, so nothing the
    # modem does after that is missed.
    events = queue.Queue()
    stream = api.WatchEvents(pb.WatchEventsRequest(modems=[args.id], kinds=["usb.plug", "usb.unplug", "fault", "fault.end"]),
                             metadata=metadata)

    def follow():
        try:
            for batch in stream:
                events.put(("batch", batch))
        except grpc.RpcError as e:
            events.put(("error", e))

    threading.Thread(target=follow, daemon=True).start()

    pending = []

    def next_batch():
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SystemExit("grpc_reset_loop: timed out waiting for events")
            try:
                what, item = events.get(timeout=remaining)
            except queue.Empty:
                continue
            if what == "error":
                raise SystemExit(f"grpc_reset_loop: the event stream failed: {item.code().name}: {item.details()}")
            pending.extend(item.events)
            return

    def next_event(kind):
        while True:
            while pending:
                e = pending.pop(0)
                if e.kind == kind:
                    return e
            next_batch()

    next_batch()  # the first batch: subscribed

    modem = api.CreateModem(pb.CreateModemRequest(spec=scenario_pb2.ModemSpec(profile=args.profile, id=args.id)),
                            metadata=metadata)
    print(f"created {modem.id}: {modem.description}")
    e = next_event("usb.plug")
    print(f"[{e.t:8.3f}] enumerated as {e.fields['vid']}:{e.fields['pid']} ({e.fields['mode']})")

    fault = api.InjectFault(pb.InjectFaultRequest(fault=scenario_pb2.Fault(
        type="usb_reset_loop", modem=args.id, params={"period": args.period, "downtime": args.downtime})),
        metadata=metadata)
    print(f"injected fault {fault.id}: usb_reset_loop every {args.period}, {args.downtime} off the bus")

    for n in range(1, args.resets + 1):
        gone = next_event("usb.unplug")
        back = next_event("usb.plug")
        print(f"[{back.t:8.3f}] re-enumeration {n}: off the bus at {gone.t:.3f}, back after {back.t - gone.t:.3f} s "
              f"as {back.fields['vid']}:{back.fields['pid']}")

    cleared = api.ClearFaults(pb.ClearFaultsRequest(modem=args.id), metadata=metadata)
    left = api.ListFaults(pb.ListFaultsRequest(modem=args.id), metadata=metadata)
    print(f"cleared {len(cleared.cleared)} fault(s); {len(left.faults)} left")
    if not args.keep:
        api.DeleteModem(pb.ModemRef(id=args.id), metadata=metadata)
        print(f"deleted {args.id}")
    stream.cancel()
    print(f"reset loop watched: {args.resets} re-enumeration(s)")
    return 0 if not left.faults else 1


if __name__ == "__main__":
    sys.exit(main())

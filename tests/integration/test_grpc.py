"""The gRPC API (modemu.v1) through real channels to a live `modemu serve`: every RPC, its
errors, the token, reflection, event streams with resume, and the examples.

Stubs are generated at test time (grpc_harness.api()); waits are bounded and wait on events.
"""
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import unittest

# The tests start clients (qmicli, modemu ctl) while gRPC's threads run: no fork handlers, the
# children exec at once.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
import grpc  # noqa: E402

from grpc_harness import Server, Watcher, api
from harness import MODEMU, ROOT, Lines, SerialPort

pb, pb_grpc, spb = api()


def spec(profile="quectel-eg12", **kw):
    return spb.ModemSpec(profile=profile, **kw)


def code_of(call, *args, **kw):
    try:
        call(*args, **kw)
    except grpc.RpcError as e:
        return e.code(), e.details()
    raise AssertionError("the call succeeded")


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.api = cls.server.stub()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def create(self, id, watch=True, **kw):
        w = Watcher(self.api, modems=[id]) if watch else None
        m = self.api.CreateModem(pb.CreateModemRequest(spec=spec(id=id, **kw.pop("spec", {})), **kw))
        return m, w

    def test_modem_lifecycle_over_every_modem_rpc(self):
        dev = os.path.join(self.server.dir, "life-dev")
        m, w = self.create("life", transport=pb.TransportSpec(kind=pb.TRANSPORT_LOCAL, dev_dir=dev))
        self.assertEqual(m.id, "life")
        self.assertEqual(m.profile, "quectel-eg12")
        self.assertEqual(m.transport.kind, pb.TRANSPORT_LOCAL)
        plug = w.wait_kind("usb.plug", "life")
        self.assertEqual(plug.fields["mode"], "APPLICATION")
        w.wait_kind("radio.registration", "life")
        got = self.api.GetModem(pb.ModemRef(id="life"))
        self.assertEqual(got.power, "application")
        self.assertEqual(got.usb_id, "2c7c:0512")
        self.assertEqual(got.sim.state, "SIM_READY")
        self.assertIn("cdc-wdm0", [p.node for p in got.ports])
        self.assertIn("life", [x.id for x in self.api.ListModems(pb.ListModemsRequest()).modems])
        # The local transport is real: the AT port answers on the pty the API attached.
        with SerialPort(os.path.join(dev, "ttyUSB2")) as port:
            self.assertIn(got.firmware, port.command("AT+GMR"))
        if shutil.which("qmicli"):
            r = subprocess.run(["qmicli", "-d", os.path.join(dev, "cdc-wdm0"), "--device-open-qmi", "--dms-get-revision"],
                               capture_output=True, text=True, timeout=30)
            self.assertIn(f"Revision: '{got.firmware}'", r.stdout, r.stderr)
        # Flash and firmware.
        flash = self.api.GetFlash(pb.ModemRef(id="life"))
        self.assertTrue(flash.has_flash)
        self.assertEqual(flash.next_boot_mode, "APPLICATION")
        self.assertEqual(flash.running_firmware, got.firmware)
        sbl = [p for p in flash.partitions if p.label == "sbl"][0]
        self.assertEqual((sbl.state, sbl.image_version, sbl.boot), ("valid", got.firmware, True))
        self.assertIn("EG12EAPAR01A09M4G", flash.catalogue)
        # Reset: off the bus and back.
        boots = got.boot_count
        self.api.ResetModem(pb.ModemRef(id="life"))
        w.wait_kind("usb.unplug", "life")
        w.wait_kind("usb.plug", "life", count=2)
        self.assertEqual(self.api.GetModem(pb.ModemRef(id="life")).boot_count, boots + 1)
        # Power off, on, cut (with its own off time).
        off = self.api.SetPower(pb.SetPowerRequest(id="life", action=pb.POWER_OFF))
        self.assertEqual(off.power, "powered-off")
        self.api.SetPower(pb.SetPowerRequest(id="life", action=pb.POWER_ON))
        w.wait_kind("usb.plug", "life", count=3)
        # The cut's power event may arrive before the call returns: look for it by what it says.
        self.api.SetPower(pb.SetPowerRequest(id="life", action=pb.POWER_CUT, off_time="0.2s"))
        w.wait(lambda: any(e.kind == "power" and "power cut" in e.message for e in w.events), 30.0, "the cut")
        cut = [e for e in w.events if e.kind == "power" and "power cut" in e.message][0]
        self.assertEqual(cut.fields["to"], "powered-off", cut.message)
        w.wait_kind("usb.plug", "life", count=4)
        # Detach: the port links go; attach again elsewhere: they come back there.
        self.assertEqual(self.api.DetachTransport(pb.ModemRef(id="life")).transport.kind, pb.TRANSPORT_KIND_UNSPECIFIED)
        self.assertFalse(os.path.exists(os.path.join(dev, "ttyUSB2")))
        dev2 = os.path.join(self.server.dir, "life-dev2")
        again = self.api.AttachTransport(pb.AttachTransportRequest(
            id="life", transport=pb.TransportSpec(kind=pb.TRANSPORT_LOCAL, dev_dir=dev2)))
        self.assertIn(dev2, again.transport.where)
        self.assertTrue(os.path.exists(os.path.join(dev2, "ttyUSB2")))
        # Delete: gone from the list, its links gone.
        self.api.DeleteModem(pb.ModemRef(id="life"))
        self.assertNotIn("life", [x.id for x in self.api.ListModems(pb.ListModemsRequest()).modems])
        self.assertFalse(os.path.exists(os.path.join(dev2, "ttyUSB2")))
        w.cancel()

    def test_usbredir_transport_listens_where_asked(self):
        sock = os.path.join(self.server.dir, "redir.sock")
        m, w = self.create("redir", transport=pb.TransportSpec(kind=pb.TRANSPORT_USBREDIR, listen="unix:" + sock))
        self.assertEqual(m.transport.kind, pb.TRANSPORT_USBREDIR)
        self.assertTrue(stat.S_ISSOCK(os.stat(sock).st_mode))
        # A usbredir client connecting there is greeted with the usbredir hello.
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(10)
        c.connect(sock)
        self.assertIn(b"modemu", c.recv(200))
        c.close()
        self.api.DeleteModem(pb.ModemRef(id="redir"))
        w.cancel()

    def test_faults_inject_list_clear(self):
        _, w = self.create("flt")
        w.wait_kind("usb.plug", "flt")
        types = {t.name: t for t in self.api.ListFaultTypes(pb.ListFaultTypesRequest()).types}
        self.assertIn("usb_reset_loop", types)
        self.assertIn("period", [p.name for p in types["usb_reset_loop"].params])
        info = self.api.InjectFault(pb.InjectFaultRequest(fault=spb.Fault(
            type="usb_reset_loop", modem="flt", params={"period": "1s", "downtime": "0.2s"})))
        self.assertEqual(info.modem, "flt")
        w.wait_kind("usb.unplug", "flt", count=2)
        listed = self.api.ListFaults(pb.ListFaultsRequest(modem="flt")).faults
        self.assertEqual([(f.id, f.state) for f in listed], [(info.id, "active")])
        self.assertEqual(self.api.GetModem(pb.ModemRef(id="flt")).active_faults, 1)
        # A second, timed fault: SIM removed for a while, then it ends by itself.
        sim = self.api.InjectFault(pb.InjectFaultRequest(fault=spb.Fault(type="sim", modem="flt", duration="0.5s")))
        w.wait_kind("fault.end", "flt")
        self.assertEqual({f.id: f.state for f in self.api.ListFaults(pb.ListFaultsRequest()).faults
                          if f.modem == "flt"}, {info.id: "active", sim.id: "ended"})
        # Clear one by id, then the rest of the modem's.
        self.assertEqual([f.id for f in self.api.ClearFaults(pb.ClearFaultsRequest(id=sim.id)).cleared], [sim.id])
        cleared = self.api.ClearFaults(pb.ClearFaultsRequest(modem="flt")).cleared
        self.assertEqual([f.id for f in cleared], [info.id])
        self.assertEqual(len(self.api.ListFaults(pb.ListFaultsRequest(modem="flt")).faults), 0)
        end = w.wait_kind("fault.end", "flt", count=2)
        self.assertIn("cleared", end.message)
        # No reset after the clear: the last unplug came before it.
        unplugs = [e.seq for e in w.events if e.kind == "usb.unplug"]
        marker = self.api.CreateModem(pb.CreateModemRequest(spec=spec(id="flt-marker", powered_off=True)))
        w2 = Watcher(self.api, modems=["flt"], resume_after=end.seq)
        self.assertTrue(all(s < end.seq for s in unplugs))
        self.assertEqual([e.kind for e in w2.events if e.kind == "usb.unplug"], [])
        w.cancel(), w2.cancel()
        self.api.DeleteModem(pb.ModemRef(id="flt"))
        self.api.DeleteModem(pb.ModemRef(id=marker.id))

    def test_scenario_start_status_stop(self):
        with open(os.path.join(ROOT, "scenarios", "f12-qmi-silence.txtpb")) as f:
            text = f.read()
        from google.protobuf import text_format
        sc = text_format.Parse(text, spb.Scenario())
        w = Watcher(self.api, kinds=["scenario"])
        st = self.api.StartScenario(pb.StartScenarioRequest(scenario=sc, id="f12"))
        self.assertTrue(st.running)
        self.assertEqual(list(st.modems), [m.id or m.profile for m in sc.modems])
        self.assertEqual(len(st.verdicts), len(sc.expectations))
        self.assertIn("f12", [s.id for s in self.api.ListScenarios(pb.ListScenariosRequest()).scenarios])
        modem = st.modems[0]
        self.assertEqual(self.api.GetModem(pb.ModemRef(id=modem)).scenario, "f12")
        # Its modem cannot be deleted while it runs.
        self.assertEqual(code_of(self.api.DeleteModem, pb.ModemRef(id=modem))[0], grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(code_of(self.api.StartScenario, pb.StartScenarioRequest(scenario=sc, id="f12"))[0],
                         grpc.StatusCode.ALREADY_EXISTS)
        status = self.api.GetScenario(pb.ScenarioRef(id="f12"))
        self.assertTrue(status.running)
        stopped = self.api.StopScenario(pb.ScenarioRef(id="f12"))
        self.assertFalse(stopped.running)
        end = w.wait_kind("scenario", count=2)
        self.assertIn("stopped", end.message)
        self.assertEqual(code_of(self.api.StopScenario, pb.ScenarioRef(id="f12"))[0], grpc.StatusCode.FAILED_PRECONDITION)
        self.api.DeleteModem(pb.ModemRef(id=modem))
        self.assertEqual(self.api.GetScenario(pb.ScenarioRef(id="f12")).modems, stopped.modems)
        w.cancel()

    def test_a_scenario_runs_to_its_verdicts(self):
        sc = spb.Scenario(name="short", duration="3s", modems=[spec(id="short-m")],
                          faults=[spb.Fault(type="usb_reset_loop", params={"period": "1s", "downtime": "0.2s"})],
                          expectations=[spb.Expectation(name="it drops off USB", within_event=spb.Match(kind="usb.unplug"),
                                                        time="2s"),
                                        spb.Expectation(name="never dead", never=spb.Match(kind="usb.missing"))])
        w = Watcher(self.api, kinds=["scenario"])
        self.api.StartScenario(pb.StartScenarioRequest(scenario=sc))
        w.wait(lambda: any(e.fields.get("end") == "true" for e in w.events), what="the scenario's end")
        st = self.api.GetScenario(pb.ScenarioRef(id="short"))
        self.assertFalse(st.running)
        self.assertTrue(st.all_held, st)
        self.assertEqual([v.held for v in st.verdicts], [True, True])
        r = self.server.ctl("scenario", "status", "short")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("PASS  it drops off USB", r.stdout)
        self.api.DeleteModem(pb.ModemRef(id="short-m"))
        w.cancel()

    def test_data_sessions_and_their_counters(self):
        # The scripted host brings a session up and pings through it; GetModem reports the
        # session with its addresses and counters, as the event log's data.counters does.
        sc = spb.Scenario(name="data", duration="1h", modems=[spb.ModemSpec(id="data-m", profile="quectel-ec25",
                                                                            time_scale=0.05)],
                          actions=[spb.Action(at="1s", at_command="AT+CGACT=1,1"),
                                   spb.Action(at="2s", ping=spb.Ping(target="gateway", count=3, interval="0.05s",
                                                                     timeout="0.5s"))])
        w = Watcher(self.api, modems=["data-m"])
        self.api.StartScenario(pb.StartScenarioRequest(scenario=sc, id="data"))
        ping = w.wait_kind("host.ping", "data-m")
        self.assertEqual((ping.fields["sent"], ping.fields["replies"]), ("3", "3"), ping.message)
        sessions = self.api.GetModem(pb.ModemRef(id="data-m")).data_sessions
        self.assertEqual(len(sessions), 1)
        d = sessions[0]
        self.assertEqual(d.cid, 1)
        self.assertTrue(d.ipv4_address.startswith("10."), d)
        self.assertEqual((d.uplink_packets, d.downlink_packets), (3, 3))
        self.assertEqual(d.uplink_bytes, d.downlink_bytes)
        self.assertGreater(d.uplink_bytes, 0)
        r = self.server.ctl("modems", "get", "data-m")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("session     context 1", r.stdout)
        self.api.StopScenario(pb.ScenarioRef(id="data"))
        self.api.DeleteModem(pb.ModemRef(id="data-m"))
        w.cancel()

    def test_refused_calls_say_why_and_change_nothing(self):
        _, w = self.create("ref")
        w.wait(lambda: any(e.kind == "radio.registration" and e.fields.get("to") == "home" for e in w.events),
               what="registration at home")

        def snapshot():
            return (self.api.ListModems(pb.ListModemsRequest()), self.api.ListFaults(pb.ListFaultsRequest()),
                    self.api.ListScenarios(pb.ListScenariosRequest()))
        before = snapshot()
        before_events = len(w.events)
        state_dirs = os.listdir(self.server.state)
        NF, IA, AE, FP = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS,
                          grpc.StatusCode.FAILED_PRECONDITION)
        nobody = pb.ModemRef(id="nobody")
        cases = [
            (self.api.GetModem, nobody, NF, "nobody"),
            (self.api.DeleteModem, nobody, NF, "nobody"),
            (self.api.ResetModem, nobody, NF, "nobody"),
            (self.api.DetachTransport, nobody, NF, "nobody"),
            (self.api.GetFlash, nobody, NF, "nobody"),
            (self.api.SetPower, pb.SetPowerRequest(id="nobody", action=pb.POWER_ON), NF, "nobody"),
            (self.api.AttachTransport, pb.AttachTransportRequest(id="nobody", transport=pb.TransportSpec(
                kind=pb.TRANSPORT_LOCAL)), NF, "nobody"),
            (self.api.InjectFault, pb.InjectFaultRequest(fault=spb.Fault(type="sim", modem="nobody")), NF, "nobody"),
            (self.api.ListFaults, pb.ListFaultsRequest(modem="nobody"), NF, "nobody"),
            (self.api.ClearFaults, pb.ClearFaultsRequest(modem="nobody"), NF, "nobody"),
            (self.api.ClearFaults, pb.ClearFaultsRequest(id=999999), NF, "999999"),
            (self.api.GetScenario, pb.ScenarioRef(id="nothing"), NF, "nothing"),
            (self.api.StopScenario, pb.ScenarioRef(id="nothing"), NF, "nothing"),
            # Invalid faults name the field.
            (self.api.InjectFault, pb.InjectFaultRequest(fault=spb.Fault(type="no_such", modem="ref")), IA, "fault.type"),
            (self.api.InjectFault, pb.InjectFaultRequest(fault=spb.Fault(
                type="usb_reset_loop", modem="ref", params={"period": "-4h"})), IA, "fault.params"),
            (self.api.InjectFault, pb.InjectFaultRequest(fault=spb.Fault(
                type="usb_reset_loop", modem="ref", params={"perid": "4h"})), IA, "fault.params"),
            (self.api.InjectFault, pb.InjectFaultRequest(fault=spb.Fault(type="sim", modem="ref", start="soon")), IA,
             "fault.start"),
            (self.api.InjectFault, pb.InjectFaultRequest(fault=spb.Fault(type="sim", modem="ref", period="0s")), IA,
             "fault.period"),
            (self.api.InjectFault, pb.InjectFaultRequest(fault=spb.Fault(type="sim", modem="ref", probability=2)), IA,
             "fault.probability"),
            (self.api.InjectFault, pb.InjectFaultRequest(fault=spb.Fault(type="sim")), IA, "fault.modem"),
            (self.api.ClearFaults, pb.ClearFaultsRequest(), IA, "modem"),
            # Invalid modems and transports.
            (self.api.CreateModem, pb.CreateModemRequest(spec=spec(profile="")), IA, "spec.profile"),
            (self.api.CreateModem, pb.CreateModemRequest(spec=spec(profile="no-such-module")), IA, "spec.profile"),
            (self.api.CreateModem, pb.CreateModemRequest(spec=spec(id="../x")), IA, "spec.id"),
            (self.api.CreateModem, pb.CreateModemRequest(spec=spec(id="x1", firmware="NOPE")), IA, "spec.firmware"),
            (self.api.CreateModem, pb.CreateModemRequest(spec=spec(id="x2", sim="SIM_MAYBE")), IA, "spec.sim"),
            (self.api.CreateModem, pb.CreateModemRequest(spec=spec(id="x3"), transport=pb.TransportSpec(
                kind=pb.TRANSPORT_USBREDIR)), IA, "transport.listen"),
            (self.api.CreateModem, pb.CreateModemRequest(spec=spec(id="x4"), transport=pb.TransportSpec(
                kind=pb.TRANSPORT_USBREDIR, listen="tcp:nowhere:99999")), IA, "transport"),
            (self.api.CreateModem, pb.CreateModemRequest(spec=spec(id="ref")), AE, "ref"),
            (self.api.AttachTransport, pb.AttachTransportRequest(id="ref"), IA, "transport.kind"),
            (self.api.SetPower, pb.SetPowerRequest(id="ref"), IA, "action"),
            (self.api.SetPower, pb.SetPowerRequest(id="ref", action=pb.POWER_ON), FP, "already powered"),
            (self.api.SetPower, pb.SetPowerRequest(id="ref", action=pb.POWER_CUT, off_time="later"), IA, "off_time"),
            # Invalid scenarios name the field; a scenario whose modem id is taken is refused whole.
            (self.api.StartScenario, pb.StartScenarioRequest(scenario=spb.Scenario(name="bad", duration="1s")), IA,
             "modems"),
            (self.api.StartScenario, pb.StartScenarioRequest(scenario=spb.Scenario(
                name="bad", duration="1s", modems=[spec(id="b1")], faults=[spb.Fault(type="sim", params={"state": "gone"})])),
             IA, "faults[0].params"),
            (self.api.StartScenario, pb.StartScenarioRequest(scenario=spb.Scenario(
                name="bad", duration="1s", modems=[spec(id="b2"), spec(id="ref")])), AE, "ref"),
            (self.api.StartScenario, pb.StartScenarioRequest(scenario=spb.Scenario(
                name="bad", duration="1s", modems=[spec(id="b3"), spec(id="b/4")])), IA, "modems[1].id"),
        ]
        for call, request, code, named in cases:
            with self.subTest(call=call.__name__, request=str(request)[:80]):
                got, details = code_of(call, request)
                self.assertEqual(got, code, details)
                self.assertIn(named, details)
        after = snapshot()
        self.assertEqual(before, after)
        self.assertEqual(sorted(os.listdir(self.server.state)), sorted(state_dirs))
        # No event of the modem came from the refused calls.
        self.assertEqual([e.kind for e in w.events[before_events:] if e.kind in ("power", "fault", "api", "usb.unplug")], [])
        self.api.DeleteModem(pb.ModemRef(id="ref"))
        w.cancel()

    def test_watch_filters_by_modem_and_kind_and_resumes(self):
        _, wa = self.create("wa")
        _, wb = self.create("wb")
        fam = Watcher(self.api, modems=["wa", "wb"], kinds=["usb.*"])
        wa.wait_kind("usb.plug", "wa")
        wb.wait_kind("usb.plug", "wb")
        self.assertTrue(all(e.modem == "wa" for e in wa.events))
        fam.wait(lambda: {e.modem for e in fam.events if e.kind == "usb.plug"} == {"wa", "wb"}, what="both plugs")
        self.assertTrue(all(e.kind.startswith("usb.") for e in fam.events))
        seqs = [e.seq for e in wa.events]
        self.assertEqual(seqs, sorted(seqs))
        # Resume from the middle: exactly the later events of the same filter, in order.
        mid = wa.events[len(wa.events) // 2].seq
        last = wa.events[-1].seq
        resumed = Watcher(self.api, modems=["wa"], resume_after=mid)
        resumed.wait(lambda: resumed.events and resumed.events[-1].seq >= last, what="the resumed events")
        self.assertEqual([e.seq for e in resumed.events if e.seq <= last], [s for s in seqs if s > mid])
        self.assertEqual(resumed.missed, 0)
        # Replay from the start of what is held.
        replay = Watcher(self.api, modems=["wa"], replay=True)
        replay.wait(lambda: replay.events and replay.events[-1].seq >= last, what="the replay")
        self.assertEqual([e.seq for e in replay.events if e.seq <= last], seqs)
        for x in (wa, wb, fam, resumed, replay):
            x.cancel()
        self.api.DeleteModem(pb.ModemRef(id="wa"))
        self.api.DeleteModem(pb.ModemRef(id="wb"))

    def test_reflection_lists_the_service(self):
        # grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with list_services (field 7,
        # empty string), then file_containing_symbol (field 4): generic tools explore the API so.
        call = self.server.channels[0].stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        symbol = b"modemu.v1.Modemu"
        replies = list(call(iter([b"\x3a\x00", b"\x22" + bytes([len(symbol)]) + symbol]), timeout=10))
        self.assertEqual(len(replies), 2)
        self.assertIn(b"modemu.v1.Modemu", replies[0])
        self.assertIn(b"modemu/v1/modemu.proto", replies[1])
        self.assertIn(b"WatchEvents", replies[1])

    def test_ctl_covers_the_api_with_readable_and_json_output(self):
        s = self.server
        r = s.ctl("modems", "create", "--profile", "quectel-ec25", "--id", "ctl-ec25")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ctl-ec25: quectel-ec25", r.stdout)
        r = s.ctl("modems", "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        ids = [m["id"] for m in json.loads(r.stdout)["modems"]]
        self.assertIn("ctl-ec25", ids)
        r = s.ctl("watch", "--replay", "--modem", "ctl-ec25", "--kind", "usb.plug", "--count", "1", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout.splitlines()[0])["kind"], "usb.plug")
        for args in (["modems", "get", "ctl-ec25"], ["modems", "flash", "ctl-ec25"], ["modems", "reset", "ctl-ec25"],
                     ["faults", "types"], ["faults", "inject", "--modem", "ctl-ec25", "--type", "signal", "--param", "rsrp=-120"],
                     ["faults", "list"], ["faults", "clear", "--modem", "ctl-ec25"], ["scenario", "list"],
                     ["modems", "power", "ctl-ec25", "off"], ["modems", "power", "ctl-ec25", "on"],
                     ["modems", "attach", "ctl-ec25", "-t", "local", "--dev-dir", os.path.join(s.dir, "ctl-dev")],
                     ["modems", "detach", "ctl-ec25"]):
            with self.subTest(args=args):
                r = s.ctl(*args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(r.stdout.strip())
        r = s.ctl("faults", "inject", "--modem", "ctl-ec25", "--type", "signal", "--param", "rsrp=loud")
        self.assertEqual(r.returncode, 2)
        self.assertIn("INVALID_ARGUMENT: fault.params", r.stderr)
        r = s.ctl("modems", "get", "nobody")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NOT_FOUND", r.stderr)
        r = s.ctl("modems", "delete", "ctl-ec25")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Scenarios: a file started on the server, its status, stopped; then its modem removed.
        r = s.ctl("scenario", "start", os.path.join(ROOT, "scenarios", "f08-sim-not-ready.txtpb"), "--id", "ctl-f08")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ctl-f08 (f08-sim-not-ready): running", r.stdout)
        r = s.ctl("--json", "scenario", "status", "ctl-f08")
        status = json.loads(r.stdout)
        self.assertTrue(status["running"])
        r = s.ctl("scenario", "stop", "ctl-f08")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("finished", r.stdout)
        for m in status["modems"]:
            self.assertEqual(s.ctl("modems", "delete", m).returncode, 0)
        r = s.ctl("scenario", "start", os.path.join(ROOT, "scenarios", "no-such-file.txtpb"))
        self.assertEqual(r.returncode, 2)


class Token(unittest.TestCase):
    def test_wrong_or_missing_token_is_unauthenticated_and_changes_nothing(self):
        with Server(token="s3cret-token") as s:
            api_ = s.stub()
            ok = s.metadata()
            for md in ([], s.metadata("wrong-token"), s.metadata("s3cret-tokeN"), [("authorization", "s3cret-token")]):
                with self.subTest(metadata=md):
                    got = code_of(api_.CreateModem, pb.CreateModemRequest(spec=spec(id="tok")), metadata=md)
                    self.assertEqual(got[0], grpc.StatusCode.UNAUTHENTICATED)
                    self.assertEqual(code_of(api_.ListModems, pb.ListModemsRequest(), metadata=md)[0],
                                     grpc.StatusCode.UNAUTHENTICATED)
                    self.assertEqual(code_of(api_.ListFaultTypes, pb.ListFaultTypesRequest(), metadata=md)[0],
                                     grpc.StatusCode.UNAUTHENTICATED)
                    stream = api_.WatchEvents(pb.WatchEventsRequest(), metadata=md)
                    self.assertEqual(code_of(lambda: list(stream))[0], grpc.StatusCode.UNAUTHENTICATED)
            self.assertEqual(len(api_.ListModems(pb.ListModemsRequest(), metadata=ok).modems), 0)
            api_.CreateModem(pb.CreateModemRequest(spec=spec(id="tok")), metadata=ok)
            self.assertEqual([m.id for m in api_.ListModems(pb.ListModemsRequest(), metadata=ok).modems], ["tok"])
            r = s.ctl("modems", "list")  # with --token-file
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run([MODEMU, "ctl", "--grpc", s.address, "modems", "list"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("UNAUTHENTICATED", r.stderr)

    def test_tcp_needs_a_token_and_serves_tls(self):
        d = tempfile.mkdtemp(prefix="modemu-tls-")
        try:
            r = subprocess.run([MODEMU, "serve", "--grpc", "unix:" + os.path.join(d, "s.sock"), "--grpc", "127.0.0.1:0"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2)
            self.assertIn("--token-file", r.stderr)
            if shutil.which("openssl") is None:
                self.skipTest("openssl is needed to make a test certificate")
            cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True, timeout=60)
            with Server("--grpc", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, token="tcp-token") as s:
                start = [e for e in s.events if e["kind"] == "start"][0]
                port = re.search(r"127\.0\.0\.1:(\d+)", start["message"]).group(1)
                with open(cert, "rb") as f:
                    creds = grpc.ssl_channel_credentials(root_certificates=f.read())
                channel = grpc.secure_channel(f"127.0.0.1:{port}", creds)
                tcp = pb_grpc.ModemuStub(channel)
                self.assertEqual(code_of(tcp.ListModems, pb.ListModemsRequest(), timeout=10)[0],
                                 grpc.StatusCode.UNAUTHENTICATED)
                self.assertEqual(len(tcp.ListModems(pb.ListModemsRequest(), metadata=s.metadata(), timeout=10).modems), 0)
                channel.close()
                r = subprocess.run([MODEMU, "ctl", "--grpc", f"127.0.0.1:{port}", "--tls-ca", cert, "--token-file",
                                    s.token_file, "faults", "types"], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("usb_reset_loop", r.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Socket(unittest.TestCase):
    def test_default_socket_under_the_runtime_dir_is_private(self):
        d = tempfile.mkdtemp(prefix="modemu-rt-")
        env = dict(os.environ, XDG_RUNTIME_DIR=d)
        proc = subprocess.Popen([MODEMU, "serve", "--json", "--state-dir", os.path.join(d, "st")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            start = json.loads(proc.stdout.readline())
            path = os.path.join(d, "modemu", "grpc.sock")
            self.assertEqual(start["fields"]["grpc"], "unix:" + path)
            mode = os.stat(path).st_mode
            self.assertTrue(stat.S_ISSOCK(mode))
            self.assertEqual(stat.S_IMODE(mode), 0o600)
            r = subprocess.run([MODEMU, "ctl", "modems", "list"], env=env, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            # A second server on the same socket is refused while the first lives.
            r = subprocess.run([MODEMU, "serve", "--state-dir", os.path.join(d, "st2")], env=env, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("another server is listening", r.stderr)
        finally:
            proc.terminate()
            proc.wait(20)
            proc.stdout.close()
            proc.stderr.close()
            shutil.rmtree(d, ignore_errors=True)


    def test_sigint_ends_streams_and_powers_the_modems_off(self):
        with Server() as s:
            api_ = s.stub()
            w = Watcher(api_)
            api_.CreateModem(pb.CreateModemRequest(spec=spec(id="bye")))
            w.wait_kind("usb.plug", "bye")
            self.assertEqual(s.stop(), 0)
            s.wait_event(lambda e: e["kind"] == "stop", what="the stop event")
            self.assertTrue(any(e["modem"] == "bye" and e["kind"] == "power" and "powered-off" in e["message"]
                                for e in s.events))
            w.wait(lambda: w.error is not None, what="the stream's end")
            self.assertEqual(w.error.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertFalse(os.path.exists(s.socket))


    def test_ctl_watch_resumes_and_follows_a_restarted_server(self):
        d = tempfile.mkdtemp(prefix="modemu-restart-")
        sock = os.path.join(d, "s.sock")
        servers = []

        def serve():
            p = subprocess.Popen([MODEMU, "serve", "--json", "--grpc", "unix:" + sock, "--state-dir",
                                  os.path.join(d, "st")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            servers.append(p)
            self.assertEqual(json.loads(p.stdout.readline())["kind"], "start")  # listening from here on
            return p

        def ctl(*args):
            return subprocess.run([MODEMU, "ctl", "--grpc", "unix:" + sock, *args], capture_output=True, text=True,
                                  timeout=30)
        watch = None
        try:
            first = serve()
            self.assertEqual(ctl("--timeout", "10", "modems", "list").returncode, 0)
            watch = subprocess.Popen([MODEMU, "ctl", "--grpc", "unix:" + sock, "watch", "--kind", "api", "--json"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, notes = Lines(watch.stdout), Lines(watch.stderr)
            # Subscribed from this line on: the creation below cannot fall before the watch.
            self.assertIn("modemu ctl: watching", notes.next(what="the watch's subscription"))
            self.assertEqual(ctl("modems", "create", "-p", "quectel-ec25", "--id", "one", "--powered-off").returncode, 0)
            self.assertEqual(json.loads(out.next(what="the event of modem one"))["modem"], "one")
            first.send_signal(2)
            first.wait(20)
            serve()
            self.assertEqual(ctl("--timeout", "20", "modems", "create", "-p", "quectel-ec25", "--id", "two",
                                 "--powered-off").returncode, 0)
            # The new server's seqs start at 1 again: ctl notices and follows it from its start.
            self.assertEqual(json.loads(out.next(what="the event of modem two"))["modem"], "two")
            self.assertIn("the stream ended", notes.next(what="the note of the lost stream"))
            self.assertIn("the server restarted", notes.next(what="the note of the restart"))
        finally:
            if watch is not None:
                watch.terminate()
                watch.wait(20)
            for p in servers:
                if p.poll() is None:
                    p.terminate()
                p.wait(20)
                p.stdout.close()
                p.stderr.close()
            shutil.rmtree(d, ignore_errors=True)

    def test_a_resume_older_than_the_history_says_how_many_were_missed(self):
        with Server("--history", "100") as s:
            api_ = s.stub()
            w = Watcher(api_)
            for i in range(80):
                api_.CreateModem(pb.CreateModemRequest(spec=spec(id=f"h{i}", powered_off=True)))
            w.wait_kind("api", "h79")
            last = w.events[-1].seq
            self.assertGreater(last, 100)
            late = Watcher(api_, resume_after=1)
            late.wait(lambda: late.events and late.events[-1].seq >= last, what="the held events")
            oldest = late.events[0].seq
            self.assertEqual(late.missed, oldest - 2)  # seqs 2 .. oldest-1 are gone
            self.assertEqual([e.seq for e in late.events], list(range(oldest, late.events[-1].seq + 1)))
            self.assertLessEqual(len(late.events), 100 + 5)
            w.cancel()
            late.cancel()


class SameTimeline(unittest.TestCase):
    """A fault timeline scripted over gRPC and the same timeline in a scenario file give the same
    event sequence (kinds and messages, in order)."""

    FAULT = dict(type="usb_reset_loop", start="1s", duration="5.5s", params={"period": "1.5s", "downtime": "0.4s"})

    def test_grpc_and_scenario_file_give_the_same_events(self):
        d = tempfile.mkdtemp(prefix="modemu-same-")
        try:
            scenario = spb.Scenario(name="same", seed=7, duration="8s", modems=[spec(id="same")],
                                    faults=[spb.Fault(**self.FAULT)])
            from google.protobuf import text_format
            path = os.path.join(d, "same.txtpb")
            with open(path, "w") as f:
                f.write(text_format.MessageToString(scenario))
            log = os.path.join(d, "file.jsonl")
            r = subprocess.run([MODEMU, "run", "--scenario", path, "--virtual-time", "--transport", "none", "-q",
                                "--time-scale", "0.05", "--state-dir", os.path.join(d, "st"), "--event-log", log],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(log) as f:
                from_file = [json.loads(line) for line in f]
            from_file = [(e["kind"], e["message"]) for e in from_file if e["modem"] == "same"]
            # The scenario's fault ends at 6.5 s; what follows is the scenario's end.
            cut = max(i for i, e in enumerate(from_file) if e[0] == "fault.end")
            from_file = from_file[:cut + 1]

            with Server(time_scale="0.05") as s:
                api_ = s.stub()
                w = Watcher(api_, modems=["same"])
                api_.CreateModem(pb.CreateModemRequest(spec=spec(id="same")))
                api_.InjectFault(pb.InjectFaultRequest(fault=spb.Fault(modem="same", **self.FAULT), seed=7))
                w.wait_kind("fault.end", "same", timeout=30)
                over_grpc = [(e.kind, e.message) for e in w.events if e.kind != "api"]
                w.cancel()
            cut = max(i for i, e in enumerate(over_grpc) if e[0] == "fault.end")
            over_grpc = over_grpc[:cut + 1]
            self.assertGreaterEqual(sum(1 for k, _ in from_file if k == "usb.unplug"), 3)
            self.assertEqual(over_grpc, from_file)
            if os.environ.get("MODEMU_SHOW"):
                print("\n".join(f"{k}: {m}" for k, m in from_file))
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Fleet(unittest.TestCase):
    """Ten clients watch while 100 modems run a reset-loop fault: each gets every event in order;
    a client that disconnects and resumes gets the ones it missed."""

    def test_ten_watchers_hundred_modems_and_a_resume(self):
        with Server("--history", "1000000", time_scale="0.02") as s:
            api_ = s.stub()
            watchers = [Watcher(api_) for _ in range(10)]
            ids = [f"m{i:03}" for i in range(100)]
            for i in ids:
                api_.CreateModem(pb.CreateModemRequest(spec=spec(id=i)))
            for i in ids:
                api_.InjectFault(pb.InjectFaultRequest(fault=spb.Fault(
                    type="usb_reset_loop", modem=i, params={"period": "0.6s", "downtime": "0.15s"})))
            ref = watchers[0]

            def unplugs(w):
                return {e.modem for e in w.events if e.kind == "usb.unplug"}
            # Every modem has reset once; then one client leaves and comes back after more resets.
            ref.wait(lambda: unplugs(ref) == set(ids), timeout=60, what="a reset of every modem")
            leaver = watchers[9]
            leaver.cancel()
            left_at = leaver.events[-1].seq
            ref.wait(lambda: ref.events[-1].seq > left_at + 2000, timeout=60, what="2000 more events")
            resumed = Watcher(api_, resume_after=left_at)
            for i in ids:
                api_.ClearFaults(pb.ClearFaultsRequest(modem=i))
            api_.CreateModem(pb.CreateModemRequest(spec=spec(id="marker", powered_off=True)))
            for w in watchers[:9] + [resumed]:
                w.wait(lambda w=w: any(e.modem == "marker" for e in w.events), timeout=60, what="the marker")
            first = watchers[0].events[0].seq
            end = [e.seq for e in ref.events if e.modem == "marker"][0]
            for n, w in enumerate(watchers[:9]):
                seqs = [e.seq for e in w.events if e.seq <= end]
                # In order and nothing missing: consecutive seqs from the first to the marker.
                self.assertEqual(seqs, list(range(seqs[0], end + 1)), f"watcher {n}")
                self.assertLessEqual(seqs[0], first + 10)
            got = [e.seq for e in leaver.events] + [e.seq for e in resumed.events if e.seq <= end]
            self.assertEqual(resumed.missed, 0)
            self.assertEqual(got, list(range(got[0], end + 1)))
            # The events are the same for every client: compare one client's with another's.
            self.assertEqual([(e.seq, e.kind, e.message) for e in watchers[3].events if e.seq <= end],
                             [(e.seq, e.kind, e.message) for e in watchers[0].events if e.seq <= end][
                                 -len([e for e in watchers[3].events if e.seq <= end]):])
            for w in watchers[:9] + [resumed]:
                w.cancel()


class RealKernel(unittest.TestCase):
    """A modem created over the API on a usbredir transport, in a QEMU guest with the real
    drivers (tests/testbed): the kernel enumerates it, and a ResetModem call shows in the guest's
    dmesg as a disconnect and a re-enumeration that qmicli then talks to."""

    SCRIPT = r"""
wait_for /sys/class/net/wwan0 30 || exit 3
d=/sys/bus/usb/devices/1-1
echo "sys:ids $(cat $d/idVendor):$(cat $d/idProduct)"
at /dev/ttyUSB2 AT+GMR
n=300; while ! dmesg | grep -q 'USB disconnect' && [ $n -gt 0 ]; do usleep 100000; n=$((n-1)); done
dmesg | grep -q 'USB disconnect' || exit 4
wait_for /dev/cdc-wdm0 30 || exit 5
qmicli -d /dev/cdc-wdm0 --dms-get-revision
"""

    def test_guest_kernel_sees_the_api_modem_and_its_reset(self):
        sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))
        import testbed
        with Server(time_scale="0.1") as s:
            api_ = s.stub()
            sock = os.path.join(s.dir, "eg12.sock")
            w = Watcher(api_, modems=["tb"])
            api_.CreateModem(pb.CreateModemRequest(spec=spec(id="tb"), transport=pb.TransportSpec(
                kind=pb.TRANSPORT_USBREDIR, listen="unix:" + sock)))

            # The guest's AT line says its drivers have the module: reset it then.
            def reset_when_the_guest_talks():
                w.wait_kind("at", "tb", timeout=150)
                api_.ResetModem(pb.ModemRef(id="tb"))
            t = threading.Thread(target=reset_when_the_guest_talks, daemon=True)
            t.start()
            rc, out, _ = testbed.run(self.SCRIPT, [sock], timeout=180)
            t.join(10)
            self.assertEqual(rc, 0, out)
            self.assertIn("sys:ids 2c7c:0512", out)
            firmware = api_.GetModem(pb.ModemRef(id="tb")).firmware
            self.assertIn(f"Revision: '{firmware}'", out)
            self.assertGreaterEqual(sum(1 for e in w.events if e.kind == "usb.unplug"), 1)
            w.cancel()


class Examples(unittest.TestCase):
    def test_python_example_against_a_live_server(self):
        with Server() as s:
            r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "grpc_reset_loop.py"), "--grpc",
                                s.address, "--resets", "2", "--period", "1s", "--downtime", "0.3s"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("re-enumeration 2", r.stdout)
            self.assertIn("cleared 1 fault(s); 0 left", r.stdout)
            # The server saw it: two resets of the example's modem, and the modem is gone.
            s.wait_event(lambda e: e["modem"] == "py-eg12" and e["kind"] == "api" and e["message"] == "deleted")
            self.assertGreaterEqual(sum(1 for e in s.events if e["modem"] == "py-eg12" and e["kind"] == "usb.unplug"), 2)

    def test_shell_example_with_modemu_ctl(self):
        with Server() as s:
            r = subprocess.run([os.path.join(ROOT, "examples", "ctl-reset-loop.sh")], capture_output=True, text=True,
                               timeout=120, env=dict(os.environ, MODEMU=MODEMU, GRPC=s.address))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("came back twice", r.stdout)
            self.assertEqual(sum(1 for line in r.stdout.splitlines() if "usb.unplug" in line), 2)


if __name__ == "__main__":
    unittest.main()

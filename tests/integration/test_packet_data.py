"""Packet data in the testbed (issue 10): the guest kernel's qmi_wwan wwan0 carries real traffic
over the session, as a router sets it up: qmicli, raw IP or 802.3 with udhcpc, IPv4 and IPv6,
pings and DNS lookups, and the data faults that act on them."""
import ipaddress
import os
import re
import subprocess
import tempfile
import unittest

from harness import ROOT, profile_value
from test_testbed import Guest, testbed

DATA_GUEST_LIB = r"""
# raw_ip_mode: WDA raw IP for the modem, then raw_ip for the driver (only while wwan0 is down)
raw_ip_mode() {
  ip link set wwan0 down
  qmicli -d /dev/cdc-wdm0 --wda-set-data-format=raw-ip > /dev/null || return 1
  echo Y > /sys/class/net/wwan0/qmi/raw_ip
}
# start_session: the module registers a moment after it enumerates; retry until it is up
start_session() {
  n=0
  until qmicli -d /dev/cdc-wdm0 --wds-start-network=apn=internet,ip-type=4 --client-no-release-cid > /tmp/start 2>&1; do
    n=$((n+1)); [ $n -gt 40 ] && { cat /tmp/start; return 1; }; usleep 250000
  done
}
# configure_from_settings: wwan0 from --wds-get-current-settings, both families
configure_from_settings() {
  qmicli -d /dev/cdc-wdm0 --wds-get-current-settings > /tmp/settings || return 1
  cat /tmp/settings
  addr=$(setting 'IPv4 address'); gw=$(setting 'IPv4 gateway address'); dns=$(setting 'IPv4 primary DNS')
  eval $(ipcalc -p $addr $(setting 'IPv4 subnet mask'))
  ip addr add $addr/$PREFIX dev wwan0
  ip route add default via $gw dev wwan0
  addr6=$(setting 'IPv6 address'); gw6=$(setting 'IPv6 gateway address' | cut -d/ -f1)
  [ -n "$addr6" ] && ip -6 addr add $addr6 dev wwan0 && ip -6 route add default via $gw6 dev wwan0
  return 0
}
setting() { sed -n "s/^ *$1: //p" /tmp/settings; }
# raw_session: as a router on raw IP does it: the data format, the session, wwan0 from its settings
raw_session() {
  wait_for /sys/class/net/wwan0 20 || return 3
  raw_ip_mode || return 4
  ip link set wwan0 up
  start_session || return 5
  configure_from_settings
}
# health_checks GATEWAY HOST NAME DNS: three pings each of the gateway and a host, a DNS lookup
health_checks() {
  ping -c 3 -i 0.2 -W 2 $1
  ping -c 3 -i 0.2 -W 2 $2
  nslookup $3 $4
}
"""

UDHCPC_SCRIPT = b"""#!/bin/sh
case "$1" in
  bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    ip route add default via "$router" dev "$interface"
    echo "lease: $ip/$mask router $router dns $dns"
    ;;
esac
"""


def net_load_tool(directory):
    """The guest's UDP load tool (tests/testbed/guest/net_load.c), built static for busybox."""
    out = os.path.join(directory, "net_load")
    subprocess.run(["gcc", "-static", "-O2", "-o", out, os.path.join(ROOT, "tests", "testbed", "guest", "net_load.c")],
                   check=True)
    with open(out, "rb") as f:
        return {"net_load": (f.read(), 0o755)}


class PacketDataInTheGuest(unittest.TestCase):
    """Issue 10's acceptance: the guest kernel's qmi_wwan carries real traffic over the session."""
    PROFILE = "quectel-ec25"

    @classmethod
    def setUpClass(cls):
        p = cls.PROFILE
        cls.address = profile_value(p, r'ipv4_address:\s*"([^"]+)"')
        a = ipaddress.ip_address(cls.address)
        network = int(a) & ~3
        cls.gateway = str(ipaddress.ip_address(network + (2 if int(a) == network + 1 else 1)))
        cls.dns = profile_value(p, r'ipv4_dns:\s*"([^"]+)"')
        cls.address6 = profile_value(p, r'ipv6_address:\s*"([^"]+)"')
        cls.gateway6 = str(ipaddress.ip_network(cls.address6 + "/64", strict=False).network_address + 1)
        cls.host_name = profile_value(p, r'hosts \{ name:\s*"([^"]+)"')
        cls.host_address = profile_value(p, r'hosts \{ name:\s*"[^"]+" addresses:\s*"([^"]+)"')

    def assert_health_checks(self, out, *ping_targets):
        for target in ping_targets:
            self.assertRegex(out, rf"--- {re.escape(target)} ping statistics ---\n3 packets transmitted, 3 packets received")
        self.assertRegex(out, rf"Name:\s+{re.escape(self.host_name)}\nAddress: {re.escape(self.host_address)}")

    def counters(self, modem, predicate, what):
        return modem.wait_event(lambda e: e["kind"] == "data.counters" and predicate(
            {k: int(v) for k, v in e["fields"].items() if k != "reason"}), timeout=10, what=what)

    def test_raw_ip_configured_from_current_settings(self):
        script = DATA_GUEST_LIB + f"""
raw_session || exit $?
health_checks $gw {self.host_address} {self.host_name} $dns
ping6 -c 3 -i 0.2 -W 2 $gw6
"""
        with Guest(self.PROFILE) as g:
            rc, out = g.run(script)
            self.assertEqual(rc, 0, out)
            self.counters(g.modems[0], lambda c: c["uplink_packets"] >= 9 and c["downlink_packets"] >= 9,
                          "the session's counters")
        self.assertIn(f"IPv4 address: {self.address}", out)
        self.assertIn(f"IPv4 gateway address: {self.gateway}", out)
        self.assertIn(f"IPv6 address: {self.address6}/64", out)
        self.assert_health_checks(out, self.gateway, self.host_address, self.gateway6)

    def test_ethernet_with_udhcpc_and_ipv6_autoconfiguration(self):
        script = DATA_GUEST_LIB + f"""
wait_for /sys/class/net/wwan0 20 || exit 3
ip link set wwan0 up
start_session || exit 5
udhcpc -i wwan0 -s /udhcpc.sh -q -n -t 10 -T 2 || exit 6
health_checks {self.gateway} {self.host_address} {self.host_name} {self.dns}
n=0; until ip -6 addr show dev wwan0 | grep global | grep -qv tentative; do n=$((n+1)); [ $n -gt 50 ] && exit 7; usleep 100000; done
ip -6 addr show dev wwan0 | grep global
ping6 -c 3 -i 0.2 -W 2 {self.gateway6}
"""
        with Guest(self.PROFILE) as g:
            rc, out, _ = testbed.run(script, [g.modems[0].sock], timeout=150,
                                     files={"udhcpc.sh": (UDHCPC_SCRIPT, 0o755)})
            self.assertEqual(rc, 0, out)
            g.modems[0].wait_kind("data.dhcp", self.address, timeout=5)
        self.assertIn(f"lease: {self.address}/30 router {self.gateway} dns {self.dns}", out)
        prefix = str(ipaddress.ip_network(self.address6 + "/64", strict=False).network_address).rstrip(":")
        self.assertRegex(out, rf"inet6 {re.escape(prefix)}:[0-9a-f:]+/64 scope global")
        self.assert_health_checks(out, self.gateway, self.host_address, self.gateway6)

    def test_no_downlink_while_connected(self):
        """F6 (seed 001) as its scenario with --check, a real kernel as the host: registered on a
        roaming network, connected, addressed; the uplink is counted, nothing returns."""
        scenario = """
name: "f06-testbed" seed: 6 duration: "45s"
modems { id: "ec25" profile: "quectel-ec25" }
faults { type: "no_downlink" }
expectations { name: "registered on a roaming network" within_event { kind: "radio.registration" fields { key: "to" value: "roaming" } } time: "20s" }
expectations { name: "the session comes up while roaming" eventually { kind: "data.session" fields { key: "state" value: "up" } } }
expectations {
  name: "the session stays connected"
  after { kind: "data.session" fields { key: "state" value: "up" } }
  never { kind: "data.session" fields { key: "state" value: "down" } } time: "20s"
}
expectations { name: "the guest's pings go out" eventually { kind: "data.counters" at_least { key: "uplink_packets" value: 5 } } }
expectations { name: "nothing comes back" never { kind: "data.counters" at_least { key: "downlink_packets" value: 1 } } }
"""
        script = DATA_GUEST_LIB + f"""
raw_session > /dev/null || exit $?
ping -c 3 -i 0.6 -W 1 $gw; echo "ping-rc=$?"
ping -c 2 -i 0.2 -W 1 {self.host_address}; echo "ping-rc=$?"
qmicli -d /dev/cdc-wdm0 --wds-get-packet-service-status
qmicli -d /dev/cdc-wdm0 --nas-get-serving-system | grep -E 'Registration state|Roaming status'
qmicli -d /dev/cdc-wdm0 --wds-get-packet-statistics
"""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f06.txtpb")
            with open(path, "w") as f:
                f.write(scenario)
            with Guest(self.PROFILE, extra=["--scenario", path, "--check"]) as g:
                rc, out = g.run(script)
                self.assertEqual(rc, 0, out)
                m = g.modems[0]
                first = self.counters(m, lambda c: c["uplink_packets"] >= 1, "uplink counted")
                last = self.counters(m, lambda c: c["uplink_packets"] >= 5, "more uplink counted")
                # The scenario ends by itself; --check gives its verdict.
                check_rc = m.proc.wait(timeout=120)
                verdicts = m.proc.stderr.read().decode()
                reports = [e for e in m.events if e["kind"] == "data.counters"]
        self.assertEqual(check_rc, 0, verdicts)
        self.assertIn("every expectation held", verdicts)
        self.assertEqual(out.count("ping-rc=1"), 2, out)
        self.assertNotIn(" bytes from ", out)
        self.assertIn("Connection status: 'connected'", out)
        self.assertIn("Registration state: 'registered'", out)
        self.assertIn("Roaming status: 'on'", out)
        self.assertIn("RX packets OK: 0", out)
        self.assertRegex(out, r"TX packets OK: ([5-9]|\d\d)")
        self.assertLess(int(first["fields"]["uplink_packets"]), int(last["fields"]["uplink_packets"]))
        self.assertTrue(all(e["fields"]["downlink_packets"] == "0" for e in reports))

    def test_throughput_cap_within_ten_percent(self):
        cap = 1_000_000
        script = DATA_GUEST_LIB + f"""
raw_session > /dev/null || exit $?
/net_load $gw 7 1000 3 rate {2 * cap}
"""
        with tempfile.TemporaryDirectory() as d, Guest(self.PROFILE, extra=["--data-fault", f"cap={cap // 1000}kbit"]) as g:
            rc, out, _ = testbed.run(script, [g.modems[0].sock], timeout=150, files=net_load_tool(d))
        self.assertEqual(rc, 0, out)
        m = re.search(r"net_load: sent=(\d+) received=(\d+) rate_bps=(\d+)", out)
        self.assertIsNotNone(m, out)
        sent, received, rate = (int(x) for x in m.groups())
        self.assertGreater(received, 200, out)
        self.assertLess(received, sent)  # sent at twice the cap: the modem's queue dropped the excess
        self.assertAlmostEqual(rate / cap, 1.0, delta=0.1, msg=out)


if __name__ == "__main__":
    unittest.main()

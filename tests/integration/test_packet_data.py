"""Packet data in the testbed (issue 10): the guest kernel's qmi_wwan wwan0 carries real traffic
over the session, as a router sets it up: qmicli, raw IP or 802.3 with udhcpc, IPv4 and IPv6,
pings and DNS lookups, and the data faults that act on them."""
import ipaddress
import os
import re
import subprocess
import tempfile
import unittest

from harness import ROOT, Modemu, profile_value
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
  qmi --wds-get-current-settings > /tmp/settings || return 1
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
# usable_mac: the guest kernel gives wwan0 a random MAC after qmi_wwan has checked it, so about one
# boot in eight it starts with 0x4_ or 0x6_, and qmi_wwan's 802.3 receive path takes every frame
# addressed to it for a raw IP packet (docs/testing.md, "wwan0's MAC"). Such a MAC gets 02 as its
# first byte, and says so.
usable_mac() {
  mac=$(cat /sys/class/net/wwan0/address)
  case $mac in
    4*|6*) ip link set wwan0 address "02:${mac#*:}" && echo "testbed: wwan0's MAC $mac looks like an IP header to qmi_wwan; now $(cat /sys/class/net/wwan0/address)" ;;
  esac
}
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
usable_mac
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


# qmap_session MUX PROFILE: a WDS client kept for the session (--client-no-release-cid), bound
# to mux id MUX, starts a network on 3GPP profile PROFILE; qmimux(MUX-1) gets the session's
# IPv4 address from that client's current settings. Prints "session MUX: ADDRESS via GATEWAY".
QMAP_GUEST_LIB = r"""
qmap_session() {
  mux=$1; profile=$2; link=qmimux$(($1 - 1))
  cid=$(qmicli -d /dev/cdc-wdm0 --wds-noop --client-no-release-cid | sed -n "s/.*CID: '\([0-9]*\)'.*/\1/p")
  [ -n "$cid" ] || return 11
  q="qmicli -d /dev/cdc-wdm0 --client-cid=$cid --client-no-release-cid"
  $q --wds-bind-mux-data-port=mux-id=$mux,ep-type=hsusb,ep-iface-number=4 > /dev/null || return 12
  n=0
  until $q --wds-start-network=3gpp-profile=$profile,ip-type=4 > /tmp/start.$mux 2>&1; do
    n=$((n+1)); [ $n -gt 40 ] && { cat /tmp/start.$mux; return 13; }; usleep 250000
  done
  $q --wds-get-packet-service-status | grep -q "Connection status: 'connected'" || return 14
  $q --wds-get-current-settings > /tmp/settings || return 15
  addr=$(setting 'IPv4 address'); gw=$(setting 'IPv4 gateway address')
  eval $(ipcalc -p $addr $(setting 'IPv4 subnet mask'))
  ip link set $link up
  ip addr add $addr/$PREFIX dev $link
  echo "session $mux: $addr via $gw on $link (client $cid)"
  eval gw$mux=$gw
}
"""


class QmapInTheGuest(unittest.TestCase):
    """QMAP (issue 10, second step): the guest's qmi_wwan multiplexes two sessions on one
    interface, qmimux0 and qmimux1, each bound to its mux id through its own WDS client."""
    PROFILE = "quectel-ec25"

    def test_two_sessions_on_their_mux_links(self):
        script = DATA_GUEST_LIB + QMAP_GUEST_LIB + r"""
wait_for /sys/class/net/wwan0 20 || exit 3
ip link set wwan0 down
qmicli -d /dev/cdc-wdm0 --wda-set-data-format=link-layer-protocol=raw-ip,ul-protocol=qmap,dl-protocol=qmap,\
dl-max-datagrams=32,dl-datagram-max-size=16384,ep-type=hsusb,ep-iface-number=4 > /tmp/format || exit 4
cat /tmp/format
size=$(sed -n "s/.*Downlink data aggregation max size: '\([0-9]*\)'.*/\1/p" /tmp/format)
# qmi_wwan receives into buffers of the interface's MTU: room for the modem's aggregates. The
# guest's driver allows an MTU above 1500 only after a switch back to 802.3 has restored the
# limits of usbnet, so: raw IP on and off, the MTU, raw IP on.
echo Y > /sys/class/net/wwan0/qmi/raw_ip && echo N > /sys/class/net/wwan0/qmi/raw_ip || exit 5
ip link set wwan0 mtu ${size:-16384} || exit 6
echo Y > /sys/class/net/wwan0/qmi/raw_ip || exit 5
echo 1 > /sys/class/net/wwan0/qmi/add_mux || exit 7
echo 2 > /sys/class/net/wwan0/qmi/add_mux || exit 7
ip link set wwan0 up
qmicli -d /dev/cdc-wdm0 --wds-create-profile=3gpp,apn=ims,pdp-type=IPV4V6 || exit 8
qmap_session 1 1 || exit $?
qmap_session 2 2 || exit $?
cat /sys/class/net/qmimux0/qmap/mux_id /sys/class/net/qmimux1/qmap/mux_id
ping -c 3 -i 0.2 -W 2 -I qmimux0 $gw1
# 57 bytes of data: 85-byte packets, padded to 88 in the modem's QMAP frames
ping -c 6 -i 0.2 -W 2 -s 57 -I qmimux1 $gw2
# a burst answered together: the replies come back aggregated, several per transfer
ping -c 20 -i 0.01 -W 2 -I qmimux1 $gw2 | tail -2
/net_load $gw2 7 200 2 window 16
echo "qmimux0 rx $(cat /sys/class/net/qmimux0/statistics/rx_packets)"
echo "qmimux1 rx $(cat /sys/class/net/qmimux1/statistics/rx_packets)"
"""
        with tempfile.TemporaryDirectory() as d, Guest(self.PROFILE) as g:
            rc, out, _ = testbed.run(script, [g.modems[0].sock], timeout=150, files=net_load_tool(d))
            self.assertEqual(rc, 0, out)
            m = g.modems[0]

            def last(cid):
                reports = [e for e in m.events if e["kind"] == "data.counters" and e["fields"].get("cid") == cid]
                return {k: int(v) for k, v in reports[-1]["fields"].items() if k != "reason"} if reports else None

            load = re.search(r"net_load: sent=(\d+) received=(\d+)", out)
            self.assertIsNotNone(load, out)
            sent, received = int(load.group(1)), int(load.group(2))
            # Session 2's traffic came last: once its report has all of it, session 1's is in too.
            m.wait_event(lambda e: e["kind"] == "data.counters" and e["fields"].get("cid") == "2" and
                         int(e["fields"]["downlink_packets"]) >= 26 + received, timeout=10,
                         what="session 2's counters")
            one, two = last("1"), last("2")
        self.assertIn("Downlink data aggregation protocol: 'qmap'", out)
        self.assertIn("Uplink data aggregation protocol: 'qmap'", out)
        self.assertIn("session 1: 10.64.17.42 via 10.64.17.41 on qmimux0", out)
        self.assertIn("session 2: 10.64.17.46 via 10.64.17.45 on qmimux1", out)
        self.assertIn("0x01\n0x02", out)
        self.assertRegex(out, r"--- 10\.64\.17\.41 ping statistics ---\n3 packets transmitted, 3 packets received")
        self.assertRegex(out, r"--- 10\.64\.17\.45 ping statistics ---\n6 packets transmitted, 6 packets received")
        self.assertIn("65 bytes from 10.64.17.45", out)
        self.assertRegex(out, r"20 packets transmitted, 20 packets received")
        self.assertGreater(received, 100, out)
        self.assertGreaterEqual(received, sent - 16, out)
        # The guest's links each received their own session's packets: the echo replies and
        # router advertisements of the session's IPv6 prefix (one as it came up, one for each
        # router solicitation of the link, as many as the guest's timing allows: up to three).
        rx0 = int(re.search(r"qmimux0 rx (\d+)", out).group(1))
        rx1 = int(re.search(r"qmimux1 rx (\d+)", out).group(1))
        self.assertIn(rx0 - 3, range(1, 5), out)
        self.assertIn(rx1 - 26 - received, range(1, 5), out)
        # Each session counts its own traffic: session 1 saw 3 pings, session 2 the rest.
        self.assertEqual(one["uplink_packets"], 3)
        self.assertEqual(one["downlink_packets"], 3)
        self.assertGreaterEqual(two["uplink_packets"], 26 + received)
        self.assertGreaterEqual(two["downlink_packets"], 26 + received)


def can_create_tun():
    return os.path.exists("/dev/net/tun") and os.geteuid() == 0


@unittest.skipUnless(can_create_tun(), "needs /dev/net/tun and root (CAP_NET_ADMIN)")
class TunInTheGuest(unittest.TestCase):
    """modemu run --data-tun: the session's traffic reaches a real network stack, the kernel of a
    private network namespace on this machine, instead of the built-in network."""
    PROFILE = "quectel-ec25"
    DEVICE = "mdtun0"

    def test_session_traffic_through_a_tun_device(self):
        d = tempfile.mkdtemp(prefix="modemu-tun-")
        sock = os.path.join(d, "m.sock")
        m = Modemu("--transport", "usbredir", "--listen", "unix:" + sock, "--data-tun", self.DEVICE,
                   profile=self.PROFILE, time_scale="0.1", workdir=os.path.join(d, "w"), netns=True)
        try:
            m.wait_kind("data.tun", self.DEVICE)
            m.wait_kind("start")
            # The namespace's side: the gateway's address on the device, and an address of its
            # own (on lo) that only a real stack answers: the built-in network does not know it.
            for cmd in (["ip", "link", "set", self.DEVICE, "up"],
                        ["ip", "addr", "add", "10.64.17.41/30", "dev", self.DEVICE],
                        ["ip", "link", "set", "lo", "up"],
                        ["ip", "addr", "add", "192.0.2.7/32", "dev", "lo"]):
                r = m.run_in_netns(cmd)
                self.assertEqual(r.returncode, 0, r.stderr)
            script = DATA_GUEST_LIB + """
raw_session > /dev/null || exit $?
ping -c 3 -i 0.2 -W 2 $gw
ping -c 3 -i 0.2 -W 2 192.0.2.7
ping -c 2 -i 0.2 -W 1 8.8.8.8; echo "builtin-host-rc=$?"
"""
            rc, out, _ = testbed.run(script, [sock], timeout=150)
            self.assertEqual(rc, 0, out)
            counters = m.wait_event(lambda e: e["kind"] == "data.counters" and
                                    int(e["fields"]["uplink_packets"]) >= 8, timeout=10, what="the counters")
        finally:
            m.close()
        self.assertRegex(out, r"--- 10\.64\.17\.41 ping statistics ---\n3 packets transmitted, 3 packets received")
        self.assertRegex(out, r"--- 192\.0\.2\.7 ping statistics ---\n3 packets transmitted, 3 packets received")
        # 8.8.8.8 answers in the built-in network only: the namespace has no route to it.
        self.assertIn("builtin-host-rc=1", out)
        # Every ping went up; what came down is the namespace's six answers.
        self.assertEqual(int(counters["fields"]["uplink_packets"]), 8)
        self.assertEqual(int(counters["fields"]["downlink_packets"]), 6)


if __name__ == "__main__":
    unittest.main()

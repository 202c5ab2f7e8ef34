// The data path in-process under virtual time (emulator/data): framing, the modem's link
// services, the network behind it, the counters, and every data fault.
#include <doctest/doctest.h>

#include <algorithm>

#include "data_host.hpp"
#include "emulator/data/data_faults.hpp"
#include "emulator/data/data_service.hpp"
#include "emulator/usb/usb_device.hpp"
#include "protocols/net/dhcp.hpp"
#include "protocols/net/dns.hpp"
#include "qmi_client.hpp"
#include "support.hpp"

using namespace modemu::emulator;
using namespace modemu::test;
namespace net = modemu::protocols::net;
using modemu::protocols::Bytes;
using modemu::protocols::ByteView;

namespace {

// quectel-ec25's session (emulator/profiles/quectel-ec25.txtpb): 10.64.17.42 in a /30 and
// 2001:db8:40:11::2a in a /64.
const net::Ipv4Address kHost4 = *net::parse_ipv4("10.64.17.42");
const net::Ipv4Address kGateway4 = *net::parse_ipv4("10.64.17.41");
const net::Ipv4Address kDns4 = *net::parse_ipv4("10.64.0.1");
const net::Ipv4Address kListed4 = *net::parse_ipv4("8.8.8.8");
const net::Ipv6Address kHost6 = *net::parse_ipv6("2001:db8:40:11::2a");
const net::Ipv6Address kGateway6 = *net::parse_ipv6("2001:db8:40:11::1");
const net::Ipv6Address kDns6 = *net::parse_ipv6("2001:db8:40::1");
const net::Ipv6Address kHostLinkLocal = *net::parse_ipv6("fe80::11:22ff:fe33:4455");

Bytes ping4(const net::Ipv4Address& to, std::uint16_t seq, std::size_t size = 56, const net::Ipv4Address& from = kHost4) {
  Bytes body(size, 0xa5);
  return net::build_ipv4(from, to, net::kProtocolIcmp, net::build_icmp(net::kIcmpEchoRequest, 0, 0x1234'0000u | seq, body));
}

Bytes ping6(const net::Ipv6Address& to, std::uint16_t seq, const net::Ipv6Address& from = kHost6) {
  Bytes body(56, 0x5a);
  return net::build_ipv6(from, to, net::kProtocolIcmpv6,
                         net::build_icmpv6(from, to, net::kIcmpv6EchoRequest, 0, 0x1234'0000u | seq, body));
}

Bytes udp4(const net::Ipv4Address& to, std::uint16_t port, const Bytes& payload) {
  return net::build_ipv4(kHost4, to, net::kProtocolUdp, net::build_udp(kHost4, to, 40000, port, payload));
}

// An echo reply from `from` to the host, with sequence `seq`.
bool is_echo_reply4(const Bytes& packet, const net::Ipv4Address& from, std::uint16_t seq) {
  auto ip = net::parse_ipv4(packet);
  if (!ip || ip->source != from || ip->destination != kHost4 || ip->protocol != net::kProtocolIcmp) return false;
  auto icmp = net::parse_icmp(ip->payload);
  return icmp && icmp->type == net::kIcmpEchoReply && (icmp->rest & 0xffff) == seq;
}

// Faults from --data-fault specs, on a modem's data path.
void set_faults(Modem& modem, std::initializer_list<std::string_view> specs) {
  DataFaults f;
  for (auto spec : specs) REQUIRE(add_data_fault(spec, f).empty());
  modem.data().set_faults(f, "test");
}

struct Session {
  VirtualModem v{"quectel-ec25"};
  DataHost host;
  Session() : host((v.boot(), *v.modem)) {}
  // The session comes up; the router advertisement it sends (IPv6) is set aside.
  void up() {
    REQUIRE(v.modem->set_context_active(1, true) == ActionResult::kOk);
    host.received.clear();
  }
  DataService& data() { return v.modem->data(); }
  void faults(std::initializer_list<std::string_view> specs) { set_faults(*v.modem, specs); }
  const Event* last(std::string_view kind) const {
    const Event* found = nullptr;
    for (const auto& e : v.log.history()) {
      if (e.kind == kind) found = &e;
    }
    return found;
  }
};


}  // namespace

TEST_CASE("raw IP: the gateway and the profile's hosts answer pings; other addresses and foreign sources get nothing") {
  Session s;
  s.host.raw_ip(true);
  s.up();
  s.host.send_ip(ping4(kGateway4, 1));
  s.host.send_ip(ping4(kListed4, 2));
  s.host.send_ip(ping4(*net::parse_ipv4("192.0.2.77"), 3));                    // nobody there
  s.host.send_ip(ping4(kGateway4, 4, 56, *net::parse_ipv4("192.168.1.10")));  // not the session's source
  auto replies = s.host.take_ip();
  REQUIRE(replies.size() == 2);
  CHECK(is_echo_reply4(replies[0], kGateway4, 1));
  CHECK(is_echo_reply4(replies[1], kListed4, 2));
  // A reply is the request's payload back, and nothing else.
  auto ip = net::parse_ipv4(replies[0]);
  CHECK(ip->payload.size() == 8 + 56);
  CHECK(ip->ttl == 64);
  const auto& c = s.data().counters();
  CHECK(c.uplink_packets == 4);
  CHECK(c.uplink_bytes == 4 * (20 + 8 + 56));
  CHECK(c.downlink_packets == 2);
  CHECK(c.downlink_bytes == 2 * (20 + 8 + 56));
}

TEST_CASE("the DNS servers answer A and AAAA for the profile's names and NXDOMAIN for others; UDP echo, discard, closed ports") {
  Session s;
  s.host.raw_ip(true);
  s.up();
  auto query = [&](const std::string& name, std::uint16_t type) {
    net::DnsMessage q;
    q.id = 0x4242;
    q.recursion_desired = true;
    q.questions.push_back({name, type, net::kDnsClassIn});
    s.host.send_ip(udp4(kDns4, net::kDnsPort, net::build_dns(q)));
    auto replies = s.host.take_ip();
    REQUIRE(replies.size() == 1);
    auto ip = net::parse_ipv4(replies[0]);
    auto udp = net::parse_udp(*ip);
    REQUIRE(udp);
    CHECK(udp->source_port == net::kDnsPort);
    CHECK(udp->destination_port == 40000);
    auto a = net::parse_dns(udp->payload);
    REQUIRE(a);
    CHECK(a->id == 0x4242);
    CHECK(a->response);
    CHECK(a->recursion_available);
    return *a;
  };
  auto a = query("dns.google", net::kDnsTypeA);
  CHECK(a.rcode == net::kDnsNoError);
  REQUIRE(a.answers.size() == 2);
  CHECK(a.answers[0].data == Bytes{8, 8, 8, 8});
  CHECK(a.answers[1].data == Bytes{8, 8, 4, 4});
  auto aaaa = query("DNS.Google.", net::kDnsTypeAaaa);  // names are case-insensitive
  REQUIRE(aaaa.answers.size() == 1);
  CHECK(aaaa.answers[0].type == net::kDnsTypeAaaa);
  CHECK(aaaa.answers[0].data.size() == 16);
  CHECK(query("no-such-host.example", net::kDnsTypeA).rcode == net::kDnsNameError);

  s.host.send_ip(udp4(kGateway4, kUdpEchoPort, Bytes{'h', 'i'}));
  s.host.send_ip(udp4(kGateway4, kUdpDiscardPort, Bytes(1000, 0)));
  s.host.send_ip(udp4(kGateway4, 5555, Bytes{1}));
  auto replies = s.host.take_ip();
  REQUIRE(replies.size() == 2);
  auto echo = net::parse_udp(*net::parse_ipv4(replies[0]));
  CHECK(Bytes(echo->payload.begin(), echo->payload.end()) == Bytes{'h', 'i'});
  auto unreachable = net::parse_icmp(net::parse_ipv4(replies[1])->payload);
  CHECK(unreachable->type == net::kIcmpDestinationUnreachable);
  CHECK(unreachable->code == net::kIcmpPortUnreachable);
  CHECK(s.data().network()->discarded_bytes() == 1000);
}

TEST_CASE("802.3: the modem answers ARP for the gateway and DHCP gives the session's address") {
  Session s;
  s.up();
  net::ArpPacket who_has{net::kArpRequest, s.host.mac, kHost4, {}, kGateway4};
  s.host.send_frame(net::build_ethernet(net::kBroadcastMac, s.host.mac, net::kEtherTypeArp, net::build_arp(who_has)));
  REQUIRE(s.host.received.size() == 1);
  auto frame = net::parse_ethernet(s.host.received[0]);
  CHECK(frame->destination == s.host.mac);
  CHECK(frame->source == DataPath::kModemMac);
  auto arp = net::parse_arp(frame->payload);
  CHECK(arp->operation == net::kArpReply);
  CHECK(arp->sender_ip == kGateway4);
  CHECK(arp->sender_mac == DataPath::kModemMac);
  // ... but not for the host's own address (duplicate address detection must pass).
  s.host.received.clear();
  net::ArpPacket probe{net::kArpRequest, s.host.mac, net::kIpv4Any, {}, kHost4};
  s.host.send_frame(net::build_ethernet(net::kBroadcastMac, s.host.mac, net::kEtherTypeArp, net::build_arp(probe)));
  CHECK(s.host.received.empty());

  auto dhcp = [&](std::uint8_t type, std::optional<net::Ipv4Address> requested) {
    net::DhcpMessage m;
    m.xid = 0xcafe0001;
    m.chaddr = s.host.mac;
    m.message_type = type;
    m.requested_address = requested;
    m.parameter_requests = {1, 3, 6, 26};
    Bytes ip = net::build_ipv4(net::kIpv4Any, net::kIpv4Broadcast, net::kProtocolUdp,
                               net::build_udp(net::kIpv4Any, net::kIpv4Broadcast, 68, 67, net::build_dhcp(m)));
    s.host.send_frame(net::build_ethernet(net::kBroadcastMac, s.host.mac, net::kEtherTypeIpv4, ip));
    auto replies = s.host.take_ip();
    REQUIRE(replies.size() == 1);
    auto rip = net::parse_ipv4(replies[0]);
    CHECK(rip->source == kGateway4);
    CHECK(rip->destination == net::kIpv4Broadcast);
    auto udp = net::parse_udp(*rip);
    CHECK(udp->source_port == 67);
    CHECK(udp->destination_port == 68);
    return *net::parse_dhcp(udp->payload);
  };
  auto offer = dhcp(net::kDhcpDiscover, std::nullopt);
  CHECK(offer.op == 2);
  CHECK(offer.xid == 0xcafe0001);
  CHECK(offer.message_type == net::kDhcpOffer);
  CHECK(offer.yiaddr == kHost4);
  CHECK(offer.server_identifier == kGateway4);
  CHECK(offer.subnet_mask == net::parse_ipv4("255.255.255.252"));
  CHECK(offer.routers == std::vector<net::Ipv4Address>{kGateway4});
  CHECK(offer.dns_servers == std::vector<net::Ipv4Address>{kDns4});
  CHECK(offer.lease_time == DataPath::kLeaseTime);
  CHECK(offer.mtu == 1500);
  auto ack = dhcp(net::kDhcpRequest, kHost4);
  CHECK(ack.message_type == net::kDhcpAck);
  CHECK(ack.yiaddr == kHost4);
  CHECK(s.last("data.dhcp") != nullptr);
  CHECK(dhcp(net::kDhcpRequest, net::parse_ipv4("10.0.0.9")).message_type == net::kDhcpNak);
  // Link services are the modem's own: not session traffic.
  CHECK(s.data().counters().uplink_packets == 0);
}

TEST_CASE("802.3 IPv6: router solicitations get the session's /64, neighbour solicitations the modem's address") {
  Session s;
  REQUIRE(s.v.modem->set_context_active(1, true) == ActionResult::kOk);
  // The unsolicited advertisement when the session came up, to all nodes.
  REQUIRE(s.host.received.size() == 1);
  CHECK(net::parse_ethernet(s.host.received[0])->destination == net::multicast_mac(net::kIpv6AllNodes));
  s.host.received.clear();

  Bytes rs = net::build_router_solicitation(kHostLinkLocal, *net::parse_ipv6("ff02::2"), {s.host.mac});
  s.host.send_ip(net::build_ipv6(kHostLinkLocal, *net::parse_ipv6("ff02::2"), net::kProtocolIcmpv6, rs, 255));
  auto replies = s.host.take_ip();
  REQUIRE(replies.size() == 1);
  auto ip = net::parse_ipv6(replies[0]);
  CHECK(ip->source == *net::parse_ipv6("fe80::1"));
  CHECK(ip->destination == kHostLinkLocal);
  CHECK(ip->hop_limit == 255);
  auto icmp = net::parse_icmpv6(*ip);
  auto ra = net::parse_router_advertisement(*icmp);
  REQUIRE(ra);
  CHECK(ra->router_lifetime > 0);
  CHECK(ra->source_link_layer == DataPath::kModemMac);
  CHECK(ra->mtu == 1500u);
  REQUIRE(ra->prefixes.size() == 1);
  CHECK(ra->prefixes[0].prefix == *net::parse_ipv6("2001:db8:40:11::"));
  CHECK(ra->prefixes[0].length == 64);
  CHECK(ra->prefixes[0].autonomous);
  CHECK(ra->dns_servers == std::vector<net::Ipv6Address>{kDns6});

  // Address resolution of the gateway: answered; duplicate address detection: not.
  auto solicit = [&](const net::Ipv6Address& source, const net::Ipv6Address& target) {
    Bytes ns = net::build_neighbor_solicitation(source, net::solicited_node(target), {target, s.host.mac});
    s.host.send_ip(net::build_ipv6(source, net::solicited_node(target), net::kProtocolIcmpv6, ns, 255));
    return s.host.take_ip();
  };
  auto na_packets = solicit(kHost6, kGateway6);
  REQUIRE(na_packets.size() == 1);
  auto na_ip = net::parse_ipv6(na_packets[0]);
  auto na = net::parse_neighbor_advertisement(*net::parse_icmpv6(*na_ip));
  CHECK(na->target == kGateway6);
  CHECK(na->solicited);
  CHECK(na->router);
  CHECK(na->target_link_layer == DataPath::kModemMac);
  CHECK(solicit(net::kIpv6Any, kHost6).empty());
  CHECK(solicit(kHostLinkLocal, kHost6).empty());

  // The gateway answers pings on its global and its link-local address.
  s.host.send_ip(ping6(kGateway6, 1));
  s.host.send_ip(ping6(*net::parse_ipv6("fe80::1"), 2, kHostLinkLocal));
  s.host.send_ip(ping6(*net::parse_ipv6("2001:4860:4860::8888"), 3));
  auto pongs = s.host.take_ip();
  REQUIRE(pongs.size() == 3);
  for (const auto& p : pongs) {
    auto pip = net::parse_ipv6(p);
    CHECK(net::parse_icmpv6(*pip)->type == net::kIcmpv6EchoReply);
  }
}

TEST_CASE("without a session nothing is answered or counted; a frame in the other framing is dropped and logged once") {
  Session s;
  s.host.send_ip(ping4(kGateway4, 1));
  net::ArpPacket who_has{net::kArpRequest, s.host.mac, kHost4, {}, kGateway4};
  s.host.send_frame(net::build_ethernet(net::kBroadcastMac, s.host.mac, net::kEtherTypeArp, net::build_arp(who_has)));
  CHECK(s.host.received.empty());
  CHECK(s.data().counters().uplink_packets == 0);

  s.up();
  s.host.received.clear();
  // The host sends raw IP while the modem expects 802.3 (raw_ip=Y without WDA raw-ip) ...
  s.host.send_frame(ping4(kGateway4, 2));
  s.host.send_frame(ping4(kGateway4, 3));
  CHECK(s.host.received.empty());
  CHECK(s.v.count("data.dropped") == 1);
  // ... and 802.3 frames after WDA raw-ip without raw_ip=Y.
  s.host.raw_ip(true);
  s.host.send_frame(net::build_ethernet(DataPath::kModemMac, s.host.mac, net::kEtherTypeIpv4, ping4(kGateway4, 4)));
  CHECK(s.host.received.empty());
  CHECK(s.v.count("data.dropped") == 2);
  CHECK(s.last("data.dropped")->message.find("raw_ip off") != std::string::npos);
  // Garbage never reaches further than the parser.
  for (std::size_t n = 0; n < 64; ++n) s.host.send_frame(Bytes(n, static_cast<std::uint8_t>(0x40 + n)));
  CHECK(s.data().counters().uplink_packets == 0);
}

TEST_CASE("WDS Get Current Settings reports the addresses the data path serves; Packet Statistics its counters") {
  VirtualModem v("quectel-ec25");
  v.boot();
  QmiClientSim q(*v.modem);
  std::uint8_t wds = q.allocate(0x01);
  auto started4 = q.send(0x01, wds, 0x0020, {{0x19, {4}}});
  REQUIRE(error_of(started4.at(0)) == 0);
  // The IPv6 call of the same dual-stack session: a second handle, the same context.
  std::uint8_t wds6 = q.allocate(0x01);
  auto started6 = q.send(0x01, wds6, 0x0020, {{0x19, {6}}});
  REQUIRE(error_of(started6.at(0)) == 0);
  CHECK(v.modem->state().contexts.at(1).active);
  auto settings = q.send(0x01, wds, 0x002d, {{0x10, {0x00, 0x03, 0x00, 0x00}}}).at(0);  // bits 8, 9: addresses
  const auto* v4 = settings.find(0x1e);
  REQUIRE(v4 != nullptr);
  CHECK(v4->value == std::vector<std::uint8_t>{0x2a, 0x11, 0x40, 0x0a});  // 10.64.17.42, u32 LE
  const auto* v6 = settings.find(0x25);
  REQUIRE(v6 != nullptr);
  CHECK(std::equal(kHost6.begin(), kHost6.end(), v6->value.begin()));
  CHECK(v6->value[16] == 64);
  const auto* gw6 = settings.find(0x26);
  REQUIRE(gw6 != nullptr);
  CHECK(std::equal(kGateway6.begin(), kGateway6.end(), gw6->value.begin()));
  // A client that chose IPv6 hears only of IPv6.
  q.send(0x01, wds6, 0x004d, {{0x01, {6}}});
  auto only6 = q.send(0x01, wds6, 0x002d, {{0x10, {0x00, 0x83, 0x00, 0x00}}}).at(0);
  CHECK(only6.find(0x1e) == nullptr);
  CHECK(only6.find(0x25) != nullptr);
  CHECK(only6.find(0x2b)->value == std::vector<std::uint8_t>{6});

  DataHost host(*v.modem);
  host.raw_ip(true);
  for (std::uint16_t i = 0; i < 3; ++i) host.send_ip(ping4(kGateway4, i));
  auto stats = q.send(0x01, wds, 0x0024, {{0x01, {0xc3, 0x00, 0x00, 0x00}}}).at(0);
  CHECK(stats.find(0x10)->value == std::vector<std::uint8_t>{3, 0, 0, 0});     // tx packets ok (uplink)
  CHECK(stats.find(0x11)->value == std::vector<std::uint8_t>{3, 0, 0, 0});     // rx packets ok (downlink)
  CHECK(stats.find(0x19)->value[0] == 3 * 84);                                 // tx bytes ok

  // Stopping the IPv4 call leaves the IPv6 one up; stopping that ends the session.
  auto b4 = started4.at(0).find(0x01)->value;  // the packet data handles, u32 LE
  auto b6 = started6.at(0).find(0x01)->value;
  CHECK(b4 != b6);
  CHECK(error_of(q.send(0x01, wds, 0x0021, {{0x01, b4}}).at(0)) == 0);
  CHECK(v.modem->state().contexts.at(1).active);
  CHECK(error_of(q.send(0x01, wds6, 0x0021, {{0x01, b6}}).at(0)) == 0);
  CHECK_FALSE(v.modem->state().contexts.at(1).active);
}

TEST_CASE("no-downlink (F6): connected and addressed, uplink counted, nothing comes back; ARP and DHCP still answer") {
  Session s;
  s.faults({"no-downlink"});
  s.up();
  s.host.received.clear();
  net::ArpPacket who_has{net::kArpRequest, s.host.mac, kHost4, {}, kGateway4};
  s.host.send_frame(net::build_ethernet(net::kBroadcastMac, s.host.mac, net::kEtherTypeArp, net::build_arp(who_has)));
  CHECK(s.host.received.size() == 1);  // the modem's own answer
  s.host.received.clear();
  for (std::uint16_t i = 0; i < 3; ++i) {
    s.host.send_ip(ping4(kGateway4, i));
    s.v.clock.advance(std::chrono::seconds(1));
  }
  CHECK(s.host.received.empty());
  CHECK(s.data().counters().uplink_packets == 3);
  CHECK(s.data().counters().downlink_packets == 0);
  CHECK(s.data().counters().downlink_dropped == 3);
  // The periodic counters in the event log grow on the uplink only.
  std::vector<std::uint64_t> uplink;
  for (const auto& e : s.v.log.history()) {
    if (e.kind == "data.counters") {
      uplink.push_back(std::stoull(std::string(e.field("uplink_packets"))));
      CHECK(e.field("downlink_packets") == "0");
    }
  }
  REQUIRE(uplink.size() >= 2);
  CHECK(std::is_sorted(uplink.begin(), uplink.end()));
  CHECK(uplink.front() < uplink.back());
  // The fault lifts: traffic flows again.
  s.data().set_faults({}, "test");
  s.host.send_ip(ping4(kGateway4, 9));
  CHECK(s.host.take_ip().size() == 1);
}

TEST_CASE("silence: nothing at all on the data interface, not even ARP; nothing counted") {
  Session s;
  s.up();
  s.host.received.clear();
  s.faults({"silence"});
  net::ArpPacket who_has{net::kArpRequest, s.host.mac, kHost4, {}, kGateway4};
  s.host.send_frame(net::build_ethernet(net::kBroadcastMac, s.host.mac, net::kEtherTypeArp, net::build_arp(who_has)));
  s.host.send_ip(ping4(kGateway4, 1));
  s.v.clock.advance(std::chrono::seconds(2));
  CHECK(s.host.received.empty());
  CHECK(s.data().counters() == DataCounters{});
  CHECK(s.v.modem->state().contexts.at(1).active);
}

TEST_CASE("latency: every reply comes exactly that much later, in order") {
  Session s;
  s.host.raw_ip(true);
  s.up();
  s.faults({"latency=200ms"});
  s.host.send_ip(ping4(kGateway4, 1));
  s.v.clock.advance(std::chrono::milliseconds(50));
  s.host.send_ip(ping4(kGateway4, 2));
  s.v.clock.advance(std::chrono::milliseconds(149));
  CHECK(s.host.received.empty());
  s.v.clock.advance(std::chrono::milliseconds(1));
  REQUIRE(s.host.received.size() == 1);
  CHECK(is_echo_reply4(s.host.received[0], kGateway4, 1));
  s.v.clock.advance(std::chrono::milliseconds(50));
  REQUIRE(s.host.received.size() == 2);
  CHECK(is_echo_reply4(s.host.received[1], kGateway4, 2));
}

TEST_CASE("loss: seeded, so the same seed loses the same packets; about the probability, each way") {
  auto run = [](std::uint64_t seed) {
    Session s;
    s.host.raw_ip(true);
    s.up();
    s.faults({"loss=0.3,seed=" + std::to_string(seed)});
    std::vector<std::uint16_t> answered;
    for (std::uint16_t i = 0; i < 2000; ++i) {
      s.host.send_ip(ping4(kGateway4, i));
      for (const auto& r : s.host.take_ip()) answered.push_back(static_cast<std::uint16_t>(net::parse_icmp(net::parse_ipv4(r)->payload)->rest));
    }
    return answered;
  };
  auto a = run(7);
  CHECK(a == run(7));
  CHECK(a != run(8));
  // Both ways: 0.7 * 0.7 of the round trips survive.
  CHECK(a.size() > 2000 * 0.49 - 90);
  CHECK(a.size() < 2000 * 0.49 + 90);
}

TEST_CASE("cap: a token bucket on the Clock delivers the configured rate each way") {
  Session s;
  s.host.raw_ip(true);
  s.up();
  s.faults({"cap=1000kbit"});
  // 40 datagrams of 1250 bytes (IP) to UDP echo: 400,000 bits each way at 1,000,000 bit/s.
  const std::size_t kPackets = 40, kSize = 1250;
  for (std::size_t i = 0; i < kPackets; ++i) s.host.send_ip(udp4(kGateway4, kUdpEchoPort, Bytes(kSize - 28, 0)));
  std::vector<double> arrivals;
  for (int ms = 0; ms < 1000 && arrivals.size() < kPackets; ++ms) {
    s.v.clock.advance(std::chrono::milliseconds(1));
    for (std::size_t i = 0; i < s.host.take_ip().size(); ++i) arrivals.push_back(ms + 1);
  }
  REQUIRE(arrivals.size() == kPackets);
  // Between the first and the last reply, (n - 1) packets arrive at the cap.
  double bits = static_cast<double>((kPackets - 1) * kSize * 8);
  double rate = bits / ((arrivals.back() - arrivals.front()) / 1000.0);
  CHECK(rate == doctest::Approx(1'000'000).epsilon(0.03));
  // The whole transfer takes the uplink's 0.4 s (the first packet passes at once).
  CHECK(arrivals.back() == doctest::Approx(400 - 10).epsilon(0.03));

  // A flood beyond the queue is dropped, as a modem's full buffer drops it.
  for (std::size_t i = 0; i < 200; ++i) s.host.send_ip(udp4(kGateway4, kUdpDiscardPort, Bytes(kSize - 28, 0)));
  CHECK(s.data().counters().uplink_dropped > 0);
}

TEST_CASE("session drop: the network ends the session with the call end reason in the WDS indication") {
  VirtualModem v("quectel-ec25");
  v.boot();
  set_faults(*v.modem, {"drop=30s,reason=regular-deactivation"});
  QmiClientSim q(*v.modem);
  std::uint8_t wds = q.allocate(0x01);
  REQUIRE(error_of(q.send(0x01, wds, 0x0020).at(0)) == 0);
  q.drain();
  v.clock.advance(std::chrono::seconds(29));
  CHECK(q.drain().empty());
  v.clock.advance(std::chrono::seconds(1));
  auto ind = q.drain();
  REQUIRE(ind.size() == 1);
  CHECK(ind[0].type == modemu::protocols::qmi::MessageType::kIndication);
  CHECK(ind[0].message_id == 0x0022);
  CHECK(ind[0].find(0x01)->value[0] == 1);                                   // disconnected
  CHECK(ind[0].find(0x10)->value == std::vector<std::uint8_t>{5, 0});        // release from the network
  CHECK(ind[0].find(0x11)->value == std::vector<std::uint8_t>{6, 0, 36, 0});  // 3GPP: regular deactivation
  CHECK_FALSE(v.modem->state().contexts.at(1).active);
  CHECK(v.count("data.drop") == 1);
  // The counters of the session that ended are in the log.
  bool ended = false;
  for (const auto& e : v.log.history()) ended |= e.kind == "data.counters" && e.field("reason") == "session ended";
  CHECK(ended);
  // Immediately, through the API, and a client ending its own call still says "client end".
  REQUIRE(error_of(q.send(0x01, wds, 0x0020).at(0)) == 0);
  q.drain();
  CHECK(v.modem->data().drop_session(*parse_call_end_reason("3gpp:8"), "test"));
  auto now = q.drain();
  REQUIRE(now.size() == 1);
  CHECK(now[0].find(0x11)->value == std::vector<std::uint8_t>{6, 0, 8, 0});
  CHECK_FALSE(v.modem->data().drop_session(*parse_call_end_reason("network-failure"), "test"));
  v.modem->data().set_faults({}, "test");
  REQUIRE(error_of(q.send(0x01, wds, 0x0020).at(0)) == 0);
  q.drain();
  auto stopped = q.send(0x01, wds, 0x0021, {{0x01, {0xff, 0xff, 0xff, 0xff}}});
  REQUIRE(stopped.size() == 2);
  CHECK(stopped[1].find(0x10)->value == std::vector<std::uint8_t>{2, 0});  // client end
  CHECK_FALSE(v.modem->state().contexts.at(1).active);
}

TEST_CASE("a module leaving the bus with a session up tells no client: the context ends in the log only") {
  VirtualModem v("quectel-ec25");
  v.boot();
  QmiClientSim q(*v.modem);
  std::uint8_t wds = q.allocate(0x01);
  REQUIRE(error_of(q.send(0x01, wds, 0x0020).at(0)) == 0);
  q.drain();
  REQUIRE(v.modem->state().contexts.at(1).active);
  v.modem->power_off("test");
  // The port was gone before the context ended: its sink got no WDS indication.
  CHECK(q.raw.out.empty());
  CHECK_FALSE(v.modem->state().contexts.at(1).active);
  bool ended = false;
  for (const auto& e : v.log.history()) {
    ended |= e.kind == "data.context" && e.field("cause") == "module left the bus";
  }
  CHECK(ended);
}

TEST_CASE("data fault specs: what --data-fault accepts, and what it says about the rest") {
  DataFaults f;
  CHECK(add_data_fault("no-downlink", f).empty());
  CHECK(add_data_fault("latency=200ms", f).empty());
  CHECK(add_data_fault("loss=0.3,seed=42", f).empty());
  CHECK(add_data_fault("cap=1.5Mbit", f).empty());
  CHECK(add_data_fault("silence", f).empty());
  CHECK(add_data_fault("drop=2m,reason=3gpp:26", f).empty());
  CHECK(f.no_downlink);
  CHECK(f.silence);
  CHECK(f.latency == std::chrono::milliseconds(200));
  CHECK(f.loss == 0.3);
  CHECK(f.seed == 42);
  CHECK(f.cap_bps == 1'500'000);
  CHECK(f.drop->after == std::chrono::minutes(2));
  CHECK(f.drop->reason.verbose_reason == 26);
  CHECK(describe(f) == "no-downlink, silence, latency=200ms, loss=0.3 (seed 42), cap=1500kbit, drop=120s (3gpp:26)");
  DataFaults g;
  CHECK(add_data_fault("loss=1.5", g) == "\"loss=1.5\": loss needs a probability above 0 and at most 1 (loss=0.3)");
  CHECK(add_data_fault("cap=1000", g) == "\"cap=1000\": cap needs a rate with its unit: bit, kbit, mbit or gbit (cap=1000kbit)");
  CHECK(add_data_fault("latency=fast", g) == "\"latency=fast\": latency needs a duration (latency=200ms)");
  CHECK(add_data_fault("no-downlink=1", g) == "\"no-downlink=1\": no-downlink takes no value");
  CHECK(add_data_fault("latency=1s,seed=3", g) == "\"latency=1s,seed=3\": latency takes no option \"seed\"");
  CHECK(add_data_fault("drop=1s,reason=bored", g).find("unknown call end reason \"bored\"") != std::string::npos);
  CHECK(add_data_fault("jitter=5ms", g).find("unknown data fault \"jitter\"") != std::string::npos);
  CHECK(add_data_fault("latency=1s", g).empty());
  CHECK(add_data_fault("latency=2s", g) == "\"latency=2s\": latency is given twice");
  CHECK(g.latency == std::chrono::seconds(1));
}

TEST_CASE("the USB device carries the data path: bulk OUT to the modem, one packet per bulk IN transfer") {
  VirtualModem v("quectel-ec25");
  v.boot();
  UsbDevice usb(*v.modem);
  // The QMI interface (4 on Quectel) and its bulk endpoints.
  std::uint8_t out = 0, in = 0;
  for (const auto& [address, e] : usb.endpoints()) {
    if (e.interface_number != 4 || (e.descriptor.bmAttributes & 3) != 2) continue;
    ((address & 0x80) ? in : out) = address;
  }
  REQUIRE(out != 0);
  REQUIRE(in != 0);
  auto* port = dynamic_cast<QmiPort*>(v.modem->port_by_node("cdc-wdm0"));
  port->function().settings["wda.link_layer"] = 2;
  REQUIRE(v.modem->set_context_active(1, true) == ActionResult::kOk);
  Bytes advertisement = usb.read(in, 4096);  // the IPv6 prefix, announced as the session came up
  CHECK(net::ip_version(advertisement) == 6);
  CHECK(usb.write(out, ping4(kGateway4, 1)));
  CHECK(usb.write(out, ping4(kGateway4, 2, 1400)));
  Bytes first = usb.read(in, 4096);
  Bytes second = usb.read(in, 4096);
  CHECK(is_echo_reply4(first, kGateway4, 1));
  CHECK(is_echo_reply4(second, kGateway4, 2));
  CHECK(second.size() == 20 + 8 + 1400);
  CHECK_FALSE(usb.has_data(in));
}

TEST_CASE("an external network (--data-tun) takes the sessions' packets from their own addresses and answers through the faults") {
  Session s;
  s.host.raw_ip(true);
  std::vector<std::pair<std::uint32_t, Bytes>> out;
  s.data().set_external_network([&](std::uint32_t cid, ByteView p) { out.emplace_back(cid, Bytes(p.begin(), p.end())); });
  s.up();
  s.host.send_ip(ping4(*net::parse_ipv4("192.0.2.7"), 1));
  s.host.send_ip(ping4(kGateway4, 2, 56, *net::parse_ipv4("192.168.1.10")));  // not the session's source
  REQUIRE(out.size() == 1);
  CHECK(out[0].first == 1);
  CHECK(out[0].second == ping4(*net::parse_ipv4("192.0.2.7"), 1));
  CHECK(s.host.take_ip().empty());  // the built-in network no longer answers
  // What the external network sends back reaches the host through the faults.
  s.faults({"latency=50ms"});
  Bytes reply = net::build_ipv4(*net::parse_ipv4("192.0.2.7"), kHost4, net::kProtocolIcmp,
                                net::build_icmp(net::kIcmpEchoReply, 0, 0x1234'0001u, Bytes(56, 0xa5)));
  CHECK(s.data().from_network(reply));
  CHECK_FALSE(s.data().from_network(ping4(*net::parse_ipv4("203.0.113.1"), 3)));  // to no session's address
  CHECK(s.host.take_ip().empty());
  s.v.clock.advance(std::chrono::milliseconds(50));
  auto got = s.host.take_ip();
  REQUIRE(got.size() == 1);
  CHECK(got[0] == reply);
  CHECK(s.data().counters().uplink_packets == 2);
  CHECK(s.data().counters().downlink_packets == 1);
  s.data().set_external_network(nullptr);
}

// Packet codecs (protocols/net) against byte vectors. The host's side of each exchange is what
// the testbed guest's Linux 6.1 (qmi_wwan, busybox 1.35 ping, udhcpc, nslookup) sent; the modem's
// side was checked by tshark 4.0 (every IP, ICMP, ICMPv6 and UDP checksum "Good") before it
// became the expected bytes here.
#include <doctest/doctest.h>

#include <string>

#include "protocols/net/dhcp.hpp"
#include "protocols/net/dns.hpp"
#include "protocols/net/packet.hpp"

namespace net = modemu::protocols::net;
using modemu::protocols::Bytes;
using modemu::protocols::ByteView;

namespace {

Bytes hex(std::string_view text) { return *modemu::protocols::parse_hex(text); }

const net::MacAddress kHostMac{0x1a, 0x11, 0xef, 0xbf, 0xed, 0x2c};
const net::MacAddress kModemMac{0x02, 0x50, 0xf3, 0x00, 0x00, 0x00};
const net::Ipv4Address kHost{10, 64, 17, 42}, kGateway{10, 64, 17, 41}, kDns{10, 64, 0, 1};

// A 56-byte ping body (busybox: an 8-byte timestamp, then zeros).
const char* kPingBody = "a0816e0000000000" "0000000000000000" "0000000000000000" "0000000000000000"
                        "0000000000000000" "0000000000000000" "0000000000000000";

}  // namespace

TEST_CASE("internet checksum: RFC 1071's example and a real IPv4 header") {
  CHECK(net::internet_checksum(Bytes{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}) == 0x220d);
  CHECK(net::internet_checksum(hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")) == 0);
  CHECK(net::internet_checksum(Bytes{0x01}) == 0xfeff);  // an odd byte is padded with zero
}

TEST_CASE("ARP: Linux asks for the gateway; the modem's reply, byte for byte") {
  Bytes request = hex("ffffffffffff 1a11efbfed2c 0806 0001 0800 06 04 0001 1a11efbfed2c 0a40112a 000000000000 0a401129");
  auto frame = net::parse_ethernet(request);
  REQUIRE(frame);
  CHECK(frame->destination == net::kBroadcastMac);
  CHECK(frame->source == kHostMac);
  CHECK(frame->ether_type == net::kEtherTypeArp);
  auto arp = net::parse_arp(frame->payload);
  REQUIRE(arp);
  CHECK(arp->operation == net::kArpRequest);
  CHECK(arp->sender_ip == kHost);
  CHECK(arp->target_ip == kGateway);
  net::ArpPacket reply{net::kArpReply, kModemMac, kGateway, kHostMac, kHost};
  CHECK(net::build_ethernet(kHostMac, kModemMac, net::kEtherTypeArp, net::build_arp(reply)) ==
        hex("1a11efbfed2c 0250f3000000 0806 0001 0800 06 04 0002 0250f3000000 0a401129 1a11efbfed2c 0a40112a"));
  std::string why;
  CHECK_FALSE(net::parse_arp(hex("0006 0800 0604 0001"), &why));
  CHECK(why == "truncated ARP packet");
}

TEST_CASE("IPv4 and ICMP echo: busybox's ping of 8.8.8.8 and the reply") {
  Bytes request = hex(std::string("4500005407294000400108070a40112a08080808 0800e8c100bc0000") + kPingBody);
  auto ip = net::parse_ipv4(request);
  REQUIRE(ip);
  CHECK(ip->identification == 0x0729);
  CHECK(ip->dont_fragment);
  CHECK_FALSE(ip->fragment);
  CHECK(ip->ttl == 64);
  CHECK(ip->protocol == net::kProtocolIcmp);
  CHECK(ip->source == kHost);
  CHECK(ip->destination == net::Ipv4Address{8, 8, 8, 8});
  auto icmp = net::parse_icmp(ip->payload);
  REQUIRE(icmp);
  CHECK(icmp->type == net::kIcmpEchoRequest);
  CHECK(icmp->rest == 0x00bc0000);  // identifier 0xbc, sequence 0
  CHECK(icmp->body.size() == 56);
  Bytes reply = net::build_ipv4(ip->destination, ip->source, net::kProtocolIcmp,
                                net::build_icmp(net::kIcmpEchoReply, 0, icmp->rest, icmp->body));
  CHECK(reply == hex(std::string("450000540000000040014f30080808080a40112a 0000f0c100bc0000") + kPingBody));

  std::string why;
  Bytes bad = request;
  bad[8] ^= 1;  // the TTL changes, the header checksum does not
  CHECK_FALSE(net::parse_ipv4(bad, &why));
  CHECK(why == "bad header checksum");
  CHECK_FALSE(net::parse_ipv4(ByteView(request).first(19), &why));
  CHECK(why == "shorter than an IPv4 header");
  CHECK_FALSE(net::parse_ipv4(ByteView(request).first(60), &why));
  CHECK(why == "total length does not fit");
  bad = request;
  bad[30] ^= 1;
  CHECK_FALSE(net::parse_icmp(net::parse_ipv4(bad)->payload, &why));
  CHECK(why == "bad ICMP checksum");
  // Ethernet padding after the total length is not payload.
  Bytes padded = request;
  padded.resize(request.size() + 6, 0);
  CHECK(net::parse_ipv4(padded)->payload.size() == 64);
}

TEST_CASE("UDP and DNS: busybox nslookup's query and the answer") {
  Bytes query = hex("4500003dc7a2400040114d630a40112a0a400001 b8240035002986cf"
                    "d075 0100 0001 0000 0000 0000 036f6e65036f6e65036f6e65036f6e6500 0001 0001");
  auto ip = net::parse_ipv4(query);
  REQUIRE(ip);
  auto udp = net::parse_udp(*ip);
  REQUIRE(udp);
  CHECK(udp->source_port == 0xb824);
  CHECK(udp->destination_port == net::kDnsPort);
  auto q = net::parse_dns(udp->payload);
  REQUIRE(q);
  CHECK(q->id == 0xd075);
  CHECK_FALSE(q->response);
  CHECK(q->recursion_desired);
  REQUIRE(q->questions.size() == 1);
  CHECK(q->questions[0].name == "one.one.one.one");
  CHECK(q->questions[0].type == net::kDnsTypeA);

  net::DnsMessage a;
  a.id = q->id;
  a.response = a.authoritative = a.recursion_desired = a.recursion_available = true;
  a.questions = q->questions;
  a.answers.push_back({"one.one.one.one", net::kDnsTypeA, net::kDnsClassIn, 300, Bytes{1, 1, 1, 1}});
  Bytes answer = net::build_ipv4(kDns, kHost, net::kProtocolUdp, net::build_udp(kDns, kHost, 53, 0xb824, net::build_dns(a)));
  CHECK(answer == hex("4500005c00000000401154e70a4000010a40112a 0035b8240048ad14"
                      "d075 8580 0001 0001 0000 0000 036f6e65036f6e65036f6e65036f6e6500 0001 0001"
                      "036f6e65036f6e65036f6e65036f6e6500 0001 0001 0000012c 0004 01010101"));

  std::string why;
  Bytes bad = query;
  bad[bad.size() - 1] ^= 1;
  CHECK_FALSE(net::parse_udp(*net::parse_ipv4(bad), &why));
  CHECK(why == "bad UDP checksum");
  // A zero checksum over IPv4 means "none".
  Bytes none = query;
  none[26] = none[27] = 0;
  CHECK(net::parse_udp(*net::parse_ipv4(none)));
}

TEST_CASE("DNS: compressed names are read, pointer loops and forward pointers refused") {
  // An answer whose record name points back at the question (RFC 1035 4.1.4).
  Bytes compressed = hex("1234 8180 0001 0001 0000 0000 03777777076578616d706c6500 0001 0001 c00c 0001 0001 0000003c 0004 5db8d822");
  auto m = net::parse_dns(compressed);
  REQUIRE(m);
  REQUIRE(m->answers.size() == 1);
  CHECK(m->answers[0].name == "www.example");
  CHECK(m->answers[0].data == Bytes{0x5d, 0xb8, 0xd8, 0x22});
  std::string why;
  Bytes loop = hex("1234 0100 0001 0000 0000 0000 c00c 0001 0001");  // the name points at itself
  CHECK_FALSE(net::parse_dns(loop, &why));
  CHECK(why == "bad question name");
  Bytes forward = hex("1234 0100 0001 0000 0000 0000 c00e 0001 0001 00");
  CHECK_FALSE(net::parse_dns(forward));
  CHECK_FALSE(net::parse_dns(hex("1234 0100 0001 0000 0000 0000 00 0001"), &why));
  CHECK(why == "truncated question");
}

TEST_CASE("DHCP: udhcpc's DISCOVER and the modem's OFFER") {
  Bytes discover_frame = hex(
      "ffffffffffff1a11efbfed2c0800 4500014800000000401179a600000000ffffffff 004400430134421f"
      "0101060084837d3f0000000000000000000000000000000000000000 1a11efbfed2c" + std::string(2 * (10 + 64 + 128), '0') +
      "63825363 350101 39020240 3707010306 0c0f1c2a 3c0c 756468637020312e33352e30 3d07011a11efbfed2c ff" +
      std::string(40, '0'));
  auto frame = net::parse_ethernet(discover_frame);
  auto ip = net::parse_ipv4(frame->payload);
  REQUIRE(ip);
  auto udp = net::parse_udp(*ip);
  REQUIRE(udp);
  CHECK(udp->destination_port == net::kDhcpServerPort);
  auto d = net::parse_dhcp(udp->payload);
  REQUIRE(d);
  CHECK(d->op == 1);
  CHECK(d->xid == 0x84837d3f);
  CHECK(d->chaddr == kHostMac);
  CHECK(d->message_type == net::kDhcpDiscover);
  CHECK(d->parameter_requests == std::vector<std::uint8_t>{1, 3, 6, 12, 15, 28, 42});

  net::DhcpMessage offer;
  offer.op = 2;
  offer.xid = d->xid;
  offer.chaddr = d->chaddr;
  offer.yiaddr = kHost;
  offer.message_type = net::kDhcpOffer;
  offer.server_identifier = kGateway;
  offer.lease_time = 7200;
  offer.subnet_mask = net::Ipv4Address{255, 255, 255, 252};
  offer.routers = {kGateway};
  offer.dns_servers = {kDns};
  Bytes payload = net::build_dhcp(offer);
  CHECK(payload.size() == 300);
  Bytes udp_out = net::build_udp(kGateway, net::kIpv4Broadcast, 67, 68, payload);
  Bytes reply = net::build_ethernet(kHostMac, kModemMac, net::kEtherTypeIpv4,
                                    net::build_ipv4(kGateway, net::kIpv4Broadcast, net::kProtocolUdp, udp_out));
  CHECK(reply == hex("1a11efbfed2c0250f30000000800 450001480000000040115e3d0a401129ffffffff 00430044013491b4"
                     "0201060084837d3f00000000000000000a40112a0000000000000000 1a11efbfed2c" +
                     std::string(2 * (10 + 64 + 128), '0') +
                     "63825363 350102 36040a401129 330400001c20 0104fffffffc 03040a401129 06040a400001 ff" +
                     std::string(52, '0')));
  std::string why;
  Bytes no_cookie = udp->payload.size() > 240 ? Bytes(udp->payload.begin(), udp->payload.end()) : Bytes{};
  no_cookie[236] = 0;
  CHECK_FALSE(net::parse_dhcp(no_cookie, &why));
  CHECK(why == "no DHCP magic cookie");
  Bytes overrun(udp->payload.begin(), udp->payload.begin() + 243);
  overrun.push_back(0x35);
  overrun.push_back(0x09);  // message type, 9 bytes announced, none there
  CHECK_FALSE(net::parse_dhcp(overrun, &why));
  CHECK(why == "an option runs past the end");
}

TEST_CASE("IPv6 neighbour discovery: Linux resolves the gateway; the modem's advertisement") {
  const net::Ipv6Address host = *net::parse_ipv6("2001:db8:40:11:1811:efff:febf:ed2c");
  const net::Ipv6Address gateway = *net::parse_ipv6("2001:db8:40:11::1");
  Bytes solicitation = hex("3333ff0000011a11efbfed2c86dd 6000000000203aff 20010db8004000111811effffebfed2c"
                           "ff0200000000000000000001ff000001 8700328d00000000 20010db8004000110000000000000001"
                           "01011a11efbfed2c");
  auto frame = net::parse_ethernet(solicitation);
  CHECK(frame->destination == net::multicast_mac(net::solicited_node(gateway)));
  auto ip = net::parse_ipv6(frame->payload);
  REQUIRE(ip);
  CHECK(ip->hop_limit == 255);
  CHECK(ip->source == host);
  CHECK(ip->destination == net::solicited_node(gateway));
  auto icmp = net::parse_icmpv6(*ip);
  REQUIRE(icmp);
  auto ns = net::parse_neighbor_solicitation(*icmp);
  REQUIRE(ns);
  CHECK(ns->target == gateway);
  CHECK(ns->source_link_layer == kHostMac);

  net::NeighborAdvertisement na{true, true, true, gateway, kModemMac};
  Bytes advert = net::build_ethernet(
      kHostMac, kModemMac, net::kEtherTypeIpv6,
      net::build_ipv6(gateway, host, net::kProtocolIcmpv6, net::build_neighbor_advertisement(gateway, host, na), 255));
  CHECK(advert == hex("1a11efbfed2c0250f300000086dd 6000000000203aff 20010db8004000110000000000000001"
                      "20010db8004000111811effffebfed2c 88002234e0000000 20010db8004000110000000000000001"
                      "02010250f3000000"));
  std::string why;
  Bytes bad = solicitation;
  bad.back() ^= 1;
  CHECK_FALSE(net::parse_icmpv6(*net::parse_ipv6(net::parse_ethernet(bad)->payload), &why));
  CHECK(why == "bad ICMPv6 checksum");
  // An option of length 0 makes the whole message invalid (RFC 4861 4.6).
  net::Icmpv6Message zero{net::kNeighborSolicitation, 0, 0, ByteView()};
  Bytes body = hex("20010db8004000110000000000000001 0100000000000000");
  zero.body = body;
  CHECK_FALSE(net::parse_neighbor_solicitation(zero));
}

TEST_CASE("IPv6 router discovery: Linux's solicitation on raw IP and the modem's advertisement") {
  const net::Ipv6Address host = *net::parse_ipv6("fe80::45dd:b0c8:8301:7bf4");
  const net::Ipv6Address router = *net::parse_ipv6("fe80::1");
  Bytes rs = hex("6000000000083aff fe8000000000000045ddb0c883017bf4 ff020000000000000000000000000002 8500879b00000000");
  auto ip = net::parse_ipv6(rs);
  REQUIRE(ip);
  auto solicitation = net::parse_router_solicitation(*net::parse_icmpv6(*ip));
  REQUIRE(solicitation);
  CHECK_FALSE(solicitation->source_link_layer);  // raw IP: no link-layer address

  net::RouterAdvertisement ra;
  ra.router_lifetime = 1800;
  ra.mtu = 1500;
  ra.prefixes.push_back({*net::parse_ipv6("2001:db8:40:11::"), 64, true, true, 86400, 14400});
  ra.dns_servers = {*net::parse_ipv6("2001:db8:40::1")};
  ra.dns_lifetime = 1800;
  Bytes advert = net::build_ipv6(router, host, net::kProtocolIcmpv6, net::build_router_advertisement(router, host, ra), 255);
  CHECK(advert == hex("6000000000503aff fe800000000000000000000000000001 fe8000000000000045ddb0c883017bf4"
                      "8600eb5b40000708 0000000000000000 0501000000 0005dc"
                      "0304 40c0 00015180 00003840 00000000 20010db8004000110000000000000000"
                      "1903 0000 00000708 20010db8004000000000000000000001"));
  auto back = net::parse_router_advertisement(*net::parse_icmpv6(*net::parse_ipv6(advert)));
  REQUIRE(back);
  CHECK(back->router_lifetime == 1800);
  CHECK(back->mtu == 1500u);
  REQUIRE(back->prefixes.size() == 1);
  CHECK(back->prefixes[0].valid_lifetime == 86400);
  CHECK(back->dns_servers == ra.dns_servers);
}

TEST_CASE("IPv6 extension headers: an MLDv2 report behind hop-by-hop options") {
  Bytes report = hex("600000000024000100000000000000000000000000000000ff020000000000000000000000000016"
                     "3a00050200000100 8f00819e00000001 04000000ff0200000000000000000001ffbfed2c");
  auto ip = net::parse_ipv6(report);
  REQUIRE(ip);
  CHECK(ip->next_header == net::kProtocolIcmpv6);
  CHECK(ip->payload.size() == 28);
  CHECK(net::parse_icmpv6(*ip)->type == 143);
  std::string why;
  Bytes cut(report.begin(), report.begin() + 44);
  cut[5] = 4;  // payload length 4: the hop-by-hop header does not fit
  CHECK_FALSE(net::parse_ipv6(cut, &why));
  CHECK(why == "truncated extension header");
  Bytes v4 = report;
  v4[0] = 0x40;
  CHECK_FALSE(net::parse_ipv6(v4, &why));
  CHECK(why == "not IP version 6");
}

TEST_CASE("addresses: text forms, solicited-node groups and their Ethernet addresses") {
  CHECK(net::to_string(*net::parse_ipv6("2001:DB8:40:11:0:0:0:2a")) == "2001:db8:40:11::2a");
  CHECK(net::to_string(kHost) == "10.64.17.42");
  CHECK(net::to_string(kModemMac) == "02:50:f3:00:00:00");
  CHECK_FALSE(net::parse_ipv4("10.64.17"));
  CHECK_FALSE(net::parse_ipv4(std::string(100, '1')));
  CHECK_FALSE(net::parse_ipv6("2001:db8::1::2"));
  auto a = *net::parse_ipv6("2001:db8:40:11:1811:efff:febf:ed2c");
  CHECK(net::solicited_node(a) == *net::parse_ipv6("ff02::1:ffbf:ed2c"));
  CHECK(net::multicast_mac(net::solicited_node(a)) == net::MacAddress{0x33, 0x33, 0xff, 0xbf, 0xed, 0x2c});
  CHECK(net::to_u32(kHost) == 0x0a40112a);
  CHECK(net::ipv4_from_u32(0x0a40112a) == kHost);
}

// Fuzz target: the packets a host can put on the modem's data interface.
//
// 1. Every parser of protocols/net (Ethernet, ARP, IPv4, IPv6, ICMP, ICMPv6 and NDP, UDP, DHCP,
//    DNS) reads the input directly, so that checksums do not keep the fuzzer from the inner
//    layers; what a parser accepts, its builder writes again and the parser reads back the same.
// 2. A booted EC25 with a session up takes the input on its data path (the first byte chooses
//    802.3 or raw IP and how the rest becomes a frame: as it is, or wrapped with valid headers and
//    checksums around a fuzzed DHCP, DNS, ICMP, NDP or UDP payload), and must answer or drop it.
#include <cstdint>
#include <memory>
#include <optional>

#include "booted_modem.hpp"
#include "emulator/data/data_path.hpp"
#include "emulator/data/data_service.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "protocols/net/dhcp.hpp"
#include "protocols/net/dns.hpp"
#include "protocols/net/packet.hpp"

namespace em = modemu::emulator;
namespace net = modemu::protocols::net;
using modemu::protocols::ByteView;
using modemu::protocols::Bytes;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void parsers(ByteView in) {
  if (auto f = net::parse_ethernet(in)) {
    auto again = net::parse_ethernet(net::build_ethernet(f->destination, f->source, f->ether_type, f->payload));
    check(again && again->ether_type == f->ether_type && again->payload.size() == f->payload.size());
  }
  if (auto a = net::parse_arp(in)) {
    auto again = net::parse_arp(net::build_arp(*a));
    check(again && again->target_ip == a->target_ip && again->sender_mac == a->sender_mac);
  }
  if (auto ip = net::parse_ipv4(in)) {
    Bytes built = net::build_ipv4(ip->source, ip->destination, ip->protocol, ip->payload, ip->ttl);
    auto again = net::parse_ipv4(built);
    check(again && again->payload.size() == ip->payload.size() && again->protocol == ip->protocol);
    if (auto icmp = net::parse_icmp(ip->payload)) {
      check(net::parse_icmp(net::build_icmp(icmp->type, icmp->code, icmp->rest, icmp->body)).has_value());
      (void)net::build_icmp_unreachable(3, *ip);
    }
    if (auto udp = net::parse_udp(*ip)) {
      Bytes u = net::build_udp(ip->source, ip->destination, udp->source_port, udp->destination_port, udp->payload);
      Bytes whole = net::build_ipv4(ip->source, ip->destination, net::kProtocolUdp, u);
      check(net::parse_udp(*net::parse_ipv4(whole)).has_value());
    }
  }
  if (auto ip = net::parse_ipv6(in)) {
    if (auto m = net::parse_icmpv6(*ip)) {
      (void)net::parse_neighbor_solicitation(*m);
      (void)net::parse_neighbor_advertisement(*m);
      (void)net::parse_router_solicitation(*m);
      if (auto ra = net::parse_router_advertisement(*m)) {
        Bytes again = net::build_router_advertisement(ip->source, ip->destination, *ra);
        Bytes whole = net::build_ipv6(ip->source, ip->destination, net::kProtocolIcmpv6, again, 255);
        auto back = net::parse_router_advertisement(*net::parse_icmpv6(*net::parse_ipv6(whole)));
        check(back && back->prefixes.size() == ra->prefixes.size() && back->mtu == ra->mtu);
      }
    }
    (void)net::parse_udp(*ip);
  }
  if (auto d = net::parse_dhcp(in)) {
    auto again = net::parse_dhcp(net::build_dhcp(*d));
    check(again && again->xid == d->xid && again->message_type == d->message_type &&
          again->requested_address == d->requested_address && again->lease_time == d->lease_time);
  }
  if (auto d = net::parse_dns(in)) {
    auto again = net::parse_dns(net::build_dns(*d));
    check(again && again->id == d->id && again->questions.size() == d->questions.size() &&
          again->answers.size() == d->answers.size());
  }
}

// quectel-ec25's session (its profile): the host's and the gateway's addresses.
const net::Ipv4Address kHost4{10, 64, 17, 42}, kGateway4{10, 64, 17, 41}, kDns4{10, 64, 0, 1};
const net::Ipv6Address kHost6 = *net::parse_ipv6("2001:db8:40:11::2a");
const net::Ipv6Address kGateway6 = *net::parse_ipv6("2001:db8:40:11::1");

// The frame the data path gets: the input as it is, or a fuzzed payload in valid headers.
Bytes frame_for(std::uint8_t how, ByteView rest, bool raw_ip) {
  net::MacAddress host{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  Bytes ip;
  switch (how % 8) {
    case 0: return Bytes(rest.begin(), rest.end());
    case 1:  // DHCP from an unconfigured host
      ip = net::build_ipv4(net::kIpv4Any, net::kIpv4Broadcast, net::kProtocolUdp,
                           net::build_udp(net::kIpv4Any, net::kIpv4Broadcast, 68, 67, rest));
      break;
    case 2:  // DNS to the session's server
      ip = net::build_ipv4(kHost4, kDns4, net::kProtocolUdp, net::build_udp(kHost4, kDns4, 5353, 53, rest));
      break;
    case 3:  // ICMP to the gateway: type and code from the input
      if (rest.size() < 2) return {};
      ip = net::build_ipv4(kHost4, kGateway4, net::kProtocolIcmp, net::build_icmp(rest[0], rest[1], 0, rest.subspan(2)));
      break;
    case 4: {  // ICMPv6 (NDP and echo) with hop limit 255, from a link-local or the session address
      if (rest.size() < 2) return {};
      net::Ipv6Address from = (rest[1] & 1) ? kHost6 : *net::parse_ipv6("fe80::1122:33ff:fe44:5555");
      ip = net::build_ipv6(from, kGateway6, net::kProtocolIcmpv6,
                           net::build_icmpv6(from, kGateway6, rest[0], 0, 0, rest.subspan(2)), 255);
      break;
    }
    case 5:  // UDP to the gateway's services (echo, discard, a closed port) over IPv6
      if (rest.empty()) return {};
      ip = net::build_ipv6(kHost6, kGateway6, net::kProtocolUdp, net::build_udp(kHost6, kGateway6, 1, rest[0] % 10, rest.subspan(1)));
      break;
    case 6:  // ARP (802.3 only)
      return net::build_ethernet(net::kBroadcastMac, host, net::kEtherTypeArp, rest);
    default:  // an Ethernet frame of the input's own type
      return net::build_ethernet(em::DataPath::kModemMac, host, rest.empty() ? 0 : std::uint16_t(0x0800 | rest[0]), rest);
  }
  if (raw_ip) return ip;
  return net::build_ethernet(em::DataPath::kModemMac, host, net::ip_version(ip) == 6 ? net::kEtherTypeIpv6 : net::kEtherTypeIpv4, ip);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView in(data, size);
  parsers(in);
  if (size == 0) return 0;

  // One modem for every input (booting one takes longer than the rest of a run): each input
  // gets a fresh session (new counters, network and queues) and its own faults and link layer.
  static const modemu::profile::Profile profile = em::load_profile("quectel-ec25");
  static modemu::fuzz::BootedModem booted(profile);
  em::Modem& modem = booted.modem;
  auto* port = dynamic_cast<em::QmiPort*>(modem.port_by_node("cdc-wdm0"));
  if (port == nullptr) __builtin_trap();
  em::DataFaults faults;
  if (data[0] & 0x40) {
    faults.latency = std::chrono::milliseconds(data[0] & 0x0f);
    faults.cap_bps = 64'000;
    faults.loss = 0.5;
  }
  modem.data().set_faults(faults, "fuzz");
  modem.set_context_active(1, false);
  if (modem.set_context_active(1, true) != em::ActionResult::kOk) __builtin_trap();
  bool raw_ip = (data[0] & 0x80) != 0;
  port->function().settings["wda.link_layer"] = raw_ip ? 2 : 1;
  std::size_t out = 0;
  port->data_path().set_sink([&](ByteView b) {
    out += b.size();
    return true;
  });
  Bytes frame = frame_for(static_cast<std::uint8_t>(data[0] >> 3), in.subspan(1), raw_ip);
  port->data_path().from_host(frame);
  port->data_path().from_host(frame);  // twice: state the first one left (a learnt address, a lease)
  booted.clock.run_until_idle();
  port->data_path().set_sink(nullptr);
  return 0;
}

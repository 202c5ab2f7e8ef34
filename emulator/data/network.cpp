#include "emulator/data/network.hpp"

#include <algorithm>
#include <cctype>

#include "protocols/net/dns.hpp"

namespace modemu::emulator {

namespace net = protocols::net;
using protocols::ByteView;
using protocols::Bytes;

namespace {

constexpr std::uint32_t kDnsTtl = 300;

std::string dns_key(std::string_view name) {
  std::string out(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// UDP over either family: the service's answer goes back to the sender; a closed port gets
// "port unreachable".
template <typename Ip, typename Service, typename Reply, typename Unreachable>
void answer_udp(const Ip& ip, Service service, Reply reply, Unreachable unreachable) {
  auto udp = net::parse_udp(ip);
  if (!udp) return;
  bool closed = false;
  if (auto answer = service(udp->destination_port, udp->payload, closed)) {
    reply(net::kProtocolUdp, net::build_udp(ip.destination, ip.source, udp->destination_port, udp->source_port, *answer));
  } else if (closed) {
    unreachable();
  }
}

}  // namespace

BuiltinNetwork::BuiltinNetwork(const profile::PacketData& config, const SessionAddresses& session) : session_(session) {
  if (session_.ipv4) hosts4_.insert(session_.ipv4_gateway);
  if (session_.ipv6) {
    hosts6_.insert(session_.ipv6_gateway);
    hosts6_.insert(session_.ipv6_gateway_link_local);
  }
  for (const auto& d : session_.ipv4_dns) dns4_.insert(d);
  for (const auto& d : session_.ipv6_dns) dns6_.insert(d);
  hosts4_.insert(dns4_.begin(), dns4_.end());
  hosts6_.insert(dns6_.begin(), dns6_.end());
  for (const auto& host : config.hosts()) {
    Names* names = host.name().empty() ? nullptr : &names_[dns_key(host.name())];
    for (const auto& text : host.addresses()) {
      if (auto a = net::parse_ipv4(text)) {
        hosts4_.insert(*a);
        if (names != nullptr) names->v4.push_back(*a);
      } else if (auto a6 = net::parse_ipv6(text)) {
        hosts6_.insert(*a6);
        if (names != nullptr) names->v6.push_back(*a6);
      }
    }
  }
}

std::vector<Bytes> BuiltinNetwork::handle(ByteView packet) {
  std::vector<Bytes> out;
  int version = net::ip_version(packet);
  if (version == 4 && session_.ipv4) {
    if (auto ip = net::parse_ipv4(packet)) handle_ipv4(*ip, out);
  } else if (version == 6 && session_.ipv6) {
    if (auto ip = net::parse_ipv6(packet)) handle_ipv6(*ip, packet, out);
  }
  return out;
}

void BuiltinNetwork::handle_ipv4(const net::Ipv4Packet& ip, std::vector<Bytes>& out) {
  if (ip.source != *session_.ipv4 || ip.fragment || hosts4_.count(ip.destination) == 0) return;
  auto reply = [&](std::uint8_t protocol, const Bytes& payload) {
    out.push_back(net::build_ipv4(ip.destination, ip.source, protocol, payload));
  };
  if (ip.protocol == net::kProtocolIcmp) {
    auto icmp = net::parse_icmp(ip.payload);
    if (icmp && icmp->type == net::kIcmpEchoRequest && icmp->code == 0) {
      reply(net::kProtocolIcmp, net::build_icmp(net::kIcmpEchoReply, 0, icmp->rest, icmp->body));
    }
  } else if (ip.protocol == net::kProtocolUdp) {
    bool dns = dns4_.count(ip.destination) != 0;
    answer_udp(
        ip, [&](std::uint16_t port, ByteView payload, bool& closed) { return udp_service(port, dns, payload, closed); },
        reply, [&] { reply(net::kProtocolIcmp, net::build_icmp_unreachable(net::kIcmpPortUnreachable, ip)); });
  }
}

void BuiltinNetwork::handle_ipv6(const net::Ipv6Packet& ip, ByteView raw, std::vector<Bytes>& out) {
  bool own_source = same_prefix(ip.source, *session_.ipv6, session_.ipv6_prefix_length) || net::is_link_local(ip.source);
  if (!own_source || ip.fragment || hosts6_.count(ip.destination) == 0) return;
  auto reply = [&](std::uint8_t next_header, const Bytes& payload) {
    out.push_back(net::build_ipv6(ip.destination, ip.source, next_header, payload));
  };
  if (ip.next_header == net::kProtocolIcmpv6) {
    auto icmp = net::parse_icmpv6(ip);
    if (icmp && icmp->type == net::kIcmpv6EchoRequest && icmp->code == 0) {
      reply(net::kProtocolIcmpv6,
            net::build_icmpv6(ip.destination, ip.source, net::kIcmpv6EchoReply, 0, icmp->rest, icmp->body));
    }
  } else if (ip.next_header == net::kProtocolUdp) {
    bool dns = dns6_.count(ip.destination) != 0;
    answer_udp(
        ip, [&](std::uint16_t port, ByteView payload, bool& closed) { return udp_service(port, dns, payload, closed); },
        reply, [&] {
          reply(net::kProtocolIcmpv6, net::build_icmpv6_unreachable(ip.destination, net::kIcmpv6PortUnreachable, ip, raw));
        });
  }
}

std::optional<Bytes> BuiltinNetwork::udp_service(std::uint16_t port, bool dns_server, ByteView payload, bool& closed) {
  switch (port) {
    case kUdpEchoPort: return Bytes(payload.begin(), payload.end());
    case kUdpDiscardPort:
      ++discarded_packets_;
      discarded_bytes_ += payload.size();
      return std::nullopt;
    case net::kDnsPort:
      if (dns_server) return dns_answer(payload);
      break;
    default: break;
  }
  closed = true;
  return std::nullopt;
}

// RFC 1035 4.1.1: one question per query; the answer repeats it, with AA and RA set.
std::optional<Bytes> BuiltinNetwork::dns_answer(ByteView query) {
  auto q = net::parse_dns(query);
  if (!q || q->response) return std::nullopt;  // not even a header we can answer: dropped
  net::DnsMessage a;
  a.id = q->id;
  a.response = true;
  a.opcode = q->opcode;
  a.authoritative = true;
  a.recursion_desired = q->recursion_desired;
  a.recursion_available = true;
  a.questions = q->questions;
  if (q->opcode != 0) {
    a.rcode = net::kDnsNotImplemented;
  } else if (q->questions.size() != 1) {
    a.rcode = net::kDnsFormatError;
  } else {
    const auto& question = q->questions[0];
    auto it = names_.find(dns_key(question.name));
    if (it == names_.end()) {
      a.rcode = net::kDnsNameError;
    } else if (question.qclass == net::kDnsClassIn && question.type == net::kDnsTypeA) {
      for (const auto& v4 : it->second.v4) {
        a.answers.push_back({question.name, net::kDnsTypeA, net::kDnsClassIn, kDnsTtl, Bytes(v4.begin(), v4.end())});
      }
    } else if (question.qclass == net::kDnsClassIn && question.type == net::kDnsTypeAaaa) {
      for (const auto& v6 : it->second.v6) {
        a.answers.push_back({question.name, net::kDnsTypeAaaa, net::kDnsClassIn, kDnsTtl, Bytes(v6.begin(), v6.end())});
      }
    }
  }
  return net::build_dns(a);
}

}  // namespace modemu::emulator

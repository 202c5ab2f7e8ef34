#include "protocols/net/packet.hpp"

#include <algorithm>

namespace modemu::protocols::net {

namespace {

template <typename T>
std::optional<T> refuse(std::string* error, const char* why) {
  if (error != nullptr) *error = why;
  return std::nullopt;
}

// The unfolded sum of big-endian 16-bit words (an odd last byte is padded with zero).
std::uint64_t add_words(ByteView data, std::uint64_t sum = 0) {
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += (std::uint64_t{data[i]} << 8) | data[i + 1];
  if (i < data.size()) sum += std::uint64_t{data[i]} << 8;
  return sum;
}

std::uint16_t fold(std::uint64_t sum) {
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

// RFC 768 / RFC 793 pseudo-header of IPv4; RFC 8200 8.1 of IPv6.
std::uint64_t pseudo_header(const Ipv4Address& source, const Ipv4Address& destination, std::uint8_t protocol,
                            std::size_t length) {
  return add_words(source) + add_words(destination) + protocol + length;
}
std::uint64_t pseudo_header(const Ipv6Address& source, const Ipv6Address& destination, std::uint8_t next_header,
                            std::size_t length) {
  return add_words(source) + add_words(destination) + (length >> 16) + (length & 0xffff) + next_header;
}

// Writes the checksum at `at` (big-endian) into a message whose checksum field is zero.
void put_checksum(Bytes& message, std::size_t at, std::uint16_t checksum) {
  message[at] = static_cast<std::uint8_t>(checksum >> 8);
  message[at + 1] = static_cast<std::uint8_t>(checksum);
}

// Neighbour discovery options (RFC 4861 4.6): type, length in units of 8 octets, value.
struct NdpOptions {
  std::optional<MacAddress> source_link_layer;
  std::optional<MacAddress> target_link_layer;
  std::optional<std::uint32_t> mtu;
  std::vector<PrefixInformation> prefixes;
  std::vector<Ipv6Address> dns_servers;
  std::uint32_t dns_lifetime = 0;
};
constexpr std::uint8_t kOptionSourceLinkLayer = 1, kOptionTargetLinkLayer = 2, kOptionPrefix = 3, kOptionMtu = 5,
                       kOptionRdnss = 25;

std::optional<NdpOptions> parse_ndp_options(ByteView data) {
  NdpOptions out;
  Reader r(data);
  while (r.remaining() > 0) {
    std::uint8_t type = r.u8();
    std::size_t length = std::size_t{r.u8()} * 8;
    if (!r.ok() || length == 0 || length - 2 > r.remaining()) return std::nullopt;
    Reader value(r.take(length - 2));
    switch (type) {
      case kOptionSourceLinkLayer:
      case kOptionTargetLinkLayer: {
        MacAddress mac = take_array<6>(value);
        (type == kOptionSourceLinkLayer ? out.source_link_layer : out.target_link_layer) = mac;
        break;
      }
      case kOptionPrefix: {
        if (length != 32) return std::nullopt;
        PrefixInformation p;
        p.length = value.u8();
        std::uint8_t flags = value.u8();
        p.on_link = (flags & 0x80) != 0;
        p.autonomous = (flags & 0x40) != 0;
        p.valid_lifetime = value.be32();
        p.preferred_lifetime = value.be32();
        value.take(4);
        p.prefix = take_array<16>(value);
        out.prefixes.push_back(p);
        break;
      }
      case kOptionMtu:
        value.take(2);
        out.mtu = value.be32();
        break;
      case kOptionRdnss:
        if (length < 24) return std::nullopt;
        value.take(2);
        out.dns_lifetime = value.be32();
        while (value.remaining() >= 16) out.dns_servers.push_back(take_array<16>(value));
        break;
      default: break;  // unknown options are skipped (RFC 4861 4.6)
    }
  }
  return out;
}

void put_link_layer_option(Writer& w, std::uint8_t type, const MacAddress& mac) { w.u8(type).u8(1).bytes(mac); }

}  // namespace

std::uint16_t internet_checksum(ByteView data, std::uint32_t partial) { return fold(add_words(data, partial)); }

// --- Ethernet -----------------------------------------------------------------------------

std::optional<EthernetFrame> parse_ethernet(ByteView frame, std::string* error) {
  Reader r(frame);
  EthernetFrame f;
  f.destination = take_array<6>(r);
  f.source = take_array<6>(r);
  f.ether_type = r.be16();
  if (!r.ok()) return refuse<EthernetFrame>(error, "shorter than an Ethernet header");
  if (f.ether_type < 0x0600) return refuse<EthernetFrame>(error, "802.3 length field, not an Ethernet II type");
  f.payload = r.rest();
  return f;
}

Bytes build_ethernet(const MacAddress& destination, const MacAddress& source, std::uint16_t ether_type, ByteView payload) {
  Writer w;
  w.data().reserve(kEthernetHeaderSize + payload.size());
  w.bytes(destination).bytes(source).be(ether_type, 2).bytes(payload);
  return w.take();
}

// --- ARP ----------------------------------------------------------------------------------

std::optional<ArpPacket> parse_arp(ByteView packet, std::string* error) {
  Reader r(packet);
  std::uint16_t htype = r.be16();
  std::uint16_t ptype = r.be16();
  std::uint8_t hlen = r.u8();
  std::uint8_t plen = r.u8();
  ArpPacket a;
  a.operation = r.be16();
  a.sender_mac = take_array<6>(r);
  a.sender_ip = take_array<4>(r);
  a.target_mac = take_array<6>(r);
  a.target_ip = take_array<4>(r);
  if (!r.ok()) return refuse<ArpPacket>(error, "truncated ARP packet");
  if (htype != 1 || ptype != kEtherTypeIpv4 || hlen != 6 || plen != 4) {
    return refuse<ArpPacket>(error, "ARP for something other than Ethernet and IPv4");
  }
  return a;
}

Bytes build_arp(const ArpPacket& a) {
  Writer w;
  w.be(1, 2).be(kEtherTypeIpv4, 2).u8(6).u8(4).be(a.operation, 2);
  w.bytes(a.sender_mac).bytes(a.sender_ip).bytes(a.target_mac).bytes(a.target_ip);
  return w.take();
}

// --- IPv4 ---------------------------------------------------------------------------------

std::optional<Ipv4Packet> parse_ipv4(ByteView packet, std::string* error) {
  Reader r(packet);
  std::uint8_t version_ihl = r.u8();
  Ipv4Packet p;
  p.tos = r.u8();
  std::uint16_t total = r.be16();
  p.identification = r.be16();
  std::uint16_t fragment = r.be16();
  p.ttl = r.u8();
  p.protocol = r.u8();
  r.be16();  // header checksum, checked over the whole header below
  p.source = take_array<4>(r);
  p.destination = take_array<4>(r);
  if (!r.ok()) return refuse<Ipv4Packet>(error, "shorter than an IPv4 header");
  if ((version_ihl >> 4) != 4) return refuse<Ipv4Packet>(error, "not IP version 4");
  std::size_t header = std::size_t{version_ihl & 0x0fu} * 4;
  if (header < 20) return refuse<Ipv4Packet>(error, "IHL below 5");
  if (total < header || total > packet.size()) return refuse<Ipv4Packet>(error, "total length does not fit");
  p.header = packet.first(header);
  if (internet_checksum(p.header) != 0) return refuse<Ipv4Packet>(error, "bad header checksum");
  p.dont_fragment = (fragment & 0x4000) != 0;
  p.fragment = (fragment & 0x2000) != 0 || (fragment & 0x1fff) != 0;
  p.payload = packet.subspan(header, total - header);
  return p;
}

Bytes build_ipv4(const Ipv4Address& source, const Ipv4Address& destination, std::uint8_t protocol, ByteView payload,
                 std::uint8_t ttl, std::uint16_t identification) {
  Writer w;
  w.data().reserve(20 + payload.size());
  w.u8(0x45).u8(0).be(20 + payload.size(), 2).be(identification, 2).be(0, 2).u8(ttl).u8(protocol).be(0, 2);
  w.bytes(source).bytes(destination);
  Bytes out = w.take();
  put_checksum(out, 10, internet_checksum(out));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// --- IPv6 ---------------------------------------------------------------------------------

std::optional<Ipv6Packet> parse_ipv6(ByteView packet, std::string* error) {
  Reader r(packet);
  std::uint32_t first = r.be32();
  std::uint16_t length = r.be16();
  Ipv6Packet p;
  p.next_header = r.u8();
  p.hop_limit = r.u8();
  p.source = take_array<16>(r);
  p.destination = take_array<16>(r);
  if (!r.ok()) return refuse<Ipv6Packet>(error, "shorter than an IPv6 header");
  if ((first >> 28) != 6) return refuse<Ipv6Packet>(error, "not IP version 6");
  if (length > r.remaining()) return refuse<Ipv6Packet>(error, "payload length does not fit");
  p.traffic_class = static_cast<std::uint8_t>(first >> 20);
  p.flow_label = first & 0xfffff;
  ByteView rest = packet.subspan(40, length);
  // Extension headers before the upper layer (RFC 8200 4.1): hop-by-hop 0, routing 43,
  // destination options 60 are skipped; fragment 44 ends the walk.
  for (int hops = 0; hops < 16; ++hops) {
    if (p.next_header == 0 || p.next_header == 43 || p.next_header == 60) {
      if (rest.size() < 8) return refuse<Ipv6Packet>(error, "truncated extension header");
      std::size_t size = (std::size_t{rest[1]} + 1) * 8;
      if (size > rest.size()) return refuse<Ipv6Packet>(error, "truncated extension header");
      p.next_header = rest[0];
      rest = rest.subspan(size);
      continue;
    }
    if (p.next_header == 44) {
      if (rest.size() < 8) return refuse<Ipv6Packet>(error, "truncated fragment header");
      p.fragment = true;
      p.next_header = rest[0];
      rest = rest.subspan(8);
    }
    break;
  }
  p.payload = rest;
  return p;
}

Bytes build_ipv6(const Ipv6Address& source, const Ipv6Address& destination, std::uint8_t next_header, ByteView payload,
                 std::uint8_t hop_limit) {
  Writer w;
  w.data().reserve(40 + payload.size());
  w.be(0x60000000, 4).be(payload.size(), 2).u8(next_header).u8(hop_limit).bytes(source).bytes(destination).bytes(payload);
  return w.take();
}

// --- ICMP ---------------------------------------------------------------------------------

std::optional<IcmpMessage> parse_icmp(ByteView message, std::string* error) {
  Reader r(message);
  IcmpMessage m;
  m.type = r.u8();
  m.code = r.u8();
  r.be16();
  m.rest = r.be32();
  if (!r.ok()) return refuse<IcmpMessage>(error, "shorter than an ICMP header");
  if (internet_checksum(message) != 0) return refuse<IcmpMessage>(error, "bad ICMP checksum");
  m.body = r.rest();
  return m;
}

Bytes build_icmp(std::uint8_t type, std::uint8_t code, std::uint32_t rest, ByteView body) {
  Writer w;
  w.data().reserve(8 + body.size());
  w.u8(type).u8(code).be(0, 2).be(rest, 4).bytes(body);
  Bytes out = w.take();
  put_checksum(out, 2, internet_checksum(out));
  return out;
}

Bytes build_icmp_unreachable(std::uint8_t code, const Ipv4Packet& original) {
  Bytes body(original.header.begin(), original.header.end());
  ByteView start = original.payload.first(std::min<std::size_t>(8, original.payload.size()));
  body.insert(body.end(), start.begin(), start.end());
  return build_icmp(kIcmpDestinationUnreachable, code, 0, body);
}

// --- ICMPv6 and neighbour discovery -------------------------------------------------------

std::optional<Icmpv6Message> parse_icmpv6(const Ipv6Packet& ip, std::string* error) {
  Reader r(ip.payload);
  Icmpv6Message m;
  m.type = r.u8();
  m.code = r.u8();
  r.be16();
  m.rest = r.be32();
  if (!r.ok()) return refuse<Icmpv6Message>(error, "shorter than an ICMPv6 header");
  if (fold(add_words(ip.payload, pseudo_header(ip.source, ip.destination, kProtocolIcmpv6, ip.payload.size()))) != 0) {
    return refuse<Icmpv6Message>(error, "bad ICMPv6 checksum");
  }
  m.body = r.rest();
  return m;
}

Bytes build_icmpv6(const Ipv6Address& source, const Ipv6Address& destination, std::uint8_t type, std::uint8_t code,
                   std::uint32_t rest, ByteView body) {
  Writer w;
  w.data().reserve(8 + body.size());
  w.u8(type).u8(code).be(0, 2).be(rest, 4).bytes(body);
  Bytes out = w.take();
  put_checksum(out, 2, fold(add_words(out, pseudo_header(source, destination, kProtocolIcmpv6, out.size()))));
  return out;
}

Bytes build_icmpv6_unreachable(const Ipv6Address& source, std::uint8_t code, const Ipv6Packet& original_ip,
                               ByteView original) {
  // 1280 (the minimum MTU) - 40 (IPv6 header) - 8 (ICMPv6 header)
  ByteView quoted = original.first(std::min<std::size_t>(original.size(), 1232));
  return build_icmpv6(source, original_ip.source, kIcmpv6DestinationUnreachable, code, 0, quoted);
}

namespace {

// Neighbour solicitations and advertisements: a target address, then options (RFC 4861 4.3, 4.4).
std::optional<std::pair<Ipv6Address, NdpOptions>> target_and_options(const Icmpv6Message& m) {
  Reader r(m.body);
  Ipv6Address target = take_array<16>(r);
  if (!r.ok()) return std::nullopt;
  auto options = parse_ndp_options(r.rest());
  if (!options) return std::nullopt;
  return std::make_pair(target, std::move(*options));
}

}  // namespace

std::optional<NeighborSolicitation> parse_neighbor_solicitation(const Icmpv6Message& m) {
  auto parts = target_and_options(m);
  if (!parts) return std::nullopt;
  return NeighborSolicitation{parts->first, parts->second.source_link_layer};
}

std::optional<NeighborAdvertisement> parse_neighbor_advertisement(const Icmpv6Message& m) {
  auto parts = target_and_options(m);
  if (!parts) return std::nullopt;
  return NeighborAdvertisement{(m.rest & 0x80000000u) != 0, (m.rest & 0x40000000u) != 0, (m.rest & 0x20000000u) != 0,
                               parts->first, parts->second.target_link_layer};
}

std::optional<RouterSolicitation> parse_router_solicitation(const Icmpv6Message& m) {
  auto options = parse_ndp_options(m.body);
  if (!options) return std::nullopt;
  return RouterSolicitation{options->source_link_layer};
}

std::optional<RouterAdvertisement> parse_router_advertisement(const Icmpv6Message& m) {
  Reader r(m.body);
  RouterAdvertisement ra;
  ra.cur_hop_limit = static_cast<std::uint8_t>(m.rest >> 24);
  ra.managed = (m.rest & 0x00800000u) != 0;
  ra.other = (m.rest & 0x00400000u) != 0;
  ra.router_lifetime = static_cast<std::uint16_t>(m.rest);
  ra.reachable_time = r.be32();
  ra.retrans_timer = r.be32();
  if (!r.ok()) return std::nullopt;
  auto options = parse_ndp_options(r.rest());
  if (!options) return std::nullopt;
  ra.source_link_layer = options->source_link_layer;
  ra.mtu = options->mtu;
  ra.prefixes = std::move(options->prefixes);
  ra.dns_servers = std::move(options->dns_servers);
  ra.dns_lifetime = options->dns_lifetime;
  return ra;
}

Bytes build_neighbor_solicitation(const Ipv6Address& source, const Ipv6Address& destination, const NeighborSolicitation& ns) {
  Writer w;
  w.bytes(ns.target);
  if (ns.source_link_layer) put_link_layer_option(w, kOptionSourceLinkLayer, *ns.source_link_layer);
  return build_icmpv6(source, destination, kNeighborSolicitation, 0, 0, w.data());
}

Bytes build_neighbor_advertisement(const Ipv6Address& source, const Ipv6Address& destination,
                                   const NeighborAdvertisement& na) {
  std::uint32_t flags = (na.router ? 0x80000000u : 0) | (na.solicited ? 0x40000000u : 0) | (na.override_flag ? 0x20000000u : 0);
  Writer w;
  w.bytes(na.target);
  if (na.target_link_layer) put_link_layer_option(w, kOptionTargetLinkLayer, *na.target_link_layer);
  return build_icmpv6(source, destination, kNeighborAdvertisement, 0, flags, w.data());
}

Bytes build_router_solicitation(const Ipv6Address& source, const Ipv6Address& destination, const RouterSolicitation& rs) {
  Writer w;
  if (rs.source_link_layer) put_link_layer_option(w, kOptionSourceLinkLayer, *rs.source_link_layer);
  return build_icmpv6(source, destination, kRouterSolicitation, 0, 0, w.data());
}

Bytes build_router_advertisement(const Ipv6Address& source, const Ipv6Address& destination,
                                 const RouterAdvertisement& ra) {
  std::uint32_t rest = (std::uint32_t{ra.cur_hop_limit} << 24) | (ra.managed ? 0x00800000u : 0) |
                       (ra.other ? 0x00400000u : 0) | ra.router_lifetime;
  Writer w;
  w.be(ra.reachable_time, 4).be(ra.retrans_timer, 4);
  if (ra.source_link_layer) put_link_layer_option(w, kOptionSourceLinkLayer, *ra.source_link_layer);
  if (ra.mtu) w.u8(kOptionMtu).u8(1).be(0, 2).be(*ra.mtu, 4);
  for (const auto& p : ra.prefixes) {
    w.u8(kOptionPrefix).u8(4).u8(p.length).u8(static_cast<std::uint8_t>((p.on_link ? 0x80 : 0) | (p.autonomous ? 0x40 : 0)));
    w.be(p.valid_lifetime, 4).be(p.preferred_lifetime, 4).be(0, 4).bytes(p.prefix);
  }
  if (!ra.dns_servers.empty()) {
    w.u8(kOptionRdnss).u8(static_cast<std::uint8_t>(1 + 2 * ra.dns_servers.size())).be(0, 2).be(ra.dns_lifetime, 4);
    for (const auto& d : ra.dns_servers) w.bytes(d);
  }
  return build_icmpv6(source, destination, kRouterAdvertisement, 0, rest, w.data());
}

// --- UDP ----------------------------------------------------------------------------------

namespace {

template <typename Ip>
std::optional<UdpDatagram> parse_udp_in(const Ip& ip, bool checksum_required, std::string* error) {
  Reader r(ip.payload);
  UdpDatagram d;
  d.source_port = r.be16();
  d.destination_port = r.be16();
  std::uint16_t length = r.be16();
  std::uint16_t checksum = r.be16();
  if (!r.ok()) return refuse<UdpDatagram>(error, "shorter than a UDP header");
  if (length < 8 || length > ip.payload.size()) return refuse<UdpDatagram>(error, "UDP length does not fit");
  ByteView datagram = ip.payload.first(length);
  if (checksum == 0 && checksum_required) return refuse<UdpDatagram>(error, "UDP over IPv6 without a checksum");
  if (checksum != 0 && fold(add_words(datagram, pseudo_header(ip.source, ip.destination, kProtocolUdp, length))) != 0) {
    return refuse<UdpDatagram>(error, "bad UDP checksum");
  }
  d.payload = datagram.subspan(8);
  return d;
}

template <typename Address>
Bytes build_udp_for(const Address& source, const Address& destination, std::uint16_t source_port,
                    std::uint16_t destination_port, ByteView payload) {
  Writer w;
  w.data().reserve(8 + payload.size());
  w.be(source_port, 2).be(destination_port, 2).be(8 + payload.size(), 2).be(0, 2).bytes(payload);
  Bytes out = w.take();
  std::uint16_t checksum = fold(add_words(out, pseudo_header(source, destination, kProtocolUdp, out.size())));
  put_checksum(out, 6, checksum == 0 ? 0xffff : checksum);  // RFC 768: a computed zero is sent as all ones
  return out;
}

}  // namespace

std::optional<UdpDatagram> parse_udp(const Ipv4Packet& ip, std::string* error) { return parse_udp_in(ip, false, error); }
std::optional<UdpDatagram> parse_udp(const Ipv6Packet& ip, std::string* error) { return parse_udp_in(ip, true, error); }

Bytes build_udp(const Ipv4Address& source, const Ipv4Address& destination, std::uint16_t source_port,
                std::uint16_t destination_port, ByteView payload) {
  return build_udp_for(source, destination, source_port, destination_port, payload);
}
Bytes build_udp(const Ipv6Address& source, const Ipv6Address& destination, std::uint16_t source_port,
                std::uint16_t destination_port, ByteView payload) {
  return build_udp_for(source, destination, source_port, destination_port, payload);
}

}  // namespace modemu::protocols::net

#pragma once
// Packets on a modem's data interface, below the applications: Ethernet II, ARP, IPv4, IPv6,
// ICMP, ICMPv6 with neighbour discovery, and UDP. One parse / build pair per packet. Parsers take
// the bytes with their length and return nothing (and say why in `error`) for anything they do
// not accept: truncated, wrong version, bad checksum. Builders compute lengths and checksums.
// Parsed packets are views into the caller's bytes, valid while those are.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/bytes.hpp"
#include "protocols/net/address.hpp"

namespace modemu::protocols::net {

// --- Ethernet II (IEEE 802.3 clause 3.2.6, type field >= 0x0600) ---------------------------
inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr std::size_t kEthernetHeaderSize = 14;

struct EthernetFrame {
  MacAddress destination{};
  MacAddress source{};
  std::uint16_t ether_type = 0;
  ByteView payload;
};
// No FCS (USB carries none). Length-typed 802.3 frames (type < 0x0600) are refused.
std::optional<EthernetFrame> parse_ethernet(ByteView frame, std::string* error = nullptr);
Bytes build_ethernet(const MacAddress& destination, const MacAddress& source, std::uint16_t ether_type, ByteView payload);

// --- ARP (RFC 826), Ethernet and IPv4 only ------------------------------------------------
inline constexpr std::uint16_t kArpRequest = 1;
inline constexpr std::uint16_t kArpReply = 2;

struct ArpPacket {
  std::uint16_t operation = 0;
  MacAddress sender_mac{};
  Ipv4Address sender_ip{};
  MacAddress target_mac{};
  Ipv4Address target_ip{};
};
std::optional<ArpPacket> parse_arp(ByteView packet, std::string* error = nullptr);
Bytes build_arp(const ArpPacket& arp);

// --- checksums (RFC 1071) -----------------------------------------------------------------
// The one's-complement sum of 16-bit words, folded and inverted. `partial` carries a sum of
// other words (a pseudo-header) into it.
std::uint16_t internet_checksum(ByteView data, std::uint32_t partial = 0);

// --- IPv4 (RFC 791) -----------------------------------------------------------------------
inline constexpr std::uint8_t kProtocolIcmp = 1;
inline constexpr std::uint8_t kProtocolTcp = 6;
inline constexpr std::uint8_t kProtocolUdp = 17;
inline constexpr std::uint8_t kProtocolIcmpv6 = 58;

struct Ipv4Packet {
  std::uint8_t tos = 0;
  std::uint16_t identification = 0;
  bool dont_fragment = false;
  bool fragment = false;  // more fragments follow, or this is not the first: no upper header here
  std::uint8_t ttl = 0;
  std::uint8_t protocol = 0;
  Ipv4Address source{};
  Ipv4Address destination{};
  ByteView header;   // with options
  ByteView payload;  // total length minus the header (Ethernet padding after it is not included)
};
// Checks version, IHL, total length and the header checksum.
std::optional<Ipv4Packet> parse_ipv4(ByteView packet, std::string* error = nullptr);
Bytes build_ipv4(const Ipv4Address& source, const Ipv4Address& destination, std::uint8_t protocol, ByteView payload,
                 std::uint8_t ttl = 64, std::uint16_t identification = 0);

// --- IPv6 (RFC 8200) ----------------------------------------------------------------------
struct Ipv6Packet {
  std::uint8_t traffic_class = 0;
  std::uint32_t flow_label = 0;
  std::uint8_t hop_limit = 0;
  Ipv6Address source{};
  Ipv6Address destination{};
  // The upper-layer protocol after hop-by-hop, routing and destination options headers, which
  // are skipped; a fragment header stops the walk (fragment = true).
  std::uint8_t next_header = 0;
  bool fragment = false;
  ByteView payload;  // the upper-layer part
};
std::optional<Ipv6Packet> parse_ipv6(ByteView packet, std::string* error = nullptr);
Bytes build_ipv6(const Ipv6Address& source, const Ipv6Address& destination, std::uint8_t next_header, ByteView payload,
                 std::uint8_t hop_limit = 64);

// The version nibble of an IP packet: 4, 6, or something else.
inline int ip_version(ByteView packet) { return packet.empty() ? 0 : packet[0] >> 4; }

// --- ICMP (RFC 792) -----------------------------------------------------------------------
inline constexpr std::uint8_t kIcmpEchoReply = 0;
inline constexpr std::uint8_t kIcmpDestinationUnreachable = 3;
inline constexpr std::uint8_t kIcmpEchoRequest = 8;
inline constexpr std::uint8_t kIcmpPortUnreachable = 3;      // code of type 3
inline constexpr std::uint8_t kIcmpProtocolUnreachable = 2;  // code of type 3

struct IcmpMessage {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint32_t rest = 0;  // bytes 4..7: echo identifier << 16 | sequence, or unused
  ByteView body;
};
std::optional<IcmpMessage> parse_icmp(ByteView message, std::string* error = nullptr);
Bytes build_icmp(std::uint8_t type, std::uint8_t code, std::uint32_t rest, ByteView body);
// Destination unreachable about `original` (its header and the first 8 bytes after it).
Bytes build_icmp_unreachable(std::uint8_t code, const Ipv4Packet& original);

// --- ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861) -----------------------------------
inline constexpr std::uint8_t kIcmpv6DestinationUnreachable = 1;
inline constexpr std::uint8_t kIcmpv6PortUnreachable = 4;  // code of type 1
inline constexpr std::uint8_t kIcmpv6EchoRequest = 128;
inline constexpr std::uint8_t kIcmpv6EchoReply = 129;
inline constexpr std::uint8_t kRouterSolicitation = 133;
inline constexpr std::uint8_t kRouterAdvertisement = 134;
inline constexpr std::uint8_t kNeighborSolicitation = 135;
inline constexpr std::uint8_t kNeighborAdvertisement = 136;

using Icmpv6Message = IcmpMessage;  // the same layout (RFC 4443 2.1)
// Checks the checksum over the pseudo-header of `ip`.
std::optional<Icmpv6Message> parse_icmpv6(const Ipv6Packet& ip, std::string* error = nullptr);
Bytes build_icmpv6(const Ipv6Address& source, const Ipv6Address& destination, std::uint8_t type, std::uint8_t code,
                   std::uint32_t rest, ByteView body);
// Destination unreachable about `original`, sent back to its source (as much of it as fits in
// the minimum MTU, RFC 4443 3.1).
Bytes build_icmpv6_unreachable(const Ipv6Address& source, std::uint8_t code, const Ipv6Packet& original_ip,
                               ByteView original);

struct NeighborSolicitation {
  Ipv6Address target{};
  std::optional<MacAddress> source_link_layer;
};
struct NeighborAdvertisement {
  bool router = false;
  bool solicited = false;
  bool override_flag = false;
  Ipv6Address target{};
  std::optional<MacAddress> target_link_layer;
};
struct RouterSolicitation {
  std::optional<MacAddress> source_link_layer;
};
struct PrefixInformation {  // RFC 4861 4.6.2
  Ipv6Address prefix{};
  std::uint8_t length = 64;
  bool on_link = true;
  bool autonomous = true;
  std::uint32_t valid_lifetime = 0;
  std::uint32_t preferred_lifetime = 0;
};
struct RouterAdvertisement {
  std::uint8_t cur_hop_limit = 64;
  bool managed = false;
  bool other = false;
  std::uint16_t router_lifetime = 0;  // seconds
  std::uint32_t reachable_time = 0;   // milliseconds
  std::uint32_t retrans_timer = 0;    // milliseconds
  std::optional<MacAddress> source_link_layer;
  std::optional<std::uint32_t> mtu;
  std::vector<PrefixInformation> prefixes;
  std::vector<Ipv6Address> dns_servers;  // RDNSS (RFC 8106)
  std::uint32_t dns_lifetime = 0;
};
// The message bodies; each refuses an option of length 0 (RFC 4861 4.6).
std::optional<NeighborSolicitation> parse_neighbor_solicitation(const Icmpv6Message& m);
std::optional<NeighborAdvertisement> parse_neighbor_advertisement(const Icmpv6Message& m);
std::optional<RouterSolicitation> parse_router_solicitation(const Icmpv6Message& m);
std::optional<RouterAdvertisement> parse_router_advertisement(const Icmpv6Message& m);
// Whole ICMPv6 messages (what goes into an IPv6 packet with next header 58, hop limit 255).
Bytes build_neighbor_solicitation(const Ipv6Address& source, const Ipv6Address& destination, const NeighborSolicitation& ns);
Bytes build_neighbor_advertisement(const Ipv6Address& source, const Ipv6Address& destination,
                                   const NeighborAdvertisement& na);
Bytes build_router_solicitation(const Ipv6Address& source, const Ipv6Address& destination, const RouterSolicitation& rs);
Bytes build_router_advertisement(const Ipv6Address& source, const Ipv6Address& destination,
                                 const RouterAdvertisement& ra);

// --- UDP (RFC 768) ------------------------------------------------------------------------
struct UdpDatagram {
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  ByteView payload;
};
// Over IPv4 a zero checksum means "none"; over IPv6 the checksum is mandatory (RFC 8200 8.1).
std::optional<UdpDatagram> parse_udp(const Ipv4Packet& ip, std::string* error = nullptr);
std::optional<UdpDatagram> parse_udp(const Ipv6Packet& ip, std::string* error = nullptr);
Bytes build_udp(const Ipv4Address& source, const Ipv4Address& destination, std::uint16_t source_port,
                std::uint16_t destination_port, ByteView payload);
Bytes build_udp(const Ipv6Address& source, const Ipv6Address& destination, std::uint16_t source_port,
                std::uint16_t destination_port, ByteView payload);

}  // namespace modemu::protocols::net

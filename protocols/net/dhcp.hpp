#pragma once
// DHCPv4 messages (RFC 2131 section 2, the BOOTP layout) with the options a modem's DHCP server
// reads and writes (RFC 2132): message type, requested address, server identifier, lease time,
// subnet mask, router, DNS servers, interface MTU, parameter request list.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/bytes.hpp"
#include "protocols/net/address.hpp"

namespace modemu::protocols::net {

inline constexpr std::uint16_t kDhcpServerPort = 67;
inline constexpr std::uint16_t kDhcpClientPort = 68;

// Option 53 (RFC 2132 9.6).
enum DhcpMessageType : std::uint8_t {
  kDhcpDiscover = 1, kDhcpOffer = 2, kDhcpRequest = 3, kDhcpDecline = 4, kDhcpAck = 5, kDhcpNak = 6,
  kDhcpRelease = 7, kDhcpInform = 8,
};

struct DhcpMessage {
  std::uint8_t op = 1;  // 1 BOOTREQUEST, 2 BOOTREPLY
  std::uint32_t xid = 0;
  std::uint16_t secs = 0;
  std::uint16_t flags = 0;  // 0x8000: the client asks for broadcast replies
  Ipv4Address ciaddr{};
  Ipv4Address yiaddr{};
  Ipv4Address siaddr{};
  Ipv4Address giaddr{};
  MacAddress chaddr{};  // htype 1, hlen 6 (Ethernet) only
  std::uint8_t message_type = 0;  // 0: no option 53 (plain BOOTP)
  std::optional<Ipv4Address> requested_address;  // 50
  std::optional<Ipv4Address> server_identifier;  // 54
  std::optional<std::uint32_t> lease_time;       // 51, seconds
  std::optional<Ipv4Address> subnet_mask;        // 1
  std::vector<Ipv4Address> routers;              // 3
  std::vector<Ipv4Address> dns_servers;          // 6
  std::optional<std::uint16_t> mtu;              // 26
  std::vector<std::uint8_t> parameter_requests;  // 55
};

// The UDP payload of a DHCP message. Refuses anything but Ethernet hardware addresses, a missing
// magic cookie, or options that run past the end.
std::optional<DhcpMessage> parse_dhcp(ByteView payload, std::string* error = nullptr);
// Options in the order above, then END; padded to the 300 bytes of a BOOTP message (RFC 1542 2.1).
Bytes build_dhcp(const DhcpMessage& message);

}  // namespace modemu::protocols::net

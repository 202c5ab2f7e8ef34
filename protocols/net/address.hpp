#pragma once
// Link-layer and IP addresses as fixed byte arrays in network order, and their text forms.
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::net {

using MacAddress = std::array<std::uint8_t, 6>;
using Ipv4Address = std::array<std::uint8_t, 4>;
using Ipv6Address = std::array<std::uint8_t, 16>;

inline constexpr MacAddress kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr Ipv4Address kIpv4Any{0, 0, 0, 0};
inline constexpr Ipv4Address kIpv4Broadcast{255, 255, 255, 255};
inline constexpr Ipv6Address kIpv6Any{};
// ff02::1, all nodes on the link (RFC 4291 2.7.1).
inline constexpr Ipv6Address kIpv6AllNodes{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// "10.64.17.42", "2001:db8::1" (inet_pton's forms); nothing for anything else.
std::optional<Ipv4Address> parse_ipv4(std::string_view text);
std::optional<Ipv6Address> parse_ipv6(std::string_view text);
std::string to_string(const Ipv4Address& a);
std::string to_string(const Ipv6Address& a);
std::string to_string(const MacAddress& a);

// The address as the host-order integer QMI carries (WDS settings: 10.64.5.6 is 0x0a400506).
inline std::uint32_t to_u32(const Ipv4Address& a) {
  return (std::uint32_t{a[0]} << 24) | (std::uint32_t{a[1]} << 16) | (std::uint32_t{a[2]} << 8) | a[3];
}
inline Ipv4Address ipv4_from_u32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
          static_cast<std::uint8_t>(v)};
}

// Solicited-node multicast ff02::1:ffXX:XXXX for an address (RFC 4291 2.7.1), and the
// Ethernet address a multicast IPv6 address maps to, 33:33 + its last four octets (RFC 2464 7).
Ipv6Address solicited_node(const Ipv6Address& a);
MacAddress multicast_mac(const Ipv6Address& a);
bool is_link_local(const Ipv6Address& a);
bool is_multicast(const Ipv6Address& a);

// Fixed-size copies out of a view that is known to be long enough.
template <std::size_t N>
std::array<std::uint8_t, N> take_array(Reader& r) {
  std::array<std::uint8_t, N> out{};
  ByteView b = r.take(N);
  if (b.size() == N) std::copy(b.begin(), b.end(), out.begin());
  return out;
}

}  // namespace modemu::protocols::net

#include "protocols/net/address.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include <fmt/format.h>

namespace modemu::protocols::net {

namespace {

template <typename Address>
std::optional<Address> parse(int family, std::string_view text) {
  // inet_pton wants a C string: copy into a bounded buffer (never read the view past its end).
  char buffer[INET6_ADDRSTRLEN + 1] = {};
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  std::copy(text.begin(), text.end(), buffer);
  Address out{};
  if (inet_pton(family, buffer, out.data()) != 1) return std::nullopt;
  return out;
}

}  // namespace

std::optional<Ipv4Address> parse_ipv4(std::string_view text) { return parse<Ipv4Address>(AF_INET, text); }
std::optional<Ipv6Address> parse_ipv6(std::string_view text) { return parse<Ipv6Address>(AF_INET6, text); }

std::string to_string(const Ipv4Address& a) { return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]); }

std::string to_string(const Ipv6Address& a) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, a.data(), buffer, sizeof buffer);
  return buffer;
}

std::string to_string(const MacAddress& a) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", a[0], a[1], a[2], a[3], a[4], a[5]);
}

Ipv6Address solicited_node(const Ipv6Address& a) {
  Ipv6Address out{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, a[13], a[14], a[15]};
  return out;
}

MacAddress multicast_mac(const Ipv6Address& a) { return {0x33, 0x33, a[12], a[13], a[14], a[15]}; }

bool is_link_local(const Ipv6Address& a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }
bool is_multicast(const Ipv6Address& a) { return a[0] == 0xff; }

}  // namespace modemu::protocols::net

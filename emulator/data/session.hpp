#pragma once
// The addresses of the data sessions that are up, one per active PDP context: one source for
// what WDS Get Current Settings reports and for what the data path serves (DHCP, router
// advertisements, the gateway). Several sessions at once (QMAP, one per mux id) each get their
// own addresses: context 1 the profile's, context N the profile's moved N-1 /30 networks up
// (IPv4) and N-1 /64 prefixes up (IPv6).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/net/address.hpp"

namespace modemu::emulator {

class Modem;
struct PdpContextState;

struct SessionAddresses {
  std::uint32_t cid = 0;
  // IPv4: the session address in a /30 with the gateway beside it (what real modules hand out:
  // a point-to-point link with the network's router).
  std::optional<protocols::net::Ipv4Address> ipv4;
  protocols::net::Ipv4Address ipv4_gateway{};
  protocols::net::Ipv4Address ipv4_netmask{};
  std::vector<protocols::net::Ipv4Address> ipv4_dns;
  // IPv6: the address in a /64 whose ::1 (or ::2) is the gateway; the gateway also answers on
  // its link-local address, the source of router advertisements.
  std::optional<protocols::net::Ipv6Address> ipv6;
  std::uint8_t ipv6_prefix_length = 64;
  protocols::net::Ipv6Address ipv6_gateway{};
  protocols::net::Ipv6Address ipv6_gateway_link_local{};
  std::vector<protocols::net::Ipv6Address> ipv6_dns;
  std::uint32_t mtu = 1500;
};

// Whether a context of this PDP type carries each family ("IP", "IPV6", "IPV4V6", "PPP").
bool carries_ipv4(const std::string& pdp_type);
bool carries_ipv6(const std::string& pdp_type);

// The session on the first active context, or nothing while no session is up.
const PdpContextState* active_context(const Modem& modem);
std::optional<SessionAddresses> session_addresses(const Modem& modem);
// The session on context `cid`, or nothing while that context is not active.
std::optional<SessionAddresses> session_addresses(const Modem& modem, std::uint32_t cid);

// The addresses context `cid` is given (text, as the profile writes them); "" when the
// profile gives none.
std::string context_ipv4(const Modem& modem, std::uint32_t cid);
std::string context_ipv6(const Modem& modem, std::uint32_t cid);

// The first `length` bits of `a` (the rest zero), and whether `b` shares them.
protocols::net::Ipv6Address ipv6_prefix(const protocols::net::Ipv6Address& a, std::uint8_t length);
bool same_prefix(const protocols::net::Ipv6Address& a, const protocols::net::Ipv6Address& b, std::uint8_t length);

}  // namespace modemu::emulator

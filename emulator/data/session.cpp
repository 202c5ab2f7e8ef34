#include "emulator/data/session.hpp"

#include <algorithm>

#include "emulator/modem.hpp"

namespace modemu::emulator {

namespace net = protocols::net;

bool carries_ipv4(const std::string& pdp_type) { return pdp_type != "IPV6"; }  // IP, IPV4V6, PPP
bool carries_ipv6(const std::string& pdp_type) { return pdp_type == "IPV6" || pdp_type == "IPV4V6"; }

const PdpContextState* active_context(const Modem& modem) {
  for (const auto& [cid, ctx] : modem.state().contexts) {
    if (ctx.active) return &ctx;
  }
  return nullptr;
}

net::Ipv6Address ipv6_prefix(const net::Ipv6Address& a, std::uint8_t length) {
  net::Ipv6Address out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    int bits = std::clamp(static_cast<int>(length) - static_cast<int>(i) * 8, 0, 8);
    out[i] = static_cast<std::uint8_t>(a[i] & (0xff00 >> bits));
  }
  return out;
}

bool same_prefix(const net::Ipv6Address& a, const net::Ipv6Address& b, std::uint8_t length) {
  return ipv6_prefix(a, length) == ipv6_prefix(b, length);
}

std::optional<SessionAddresses> session_addresses(const Modem& modem) {
  const PdpContextState* ctx = active_context(modem);
  if (ctx == nullptr) return std::nullopt;
  const auto& data = modem.profile().data();
  SessionAddresses s;
  s.cid = ctx->cid;
  if (carries_ipv4(ctx->pdp_type)) {
    if (auto address = net::parse_ipv4(ctx->address)) {
      std::uint32_t a = net::to_u32(*address);
      std::uint32_t network = a & 0xfffffffc;
      s.ipv4 = address;
      s.ipv4_gateway = net::ipv4_from_u32(a == network + 1 ? network + 2 : network + 1);
      s.ipv4_netmask = net::ipv4_from_u32(0xfffffffc);
      if (auto dns = net::parse_ipv4(data.ipv4_dns())) s.ipv4_dns.push_back(*dns);
    }
  }
  if (carries_ipv6(ctx->pdp_type)) {
    if (auto address = net::parse_ipv6(data.ipv6_address())) {
      s.ipv6 = address;
      net::Ipv6Address gateway = ipv6_prefix(*address, s.ipv6_prefix_length);
      bool address_is_one = (*address)[15] == 1 && std::all_of(address->begin() + 8, address->begin() + 15,
                                                               [](std::uint8_t b) { return b == 0; });
      gateway[15] = address_is_one ? 2 : 1;
      s.ipv6_gateway = gateway;
      s.ipv6_gateway_link_local = net::Ipv6Address{0xfe, 0x80};
      std::copy(gateway.begin() + 8, gateway.end(), s.ipv6_gateway_link_local.begin() + 8);
      if (auto dns = net::parse_ipv6(data.ipv6_dns())) s.ipv6_dns.push_back(*dns);
    }
  }
  return s;
}

}  // namespace modemu::emulator

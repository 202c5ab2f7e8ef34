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

std::string context_ipv4(const Modem& modem, std::uint32_t cid) {
  auto a = net::parse_ipv4(modem.profile().data().ipv4_address());
  if (!a || cid == 0) return "";
  return net::to_string(net::ipv4_from_u32(net::to_u32(*a) + 4 * (cid - 1)));
}

std::string context_ipv6(const Modem& modem, std::uint32_t cid) {
  auto a = net::parse_ipv6(modem.profile().data().ipv6_address());
  if (!a || cid == 0) return "";
  // The 64-bit prefix plus cid - 1, carried from byte 7 upwards.
  std::uint64_t carry = cid - 1;
  for (int i = 7; i >= 0 && carry != 0; --i) {
    std::uint64_t sum = (*a)[static_cast<std::size_t>(i)] + (carry & 0xff);
    (*a)[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(sum);
    carry = (carry >> 8) + (sum >> 8);
  }
  return net::to_string(*a);
}

std::optional<SessionAddresses> session_addresses(const Modem& modem) {
  const PdpContextState* ctx = active_context(modem);
  if (ctx == nullptr) return std::nullopt;
  return session_addresses(modem, ctx->cid);
}

std::optional<SessionAddresses> session_addresses(const Modem& modem, std::uint32_t cid) {
  auto it = modem.state().contexts.find(cid);
  if (it == modem.state().contexts.end() || !it->second.active) return std::nullopt;
  const PdpContextState* ctx = &it->second;
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
    if (auto address = net::parse_ipv6(context_ipv6(modem, ctx->cid))) {
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

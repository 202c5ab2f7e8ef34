#include "protocols/net/dhcp.hpp"

namespace modemu::protocols::net {

namespace {

constexpr std::uint32_t kMagicCookie = 0x63825363;  // RFC 2131 3
constexpr std::size_t kFixedPart = 236;              // op .. file, before the cookie
constexpr std::size_t kBootpMinimum = 300;
constexpr std::uint8_t kPad = 0, kEnd = 255, kSubnetMask = 1, kRouter = 3, kDns = 6, kMtu = 26, kRequestedAddress = 50,
                       kLeaseTime = 51, kMessageType = 53, kServerIdentifier = 54, kParameterRequests = 55;

std::optional<DhcpMessage> refuse(std::string* error, const char* why) {
  if (error != nullptr) *error = why;
  return std::nullopt;
}

std::vector<Ipv4Address> addresses(ByteView value) {
  std::vector<Ipv4Address> out;
  Reader r(value);
  while (r.remaining() >= 4) out.push_back(take_array<4>(r));
  return out;
}

void put_addresses(Writer& w, std::uint8_t option, const std::vector<Ipv4Address>& list) {
  if (list.empty()) return;
  std::size_t n = std::min<std::size_t>(list.size(), 63);  // one option holds 255 bytes
  w.u8(option).u8(static_cast<std::uint8_t>(4 * n));
  for (std::size_t i = 0; i < n; ++i) w.bytes(list[i]);
}

}  // namespace

std::optional<DhcpMessage> parse_dhcp(ByteView payload, std::string* error) {
  Reader r(payload);
  DhcpMessage m;
  m.op = r.u8();
  std::uint8_t htype = r.u8();
  std::uint8_t hlen = r.u8();
  r.u8();  // hops
  m.xid = r.be32();
  m.secs = r.be16();
  m.flags = r.be16();
  m.ciaddr = take_array<4>(r);
  m.yiaddr = take_array<4>(r);
  m.siaddr = take_array<4>(r);
  m.giaddr = take_array<4>(r);
  m.chaddr = take_array<6>(r);
  r.take(10 + 64 + 128);  // chaddr padding, sname, file
  std::uint32_t cookie = r.be32();
  if (!r.ok()) return refuse(error, "shorter than a DHCP message");
  if (htype != 1 || hlen != 6) return refuse(error, "hardware type is not Ethernet");
  if (cookie != kMagicCookie) return refuse(error, "no DHCP magic cookie");
  if (m.op != 1 && m.op != 2) return refuse(error, "op is neither request nor reply");
  while (r.remaining() > 0) {
    std::uint8_t option = r.u8();
    if (option == kPad) continue;
    if (option == kEnd) break;
    std::uint8_t length = r.u8();
    ByteView value = r.take(length);
    if (!r.ok()) return refuse(error, "an option runs past the end");
    Reader v(value);
    switch (option) {
      case kMessageType: m.message_type = v.u8(); break;
      case kRequestedAddress: if (length == 4) m.requested_address = take_array<4>(v); break;
      case kServerIdentifier: if (length == 4) m.server_identifier = take_array<4>(v); break;
      case kSubnetMask: if (length == 4) m.subnet_mask = take_array<4>(v); break;
      case kLeaseTime: if (length == 4) m.lease_time = v.be32(); break;
      case kMtu: if (length == 2) m.mtu = v.be16(); break;
      case kRouter: m.routers = addresses(value); break;
      case kDns: m.dns_servers = addresses(value); break;
      case kParameterRequests: m.parameter_requests.assign(value.begin(), value.end()); break;
      default: break;
    }
  }
  return m;
}

Bytes build_dhcp(const DhcpMessage& m) {
  Writer w;
  w.data().reserve(kBootpMinimum);
  w.u8(m.op).u8(1).u8(6).u8(0).be(m.xid, 4).be(m.secs, 2).be(m.flags, 2);
  w.bytes(m.ciaddr).bytes(m.yiaddr).bytes(m.siaddr).bytes(m.giaddr).bytes(m.chaddr);
  w.data().resize(kFixedPart, 0);
  w.be(kMagicCookie, 4);
  if (m.message_type != 0) w.u8(kMessageType).u8(1).u8(m.message_type);
  if (m.requested_address) w.u8(kRequestedAddress).u8(4).bytes(*m.requested_address);
  if (m.server_identifier) w.u8(kServerIdentifier).u8(4).bytes(*m.server_identifier);
  if (m.lease_time) w.u8(kLeaseTime).u8(4).be(*m.lease_time, 4);
  if (m.subnet_mask) w.u8(kSubnetMask).u8(4).bytes(*m.subnet_mask);
  put_addresses(w, kRouter, m.routers);
  put_addresses(w, kDns, m.dns_servers);
  if (m.mtu) w.u8(kMtu).u8(2).be(*m.mtu, 2);
  if (!m.parameter_requests.empty()) {
    std::size_t n = std::min<std::size_t>(m.parameter_requests.size(), 255);
    w.u8(kParameterRequests).u8(static_cast<std::uint8_t>(n)).bytes(ByteView(m.parameter_requests.data(), n));
  }
  w.u8(kEnd);
  if (w.size() < kBootpMinimum) w.data().resize(kBootpMinimum, kPad);
  return w.take();
}

}  // namespace modemu::protocols::net

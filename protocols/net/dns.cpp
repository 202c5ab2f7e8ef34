#include "protocols/net/dns.hpp"

#include <algorithm>

namespace modemu::protocols::net {

namespace {

constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxName = 255;

// Reads a (possibly compressed) name starting at `at`; `next` is where the record continues.
// RFC 1035 4.1.4: a pointer is two bytes 11xxxxxx; each one must point before the label that
// holds it, which bounds the walk.
bool read_name(ByteView message, std::size_t at, std::string& name, std::size_t& next) {
  name.clear();
  std::size_t wire = 0;
  bool jumped = false;
  std::size_t limit = at;  // pointers must go below this
  while (true) {
    if (at >= message.size()) return false;
    std::uint8_t length = message[at];
    if ((length & 0xc0) == 0xc0) {
      if (at + 1 >= message.size()) return false;
      std::size_t target = (std::size_t{length & 0x3fu} << 8) | message[at + 1];
      if (!jumped) next = at + 2;
      jumped = true;
      if (target >= limit) return false;
      limit = target;
      at = target;
      continue;
    }
    if ((length & 0xc0) != 0) return false;  // 01 and 10 label types are obsolete / reserved
    if (length == 0) {
      if (!jumped) next = at + 1;
      return true;
    }
    if (at + 1 + length > message.size()) return false;
    wire += 1 + length;
    if (wire + 1 > kMaxName) return false;
    if (!name.empty()) name.push_back('.');
    name.append(reinterpret_cast<const char*>(message.data() + at + 1), length);
    at += 1 + length;
  }
}

void write_name(Writer& w, const std::string& name) {
  std::size_t wire = 0;
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    std::size_t length = std::min(dot - start, kMaxLabel);
    if (length > 0) {
      if (wire + 1 + length + 1 > kMaxName) break;
      w.u8(static_cast<std::uint8_t>(length)).text(std::string_view(name).substr(start, length));
      wire += 1 + length;
    }
    start = dot + 1;
  }
  w.u8(0);
}

bool read_records(ByteView message, Reader& r, std::uint16_t count, std::vector<DnsRecord>& out) {
  for (std::uint16_t i = 0; i < count; ++i) {
    DnsRecord rec;
    std::size_t next = 0;
    if (!read_name(message, r.position(), rec.name, next) || next < r.position()) return false;
    r.take(next - r.position());
    rec.type = r.be16();
    rec.rclass = r.be16();
    rec.ttl = r.be32();
    std::uint16_t length = r.be16();
    ByteView data = r.take(length);
    if (!r.ok()) return false;
    rec.data.assign(data.begin(), data.end());
    out.push_back(std::move(rec));
  }
  return true;
}

}  // namespace

std::optional<DnsMessage> parse_dns(ByteView message, std::string* error) {
  auto refuse = [&](const char* why) -> std::optional<DnsMessage> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  Reader r(message);
  DnsMessage m;
  m.id = r.be16();
  std::uint16_t flags = r.be16();
  std::uint16_t qdcount = r.be16();
  std::uint16_t ancount = r.be16();
  std::uint16_t nscount = r.be16();
  std::uint16_t arcount = r.be16();
  if (!r.ok()) return refuse("shorter than a DNS header");
  m.response = (flags & 0x8000) != 0;
  m.opcode = static_cast<std::uint8_t>((flags >> 11) & 0x0f);
  m.authoritative = (flags & 0x0400) != 0;
  m.truncated = (flags & 0x0200) != 0;
  m.recursion_desired = (flags & 0x0100) != 0;
  m.recursion_available = (flags & 0x0080) != 0;
  m.rcode = static_cast<std::uint8_t>(flags & 0x0f);
  for (std::uint16_t i = 0; i < qdcount; ++i) {
    DnsQuestion q;
    std::size_t next = 0;
    if (!read_name(message, r.position(), q.name, next) || next < r.position()) return refuse("bad question name");
    r.take(next - r.position());
    q.type = r.be16();
    q.qclass = r.be16();
    if (!r.ok()) return refuse("truncated question");
    m.questions.push_back(std::move(q));
  }
  if (!read_records(message, r, ancount, m.answers) || !read_records(message, r, nscount, m.authority) ||
      !read_records(message, r, arcount, m.additional)) {
    return refuse("bad resource record");
  }
  return m;
}

Bytes build_dns(const DnsMessage& m) {
  Writer w;
  std::uint16_t flags = static_cast<std::uint16_t>((m.response ? 0x8000 : 0) | ((m.opcode & 0x0f) << 11) |
                                                   (m.authoritative ? 0x0400 : 0) | (m.truncated ? 0x0200 : 0) |
                                                   (m.recursion_desired ? 0x0100 : 0) |
                                                   (m.recursion_available ? 0x0080 : 0) | (m.rcode & 0x0f));
  w.be(m.id, 2).be(flags, 2).be(m.questions.size(), 2).be(m.answers.size(), 2).be(m.authority.size(), 2);
  w.be(m.additional.size(), 2);
  for (const auto& q : m.questions) {
    write_name(w, q.name);
    w.be(q.type, 2).be(q.qclass, 2);
  }
  for (const auto* section : {&m.answers, &m.authority, &m.additional}) {
    for (const auto& rec : *section) {
      write_name(w, rec.name);
      std::size_t n = std::min<std::size_t>(rec.data.size(), 0xffff);
      w.be(rec.type, 2).be(rec.rclass, 2).be(rec.ttl, 4).be(n, 2).bytes(ByteView(rec.data.data(), n));
    }
  }
  return w.take();
}

}  // namespace modemu::protocols::net

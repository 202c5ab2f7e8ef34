#pragma once
// DNS messages (RFC 1035 section 4): header, questions and resource records, with name
// compression read (pointers must point backwards: no loops) and never written. A and AAAA
// records (RFC 3596) are what the modem's responder serves.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::net {

inline constexpr std::uint16_t kDnsPort = 53;
inline constexpr std::uint16_t kDnsTypeA = 1;
inline constexpr std::uint16_t kDnsTypeAaaa = 28;
inline constexpr std::uint16_t kDnsClassIn = 1;
// RCODE (RFC 1035 4.1.1)
inline constexpr std::uint8_t kDnsNoError = 0;
inline constexpr std::uint8_t kDnsFormatError = 1;
inline constexpr std::uint8_t kDnsNameError = 3;  // NXDOMAIN
inline constexpr std::uint8_t kDnsNotImplemented = 4;

struct DnsQuestion {
  std::string name;  // dotted, as sent (no trailing dot); "" is the root
  std::uint16_t type = 0;
  std::uint16_t qclass = kDnsClassIn;
};

struct DnsRecord {
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t rclass = kDnsClassIn;
  std::uint32_t ttl = 0;
  Bytes data;
};

struct DnsMessage {
  std::uint16_t id = 0;
  bool response = false;        // QR
  std::uint8_t opcode = 0;      // 0 standard query
  bool authoritative = false;   // AA
  bool truncated = false;       // TC
  bool recursion_desired = false;
  bool recursion_available = false;
  std::uint8_t rcode = 0;
  std::vector<DnsQuestion> questions;
  std::vector<DnsRecord> answers;
  std::vector<DnsRecord> authority;
  std::vector<DnsRecord> additional;  // EDNS OPT records land here
};

std::optional<DnsMessage> parse_dns(ByteView message, std::string* error = nullptr);
// Names longer than DNS allows (labels of 63, names of 255 bytes) are cut to fit.
Bytes build_dns(const DnsMessage& message);

}  // namespace modemu::protocols::net

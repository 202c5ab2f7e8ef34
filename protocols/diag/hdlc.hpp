#pragma once
// The HDLC-like framing of DIAG (edl-sahara-firehose.md "DIAG framing") and of Sierra's QDL
// (sierra-qdl.md "QDL framing"): payload, CRC-16 (reflected polynomial 0x8408, initial 0xFFFF,
// result inverted, little-endian), 0x7E and 0x7D escaped as 0x7D, byte ^ 0x20, and a 0x7E
// trailer. A leading 0x7E is allowed and ignored on receive.
#include <cstdint>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::diag {

std::uint16_t crc16(ByteView data);

// payload -> [0x7E] escaped payload + CRC + 0x7E. DIAG replies carry no leading flag; QDL
// targets send one.
Bytes frame(ByteView payload, bool leading_flag = false);

// Splits a byte stream at 0x7E into payloads, checking each CRC. Four outcomes:
//   kNeedMore   no complete frame yet
//   kFrame      `payload` holds a frame's payload (CRC checked and removed)
//   kMalformed  a frame with a bad CRC, a bad escape or too short for a CRC was dropped
//   kLostSync   more than kMaxFrame bytes without a 0x7E: they were dropped
class Deframer {
 public:
  enum class Outcome { kNeedMore, kFrame, kMalformed, kLostSync };
  struct Result {
    Outcome outcome = Outcome::kNeedMore;
    Bytes payload;
    std::size_t dropped = 0;
  };
  static constexpr std::size_t kMaxFrame = 16 * 1024;

  void push(ByteView bytes);
  Result next();
  void clear() { buffer_.clear(); }

 private:
  Bytes buffer_;
};

}  // namespace modemu::protocols::diag

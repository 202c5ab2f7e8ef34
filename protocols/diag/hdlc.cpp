#include "protocols/diag/hdlc.hpp"

#include <algorithm>

namespace modemu::protocols::diag {

namespace {
constexpr std::uint8_t kFlag = 0x7e;
constexpr std::uint8_t kEscape = 0x7d;
}  // namespace

std::uint16_t crc16(ByteView data) {
  std::uint16_t crc = 0xffff;
  for (std::uint8_t b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? static_cast<std::uint16_t>((crc >> 1) ^ 0x8408) : static_cast<std::uint16_t>(crc >> 1);
  }
  return static_cast<std::uint16_t>(~crc);
}

Bytes frame(ByteView payload, bool leading_flag) {
  Bytes raw(payload.begin(), payload.end());
  std::uint16_t crc = crc16(payload);
  raw.push_back(static_cast<std::uint8_t>(crc & 0xff));
  raw.push_back(static_cast<std::uint8_t>(crc >> 8));
  Bytes out;
  out.reserve(raw.size() + 4);
  if (leading_flag) out.push_back(kFlag);
  for (std::uint8_t b : raw) {
    if (b == kFlag || b == kEscape) {
      out.push_back(kEscape);
      out.push_back(static_cast<std::uint8_t>(b ^ 0x20));
    } else {
      out.push_back(b);
    }
  }
  out.push_back(kFlag);
  return out;
}

void Deframer::push(ByteView bytes) { buffer_.insert(buffer_.end(), bytes.begin(), bytes.end()); }

Deframer::Result Deframer::next() {
  Result r;
  // A leading flag (or several) opens a frame and carries nothing.
  auto first = std::find_if(buffer_.begin(), buffer_.end(), [](std::uint8_t b) { return b != kFlag; });
  buffer_.erase(buffer_.begin(), first);
  auto end = std::find(buffer_.begin(), buffer_.end(), kFlag);
  if (end == buffer_.end()) {
    if (buffer_.size() > kMaxFrame) {
      r.outcome = Outcome::kLostSync;
      r.dropped = buffer_.size();
      buffer_.clear();
    }
    return r;
  }
  Bytes raw(buffer_.begin(), end);
  buffer_.erase(buffer_.begin(), end + 1);
  Bytes unescaped;
  unescaped.reserve(raw.size());
  bool bad = false;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == kEscape) {
      if (i + 1 >= raw.size()) {
        bad = true;
        break;
      }
      unescaped.push_back(static_cast<std::uint8_t>(raw[++i] ^ 0x20));
    } else {
      unescaped.push_back(raw[i]);
    }
  }
  if (bad || unescaped.size() < 3) {
    r.outcome = Outcome::kMalformed;
    r.dropped = raw.size() + 1;
    return r;
  }
  std::size_t n = unescaped.size() - 2;
  std::uint16_t got = static_cast<std::uint16_t>(unescaped[n] | (unescaped[n + 1] << 8));
  if (crc16(ByteView(unescaped.data(), n)) != got) {
    r.outcome = Outcome::kMalformed;
    r.dropped = raw.size() + 1;
    return r;
  }
  unescaped.resize(n);
  r.outcome = Outcome::kFrame;
  r.payload = std::move(unescaped);
  return r;
}

}  // namespace modemu::protocols::diag

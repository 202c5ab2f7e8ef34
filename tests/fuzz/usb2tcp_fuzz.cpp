// Fuzz target: the usb2tcp frame reader (gadget/usb2tcp) fed a stream in pieces whose sizes the
// input chooses, against a plain reference parse of the whole stream: the same payloads in the
// same order, the framing error at the same point, never a frame beyond the limit.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gadget/usb2tcp/usb2tcp_frames.hpp"

namespace {

using modemu::gadget::Usb2TcpFrameReader;

std::uint32_t le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 | static_cast<std::uint32_t>(p[2]) << 16 |
         static_cast<std::uint32_t>(p[3]) << 24;
}

// The frames a whole stream holds (zero-length ones skipped), and whether it breaks.
void reference(const std::uint8_t* data, std::size_t size, std::vector<std::string>& frames, bool& broken) {
  std::size_t at = 0;
  broken = false;
  while (size - at >= modemu::gadget::kUsb2TcpFrameHeader) {
    std::uint32_t tag = le32(data + at), length = le32(data + at + 4);
    if (tag != modemu::gadget::kUsb2TcpTag || length > modemu::gadget::kUsb2TcpMaxFrame) {
      broken = true;
      return;
    }
    if (size - at - 8 < length) return;
    if (length != 0) frames.emplace_back(reinterpret_cast<const char*>(data + at + 8), length);
    at += 8 + length;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // The first byte: the size of each piece the socket delivers (1..256), the second: the
  // reader's starting buffer (16..4096 bytes), so that growing and compacting are exercised.
  std::size_t piece = static_cast<std::size_t>(data[0]) + 1;
  Usb2TcpFrameReader reader(16 + static_cast<std::size_t>(data[1]) * 16);
  const std::uint8_t* stream = data + 2;
  std::size_t length = size - 2;

  std::vector<std::string> expected;
  bool expect_broken = false;
  reference(stream, length, expected, expect_broken);

  std::vector<std::string> got;
  bool broken = false;
  std::size_t at = 0;
  while (!broken && at < length) {
    auto space = reader.space();
    if (space.empty()) __builtin_trap();
    std::size_t n = std::min<std::size_t>({piece, space.size(), length - at});
    std::copy(stream + at, stream + at + n, space.begin());
    reader.commit(n);
    at += n;
    std::string_view payload;
    std::string error;
    for (;;) {
      auto r = reader.next(payload, error);
      if (r == Usb2TcpFrameReader::Result::kNeedMore) break;
      if (r == Usb2TcpFrameReader::Result::kError) {
        if (error.empty()) __builtin_trap();
        broken = true;
        break;
      }
      if (payload.empty() || payload.size() > modemu::gadget::kUsb2TcpMaxFrame) __builtin_trap();
      got.emplace_back(payload);
    }
  }
  if (broken != expect_broken || got != expected) __builtin_trap();
  return 0;
}

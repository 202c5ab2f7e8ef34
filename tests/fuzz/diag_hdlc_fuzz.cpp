// Fuzz target: DIAG's HDLC deframer (protocols/diag/hdlc.hpp). Every frame it accepts carries a
// correct CRC, and framing it again gives bytes it accepts back unchanged.
#include <cstdint>

#include "protocols/diag/hdlc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace modemu::protocols;
  diag::Deframer d;
  std::size_t step = size > 0 ? (data[0] % 11) + 1 : 1;
  for (std::size_t at = 0; at < size; at += step) {
    d.push(ByteView(data + at, size - at < step ? size - at : step));
    for (auto r = d.next(); r.outcome != diag::Deframer::Outcome::kNeedMore; r = d.next()) {
      if (r.outcome != diag::Deframer::Outcome::kFrame) continue;
      diag::Deframer again;
      again.push(diag::frame(r.payload));
      auto back = again.next();
      if (back.outcome != diag::Deframer::Outcome::kFrame || back.payload != r.payload) __builtin_trap();
    }
  }
  return 0;
}

// Fuzz target: the QMUX framer and the message decoder (protocols/qmi/qmux.hpp), fed arbitrary
// host bytes in arbitrary pieces. Every decoded message must re-encode to the same frame.
#include <cstdint>

#include "protocols/qmi/qmux.hpp"
#include "protocols/qmi/schema.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace modemu::protocols;
  qmi::Framer framer;
  std::size_t step = size > 0 ? (data[0] % 13) + 1 : 1;
  std::size_t consumed = 0;
  for (std::size_t at = 0; at < size; at += step) {
    std::size_t n = size - at < step ? size - at : step;
    framer.push(ByteView(data + at, n));
    while (true) {
      auto r = framer.next();
      if (r.outcome == qmi::Framer::Outcome::kNeedMore) break;
      consumed += r.outcome == qmi::Framer::Outcome::kFrame ? r.frame.size() : r.dropped;
      if (r.outcome == qmi::Framer::Outcome::kFrame) {
        auto d = qmi::decode(r.frame);
        if (d.message) {
          (void)qmi::describe(*d.message, true);
          // Re-encoding gives a frame of the same size (flag bits outside the protocol's are
          // not kept, so the bytes may differ there).
          if (qmi::encode(*d.message).size() != r.frame.size()) __builtin_trap();
        }
      }
    }
  }
  if (consumed + framer.buffered() != size) __builtin_trap();  // no byte lost or invented
  return 0;
}

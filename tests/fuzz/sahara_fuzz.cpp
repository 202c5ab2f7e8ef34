// Fuzz target: the Sahara target (protocols/sahara) fed whatever a host might send, in pieces:
// it answers or refuses and never reads or writes outside the image it is assembling.
#include <cstdint>

#include "protocols/sahara/sahara.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace modemu::protocols;
  sahara::TargetConfig config;
  config.read_data_64 = size > 0 && (data[0] & 1);
  config.firehose_execute = size > 0 && (data[0] & 2);
  std::size_t out = 0;
  sahara::Target target(config, [&](const Bytes& b) { out += b.size(); }, [](const Bytes&) { return sahara::kSuccess; });
  target.start();
  std::size_t step = size > 1 ? (data[1] % 61) + 1 : 1;
  for (std::size_t at = 2; at < size; at += step) {
    target.receive(ByteView(data + at, size - at < step ? size - at : step));
  }
  if (target.image().size() > sahara::Target::kMaxImage + sahara::Target::kChunk) __builtin_trap();
  return 0;
}

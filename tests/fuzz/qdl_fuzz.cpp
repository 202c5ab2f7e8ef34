// Fuzz target: the QDL target (protocols/qdl) fed whatever a host might send, in pieces: framed
// and unframed messages mixed. It answers or refuses and never hands the sink more bytes than the
// image it opened announced.
#include <cstdint>

#include "protocols/qdl/qdl.hpp"

namespace {
struct CountingSink : modemu::protocols::qdl::ImageSink {
  std::uint64_t total = 0, got = 0;
  bool refuse = false;
  std::optional<modemu::protocols::qdl::Refusal> begin(std::uint8_t, std::uint64_t n) override {
    total = n;
    got = 0;
    return std::nullopt;
  }
  std::optional<modemu::protocols::qdl::Refusal> write(modemu::protocols::ByteView b) override {
    got += b.size();
    if (got > total) __builtin_trap();
    if (refuse) return modemu::protocols::qdl::Refusal{modemu::protocols::qdl::kErrImageAuth, "refused"};
    return std::nullopt;
  }
  std::optional<modemu::protocols::qdl::Refusal> finish() override {
    if (got != total) __builtin_trap();
    return std::nullopt;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace modemu::protocols;
  qdl::TargetConfig config;
  if (size > 0 && (data[0] & 1)) config.min_version = 4;
  CountingSink sink;
  sink.refuse = size > 0 && (data[0] & 2);
  std::size_t out = 0;
  qdl::Target target(config, sink, [&](const Bytes& b) { out += b.size(); });
  std::size_t step = size > 1 ? (data[1] % 61) + 1 : 1;
  for (std::size_t at = 2; at < size; at += step) {
    target.receive(ByteView(data + at, size - at < step ? size - at : step));
  }
  return 0;
}

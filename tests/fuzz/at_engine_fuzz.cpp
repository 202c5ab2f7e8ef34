// Fuzz target: the AT engine fed arbitrary host bytes in arbitrary pieces, with URCs arriving in
// between. Whatever the host sends, the engine answers and keeps working.
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/at/engine.hpp"

namespace {

struct Dispatcher : modemu::protocols::at::Dispatcher {
  std::optional<modemu::protocols::at::Outcome> execute(const modemu::protocols::at::Command& c,
                                                        modemu::protocols::at::Response& r) override {
    using modemu::protocols::at::CmeError;
    using modemu::protocols::at::Outcome;
    if (c.name == "+CSQ") {
      r.add("+CSQ: 20,99");
      return Outcome::ok();
    }
    if (c.name == "+CPIN") return Outcome::cme_error(CmeError::kSimBusy);
    if (c.name == "I") {
      r.add("Quectel");
      r.add("");
      return Outcome::ok();
    }
    return std::nullopt;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Dispatcher dispatcher;
  std::size_t produced = 0;
  modemu::protocols::at::Engine engine(dispatcher, [&](std::string_view out) { produced += out.size(); });
  // The first byte chooses how the input is cut into reads, as a host's writes arrive in pieces.
  std::size_t step = size > 0 ? (data[0] % 7) + 1 : 1;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::size_t i = 0;
  while (!rest.empty()) {
    auto piece = rest.substr(0, step);
    engine.receive(piece);
    rest.remove_prefix(piece.size());
    if (++i % 3 == 0) engine.urc("+CREG: 1");
  }
  engine.clear_input();
  // After anything at all, a clean "AT" line must still be answered (unless the host chose
  // quiet mode, or made a letter its line end or editing character).
  const char s3 = static_cast<char>(engine.settings().s3());
  const char s5 = static_cast<char>(engine.settings().s5());
  auto plain = [](char c) { return !std::isalnum(static_cast<unsigned char>(c)) && c != '/'; };
  if (engine.settings().quiet || !plain(s3) || !plain(s5)) return 0;
  std::size_t before = produced;
  engine.receive(std::string("AT") + s3);
  if (produced == before) __builtin_trap();
  return 0;
}

// Fuzz target: the AT command line parser (protocols/at/command.hpp).
#include <cstdint>
#include <string_view>

#include "protocols/at/command.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto parsed = modemu::protocols::at::parse_line(line);
  for (const auto& command : parsed.commands) {
    (void)command.to_string();
    for (const auto& arg : command.args) (void)arg.as_int(-1000000, 1000000);
  }
  if (parsed.error && parsed.error->column > size) __builtin_trap();  // the column must be in the line
  return 0;
}

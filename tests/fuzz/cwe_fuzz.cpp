// Fuzz target: the CWE image parser (protocols/cwe) and the version-string parser fed whatever a
// host might download: it decodes or says what is wrong and where, and never reads outside the
// input. A decoded tree must be self-consistent (children inside their package, offsets in order).
#include <cstdint>

#include "protocols/cwe/cwe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace modemu::protocols;
  ByteView input(data, size);
  auto parsed = cwe::parse(input);
  if (parsed) {
    for (const cwe::Image* img : cwe::flatten(*parsed.image)) {
      if (img->offset + cwe::kHeaderSize + img->data.size() > size) __builtin_trap();
      if (img->data.data() != data + img->offset + cwe::kHeaderSize) __builtin_trap();
      // Whatever parses re-encodes to the same bytes.
      auto again = cwe::parse(cwe::encode(img->header, img->data));
      if (!again || again.image->header.version != img->header.version) __builtin_trap();
    }
  } else if (parsed.error.offset > size) {
    __builtin_trap();
  }
  cwe::parse_header(input);
  auto v = cwe::parse_version(as_chars(input));
  if (v && v->firmware.size() != 11) __builtin_trap();
  return 0;
}

// Fuzz target: the Firehose target (protocols/firehose) fed whatever a host might send, in
// pieces, over a small in-memory flash (1 MiB, 2048-byte pages, 64 per block) that can be told to
// fail, and that may take whole images placed by the programmer (start_sector -1). It answers or refuses; every reply outside a raw phase is one well-formed document of
// under 512 bytes; it never touches the flash outside its size.
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/firehose/firehose.hpp"

namespace {

using namespace modemu::protocols;

class Flash : public firehose::Storage {
 public:
  static constexpr std::uint64_t kSize = 1u << 20;
  Flash() : data_(kSize, 0xff) {}
  int fail_write_after = -1;  // write calls before one fails (-1: never)
  bool fail_read = false, fail_erase = false;
  bool placing = false;  // takes whole images to start_sector -1 (the EM7565's programmer)
  std::uint64_t placed_length = 0, placed = 0;

  std::uint32_t page_size() const override { return 2048; }
  std::uint32_t pages_per_block() const override { return 64; }
  std::uint64_t size_bytes() const override { return kSize; }
  bool write(std::uint64_t offset, ByteView data, std::string& error) override {
    if (fail_write_after == 0) {
      error = "injected";
      return false;
    }
    if (fail_write_after > 0) --fail_write_after;
    if (offset > kSize || data.size() > kSize - offset) __builtin_trap();
    std::copy(data.begin(), data.end(), data_.begin() + static_cast<std::ptrdiff_t>(offset));
    return true;
  }
  bool read(std::uint64_t offset, std::size_t length, Bytes& out, std::string& error) override {
    if (offset > kSize || length > kSize - offset) __builtin_trap();
    if (fail_read) {
      error = "injected";
      return false;
    }
    out.assign(data_.begin() + static_cast<std::ptrdiff_t>(offset),
               data_.begin() + static_cast<std::ptrdiff_t>(offset + length));
    return true;
  }
  bool erase(std::uint64_t offset, std::uint64_t length, std::string& error) override {
    if (offset > kSize || length > kSize - offset) __builtin_trap();
    if (fail_erase) {
      error = "injected";
      return false;
    }
    std::fill_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), length, 0xff);
    return true;
  }
  bool places_images() const override { return placing; }
  bool begin_placed(std::uint64_t length, std::string&) override {
    if (length > kSize) __builtin_trap();
    placed_length = length;
    placed = 0;
    return true;
  }
  bool write_placed(ByteView data, std::string& error) override {
    placed += data.size();
    if (placed > placed_length) __builtin_trap();
    if (fail_write_after == 0) {
      error = "injected";
      return false;
    }
    return true;
  }
  bool finish_placed(std::string& error) override {
    if (placed != placed_length) __builtin_trap();
    if (fail_erase) error = "injected";
    return !fail_erase;
  }

 private:
  Bytes data_;
};

bool is_document(std::string_view s) {
  constexpr std::string_view kHeader = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<";
  return s.size() <= firehose::kMaxDocument && s.substr(0, kHeader.size()) == kHeader && s.size() >= 8 &&
         s.substr(s.size() - 8) == "\n</data>" && s.find('\r') == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Flash flash;
  if (size > 0) {
    flash.fail_write_after = (data[0] & 0x0f) == 0x0f ? -1 : (data[0] & 0x0f) * 3;
    flash.fail_read = data[0] & 0x10;
    flash.fail_erase = data[0] & 0x20;
    flash.placing = data[0] & 0x40;
  }
  bool raw = false;  // between an ACK rawmode="true" and the ACK or NAK that ends the phase
  firehose::Target target({}, flash, [&](const Bytes& b) {
    if (b.empty()) __builtin_trap();
    std::string_view s = as_chars(b);
    if (raw && !is_document(s)) return;  // read data
    if (!is_document(s)) __builtin_trap();
    if (s.find("rawmode=\"true\"") != std::string_view::npos) raw = true;
    if (s.find("rawmode=\"false\"") != std::string_view::npos) raw = false;
  });
  target.start();
  std::size_t step = size > 1 ? (data[1] % 97) + 1 : 1;
  for (std::size_t at = 2; at < size; at += step) {
    target.receive(ByteView(data + at, size - at < step ? size - at : step));
  }
  return 0;
}

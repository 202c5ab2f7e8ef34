#pragma once
// Byte order and bounds-checked reading and writing, the one place protocols turn bytes into
// integers (never a struct cast).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace modemu::protocols {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// Reads little- or big-endian integers from a view; every read checks the bounds and a failed
// read leaves the reader failed (ok() == false) so that callers test once at the end.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}
  std::size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  std::size_t position() const { return pos_; }
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && pos_ == data_.size(); }

  std::uint64_t le(std::size_t width) { return read(width, false); }
  std::uint64_t be(std::size_t width) { return read(width, true); }
  std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
  std::uint16_t le16() { return static_cast<std::uint16_t>(le(2)); }
  std::uint32_t le32() { return static_cast<std::uint32_t>(le(4)); }
  std::uint16_t be16() { return static_cast<std::uint16_t>(be(2)); }
  std::uint32_t be32() { return static_cast<std::uint32_t>(be(4)); }
  ByteView take(std::size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    ByteView out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  ByteView rest() { return take(remaining()); }

 private:
  std::uint64_t read(std::size_t width, bool big) {
    ByteView b = take(width);
    if (b.size() != width) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i) {
      std::uint64_t byte = b[big ? i : width - 1 - i];
      v = (v << 8) | byte;
    }
    return v;
  }

  ByteView data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

class Writer {
 public:
  Writer& le(std::uint64_t v, std::size_t width) {
    for (std::size_t i = 0; i < width; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Writer& be(std::uint64_t v, std::size_t width) {
    for (std::size_t i = width; i-- > 0;) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Writer& u8(std::uint8_t v) { return le(v, 1); }
  Writer& le16(std::uint16_t v) { return le(v, 2); }
  Writer& le32(std::uint32_t v) { return le(v, 4); }
  Writer& bytes(ByteView b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
  }
  Writer& text(std::string_view s) { return bytes(as_bytes(s)); }
  // A fixed-width text field: `s` cut to `width`, padded with NULs.
  Writer& padded(std::string_view s, std::size_t width) {
    s = s.substr(0, width);
    text(s);
    out_.insert(out_.end(), width - s.size(), 0);
    return *this;
  }
  // Overwrites a little-endian field written earlier (lengths known only at the end).
  void patch_le(std::size_t at, std::uint64_t v, std::size_t width) {
    for (std::size_t i = 0; i < width; ++i) out_[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  std::size_t size() const { return out_.size(); }
  Bytes& data() { return out_; }
  Bytes take() { return std::move(out_); }

 private:
  Bytes out_;
};

// "01 0f 00 ..." for logs and test messages.
std::string hex(ByteView data, std::size_t limit = 256);
// Parses "01 0F 00" (spaces optional); nothing on a bad digit.
std::optional<Bytes> parse_hex(std::string_view text);

}  // namespace modemu::protocols

#include "protocols/cwe/cwe.hpp"

#include <fmt/format.h>

#include "protocols/common/crc32.hpp"

namespace modemu::protocols::cwe {

namespace {

// Field widths of the header (sierra-qdl.md).
constexpr std::size_t kTypeSize = 4, kProductSize = 4, kVersionSize = 84, kDateSize = 8, kReserved2Size = 20;

// qmi-firmware-update's rule: printable characters, then only NULs to the end of the field.
bool ascii_field(ByteView field, std::string& out) {
  std::size_t len = 0;
  while (len < field.size() && field[len] != 0) ++len;
  for (std::size_t i = 0; i < len; ++i) {
    if (field[i] < 0x20 || field[i] > 0x7e) return false;
  }
  for (std::size_t i = len; i < field.size(); ++i) {
    if (field[i] != 0) return false;
  }
  out.assign(reinterpret_cast<const char*>(field.data()), len);
  return true;
}

Parsed fail(std::size_t offset, std::string message) { return Parsed{std::nullopt, Error{offset, std::move(message)}}; }

Parsed parse_at(ByteView all, std::size_t offset, std::size_t end, int depth) {
  if (depth > kMaxDepth) return fail(offset, fmt::format("packages nested deeper than {} levels", kMaxDepth));
  Error herr;
  auto header = parse_header(all.subspan(offset, end - offset), &herr);
  if (!header) return fail(offset + herr.offset, herr.message);
  std::size_t size = header->image_size;
  if (end - offset - kHeaderSize < size) {
    return fail(offset, fmt::format("{} image of {} bytes does not fit: {} bytes follow its header", header->type, size,
                                    end - offset - kHeaderSize));
  }
  Image image;
  image.offset = offset;
  image.data = all.subspan(offset + kHeaderSize, size);
  if (header->value == kCrcValid && crc32(image.data) != header->image_crc) {
    return fail(offset + kHeaderSize, fmt::format("{} image CRC {:#010x} does not match its data ({:#010x})", header->type,
                                                  header->image_crc, crc32(image.data)));
  }
  image.header = std::move(*header);
  if (image.header.type == kPackage) {
    std::size_t at = offset + kHeaderSize;
    std::size_t stop = at + size;
    if (at == stop) return fail(offset, "empty package: no images inside");
    while (at < stop) {
      Parsed child = parse_at(all, at, stop, depth + 1);
      if (!child) return child;
      at = child.image->offset + kHeaderSize + child.image->data.size();
      image.children.push_back(std::move(*child.image));
    }
  }
  return Parsed{std::move(image), {}};
}

bool digits(std::string_view s, std::size_t at, std::size_t n) {
  if (at + n > s.size()) return false;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// "_dd.dd.dd.dd" at `at`.
bool firmware_at(std::string_view s, std::size_t at) {
  return at + 12 <= s.size() && s[at] == '_' && digits(s, at + 1, 2) && s[at + 3] == '.' && digits(s, at + 4, 2) &&
         s[at + 6] == '.' && digits(s, at + 7, 2) && s[at + 9] == '.' && digits(s, at + 10, 2);
}

// "_ddd.ddd_ddd" at `at`.
bool config_at(std::string_view s, std::size_t at) {
  return at + 12 <= s.size() && s[at] == '_' && digits(s, at + 1, 3) && s[at + 4] == '.' && digits(s, at + 5, 3) &&
         s[at + 8] == '_' && digits(s, at + 9, 3);
}

bool carrier_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'; }

}  // namespace

std::string Error::describe() const { return fmt::format("at byte {}: {}", offset, message); }

std::optional<Header> parse_header(ByteView bytes, Error* error) {
  auto fail_header = [&](std::size_t at, std::string message) -> std::optional<Header> {
    if (error != nullptr) *error = Error{at, std::move(message)};
    return std::nullopt;
  };
  if (bytes.size() < kHeaderSize) {
    return fail_header(0, fmt::format("CWE header needs {} bytes, {} given", kHeaderSize, bytes.size()));
  }
  Reader r(bytes.first(kHeaderSize));
  ByteView reserved = r.take(kReservedSize);
  Header h;
  h.crc = r.be32();
  h.revision = r.be32();
  h.value = r.be32();
  ByteView type = r.take(kTypeSize);
  ByteView product = r.take(kProductSize);
  h.image_size = r.be32();
  h.image_crc = r.be32();
  ByteView version = r.take(kVersionSize);
  ByteView date = r.take(kDateSize);
  h.compatibility = r.be32();
  r.take(kReserved2Size);
  if (crc32(reserved) != h.crc) {
    return fail_header(kReservedSize, fmt::format("header CRC {:#010x} does not match its reserved block ({:#010x})", h.crc,
                                                  crc32(reserved)));
  }
  if (!ascii_field(type, h.type) || h.type.size() != kTypeSize) return fail_header(268, "image type is not four letters");
  if (!ascii_field(product, h.product)) return fail_header(272, "product code is not ASCII text");
  if (!ascii_field(version, h.version)) return fail_header(284, "version is not NUL-padded ASCII text");
  if (!ascii_field(date, h.date)) return fail_header(368, "date is not NUL-padded ASCII text");
  if (h.image_size == 0) return fail_header(276, "image size is 0");
  return h;
}

Parsed parse(ByteView bytes) {
  Parsed p = parse_at(bytes, 0, bytes.size(), 0);
  if (!p) return p;
  std::size_t used = kHeaderSize + p.image->data.size();
  if (used != bytes.size()) {
    return fail(used, fmt::format("{} bytes after the {} image", bytes.size() - used, p.image->header.type));
  }
  return p;
}

Bytes encode(Header h, ByteView data) {
  Writer w;
  Bytes reserved(kReservedSize, 0);
  w.bytes(reserved);
  w.be(crc32(reserved), 4);
  w.be(h.revision, 4).be(h.value, 4);
  w.padded(h.type, kTypeSize).padded(h.product, kProductSize);
  w.be(data.size(), 4).be(crc32(data), 4);
  w.padded(h.version, kVersionSize).padded(h.date, kDateSize);
  w.be(h.compatibility, 4);
  w.bytes(Bytes(kReserved2Size, 0));
  w.bytes(data);
  return w.take();
}

Bytes encode_package(Header h, const std::vector<Bytes>& images) {
  Bytes data;
  for (const auto& img : images) data.insert(data.end(), img.begin(), img.end());
  return encode(std::move(h), data);
}

std::vector<const Image*> flatten(const Image& root) {
  std::vector<const Image*> out{&root};
  for (const auto& c : root.children) {
    auto sub = flatten(c);
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::optional<VersionInfo> parse_version(std::string_view s) {
  // The last "_dd.dd.dd.dd" is the firmware (the pattern's leading ".*" is greedy).
  std::optional<std::size_t> fw;
  for (std::size_t i = 0; i + 12 <= s.size(); ++i) {
    if (firmware_at(s, i)) fw = i;
  }
  if (!fw) return std::nullopt;
  VersionInfo v;
  v.firmware = std::string(s.substr(*fw + 1, 11));
  // After it, the last "_<letters>_ddd.ddd_ddd".
  for (std::size_t j = s.size() >= 12 ? s.size() - 12 + 1 : 0; j-- > *fw + 12;) {
    if (!config_at(s, j)) continue;
    std::size_t k = j;
    while (k > *fw + 12 && carrier_char(s[k - 1])) --k;
    if (k == j || k == 0 || s[k - 1] != '_' || k - 1 < *fw + 12) continue;
    v.carrier = std::string(s.substr(k, j - k));
    v.config = std::string(s.substr(j + 1, 11));
    break;
  }
  return v;
}

}  // namespace modemu::protocols::cwe

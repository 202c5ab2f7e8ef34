#pragma once
// Sierra Wireless CWE images (.cwe, .spk, .nvu), as qmi-firmware-update reads them and the
// modules' boot loaders take them over QDL or Firehose (shared/reference/sierra-qdl.md "CWE
// images").
//
// A 400-byte header, every 32-bit field big-endian:
//   reserved1[256]  crc u32 (of reserved1)  revision u32  value u32 (CRC valid indicator)
//   type[4]  product[4]  image size u32  image crc u32  version[84]  date[8]  compatibility u32
//   reserved2[20]
// then `image size` bytes. A package (type SPKG) holds further CWE images back to back, which
// may nest again. Text fields are printable ASCII, NUL padded (the check qmi-firmware-update
// applies before it trusts a header).
//
// The checksums: Sierra does not document which CRC-32 its tools compute; modemu uses the IEEE
// CRC-32 for both the header's and the image's, writes them in every image it builds and checks
// them in every image a host sends. `value` = kCrcValid says the image CRC is meaningful.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::cwe {

constexpr std::size_t kHeaderSize = 400;
constexpr std::size_t kReservedSize = 256;
constexpr std::uint32_t kCrcValid = 1;
constexpr std::uint32_t kRevision = 3;
// Packages deeper than this are refused (a real package nests two levels at most).
constexpr int kMaxDepth = 8;

// Image types (the four ASCII letters of `type`).
inline constexpr std::string_view kPackage = "SPKG";      // package of images
inline constexpr std::string_view kBoot = "BOOT";         // boot loader
inline constexpr std::string_view kApplication = "APPL";  // modem firmware (the application)
inline constexpr std::string_view kCarrier = "NVUP";      // carrier configuration (PRI) update

struct Header {
  std::uint32_t crc = 0;       // of the reserved block (computed when encoding)
  std::uint32_t revision = kRevision;
  std::uint32_t value = kCrcValid;
  std::string type;            // "SPKG"
  std::string product;         // "9X30"
  std::uint32_t image_size = 0;
  std::uint32_t image_crc = 0;
  std::string version;         // "SWI9X30C_02.30.01.01", "_02.30.01.01_GENERIC_002.079_000"
  std::string date;            // "11/21/26"
  std::uint32_t compatibility = 0;
};

struct Image {
  Header header;
  std::size_t offset = 0;        // of its header in the buffer given to parse()
  ByteView data;                 // the `image size` bytes after the header (views the input)
  std::vector<Image> children;   // the images of a package, in order
};

// What is wrong with an image, and where: byte offset from the start of the buffer.
struct Error {
  std::size_t offset = 0;
  std::string message;
  std::string describe() const;  // "at byte 400: image CRC 0x... does not match ..."
};

struct Parsed {
  std::optional<Image> image;
  Error error;
  explicit operator bool() const { return image.has_value(); }
};

// Decodes the header at the start of `bytes` only (the QDL OPEN carries it alone).
std::optional<Header> parse_header(ByteView bytes, Error* error = nullptr);

// Decodes a whole image: header checks, length, image CRC, and the nested images of packages,
// which must fill the package exactly. Trailing bytes after the image are an error.
Parsed parse(ByteView bytes);

// Encodes one image: the header (with its CRCs and size computed) followed by `data`.
Bytes encode(Header header, ByteView data);
// A package of `type` (normally SPKG) whose data are the given encoded images.
Bytes encode_package(Header header, const std::vector<Bytes>& images);

// Every image of a tree in depth-first order (the package first).
std::vector<const Image*> flatten(const Image& root);

// The versions qmi-firmware-update reads from a version string (sierra-qdl.md):
// "_dd.dd.dd.dd" is the firmware, an optional later "_<carrier>_ddd.ddd_ddd" the carrier and its
// configuration version.
struct VersionInfo {
  std::string firmware;  // "02.30.01.01"
  std::string carrier;   // "GENERIC"
  std::string config;    // "002.079_000"
};
std::optional<VersionInfo> parse_version(std::string_view text);

}  // namespace modemu::protocols::cwe

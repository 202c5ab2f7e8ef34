#pragma once
// Firmware images as modemu's packages carry them and its boot chain reads them back.
//
// Every image starts with a 1024-byte header: what it is (partition label, hardware, version),
// the size and CRC-32 of the payload that follows, and, in the SBL, the partition table the boot
// chain follows to the next images. The header ends with its own CRC-32. A partition whose header
// or payload does not check out is unusable, exactly as a torn or erased one is on a real module.
//
// The Firehose programmer is a small ELF32 image whose loadable segment opens with a descriptor
// naming the MSM it runs on and the memory it drives; the primary bootloader refuses any other.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modemu/profile/profile.pb.h"
#include "protocols/common/bytes.hpp"
#include "protocols/common/crc32.hpp"

namespace modemu::emulator::firmware {

constexpr std::size_t kHeaderSize = 1024;
constexpr std::size_t kMaxTable = 24;

using protocols::Crc32;
using protocols::crc32;

struct TableEntry {
  std::string label;
  std::uint32_t start_block = 0;
  std::uint32_t blocks = 0;
};

struct ImageHeader {
  std::string label;          // partition label: "sbl", "modem", ...
  std::string hardware;       // the profile's model: "EG12"
  std::string version;        // "EG12EAPAR01A12M4G"
  std::string full_revision;  // "EG12EAPAR01A12M4G_01.001.01.001"
  std::uint64_t payload_size = 0;
  std::uint32_t payload_crc = 0;
  std::vector<TableEntry> table;  // the SBL's partition table: what the boot chain loads next
};

protocols::Bytes encode_header(const ImageHeader& h);
// The header, or nothing with `why` saying what is wrong (erased, bad magic, bad CRC).
std::optional<ImageHeader> decode_header(protocols::ByteView bytes, std::string& why);

// Where each partition of the profile's flash lies.
struct Placement {
  const profile::FlashPartition* partition = nullptr;
  std::uint32_t start_block = 0;
  std::uint64_t offset = 0;  // bytes
  std::uint64_t size = 0;    // bytes
};
std::uint64_t block_bytes(const profile::Flash& f);
std::vector<Placement> layout(const profile::Flash& f);
// "p2K_b128K", as Quectel names its rawprogram and patch files.
std::string geometry_name(std::uint32_t page_size, std::uint32_t pages_per_block);

struct Image {
  Placement place;
  std::string file;       // name in the package's update/ directory
  protocols::Bytes data;  // header + payload
};

// The images of one firmware version for a profile. `extra_bytes` grows the largest partition's
// payload (big packages for benchmarks); throws std::invalid_argument when it does not fit.
std::vector<Image> build_images(const profile::Profile& p, const profile::Firmware& fw, std::uint64_t extra_bytes = 0);

// The Firehose programmer for a profile.
protocols::Bytes build_programmer(const profile::Profile& p);
// A Sahara status: 0 when `elf` is a programmer for this profile, else why not.
std::uint32_t check_programmer(const profile::Profile& p, protocols::ByteView elf, std::string& why);

}  // namespace modemu::emulator::firmware

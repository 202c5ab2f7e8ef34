#include "emulator/firmware/image.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "protocols/sahara/sahara.hpp"

namespace modemu::emulator::firmware {

using protocols::ByteView;
using protocols::Bytes;
using protocols::Reader;
using protocols::Writer;

namespace {

constexpr char kMagic[8] = {'M', 'D', 'M', 'U', 'I', 'M', 'G', '1'};
constexpr std::uint32_t kFormat = 1;
constexpr char kProgrammerMagic[16] = {'M', 'O', 'D', 'E', 'M', 'U', '-', 'F', 'I', 'R', 'E', 'H', 'O', 'S', 'E', 0};

// Fixed-width text that always keeps a terminating NUL.
void fixed(Writer& w, std::string_view s, std::size_t width) { w.padded(s.substr(0, width - 1), width); }

std::string unfixed(ByteView b) {
  auto end = std::find(b.begin(), b.end(), std::uint8_t{0});
  return std::string(b.begin(), end);
}

// Deterministic filler, different for every image and version, so that a package of one
// version never passes for another and a torn write is always caught by the CRC.
void fill(Bytes& out, std::size_t at, std::size_t n, std::string_view seed_text) {
  std::uint64_t s = 1469598103934665603ull;
  for (char c : seed_text) s = (s ^ static_cast<std::uint8_t>(c)) * 1099511628211ull;
  std::size_t i = 0;
  while (i < n) {
    s += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::size_t k = std::min<std::size_t>(8, n - i);
    std::memcpy(out.data() + at + i, &z, k);
    i += k;
  }
}

}  // namespace

Bytes encode_header(const ImageHeader& h) {
  Writer w;
  w.bytes(protocols::as_bytes(std::string_view(kMagic, sizeof kMagic)));
  w.le32(static_cast<std::uint32_t>(kHeaderSize)).le32(kFormat);
  fixed(w, h.label, 32);
  fixed(w, h.hardware, 32);
  fixed(w, h.version, 64);
  fixed(w, h.full_revision, 96);
  w.le(h.payload_size, 8).le32(h.payload_crc);
  std::size_t n = std::min(h.table.size(), kMaxTable);
  w.le32(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    fixed(w, h.table[i].label, 16);
    w.le32(h.table[i].start_block).le32(h.table[i].blocks);
  }
  Bytes out = w.take();
  out.resize(kHeaderSize - 4, 0);
  std::uint32_t crc = crc32(out);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
  return out;
}

std::optional<ImageHeader> decode_header(ByteView bytes, std::string& why) {
  if (bytes.size() < kHeaderSize) {
    why = "short header";
    return std::nullopt;
  }
  if (std::all_of(bytes.begin(), bytes.begin() + kHeaderSize, [](std::uint8_t b) { return b == 0xff; })) {
    why = "erased";
    return std::nullopt;
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    why = "no image header";
    return std::nullopt;
  }
  Reader crc_reader(bytes.subspan(kHeaderSize - 4, 4));
  if (crc32(bytes.first(kHeaderSize - 4)) != crc_reader.le32()) {
    why = "header CRC mismatch";
    return std::nullopt;
  }
  Reader r(bytes.first(kHeaderSize - 4));
  r.take(sizeof kMagic);
  std::uint32_t header_size = r.le32();
  std::uint32_t format = r.le32();
  if (header_size != kHeaderSize || format != kFormat) {
    why = fmt::format("unknown image format {} (header {} bytes)", format, header_size);
    return std::nullopt;
  }
  ImageHeader h;
  h.label = unfixed(r.take(32));
  h.hardware = unfixed(r.take(32));
  h.version = unfixed(r.take(64));
  h.full_revision = unfixed(r.take(96));
  h.payload_size = r.le(8);
  h.payload_crc = r.le32();
  std::uint32_t n = r.le32();
  if (n > kMaxTable) {
    why = "partition table too long";
    return std::nullopt;
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    TableEntry e;
    e.label = unfixed(r.take(16));
    e.start_block = r.le32();
    e.blocks = r.le32();
    h.table.push_back(std::move(e));
  }
  if (!r.ok()) {
    why = "truncated header";
    return std::nullopt;
  }
  return h;
}

std::uint64_t block_bytes(const profile::Flash& f) {
  return static_cast<std::uint64_t>(f.page_size()) * f.pages_per_block();
}

std::vector<Placement> layout(const profile::Flash& f) {
  std::vector<Placement> out;
  std::uint32_t block = 0;
  for (const auto& p : f.partitions()) {
    out.push_back(Placement{&p, block, block * block_bytes(f), p.blocks() * block_bytes(f)});
    block += p.blocks();
  }
  return out;
}

std::string geometry_name(std::uint32_t page_size, std::uint32_t pages_per_block) {
  return fmt::format("p{}K_b{}K", page_size / 1024, page_size * pages_per_block / 1024);
}

std::vector<Image> build_images(const profile::Profile& p, const profile::Firmware& fw, std::uint64_t extra_bytes) {
  const auto& flash = p.flash();
  auto places = layout(flash);
  std::vector<TableEntry> table;
  for (const auto& pl : places) {
    if (pl.partition->boot() && pl.offset != 0) table.push_back({pl.partition->label(), pl.start_block, pl.partition->blocks()});
  }
  // The partition that takes `extra_bytes`: the largest one with an image.
  const Placement* largest = nullptr;
  for (const auto& pl : places) {
    if (!pl.partition->file().empty() && (largest == nullptr || pl.size > largest->size)) largest = &pl;
  }
  std::vector<Image> images;
  for (const auto& pl : places) {
    if (pl.partition->file().empty()) continue;
    ImageHeader h;
    h.label = pl.partition->label();
    h.hardware = p.identity().model();
    h.version = fw.version();
    h.full_revision = fw.full_revision().empty() ? fw.version() : fw.full_revision();
    if (pl.offset == 0) h.table = table;
    // A few pages of payload, different in size per image, plus what the caller asked for.
    std::uint64_t size = 3 * flash.page_size() + (crc32(protocols::as_bytes(h.label)) % flash.page_size());
    if (&pl == largest) size += extra_bytes;
    if (size + kHeaderSize > pl.size) {
      throw std::invalid_argument(fmt::format("image {} ({} bytes) does not fit partition {} ({} bytes)",
                                              pl.partition->file(), size + kHeaderSize, h.label, pl.size));
    }
    Image img{pl, pl.partition->file(), Bytes(kHeaderSize + size)};
    fill(img.data, kHeaderSize, size, h.label + "/" + h.version);
    h.payload_size = size;
    h.payload_crc = crc32(ByteView(img.data).subspan(kHeaderSize));
    Bytes header = encode_header(h);
    std::copy(header.begin(), header.end(), img.data.begin());
    images.push_back(std::move(img));
  }
  return images;
}

// ELF32, little-endian, ARM: the header, one program header, one loadable segment at 4 KiB that
// opens with the programmer descriptor.
Bytes build_programmer(const profile::Profile& p) {
  const auto& f = p.flash();
  constexpr std::uint32_t kSegmentOffset = 0x1000;
  constexpr std::uint32_t kSegmentSize = 96 * 1024;
  constexpr std::uint32_t kLoadAddress = 0x08000000;
  Writer w;
  w.bytes(std::array<std::uint8_t, 16>{0x7f, 'E', 'L', 'F', 1, 1, 1, 0});
  w.le16(2).le16(40).le32(1);             // ET_EXEC, EM_ARM, EV_CURRENT
  w.le32(kLoadAddress).le32(52).le32(0);  // entry, phoff, shoff
  w.le32(0x05000000).le16(52).le16(32).le16(1).le16(40).le16(0).le16(0);
  w.le32(1).le32(kSegmentOffset).le32(kLoadAddress).le32(kLoadAddress);  // PT_LOAD
  w.le32(kSegmentSize).le32(kSegmentSize).le32(7).le32(0x1000);
  Bytes out = w.take();
  out.resize(kSegmentOffset + kSegmentSize, 0);
  Writer d;
  d.bytes(protocols::as_bytes(std::string_view(kProgrammerMagic, sizeof kProgrammerMagic)));
  d.le32(kFormat).le32(f.msm_hw_id());
  fixed(d, f.memory_name(), 16);
  fixed(d, f.target_name(), 16);
  fixed(d, p.identity().model(), 16);
  std::copy(d.data().begin(), d.data().end(), out.begin() + kSegmentOffset);
  fill(out, kSegmentOffset + d.size(), kSegmentSize - d.size(), "programmer/" + p.name());
  return out;
}

std::uint32_t check_programmer(const profile::Profile& p, ByteView elf, std::string& why) {
  namespace sahara = protocols::sahara;
  const ByteView magic = protocols::as_bytes(std::string_view(kProgrammerMagic, sizeof kProgrammerMagic));
  auto it = std::search(elf.begin(), elf.end(), magic.begin(), magic.end());
  if (it == elf.end()) {
    why = "not a Firehose programmer for this module (no programmer descriptor; image not authenticated)";
    return sahara::kHashVerificationFailure;
  }
  Reader r(elf.subspan(static_cast<std::size_t>(it - elf.begin()) + magic.size()));
  r.le32();  // format
  std::uint32_t hw = r.le32();
  std::string memory = unfixed(r.take(16));
  std::string target = unfixed(r.take(16));
  std::string hardware = unfixed(r.take(16));
  if (!r.ok()) {
    why = "truncated programmer descriptor";
    return sahara::kHashVerificationFailure;
  }
  if (hw != p.flash().msm_hw_id() || memory != p.flash().memory_name()) {
    why = fmt::format("programmer for MSM 0x{:08x} ({}, {} memory, built for {}); this module is MSM 0x{:08x} ({})", hw,
                      target, memory, hardware, p.flash().msm_hw_id(), p.flash().memory_name());
    return sahara::kHashVerificationFailure;
  }
  return sahara::kSuccess;
}

}  // namespace modemu::emulator::firmware

#include "emulator/firmware/boot.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace modemu::emulator::firmware {

using protocols::ByteView;
using protocols::Bytes;

namespace {

constexpr std::string_view kFlagMagic = "MODEMU-DLOAD-SET";

const Placement* find_placement(const std::vector<Placement>& places, std::string_view label) {
  for (const auto& pl : places) {
    if (pl.partition->label() == label) return &pl;
  }
  return nullptr;
}

// The image at `offset`, checked: header, label, hardware, payload CRC.
std::optional<ImageHeader> check_image(const profile::Profile& p, const Flash& flash, std::uint64_t offset,
                                       std::uint64_t room, std::string_view label, std::string& why) {
  Bytes header;
  if (!flash.read(offset, kHeaderSize, header, why)) return std::nullopt;
  auto h = decode_header(header, why);
  if (!h) return std::nullopt;
  if (h->label != label) {
    why = fmt::format("holds an image for partition \"{}\"", h->label);
    return std::nullopt;
  }
  if (h->hardware != p.identity().model()) {
    why = fmt::format("image built for {} (this module is {})", h->hardware, p.identity().model());
    return std::nullopt;
  }
  if (h->payload_size > room - kHeaderSize) {
    why = "image larger than its partition";
    return std::nullopt;
  }
  Crc32 crc;
  Bytes chunk;
  for (std::uint64_t at = 0; at < h->payload_size; at += 1 << 20) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(1 << 20, h->payload_size - at));
    if (!flash.read(offset + kHeaderSize + at, n, chunk, why)) return std::nullopt;
    crc.update(chunk);
  }
  if (crc.value() != h->payload_crc) {
    why = "payload CRC mismatch (torn or partial write)";
    return std::nullopt;
  }
  return h;
}

}  // namespace

BootVerdict read_boot_chain(const profile::Profile& p, const Flash& flash) {
  BootVerdict v;
  auto places = layout(p.flash());
  if (places.empty() || places.front().offset != 0) {
    v.reason = "profile has no SBL partition at the start of the flash";
    return v;
  }
  const Placement& sbl_place = places.front();
  std::string why;
  auto sbl = check_image(p, flash, 0, sbl_place.size, sbl_place.partition->label(), why);
  if (!sbl) {
    v.mode = profile::EDL;
    v.reason = fmt::format("SBL unusable ({}): primary bootloader stays in emergency download", why);
    return v;
  }
  const Placement* version_place = nullptr;
  for (const auto& pl : places) {
    if (pl.partition->carries_version()) version_place = &pl;
  }
  // The version as far as the flash tells it, even when the boot stops early.
  auto take_version = [&](const ImageHeader& h) {
    v.version = h.version;
    v.full_revision = h.full_revision;
  };
  take_version(*sbl);
  if (download_flag(p, flash)) {
    v.mode = profile::QUECTEL_DOWNLOAD;
    v.reason = "download flag set (an update did not finish): SBL enters download mode";
    return v;
  }
  for (const auto& entry : sbl->table) {
    const Placement* pl = find_placement(places, entry.label);
    std::uint64_t offset = static_cast<std::uint64_t>(entry.start_block) * flash.block_bytes();
    std::uint64_t room = static_cast<std::uint64_t>(entry.blocks) * flash.block_bytes();
    if (pl == nullptr || offset + room > flash.size()) {
      v.mode = profile::EDL;
      v.reason = fmt::format("SBL partition table names \"{}\" at block {}, which this flash does not have", entry.label,
                             entry.start_block);
      return v;
    }
    auto h = check_image(p, flash, offset, room, entry.label, why);
    if (!h) {
      v.mode = profile::EDL;
      v.reason = fmt::format("image \"{}\" unusable ({}): SBL falls back to emergency download", entry.label, why);
      return v;
    }
    if (pl == version_place) take_version(*h);
  }
  v.mode = profile::APPLICATION;
  v.reason = fmt::format("SBL and {} image(s) verified", sbl->table.size());
  return v;
}

bool program_images(const std::vector<Image>& images, Flash& flash, std::string& error) {
  for (const auto& img : images) {
    if (!flash.erase(img.place.offset, img.place.size, error)) return false;
    if (!flash.write(img.place.offset, img.data, error)) return false;
  }
  return true;
}

bool download_flag(const profile::Profile& p, const Flash& flash) {
  for (const auto& pl : layout(p.flash())) {
    if (!pl.partition->download_flag()) continue;
    Bytes b;
    std::string error;
    return flash.read(pl.offset, kFlagMagic.size(), b, error) && protocols::as_chars(b) == kFlagMagic;
  }
  return false;
}

bool set_download_flag(const profile::Profile& p, Flash& flash, bool set, std::string& error) {
  for (const auto& pl : layout(p.flash())) {
    if (!pl.partition->download_flag()) continue;
    if (!set) return flash.erase(pl.offset, flash.block_bytes(), error);
    return flash.write(pl.offset, protocols::as_bytes(kFlagMagic), error);
  }
  return true;  // the profile keeps no flag
}

}  // namespace modemu::emulator::firmware

// Fuzz target: what the boot chain and the Sahara image check read from bytes a host wrote.
// An EC25's flash is factory-programmed once; each input overwrites part of one partition
// (the first byte picks it, the next four the offset, the rest is written), the boot chain is
// read, and the partition is restored. The same bytes also go to the image header decoder and
// the programmer check. Invariants: the verdict is a mode a module boots in, an application boot
// names its version, and a decoded header encodes back to the bytes it came from.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "emulator/firmware/boot.hpp"
#include "emulator/firmware/image.hpp"
#include "emulator/flash/flash.hpp"
#include "emulator/profile.hpp"

namespace {

using namespace modemu;
namespace fw = emulator::firmware;

struct Factory {
  profile::Profile profile = emulator::load_profile("quectel-ec25");
  emulator::Flash flash{profile.flash(), std::nullopt};
  std::vector<fw::Placement> places = fw::layout(profile.flash());
  Factory() {
    const profile::Firmware* firmware = emulator::find_firmware(profile, profile.firmware().default_version());
    if (firmware == nullptr) std::abort();
    std::string error;
    if (!fw::program_images(fw::build_images(profile, *firmware), flash, error)) std::abort();
    if (fw::read_boot_chain(profile, flash).mode != profile::APPLICATION) std::abort();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Factory factory;
  protocols::ByteView input(data, size);

  std::string why;
  if (auto header = fw::decode_header(input, why)) {
    protocols::Bytes again = fw::encode_header(*header);
    std::string why_again;
    auto decoded_again = fw::decode_header(again, why_again);
    if (!decoded_again || decoded_again->version != header->version || decoded_again->payload_size != header->payload_size) {
      __builtin_trap();
    }
  }
  (void)fw::check_programmer(factory.profile, input, why);

  if (size < 5 || factory.places.empty()) return 0;
  const fw::Placement& place = factory.places[data[0] % factory.places.size()];
  std::uint32_t offset = static_cast<std::uint32_t>(data[1]) | static_cast<std::uint32_t>(data[2]) << 8 |
                         static_cast<std::uint32_t>(data[3]) << 16 | static_cast<std::uint32_t>(data[4]) << 24;
  offset %= static_cast<std::uint32_t>(std::min<std::uint64_t>(place.size, 1u << 20));
  protocols::ByteView patch = input.subspan(5, std::min<std::size_t>(size - 5, place.size - offset));
  std::string error;
  protocols::Bytes saved;
  if (!factory.flash.read(place.offset + offset, patch.size(), saved, error)) __builtin_trap();
  if (!factory.flash.write(place.offset + offset, patch, error)) __builtin_trap();

  fw::BootVerdict v = fw::read_boot_chain(factory.profile, factory.flash);
  bool known = v.mode == profile::APPLICATION || v.mode == profile::EDL || v.mode == profile::QUECTEL_DOWNLOAD;
  if (!known || (v.mode == profile::APPLICATION && v.version.empty()) || v.reason.empty()) __builtin_trap();

  if (!factory.flash.write(place.offset + offset, saved, error)) __builtin_trap();
  return 0;
}

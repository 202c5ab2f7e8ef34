// Fuzz target: the FunctionFS gadget's ep0 side (gadget/functionfs/ffs_layout) with a booted EC25
// behind it: event records as a read of ep0 returns them, each SETUP followed by its OUT data
// stage taken from the input, dispatched to the function the input names, as the transport
// does. Whatever the host asks, the answer is a reply or a STALL and the modem keeps working.
#include <cstdint>
#include <set>

#include "booted_modem.hpp"
#include "emulator/usb/usb_device.hpp"
#include "gadget/functionfs/ffs_layout.hpp"
#include "protocols/common/bytes.hpp"

namespace em = modemu::emulator;
namespace gffs = modemu::gadget::ffs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const modemu::profile::Profile profile = em::load_profile("quectel-ec25");
  modemu::fuzz::BootedModem booted(profile);
  em::UsbDevice device(booted.modem);
  modemu::protocols::Reader r(modemu::protocols::ByteView(data, size));
  // first byte: a reduced composition (bit i keeps interface i), or all of it
  std::set<std::uint8_t> only;
  std::uint8_t mask = r.u8();
  for (std::uint8_t i = 0; i < 8; ++i) {
    if ((mask & (1u << i)) != 0) only.insert(i);
  }
  auto functions = gffs::split(device.configuration(), only);
  if (functions.empty()) return 0;
  while (r.remaining() >= 1 + gffs::kEventSize) {
    const auto& f = functions[r.u8() % functions.size()];
    for (const auto& e : gffs::parse_events(r.take(gffs::kEventSize))) {
      if (e.type != gffs::EventType::kSetup) continue;
      modemu::protocols::ByteView out;
      if (!e.setup.device_to_host()) out = r.take(std::min<std::size_t>(e.setup.wLength, r.remaining()));
      auto answer = gffs::answer_setup(device, f, e.setup, out);
      if (answer.data.size() > 0xffff) __builtin_trap();
    }
    for (const auto& [address, endpoint] : device.endpoints()) {
      if ((endpoint.descriptor.bmAttributes & 3) != 3 || !device.has_data(address)) continue;
      auto note = device.read(address, 64);
      for (const auto& g : functions) gffs::renumber_notification(note, g);
    }
  }
  booted.clock.run_until_idle();
  return 0;
}

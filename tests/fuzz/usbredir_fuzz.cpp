// Fuzz target: the usbredir transport (gadget/usbredir) with a booted EC25 behind it, fed what
// a hostile or broken peer might send in place of QEMU. Whatever arrives, the emulator answers
// or skips it and keeps working.
#include <cstdint>
#include <memory>
#include <string>

#include "booted_modem.hpp"
#include "emulator/usb/usb_device.hpp"
#include "gadget/usbredir/usbredir_server.hpp"

namespace em = modemu::emulator;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const modemu::profile::Profile profile = em::load_profile("quectel-ec25");
  modemu::fuzz::BootedModem booted(profile);
  em::UsbDevice device(booted.modem);
  std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)modemu::gadget::usbredir_feed_for_test(device, bytes);
  booted.clock.run_until_idle();  // resets and the like that the traffic asked for
  return 0;
}

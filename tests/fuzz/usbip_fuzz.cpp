// Fuzz target: the USB/IP decoder (protocols/usbip) and the server's session state machine
// (gadget/usbip) with a booted EC25 behind it, fed what a hostile or broken client might send in
// place of vhci_hcd and the usbip tools. The input is split in two at a point its first byte
// chooses, and the modem's clock runs in between and after, so that held transfers complete and
// resets happen with traffic around them. Whatever arrives, the server answers, or closes the
// connection with a reason, and the emulator keeps working.
#include <cstdint>
#include <string>

#include "booted_modem.hpp"
#include "emulator/usb/usb_device.hpp"
#include "gadget/usbip/usbip_server.hpp"
#include "protocols/usbip/usbip.hpp"

namespace em = modemu::emulator;
namespace usbip = modemu::protocols::usbip;
using modemu::protocols::ByteView;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView input(data, size);
  // The decoder alone, in both phases.
  for (auto phase : {usbip::Phase::kOperation, usbip::Phase::kUrb}) {
    auto d = usbip::decode(input, phase);
    if (d.kind == usbip::Decoded::Kind::kMessage && (d.consumed == 0 || d.consumed > size)) __builtin_trap();
  }
  static const modemu::profile::Profile profile = em::load_profile("quectel-ec25");
  modemu::fuzz::BootedModem booted(profile);
  em::UsbDevice device(booted.modem);
  modemu::gadget::UsbipExports exports({&device});
  std::size_t sent = 0;
  bool closed = false;
  modemu::gadget::UsbipSession session(
      exports, [&](modemu::protocols::Bytes b) { sent += b.size(); },
      [&](const std::string& why) {
        if (closed || why.empty()) __builtin_trap();  // closes once, and says why
        closed = true;
      });
  std::size_t split = size == 0 ? 0 : (static_cast<std::size_t>(data[0]) * size) / 256;
  session.receive(input.first(split));
  booted.clock.run_until_idle();
  session.receive(input.subspan(split));
  booted.clock.run_until_idle();
  if (closed != session.closed()) __builtin_trap();
  return 0;
}

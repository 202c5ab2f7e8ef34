// Writes seed inputs for the usbip fuzz target: what the usbip tools and vhci_hcd send when they
// list, attach and drive an EC25 (endpoints as in emulator/profiles/quectel-ec25.txtpb), encoded
// by protocols/usbip's client-side encoders. Built with the tests; run by hand:
//   build/debug/tests/fuzz/usbip_seeds tests/fuzz/corpus/usbip
// The fuzz target splits each input where its first byte says; every seed's first byte is the
// protocol version's high byte (0x01), a split early in the input.
#include <cstdio>
#include <fstream>
#include <string>

#include "protocols/usbip/usbip.hpp"

namespace usbip = modemu::protocols::usbip;
namespace usb = modemu::protocols::usb;
using modemu::protocols::Bytes;

namespace {

struct Seed {
  Bytes bytes;
  std::uint32_t seq = 1;

  Seed& add(const Bytes& b) {
    bytes.insert(bytes.end(), b.begin(), b.end());
    return *this;
  }
  Seed& import(const char* busid = "1-1") { return add(usbip::encode_op_request(usbip::kOpReqImport, busid)); }
  Seed& control(usb::SetupPacket s, Bytes data = {}) {
    usbip::CmdSubmit c;
    c.seqnum = seq++;
    c.devid = 0x10002;
    c.direction = s.device_to_host() ? usbip::kDirIn : usbip::kDirOut;
    c.setup = s;
    c.transfer_buffer_length = s.device_to_host() ? s.wLength : static_cast<std::uint32_t>(data.size());
    c.data = std::move(data);
    return add(usbip::encode_cmd_submit(c));
  }
  Seed& transfer(std::uint8_t address, std::uint32_t length, std::string out = {}) {
    usbip::CmdSubmit c;
    c.seqnum = seq++;
    c.devid = 0x10002;
    c.ep = address & 0x0f;
    c.direction = (address & 0x80) ? usbip::kDirIn : usbip::kDirOut;
    c.transfer_buffer_length = (address & 0x80) ? length : static_cast<std::uint32_t>(out.size());
    c.data.assign(out.begin(), out.end());
    c.interval = (address == 0x89) ? 9 : 0;
    return add(usbip::encode_cmd_submit(c));
  }
  Seed& unlink(std::uint32_t victim, std::uint8_t address) {
    usbip::CmdUnlink u{seq++, 0x10002, (address & 0x80u) ? 1u : 0u, address & 0x0fu, victim};
    return add(usbip::encode_cmd_unlink(u));
  }
  Seed& enumerate() {
    control({0x80, usb::kGetDescriptor, 0x0100, 0, 64});
    control({0x80, usb::kGetDescriptor, 0x0100, 0, 18});
    control({0x80, usb::kGetDescriptor, 0x0200, 0, 9});
    control({0x80, usb::kGetDescriptor, 0x0200, 0, 255});
    control({0x80, usb::kGetDescriptor, 0x0300, 0, 255});
    control({0x80, usb::kGetDescriptor, 0x0302, 0x0409, 255});
    control({0x80, usb::kGetDescriptor, 0x0600, 0, 10});
    return control({0x00, usb::kSetConfiguration, 1, 0, 0});
  }
};

void write(const std::string& dir, const std::string& name, const Seed& s) {
  std::ofstream f(dir + "/" + name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(s.bytes.data()), static_cast<std::streamsize>(s.bytes.size()));
  std::printf("%s: %zu bytes\n", name.c_str(), s.bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: usbip_seeds DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  write(dir, "devlist", Seed{}.add(usbip::encode_op_request(usbip::kOpReqDevlist)));
  write(dir, "import-unknown-busid", Seed{}.import("3-9"));
  write(dir, "enumeration", Seed{}.import().enumerate());
  {
    Seed s;
    s.import().enumerate();
    s.control({0x21, usb::kSetControlLineState, 1, 2, 0});
    for (int i = 0; i < 4; ++i) s.transfer(0x84, 4096);
    s.transfer(0x03, 0, "ATI\r").transfer(0x03, 0, "AT+CSQ\r").transfer(0x03, 0, "AT+CGMR\r");
    s.control({0x21, usb::kSetControlLineState, 0, 2, 0});
    write(dir, "at-session", s);
  }
  {
    Seed s;
    s.import().enumerate();
    s.transfer(0x89, 8);
    // QMI CTL Get Version Info, then the response it announces
    s.control({0x21, usb::kSendEncapsulatedCommand, 0, 4, 12}, Bytes{1, 11, 0, 0, 0, 0, 0, 1, 0x21, 0, 0, 0});
    s.control({0xa1, usb::kGetEncapsulatedResponse, 0, 4, 4096});
    s.transfer(0x89, 8);
    write(dir, "qmi-session", s);
  }
  {
    Seed s;
    s.import().enumerate();
    s.control({0x21, usb::kSetControlLineState, 1, 2, 0});
    std::uint32_t held = s.seq;
    s.transfer(0x84, 4096).transfer(0x84, 4096);
    s.unlink(held, 0x84).unlink(held + 1, 0x84).unlink(9999, 0x84);
    s.transfer(0x89, 8);
    s.unlink(s.seq - 1, 0x89);
    write(dir, "unlink", s);
  }
  {
    Seed s;
    s.import().enumerate();
    s.control({0x21, usb::kSetControlLineState, 1, 2, 0});
    s.transfer(0x84, 4096).transfer(0x03, 0, "AT+CFUN=1,1\r").transfer(0x84, 4096);
    write(dir, "reset", s);
  }
  {
    Seed s;
    s.import().enumerate();
    s.control({0x21, usb::kSetControlLineState, 1, 0, 0});
    // QFirehose's DIAG switch into EDL on the DM port
    s.transfer(0x81, 4096).transfer(0x01, 0, std::string("\x4b\x65\x01\x00\x54\x0f\x7e", 7));
    write(dir, "edl-switch", s);
  }
  return 0;
}

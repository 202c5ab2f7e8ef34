// The FunctionFS gadget's side of the kernel interface without a kernel (gadget/functionfs):
// how a composition becomes FunctionFS functions, the v2 descriptor blobs, the ep0 event
// records, and setup requests mapped from FunctionFS-local numbers to the profile's.
#include <doctest/doctest.h>

#include "emulator/usb/usb_device.hpp"
#include "gadget/functionfs/ffs_layout.hpp"
#include "protocols/common/bytes.hpp"
#include "support.hpp"

namespace gffs = modemu::gadget::ffs;  // not "ffs": <strings.h> has a function of that name
namespace usb = modemu::protocols::usb;
using modemu::emulator::UsbDevice;
using modemu::protocols::Bytes;
using modemu::protocols::ByteView;
using modemu::protocols::Reader;
using modemu::test::VirtualModem;

TEST_CASE("a composition becomes one FunctionFS function per interface, each with its profile's number on the bus") {
  VirtualModem v("quectel-ec25");
  v.boot();
  UsbDevice device(*v.modem);
  auto all = gffs::split(device.configuration(), {});
  REQUIRE(all.size() == 5);
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].interface_number == i);
    CHECK(all[i].real_number == i);
  }
  // NMEA: interrupt IN, bulk IN, bulk OUT, in descriptor order (FunctionFS's ep1, ep2, ep3)
  CHECK(all[1].endpoints == std::vector<std::uint8_t>{0x83, 0x82, 0x02});

  // a reduced composition: what is left out becomes an interface without endpoints that no
  // driver claims, so AT stays interface 2 and QMI 4
  auto reduced = gffs::split(device.configuration(), {2, 4});
  REQUIRE(reduced.size() == 5);
  for (std::size_t i = 0; i < reduced.size(); ++i) {
    CHECK(reduced[i].real_number == i);
    CHECK(reduced[i].placeholder == (i != 2 && i != 4));
  }
  CHECK(reduced[0].endpoints.empty());
  CHECK(reduced[0].settings.at(0).bInterfaceSubClass == gffs::kPlaceholderSubClass);
  CHECK(gffs::descriptors(reduced[0]).size() == 20 + 2 * 9);
  // a selection that names nothing of this composition (the EDL one has interface 0 only) keeps it whole
  CHECK(gffs::split(device.configuration(), {9}).size() == 5);
}

TEST_CASE("FunctionFS v2 descriptors: full and high speed, local interface 0, no CDC functional descriptors") {
  VirtualModem v("quectel-ec25");
  v.boot();
  UsbDevice device(*v.modem);
  auto nmea = gffs::split(device.configuration(), {})[1];
  Bytes blob = gffs::descriptors(nmea);
  Reader r(blob);
  CHECK(r.le32() == 3);            // FUNCTIONFS_DESCRIPTORS_MAGIC_V2
  CHECK(r.le32() == blob.size());  // length
  CHECK(r.le32() == 3);            // FUNCTIONFS_HAS_FS_DESC | FUNCTIONFS_HAS_HS_DESC
  CHECK(r.le32() == 4);            // full speed: the interface and three endpoints
  CHECK(r.le32() == 4);            // high speed: the same
  CHECK(blob.size() == 20 + 2 * (9 + 3 * 7));
  std::vector<std::uint16_t> packet_sizes;
  while (r.remaining() > 0) {
    std::uint8_t length = r.u8(), type = r.u8();
    CHECK(type != 0x24);  // f_fs.c refuses CS_INTERFACE
    ByteView rest = r.take(length - 2u);
    if (type == usb::kInterfaceType) CHECK(rest[0] == 0);  // bInterfaceNumber: FunctionFS-local
    if (type == usb::kEndpointType) packet_sizes.push_back(static_cast<std::uint16_t>(rest[2] | (rest[3] << 8)));
  }
  CHECK(r.at_end());
  // full speed: interrupt 10, bulk 64, 64; high speed: 10, 512, 512
  CHECK(packet_sizes == std::vector<std::uint16_t>{10, 64, 64, 10, 512, 512});
  CHECK(gffs::strings() == Bytes{2, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("ep0 event records: whole records only, unknown types dropped") {
  Bytes bytes = {0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,                 // ENABLE
                 0x21, 0x22, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 4, 0, 0, 0,  // SETUP
                 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0,                 // no such type
                 0, 0, 0};                                           // a partial record
  auto events = gffs::parse_events(bytes);
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == gffs::EventType::kEnable);
  CHECK(events[1].type == gffs::EventType::kSetup);
  CHECK(events[1].setup.bRequest == usb::kSetControlLineState);
  CHECK(events[1].setup.wValue == 1);
  CHECK(events[1].setup.wIndex == 3);
}

TEST_CASE("setup requests reach the profile's interface; notifications name the interface on the bus") {
  VirtualModem v("quectel-ec25");
  v.boot();
  UsbDevice device(*v.modem);
  auto functions = gffs::split(device.configuration(), {2, 4});
  const gffs::Function& qmi = functions[4];
  // CTL Get Version Info, as qmi_wwan's cdc-wdm sends it: SEND_ENCAPSULATED_COMMAND, wIndex as
  // FunctionFS rewrote it (the function's own interface 0)
  Bytes request = {0x01, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x21, 0x00, 0x00, 0x00};
  usb::SetupPacket send{0x21, usb::kSendEncapsulatedCommand, 0, 0, static_cast<std::uint16_t>(request.size())};
  CHECK_FALSE(gffs::answer_setup(device, qmi, send, request).stall);
  std::uint8_t interrupt = 0;
  for (const auto& [address, e] : device.endpoints()) {
    if (e.interface_number == 4 && (e.descriptor.bmAttributes & 3) == 3) interrupt = address;
  }
  REQUIRE(device.has_data(interrupt));
  Bytes note = device.read(interrupt, 64);
  REQUIRE(note.size() == 8);
  CHECK(note == Bytes{0xa1, 0x01, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00});  // RESPONSE_AVAILABLE, interface 4
  Bytes same = note;
  gffs::renumber_notification(same, qmi);
  CHECK(same == note);
  // where the kernel reports another number for the function (FUNCTIONFS_INTERFACE_REVMAP), that one
  gffs::Function moved = qmi;
  moved.real_number = 1;
  gffs::renumber_notification(note, moved);
  CHECK(note == Bytes{0xa1, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00});
  usb::SetupPacket get{0xa1, usb::kGetEncapsulatedResponse, 0, 0, 4096};
  auto answer = gffs::answer_setup(device, qmi, get, {});
  CHECK_FALSE(answer.stall);
  REQUIRE(answer.data.size() > 12);
  CHECK(answer.data[0] == 0x01);  // a QMUX frame: the CTL response
  // FunctionFS never names another interface of a one-interface function: refused
  get.wIndex = 1;
  CHECK(gffs::answer_setup(device, qmi, get, {}).stall);
  // an unknown class request to the AT function STALLs, as UsbDevice answers it; a placeholder
  // answers nothing
  usb::SetupPacket odd{0x21, 0x7f, 0, 0, 0};
  CHECK(gffs::answer_setup(device, functions[2], odd, {}).stall);
  usb::SetupPacket dtr{0x21, usb::kSetControlLineState, 1, 0, 0};
  CHECK_FALSE(gffs::answer_setup(device, functions[2], dtr, {}).stall);
  CHECK(gffs::answer_setup(device, functions[1], dtr, {}).stall);
}

// USB/IP: the wire codec (protocols/usbip) and the server's session (gadget/usbip) with a booted
// EC25 behind it, driven as vhci_hcd drives it (transports.md section 2), without sockets.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <variant>

#include "emulator/usb/usb_device.hpp"
#include "gadget/common/host_port.hpp"
#include "gadget/usbip/usbip_server.hpp"
#include "protocols/usbip/usbip.hpp"
#include "support.hpp"

namespace usbip = modemu::protocols::usbip;
namespace usb = modemu::protocols::usb;
using modemu::protocols::Bytes;
using modemu::protocols::ByteView;

namespace {

std::uint32_t be32_at(const Bytes& b, std::size_t at) {
  return (std::uint32_t{b.at(at)} << 24) | (std::uint32_t{b.at(at + 1)} << 16) | (std::uint32_t{b.at(at + 2)} << 8) |
         b.at(at + 3);
}

usbip::CmdSubmit control_in(std::uint32_t seqnum, usb::SetupPacket setup) {
  usbip::CmdSubmit c;
  c.seqnum = seqnum;
  c.direction = usbip::kDirIn;
  c.transfer_buffer_length = setup.wLength;
  c.setup = setup;
  return c;
}

usbip::CmdSubmit control_out(std::uint32_t seqnum, usb::SetupPacket setup, Bytes data = {}) {
  usbip::CmdSubmit c;
  c.seqnum = seqnum;
  c.direction = usbip::kDirOut;
  c.setup = setup;
  c.transfer_buffer_length = static_cast<std::uint32_t>(data.size());
  c.data = std::move(data);
  return c;
}

usbip::CmdSubmit bulk(std::uint32_t seqnum, std::uint8_t address, std::uint32_t length, Bytes data = {}) {
  usbip::CmdSubmit c;
  c.seqnum = seqnum;
  c.ep = address & 0x0f;
  c.direction = (address & 0x80) ? usbip::kDirIn : usbip::kDirOut;
  c.transfer_buffer_length = (address & 0x80) ? length : static_cast<std::uint32_t>(data.size());
  c.data = std::move(data);
  return c;
}

// The client's side of one imported connection: what it sent, and the replies decoded.
struct Client {
  modemu::test::VirtualModem v{"quectel-ec25"};
  std::unique_ptr<modemu::emulator::UsbDevice> device;
  std::unique_ptr<modemu::gadget::UsbipExports> exports;
  std::unique_ptr<modemu::gadget::UsbipSession> session;
  Bytes received;
  std::string closed_why;
  std::map<std::uint32_t, bool> in_by_seqnum;

  Client() {
    v.boot();
    device = std::make_unique<modemu::emulator::UsbDevice>(*v.modem);
    exports = std::make_unique<modemu::gadget::UsbipExports>(std::vector<modemu::emulator::UsbDevice*>{device.get()});
    session = std::make_unique<modemu::gadget::UsbipSession>(
        *exports, [this](Bytes b) { received.insert(received.end(), b.begin(), b.end()); },
        [this](const std::string& why) { closed_why = why; });
  }

  Bytes import(const std::string& busid) {
    received.clear();
    session->receive(usbip::encode_op_request(usbip::kOpReqImport, busid));
    return std::move(received);
  }

  void send(const usbip::CmdSubmit& c) {
    in_by_seqnum[c.seqnum] = c.in();
    session->receive(usbip::encode_cmd_submit(c));
  }

  // Every reply received so far, in order.
  std::vector<std::variant<usbip::RetSubmit, usbip::RetUnlink>> replies() {
    std::vector<std::variant<usbip::RetSubmit, usbip::RetUnlink>> out;
    std::size_t at = 0;
    while (at < received.size()) {
      std::uint32_t seqnum = be32_at(received, at + 4);
      bool in = be32_at(received, at) == usbip::kRetSubmit && in_by_seqnum[seqnum];
      std::variant<usbip::RetSubmit, usbip::RetUnlink> r;
      std::size_t n = usbip::decode_ret(ByteView(received).subspan(at), in, r);
      REQUIRE(n != 0);
      out.push_back(std::move(r));
      at += n;
    }
    received.clear();
    return out;
  }

  std::uint8_t endpoint(std::uint8_t interface, bool in, std::uint8_t type = 2) {
    for (const auto& [address, e] : device->endpoints()) {
      if (e.interface_number == interface && ((address & 0x80) != 0) == in && (e.descriptor.bmAttributes & 3) == type) {
        return address;
      }
    }
    FAIL("no such endpoint");
    return 0;
  }
};

}  // namespace

TEST_CASE("usbip codec: OP_REP_IMPORT puts bDeviceClass at 0x13A, all fields big-endian") {
  usbip::DeviceRecord d;
  d.busid = "1-1";
  d.path = "/sys/devices/x/1-1";
  d.busnum = 1;
  d.devnum = 2;
  d.idVendor = 0x2c7c;
  d.idProduct = 0x0125;
  d.bcdDevice = 0x0318;
  d.bDeviceClass = 0xef;
  d.interfaces.resize(5);
  Bytes r = usbip::encode_import_reply(usbip::kStOk, &d);
  REQUIRE(r.size() == usbip::kOpHeaderSize + usbip::kDeviceRecordSize);
  CHECK(r[0] == 0x01);
  CHECK(r[1] == 0x11);
  CHECK(r[2] == 0x00);
  CHECK(r[3] == 0x03);
  CHECK(std::string(reinterpret_cast<const char*>(&r[8 + 256])) == "1-1");
  CHECK(be32_at(r, 8 + 288) == 1);   // busnum
  CHECK(be32_at(r, 8 + 292) == 2);   // devnum
  CHECK(be32_at(r, 8 + 296) == 3);   // speed: USB_SPEED_HIGH
  CHECK(r[8 + 300] == 0x2c);         // idVendor, big-endian
  CHECK(r[8 + 301] == 0x7c);
  CHECK(r[0x13A] == 0xef);           // bDeviceClass (the kernel document says 0x139)
  CHECK(r.back() == 5);              // bNumInterfaces
  CHECK(usbip::encode_import_reply(usbip::kStNoDev, nullptr).size() == usbip::kOpHeaderSize);
  Bytes list = usbip::encode_devlist_reply({d});
  CHECK(list.size() == 8 + 4 + 312 + 5 * 4);
  CHECK(be32_at(list, 8) == 1);
}

TEST_CASE("usbip codec: framing of CMD_SUBMIT and CMD_UNLINK, need-more and malformed") {
  auto c = bulk(7, 0x03, 0, Bytes{'A', 'T', '\r'});
  Bytes wire = usbip::encode_cmd_submit(c);
  REQUIRE(wire.size() == usbip::kUrbHeaderSize + 3);
  for (std::size_t n = 0; n < wire.size(); ++n) {
    CHECK(usbip::decode(ByteView(wire).first(n), usbip::Phase::kUrb).kind == usbip::Decoded::Kind::kNeedMore);
  }
  auto d = usbip::decode(wire, usbip::Phase::kUrb);
  REQUIRE(d.kind == usbip::Decoded::Kind::kMessage);
  CHECK(d.consumed == wire.size());
  auto& got = std::get<usbip::CmdSubmit>(d.message);
  CHECK(got.seqnum == 7);
  CHECK(got.address() == 0x03);
  CHECK(got.data == Bytes{'A', 'T', '\r'});

  Bytes unlink = usbip::encode_cmd_unlink({9, 0x10002, 1, 3, 7});
  auto u = usbip::decode(unlink, usbip::Phase::kUrb);
  REQUIRE(u.kind == usbip::Decoded::Kind::kMessage);
  CHECK(std::get<usbip::CmdUnlink>(u.message).unlink_seqnum == 7);

  Bytes bad = wire;
  bad[3] = 9;  // no such command
  auto m = usbip::decode(bad, usbip::Phase::kUrb);
  CHECK(m.kind == usbip::Decoded::Kind::kMalformed);
  CHECK(m.error.find("command 9") != std::string::npos);
  Bytes huge = usbip::encode_cmd_submit(bulk(8, 0x03, 0));
  huge[24] = 0x7f;  // transfer_buffer_length far beyond any transfer
  CHECK(usbip::decode(huge, usbip::Phase::kUrb).kind == usbip::Decoded::Kind::kMalformed);
  Bytes op = usbip::encode_op_request(usbip::kOpReqDevlist);
  op[1] = 0x06;  // version 0x0106
  CHECK(usbip::decode(op, usbip::Phase::kOperation).error.find("version 0106") != std::string::npos);
}

TEST_CASE("usbip session: import, descriptors, AT through bulk endpoints, stall, unlink") {
  Client c;
  Bytes reply = c.import("1-1");
  REQUIRE(reply.size() == usbip::kOpHeaderSize + usbip::kDeviceRecordSize);
  CHECK(be32_at(reply, 4) == usbip::kStOk);
  CHECK(c.closed_why.empty());

  c.send(control_in(1, {0x80, usb::kGetDescriptor, 0x0100, 0, 18}));
  c.send(control_in(2, {0x80, usb::kGetDescriptor, 0x0100, 0, 8}));  // shorter buffer: shorter reply
  c.send(control_out(3, {0x00, usb::kSetConfiguration, 1, 0, 0}));
  c.send(control_in(4, {0x80, 0x42, 0, 0, 4}));  // no such standard request
  auto r = c.replies();
  REQUIRE(r.size() == 4);
  auto& dev = std::get<usbip::RetSubmit>(r[0]);
  CHECK(dev.seqnum == 1);
  CHECK(dev.actual_length == 18);
  CHECK(dev.data[8] == 0x7c);
  CHECK(dev.data[9] == 0x2c);
  CHECK(std::get<usbip::RetSubmit>(r[1]).actual_length == 8);
  CHECK(std::get<usbip::RetSubmit>(r[2]).status == 0);
  CHECK(std::get<usbip::RetSubmit>(r[3]).status == usbip::kStatusStall);

  // option opens ttyUSB2: DTR up, bulk IN transfers held (usb_wwan keeps several in flight),
  // then "ATI" on bulk OUT.
  std::uint8_t in = c.endpoint(2, true), out = c.endpoint(2, false);
  c.send(control_out(5, {0x21, usb::kSetControlLineState, 1, 2, 0}));
  for (std::uint32_t seq = 100; seq < 108; ++seq) c.send(bulk(seq, in, 4096));
  auto r2 = c.replies();
  REQUIRE(r2.size() == 1);  // only the control transfer: the IN transfers wait for the modem
  c.send(bulk(7, out, 0, Bytes{'A', 'T', 'I', '\r'}));
  c.v.clock.run_until_idle();
  std::string text;
  std::set<std::uint32_t> completed;
  bool out_done = false;
  for (const auto& x : c.replies()) {
    auto& s = std::get<usbip::RetSubmit>(x);
    if (s.seqnum == 7) {
      out_done = s.actual_length == 4 && s.data.empty();
      continue;
    }
    CHECK(s.actual_length <= 4096);
    CHECK(s.seqnum == 100 + completed.size());  // in the order submitted
    completed.insert(s.seqnum);
    text.append(s.data.begin(), s.data.end());
  }
  CHECK(out_done);
  CHECK(text.find("Quectel") != std::string::npos);
  REQUIRE(completed.size() < 8);

  // A held IN unlinked: -ECONNRESET and no RET_SUBMIT after it; a completed one: status 0.
  std::uint32_t held = 107;
  c.session->receive(usbip::encode_cmd_unlink({9, 0, 1, static_cast<std::uint32_t>(in & 0x0f), held}));
  c.session->receive(usbip::encode_cmd_unlink({10, 0, 1, static_cast<std::uint32_t>(in & 0x0f), 100}));
  c.send(bulk(11, out, 0, Bytes{'A', 'T', '\r'}));
  c.v.clock.run_until_idle();
  auto r4 = c.replies();
  REQUIRE(r4.size() >= 3);
  CHECK(std::get<usbip::RetUnlink>(r4[0]).seqnum == 9);
  CHECK(std::get<usbip::RetUnlink>(r4[0]).status == usbip::kStatusUnlinked);
  CHECK(std::get<usbip::RetUnlink>(r4[1]).seqnum == 10);
  CHECK(std::get<usbip::RetUnlink>(r4[1]).status == 0);
  for (const auto& x : r4) {
    if (auto* s = std::get_if<usbip::RetSubmit>(&x)) CHECK(s->seqnum != held);
  }
}

TEST_CASE("usbip session: QMI response announced on the held interrupt IN, fetched over ep0") {
  Client c;
  c.import("1-1");
  std::uint8_t notify = c.endpoint(4, true, 3);
  c.send(bulk(1, notify, 64));
  // QMI CTL Get Version Info (QMUX: if type 1, length, flags 0, service 0, client 0; CTL header)
  Bytes qmi{0x01, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x21, 0x00, 0x00, 0x00};
  c.send(control_out(2, {0x21, usb::kSendEncapsulatedCommand, 0, 4, static_cast<std::uint16_t>(qmi.size())}, qmi));
  c.v.clock.run_until_idle();
  auto r = c.replies();
  REQUIRE(r.size() == 2);
  bool announced = false;
  for (const auto& x : r) {
    auto& s = std::get<usbip::RetSubmit>(x);
    if (s.seqnum == 1) announced = s.actual_length == 8 && s.data[1] == 0x01;  // RESPONSE_AVAILABLE
  }
  CHECK(announced);
  c.send(control_in(3, {0xa1, usb::kGetEncapsulatedResponse, 0, 4, 4096}));
  auto r2 = c.replies();
  REQUIRE(r2.size() == 1);
  auto& resp = std::get<usbip::RetSubmit>(r2[0]);
  CHECK(resp.actual_length > 12);
  CHECK(resp.data[0] == 0x01);
}

TEST_CASE("usbip session: an interrupt URB unlinked after it completed re-announces what waits") {
  // cdc-wdm closed right after a notification it never acted on (qmicli exiting with an
  // indication behind its answer): the next open must hear of that response again, or it sits in
  // front of the next answer and is fetched in its place.
  Client c;
  c.import("1-1");
  std::uint8_t notify = c.endpoint(4, true, 3);
  Bytes qmi{0x01, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x21, 0x00, 0x00, 0x00};
  c.send(bulk(1, notify, 8));
  c.send(control_out(2, {0x21, usb::kSendEncapsulatedCommand, 0, 4, static_cast<std::uint16_t>(qmi.size())}, qmi));
  c.v.clock.run_until_idle();
  REQUIRE(c.replies().size() == 2);  // the notification (URB 1) and the command
  // The host took the notification but closed before fetching: URB 3 is unlinked after it
  // completed (status 0), which is all the server sees of the close.
  c.session->receive(usbip::encode_cmd_unlink({3, 0, 0, 0, 1}));
  auto r = c.replies();
  REQUIRE(r.size() == 1);
  CHECK(std::get<usbip::RetUnlink>(r[0]).status == 0);
  // The next open polls again: told at once that a response waits.
  c.send(bulk(4, notify, 8));
  auto again = c.replies();
  REQUIRE(again.size() == 1);
  CHECK(std::get<usbip::RetSubmit>(again[0]).seqnum == 4);
  CHECK(std::get<usbip::RetSubmit>(again[0]).actual_length == 8);
}

TEST_CASE("usbip session: a reset closes the connection; refused imports say why") {
  Client c;
  c.import("1-1");
  std::uint8_t out = c.endpoint(2, false);
  c.send(control_out(1, {0x21, usb::kSetControlLineState, 1, 2, 0}));
  c.send(bulk(2, out, 0, Bytes{'A', 'T', '+', 'C', 'F', 'U', 'N', '=', '1', ',', '1', '\r'}));
  c.v.clock.run_next();
  for (int i = 0; i < 100 && c.closed_why.empty() && c.v.clock.next_due(); ++i) c.v.clock.run_next();
  CHECK(c.closed_why == "the module left the bus");
  CHECK(c.session->closed());

  // While the module is off the bus an import is refused (ST_NA); an unknown bus id: ST_NODEV.
  REQUIRE_FALSE(c.device->connected());
  c.session = std::make_unique<modemu::gadget::UsbipSession>(
      *c.exports, [&](Bytes b) { c.received.insert(c.received.end(), b.begin(), b.end()); },
      [&](const std::string& why) { c.closed_why = why; });
  Bytes off = c.import("1-1");
  REQUIRE(off.size() == usbip::kOpHeaderSize);
  CHECK(be32_at(off, 4) == usbip::kStNotAvailable);
  c.session = std::make_unique<modemu::gadget::UsbipSession>(*c.exports, [&](Bytes b) { c.received = b; }, nullptr);
  CHECK(be32_at(c.import("2-7"), 4) == usbip::kStNoDev);

  // Back on the bus: imported again, with the new composition.
  c.v.boot();
  REQUIRE(c.device->connected());
  c.session = std::make_unique<modemu::gadget::UsbipSession>(*c.exports, [&](Bytes b) { c.received = b; }, nullptr);
  Bytes again = c.import("1-1");
  CHECK(be32_at(again, 4) == usbip::kStOk);
}

TEST_CASE("usbip session: malformed traffic closes the connection with what and where") {
  Client c;
  c.import("1-1");
  Bytes junk(48, 0xff);
  c.session->receive(junk);
  CHECK(c.session->closed());
  CHECK(c.closed_why.find("malformed traffic: URB header seqnum 4294967295") != std::string::npos);
  c.session->receive(usbip::encode_cmd_submit(bulk(1, 0x81, 64)));  // ignored once closed
  CHECK(c.received.empty());

  Client flood;
  flood.import("1-1");
  for (std::uint32_t seq = 1; seq <= 1025 && !flood.session->closed(); ++seq) flood.send(bulk(seq, 0x81, 64));
  CHECK(flood.closed_why == "too many held transfers");
}

TEST_CASE("parse_host_port: numeric HOST:PORT, default host, bracketed IPv6, clear refusals") {
  using modemu::gadget::parse_host_port;
  auto a = parse_host_port("127.0.0.1:3240");
  REQUIRE(a);
  CHECK(a->port() == 3240);
  auto b = parse_host_port(":3240");
  REQUIRE(b);
  CHECK(b->address().to_string() == "127.0.0.1");
  auto c = parse_host_port("[::1]:0");
  REQUIRE(c);
  CHECK(c->address().is_v6());
  CHECK_FALSE(parse_host_port("localhost:3240"));
  CHECK_FALSE(parse_host_port("10.0.0.1:65536"));
  CHECK_FALSE(parse_host_port("10.0.0.1:"));
  CHECK_FALSE(parse_host_port("10.0.0.1"));
  CHECK_FALSE(parse_host_port("10.0.0.1:32x"));
}

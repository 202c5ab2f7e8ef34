#include <doctest/doctest.h>

#include "protocols/diag/diag.hpp"
#include "protocols/diag/hdlc.hpp"
#include "support.hpp"

using namespace modemu::protocols;
using namespace modemu::test;

TEST_CASE("HDLC framing: the reference's own byte vectors") {
  // edl-sahara-firehose.md: Extended Build ID is 7E 7C 93 49 7E; the EDL switch 4B 65 01 00 54 0F 7E.
  CHECK(hex(diag::frame(Bytes{0x7c})) == "7c 93 49 7e");
  CHECK(hex(diag::frame(Bytes{0x4b, 0x65, 0x01, 0x00})) == "4b 65 01 00 54 0f 7e");
  CHECK(hex(diag::frame(Bytes{0x7e, 0x7d, 0x01})).substr(0, 11) == "7d 5e 7d 5d");  // escapes
}

TEST_CASE("the deframer's four outcomes") {
  diag::Deframer d;
  CHECK(d.next().outcome == diag::Deframer::Outcome::kNeedMore);
  d.push(*parse_hex("7e 7c 93"));
  CHECK(d.next().outcome == diag::Deframer::Outcome::kNeedMore);
  d.push(*parse_hex("49 7e"));
  auto r = d.next();
  REQUIRE(r.outcome == diag::Deframer::Outcome::kFrame);
  CHECK(r.payload == Bytes{0x7c});
  d.push(*parse_hex("7c 00 00 7e"));  // bad CRC
  CHECK(d.next().outcome == diag::Deframer::Outcome::kMalformed);
  d.push(diag::frame(Bytes{0x7e, 0x7d, 0x01}));
  r = d.next();
  REQUIRE(r.outcome == diag::Deframer::Outcome::kFrame);
  CHECK(r.payload == (Bytes{0x7e, 0x7d, 0x01}));
  d.push(Bytes(diag::Deframer::kMaxFrame + 1, 0x41));
  CHECK(d.next().outcome == diag::Deframer::Outcome::kLostSync);
}

namespace {

std::vector<Bytes> diag_frames(const std::string& raw) {
  diag::Deframer d;
  d.push(as_bytes(raw));
  std::vector<Bytes> out;
  for (auto r = d.next(); r.outcome == diag::Deframer::Outcome::kFrame; r = d.next()) out.push_back(r.payload);
  return out;
}

std::string framed(Bytes payload) {
  auto f = diag::frame(payload);
  return std::string(f.begin(), f.end());
}

}  // namespace

TEST_CASE("the DM port answers the version probes and refuses the rest") {
  VirtualModem v("quectel-eg12");
  v.boot();
  AtClient dm(*v.modem, "ttyUSB0");
  dm.out.clear();
  dm.attached->from_host(framed({diag::kVersionInfo}));
  auto f = diag_frames(dm.out);
  REQUIRE(f.size() == 1);
  CHECK(f[0].size() == 55);  // what ModemManager's QCDM probe checks
  CHECK(f[0][0] == diag::kVersionInfo);
  dm.out.clear();
  dm.attached->from_host(framed({diag::kExtendedBuildId}));
  f = diag_frames(dm.out);
  REQUIRE(f.size() == 1);
  std::string text(f[0].begin() + 12, f[0].end());
  CHECK(text.find("EG12EAPAR01A12M4G") == 0);
  dm.out.clear();
  dm.attached->from_host(framed({0x26, 0x01}));
  f = diag_frames(dm.out);
  REQUIRE(f.size() == 1);
  CHECK(f[0] == (Bytes{diag::kBadCommand, 0x26, 0x01}));
}

TEST_CASE("QFirehose's EDL switch: echoed, then the module comes back as 05c6:9008; a power cycle boots normally") {
  VirtualModem v("quectel-ec25");
  v.boot();
  AtClient dm(*v.modem, "ttyUSB0");
  dm.out.clear();
  dm.attached->from_host(std::string("\x4b\x65\x01\x00\x54\x0f\x7e", 7));
  CHECK(hex(as_bytes(dm.out)) == "4b 65 01 00 54 0f 7e");
  v.clock.run_until_idle();
  CHECK(v.modem->power_state() == modemu::emulator::PowerState::kEdl);
  REQUIRE(v.modem->composition() != nullptr);
  CHECK(v.modem->composition()->idvendor() == 0x05c6);
  CHECK(v.modem->composition()->idproduct() == 0x9008);
  REQUIRE(v.modem->ports().size() == 1);
  CHECK(v.modem->ports()[0]->info().node_name == "ttyUSB0");
  v.modem->power_off("test");
  v.modem->power_on("test");
  v.clock.run_until_idle();
  CHECK(v.modem->power_state() == modemu::emulator::PowerState::kApplication);
}

TEST_CASE("a module without an EDL mode refuses the switch") {
  VirtualModem v("sierra-mc7455");
  v.boot();
  AtClient dm(*v.modem, "ttyUSB0");
  dm.out.clear();
  dm.attached->from_host(std::string("\x4b\x65\x01\x00\x54\x0f\x7e", 7));
  auto f = diag_frames(dm.out);
  REQUIRE(f.size() == 1);
  CHECK(f[0][0] == diag::kBadCommand);
  v.clock.run_until_idle();
  CHECK(v.modem->power_state() == modemu::emulator::PowerState::kApplication);
}

#include <doctest/doctest.h>

#include <set>
#include <stdexcept>

#include "protocols/qmi/message.hpp"
#include "protocols/qmi/qmux.hpp"
#include "protocols/qmi/schema.hpp"

using namespace modemu::protocols;
using namespace modemu::protocols::qmi;

namespace {

Bytes hexb(const char* text) { return *parse_hex(text); }

}  // namespace

TEST_CASE("CTL Allocate CID, byte for byte as qmi.md gives it") {
  // request 01 0F 00 00 00 00 00 FF 22 00 04 00 01 01 00 svc  (svc = 2, DMS; txn 0xff)
  Bytes request = hexb("01 0f 00 00 00 00 00 ff 22 00 04 00 01 01 00 02");
  auto d = decode(request);
  REQUIRE(d.message);
  CHECK(d.message->is_ctl());
  CHECK(d.message->type == MessageType::kRequest);
  CHECK(d.message->transaction == 0xff);
  CHECK(d.message->message_id == 0x0022);
  CHECK(encode(*d.message) == request);

  Reply reply(*find_message(0x00, 0x0022), *d.message);
  reply.set(0x01, {2, 1});
  CHECK(encode(reply.build()) == hexb("01 17 00 80 00 00 01 ff 22 00 0c 00 02 04 00 00 00 00 00 01 02 00 02 01"));
}

TEST_CASE("service messages carry a two-byte transaction and response flag 0x02") {
  Message m;
  m.service = 0x02;
  m.client_id = 5;
  m.type = MessageType::kResponse;
  m.transaction = 0x1234;
  m.message_id = 0x0023;
  m.tlvs.push_back({0x01, Bytes{'X'}});
  Bytes b = encode(m);
  CHECK(hex(b) == "01 10 00 80 02 05 02 34 12 23 00 04 00 01 01 00 58");
  auto back = decode(b);
  REQUIRE(back.message);
  CHECK(back.message->transaction == 0x1234);
  CHECK(back.message->type == MessageType::kResponse);
}

TEST_CASE("decode checks every length against the frame") {
  CHECK(decode(hexb("01 0f 00 00 00 00 00 ff 22 00 05 00 01 01 00 02")).error);  // TLV length
  CHECK(decode(hexb("01 0f 00 00 00 00 00 ff 22 00 04 00 01 02 00 02")).error);  // TLV past the end
  CHECK(decode(hexb("01 10 00 00 00 00 00 ff 22 00 04 00 01 01 00 02")).error);  // QMUX length
  CHECK(decode(hexb("02 0f 00")).error);
}

TEST_CASE("the framer's four outcomes") {
  Framer f;
  CHECK(f.next().outcome == Framer::Outcome::kNeedMore);
  Bytes frame = hexb("01 0f 00 00 00 00 00 ff 22 00 04 00 01 01 00 02");
  // garbage, then a frame split in two
  Bytes first = hexb("ff fe");
  first.insert(first.end(), frame.begin(), frame.begin() + 5);
  f.push(first);
  auto r = f.next();
  CHECK(r.outcome == Framer::Outcome::kLostSync);
  CHECK(r.dropped == 2);
  CHECK(f.next().outcome == Framer::Outcome::kNeedMore);
  f.push(ByteView(frame).subspan(5));
  r = f.next();
  REQUIRE(r.outcome == Framer::Outcome::kFrame);
  CHECK(r.frame == frame);
  // a marker whose length cannot hold a QMI header
  f.push(hexb("01 03 00 00"));
  r = f.next();
  CHECK(r.outcome == Framer::Outcome::kMalformed);
  CHECK(r.dropped == 1);
  CHECK(f.next().outcome == Framer::Outcome::kLostSync);
  CHECK(f.next().outcome == Framer::Outcome::kNeedMore);
  CHECK(f.buffered() == 0);
}

TEST_CASE("layouts parse, and bad layouts are refused by name") {
  auto fields = parse_layout("a:u8 b:list8(x:u16 y:str8) c:bytes16");
  REQUIRE(fields.size() == 3);
  CHECK(fields[1].items.size() == 2);
  CHECK(fields[2].size == 16);
  CHECK_THROWS_WITH(parse_layout("a:u9"), doctest::Contains("unknown type \"u9\""));
  CHECK_THROWS_WITH(parse_layout("a:list8(b:u8"), doctest::Contains("missing ')'"));
  CHECK_THROWS_WITH(parse_layout("a"), doctest::Contains("without a type"));
}

TEST_CASE("TLV encode and decode follow the schema, and refuse what does not fit") {
  TlvDef def{0x01, "info", parse_layout("n:i8 s:str8 l:list8(v:u16)"), false, false};
  Record r{-5, "ab", std::vector<Record>{{1}, {0x0203}}};
  Bytes b = encode_tlv(def, r);
  CHECK(hex(b) == "fb 02 61 62 02 01 00 03 02");
  auto back = decode_tlv(def, b);
  REQUIRE(back);
  CHECK((*back)[0].as_signed() == -5);
  CHECK((*back)[1].text == "ab");
  CHECK((*back)[2].items[1][0].number == 0x0203);
  std::string why;
  CHECK_FALSE(decode_tlv(def, hexb("fb 05 61"), &why));
  CHECK(why.find("too short for s") != std::string::npos);
  CHECK_FALSE(decode_tlv(def, hexb("fb 00 00 99"), &why));
  CHECK(why.find("1 bytes too many") != std::string::npos);
  CHECK_THROWS_AS(encode_tlv(def, Record{300, "", std::vector<Record>{}}), std::invalid_argument);
  CHECK_THROWS_AS(encode_tlv(def, Record{1}), std::invalid_argument);
}

TEST_CASE("requests are validated at the boundary") {
  const MessageDef& alloc = *find_message(0x00, 0x0022);
  Message m;
  m.message_id = 0x0022;
  Request req;
  CHECK(Request::validate(alloc, m, req) == QmiError::kMissingArgument);
  m.tlvs.push_back({0x01, Bytes{2, 3}});
  CHECK(Request::validate(alloc, m, req) == QmiError::kMalformedMessage);
  m.tlvs[0].value = Bytes{2};
  m.tlvs.push_back({0x77, Bytes{1, 2, 3}});  // unknown TLVs are ignored
  CHECK_FALSE(Request::validate(alloc, m, req));
  CHECK(req.number(0x01) == 2);
}

TEST_CASE("personal fields are redacted unless asked for") {
  const MessageDef& ids = *find_message(0x02, 0x0025);
  Message request;
  request.service = 0x02;
  request.client_id = 1;
  request.message_id = 0x0025;
  Reply reply(ids, request);
  reply.set(0x10, {"0"}).set(0x11, {"867225039876540"});
  Message m = reply.build();
  CHECK(describe(m) == "DMS Get IDs response client=1 txn=0: result=success esn=\"0\" imei=<personal>");
  CHECK(describe(m, true).find("imei=\"867225039876540\"") != std::string::npos);
  Reply failed(ids, request);
  failed.fail(QmiError::kUimUninitialized);
  CHECK(describe(failed.build()) == "DMS Get IDs response client=1 txn=0: result=failure:UIM_UNINITIALIZED");
}

TEST_CASE("the schema is consistent") {
  std::set<std::pair<std::uint8_t, std::uint16_t>> seen;
  for (const auto& m : messages()) {
    CAPTURE(m.name);
    CHECK(seen.insert({m.service, m.id}).second);
    for (const auto* list : {&m.request, &m.response, &m.indication}) {
      std::set<std::uint8_t> types;
      for (const auto& t : *list) CHECK(types.insert(t.type).second);
    }
    CHECK(m.find(MessageType::kResponse, 0x02) == nullptr);  // the result TLV is implicit
  }
  CHECK(unknown_command_reply(Message{}).tlvs[0].value == Bytes{1, 0, 0x47, 0});
}

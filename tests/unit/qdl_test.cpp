// The QDL target (protocols/qdl) against a host that behaves as sierra-qdl.md describes
// qmi-firmware-update: DLOAD SDP probe, HELLO 4 -> 5 -> 6, then OPEN / WRITE / CLOSE per image and
// RESET. Golden vectors: the host's requests and the target's replies byte for byte (the CRCs
// were computed independently of protocols/diag/hdlc).
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "protocols/qdl/qdl.hpp"

using namespace modemu::protocols;
using namespace modemu::protocols::qdl;

namespace {

Bytes h(std::string_view text) { return *parse_hex(text); }

struct MemorySink : ImageSink {
  Bytes image;
  std::uint8_t type = 0;
  std::uint64_t total = 0;
  int begun = 0, finished = 0;
  std::optional<Refusal> refuse_begin, refuse_write, refuse_finish;
  std::optional<Refusal> begin(std::uint8_t t, std::uint64_t n) override {
    if (refuse_begin) return refuse_begin;
    ++begun;
    type = t;
    total = n;
    image.clear();
    return std::nullopt;
  }
  std::optional<Refusal> write(ByteView b) override {
    if (refuse_write) return refuse_write;
    image.insert(image.end(), b.begin(), b.end());
    return std::nullopt;
  }
  std::optional<Refusal> finish() override {
    if (refuse_finish) return refuse_finish;
    ++finished;
    return std::nullopt;
  }
};

struct Host {
  MemorySink sink;
  std::vector<Bytes> replies;
  std::optional<Bytes> sdp_override;
  std::unique_ptr<Target> target;
  std::vector<std::string> events;

  explicit Host(TargetConfig config = {}) {
    Target::Hooks hooks;
    hooks.event = [this](std::string_view l) { events.emplace_back(l); };
    hooks.sdp_reply = [this] { return sdp_override; };
    hooks.image_preference = [] {
      return std::vector<ImagePreference>{{0, "?_?"}, {1, "GENERIC"}};
    };
    target = std::make_unique<Target>(config, sink, [this](const Bytes& b) { replies.push_back(b); }, hooks);
  }
  // Sends `bytes` and returns the one reply they produced ("" if none).
  std::string ask(const Bytes& bytes) {
    std::size_t before = replies.size();
    target->receive(bytes);
    REQUIRE(replies.size() <= before + 1);
    return replies.size() == before ? "" : hex(replies.back(), 1000);
  }
  std::string framed(const Bytes& payload) { return ask(diag::frame(payload, true)); }
};

const char* kSdp = "7e 70 00 00 14 46 7e";
const char* kAckReply = "7e 02 6a d3 7e";
const char* kHello4 =
    "7e 01 51 43 4f 4d 20 68 69 67 68 20 73 70 65 65 64 20 70 72 6f 74 6f 63 6f 6c 20 68 73 74 00 00 00 00 04 04 30 03 0b 7e";
const char* kHello6 =
    "7e 01 51 43 4f 4d 20 68 69 67 68 20 73 70 65 65 64 20 70 72 6f 74 6f 63 6f 6c 20 68 73 74 00 00 00 00 06 06 30 0b 8d 7e";
const char* kHelloReply =
    "7e 02 51 43 4f 4d 20 68 69 67 68 20 73 70 65 65 64 20 70 72 6f 74 6f 63 6f 6c 20 74 67 74 00 00 00 00 06 06 00 00 10 00 "
    "00 00 00 00 00 01 00 00 00 30 93 0c 7e";
const char* kErrBadCmd = "7e 0d 05 00 00 00 00 04 e4 7e";
const char* kErrSeq = "7e 0d 0f 00 00 00 00 ac a8 7e";
const char* kErrCrc = "7e 0d 17 00 00 00 00 cc 46 7e";
const char* kErrAuth = "7e 0d 1a 00 00 00 00 b8 3a 7e";
const char* kOpenReply = "7e 26 00 00 01 00 00 10 00 e7 b6 7e";
const char* kWriteHeader0 = "27 00 00 00 00 00 00 04 00 00 00 54 3f";  // sequence 0, 4 bytes
const char* kWriteRsp0 = "7e 28 00 00 00 00 00 00 00 00 14 39 7e";
const char* kCloseFrame = "7e 29 bb 4c 7e";
const char* kCloseRspCwe = "7e 2a 00 00 80 00 82 6f 7e";
const char* kResetFrame = "7e 2d 9f 0a 7e";

Bytes header() { return Bytes{'H', 'D', 'R', '!'}; }
Bytes open_cwe() { return encode_open_request(kImageCwe, 8, header()); }

void hello(Host& host) {
  REQUIRE(host.ask(h(kSdp)) == kAckReply);
  REQUIRE(host.ask(h(kHello6)) == kHelloReply);
}

}  // namespace

TEST_CASE("qdl: golden session as qmi-firmware-update runs it") {
  Host host;
  CHECK(host.ask(h(kSdp)) == kAckReply);
  // Versions 4 and 5 are refused, 6 answered with a 49-byte HELLO response.
  CHECK(host.ask(h(kHello4)) == kErrBadCmd);
  CHECK(host.framed(encode_hello_request(5)) == kErrBadCmd);
  CHECK(host.ask(h(kHello6)) == kHelloReply);
  CHECK(h(kHello6) == diag::frame(encode_hello_request(6), true));
  CHECK(host.target->version() == 6);
  CHECK(host.framed(open_cwe()) == kOpenReply);
  CHECK(host.sink.type == kImageCwe);
  CHECK(host.sink.total == 8);
  Bytes write = h(kWriteHeader0);
  for (std::uint8_t b : Bytes{1, 2, 3, 4}) write.push_back(b);
  CHECK(encode_write_request(0, Bytes{1, 2, 3, 4}) == write);
  CHECK(host.ask(write) == kWriteRsp0);
  CHECK(host.ask(h(kCloseFrame)) == kCloseRspCwe);
  CHECK(host.sink.image == Bytes{'H', 'D', 'R', '!', 1, 2, 3, 4});
  CHECK(host.sink.finished == 1);
  // A second image in the same session: HELLO again, then OPEN.
  CHECK(host.ask(h(kHello6)) == kHelloReply);
  CHECK(host.framed(open_cwe()) == kOpenReply);
  CHECK(host.sink.begun == 2);
  CHECK(host.ask(h(kResetFrame)).empty());
  CHECK(host.target->state() == Target::State::kReset);
  CHECK(host.ask(h(kSdp)).empty());  // rebooting: nothing more is answered
}

TEST_CASE("qdl: the leading flag is optional and pieces of any size work") {
  Host host;
  Bytes sdp = h(kSdp);
  CHECK(host.ask(Bytes(sdp.begin() + 1, sdp.end())) == kAckReply);
  // The whole session one byte at a time.
  Bytes all = h(kHello6);
  Bytes open = diag::frame(open_cwe(), true);
  all.insert(all.end(), open.begin(), open.end());
  Bytes write = encode_write_request(0, Bytes{9, 8, 7, 6});
  all.insert(all.end(), write.begin(), write.end());
  Bytes close = h(kCloseFrame);
  all.insert(all.end(), close.begin(), close.end());
  for (std::uint8_t b : all) host.target->receive(ByteView(&b, 1));
  REQUIRE(host.replies.size() == 5);
  CHECK(hex(host.replies[1], 1000) == kHelloReply);
  CHECK(hex(host.replies[2], 1000) == kOpenReply);
  CHECK(hex(host.replies[3], 1000) == kWriteRsp0);
  CHECK(hex(host.replies[4], 1000) == kCloseRspCwe);
  CHECK(host.sink.image == Bytes{'H', 'D', 'R', '!', 9, 8, 7, 6});
}

TEST_CASE("qdl: a whole image in one transfer, several chunks") {
  Host host;
  hello(host);
  Bytes data(3 * 1000 + 17);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31);
  CHECK(host.framed(encode_open_request(kImageCwe, static_cast<std::uint32_t>(4 + data.size()), header())) == kOpenReply);
  Bytes writes;
  std::uint16_t seq = 0;
  for (std::size_t at = 0; at < data.size(); at += 1000, ++seq) {
    Bytes w = encode_write_request(seq, ByteView(data).subspan(at, std::min<std::size_t>(1000, data.size() - at)));
    writes.insert(writes.end(), w.begin(), w.end());
  }
  host.target->receive(writes);
  REQUIRE(host.replies.size() == 3 + 4);
  CHECK(hex(host.replies.back(), 100) == hex(diag::frame(encode_write_response(3, 0), true)));
  CHECK(host.target->received() == host.target->total());
  CHECK(host.ask(h(kCloseFrame)) == kCloseRspCwe);
  CHECK(ByteView(host.sink.image).subspan(4).size() == data.size());
  CHECK(Bytes(host.sink.image.begin() + 4, host.sink.image.end()) == data);
}

TEST_CASE("qdl: error replies") {
  SUBCASE("a frame with a bad CRC: 0x17") {
    Host host;
    Bytes bad = h(kSdp);
    bad[4] ^= 1;
    CHECK(host.ask(bad) == kErrCrc);
    CHECK(host.ask(h(kSdp)) == kAckReply);  // and the next good frame is served
  }
  SUBCASE("OPEN before HELLO, CLOSE and WRITE without OPEN: out of sequence") {
    Host host;
    CHECK(host.framed(open_cwe()) == kErrSeq);
    REQUIRE(host.ask(h(kHello6)) == kHelloReply);
    CHECK(host.ask(h(kCloseFrame)) == kErrSeq);
    CHECK(host.sink.begun == 0);
  }
  SUBCASE("a WRITE with the wrong sequence number: 0x0f, its chunk skipped, the image still open") {
    Host host;
    hello(host);
    REQUIRE(host.framed(open_cwe()) == kOpenReply);
    CHECK(host.ask(encode_write_request(1, Bytes{1, 2, 3, 4})) == kErrSeq);
    CHECK(host.sink.image == header());
    CHECK(host.ask(encode_write_request(0, Bytes{1, 2, 3, 4})) == kWriteRsp0);
    CHECK(host.ask(h(kCloseFrame)) == kCloseRspCwe);
  }
  SUBCASE("a WRITE header with a bad CRC: 0x17, then frames are taken again once one checks out") {
    Host host;
    hello(host);
    REQUIRE(host.framed(open_cwe()) == kOpenReply);
    Bytes w = encode_write_request(0, Bytes{1, 2, 3, 4});
    w[11] ^= 0xff;
    CHECK(host.ask(w) == kErrCrc);
    CHECK(host.target->state() == Target::State::kResync);
    CHECK(host.ask(Bytes{1, 2, 3, 0x7e}).empty());  // stray chunk bytes: dropped silently
    CHECK(host.ask(h(kHello6)) == kHelloReply);
  }
  SUBCASE("a chunk past the announced length: 0x03") {
    Host host;
    hello(host);
    REQUIRE(host.framed(open_cwe()) == kOpenReply);
    CHECK(host.ask(encode_write_request(0, Bytes(5, 1))) == hex(diag::frame(encode_error(kErrBadLength), true)));
  }
  SUBCASE("CLOSE before the whole image: 0x10") {
    Host host;
    hello(host);
    REQUIRE(host.framed(open_cwe()) == kOpenReply);
    CHECK(host.ask(h(kCloseFrame)) == hex(diag::frame(encode_error(kErrCloseFailed), true)));
    CHECK(host.sink.finished == 0);
  }
  SUBCASE("an image the module refuses: the sink's code (image authentication 0x1a)") {
    Host host;
    hello(host);
    host.sink.refuse_begin = Refusal{kErrImageAuth, "product 9X15 is not this module's 9X30"};
    CHECK(host.framed(open_cwe()) == kErrAuth);
    CHECK(host.target->state() == Target::State::kReady);
    host.sink.refuse_begin.reset();
    host.sink.refuse_finish = Refusal{kErrImageAuth, "image CRC mismatch"};
    REQUIRE(host.framed(open_cwe()) == kOpenReply);
    REQUIRE(host.ask(encode_write_request(0, Bytes{1, 2, 3, 4})) == kWriteRsp0);
    CHECK(host.ask(h(kCloseFrame)) == kErrAuth);
  }
  SUBCASE("a sink that refuses data mid-chunk ends the image") {
    Host host;
    hello(host);
    REQUIRE(host.framed(open_cwe()) == kOpenReply);
    host.sink.refuse_write = Refusal{kErrOutOfSpace, "full"};
    CHECK(host.ask(encode_write_request(0, Bytes{1, 2, 3, 4})) == hex(diag::frame(encode_error(kErrOutOfSpace), true)));
    CHECK(host.target->state() == Target::State::kReady);
  }
  SUBCASE("HELLO without unframed writes: 0x11; unknown commands: 0x05; short messages: 0x04") {
    Host host;
    Bytes hello = encode_hello_request(6);
    hello[35] = 0;
    CHECK(host.framed(hello) == hex(diag::frame(encode_error(kErrBadFeatures), true)));
    CHECK(host.framed(Bytes{0x55}) == kErrBadCmd);
    CHECK(host.framed(Bytes{kHelloReq, 'Q'}) == hex(diag::frame(encode_error(kErrBadPacket), true)));
  }
  SUBCASE("the loader's wrong SDP answer (field failure: 0x13)") {
    Host host;
    host.sdp_override = Bytes{0x13};
    CHECK(host.ask(h(kSdp)) == "7e 13 62 d2 7e");
  }
}

TEST_CASE("qdl: versions and image preference") {
  TargetConfig c;
  c.min_version = 4;
  Host host(c);
  CHECK(host.ask(h(kHello4)).size() == 3 * (kHelloRspSize + 4) - 1);
  CHECK(host.target->version() == 4);
  std::string pref = host.framed(Bytes{kGetImagePrefReq});
  CHECK(pref.substr(0, 12) == "7e 2f 02 00 ");
  CHECK(pref.find("47 45 4e 45 52 49 43") != std::string::npos);  // GENERIC
  CHECK(encode_image_preference({{1, "GENERIC"}}).size() == 2 + 17);
}

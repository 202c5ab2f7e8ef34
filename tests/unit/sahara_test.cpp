// The Sahara target against scripted hosts behaving as the reference describes QFirehose,
// bkerler/edl, qdl and libqmi's qmi-firmware-update. Target output is checked byte for byte.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "protocols/sahara/sahara.hpp"

using namespace modemu::protocols;
using namespace modemu::protocols::sahara;

namespace {

// A small ELF32 programmer: header, one program header, one 5000-byte segment.
Bytes programmer() {
  Writer w;
  w.u8(0x7f).text("ELF").u8(1).u8(1).u8(1).u8(0).le(0, 8);   // e_ident: ELF32, little-endian
  w.le16(2).le16(40).le32(1).le32(0x1000).le32(52).le32(0);   // type, machine (ARM), version, entry, phoff, shoff
  w.le32(0).le16(52).le16(32).le16(1).le16(40).le16(0).le16(0);  // flags, ehsize, phentsize, phnum, sh...
  w.le32(1).le32(0x100).le32(0x1000).le32(0x1000).le32(5000).le32(5000).le32(5).le32(4);  // PT_LOAD
  Bytes b = w.take();
  b.resize(0x100, 0);
  for (int i = 0; i < 5000; ++i) b.push_back(static_cast<std::uint8_t>(i * 7));
  return b;
}

struct Host {
  std::vector<Bytes> from_target;
  std::uint32_t verdict = kSuccess;
  Bytes seen_image;
  TargetConfig config;
  std::unique_ptr<Target> target;

  explicit Host(TargetConfig c = {}) : config(std::move(c)) {
    target = std::make_unique<Target>(config, [this](const Bytes& b) { from_target.push_back(b); },
                                      [this](const Bytes& image) {
                                        seen_image = image;
                                        return verdict;
                                      });
  }
  Bytes last() const { return from_target.empty() ? Bytes{} : from_target.back(); }
  std::string last_hex() const { return hex(last(), 1000); }
  void send(const Bytes& b) { target->receive(b); }
  Bytes hello_resp(std::uint32_t mode) {
    Writer w;
    w.le32(2).le32(1).le32(0).le32(mode);
    for (int i = 1; i <= 6; ++i) w.le32(static_cast<std::uint32_t>(i));  // QFirehose: reserved 1..6
    return encode(kHelloResp, w.data());
  }
  // Serves READ_DATA from `image` until the target stops asking.
  int serve(const Bytes& image) {
    int reads = 0;
    while (true) {
      auto p = decode(last());
      if (!p || p->command != kReadData) return reads;
      Reader r(p->body);
      r.le32();
      std::uint32_t offset = r.le32();
      std::uint32_t length = r.le32();
      ++reads;
      send(Bytes(image.begin() + offset, image.begin() + offset + length));
    }
  }
};

}  // namespace

TEST_CASE("QFirehose's flow: stray byte, HELLO again, the programmer pulled as an ELF, DONE") {
  Host h;
  h.target->start();
  // HELLO: version 2, supported 1, max command packet 0x400, mode 0, reserved zero; 0x30 bytes.
  CHECK(h.last_hex() == "01 00 00 00 30 00 00 00 02 00 00 00 01 00 00 00 00 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
                        "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
  h.send(Bytes{0x00});  // its first read failed: a single stray byte
  CHECK(h.from_target.size() == 2);
  CHECK(h.last() == h.from_target[0]);
  h.send(h.hello_resp(kModeImageTxPending));
  // READ_DATA image 13, offset 0, the 52-byte ELF header
  CHECK(h.last_hex() == "03 00 00 00 14 00 00 00 0d 00 00 00 00 00 00 00 34 00 00 00");
  Bytes image = programmer();
  int reads = h.serve(image);
  CHECK(reads == 4);  // header, program headers, 4096 + 904 bytes of the segment
  CHECK(h.last_hex() == "04 00 00 00 10 00 00 00 0d 00 00 00 00 00 00 00");  // END_IMAGE_TX 13, success
  CHECK(std::equal(image.begin() + 0x100, image.end(), h.seen_image.begin() + 0x100));
  h.send(encode(kDone));
  CHECK(h.last_hex() == "06 00 00 00 0c 00 00 00 01 00 00 00");  // DONE_RESP: transfer complete
  CHECK(h.target->state() == Target::State::kDone);
}

TEST_CASE("an image that is not this module's programmer ends with an error status") {
  Host h;
  h.verdict = kHashVerificationFailure;
  h.target->start();
  h.send(h.hello_resp(kModeImageTxPending));
  h.serve(programmer());
  CHECK(h.last_hex() == "04 00 00 00 10 00 00 00 0d 00 00 00 22 00 00 00");
  h.send(encode(kDone));  // DONE without a good image: refused
  CHECK(h.last_hex() == "04 00 00 00 10 00 00 00 0d 00 00 00 01 00 00 00");
  CHECK(h.target->state() == Target::State::kFailed);
  h.send(encode(kResetStateMachine));  // the host starts over
  CHECK(decode(h.last())->command == kHello);
}

TEST_CASE("a file that is not an ELF image is refused at its header") {
  Host h;
  h.target->start();
  h.send(h.hello_resp(kModeImageTxPending));
  h.send(Bytes(52, 0x41));
  CHECK(h.last_hex() == "04 00 00 00 10 00 00 00 0d 00 00 00 14 00 00 00");
}

TEST_CASE("command mode as bkerler/edl drives it, then the switch back to image transfer") {
  TargetConfig c;
  c.serial = 0x12345678;
  c.msm_hw_id = 0x0007b0e1;
  c.oem_pk_hash = Bytes(32, 0xab);
  Host h(c);
  h.target->start();
  h.send(h.hello_resp(kModeCommand));
  CHECK(h.last_hex() == "0b 00 00 00 08 00 00 00");  // CMD_READY
  Writer x;
  x.le32(kSerialNumber);
  h.send(encode(kCmdExecute, x.data()));
  CHECK(h.last_hex() == "0e 00 00 00 10 00 00 00 01 00 00 00 04 00 00 00");
  h.send(encode(kCmdExecuteData, x.data()));
  CHECK(h.last_hex() == "78 56 34 12");
  Writer y;
  y.le32(kOemPkHash);
  h.send(encode(kCmdExecute, y.data()));
  h.send(encode(kCmdExecuteData, y.data()));
  CHECK(h.last() == Bytes(32, 0xab));
  Writer z;
  z.le32(kModeImageTxPending);
  h.send(encode(kCmdSwitchMode, z.data()));
  CHECK(decode(h.last())->command == kHello);
  CHECK(h.target->state() == Target::State::kHello);
}

TEST_CASE("EM7565: EXECUTE 0xff00 is confirmed and Firehose follows; other modules refuse it") {
  TargetConfig c;
  c.firehose_execute = true;
  Host h(c);
  h.target->start();
  h.send(h.hello_resp(kModeCommand));
  Writer x;
  x.le32(kSwitchToFirehose);
  h.send(encode(kCmdExecute, x.data()));
  CHECK(h.last_hex() == "0e 00 00 00 10 00 00 00 00 ff 00 00 09 00 00 00");
  h.send(encode(kCmdExecuteData, x.data()));
  Bytes confirmation = h.last();
  CHECK(std::string(confirmation.begin(), confirmation.end()) == "confirmed");
  CHECK(h.target->state() == Target::State::kFirehose);

  Host other;
  other.target->start();
  other.send(other.hello_resp(kModeCommand));
  other.send(encode(kCmdExecute, x.data()));
  CHECK(other.last_hex() == "04 00 00 00 10 00 00 00 0d 00 00 00 1f 00 00 00");
}

TEST_CASE("qdl's speculative HELLO_RESP, READ_DATA_64, RESET") {
  TargetConfig c;
  c.read_data_64 = true;
  Host h(c);
  h.send(h.hello_resp(kModeImageTxPending));  // before the target said anything
  h.target->start();
  h.send(h.hello_resp(kModeImageTxPending));
  CHECK(h.last_hex() == "12 00 00 00 20 00 00 00 0d 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 34 00 00 00 00 00 00 00");
  // Mid-transfer every byte is image data, as on a real target: a RESET there is not a packet.
  h.send(encode(kReset));
  CHECK(h.target->state() == Target::State::kImage);
  Host fresh;
  fresh.target->start();
  fresh.send(encode(kReset));
  CHECK(fresh.last_hex() == "08 00 00 00 08 00 00 00");
  CHECK(fresh.target->state() == Target::State::kReset);
}

TEST_CASE("regression: program headers at offset 0 rewriting the ELF class overran the image") {
  // Found by the sahara fuzz target: the program headers were parsed with the class byte as the
  // program header read left it (ELF64) but the sizes of the ELF32 header already read.
  Host h;
  h.target->start();
  h.send(h.hello_resp(kModeImageTxPending));
  Bytes header = programmer();
  header.resize(52);
  header[28] = 0;  // e_phoff = 0: the program headers overlap the header
  h.send(header);
  CHECK(h.last_hex() == "03 00 00 00 14 00 00 00 0d 00 00 00 00 00 00 00 20 00 00 00");  // 32 bytes at 0
  Bytes phdr(32, 0);
  phdr[4] = 2;  // the class byte of the image now says ELF64
  h.send(phdr);  // a PT_NULL program header: nothing to load
  CHECK(h.last_hex() == "04 00 00 00 10 00 00 00 0d 00 00 00 14 00 00 00");
}

TEST_CASE("garbage in the hello phase brings HELLO again; a bogus length does not wedge it") {
  Host h;
  h.target->start();
  h.send(Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  CHECK(decode(h.last())->command == kHello);
  h.send(h.hello_resp(kModeImageTxPending));
  CHECK(decode(h.last())->command == kReadData);
}

// What a freshly opened tty does with a HELLO before the updater makes it raw: it echoes every
// byte back, control characters as two ("^A", "^@"), each in a write of its own.
Bytes echoed_byte(std::uint8_t b, std::size_t half) {
  if (b < 0x20) return Bytes{half == 0 ? std::uint8_t{'^'} : static_cast<std::uint8_t>(b + 0x40)};
  return Bytes{b};
}

TEST_CASE("a tty's echo of HELLO, byte by byte, is dropped while the config holds repeats back") {
  int asked = 0;
  bool allow = false;
  TargetConfig c;
  c.may_repeat_hello = [&] {
    ++asked;
    return allow;
  };
  Host h(c);
  h.target->start();
  Bytes hello = h.last();
  for (std::uint8_t b : hello) {
    h.send(echoed_byte(b, 0));
    if (b < 0x20) h.send(echoed_byte(b, 1));
  }
  CHECK(h.from_target.size() == 1);  // the first HELLO only: nothing answered the echo
  CHECK(asked > 0);
  // The echo left nothing behind: the HELLO_RESP that follows is taken as it is.
  h.send(h.hello_resp(kModeImageTxPending));
  CHECK(decode(h.last())->command == kReadData);
}

TEST_CASE("QFirehose's stray byte still brings HELLO again when the config allows a repeat") {
  TargetConfig c;
  c.may_repeat_hello = [] { return true; };
  Host h(c);
  h.target->start();
  h.send(Bytes{0x00});
  REQUIRE(h.from_target.size() == 2);
  CHECK(decode(h.last())->command == kHello);
}

// The QDL port (emulator/sierra/qdl_port) on a Sierra modem, writing into an in-memory firmware
// storage: a download as qmi-firmware-update runs it, RESET rebooting the module, and the port's
// faults (the loader's wrong SDP answer, a power cut N% into an image).
#include <doctest/doctest.h>

#include "emulator/faults/faults.hpp"
#include "emulator/sierra/qdl_port.hpp"
#include "emulator/firmware/package.hpp"
#include "emulator/sierra/store.hpp"
#include "protocols/qdl/qdl.hpp"
#include "tests/unit/support.hpp"

using namespace modemu;
using namespace modemu::protocols;

namespace {

struct MemoryStorage : emulator::sierra::FirmwareSink {
  Bytes image;
  std::uint64_t total = 0;
  bool in_progress = false;
  int installed = 0;
  std::optional<emulator::sierra::SinkError> begin(std::uint8_t, std::uint64_t n) override {
    total = n;
    image.clear();
    in_progress = true;
    return std::nullopt;
  }
  std::optional<emulator::sierra::SinkError> write(ByteView b) override {
    if (image.size() + b.size() > total) return emulator::sierra::SinkError{qdl::kErrBadLength, "too long"};
    image.insert(image.end(), b.begin(), b.end());
    return std::nullopt;
  }
  std::optional<emulator::sierra::SinkError> finish() override {
    if (image.size() < 4 || image[0] != 'C') return emulator::sierra::SinkError{qdl::kErrImageAuth, "not a CWE image"};
    in_progress = false;
    ++installed;
    return std::nullopt;
  }
};

struct Rig {
  test::VirtualModem vm{"sierra-mc7455"};
  MemoryStorage storage;
  std::unique_ptr<emulator::sierra::QdlPort> port;
  std::vector<Bytes> out;

  Rig() {
    vm.boot();
    emulator::PortInfo info{0, profile::QDL, "qcserial", "ttyUSB0"};
    port = std::make_unique<emulator::sierra::QdlPort>(info, *vm.modem, storage);
    port->set_sink([this](std::string_view b) { out.emplace_back(as_bytes(b).begin(), as_bytes(b).end()); });
    port->host_opened();
  }
  std::string ask(const Bytes& b) {
    std::size_t before = out.size();
    port->from_host(as_chars(b));
    return out.size() == before ? "" : hex(out.back(), 200);
  }
  std::string framed(const Bytes& payload) { return ask(diag::frame(payload, true)); }
  std::string ok(const Bytes& payload) { return hex(diag::frame(payload, true), 200); }
  void session(const Bytes& image) {
    REQUIRE(framed(Bytes{qdl::kDloadSdp, 0, 0}) == ok(Bytes{qdl::kDloadAck}));
    REQUIRE(framed(qdl::encode_hello_request(6)).size() == 3 * 53 - 1);
    Bytes header(image.begin(), image.begin() + 8);
    REQUIRE(framed(qdl::encode_open_request(qdl::kImageCwe, static_cast<std::uint32_t>(image.size()), header)) ==
            ok(qdl::encode_open_response(0, qdl::kMaxChunk)));
  }
};

Bytes image_of(std::size_t size) {
  Bytes b(size);
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::uint8_t>(i * 13 + 1);
  b[0] = 'C';
  return b;
}

}  // namespace

TEST_CASE("sierra qdl port: a download into the storage, then RESET reboots the module") {
  Rig rig;
  Bytes image = image_of(3 << 20);
  rig.session(image);
  std::uint16_t seq = 0;
  for (std::size_t at = 8; at < image.size(); at += qdl::kMaxChunk, ++seq) {
    std::size_t n = std::min<std::size_t>(qdl::kMaxChunk, image.size() - at);
    CHECK(rig.ask(qdl::encode_write_request(seq, ByteView(image).subspan(at, n))) == rig.ok(qdl::encode_write_response(seq, 0)));
  }
  CHECK(rig.framed(Bytes{qdl::kCloseUnframedReq}) == rig.ok(qdl::encode_close_response(0, qdl::kImageCwe)));
  CHECK(rig.storage.image == image);
  CHECK(rig.storage.installed == 1);
  CHECK(rig.vm.count("qdl.progress") >= 3);
  auto boots = rig.vm.modem->state().boot_count;
  CHECK(rig.framed(Bytes{qdl::kResetReq}).empty());
  rig.vm.clock.advance(std::chrono::seconds(30));
  CHECK(rig.vm.modem->state().boot_count > boots);
}

TEST_CASE("sierra qdl port: the storage's refusal reaches the host as its QDL error") {
  Rig rig;
  Bytes image = image_of(100);
  image[0] = 'X';
  rig.session(image);
  CHECK(rig.ask(qdl::encode_write_request(0, ByteView(image).subspan(8))) == rig.ok(qdl::encode_write_response(0, 0)));
  CHECK(rig.framed(Bytes{qdl::kCloseUnframedReq}) == rig.ok(qdl::encode_error(qdl::kErrImageAuth)));
  CHECK(rig.storage.in_progress);
}

TEST_CASE("sierra qdl port: faults") {
  SUBCASE("the loader answers the SDP probe with 0x13") {
    Rig rig;
    rig.vm.modem->edl_faults().qdl_sdp_reply = 0x13;
    CHECK(rig.framed(Bytes{qdl::kDloadSdp, 0, 0}) == "7e 13 62 d2 7e");
  }
  SUBCASE("a power cut 40% into the first image: that much is stored, nothing more is said") {
    Rig rig;
    rig.vm.modem->edl_faults().cut_at_qdl_percent = 40;
    Bytes image = image_of(1000);
    rig.session(image);
    CHECK(rig.ask(qdl::encode_write_request(0, ByteView(image).subspan(8))).empty());
    CHECK(rig.storage.image.size() == 400);
    CHECK(rig.storage.in_progress);
    CHECK(rig.framed(Bytes{qdl::kCloseUnframedReq}).empty());
    rig.vm.clock.advance(std::chrono::seconds(1));
    bool cut = false;
    for (const auto& e : rig.vm.log.history()) cut = cut || e.message.find("power cut 40% into QDL image #1 (400 of 1000") != std::string::npos;
    CHECK(cut);
    CHECK(rig.vm.modem->power_state() != emulator::PowerState::kApplication);
  }
}

TEST_CASE("sierra qdl port: the registry's faults pull the port's levers") {
  Rig rig;
  emulator::faults::Rng rng(1);
  {
    auto f = emulator::faults::activate(*rig.vm.modem, "qdl_sdp_reply", {}, rng);
    CHECK(rig.framed(Bytes{qdl::kDloadSdp, 0, 0}) == "7e 13 62 d2 7e");
  }
  CHECK(rig.framed(Bytes{qdl::kDloadSdp, 0, 0}) == rig.ok(Bytes{qdl::kDloadAck}));
  auto cut = emulator::faults::activate(*rig.vm.modem, "power_cut", {{"point", "qdl_image"}, {"percent", "25"}}, rng);
  CHECK(rig.vm.modem->edl_faults().cut_at_qdl_percent == 25);
  CHECK(rig.vm.modem->edl_faults().cut_qdl_image_index == 1);
}

TEST_CASE("sierra qdl port: on a module, GET IMAGE PREFERENCE lists the storage's preference") {
  test::VirtualModem vm{"sierra-mc7455"};
  vm.boot();
  REQUIRE(vm.modem->sierra_store() != nullptr);
  emulator::PortInfo info{0, profile::QDL, "qcserial", "ttyUSB0"};
  emulator::sierra::QdlPort port(info, *vm.modem, *vm.modem->sierra_store());
  std::string out;
  port.set_sink([&](std::string_view b) { out.append(b); });
  port.from_host(as_chars(diag::frame(Bytes{qdl::kGetImagePrefReq}, true)));
  const auto& pref = vm.modem->sierra_store()->state().preference();
  CHECK(as_chars(as_bytes(out)).substr(0, 3) == std::string("\x7e\x2f\x02", 3));
  CHECK(out.find(pref.modem_build()) != std::string::npos);
  CHECK(out.find(pref.pri_unique()) != std::string::npos);
}

TEST_CASE("sierra qdl port: a large release into the module's storage, in USB-sized pieces") {
  test::VirtualModem vm{"sierra-mc7455"};
  vm.boot();
  emulator::firmware::PackageOptions po;
  po.extra_bytes = 8u << 20;  // nine 1 MiB chunks
  auto release = emulator::firmware::build_sierra_release(vm.modem->profile(), "SWI9X30C_02.30.01.01", po);
  emulator::PortInfo info{0, profile::QDL, "qcserial", "ttyUSB0"};
  emulator::sierra::QdlPort port(info, *vm.modem, *vm.modem->sierra_store());
  std::vector<Bytes> out;
  port.set_sink([&](std::string_view b) { out.emplace_back(as_bytes(b).begin(), as_bytes(b).end()); });
  auto send = [&](const Bytes& b, std::size_t piece) {
    for (std::size_t at = 0; at < b.size(); at += piece) {
      port.from_host(as_chars(ByteView(b).subspan(at, std::min(piece, b.size() - at))));
    }
  };
  send(diag::frame(Bytes{qdl::kDloadSdp, 0, 0}, true), 512);
  send(diag::frame(qdl::encode_hello_request(6), true), 512);
  const auto& f = release[0];
  send(diag::frame(qdl::encode_open_request(qdl::kImageCwe, static_cast<std::uint32_t>(f.data.size()), ByteView(f.data).first(400)), true), 512);
  std::uint16_t seq = 0;
  for (std::size_t at = 400; at < f.data.size(); at += qdl::kMaxChunk, ++seq) {
    send(qdl::encode_write_request(seq, ByteView(f.data).subspan(at, std::min<std::size_t>(qdl::kMaxChunk, f.data.size() - at))), 16384);
  }
  out.clear();
  send(diag::frame(Bytes{qdl::kCloseUnframedReq}, true), 512);
  REQUIRE(out.size() == 1);
  CHECK(hex(out[0]) == hex(diag::frame(qdl::encode_close_response(0, qdl::kImageCwe), true)));
}

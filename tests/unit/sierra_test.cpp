// Sierra firmware: CWE images (golden vectors), the firmware storage, the boot decision it
// drives, and the package `modemu firmware build` writes.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "emulator/faults/faults.hpp"
#include "emulator/firmware/package.hpp"
#include "emulator/sierra/store.hpp"
#include "protocols/common/crc32.hpp"
#include "protocols/cwe/cwe.hpp"
#include "qmi_client.hpp"
#include "support.hpp"

namespace cwe = modemu::protocols::cwe;
namespace sierra = modemu::emulator::sierra;
namespace fs = std::filesystem;
using modemu::protocols::Bytes;
using modemu::protocols::ByteView;
using modemu::emulator::PowerState;

namespace {

cwe::Header header(std::string type, std::string version, std::string product = "9X30") {
  cwe::Header h;
  h.type = std::move(type);
  h.product = std::move(product);
  h.version = std::move(version);
  h.date = "08/28/19";
  return h;
}

Bytes modem_package(const std::string& fw, const std::string& product = "9X30") {
  std::string name = "SWI9X30C_" + fw;
  return cwe::encode_package(header("SPKG", name, product),
                             {cwe::encode(header("BOOT", name, product), Bytes(64, 0xb0)),
                              cwe::encode(header("APPL", name, product), Bytes(1000, 0xa1))});
}

Bytes pri_package(const std::string& fw, const std::string& carrier, const std::string& config) {
  std::string v = "_" + fw + "_" + carrier + "_" + config;
  return cwe::encode_package(header("SPKG", "SWI9X30C" + v), {cwe::encode(header("NVUP", v), Bytes(100, 0x4e))});
}

std::optional<sierra::SinkError> download(sierra::FirmwareSink& sink, const Bytes& image, std::size_t cut = SIZE_MAX) {
  if (auto e = sink.begin(0x80, image.size())) return e;
  std::size_t n = std::min(cut, image.size());
  for (std::size_t at = 0; at < n; at += 4096) {
    if (auto e = sink.write(ByteView(image).subspan(at, std::min<std::size_t>(4096, n - at)))) return e;
  }
  if (cut != SIZE_MAX) return std::nullopt;
  return sink.finish();
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("modemu-sierra-" + std::to_string(::getpid()) + "-" + std::to_string(rand()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("CWE golden vector: the 400-byte header, big-endian fields, CRCs") {
  Bytes data{0x01, 0x02, 0x03};
  Bytes img = cwe::encode(header("APPL", "SWI9X30C_02.30.01.01"), data);
  REQUIRE(img.size() == 403);
  // reserved block of zeros, then its CRC-32 (of 256 zero bytes), big-endian
  CHECK(modemu::protocols::hex(ByteView(img).subspan(256, 12)) == "0d 96 85 58 00 00 00 03 00 00 00 01");
  CHECK(modemu::protocols::as_chars(ByteView(img).subspan(268, 8)) == "APPL9X30");
  CHECK(modemu::protocols::hex(ByteView(img).subspan(276, 8)) == "00 00 00 03 55 bc 80 1d");  // size, CRC-32 of 01 02 03
  CHECK(modemu::protocols::as_chars(ByteView(img).subspan(284, 20)) == "SWI9X30C_02.30.01.01");
  CHECK(img[304] == 0);
  CHECK(modemu::protocols::as_chars(ByteView(img).subspan(368, 8)) == "08/28/19");
  auto p = cwe::parse(img);
  REQUIRE(p);
  CHECK(p.image->header.type == "APPL");
  CHECK(p.image->header.version == "SWI9X30C_02.30.01.01");
  CHECK(p.image->data.size() == 3);
}

TEST_CASE("CWE packages nest; parse finds every image at its offset") {
  Bytes pkg = modem_package("02.30.01.01");
  auto p = cwe::parse(pkg);
  REQUIRE(p);
  auto all = cwe::flatten(*p.image);
  REQUIRE(all.size() == 3);
  CHECK(all[1]->header.type == "BOOT");
  CHECK(all[1]->offset == 400);
  CHECK(all[2]->header.type == "APPL");
  CHECK(all[2]->offset == 400 + 400 + 64);
}

TEST_CASE("CWE errors say what and where") {
  Bytes pkg = modem_package("02.30.01.01");
  SUBCASE("a flipped data byte fails the image CRC") {
    pkg[pkg.size() - 1] ^= 1;
    auto p = cwe::parse(pkg);
    REQUIRE_FALSE(p);
    CHECK(p.error.message.find("CRC") != std::string::npos);
  }
  SUBCASE("truncated") {
    pkg.resize(pkg.size() - 10);
    auto p = cwe::parse(pkg);
    REQUIRE_FALSE(p);
    CHECK(p.error.offset == 0);
    CHECK(p.error.message.find("does not fit") != std::string::npos);
  }
  SUBCASE("trailing bytes") {
    pkg.push_back(0);
    auto p = cwe::parse(pkg);
    REQUIRE_FALSE(p);
    CHECK(p.error.offset == pkg.size() - 1);
  }
  SUBCASE("non-ASCII version") {
    Bytes img = cwe::encode(header("APPL", "x"), Bytes(4, 0));
    img[290] = 0x80;
    auto p = cwe::parse(img);
    REQUIRE_FALSE(p);
    CHECK(p.error.offset == 284);
  }
  SUBCASE("header CRC") {
    Bytes img = cwe::encode(header("APPL", "x"), Bytes(4, 0));
    img[3] = 1;
    CHECK_FALSE(cwe::parse(img));
  }
}

TEST_CASE("CWE version strings parse as qmi-firmware-update parses them") {
  auto v = cwe::parse_version("_02.33.03.00_GENERIC_002.072_000");
  REQUIRE(v);
  CHECK(v->firmware == "02.33.03.00");
  CHECK(v->carrier == "GENERIC");
  CHECK(v->config == "002.072_000");
  v = cwe::parse_version("SWI9X30C_02.24.05.06");
  REQUIRE(v);
  CHECK(v->firmware == "02.24.05.06");
  CHECK(v->carrier.empty());
  v = cwe::parse_version("SWI9X30C_02.30.01.01_GENERIC_002.079_000.nvu");
  REQUIRE(v);
  CHECK(v->config == "002.079_000");
  CHECK_FALSE(cwe::parse_version("SWI9X30C_2.30.01.01"));
  CHECK_FALSE(cwe::parse_version(""));
}

TEST_CASE("Sierra store: factory state, preference, images to download") {
  modemu::test::VirtualModem vm("sierra-mc7455");
  auto* store = vm.modem->sierra_store();
  REQUIRE(store != nullptr);
  CHECK(store->state().running().modem_build() == "02.33.03.00_?");
  CHECK(store->state().running().pri_unique() == "002.079_000");
  CHECK(store->missing().empty());
  modemu::profile::SierraImagePair pref;
  pref.set_modem_build("02.30.01.01_?");
  pref.set_pri_unique("002.080_000");
  pref.set_pri_build("02.30.01.01_GENERIC");
  auto want = store->set_preference(pref, nullptr);
  REQUIRE(want);
  CHECK(*want == std::vector<std::uint8_t>{0, 1});
  pref.set_modem_build("2.30_?");
  std::string why;
  CHECK_FALSE(store->set_preference(pref, &why));
  CHECK(why.find("2.30_?") != std::string::npos);
}

TEST_CASE("Sierra store: a downloaded package is stored and preferred; a foreign one is refused") {
  modemu::test::VirtualModem vm("sierra-mc7455");
  auto& store = *vm.modem->sierra_store();
  SUBCASE("another product: image authentication error, nothing stored") {
    auto e = download(store, modem_package("02.30.01.01", "9X15"));
    REQUIRE(e);
    CHECK(e->qdl_code == modemu::protocols::qdl::kErrImageAuth);
    CHECK(e->text.find("9X15") != std::string::npos);
    CHECK(store.find_modem("02.30.01.01_?") == nullptr);
    CHECK(store.state().download_in_progress());
  }
  SUBCASE("a corrupted image: bad CRC") {
    Bytes pkg = modem_package("02.30.01.01");
    pkg[pkg.size() - 5] ^= 0xff;
    auto e = download(store, pkg);
    REQUIRE(e);
    CHECK(e->qdl_code == modemu::protocols::qdl::kErrBadCrc);
  }
  SUBCASE("modem then PRI: preferred, and the next boot runs them") {
    REQUIRE_FALSE(download(store, modem_package("02.30.01.01")));
    CHECK_FALSE(store.state().download_in_progress());
    REQUIRE_FALSE(download(store, pri_package("02.30.01.01", "GENERIC", "002.080_000")));
    CHECK(store.missing().empty());
    CHECK(store.state().preference().modem_build() == "02.30.01.01_?");
    CHECK(store.boot_preferred());
    auto fw = store.running_firmware();
    CHECK(fw.version() == "SWI9X30C_02.30.01.01");
    CHECK(fw.carrier_config() == "GENERIC_002.080_000");
  }
  SUBCASE("write before begin is out of sequence") {
    Bytes b(4, 0);
    auto e = store.write(b);
    REQUIRE(e);
    CHECK(e->qdl_code == modemu::protocols::qdl::kErrCommandSequence);
  }
}

TEST_CASE("Sierra boot decision: an interrupted download boots into boot-and-hold, even after a restart") {
  TempDir dir;
  {
    modemu::test::VirtualModem vm("sierra-mc7455", dir.path);
    vm.boot();
    REQUIRE(vm.modem->power_state() == PowerState::kApplication);
    download(*vm.modem->sierra_store(), modem_package("02.30.01.01"), 5000);  // the power fails mid-image
  }
  modemu::test::VirtualModem vm("sierra-mc7455", dir.path);
  vm.boot();
  CHECK(vm.modem->power_state() == PowerState::kSierraBootHold);
  REQUIRE(vm.modem->composition() != nullptr);
  CHECK(vm.modem->composition()->idproduct() == 0x9070);
  CHECK(vm.modem->composition()->interfaces_size() == 1);
  // The recovery: the whole package, then a reset, runs the new firmware.
  REQUIRE_FALSE(download(*vm.modem->sierra_store(), modem_package("02.30.01.01")));
  vm.modem->reset("QDL reset");
  vm.boot();
  CHECK(vm.modem->power_state() == PowerState::kApplication);
  CHECK(vm.modem->firmware().version() == "SWI9X30C_02.30.01.01");
  modemu::test::AtClient at(*vm.modem, "ttyUSB2");
  CHECK(at.cmd("AT+CGMR").find("SWI9X30C_02.30.01.01") != std::string::npos);
}

TEST_CASE("Sierra boot decision: a preference naming a missing image runs in low-power mode, SIM unseen") {
  modemu::test::VirtualModem vm("sierra-mc7455");
  vm.boot();
  modemu::profile::SierraImagePair pref = vm.modem->sierra_store()->state().preference();
  pref.set_modem_build("02.30.01.01_?");
  REQUIRE(vm.modem->sierra_store()->set_preference(pref, nullptr));
  vm.modem->reset("test");
  vm.boot();
  CHECK(vm.modem->power_state() == PowerState::kApplication);
  CHECK(vm.modem->state().firmware_low_power);
  CHECK_FALSE(vm.modem->registered());
  modemu::test::AtClient at(*vm.modem, "ttyUSB2");
  CHECK(at.cmd("AT!GSTATUS?").find("LOW POWER MODE") != std::string::npos);
  std::string impref = at.cmd("AT!IMPREF?");
  CHECK(impref.find("preferred fw version:    02.30.01.01") != std::string::npos);
  CHECK(impref.find("current fw version:      02.33.03.00") != std::string::npos);
  CHECK(impref.find("fw version mismatch") != std::string::npos);
  CHECK(at.cmd("AT+CPIN?").find("READY") == std::string::npos);
  CHECK(at.cmd("AT+CPIN?").find("ERROR") != std::string::npos);
  CHECK(at.cmd("AT+CFUN=1").find("ERROR") != std::string::npos);
}

TEST_CASE("Sierra boot-and-hold requested over AT: AT!BOOTHOLD resets into 1199:9070") {
  modemu::test::VirtualModem vm("sierra-mc7455");
  vm.boot();
  modemu::test::AtClient at(*vm.modem, "ttyUSB2");
  CHECK(at.cmd("AT!BOOTHOLD").find("ERROR") != std::string::npos);  // locked
  CHECK(at.cmd("AT!ENTERCND=\"A710\"").find("OK") != std::string::npos);
  CHECK(at.cmd("AT!BOOTHOLD").find("OK") != std::string::npos);
  vm.boot();
  CHECK(vm.modem->power_state() == PowerState::kSierraBootHold);
  // Without a download, the next reset runs the application again.
  vm.modem->reset("test");
  vm.boot();
  CHECK(vm.modem->power_state() == PowerState::kApplication);
}

TEST_CASE("Sierra package: modemu firmware build writes files the store accepts") {
  TempDir dir;
  auto profile = modemu::emulator::load_profile("sierra-mc7455");
  modemu::emulator::firmware::PackageOptions o;
  o.carrier = "GENERIC";
  auto files = modemu::emulator::firmware::write_sierra_package(profile, "02.30.01.01", dir.path / "pkg", o);
  REQUIRE(files.size() == 2);
  CHECK(files[0].filename() == "SWI9X30C_02.30.01.01.cwe");
  CHECK(files[1].filename() == "SWI9X30C_02.30.01.01_GENERIC_002.079_000.nvu");
  modemu::test::VirtualModem vm("sierra-mc7455");
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto p = cwe::parse(bytes);
    REQUIRE(p);
    CHECK(p.image->header.product == "9X30");
    CHECK_FALSE(download(*vm.modem->sierra_store(), bytes));
  }
  CHECK(vm.modem->sierra_store()->state().preference().modem_build() == "02.30.01.01_?");
  CHECK_THROWS_AS(modemu::emulator::firmware::write_sierra_package(profile, "2.30", dir.path / "bad", o),
                  std::invalid_argument);
}

TEST_CASE("every Sierra profile: application composition, and boot-and-hold with one interface at its boot PID") {
  struct Want {
    const char* profile;
    std::uint32_t app, boot;
    const char* product;
  };
  for (Want w : {Want{"sierra-mc7455", 0x9071, 0x9070, "9X30"}, Want{"sierra-em7455", 0x9079, 0x9078, "9X30"},
                 Want{"sierra-em7565", 0x9091, 0x9090, "9X50"}, Want{"sierra-mc7304", 0x68c0, 0x68c0, "9X15"}}) {
    CAPTURE(w.profile);
    modemu::test::VirtualModem vm(w.profile);
    vm.boot();
    REQUIRE(vm.modem->composition() != nullptr);
    CHECK(vm.modem->composition()->idproduct() == w.app);
    std::vector<std::uint32_t> numbers;
    for (const auto& i : vm.modem->composition()->interfaces()) numbers.push_back(i.binterfacenumber());
    CHECK(numbers == std::vector<std::uint32_t>{0, 2, 3, 8, 10});
    CHECK(vm.modem->registered());
    modemu::test::AtClient at(*vm.modem, "ttyUSB2");
    CHECK(at.cmd("AT!USBPID?").find(fmt::format("{:04X} {:04X}", w.app, w.boot)) != std::string::npos);
    at.cmd("AT!ENTERCND=\"A710\"");
    CHECK(at.cmd("AT!BOOTHOLD").find("OK") != std::string::npos);
    vm.boot();
    CHECK(vm.modem->power_state() == PowerState::kSierraBootHold);
    REQUIRE(vm.modem->composition() != nullptr);
    CHECK(vm.modem->composition()->idproduct() == w.boot);
    CHECK(vm.modem->composition()->interfaces_size() == 1);
    // A release built for the profile is accepted by its store; one for another chipset is not.
    auto profile = modemu::emulator::load_profile(w.profile);
    TempDir dir;
    auto files = modemu::emulator::firmware::write_sierra_package(profile, "02.40.00.00", dir.path / "pkg", {});
    std::ifstream in(files[0], std::ios::binary);
    Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK_FALSE(download(*vm.modem->sierra_store(), bytes));
    auto e = download(*vm.modem->sierra_store(), modem_package("02.40.00.00", w.product == std::string("9X30") ? "9X50" : "9X30"));
    REQUIRE(e);
    CHECK(e->qdl_code == modemu::protocols::qdl::kErrImageAuth);
  }
}

TEST_CASE("Sierra faults: stuck boot-and-hold with a flapping loader, preference mismatch, malformed image info") {
  modemu::emulator::faults::Rng rng(1);
  SUBCASE("sierra_boot_hold: boot mode at every boot; flap drops it off the bus and back") {
    modemu::test::VirtualModem vm("sierra-mc7455");
    vm.boot();
    auto f = modemu::emulator::faults::activate(*vm.modem, "sierra_boot_hold", {{"flap", "800ms"}}, rng);
    vm.clock.advance(std::chrono::seconds(20));
    CHECK(vm.count("usb.plug") >= 4);  // application, then boot-and-hold again and again
    std::size_t plugs = 0;
    for (const auto& e : vm.log.history()) {
      if (e.kind == "usb.plug") plugs += e.message.find("SIERRA_BOOT_HOLD") != std::string::npos ? 1 : 0;
    }
    CHECK(plugs >= 3);
    f.reset();
    vm.modem->reset("test");
    vm.boot();
    CHECK(vm.modem->power_state() == PowerState::kApplication);
  }
  SUBCASE("firmware_preference_mismatch: low power after the reset; its end and a reset recover") {
    modemu::test::VirtualModem vm("sierra-mc7455");
    vm.boot();
    auto f = modemu::emulator::faults::activate(*vm.modem, "firmware_preference_mismatch", {{"image", "pri"}}, rng);
    vm.boot();
    CHECK(vm.modem->state().firmware_low_power);
    modemu::test::AtClient at(*vm.modem, "ttyUSB2");
    CHECK(at.cmd("AT!IMPREF?").find("config name mismatch") != std::string::npos);
    f.reset();
    vm.modem->reset("test");
    vm.boot();
    CHECK_FALSE(vm.modem->state().firmware_low_power);
    CHECK(vm.modem->registered());
  }
  SUBCASE("malformed_image_info: an empty version field until a reflash") {
    modemu::test::VirtualModem vm("sierra-mc7455");
    vm.boot();
    modemu::test::QmiClientSim q(*vm.modem);
    auto cid = q.allocate(2);
    auto builds = [&] {
      auto r = q.send(2, cid, 0x0049);
      return std::string(modemu::protocols::as_chars(r.at(0).find(0x01)->value));
    };
    CHECK(builds().find("_001.000_000") == std::string::npos);
    auto f = modemu::emulator::faults::activate(*vm.modem, "malformed_image_info", {}, rng);
    CHECK(builds().find("_001.000_000") != std::string::npos);
    REQUIRE_FALSE(download(*vm.modem->sierra_store(), pri_package("02.33.03.00", "GENERIC", "002.079_000")));
    CHECK(builds().find("_001.000_000") == std::string::npos);
  }
}

TEST_CASE("Sierra store: a full storage makes room with the oldest image that neither runs nor is preferred") {
  modemu::test::VirtualModem vm("sierra-mc7455");
  auto& store = *vm.modem->sierra_store();
  for (const char* fw : {"02.30.01.01", "02.30.01.02", "02.30.01.03", "02.30.01.04", "02.30.01.05"}) {
    REQUIRE_FALSE(download(store, modem_package(fw)));
  }
  int modems = 0;
  for (const auto& img : store.state().images()) modems += img.type() == sierra::kModemImage ? 1 : 0;
  CHECK(modems == 4);                                 // the MC7455's slots
  CHECK(store.find_modem("02.33.03.00_?") != nullptr);  // runs: kept
  CHECK(store.find_modem("02.30.01.05_?") != nullptr);  // preferred: kept
  CHECK(store.find_modem("02.30.01.01_?") == nullptr);  // the oldest others went
  CHECK(store.find_modem("02.30.01.02_?") == nullptr);
}

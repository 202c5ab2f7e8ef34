// The flash model, the boot chain that reads it, firmware images and packages, and a whole update
// through the EDL port (Sahara, then Firehose) under virtual time.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include <fmt/format.h>

#include "emulator/firmware/boot.hpp"
#include "emulator/firmware/image.hpp"
#include "emulator/firmware/package.hpp"
#include "emulator/flash/flash.hpp"
#include "protocols/sahara/sahara.hpp"
#include "scenarios/host.hpp"
#include "tests/unit/support.hpp"

namespace em = modemu::emulator;
namespace fw = modemu::emulator::firmware;
namespace sahara = modemu::protocols::sahara;
using modemu::protocols::ByteView;
using modemu::protocols::Bytes;

namespace {

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("modemu-{}-{}", name, ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

const modemu::profile::Firmware& catalogue(const modemu::profile::Profile& p, const std::string& version) {
  const auto* f = em::find_firmware(p, version);
  REQUIRE(f != nullptr);
  return *f;
}

// The download port of a modem in EDL.
em::Port& download_port(em::Modem& m) {
  em::Port* port = m.port_by_node("ttyUSB0");
  REQUIRE(port != nullptr);
  REQUIRE(port->info().function == modemu::profile::SAHARA);
  return *port;
}

}  // namespace

TEST_CASE("flash: erased reads 0xFF; writes and erases land in a sparse file that reloads") {
  auto dir = temp_dir("flash");
  auto p = em::load_profile("quectel-ec25");
  std::string err;
  {
    em::Flash f(p.flash(), dir / "flash.img");
    CHECK(f.created());
    CHECK(f.size() == 2048ull * 64 * 2048);
    Bytes b;
    REQUIRE(f.read(4096, 16, b, err));
    CHECK(b == Bytes(16, 0xff));
    REQUIRE(f.write(4096, Bytes{1, 2, 3, 0xff, 0}, err));
    CHECK_FALSE(f.write(f.size() - 2, Bytes{1, 2, 3}, err));
    CHECK(err.find("beyond the end") != std::string::npos);
  }
  CHECK(std::filesystem::file_size(dir / "flash.img") == 2048ull * 64 * 2048);
  {
    em::Flash f(p.flash(), dir / "flash.img");
    CHECK_FALSE(f.created());
    Bytes b;
    REQUIRE(f.read(4096, 6, b, err));
    CHECK(b == Bytes{1, 2, 3, 0xff, 0, 0xff});
    REQUIRE(f.erase(0, f.block_bytes(), err));
    REQUIRE(f.read(4096, 6, b, err));
    CHECK(b == Bytes(6, 0xff));
  }
  // A flash image of another geometry is refused by name.
  auto eg12 = em::load_profile("quectel-eg12");
  CHECK_THROWS_WITH_AS(em::Flash(eg12.flash(), dir / "flash.img"),
                       doctest::Contains("belongs to another profile"), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("image headers round-trip and any damage is caught") {
  fw::ImageHeader h;
  h.label = "sbl";
  h.hardware = "EG12";
  h.version = "EG12EAPAR01A12M4G";
  h.full_revision = "EG12EAPAR01A12M4G_01.001.01.001";
  h.payload_size = 1234;
  h.payload_crc = 0xdeadbeef;
  h.table = {{"tz", 20, 8}, {"modem", 100, 480}};
  Bytes b = fw::encode_header(h);
  REQUIRE(b.size() == fw::kHeaderSize);
  std::string why;
  auto back = fw::decode_header(b, why);
  REQUIRE(back.has_value());
  CHECK(back->version == h.version);
  CHECK(back->table.size() == 2);
  CHECK(back->table[1].start_block == 100);
  b[100] ^= 1;
  CHECK_FALSE(fw::decode_header(b, why).has_value());
  CHECK(why == "header CRC mismatch");
  CHECK_FALSE(fw::decode_header(Bytes(fw::kHeaderSize, 0xff), why).has_value());
  CHECK(why == "erased");
  CHECK(fw::crc32(modemu::protocols::as_bytes("123456789")) == 0xcbf43926);  // the CRC-32 check value
}

TEST_CASE("boot chain: verified images boot the application with the flashed version; an erased SBL gives EDL") {
  auto p = em::load_profile("quectel-eg12");
  em::Flash f(p.flash(), std::nullopt);
  CHECK(fw::read_boot_chain(p, f).mode == modemu::profile::EDL);  // blank
  std::string err;
  auto images = fw::build_images(p, catalogue(p, "EG12EAPAR01A09M4G"));
  REQUIRE(fw::program_images(images, f, err));
  auto v = fw::read_boot_chain(p, f);
  CHECK(v.mode == modemu::profile::APPLICATION);
  CHECK(v.version == "EG12EAPAR01A09M4G");

  SUBCASE("a torn modem image: the SBL falls back to EDL, naming the image") {
    const fw::Image* modem_img = nullptr;
    for (const auto& img : images) {
      if (img.place.partition->label() == "modem") modem_img = &img;
    }
    REQUIRE(modem_img != nullptr);
    REQUIRE(f.write(modem_img->place.offset + fw::kHeaderSize + 10, Bytes{0x00}, err));
    auto torn = fw::read_boot_chain(p, f);
    CHECK(torn.mode == modemu::profile::EDL);
    CHECK(torn.reason.find("\"modem\"") != std::string::npos);
    CHECK(torn.reason.find("CRC") != std::string::npos);
  }
  SUBCASE("the download flag left set gives Quectel's download mode") {
    REQUIRE(fw::set_download_flag(p, f, true, err));
    CHECK(fw::read_boot_chain(p, f).mode == modemu::profile::QUECTEL_DOWNLOAD);
    REQUIRE(fw::set_download_flag(p, f, false, err));
    CHECK(fw::read_boot_chain(p, f).mode == modemu::profile::APPLICATION);
  }
  SUBCASE("an erased SBL") {
    REQUIRE(f.erase(0, f.block_bytes(), err));
    auto e = fw::read_boot_chain(p, f);
    CHECK(e.mode == modemu::profile::EDL);
    CHECK(e.reason.find("SBL unusable") != std::string::npos);
  }
  SUBCASE("images of another module") {
    auto ec25 = em::load_profile("quectel-ec25");
    auto other = fw::build_images(ec25, catalogue(ec25, ec25.firmware().default_version()));
    REQUIRE(f.write(0, other.front().data, err));
    CHECK(fw::read_boot_chain(p, f).reason.find("built for EC25") != std::string::npos);
  }
}

TEST_CASE("programmer check: this profile's programmer passes, another module's or a random ELF fails with a Sahara status") {
  auto eg12 = em::load_profile("quectel-eg12");
  auto ec25 = em::load_profile("quectel-ec25");
  std::string why;
  CHECK(fw::check_programmer(eg12, fw::build_programmer(eg12), why) == sahara::kSuccess);
  CHECK(fw::check_programmer(eg12, fw::build_programmer(ec25), why) == sahara::kHashVerificationFailure);
  CHECK(why.find("MSM 0x000480e1") != std::string::npos);
  Bytes elf = fw::build_programmer(eg12);
  elf.resize(0x1000);
  CHECK(fw::check_programmer(eg12, elf, why) == sahara::kHashVerificationFailure);
  CHECK(why.find("not a Firehose programmer") != std::string::npos);
}

TEST_CASE("modemu firmware build: a Quectel-shaped package whose md5.txt matches its files") {
  auto dir = temp_dir("package");
  auto p = em::load_profile("quectel-ec25");
  fw::write_package(p, "EC25EFAR06A11M4G", dir / "pkg", {});
  CHECK(std::filesystem::exists(dir / "pkg/update/firehose/prog_nand_firehose_9x07.mbn"));
  CHECK(std::filesystem::exists(dir / "pkg/update/firehose/rawprogram_nand_p2K_b128K_update.xml"));
  CHECK(std::filesystem::exists(dir / "pkg/update/firehose/patch_p2K_b128K.xml"));
  CHECK(std::filesystem::exists(dir / "pkg/update/NON-HLOS.ubi"));
  std::ifstream md5(dir / "pkg/md5.txt");
  std::string line;
  int lines = 0;
  while (std::getline(md5, line)) {
    ++lines;
    CHECK(std::regex_match(line, std::regex(R"(X:\\update\\.*:[0-9a-f]{32}|X:\\contents\.xml:[0-9a-f]{32})")));
  }
  CHECK(lines >= 10);
  // Nothing half-written: a second build into a non-empty directory is refused, the first stays.
  CHECK_THROWS_AS(fw::write_package(p, "EC25EFAR06A11M4G", dir / "pkg", {}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(fw::write_package(p, "EC25XXXX", dir / "other", {}), doctest::Contains("not in the catalogue"),
                       std::invalid_argument);
  CHECK_FALSE(std::filesystem::exists(dir / "other"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the running firmware is read from the flash: factory A09, updated to A12 through EDL, Sahara and Firehose") {
  auto root = temp_dir("update");
  modemu::test::VirtualModem v("quectel-eg12", root, "EG12EAPAR01A09M4G");
  v.boot();
  CHECK(v.modem->firmware().version() == "EG12EAPAR01A09M4G");
  const auto& p = v.modem->profile();

  // The DIAG switch: the next boot is EDL (05c6:9008, the download port on qcserial).
  v.modem->reset_after_reply("test: DIAG switch", modemu::profile::EDL);
  v.clock.run_until_idle();
  REQUIRE(v.modem->composition()->idproduct() == 0x9008);

  {
    modemu::scenarios::DownloadSession host(*v.modem, download_port(*v.modem));
    std::string error;
    REQUIRE(host.load_programmer(fw::build_programmer(p), error) == sahara::kSuccess);
    REQUIRE_MESSAGE(host.update(fw::build_images(p, catalogue(p, "EG12EAPAR01A12M4G")), error), error);
  }
  v.clock.run_until_idle();
  REQUIRE(v.modem->power_state() == em::PowerState::kApplication);
  CHECK(v.modem->firmware().version() == "EG12EAPAR01A12M4G");
  modemu::test::AtClient at(*v.modem, "ttyUSB2");
  CHECK(at.cmd("AT+QGMR").find("EG12EAPAR01A12M4G_01.001.01.001") != std::string::npos);
  CHECK(v.count("firehose") > 5);

  // It persists: a new process on the same state directory boots A12 from the flash, whatever
  // --firmware says (that only programs a blank flash).
  v.modem.reset();
  modemu::test::VirtualModem again("quectel-eg12", root, "EG12EAPAR01A09M4G");
  again.boot();
  CHECK(again.modem->firmware().version() == "EG12EAPAR01A12M4G");
  std::filesystem::remove_all(root);
}

TEST_CASE("a programmer for another module is refused with a Sahara error status and nothing is written") {
  modemu::test::VirtualModem v("quectel-eg12");
  v.boot();
  v.modem->reset_after_reply("test", modemu::profile::EDL);
  v.clock.run_until_idle();
  modemu::scenarios::DownloadSession host(*v.modem, download_port(*v.modem));
  std::string error;
  CHECK(host.load_programmer(fw::build_programmer(em::load_profile("quectel-ec25")), error) ==
        sahara::kHashVerificationFailure);
  CHECK(error == "END_IMAGE_TX status 0x22");
  bool logged = false;
  for (const auto& e : v.log.history()) logged = logged || e.message.find("programmer refused") != std::string::npos;
  CHECK(logged);
}

TEST_CASE("a power cut halfway through an update leaves EDL at the next power-on; flashing again recovers") {
  modemu::test::VirtualModem v("quectel-eg12", std::nullopt, "EG12EAPAR01A09M4G");
  // The cut comes after 40 KiB of program data: inside the images, after the SBL was erased.
  v.modem.reset();
  {
    em::ModemOptions o;
    o.id = "m1";
    o.profile = em::load_profile("quectel-eg12");
    o.firmware_version = "EG12EAPAR01A09M4G";
    o.power_cut_after_program_bytes = 40 * 1024;
    o.power_restore = std::chrono::seconds(2);
    v.modem = std::make_unique<em::Modem>(std::move(o), v.clock, v.log);
  }
  v.boot();
  const auto& p = v.modem->profile();
  auto a12 = fw::build_images(p, catalogue(p, "EG12EAPAR01A12M4G"));
  v.modem->reset_after_reply("test", modemu::profile::EDL);
  v.clock.run_until_idle();
  std::string error;
  {
    modemu::scenarios::DownloadSession host(*v.modem, download_port(*v.modem));
    REQUIRE(host.load_programmer(fw::build_programmer(p), error) == sahara::kSuccess);
    CHECK_FALSE(host.update(a12, error));
    CHECK(error.find("went away") != std::string::npos);
  }
  v.clock.run_until_idle();  // cut, power restored, boot
  CHECK(v.count("power.restore") == 1);
  REQUIRE(v.modem->power_state() == em::PowerState::kEdl);
  CHECK(v.modem->composition()->idvendor() == 0x05c6);
  // Power cycles do not help: the flash decides.
  v.modem->power_off("test");
  v.boot();
  REQUIRE(v.modem->power_state() == em::PowerState::kEdl);

  {
    modemu::scenarios::DownloadSession again(*v.modem, download_port(*v.modem));
    REQUIRE(again.load_programmer(fw::build_programmer(p), error) == sahara::kSuccess);
    REQUIRE_MESSAGE(again.update(a12, error), error);
  }
  v.clock.run_until_idle();
  REQUIRE(v.modem->power_state() == em::PowerState::kApplication);
  CHECK(v.modem->firmware().version() == "EG12EAPAR01A12M4G");
}

TEST_CASE("images of several MiB are checked over the whole payload, in pieces") {
  auto p = em::load_profile("quectel-ec25");
  em::Flash f(p.flash(), std::nullopt);
  std::string err;
  auto images = fw::build_images(p, catalogue(p, "EC25EFAR06A11M4G"), 5u << 20);
  REQUIRE(fw::program_images(images, f, err));
  CHECK(fw::read_boot_chain(p, f).mode == modemu::profile::APPLICATION);
  const fw::Image* big = nullptr;
  for (const auto& img : images) {
    if (big == nullptr || img.data.size() > big->data.size()) big = &img;
  }
  REQUIRE(big->data.size() > (5u << 20));
  // One byte in the last MiB is enough.
  REQUIRE(f.write(big->place.offset + big->data.size() - 100, Bytes{static_cast<std::uint8_t>(big->data[big->data.size() - 100] ^ 1)}, err));
  CHECK(fw::read_boot_chain(p, f).mode == modemu::profile::EDL);
}

TEST_CASE("EDL: the tty's echo of HELLO gets no HELLO storm; a stray byte a second later still gets one") {
  // Seen with qmi-firmware-update under load: the port echoed the HELLO byte by byte ("^A^@...")
  // before the tool made it raw, every byte brought a new HELLO, and their echoes more, until the
  // tool's first read was 4 KiB of HELLOs ending in half of one ("sahara message not fully
  // received: 15 < 48").
  modemu::test::VirtualModem v("quectel-eg12");
  v.boot();
  v.modem->reset_after_reply("test: DIAG switch", modemu::profile::EDL);
  v.clock.run_until_idle();
  REQUIRE(v.modem->composition()->idproduct() == 0x9008);
  em::Port& port = download_port(*v.modem);
  std::vector<Bytes> out;
  port.set_sink([&](std::string_view b) { out.emplace_back(b.begin(), b.end()); });
  port.host_opened();
  REQUIRE(out.size() == 1);
  auto hellos = [&] {
    return std::count_if(out.begin(), out.end(), [](const Bytes& b) {
      auto p = sahara::decode(b);
      return p && p->command == sahara::kHello;
    });
  };
  CHECK(hellos() == 1);
  // The echo, a write per byte, over a few milliseconds.
  Bytes hello = out.front();
  for (std::uint8_t b : hello) {
    std::string echo = b < 0x20 ? std::string{'^', static_cast<char>(b + 0x40)} : std::string(1, static_cast<char>(b));
    for (char c : echo) port.from_host(std::string_view(&c, 1));
    v.clock.advance(std::chrono::microseconds(50));
  }
  CHECK(hellos() == 1);
  // QFirehose's stray byte after its 5 s wait: HELLO again, and the session goes on from it.
  v.clock.advance(std::chrono::seconds(5));
  port.from_host(std::string_view("\0", 1));
  CHECK(hellos() == 2);
  modemu::protocols::Writer w;
  w.le32(2).le32(1).le32(0).le32(sahara::kModeImageTxPending);
  for (int i = 0; i < 6; ++i) w.le32(0);
  auto resp = sahara::encode(sahara::kHelloResp, w.data());
  port.from_host(std::string_view(reinterpret_cast<const char*>(resp.data()), resp.size()));
  CHECK(sahara::decode(out.back())->command == sahara::kReadData);
}

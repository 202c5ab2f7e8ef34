// Golden QMI byte vectors (tests/golden/qmi/*.txt): each file boots a modem of one profile under
// virtual time and replays request frames on its QMI port.
//
//   # profile: quectel-eg12          which profile; "# port:" the QMI node (default cdc-wdm0)
//   > 01 0b 00 ...                   a request frame, in hex
//   < 01 17 00 ...                   each frame the modem sends back before the next request
//   #   CTL Allocate CID response..  (recorded beside each frame: the decoded form)
//   = run                            runs every pending timer
//
// MODEMU_GOLDEN_RECORD=1 prints what the modem actually sent, to review and paste.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "emulator/qmi/qmi_function.hpp"
#include "protocols/qmi/schema.hpp"
#include "support.hpp"

using namespace modemu::emulator;
using namespace modemu::test;
namespace qmi = modemu::protocols::qmi;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> golden_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(MODEMU_GOLDEN_DIR "/qmi")) {
    if (e.path().extension() == ".txt") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> read_lines(const fs::path& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string header(const std::vector<std::string>& lines, const std::string& key, const std::string& fallback) {
  for (const auto& l : lines) {
    if (l.rfind("# " + key + ": ", 0) == 0) return l.substr(key.size() + 4);
  }
  return fallback;
}

// Splits what the port wrote into frames.
std::vector<modemu::protocols::Bytes> frames_of(const std::string& raw) {
  qmi::Framer f;
  f.push(modemu::protocols::as_bytes(raw));
  std::vector<modemu::protocols::Bytes> out;
  for (auto r = f.next(); r.outcome != qmi::Framer::Outcome::kNeedMore; r = f.next()) {
    if (r.outcome == qmi::Framer::Outcome::kFrame) out.push_back(r.frame);
  }
  return out;
}

}  // namespace

TEST_CASE("golden QMI byte vectors") {
  const bool record = std::getenv("MODEMU_GOLDEN_RECORD") != nullptr;
  auto files = golden_files();
  REQUIRE(files.size() >= 2);
  for (const auto& file : files) {
    CAPTURE(file.filename().string());
    auto lines = read_lines(file);
    VirtualModem v(header(lines, "profile", ""));
    v.boot();
    AtClient port(*v.modem, header(lines, "port", "cdc-wdm0"));  // a raw byte client
    if (record) std::cout << "@@@ " << file.string() << "\n";
    std::vector<modemu::protocols::Bytes> got;
    std::size_t got_at = 0;
    std::size_t request_line = 0;
    auto finish = [&] {
      if (request_line == 0 || record) return;
      INFO("frames the modem sent after the request on line " << request_line << " that the file does not list");
      CHECK(got_at == got.size());
    };
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string& line = lines[i];
      if (line.rfind("> ", 0) == 0) {
        finish();
        request_line = i + 1;
        auto bytes = modemu::protocols::parse_hex(line.substr(2));
        REQUIRE(bytes);
        port.out.clear();
        port.attached->from_host(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
        got = frames_of(port.out);
        got_at = 0;
        if (record) {
          std::cout << line << "\n";
          for (const auto& f : got) {
            std::cout << "< " << modemu::protocols::hex(f, 100000) << "\n";
            std::cout << "#   " << qmi::describe(*qmi::decode(f).message) << "\n";
          }
        }
      } else if (line.rfind("< ", 0) == 0) {
        if (record) continue;
        INFO(file.filename().string() << ":" << i + 1);
        std::string actual = got_at < got.size() ? modemu::protocols::hex(got[got_at], 100000) : "<nothing>";
        CHECK(actual == line.substr(2));
        ++got_at;
      } else if (line == "= run") {
        v.clock.run_until_idle();
        if (record) std::cout << line << "\n";
      } else if (record && line.rfind("#   ", 0) != 0) {
        std::cout << line << "\n";
      }
    }
    finish();
  }
}

TEST_CASE("every QMI message served has a golden vector") {
  std::map<std::string, std::set<std::pair<std::uint8_t, std::uint16_t>>> used;
  for (const auto& file : golden_files()) {
    auto lines = read_lines(file);
    for (const auto& l : lines) {
      if (l.rfind("> ", 0) != 0) continue;
      auto m = qmi::decode(*modemu::protocols::parse_hex(l.substr(2))).message;
      REQUIRE(m);
      used[header(lines, "profile", "")].insert({m->service, m->message_id});
    }
  }
  for (const char* profile : {"quectel-eg12", "sierra-mc7455"}) {
    VirtualModem v(profile);
    for (auto key : build_qmi_handlers(*v.modem).keys()) {
      CAPTURE(std::string(profile));
      CAPTURE(qmi::service_name(key.first));
      CAPTURE(key.second);
      CHECK(used[profile].count(key) == 1);
    }
  }
}

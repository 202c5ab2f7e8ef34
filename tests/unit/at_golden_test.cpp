// Golden AT transcripts (tests/golden/at/*.txt): each file boots a modem of one profile under
// virtual time and replays a conversation on one AT port.
//
//   # profile: quectel-eg12        which profile (required), optional "# firmware:", "# port:"
//   > AT+CSQ                       a command line sent to the port
//   < +CSQ: 28,99                  the lines expected back, in order (empty lines are not shown)
//   = advance 2s                   a directive: advance virtual time; "= run" runs all timers
//
// MODEMU_GOLDEN_RECORD=1 prints what the modem actually answered, to review and paste.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "emulator/at/commands.hpp"
#include "support.hpp"

using namespace modemu::emulator;
using namespace modemu::test;

namespace {

std::vector<std::string> split_lines(const std::string& raw) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : raw) {
    if (c == '\r' || c == '\n') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

struct Transcript {
  std::filesystem::path file;
  std::string profile;
  std::string firmware;
  std::string port = "ttyUSB2";
  std::vector<std::string> lines;
};

Transcript read_transcript(const std::filesystem::path& file) {
  Transcript t{file, {}, {}, "ttyUSB2", {}};
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# profile: ", 0) == 0) t.profile = line.substr(11);
    if (line.rfind("# firmware: ", 0) == 0) t.firmware = line.substr(12);
    if (line.rfind("# port: ", 0) == 0) t.port = line.substr(8);
    t.lines.push_back(line);
  }
  return t;
}

std::vector<Transcript> all_transcripts() {
  std::vector<Transcript> out;
  for (const auto& e : std::filesystem::directory_iterator(MODEMU_GOLDEN_DIR "/at")) {
    if (e.path().extension() == ".txt") out.push_back(read_transcript(e.path()));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.file < b.file; });
  return out;
}

// The command name a transcript line exercises ("AT+CSQ?" -> "+CSQ", "ATI" -> "I").
std::set<std::string> commands_used(const Transcript& t) {
  std::set<std::string> names;
  for (const auto& line : t.lines) {
    if (line.rfind("> ", 0) != 0) continue;
    auto parsed = modemu::protocols::at::parse_line(line.substr(2));
    for (const auto& c : parsed.commands) names.insert(c.name);
  }
  return names;
}

}  // namespace

TEST_CASE("golden AT transcripts") {
  const bool record = std::getenv("MODEMU_GOLDEN_RECORD") != nullptr;
  auto transcripts = all_transcripts();
  REQUIRE(transcripts.size() >= 3);
  for (const auto& t : transcripts) {
    CAPTURE(t.file.filename().string());
    REQUIRE_FALSE(t.profile.empty());
    if (record) std::cout << "@@@ " << t.file.string() << "\n";
    VirtualModem v(t.profile, {}, t.firmware);
    v.boot();
    AtClient at(*v.modem, t.port);
    std::vector<std::string> got;
    std::size_t got_at = 0;
    std::size_t command_line_no = 0;
    auto finish_command = [&] {
      if (command_line_no == 0 || record) return;
      INFO("unexpected extra output after the command on line " << command_line_no);
      CHECK(got_at == got.size());
      if (got_at < got.size()) CHECK(got[got_at] == "");
    };
    for (std::size_t i = 0; i < t.lines.size(); ++i) {
      const std::string& line = t.lines[i];
      if (line.rfind("> ", 0) == 0) {
        finish_command();
        command_line_no = i + 1;
        got = split_lines(at.cmd(line.substr(2)));
        got_at = 0;
        if (record) {
          std::cout << line << "\n";
          for (const auto& g : got) std::cout << "< " << g << "\n";
        }
      } else if (line.rfind("< ", 0) == 0) {
        if (record) continue;
        INFO(t.file.filename().string() << ":" << i + 1);
        std::string expected = line.substr(2);
        std::string actual = got_at < got.size() ? got[got_at] : "<nothing>";
        CHECK(actual == expected);
        ++got_at;
      } else if (record) {
        std::cout << line << "\n";
      }
      if (line.rfind("= advance ", 0) == 0) {
        Duration d{};
        REQUIRE(parse_duration(line.substr(10), d));
        v.clock.advance(d);
      } else if (line == "= run") {
        v.clock.run_until_idle();
      }
    }
    finish_command();
  }
}

TEST_CASE("every AT handler of each vendor has a golden transcript") {
  std::map<std::string, std::set<std::string>> used;  // vendor profile -> command names
  for (const auto& t : all_transcripts()) {
    auto names = commands_used(t);
    used[t.profile].insert(names.begin(), names.end());
  }
  for (const char* profile : {"quectel-eg12", "sierra-mc7455"}) {
    VirtualModem v(profile);
    auto table = build_at_commands(*v.modem);
    for (const auto& name : table.names()) {
      CAPTURE(std::string(profile));
      CAPTURE(name);
      CHECK(used[profile].count(name) == 1);
    }
  }
}

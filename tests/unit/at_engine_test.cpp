#include <doctest/doctest.h>

#include <map>

#include "protocols/at/engine.hpp"

using namespace modemu::protocols::at;

namespace {

// A dispatcher with a few fixed commands, to test the engine's framing on its own.
struct FakeDispatcher : Dispatcher {
  int resets = 0;
  std::optional<Outcome> execute(const Command& c, Response& r) override {
    if (c.name == "+CSQ") {
      r.add("+CSQ: 20,99");
      return Outcome::ok();
    }
    if (c.name == "+CPIN") return Outcome::cme_error(CmeError::kSimNotInserted);
    if (c.name == "+MULTI") {
      r.add("line 1");
      r.add("line 2");
      return Outcome::ok();
    }
    return std::nullopt;
  }
  void reset_port_settings() override { ++resets; }
};

struct Harness {
  FakeDispatcher dispatcher;
  std::string out;
  std::vector<LineReport> reports;
  Engine engine{dispatcher, [this](std::string_view b) { out.append(b); }};
  Harness() {
    engine.set_observer([this](const LineReport& r) { reports.push_back(r); });
  }
  std::string send(std::string_view bytes) {
    out.clear();
    engine.receive(bytes);
    return out;
  }
};

}  // namespace

TEST_CASE("echo and verbose framing as 27.007 and V.250 give them") {
  Harness h;
  CHECK(h.send("AT\r") == "AT\r\r\nOK\r\n");
  CHECK(h.send("ATE0\r") == "ATE0\r\r\nOK\r\n");  // the echo is of the line that turns it off
  CHECK(h.send("AT+CSQ\r") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
  CHECK(h.send("AT+MULTI\r") == "\r\nline 1\r\nline 2\r\n\r\nOK\r\n");
}

TEST_CASE("numeric result codes with ATV0") {
  Harness h;
  h.send("ATE0V0\r");
  CHECK(h.send("AT\r") == "0\r");
  CHECK(h.send("AT+CSQ\r") == "+CSQ: 20,99\r\n0\r");
  CHECK(h.send("AT+NOPE\r") == "4\r");
}

TEST_CASE("+CMEE selects the error format") {
  Harness h;
  h.send("ATE0\r");
  CHECK(h.send("AT+CPIN?\r") == "\r\nERROR\r\n");
  CHECK(h.send("AT+CMEE=1\r") == "\r\nOK\r\n");
  CHECK(h.send("AT+CPIN?\r") == "\r\n+CME ERROR: 10\r\n");
  h.send("AT+CMEE=2\r");
  CHECK(h.send("AT+CPIN?\r") == "\r\n+CME ERROR: SIM not inserted\r\n");
  CHECK(h.send("AT+CMEE?\r") == "\r\n+CMEE: 2\r\n\r\nOK\r\n");
  CHECK(h.send("AT+CMEE=3\r") == "\r\n+CME ERROR: incorrect parameters\r\n");
  // Unknown commands are a syntax matter: plain ERROR whatever +CMEE says.
  CHECK(h.send("AT+NOPE\r") == "\r\nERROR\r\n");
}

TEST_CASE("concatenated commands stop at the first error") {
  Harness h;
  h.send("ATE0\r");
  CHECK(h.send("AT+CSQ;+NOPE;+CSQ\r") == "\r\n+CSQ: 20,99\r\n\r\nERROR\r\n");
  CHECK(h.send("AT+CSQ;+CSQ\r") == "\r\n+CSQ: 20,99\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
}

TEST_CASE("a syntax error executes nothing of the line") {
  Harness h;
  h.send("ATE0\r");
  CHECK(h.send("AT+CSQ;+CPIN=\"12\r") == "\r\nERROR\r\n");
}

TEST_CASE("lines split over reads, CR LF endings and stray bytes") {
  Harness h;
  h.send("ATE0\r");
  CHECK(h.send("AT+C") == "");
  CHECK(h.send("SQ\r\n") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
  CHECK(h.send("\n\n\r") == "");  // empty lines are not commands
  CHECK(h.send("garbage\r") == "\r\nERROR\r\n");
}

TEST_CASE("S3, S4 and S5 change framing and editing") {
  Harness h;
  h.send("ATE0\r");
  CHECK(h.send("ATS3?\r") == "\r\n013\r\n\r\nOK\r\n");
  CHECK(h.send("AT+CSX\bQ\r") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");  // backspace edits
  h.send("ATS4=10\r");
  h.send("ATS3=10\r");  // from now on lines end with LF
  CHECK(h.send("AT\n") == "\n\nOK\n\n");
  CHECK(h.send("ATS3=200\n") == "\n\nERROR\n\n");
}

TEST_CASE("ATZ and AT&F restore defaults") {
  Harness h;
  h.send("ATE0V0\r");
  CHECK(h.send("AT+CMEE=1\r") == "0\r");
  CHECK(h.send("ATZ\r") == "\r\nOK\r\n");
  CHECK(h.dispatcher.resets == 1);
  CHECK(h.engine.settings().echo);
  CHECK(h.engine.settings().cmee == 0);
}

TEST_CASE("A/ repeats the last line") {
  Harness h;
  h.send("ATE0\r");
  h.send("AT+CSQ\r");
  CHECK(h.send("A/") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
}

TEST_CASE("ATQ1 suppresses result codes") {
  Harness h;
  h.send("ATE0Q1\r");
  CHECK(h.send("AT\r") == "");
  CHECK(h.send("AT+CSQ\r") == "\r\n+CSQ: 20,99\r\n");
}

TEST_CASE("URCs wait while a line is being entered") {
  Harness h;
  h.send("ATE0\r");
  h.out.clear();
  h.engine.urc("RDY");
  CHECK(h.out == "\r\nRDY\r\n");
  h.out.clear();
  h.engine.receive("AT+C");
  h.engine.urc("+CREG: 1");
  CHECK(h.out.empty());
  h.engine.receive("SQ\r");
  CHECK(h.out == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n\r\n+CREG: 1\r\n");
}

TEST_CASE("an overlong line is refused once, and the port keeps working") {
  Harness h;
  h.send("ATE0\r");
  std::string longline = "AT" + std::string(Engine::kMaxLineLength + 10, 'X') + "\r";
  CHECK(h.send(longline) == "\r\nERROR\r\n");
  CHECK(h.send("AT\r") == "\r\nOK\r\n");
}

TEST_CASE("each executed line is reported with its outcome") {
  Harness h;
  h.send("AT+CSQ\rAT+NOPE\r");
  REQUIRE(h.reports.size() == 2);
  CHECK(h.reports[0].line == "AT+CSQ");
  CHECK(h.reports[0].outcome.is_ok());
  CHECK(h.reports[1].outcome.code == ResultCode::kError);
}

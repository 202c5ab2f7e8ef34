// One fault's timeline (scenarios/timeline.hpp), shared by scenario files and the gRPC API; the
// API's checks of faults and scenarios built in code; the API's address forms.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "grpc-api/server/address.hpp"
#include "scenarios/scenario.hpp"
#include "scenarios/timeline.hpp"
#include "tests/unit/support.hpp"

namespace em = modemu::emulator;
namespace sc = modemu::scenarios;
using namespace std::chrono_literals;

namespace {

struct Bench {
  em::VirtualClock clock;
  em::EventLog log{clock, 100'000};
  sc::Fleet fleet{clock, log};
  std::vector<std::string> seen;  // "t kind message" of the fault events
  Bench() {
    log.subscribe([this](const em::Event& e) {
      if (e.kind.rfind("fault", 0) == 0) seen.push_back(fmt::format("{} {} {}", em::format_duration(e.t), e.kind, e.message));
    });
  }
  em::Modem& modem() {
    modemu::scenario::ModemSpec spec;
    spec.set_profile("quectel-ec25");
    spec.set_id("m");
    em::ModemOptions base;
    auto& m = sc::add_modem(fleet, spec, base);
    sc::start_modem(m, spec);
    return m;
  }
};

modemu::scenario::Fault fault(const char* type, const char* start, const char* duration, const char* period) {
  modemu::scenario::Fault f;
  f.set_type(type);
  f.set_start(start);
  f.set_duration(duration);
  f.set_period(period);
  return f;
}

}  // namespace

TEST_CASE("a fault's timeline: start, period, duration and the horizon, each occurrence with its end") {
  Bench b;
  em::Modem& m = b.modem();
  sc::FaultTimeline t(b.log, m, fault("qmi_silence", "1s", "0.5s", "2s"), 1, b.clock.now(), 6s);
  t.start();
  CHECK(t.pending());
  b.clock.advance(10s);
  CHECK(b.seen == std::vector<std::string>{"1s fault qmi_silence starts", "1.5s fault.end qmi_silence ends",
                                           "3s fault qmi_silence starts", "3.5s fault.end qmi_silence ends",
                                           "5s fault qmi_silence starts", "5.5s fault.end qmi_silence ends"});
  CHECK(t.occurrences() == 3);
  CHECK(t.active() == 0);
  CHECK_FALSE(t.pending());
  CHECK_FALSE(m.qmi_silent());
}

TEST_CASE("destroying a timeline ends its fault in force without an event and drops what was to come") {
  Bench b;
  em::Modem& m = b.modem();
  auto t = std::make_unique<sc::FaultTimeline>(b.log, m, fault("qmi_silence", "0s", "", "10s"), 1, b.clock.now());
  t->start();
  b.clock.advance(1s);
  CHECK(m.qmi_silent());
  CHECK(t->active() == 1);
  t.reset();
  CHECK_FALSE(m.qmi_silent());
  b.clock.advance(60s);
  INFO(fmt::format("{}", fmt::join(b.seen, " / ")));
  CHECK(b.seen == std::vector<std::string>{"0ms fault qmi_silence starts"});
}

TEST_CASE("the same seed skips the same occurrences") {
  auto run = [](std::uint64_t seed) {
    Bench b;
    em::Modem& m = b.modem();
    auto f = fault("signal", "0s", "", "1s");
    f.set_probability(0.5);
    sc::FaultTimeline t(b.log, m, f, seed, b.clock.now(), 20s);
    t.start();
    b.clock.advance(30s);
    CHECK(t.occurrences() == 20);
    return b.seen;
  };
  auto a = run(42), again = run(42);
  CHECK(a == again);
  auto skipped = std::count_if(a.begin(), a.end(), [](const std::string& s) { return s.find("skipped") != std::string::npos; });
  CHECK(skipped > 0);
  CHECK(skipped < 20);
}

TEST_CASE("check_fault names the field that is wrong") {
  CHECK(sc::check_fault(fault("usb_reset_loop", "", "", "")).empty());
  CHECK(sc::check_fault(fault("nope", "", "", "")).rfind("type: unknown fault \"nope\"", 0) == 0);
  CHECK(sc::check_fault(fault("sim", "soon", "", "")).rfind("start: ", 0) == 0);
  CHECK(sc::check_fault(fault("sim", "", "-1s", "")).rfind("duration: ", 0) == 0);
  CHECK(sc::check_fault(fault("sim", "", "", "0s")) == "period: must be longer than zero");
  auto f = fault("usb_reset_loop", "", "", "");
  (*f.mutable_params())["period"] = "often";
  CHECK(sc::check_fault(f).rfind("params: fault usb_reset_loop parameter period", 0) == 0);
  f = fault("sim", "", "", "");
  f.set_probability(1.5);
  CHECK(sc::check_fault(f) == "probability: must be 0..1");
}

TEST_CASE("a scenario built in code is refused with the path of the field") {
  modemu::scenario::Scenario s;
  s.set_name("x");
  s.set_duration("1s");
  auto* m = s.add_modems();
  m->set_profile("quectel-ec25");
  auto* f = s.add_faults();
  f->set_type("sim");
  (*f->mutable_params())["state"] = "gone";
  std::string what;
  try {
    sc::check_scenario(s, "request");
  } catch (const sc::ScenarioError& e) {
    what = e.what();
  }
  CHECK(what.rfind("request: faults[0].params[0]: fault sim parameter state", 0) == 0);
}

TEST_CASE("API addresses: unix:PATH, HOST:PORT, :PORT and PORT; anything else is refused with an example") {
  using modemu::server::parse_address;
  std::string error;
  auto u = parse_address("unix:/tmp/m.sock", error);
  REQUIRE(u);
  CHECK(u->unix_socket);
  CHECK(u->target() == "unix:/tmp/m.sock");
  CHECK(parse_address("10.0.0.1:50051", error)->target() == "10.0.0.1:50051");
  CHECK(parse_address(":50051", error)->target() == "127.0.0.1:50051");
  CHECK(parse_address("50051", error)->target() == "127.0.0.1:50051");
  CHECK(parse_address("[::1]:7", error)->target() == "[::1]:7");
  for (const char* bad : {"unix:", "host:", "host:port", "host:70000", "", "a:-1"}) {
    CHECK_FALSE(parse_address(bad, error));
    CHECK(error.find("unix:") != std::string::npos);
  }
}

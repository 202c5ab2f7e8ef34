// Faults, firmware traits, scenario files and the scenario engine, under virtual time.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "emulator/faults/faults.hpp"
#include "scenarios/engine.hpp"
#include "scenarios/scenario.hpp"
#include "tests/unit/support.hpp"

namespace em = modemu::emulator;
namespace sc = modemu::scenarios;

#ifndef MODEMU_SCENARIO_DIR
#error "MODEMU_SCENARIO_DIR must name the scenarios/ directory"
#endif

namespace {

// Runs a scenario to its end in virtual time; returns the verdicts and the event log as text.
struct Run {
  std::vector<sc::Verdict> verdicts;
  std::vector<std::string> log;
  std::set<std::string> kinds;
};

Run run_scenario(const modemu::scenario::Scenario& s) {
  em::VirtualClock clock;
  em::EventLog log(clock, 1'000'000);
  Run out;
  log.subscribe([&](const em::Event& e) {
    out.log.push_back(em::format_text(e));
    out.kinds.insert(e.kind);
  });
  sc::Fleet fleet(clock, log);
  em::ModemOptions base;
  sc::Engine engine(s, fleet, base);
  engine.start();
  while (!engine.finished() && clock.run_next()) {
  }
  REQUIRE(engine.finished());
  out.verdicts = engine.verdicts();
  return out;
}

std::string refusal(const std::string& text) {
  try {
    sc::parse_scenario(text, "bad.txtpb");
  } catch (const sc::ScenarioError& e) {
    return e.what();
  }
  return "<accepted>";
}

}  // namespace

TEST_CASE("fault parameters are checked by the registry: unknown names, bad values, defaults filled in") {
  const auto* loop = em::faults::find("usb_reset_loop");
  REQUIRE(loop != nullptr);
  em::faults::Params p{{"period", "2h"}};
  CHECK(em::faults::check(*loop, p).empty());
  CHECK(p.at("downtime") == "7.5s");
  em::faults::Params bad{{"period", "-4h"}};
  CHECK(em::faults::check(*loop, bad) == "fault usb_reset_loop parameter period: \"-4h\" is not a duration such as 30s, 7.5s, 4h");
  em::faults::Params unknown{{"perod", "4h"}};
  CHECK(em::faults::check(*loop, unknown).find("has no parameter \"perod\" (parameters: period, jitter, downtime)") !=
        std::string::npos);
  em::faults::Params word{{"state", "lost"}};
  CHECK(em::faults::check(*em::faults::find("sim"), word).find("one of removed,error,uninitialised,illegal") !=
        std::string::npos);
  CHECK(em::faults::find("gremlins") == nullptr);
}

TEST_CASE("the firmware trait: EG12 A09 resets its USB every few hours; after flashing A12 the trait is gone") {
  modemu::test::VirtualModem v("quectel-eg12", std::nullopt, "EG12EAPAR01A09M4G");
  v.boot();
  CHECK(v.count("fault.trait") == 1);
  v.clock.advance(std::chrono::hours(24));
  auto resets = v.count("usb.unplug");
  CHECK(resets >= 4);  // every 4 h +- 1 h
  CHECK(resets <= 8);
  CHECK(v.modem->power_state() != em::PowerState::kPoweredOff);

  bool done = false;
  sc::ScriptedUpdate update(*v.modem, "EG12EAPAR01A12M4G", [&](bool ok, const std::string& detail) {
    CHECK_MESSAGE(ok, detail);
    done = true;
  });
  v.clock.advance(std::chrono::minutes(1));  // in case a reset was under way
  update.start();
  v.clock.advance(std::chrono::minutes(2));
  REQUIRE(done);
  CHECK(v.modem->firmware().version() == "EG12EAPAR01A12M4G");
  auto after_update = v.count("usb.unplug");
  v.clock.advance(std::chrono::hours(48));
  CHECK(v.count("usb.unplug") == after_update);
}

TEST_CASE("lasting faults are undone when they end: QMI silence, SIM, registration denied, dead module") {
  modemu::test::VirtualModem v("quectel-eg12");
  v.boot();
  REQUIRE(v.modem->registered());
  em::faults::Rng rng(1);
  {
    auto f = em::faults::activate(*v.modem, "registration_denied", {{"network", "roaming"}}, rng);
    CHECK(v.modem->state().registration == em::RegStatus::kDenied);
  }
  v.clock.advance(std::chrono::minutes(1));
  CHECK(v.modem->state().registration == em::RegStatus::kHome);
  {
    auto f = em::faults::activate(*v.modem, "qmi_silence", {}, rng);
    CHECK(v.modem->qmi_silent());
  }
  CHECK_FALSE(v.modem->qmi_silent());
  {
    auto f = em::faults::activate(*v.modem, "sim", {{"state", "illegal"}}, rng);
    CHECK(v.modem->sim_access() == em::ActionResult::kSimFailure);
    CHECK_FALSE(v.modem->registered());
  }
  v.clock.advance(std::chrono::minutes(1));
  CHECK(v.modem->registered());
  {
    auto f = em::faults::activate(*v.modem, "dead_module", {}, rng);
    CHECK(v.modem->power_state() == em::PowerState::kDead);
    v.modem->power_off("test");
    v.modem->power_on("test");  // a dead module stays dead
    v.clock.advance(std::chrono::minutes(1));
    CHECK(v.modem->composition() == nullptr);
  }
  v.clock.advance(std::chrono::minutes(1));
  CHECK(v.modem->power_state() == em::PowerState::kApplication);
}

TEST_CASE("invalid scenarios are refused naming file:line:column, and nothing runs") {
  const std::string modem = "duration: \"1h\"\nmodems { profile: \"quectel-eg12\" }\n";
  CHECK(refusal(modem + "faults { type: \"gremlins\" }\n") ==
        "bad.txtpb:3:10: faults[0].type: unknown fault \"gremlins\" (modemu scenario faults lists them)");
  CHECK(refusal(modem + "faults { type: \"usb_reset_loop\"\n  period: \"-4h\" }\n") ==
        "bad.txtpb:4:3: faults[0].period: \"-4h\" is not a duration (examples: 90s, 7.5s, 4h)");
  CHECK(refusal("duration: \"1h\"\nmodems { profile: \"nokia-3310\" }\n").rfind("bad.txtpb:2:10: modems[0].profile: ", 0) == 0);
  CHECK(refusal(modem + "expectations { name: \"x\" eventually { kind: \"usb.teleport\" } }\n") ==
        "bad.txtpb:3:39: expectations[0].eventually.kind: \"usb.teleport\" is not an event kind the emulator emits");
  CHECK(refusal(modem + "faults { type: \"sim\" params { key: \"state\" value: \"lost\" } }\n")
            .find("bad.txtpb:3:22: faults[0].params[0]: fault sim parameter state: \"lost\" is not one of") != std::string::npos);
  CHECK(refusal("modems { profile: \"quectel-eg12\" }\n") == "bad.txtpb: duration: is missing (a duration such as 90s, 2h)");
  CHECK(refusal(modem + "actions { at: \"1m\" flash { version: \"EG12XXXX\" } }\n").find("not in the catalogue") !=
        std::string::npos);
  CHECK(refusal(modem + "bogus: 1\n") == "bad.txtpb:3:6: Message type \"modemu.scenario.Scenario\" has no field named \"bogus\".");
}

TEST_CASE("same seed, same scenario: identical event logs; another seed changes the jitter") {
  auto s = sc::parse_scenario(R"(
    name: "jitter" seed: 42 duration: "12h"
    modems { id: "m" profile: "quectel-ec25" }
    faults { type: "usb_reset_loop" params { key: "period" value: "1h" } params { key: "jitter" value: "20m" } }
    faults { type: "qmi_silence" start: "30m" duration: "10m" period: "2h" probability: 0.5 }
  )", "jitter");
  auto a = run_scenario(s);
  auto b = run_scenario(s);
  CHECK(a.log.size() > 50);
  CHECK(a.log == b.log);
  s.set_seed(43);
  auto c = run_scenario(s);
  CHECK(a.log != c.log);
}

TEST_CASE("every scenario file in scenarios/ parses, runs and holds its expectations") {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(MODEMU_SCENARIO_DIR)) {
    if (entry.path().extension() != ".txtpb") continue;
    ++files;
    CAPTURE(entry.path().filename().string());
    auto s = sc::load_scenario(entry.path());
    auto r = run_scenario(s);
    CHECK_FALSE(r.verdicts.empty());
    for (const auto& v : r.verdicts) CHECK_MESSAGE(v.held, v.name << ": " << v.detail);
    // Expectations may name only kinds the emulator emits: the list must know every one seen.
    for (const auto& kind : r.kinds) CHECK_MESSAGE(sc::known_event_kinds().count(kind) == 1, kind);
  }
  CHECK(files >= 10);
}

TEST_CASE("a failing expectation is reported as such, with what was seen") {
  auto s = sc::parse_scenario(R"(
    name: "strict" duration: "1h"
    modems { profile: "quectel-eg12" }
    expectations { name: "a reset within 10 minutes" within_event { kind: "usb.unplug" } time: "10m" }
    expectations { name: "never registers" never { kind: "radio.registration" fields { key: "to" value: "home" } } }
  )", "strict");
  auto r = run_scenario(s);
  REQUIRE(r.verdicts.size() == 2);
  CHECK_FALSE(r.verdicts[0].held);
  CHECK(r.verdicts[0].detail == "no usb.unplug after the start");
  CHECK_FALSE(r.verdicts[1].held);
  CHECK(r.verdicts[1].detail.find("radio.registration at ") == 0);
  bool all = true;
  CHECK(sc::format_verdicts(r.verdicts, all).find("FAIL  a reset within 10 minutes: no usb.unplug") == 0);
  CHECK_FALSE(all);
}

TEST_CASE("Sierra (seed 000): a power cut during the download leaves boot-and-hold at power-on; a download recovers") {
  auto s = sc::parse_scenario(R"(
    name: "mc7455-cut" duration: "30m"
    modems { id: "mc" profile: "sierra-mc7455" }
    actions { at: "1m" flash { version: "SWI9X30C_02.24.05.06" cut_at_program_percent: 40 } }
    actions { at: "10m" flash { version: "SWI9X30C_02.24.05.06" } }
    expectations {
      name: "the cut"
      within_event { kind: "power" fields { key: "to" value: "powered-off" } }
      time: "2m"
    }
    expectations {
      name: "upgrade mode at the next power-on: 1199:9070, no QMI"
      after { kind: "power" fields { key: "to" value: "powered-off" } }
      within_event { kind: "usb.plug" fields { key: "pid" value: "9070" } }
      time: "1m"
    }
    expectations {
      name: "no application before the recovery"
      after { kind: "power" fields { key: "to" value: "powered-off" } }
      never { kind: "usb.plug" fields { key: "mode" value: "APPLICATION" } }
      time: "8m"
    }
    expectations {
      name: "the recovery boots the downloaded firmware"
      after { kind: "host" contains: "updater: done" }
      within_event { kind: "boot" fields { key: "mode" value: "APPLICATION" } fields { key: "firmware" value: "SWI9X30C_02.24.05.06" } }
      time: "1m"
    }
    expectations {
      name: "and the SIM is seen again: registered"
      after { kind: "host" contains: "updater: done" }
      within_event { kind: "radio.registration" fields { key: "to" value: "home" } }
      time: "2m"
    }
  )", "mc7455-cut");
  auto r = run_scenario(s);
  bool all = true;
  std::string verdicts = sc::format_verdicts(r.verdicts, all);
  INFO(verdicts);
  REQUIRE(r.verdicts.size() == 5);
  for (const auto& v : r.verdicts) CHECK(v.held);
  CHECK(all);
  CHECK(r.kinds.count("sierra.download") == 1);
}

TEST_CASE("Sierra (F9): a firmware preference naming a missing image leaves the module in low-power mode") {
  auto s = sc::parse_scenario(R"(
    name: "mc7455-low-power" duration: "20m"
    modems { id: "mc" profile: "sierra-mc7455" }
    faults { type: "firmware_preference_mismatch" start: "1m" duration: "10m" }
    actions { at: "3m" at_command: "AT!GSTATUS?" }
    actions { at: "12m" power: "reset" }
    expectations {
      name: "low power after the fault's reset"
      after { kind: "fault" contains: "firmware_preference_mismatch" }
      within_event { kind: "boot" fields { key: "low_power" value: "true" } }
      time: "1m"
    }
    expectations {
      name: "AT!GSTATUS? says so"
      eventually { kind: "host" contains: "LOW POWER MODE" }
    }
    expectations {
      name: "no registration while the preference is unmet"
      after { kind: "boot" fields { key: "low_power" value: "true" } }
      never { kind: "radio.registration" fields { key: "to" value: "home" } }
      time: "10m"
    }
    expectations {
      name: "the preference restored and a reset: registered again"
      after { kind: "host" contains: "power reset" }
      within_event { kind: "radio.registration" fields { key: "to" value: "home" } }
      time: "2m"
    }
  )", "mc7455-low-power");
  auto r = run_scenario(s);
  bool all = true;
  std::string verdicts = sc::format_verdicts(r.verdicts, all);
  INFO(verdicts);
  REQUIRE(r.verdicts.size() == 4);
  for (const auto& v : r.verdicts) CHECK(v.held);
}

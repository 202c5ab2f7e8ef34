// The scenario engine in virtual time: 100 modems and 10,000 faults over a simulated day.
// Reports events per second of wall time and how much faster than real time the day runs (the
// ratio); the event log keeps everything in memory, as a --check run does.
//
//   bench_scenario_engine [--short]     (--short: 10 modems, 1,000 faults)
#include <chrono>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "scenarios/engine.hpp"

namespace em = modemu::emulator;
namespace sc = modemu::scenarios;

int main(int argc, char** argv) {
  const bool short_run = argc > 1 && std::strcmp(argv[1], "--short") == 0;
  const int modems = short_run ? 10 : 100;
  const int faults = short_run ? 1000 : 10000;
  modemu::scenario::Scenario s;
  s.set_name("bench");
  s.set_seed(7);
  s.set_duration("24h");
  for (int i = 0; i < modems; ++i) {
    auto* m = s.add_modems();
    m->set_id(fmt::format("m{:03}", i));
    m->set_profile(i % 2 == 0 ? "quectel-ec25" : "quectel-eg12");
  }
  const char* types[] = {"qmi_silence", "signal", "roaming", "sim", "registration_denied"};
  for (int i = 0; i < faults; ++i) {
    auto* f = s.add_faults();
    f->set_type(types[i % 5]);
    f->set_modem(fmt::format("m{:03}", i % modems));
    // Spread over the day, each lasting a few minutes.
    f->set_start(fmt::format("{}s", (i * 7919) % 86000));
    f->set_duration(fmt::format("{}s", 60 + i % 240));
  }
  auto* e = s.add_expectations();
  e->set_name("every modem registers");
  e->mutable_eventually()->set_kind("radio.registration");

  em::VirtualClock clock;
  em::EventLog log(clock, 100);
  std::size_t events = 0;
  log.subscribe([&](const em::Event&) { ++events; });
  sc::Fleet fleet(clock, log);
  em::ModemOptions base;
  auto t0 = std::chrono::steady_clock::now();
  sc::Engine engine(s, fleet, base);
  engine.start();
  while (!engine.finished() && clock.run_next()) {
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  bool all = true;
  sc::format_verdicts(engine.verdicts(), all);
  std::printf("scenario engine, virtual time: %d modems, %d faults, one simulated day: %zu events in %.2f s wall = "
              "%.0f events/s; the day ran %.0fx faster than real time%s\n",
              modems, faults, events, wall, static_cast<double>(events) / wall, 86400.0 / wall,
              all ? "" : " (an expectation failed!)");
  return all ? 0 : 1;
}

#pragma once
// The scenario engine: creates the scenario's modems in a fleet, plays its timeline of faults
// (each with start, duration, period and a probability drawn from the scenario's seed) and
// actions (power, AT lines, firmware updates by the scripted host), records the event log, and
// at the end judges every expectation against it.
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "emulator/faults/faults.hpp"
#include "scenarios/fleet.hpp"
#include "scenarios/host.hpp"
#include "scenarios/scenario.hpp"
#include "scenarios/timeline.hpp"

namespace modemu::scenarios {

struct Verdict {
  std::string name;
  bool held = false;
  std::string detail;  // what was seen, with times
};

class Engine {
 public:
  // `base`: what every modem of the scenario shares (state root, time scale, ...); the
  // scenario's ModemSpec gives profile, id and firmware.
  Engine(scenario::Scenario scenario, Fleet& fleet, const emulator::ModemOptions& base);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const std::vector<emulator::Modem*>& modems() const { return modems_; }
  // Powers the modems on and starts the timeline at the clock's now.
  void start();
  // Called once the scenario's duration has passed (faults ended, verdicts ready).
  void on_finished(std::function<void()> fn) { finished_fn_ = std::move(fn); }
  bool finished() const { return finished_; }
  // Ends the scenario now, before its duration: faults end, the actions left are dropped, the
  // verdicts judge what happened so far.
  void stop(std::string_view cause);
  const scenario::Scenario& scenario() const { return scenario_; }
  // Time since start().
  emulator::Duration elapsed() const { return (finished_ ? end_ : clock_.now()) - start_; }
  emulator::Duration duration() const { return duration_; }
  std::vector<Verdict> verdicts() const;

 private:
  struct Recorded {
    emulator::Duration t;
    std::string modem, kind, message;
    std::vector<std::pair<std::string, std::string>> fields;
  };
  emulator::Modem& target(const std::string& id);
  void run_action(const scenario::Action& a);
  void finish(std::string message);
  bool matches(const Recorded& e, const scenario::Match& m) const;
  Verdict judge(const scenario::Expectation& x) const;

  scenario::Scenario scenario_;
  Fleet& fleet_;
  emulator::Clock& clock_;
  std::vector<emulator::Modem*> modems_;
  emulator::TimePoint start_{};
  emulator::TimePoint end_{};
  emulator::Duration duration_{};
  std::vector<Recorded> events_;
  emulator::EventLog::SubscriptionId subscription_ = 0;
  std::vector<std::unique_ptr<emulator::Timer>> timers_;
  std::vector<std::unique_ptr<FaultTimeline>> faults_;  // one per fault of the scenario
  std::vector<std::unique_ptr<ScriptedUpdate>> updates_;
  std::vector<std::unique_ptr<Pinger>> pingers_;
  bool finished_ = false;
  std::function<void()> finished_fn_;
};

// "PASS  name: detail" lines, and whether all held.
std::string format_verdicts(const std::vector<Verdict>& verdicts, bool& all_held);

}  // namespace modemu::scenarios

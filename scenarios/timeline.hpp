#pragma once
// One fault of a timeline (scenario.proto's Fault) on one modem: its occurrences from `start`,
// repeated every `period`, each lasting `duration` and happening with `probability`, drawn from
// a seeded generator. The scenario engine keeps one per fault of the file; the gRPC API one per
// injected fault, so a fault scripted over the API plays exactly as the same fault in a file.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "emulator/faults/faults.hpp"
#include "emulator/modem.hpp"
#include "modemu/scenario/scenario.pb.h"
#include "scenarios/fleet.hpp"

namespace modemu::scenarios {

class FaultTimeline {
 public:
  // `origin`: the instant `start` counts from; `horizon`: no occurrence starts at or after
  // origin + horizon (zero: none). `seed`: the generator's seed (a scenario gives its Nth fault
  // seed * 1000003 + N). The fault was checked (check_fault).
  FaultTimeline(emulator::EventLog& log, emulator::Modem& modem, scenario::Fault fault, std::uint64_t seed,
                emulator::TimePoint origin, emulator::Duration horizon = {});
  // Ends the occurrences in force (what can be undone is undone) without an event.
  ~FaultTimeline();
  FaultTimeline(const FaultTimeline&) = delete;
  FaultTimeline& operator=(const FaultTimeline&) = delete;

  void start();
  const scenario::Fault& fault() const { return fault_; }
  emulator::Modem& modem() { return modem_; }
  // Occurrences so far, in force now, and whether another one is still to come.
  std::uint32_t occurrences() const { return occurrences_; }
  std::size_t active() const { return active_.size(); }
  bool pending() const;

 private:
  void schedule(emulator::Duration at);

  emulator::EventLog& log_;
  emulator::Modem& modem_;
  emulator::Clock& clock_;
  scenario::Fault fault_;
  emulator::faults::Rng rng_;
  emulator::TimePoint origin_;
  emulator::Duration horizon_;
  std::uint32_t occurrences_ = 0;
  int next_key_ = 0;
  emulator::Timer next_;
  std::map<int, std::unique_ptr<emulator::faults::ActiveFault>> active_;
  std::map<int, std::unique_ptr<emulator::Timer>> ends_;
};

// "" when the fault can be scheduled (a registered type, parameters that suit it, durations),
// else what is wrong, naming the field: "params: fault usb_reset_loop parameter period: ...".
std::string check_fault(const scenario::Fault& fault);

// Creates a scenario's modem (ModemSpec: profile, id, firmware, SIM, roaming, time scale) in
// the fleet; `base` gives what every modem shares. Throws std::invalid_argument (bad id, taken)
// or emulator::ProfileError.
emulator::Modem& add_modem(Fleet& fleet, const scenario::ModemSpec& spec, const emulator::ModemOptions& base);
// Puts the spec's flash state in place and powers the modem on unless it starts powered off.
void start_modem(emulator::Modem& modem, const scenario::ModemSpec& spec);

}  // namespace modemu::scenarios

#pragma once
// The modems one process serves, on one clock and one event log. Ids are unique: they name the
// modems' state directories and tag their events.
#include <memory>
#include <string>
#include <vector>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "emulator/modem.hpp"

namespace modemu::scenarios {

class Fleet {
 public:
  Fleet(emulator::Clock& clock, emulator::EventLog& log) : clock_(clock), log_(log) {}

  // Creates a modem; throws std::invalid_argument when the id is empty, malformed or taken.
  emulator::Modem& add(emulator::ModemOptions options);
  emulator::Modem* find(std::string_view id) const;
  void remove(std::string_view id);
  const std::vector<std::unique_ptr<emulator::Modem>>& modems() const { return modems_; }

  void power_on_all(std::string_view cause);
  void power_off_all(std::string_view cause);

  emulator::Clock& clock() { return clock_; }
  emulator::EventLog& log() { return log_; }

 private:
  emulator::Clock& clock_;
  emulator::EventLog& log_;
  std::vector<std::unique_ptr<emulator::Modem>> modems_;
};

// Ids become directory names: letters, digits, '-', '_' and '.', not starting with '.'.
bool valid_modem_id(std::string_view id);

}  // namespace modemu::scenarios

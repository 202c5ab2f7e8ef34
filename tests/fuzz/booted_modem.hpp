#pragma once
// For fuzz targets that need the model behind a decoder: a modem of a profile, booted under
// virtual time (registered, ready), made afresh for each input so that no input depends on the
// ones before it.
#include <string>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "emulator/modem.hpp"
#include "emulator/profile.hpp"

namespace modemu::fuzz {

struct BootedModem {
  emulator::VirtualClock clock;
  emulator::EventLog log{clock, 16};
  emulator::Modem modem;

  explicit BootedModem(const profile::Profile& profile) : modem(options(profile), clock, log) {
    modem.power_on("fuzz");
    clock.run_until_idle();
  }

 private:
  static emulator::ModemOptions options(const profile::Profile& profile) {
    emulator::ModemOptions o;
    o.id = "fuzz";
    o.profile = profile;
    return o;
  }
};

}  // namespace modemu::fuzz

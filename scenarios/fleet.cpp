#include "scenarios/fleet.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace modemu::scenarios {

bool valid_modem_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

emulator::Modem& Fleet::add(emulator::ModemOptions options) {
  if (!valid_modem_id(options.id)) {
    throw std::invalid_argument(fmt::format(
        "modem id \"{}\" is not valid: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'",
        options.id));
  }
  if (find(options.id) != nullptr) {
    throw std::invalid_argument(fmt::format("a modem with id \"{}\" already exists", options.id));
  }
  modems_.push_back(std::make_unique<emulator::Modem>(std::move(options), clock_, log_));
  return *modems_.back();
}

emulator::Modem* Fleet::find(std::string_view id) const {
  for (const auto& m : modems_) {
    if (m->id() == id) return m.get();
  }
  return nullptr;
}

void Fleet::remove(std::string_view id) {
  modems_.erase(std::remove_if(modems_.begin(), modems_.end(), [&](const auto& m) { return m->id() == id; }),
                modems_.end());
}

void Fleet::power_on_all(std::string_view cause) {
  for (auto& m : modems_) m->power_on(cause);
}

void Fleet::power_off_all(std::string_view cause) {
  for (auto& m : modems_) {
    if (m->power_state() != emulator::PowerState::kPoweredOff) m->power_off(cause);
  }
}

}  // namespace modemu::scenarios

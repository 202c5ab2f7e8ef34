#pragma once
// The fault registry (DESIGN.md "Faults"): each fault type is one small unit with uniform
// metadata, applied to a modem through the model's public levers. Scenarios put faults on a
// timeline (start, duration, period, probability: scenarios/); a firmware trait is a fault bound
// to a firmware version by the profile, active while that version runs.
//
// Adding a fault: docs/faults.md.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/clock.hpp"

namespace modemu::emulator {
class Modem;
}

namespace modemu::emulator::faults {

using Params = std::map<std::string, std::string>;
using Rng = std::mt19937_64;

// A fault in force on a modem; destroying it ends the fault (what can be undone is undone).
class ActiveFault {
 public:
  virtual ~ActiveFault() = default;
};

struct ParamSpec {
  std::string name;
  // "duration" (30s, 7.5s, 4h), "number", "percent" (0..100), "bool", or the allowed words
  // separated by '|' ("home|roaming").
  std::string kind;
  std::string help;
  std::string default_value;  // "" and not optional: required
  bool optional = false;
};

struct FaultType {
  std::string name;
  std::string summary;
  std::string field_failure;  // F1..F12 of shared/reference/field-failures.md, when it replays one
  std::vector<ParamSpec> params;
  // Whether the fault lasts (it has an end that undoes it) or happens at an instant.
  bool lasting = true;
  std::function<std::unique_ptr<ActiveFault>(Modem&, const Params&, Rng&)> apply;
};

const std::vector<FaultType>& registry();
const FaultType* find(std::string_view name);

// "" when `params` suit the type, else what is wrong ("parameter period: \"-4h\" is not a
// duration"). Defaults are filled in.
std::string check(const FaultType& type, Params& params);

// Parameter readers for fault implementations (the values were checked).
Duration duration_param(const Params& p, const std::string& name);
double number_param(const Params& p, const std::string& name);

// Activates a fault of the registry on `modem`; throws std::invalid_argument on a bad type or
// parameters.
std::unique_ptr<ActiveFault> activate(Modem& modem, const std::string& type, Params params, Rng& rng);

}  // namespace modemu::emulator::faults

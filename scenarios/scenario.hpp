#pragma once
// Scenario files (scenario.proto, protobuf text format): loading and checking. A scenario that
// does not check out is refused with file:line:column and what is wrong, and nothing runs.
#include <filesystem>
#include <set>
#include <string>

#include "emulator/clock.hpp"
#include "emulator/textproto.hpp"
#include "modemu/scenario/scenario.pb.h"

namespace modemu::scenarios {

using ScenarioError = emulator::TextProtoError;

// Parses and checks; throws ScenarioError.
scenario::Scenario parse_scenario(std::string_view text, const std::string& origin);
scenario::Scenario load_scenario(const std::filesystem::path& file);
// Checks a scenario built in code (the gRPC API): the same checks, errors name the field
// ("ORIGIN: faults[0].params: ..."). Throws ScenarioError.
void check_scenario(const scenario::Scenario& s, const std::string& origin);

// The text of scenarios/default.txtpb, compiled in: what `modemu run` plays with no options.
std::string_view default_scenario_text();

// The event kinds the emulator emits: an expectation on any other kind is refused.
const std::set<std::string>& known_event_kinds();

// A checked duration field ("" -> `fallback`).
emulator::Duration scenario_duration(const std::string& text, emulator::Duration fallback = {});

}  // namespace modemu::scenarios

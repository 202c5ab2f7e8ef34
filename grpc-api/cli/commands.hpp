#pragma once
// The `modemu` subcommands. Each registers its options on the app and returns the action to run
// once the command line has been parsed.
#include <functional>

#include <CLI/CLI.hpp>

namespace modemu::cli {

using Action = std::function<int()>;

// Exit codes: 0 done, 1 failure while running, 2 bad command line or bad input file.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

void add_run_command(CLI::App& app, Action& action);
void add_profiles_command(CLI::App& app, Action& action);
void add_firmware_command(CLI::App& app, Action& action);
void add_scenario_command(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);
void add_ctl_command(CLI::App& app, Action& action);

}  // namespace modemu::cli

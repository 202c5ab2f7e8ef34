// `modemu scenario`: check scenario files without running them, and list the fault types.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "emulator/faults/faults.hpp"
#include "grpc-api/cli/commands.hpp"
#include "scenarios/scenario.hpp"

namespace modemu::cli {

void add_scenario_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("scenario", "Check scenario files and list the faults they can use");
  cmd->require_subcommand(1);
  cmd->footer(
      "Scenarios are protobuf text files (scenarios/fNN-*.txtpb; schema scenarios/proto/.../scenario.proto).\n"
      "Run one with `modemu run --scenario FILE --check [--virtual-time | --speed N]`.\n\n"
      "Examples:\n"
      "  modemu scenario validate scenarios/*.txtpb\n"
      "  modemu scenario faults");
  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* validate = cmd->add_subcommand("validate", "Parse and check files; the first problem of each is named file:line:column");
  validate->add_option("files", *files, "Scenario files (.txtpb)")->required();
  validate->callback([files, &action] {
    action = [files] {
      int rc = kExitOk;
      for (const auto& f : *files) {
        try {
          auto s = scenarios::load_scenario(f);
          std::printf("%s: ok (%s: %d modem(s), %d fault(s), %d action(s), %d expectation(s))\n", f.c_str(),
                      s.name().c_str(), s.modems_size(), s.faults_size(), s.actions_size(), s.expectations_size());
        } catch (const std::exception& e) {
          std::fprintf(stderr, "%s\n", e.what());
          rc = kExitUsage;
        }
      }
      return rc;
    };
  });
  CLI::App* faults = cmd->add_subcommand("faults", "List the fault types, their parameters and defaults");
  faults->callback([&action] {
    action = [] {
      for (const auto& t : emulator::faults::registry()) {
        std::printf("%s%s: %s\n", t.name.c_str(), t.field_failure.empty() ? "" : fmt::format(" ({})", t.field_failure).c_str(),
                    t.summary.c_str());
        for (const auto& p : t.params) {
          std::printf("    %-10s %-28s %s%s\n", p.name.c_str(), p.kind.c_str(), p.help.c_str(),
                      p.default_value.empty() ? (p.optional ? " (optional)" : " (required)")
                                              : fmt::format(" (default {})", p.default_value).c_str());
        }
      }
      return kExitOk;
    };
  });
}

}  // namespace modemu::cli

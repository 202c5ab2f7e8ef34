// `modemu profiles`: list the known module profiles and check profile files.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "emulator/profile.hpp"
#include "grpc-api/cli/commands.hpp"

namespace modemu::cli {
namespace em = modemu::emulator;

void add_profiles_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("profiles", "List module profiles and check profile files");
  cmd->require_subcommand(1);
  cmd->footer(
      "Profiles are protobuf text files (emulator/profiles/*.txtpb). More directories are searched\n"
      "first when listed in MODEMU_PROFILE_PATH (colon-separated).\n\n"
      "Examples:\n"
      "  modemu profiles list\n"
      "  modemu profiles check my-module.txtpb");

  CLI::App* list = cmd->add_subcommand("list", "List the profiles found in the search path");
  list->callback([&action] {
    action = [] {
      int rc = kExitOk;
      for (const auto& entry : em::list_profiles()) {
        try {
          auto p = em::load_profile_file(entry.file);
          std::printf("%-16s %s\n", entry.name.c_str(), p.description().c_str());
        } catch (const std::exception& e) {
          std::printf("%-16s INVALID: %s\n", entry.name.c_str(), e.what());
          rc = kExitFailure;
        }
      }
      return rc;
    };
  });

  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* check = cmd->add_subcommand("check", "Parse and validate profile files; errors name file:line:column");
  check->add_option("files", *files, "Profile files (.txtpb)")->required();
  check->callback([files, &action] {
    action = [files] {
      int rc = kExitOk;
      for (const auto& f : *files) {
        try {
          auto p = em::load_profile_file(f);
          std::printf("%s: ok (%s)\n", f.c_str(), p.name().c_str());
        } catch (const std::exception& e) {
          std::fprintf(stderr, "%s\n", e.what());
          rc = kExitUsage;
        }
      }
      return rc;
    };
  });
}

}  // namespace modemu::cli

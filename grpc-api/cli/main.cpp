// modemu: virtual cellular modems for testing router software and firmware updaters.
#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "grpc-api/cli/commands.hpp"

int main(int argc, char** argv) {
  using namespace modemu::cli;
  CLI::App app{
      "modemu: virtual cellular modems (Quectel, Sierra) with their real USB identities and protocols,\n"
      "for testing router software and firmware updaters without a drawer of real modules.\n\n"
      "Examples:\n"
      "  modemu run                                  a default EG12 on local ptys, live event log\n"
      "  modemu run --profile sierra-mc7455 --dev-dir /tmp/mc7455\n"
      "  modemu profiles list                        the modules modemu can be\n"
      "  modemu firmware build --profile quectel-eg12 --version EG12EAPAR01A12M4G -o DIR\n"
      "  modemu run --scenario scenarios/f01-eg12-usb-reset-loop.txtpb --check --virtual-time\n"
      "  modemu serve                                host modems over the gRPC API (modemu ctl drives it)\n"
      "  modemu ctl modems list --json\n",
      "modemu"};
  app.set_version_flag("--version", "modemu 0.1.0");
  app.require_subcommand(1);
  app.footer("Run `modemu COMMAND --help` for the options of a command.");
  Action action;
  add_run_command(app, action);
  add_profiles_command(app, action);
  add_firmware_command(app, action);
  add_scenario_command(app, action);
  add_serve_command(app, action);
  add_ctl_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  try {
    return action();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modemu: error: %s\n", e.what());
    return kExitFailure;
  }
}

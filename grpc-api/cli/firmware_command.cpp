// `modemu firmware`: firmware packages that real updaters flash into an emulated module.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "emulator/firmware/package.hpp"
#include "emulator/profile.hpp"
#include "grpc-api/cli/commands.hpp"
#include "grpc-api/cli/sizes.hpp"

namespace modemu::cli {
namespace em = modemu::emulator;

namespace {

struct BuildOptions {
  std::string profile = "quectel-eg12";
  std::string version;
  std::string output;
  std::string size;
  std::string geometry;
  std::string carrier;
  std::string config;
  bool force = false;
  bool quiet = false;
};

}  // namespace

void add_firmware_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("firmware", "Build firmware packages for updaters (QFirehose, qdl, qmi-firmware-update)");
  cmd->require_subcommand(1);
  auto o = std::make_shared<BuildOptions>();
  CLI::App* build = cmd->add_subcommand(
      "build", "Write a firmware package: a Quectel Firehose package, or a Sierra .cwe + .nvu release");
  build->add_option("--profile", o->profile, "Module profile (modemu profiles list)")->capture_default_str();
  build->add_option("--version", o->version,
                    "Firmware version: from the profile's catalogue for Quectel (EG12EAPAR01A12M4G), any dd.dd.dd.dd for "
                    "Sierra (02.30.01.01)")
      ->required();
  build->add_option("-o,--output", o->output, "Package directory to write (created; must be empty unless --force)")
      ->required();
  build->add_option("--size", o->size, "Grow the largest image by this much (e.g. 100M) for throughput tests");
  build->add_option("--geometry", o->geometry,
                    "Lay the package out for another NAND geometry (e.g. p2K_b128K): a package the module refuses");
  build->add_option("--carrier", o->carrier,
                    "Sierra: the carrier configuration (PRI) of the .nvu, e.g. GENERIC (default: the catalogue's for "
                    "this version, else GENERIC)");
  build->add_option("--config", o->config,
                    "Sierra: the carrier configuration version, ddd.ddd_ddd (default: the catalogue's for the carrier)");
  build->add_flag("--force", o->force, "Replace a non-empty output directory");
  build->add_flag("-q,--quiet", o->quiet, "Print only errors");
  build->footer(
      "Quectel profiles: md5.txt, contents.xml, update/<images>, update/firehose/<programmer>,\n"
      "rawprogram_nand_<geometry>_update.xml, patch_<geometry>.xml. The images carry the version\n"
      "and checksums that the emulated module's boot chain reads back after flashing.\n"
      "Sierra profiles: DIR/<prefix>_<version>.cwe (the modem firmware, a CWE package) and\n"
      "DIR/<prefix>_<version>_<carrier>_<config>.nvu (the carrier configuration), named and versioned\n"
      "as Sierra releases are, so qmi-firmware-update reads the versions from them.\n\n"
      "Examples:\n"
      "  modemu firmware build --profile quectel-eg12 --version EG12EAPAR01A12M4G -o /tmp/eg12-a12\n"
      "  QFirehose -f /tmp/eg12-a12 -p 127.0.0.1:9008            (modemu run --usb2tcp 127.0.0.1:9008)\n"
      "  cd /tmp/eg12-a12/update/firehose && qdl --storage nand prog_nand_firehose_sdx20.mbn \\\n"
      "      rawprogram_nand_p4K_b256K_update.xml patch_p4K_b256K.xml\n"
      "  modemu firmware build --profile sierra-mc7455 --version 02.30.01.01 --carrier GENERIC -o /tmp/mc7455\n"
      "  qmi-firmware-update --update -d 1199:9071 /tmp/mc7455/*.cwe /tmp/mc7455/*.nvu");
  build->callback([o, &action] {
    action = [o] {
      try {
        auto profile = em::load_profile(o->profile);
        em::firmware::PackageOptions po;
        if (!o->size.empty()) {
          auto bytes = parse_size(o->size);
          if (!bytes) throw std::invalid_argument(fmt::format("--size \"{}\": expected a size like 100M, 64K or 12345", o->size));
          po.extra_bytes = *bytes;
        }
        if (!o->geometry.empty()) po.geometry = o->geometry;
        po.overwrite = o->force;
        po.carrier = o->carrier;
        po.config = o->config;
        auto print = [&](const std::string& line) {
          if (!o->quiet) std::printf("wrote %s\n", line.c_str());
        };
        if (profile.has_sierra()) {
          if (po.geometry) throw std::invalid_argument("--geometry applies to Quectel Firehose packages only");
          em::firmware::write_sierra_package(profile, o->version, o->output, po, print);
        } else {
          if (!po.carrier.empty() || !po.config.empty()) {
            throw std::invalid_argument("--carrier and --config apply to Sierra packages only");
          }
          em::firmware::write_package(profile, o->version, o->output, po, print);
        }
        if (!o->quiet) std::printf("package %s for %s written to %s\n", o->version.c_str(), profile.name().c_str(), o->output.c_str());
        return kExitOk;
      } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "modemu firmware build: %s\n", e.what());
        return kExitUsage;
      }
    };
  });
}

}  // namespace modemu::cli

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
  bool force = false;
  bool quiet = false;
};

}  // namespace

void add_firmware_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("firmware", "Build firmware packages for updaters (QFirehose, qdl)");
  cmd->require_subcommand(1);
  auto o = std::make_shared<BuildOptions>();
  CLI::App* build = cmd->add_subcommand("build", "Write a Quectel-shaped Firehose package of one firmware version");
  build->add_option("--profile", o->profile, "Module profile (modemu profiles list)")->capture_default_str();
  build->add_option("--version", o->version, "Firmware version from the profile's catalogue, e.g. EG12EAPAR01A12M4G")
      ->required();
  build->add_option("-o,--output", o->output, "Package directory to write (created; must be empty unless --force)")
      ->required();
  build->add_option("--size", o->size, "Grow the largest image by this much (e.g. 100M) for throughput tests");
  build->add_option("--geometry", o->geometry,
                    "Lay the package out for another NAND geometry (e.g. p2K_b128K): a package the module refuses");
  build->add_flag("--force", o->force, "Replace a non-empty output directory");
  build->add_flag("-q,--quiet", o->quiet, "Print only errors");
  build->footer(
      "The package: md5.txt, contents.xml, update/<images>, update/firehose/<programmer>,\n"
      "rawprogram_nand_<geometry>_update.xml, patch_<geometry>.xml. The images carry the version\n"
      "and checksums that the emulated module's boot chain reads back after flashing.\n\n"
      "Examples:\n"
      "  modemu firmware build --profile quectel-eg12 --version EG12EAPAR01A12M4G -o /tmp/eg12-a12\n"
      "  QFirehose -f /tmp/eg12-a12 -p 127.0.0.1:9008            (modemu run --usb2tcp 127.0.0.1:9008)\n"
      "  cd /tmp/eg12-a12/update/firehose && qdl --storage nand prog_nand_firehose_sdx20.mbn \\\n"
      "      rawprogram_nand_p4K_b256K_update.xml patch_p4K_b256K.xml");
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
        em::firmware::write_package(profile, o->version, o->output, po, [&](const std::string& line) {
          if (!o->quiet) std::printf("wrote %s\n", line.c_str());
        });
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

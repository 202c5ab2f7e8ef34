#pragma once
// A Quectel-shaped firmware package (edl-sahara-firehose.md "Quectel firmware package layout"):
//   DIR/md5.txt, DIR/contents.xml
//   DIR/update/<images>
//   DIR/update/firehose/<programmer>, rawprogram_nand_<geometry>_update.xml, patch_<geometry>.xml
// The rawprogram file erases the SBL first, programs every other image, and the SBL last: the
// order QFirehose imposes itself and that qdl follows as written.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "modemu/profile/profile.pb.h"
#include "protocols/common/bytes.hpp"

namespace modemu::emulator::firmware {

struct PackageOptions {
  std::uint64_t extra_bytes = 0;  // grows the largest image (benchmark packages)
  // Another NAND geometry than the profile's, "p2K_b128K": a package a module of this profile
  // must refuse ("start_sector unaligned").
  std::optional<std::string> geometry;
  bool overwrite = false;  // replace a non-empty DIR
  // Sierra packages: the carrier (PRI) of the .nvu and its configuration version ("002.079_000");
  // empty: the catalogue's for that firmware, else GENERIC and the catalogue's newest for it.
  std::string carrier;
  std::string config;
};

// Writes the package of `version` (which must be in the profile's catalogue) to `dir`, whole or
// not at all: it is built beside `dir` and renamed into place. `progress` hears each file.
// Throws std::invalid_argument for bad input (unknown version, bad geometry, DIR not empty) and
// std::runtime_error for I/O failures.
void write_package(const profile::Profile& p, const std::string& version, const std::filesystem::path& dir,
                   const PackageOptions& options, const std::function<void(const std::string&)>& progress = {});

// A Sierra release as qmi-firmware-update takes it (sierra-qdl.md "CWE images"), for profiles
// with a `sierra` store:
//   DIR/<prefix>_<version>.cwe                        SPKG { BOOT, APPL } of the modem firmware
//   DIR/<prefix>_<version>_<carrier>_<config>.nvu     SPKG { NVUP } of the carrier configuration
// `version` is "02.30.01.01" or "<prefix>_02.30.01.01"; any dd.dd.dd.dd is accepted (a version
// the catalogue lacks boots with a build line of its own). Same atomicity and errors as above.
// Returns the two files written.
// The two files of that release, named, in memory (the scripted host downloads them).
struct NamedFile {
  std::string name;
  protocols::Bytes data;
};
std::vector<NamedFile> build_sierra_release(const profile::Profile& p, const std::string& version,
                                            const PackageOptions& options);
std::vector<std::filesystem::path> write_sierra_package(const profile::Profile& p, const std::string& version,
                                                        const std::filesystem::path& dir, const PackageOptions& options,
                                                        const std::function<void(const std::string&)>& progress = {});

// "p2K_b128K" -> page size and pages per block; nothing when malformed.
std::optional<std::pair<std::uint32_t, std::uint32_t>> parse_geometry(std::string_view name);

}  // namespace modemu::emulator::firmware

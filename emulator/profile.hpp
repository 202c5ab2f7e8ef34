#pragma once
// Loading profile files (emulator/profiles/*.txtpb) with errors that name file, line, column and
// field, and looking them up by name.
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/textproto.hpp"
#include "modemu/profile/profile.pb.h"

namespace modemu::emulator {

// "FILE:LINE:COLUMN: message" (1-based line and column).
// A profile file that cannot be used: the message names file:line:column and the field.
using ProfileError = TextProtoError;

// Parses and validates one profile file.
profile::Profile load_profile_file(const std::filesystem::path& file);
// Parses and validates profile text; `origin` names it in errors.
profile::Profile parse_profile(std::string_view text, const std::string& origin);

// Directories searched for profiles by name: $MODEMU_PROFILE_PATH (colon-separated), then the
// source tree's emulator/profiles (for a build tree), then the installed data directory.
std::vector<std::filesystem::path> profile_search_path();

// A name ("quectel-eg12") is looked up in the search path; anything with a '/' or ending in
// .txtpb is a file. Throws ProfileError listing the known names when nothing matches.
profile::Profile load_profile(std::string_view name_or_file,
                              const std::vector<std::filesystem::path>& search = profile_search_path());

struct ProfileEntry {
  std::string name;
  std::filesystem::path file;
};
std::vector<ProfileEntry> list_profiles(const std::vector<std::filesystem::path>& search = profile_search_path());

const profile::Firmware* find_firmware(const profile::Profile& p, std::string_view version);
const profile::UsbComposition* find_composition(const profile::Profile& p, profile::BootMode mode,
                                                std::string_view composition = {});

// Expands the ATI placeholders ({manufacturer} {model} {revision} {full_revision} {imei}
// {imei_sv} {fsn}) of a template. Throws std::runtime_error on an unknown placeholder.
std::string expand_template(std::string_view tmpl, const profile::Profile& p, const profile::Firmware& fw);

// Luhn check digit test, for IMEI and ICCID.
bool luhn_valid(std::string_view digits);

}  // namespace modemu::emulator

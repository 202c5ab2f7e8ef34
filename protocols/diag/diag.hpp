#pragma once
// DIAG (Qualcomm's DM protocol) commands the modules are asked on their DM port: the version
// probes updaters and ModemManager send, and the switch to emergency download.
// edl-sahara-firehose.md "Entering EDL".
#include <cstdint>
#include <optional>
#include <string>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::diag {

inline constexpr std::uint8_t kVersionInfo = 0x00;      // DIAG_VERNO_F (ModemManager's QCDM probe)
inline constexpr std::uint8_t kBadCommand = 0x13;       // DIAG_BAD_CMD_F: the request, echoed after it
inline constexpr std::uint8_t kBadParameters = 0x14;
inline constexpr std::uint8_t kBadLength = 0x15;
inline constexpr std::uint8_t kSubsystemDispatch = 0x4b;
inline constexpr std::uint8_t kExtendedBuildId = 0x7c;

// The request QFirehose sends to switch a Quectel module to EDL: subsystem 0x65, command 0x0001.
bool is_edl_switch(ByteView payload);
// That request's payload (HDLC framing adds CRC and trailer: 4B 65 01 00 54 0F 7E).
Bytes edl_switch_request();

struct VersionInfo {
  std::string comp_date = "Jan 01 2020";  // 11 characters
  std::string comp_time = "00:00:00";     // 8
  std::string rel_date = "Jan 01 2020";
  std::string rel_time = "00:00:00";
  std::string ver_dir = "";               // 8, padded
  std::uint8_t mob_model = 0;
  std::uint16_t mob_firm_rev = 0;
  std::uint8_t hw_major = 1, hw_minor = 0;
};
// The 55-byte VERSION_INFO response.
Bytes version_info_response(const VersionInfo& v);

// Extended Build ID response: cmd, version, reserved(2), msm(4), mobile model(4), the software
// revision and the model, each NUL-terminated.
Bytes extended_build_id_response(std::uint32_t msm, std::uint32_t mobile_model, const std::string& revision,
                                 const std::string& model);

// DIAG_BAD_CMD_F followed by the request.
Bytes bad_command_response(ByteView request);

}  // namespace modemu::protocols::diag

#pragma once
// QMI protocol error codes: the u16 of result TLV 0x02 (qmi.md "Errors worth emulating").
#include <cstdint>
#include <string>

namespace modemu::protocols::qmi {

enum class QmiError : std::uint16_t {
  kNone = 0x00,
  kMalformedMessage = 0x01,
  kInternal = 0x03,
  kClientIdsExhausted = 0x05,
  kInvalidClientId = 0x07,
  kInvalidHandle = 0x09,
  kInvalidProfile = 0x0a,
  kIncorrectPin = 0x0c,
  kNoNetworkFound = 0x0d,
  kCallFailed = 0x0e,
  kOutOfCall = 0x0f,
  kMissingArgument = 0x11,
  kArgumentTooLong = 0x13,
  kNoEffect = 0x1a,
  kPinBlocked = 0x23,
  kUimUninitialized = 0x25,
  kInvalidArgument = 0x30,
  kDeviceNotReady = 0x34,
  kInvalidTransition = 0x3c,
  kInvalidIpFamilyPreference = 0x40,
  kInvalidQmiCommand = 0x47,
  kNotSupported = 0x5e,
};

// "UIM_UNINITIALIZED", or "0x1234" for codes the emulator never produces.
std::string error_name(std::uint16_t code);
inline std::string error_name(QmiError e) { return error_name(static_cast<std::uint16_t>(e)); }

}  // namespace modemu::protocols::qmi

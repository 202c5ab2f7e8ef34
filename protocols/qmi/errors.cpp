#include "protocols/qmi/errors.hpp"

#include <fmt/format.h>

namespace modemu::protocols::qmi {

std::string error_name(std::uint16_t code) {
  switch (static_cast<QmiError>(code)) {
    case QmiError::kNone: return "NONE";
    case QmiError::kMalformedMessage: return "MALFORMED_MESSAGE";
    case QmiError::kInternal: return "INTERNAL";
    case QmiError::kClientIdsExhausted: return "CLIENT_IDS_EXHAUSTED";
    case QmiError::kInvalidClientId: return "INVALID_CLIENT_ID";
    case QmiError::kInvalidHandle: return "INVALID_HANDLE";
    case QmiError::kInvalidProfile: return "INVALID_PROFILE";
    case QmiError::kIncorrectPin: return "INCORRECT_PIN";
    case QmiError::kNoNetworkFound: return "NO_NETWORK_FOUND";
    case QmiError::kCallFailed: return "CALL_FAILED";
    case QmiError::kOutOfCall: return "OUT_OF_CALL";
    case QmiError::kMissingArgument: return "MISSING_ARGUMENT";
    case QmiError::kArgumentTooLong: return "ARGUMENT_TOO_LONG";
    case QmiError::kNoEffect: return "NO_EFFECT";
    case QmiError::kPinBlocked: return "PIN_BLOCKED";
    case QmiError::kUimUninitialized: return "UIM_UNINITIALIZED";
    case QmiError::kInvalidArgument: return "INVALID_ARGUMENT";
    case QmiError::kDeviceNotReady: return "DEVICE_NOT_READY";
    case QmiError::kInvalidTransition: return "INVALID_TRANSITION";
    case QmiError::kInvalidIpFamilyPreference: return "INVALID_IP_FAMILY_PREFERENCE";
    case QmiError::kInvalidQmiCommand: return "INVALID_QMI_COMMAND";
    case QmiError::kNotSupported: return "NOT_SUPPORTED";
  }
  return fmt::format("0x{:04x}", code);
}

}  // namespace modemu::protocols::qmi

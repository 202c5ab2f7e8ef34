#include "protocols/at/result.hpp"

namespace modemu::protocols::at {

std::string_view verbose_text(ResultCode code) {
  switch (code) {
    case ResultCode::kOk: return "OK";
    case ResultCode::kConnect: return "CONNECT";
    case ResultCode::kRing: return "RING";
    case ResultCode::kNoCarrier: return "NO CARRIER";
    case ResultCode::kError: return "ERROR";
    case ResultCode::kNoDialtone: return "NO DIALTONE";
    case ResultCode::kBusy: return "BUSY";
    case ResultCode::kNoAnswer: return "NO ANSWER";
  }
  return "ERROR";
}

std::string_view verbose_text(CmeError error) {
  switch (error) {
    case CmeError::kPhoneFailure: return "phone failure";
    case CmeError::kOperationNotAllowed: return "operation not allowed";
    case CmeError::kOperationNotSupported: return "operation not supported";
    case CmeError::kSimNotInserted: return "SIM not inserted";
    case CmeError::kSimPinRequired: return "SIM PIN required";
    case CmeError::kSimPukRequired: return "SIM PUK required";
    case CmeError::kSimFailure: return "SIM failure";
    case CmeError::kSimBusy: return "SIM busy";
    case CmeError::kSimWrong: return "SIM wrong";
    case CmeError::kIncorrectPassword: return "incorrect password";
    case CmeError::kMemoryFull: return "memory full";
    case CmeError::kInvalidIndex: return "invalid index";
    case CmeError::kNotFound: return "not found";
    case CmeError::kTextTooLong: return "text string too long";
    case CmeError::kInvalidCharacters: return "invalid characters in text string";
    case CmeError::kNoNetworkService: return "no network service";
    case CmeError::kNetworkTimeout: return "network timeout";
    case CmeError::kIncorrectParameters: return "incorrect parameters";
    case CmeError::kUnknown: return "unknown";
  }
  return "unknown";
}

}  // namespace modemu::protocols::at

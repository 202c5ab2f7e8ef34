#pragma once
// Final result codes (ITU-T V.250 5.7.1) and mobile equipment errors (3GPP TS 27.007 9.2).
#include <optional>
#include <string>
#include <string_view>

namespace modemu::protocols::at {

// V.250 table 1: verbose text and numeric code of the basic result codes.
enum class ResultCode {
  kOk = 0,
  kConnect = 1,
  kRing = 2,
  kNoCarrier = 3,
  kError = 4,
  kNoDialtone = 6,
  kBusy = 7,
  kNoAnswer = 8,
};

std::string_view verbose_text(ResultCode code);

// 27.007 9.2.1, the general errors a module returns; the numeric value is the <err> code.
enum class CmeError {
  kPhoneFailure = 0,
  kOperationNotAllowed = 3,
  kOperationNotSupported = 4,
  kSimNotInserted = 10,
  kSimPinRequired = 11,
  kSimPukRequired = 12,
  kSimFailure = 13,
  kSimBusy = 14,
  kSimWrong = 15,
  kIncorrectPassword = 16,
  kMemoryFull = 20,
  kInvalidIndex = 21,
  kNotFound = 22,
  kTextTooLong = 24,
  kInvalidCharacters = 25,
  kNoNetworkService = 30,
  kNetworkTimeout = 31,
  kIncorrectParameters = 50,
  kUnknown = 100,
};

std::string_view verbose_text(CmeError error);

// The outcome of one command: OK, a basic result code, or a +CME ERROR.
struct Outcome {
  ResultCode code = ResultCode::kOk;
  std::optional<CmeError> cme;

  static Outcome ok() { return {}; }
  static Outcome error() { return {ResultCode::kError, std::nullopt}; }
  static Outcome cme_error(CmeError e) { return {ResultCode::kError, e}; }
  bool is_ok() const { return code == ResultCode::kOk; }
};

}  // namespace modemu::protocols::at

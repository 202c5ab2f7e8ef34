#pragma once
// Shared by the QMI service implementations.
#include <cstdint>

#include "emulator/modem.hpp"
#include "protocols/qmi/errors.hpp"

namespace modemu::emulator {

inline constexpr std::uint8_t kCtl = 0x00;
inline constexpr std::uint8_t kWds = 0x01;
inline constexpr std::uint8_t kDms = 0x02;
inline constexpr std::uint8_t kNas = 0x03;
inline constexpr std::uint8_t kUim = 0x0b;
inline constexpr std::uint8_t kWda = 0x1a;

// The profile's LTE band as a QMI band mask (bit n-1 for band n; DMS and NAS both report it).
inline std::uint64_t lte_band_mask(const Modem& modem) {
  std::uint32_t band = modem.network().band();
  return band >= 1 && band <= 64 ? std::uint64_t{1} << (band - 1) : 0;
}

// A model action's result as QMI reports it.
protocols::qmi::QmiError to_qmi_error(ActionResult result);

}  // namespace modemu::emulator

#include "emulator/at/commands.hpp"

#include <fmt/format.h>

#include "emulator/modem.hpp"

namespace modemu::emulator {

namespace at = protocols::at;

void AtCommandTable::add(std::string name, AtHandler handler) { handlers_[std::move(name)] = std::move(handler); }

const AtHandler* AtCommandTable::find(std::string_view name) const {
  auto it = handlers_.find(name);
  return it == handlers_.end() ? nullptr : &it->second;
}

std::vector<std::string> AtCommandTable::names() const {
  std::vector<std::string> out;
  for (const auto& [name, handler] : handlers_) out.push_back(name);
  return out;
}

AtCommandTable build_at_commands(const Modem& modem) {
  AtCommandTable table;
  register_identity_commands(table);
  register_sim_commands(table);
  register_network_commands(table);
  register_packet_commands(table);
  register_power_commands(table);
  switch (modem.profile().vendor()) {
    case profile::QUECTEL: register_quectel_commands(table); break;
    case profile::SIERRA: register_sierra_commands(table); break;
    default: break;
  }
  return table;
}

at::Outcome to_outcome(ActionResult result) {
  switch (result) {
    case ActionResult::kOk: return at::Outcome::ok();
    case ActionResult::kNotAllowed: return at::Outcome::cme_error(at::CmeError::kOperationNotAllowed);
    case ActionResult::kBadParameter: return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
    case ActionResult::kNoSim: return at::Outcome::cme_error(at::CmeError::kSimNotInserted);
    case ActionResult::kSimPinRequired: return at::Outcome::cme_error(at::CmeError::kSimPinRequired);
    case ActionResult::kSimPukRequired: return at::Outcome::cme_error(at::CmeError::kSimPukRequired);
    case ActionResult::kSimFailure: return at::Outcome::cme_error(at::CmeError::kSimFailure);
    case ActionResult::kSimBusy: return at::Outcome::cme_error(at::CmeError::kSimBusy);
    case ActionResult::kWrongPassword: return at::Outcome::cme_error(at::CmeError::kIncorrectPassword);
    case ActionResult::kNoService: return at::Outcome::cme_error(at::CmeError::kNoNetworkService);
    case ActionResult::kNotFound: return at::Outcome::cme_error(at::CmeError::kNotFound);
    case ActionResult::kNotSupported: return at::Outcome::cme_error(at::CmeError::kOperationNotSupported);
  }
  return at::Outcome::error();
}

std::string_view reg_prefix(RegReport which) {
  switch (which) {
    case RegReport::kCreg: return "+CREG";
    case RegReport::kCgreg: return "+CGREG";
    case RegReport::kCereg: return "+CEREG";
  }
  return "+CREG";
}

std::string reg_fields(const Modem& modem, int n) {
  const auto stat = static_cast<int>(modem.state().registration);
  if (n < 2 || !modem.registered()) return std::to_string(stat);
  // 27.007 7.2: <lac>/<tac> two bytes and <ci> four bytes in hexadecimal; <AcT> 7 = E-UTRAN.
  const auto& net = modem.network();
  return fmt::format("{},\"{:04X}\",\"{:07X}\",{}", stat, net.tac(), net.cell_id(), access_technology(modem));
}

int access_technology(const Modem& modem) {
  switch (modem.network().rat()) {
    case profile::GSM: return 0;
    case profile::UMTS: return 2;
    case profile::LTE: return 7;
    case profile::NR5G_NSA: return 13;
    default: return 11;  // NR connected to 5GCN
  }
}

}  // namespace modemu::emulator

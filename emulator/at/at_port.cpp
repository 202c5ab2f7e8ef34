#include "emulator/at/at_port.hpp"

#include <fmt/format.h>

#include "emulator/modem.hpp"

namespace modemu::emulator {

namespace at = protocols::at;

AtPort::AtPort(PortInfo info, Modem& modem, const AtCommandTable& table)
    : Port(std::move(info)), modem_(modem), table_(table),
      engine_(*this, [this](std::string_view bytes) { to_host(bytes); }) {
  engine_.set_observer([this](const at::LineReport& report) {
    std::string result = report.outcome.is_ok() ? "OK"
                         : report.outcome.cme
                             ? fmt::format("+CME ERROR: {}", static_cast<int>(*report.outcome.cme))
                             : std::string(at::verbose_text(report.outcome.code));
    modem_.event("at", fmt::format("{}: {} -> {}", this->info().node_name, report.line, result),
                 {{"port", this->info().node_name}, {"command", report.line}, {"result", result}});
  });
}

void AtPort::from_host(std::string_view bytes) { engine_.receive(bytes); }

void AtPort::host_opened() { engine_.clear_input(); }

std::optional<at::Outcome> AtPort::execute(const at::Command& command, at::Response& response) {
  const AtHandler* handler = table_.find(command.name);
  if (handler == nullptr) return std::nullopt;
  AtCall call{command, response, modem_, *this};
  return (*handler)(call);
}

void AtPort::reset_port_settings() {
  reg_n_[0] = reg_n_[1] = reg_n_[2] = 0;
  cops_format = 0;
}

void AtPort::model_changed(ModelChange change) {
  if (change != ModelChange::kRegistration) return;
  for (RegReport which : {RegReport::kCreg, RegReport::kCgreg, RegReport::kCereg}) {
    int n = reg_n(which);
    if (n == 0) continue;
    // URC form (27.007 7.2): +CREG: <stat>[,<lac>,<ci>[,<AcT>]], i.e. the read form without <n>.
    engine_.urc(fmt::format("{}: {}", reg_prefix(which), reg_fields(modem_, n)));
  }
}

}  // namespace modemu::emulator

#pragma once
// An AT command port: the protocols/at engine with this port's settings, dispatching to the
// modem's command table.
#include <string>

#include "emulator/at/commands.hpp"
#include "emulator/port.hpp"
#include "protocols/at/engine.hpp"

namespace modemu::emulator {

class AtPort final : public Port, public protocols::at::Dispatcher {
 public:
  AtPort(PortInfo info, Modem& modem, const AtCommandTable& table);

  void from_host(std::string_view bytes) override;
  void host_opened() override;

  // Unsolicited result code: held while a command line is being entered or answered.
  void urc(std::string_view text) { engine_.urc(text); }
  // The registration state changed: the +CREG/+CGREG/+CEREG URCs this port enabled go out.
  void model_changed(ModelChange change) override;

  // Per-port settings (27.007: each port has its own).
  int reg_n(RegReport which) const { return reg_n_[static_cast<int>(which)]; }
  void set_reg_n(RegReport which, int n) { reg_n_[static_cast<int>(which)] = n; }
  int cops_format = 0;  // +COPS=3,<format>: 0 long, 1 short, 2 numeric
  const protocols::at::Settings& settings() const { return engine_.settings(); }

  // protocols::at::Dispatcher
  std::optional<protocols::at::Outcome> execute(const protocols::at::Command& command,
                                                protocols::at::Response& response) override;
  void reset_port_settings() override;

 private:
  Modem& modem_;
  const AtCommandTable& table_;
  protocols::at::Engine engine_;
  int reg_n_[3] = {0, 0, 0};
};

}  // namespace modemu::emulator

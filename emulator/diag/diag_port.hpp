#pragma once
// The DM port: DIAG over HDLC framing (protocols/diag). It answers the version probes
// (VERSION_INFO for ModemManager's QCDM probe, Extended Build ID for QFirehose), switches a
// module whose profile has an EDL composition into emergency download on QFirehose's request,
// and gives DIAG_BAD_CMD_F for everything else. Never silence to a well-formed request.
#include "emulator/port.hpp"
#include "protocols/diag/hdlc.hpp"

namespace modemu::emulator {

class Modem;

class DiagPort final : public Port {
 public:
  DiagPort(PortInfo info, Modem& modem) : Port(std::move(info)), modem_(modem) {}
  void from_host(std::string_view bytes) override;
  void host_opened() override { deframer_.clear(); }

 private:
  void handle(const protocols::Bytes& payload);
  void send(const protocols::Bytes& payload);

  Modem& modem_;
  protocols::diag::Deframer deframer_;
};

}  // namespace modemu::emulator

#pragma once
// The QDL function of a Sierra module's boot-and-hold composition (1199:9070 and kin; seed 000's
// "upgrade mode"): the loader's QDL target (protocols/qdl) writing images into the module's
// firmware storage, a FirmwareSink that owns what the bytes mean. RESET reboots the module and the
// storage then decides the mode it comes up in.
//
// Faults (Modem::EdlFaults): a loader that answers the DLOAD SDP probe with another byte (F9:
// "unexpected response received in dload sdp: 0x13"), and a power cut N% into an image: what
// arrived before the cut is in the storage, nothing after, and the port says nothing more.
#include <memory>

#include "emulator/port.hpp"
#include "emulator/sierra/firmware_sink.hpp"
#include "protocols/common/bytes.hpp"

namespace modemu::protocols::qdl {
class Target;
}

namespace modemu::emulator {

class Modem;

namespace sierra {

class QdlPort final : public Port {
 public:
  QdlPort(PortInfo info, Modem& modem, FirmwareSink& sink);
  ~QdlPort() override;
  void from_host(std::string_view bytes) override;
  // A new host program: half-sent input is forgotten; an open image stays in progress until the
  // host opens one again.
  void host_opened() override;

 private:
  class Adapter;
  void start();
  void send(const protocols::Bytes& transfer);

  Modem& modem_;
  std::unique_ptr<Adapter> adapter_;
  std::unique_ptr<protocols::qdl::Target> target_;
  bool dead_ = false;  // power lost or rebooting: nothing more goes out
};

}  // namespace sierra
}  // namespace modemu::emulator

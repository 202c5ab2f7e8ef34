#pragma once
// A port is one function of the modem's current USB composition (an AT tty, the DM port, the
// QMI control channel, ...), served by a protocol engine. Transports move bytes between a host
// and ports; a port knows nothing about the transport that carries it.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "modemu/profile/profile.pb.h"

namespace modemu::emulator {

struct PortInfo {
  std::uint32_t interface_number = 0;
  profile::PortFunction function = profile::PORT_FUNCTION_UNSPECIFIED;
  std::string linux_driver;  // option, qcserial, qmi_wwan, ...
  // The node a Linux host gets for it: ttyUSB<n> for serial drivers, cdc-wdm<n> for qmi_wwan,
  // "" for functions that give no node (network data interfaces).
  std::string node_name;
};

std::string_view function_name(profile::PortFunction f);

// What changed in the model, for the ports that report changes (URCs, QMI indications).
enum class ModelChange { kRegistration, kSim, kData, kFunctionality, kSignal };

class Port {
 public:
  using Sink = std::function<void(std::string_view)>;

  explicit Port(PortInfo info) : info_(std::move(info)) {}
  virtual ~Port() = default;
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  const PortInfo& info() const { return info_; }

  // Bytes the host wrote to the port.
  virtual void from_host(std::string_view bytes) = 0;
  // A host program opened the port: whatever it had half sent before is forgotten.
  virtual void host_opened() {}
  // The model changed; ports that report such changes to the host do so.
  virtual void model_changed(ModelChange) {}
  // The composition is on the bus and every transport has attached its sink: a port that
  // speaks first (the bootloader's Sahara HELLO) speaks now.
  virtual void started() {}

  // Where the port's output goes; without a sink output is dropped, as a real module's output
  // is lost while no host reads it.
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  // A host program that takes the interface for itself (an updater detaching the kernel driver,
  // QFirehose over usb2tcp): while claimed, output goes to the claimant only.
  void claim(Sink sink) { claimed_ = std::move(sink); }
  void release() { claimed_ = nullptr; }
  bool claimed() const { return static_cast<bool>(claimed_); }

 protected:
  // One call is one transfer: transports that keep transfer boundaries (usb2tcp frames, the
  // bootloader's bulk pipe) keep them.
  void to_host(std::string_view bytes) {
    if (claimed_) {
      claimed_(bytes);
    } else if (sink_) {
      sink_(bytes);
    }
  }

 private:
  PortInfo info_;
  Sink sink_;
  Sink claimed_;
};

// A function whose protocol is not emulated yet: it takes bytes and answers nothing.
class InertPort final : public Port {
 public:
  using Port::Port;
  void from_host(std::string_view) override {}
};

}  // namespace modemu::emulator

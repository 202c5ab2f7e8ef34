#include "grpc-api/server/transport.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "emulator/usb/usb_device.hpp"
#include "gadget/local/pty_transport.hpp"
#include "gadget/usbredir/usbredir_server.hpp"

namespace modemu::server {

Attachment::Attachment(boost::asio::io_context& io, emulator::Modem& modem, const TransportSpec& spec) : spec_(spec) {
  switch (spec.kind) {
    case TransportSpec::Kind::kLocal:
      if (spec.dev_dir.empty()) throw std::invalid_argument("a local transport needs a directory for its port links");
      ptys_ = std::make_unique<gadget::PtyTransport>(io, modem, spec.dev_dir);
      break;
    case TransportSpec::Kind::kUsbredir:
      if (spec.listen.empty()) {
        throw std::invalid_argument("a usbredir transport needs a listen address: unix:PATH or tcp:HOST:PORT");
      }
      usb_device_ = std::make_unique<emulator::UsbDevice>(modem);
      if (!spec.pcap.empty()) usb_device_->capture_to(spec.pcap);
      usbredir_ = std::make_unique<gadget::UsbredirServer>(io, *usb_device_, spec.listen);
      break;
    case TransportSpec::Kind::kNone:
      break;
  }
}

Attachment::~Attachment() {
  // The listener goes before the device it serves.
  usbredir_.reset();
  usb_device_.reset();
  ptys_.reset();
}

std::string Attachment::where() const {
  switch (spec_.kind) {
    case TransportSpec::Kind::kLocal:
      return fmt::format("ports in {}", spec_.dev_dir.string());
    case TransportSpec::Kind::kUsbredir:
      return fmt::format("usbredir on {}", spec_.listen);
    case TransportSpec::Kind::kNone:
      break;
  }
  return "no transport";
}

}  // namespace modemu::server

#pragma once
// A modem on a transport: how the host reaches it. `modemu run` puts its modems on one at the
// start; `modemu serve` attaches and detaches them over the API. Local pseudo-terminals or a
// usbredir listener (with its UsbDevice and an optional pcap capture).
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "emulator/modem.hpp"

namespace modemu::gadget {
class PtyTransport;
class UsbredirServer;
}  // namespace modemu::gadget
namespace modemu::emulator {
class UsbDevice;
}

namespace modemu::server {

struct TransportSpec {
  enum class Kind { kNone, kLocal, kUsbredir };
  Kind kind = Kind::kNone;
  std::filesystem::path dev_dir;  // kLocal: where the port links go (required)
  std::string listen;             // kUsbredir: unix:PATH or tcp:HOST:PORT (required)
  std::string pcap;               // kUsbredir: usbmon pcap of every transfer ("" = none)
};

class Attachment {
 public:
  // Puts `modem` on the transport; throws std::invalid_argument with what is wrong (a listen
  // address that does not parse or cannot be bound, a missing field). The modem outlives it.
  Attachment(boost::asio::io_context& io, emulator::Modem& modem, const TransportSpec& spec);
  ~Attachment();
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

  const TransportSpec& spec() const { return spec_; }
  // "ports in DIR", "usbredir on unix:PATH".
  std::string where() const;

 private:
  TransportSpec spec_;
  std::unique_ptr<gadget::PtyTransport> ptys_;
  std::unique_ptr<emulator::UsbDevice> usb_device_;
  std::unique_ptr<gadget::UsbredirServer> usbredir_;
};

}  // namespace modemu::server

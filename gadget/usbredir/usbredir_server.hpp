#pragma once
// The usbredir transport (transports.md section 1): modemu plays usbredir's "usb-host" side,
// the side that owns a device, and QEMU connects as the guest:
//   -chardev socket,id=m,path=PATH,reconnect=1 -device usb-redir,chardev=m
// One listener per modem, on a unix socket or TCP (loopback by default). A new connection
// replaces the previous one, as QEMU reconnects after a restart.
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "emulator/usb/usb_device.hpp"

namespace modemu::gadget {

class UsbredirServer final : public emulator::UsbDevice::Listener {
 public:
  // `listen`: "unix:PATH" or "tcp:HOST:PORT" (HOST defaults to 127.0.0.1: "tcp::4000").
  // Throws std::invalid_argument for a malformed address, std::runtime_error when it cannot
  // listen.
  UsbredirServer(boost::asio::io_context& io, emulator::UsbDevice& device, const std::string& listen);
  ~UsbredirServer() override;
  UsbredirServer(const UsbredirServer&) = delete;
  UsbredirServer& operator=(const UsbredirServer&) = delete;

  const std::string& address() const { return address_; }
  bool client_connected() const;

  void on_connect(emulator::UsbDevice& device) override;
  void on_disconnect(emulator::UsbDevice& device) override;
  void on_data_ready(emulator::UsbDevice& device, std::uint8_t endpoint) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

// Feeds bytes to a fresh usb-host parser bound to `device`, as if a peer had sent them, and
// returns what the parser would send back. For the fuzz target and tests: no socket involved.
std::string usbredir_feed_for_test(emulator::UsbDevice& device, const std::string& bytes);

}  // namespace modemu::gadget

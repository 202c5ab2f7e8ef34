#pragma once
// QFirehose's TCP transport ("usb2tcp", QFirehose -p 127.0.0.1:9008): the updater reaches the
// module's DM pipe, and after the EDL switch the bootloader's bulk pipe, over a TCP connection
// instead of usbfs. The contract, measured against QFirehose V1.4.17, is
// shared/reference/edl-sahara-firehose.md "QFirehose over TCP (usb2tcp)":
//
// - Each connection first gets a 20-byte header in one write, all u32 little-endian: tag
//   0x12345678, length 12, idVendor, idProduct, bNumInterfaces of the composition on the bus.
//   It is held back while the module is off the bus (booting, resetting) and sent when it plugs.
// - After that each bulk transfer in either direction is one frame: tag 0x12345678, u32 length,
//   payload. One Port::to_host call is one frame; a zero-length frame is never sent.
// - The client writes a frame's header and payload as two writes without TCP_NODELAY, so
//   TCP_QUICKACK is set again after every receive (44 ms per frame otherwise).
//
// Which port a connection serves: the composition's SAHARA port (EDL, Quectel download mode),
// else its DIAG port (the DM interface in application mode). The connection claims that port
// (Port::claim) so that its output goes to this client only. One client holds it at a time;
// later connections wait, without a header, until it closes. When the module leaves the bus the
// port is released and the connection stays open, silent, until the client closes it (its reads
// time out, as they would on a vanished USB device); a new connection gets the new header.
// Bytes that arrive while a connection holds no port are framed and dropped.
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "emulator/modem.hpp"
#include "gadget/usb2tcp/usb2tcp_frames.hpp"

namespace modemu::gadget {


class Usb2TcpServer final : public emulator::DeviceObserver {
 public:
  // `address`: numeric IPv4 "HOST:PORT" (QFirehose only takes that form, on port 9008).
  // Throws std::invalid_argument for a malformed address and std::runtime_error when it cannot
  // listen; both messages start with "usb2tcp: ". The modem must outlive the server.
  Usb2TcpServer(boost::asio::io_context& io, emulator::Modem& modem, const std::string& address);
  ~Usb2TcpServer() override;
  Usb2TcpServer(const Usb2TcpServer&) = delete;
  Usb2TcpServer& operator=(const Usb2TcpServer&) = delete;

  // "127.0.0.1:9008", with the port actually bound (port 0 picks one).
  const std::string& address() const { return address_; }
  std::size_t connections() const { return connections_.size(); }

  void on_plug(emulator::Modem& modem) override;
  void on_unplug(emulator::Modem& modem) override;

  struct Connection;

 private:
  void accept();
  void read(const std::shared_ptr<Connection>& c);
  void process(Connection& c);
  void deliver(Connection& c, std::string_view payload);
  void send(Connection& c, std::span<const std::uint8_t> head, std::string_view payload);
  void flush(const std::shared_ptr<Connection>& c);
  void close(Connection& c, const std::string& why);
  void serve_next(bool just_plugged);
  void activate(const std::shared_ptr<Connection>& c, emulator::Port& port, bool just_plugged);
  emulator::Port* served_port() const;
  bool has_active() const;

  emulator::Modem& modem_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::string address_;
  std::list<std::shared_ptr<Connection>> connections_;  // in arrival order: the next to serve first
  std::uint64_t plug_generation_ = 0;
  int next_number_ = 1;
  bool reported_no_port_ = false;
  std::shared_ptr<bool> alive_;
};

}  // namespace modemu::gadget

#pragma once
// The local transport: each serial port of the modem's composition becomes a pseudo-terminal,
// presented under a stable name in a directory the user chooses (ttyUSB0 ... named as the Linux
// driver would name them), so host tools open DIR/ttyUSB2 as they would /dev/ttyUSB2.
//
// transports.md section 4: the slave is put in raw mode before any client opens it (otherwise
// the line discipline echoes the modem's output back as input). Output goes to the pty only
// while a host program has the port open, and what the last one left unread is flushed when it
// closes, so a client never finds stale bytes. The links vanish while the module is off the bus,
// like /dev/ttyUSB*.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "emulator/modem.hpp"

namespace modemu::gadget {

class PtyTransport final : public emulator::DeviceObserver {
 public:
  // Creates dev_dir if needed. The modem must outlive the transport.
  PtyTransport(boost::asio::io_context& io, emulator::Modem& modem, std::filesystem::path dev_dir);
  ~PtyTransport() override;
  PtyTransport(const PtyTransport&) = delete;
  PtyTransport& operator=(const PtyTransport&) = delete;

  const std::filesystem::path& dev_dir() const { return dev_dir_; }

  void on_plug(emulator::Modem& modem) override;
  void on_unplug(emulator::Modem& modem) override;

 private:
  struct Pty;
  void start_inotify_read();
  void drain_inotify();
  void handle_inotify(const char* buffer, std::size_t length);
  void start_read(Pty& pty);
  void write(Pty& pty, std::string_view bytes);
  void flush_writes(Pty& pty);
  void close_all();
  bool owns(const Pty* pty) const;

  boost::asio::io_context& io_;
  emulator::Modem& modem_;
  std::filesystem::path dev_dir_;
  boost::asio::posix::stream_descriptor inotify_;
  std::map<int, Pty*> by_watch_;
  std::vector<std::unique_ptr<Pty>> ptys_;
  std::shared_ptr<bool> alive_;
};

}  // namespace modemu::gadget

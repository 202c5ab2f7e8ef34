#pragma once
// libqmi's qmi-proxy protocol (qmi.md "The qmi-proxy protocol"): clients started with
// `qmicli -p` connect to the abstract unix socket "qmi-proxy", send CTL Internal Proxy Open
// (0xFF00) with the device path, then plain QMUX. Each connection is a session of the QMI
// function whose node the path names (DIR/cdc-wdm0); with a single QMI function any path
// selects it. Abstract sockets are per network namespace: inside `unshare -n` it is private.
#include <filesystem>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "emulator/modem.hpp"

namespace modemu::gadget {

class QmiProxyServer final : public emulator::DeviceObserver {
 public:
  struct Target {
    emulator::Modem* modem;
    std::filesystem::path dev_dir;
  };

  // Listens on the abstract socket `name` (default "qmi-proxy"). Throws when it is taken.
  QmiProxyServer(boost::asio::io_context& io, std::vector<Target> targets, std::string name = "qmi-proxy");
  ~QmiProxyServer() override;

  void on_plug(emulator::Modem& modem) override;
  void on_unplug(emulator::Modem& modem) override;
  std::size_t connections() const { return connections_.size(); }

 private:
  struct Connection;
  void accept();
  void read(Connection& c);
  void close(Connection& c, const std::string& why);
  void flush(Connection& c);
  bool known(const Connection* c) const;
  void bind_session(Connection& c, const std::string& path);

  std::vector<Target> targets_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::shared_ptr<bool> alive_;
};

}  // namespace modemu::gadget

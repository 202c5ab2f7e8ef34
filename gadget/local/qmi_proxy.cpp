#include "gadget/local/qmi_proxy.hpp"

#include <array>
#include <deque>

#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "emulator/qmi/qmi_function.hpp"
#include "protocols/qmi/qmux.hpp"

namespace modemu::gadget {
namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace qmi = modemu::protocols::qmi;
using asio::local::stream_protocol;

struct QmiProxyServer::Connection {
  explicit Connection(stream_protocol::socket s, int n) : socket(std::move(s)), number(n) {}
  stream_protocol::socket socket;
  int number;
  std::array<std::uint8_t, 4096> buffer{};
  qmi::Framer framer;        // until the proxy open arrives
  std::vector<std::uint8_t> pending;  // what came before the session existed
  emulator::Modem* modem = nullptr;
  emulator::QmiFunction* function = nullptr;
  std::unique_ptr<emulator::QmiSession> session;
  std::deque<std::vector<std::uint8_t>> out;
  bool writing = false;
};

QmiProxyServer::QmiProxyServer(asio::io_context& io, std::vector<Target> targets, std::string name)
    : targets_(std::move(targets)), acceptor_(io), alive_(std::make_shared<bool>(true)) {
  stream_protocol::endpoint endpoint(std::string(1, '\0') + name);
  acceptor_.open(endpoint.protocol());
  boost::system::error_code ec;
  acceptor_.bind(endpoint, ec);
  if (ec) {
    throw std::runtime_error(fmt::format("cannot listen on the abstract socket \"{}\": {} (is another qmi-proxy "
                                         "running in this network namespace? `unshare -n` gives a private one)",
                                         name, ec.message()));
  }
  acceptor_.listen();
  for (auto& t : targets_) t.modem->add_observer(this);
  accept();
}

QmiProxyServer::~QmiProxyServer() {
  *alive_ = false;
  for (auto& t : targets_) t.modem->remove_observer(this);
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& c : connections_) {
    c->session.reset();
    c->socket.close(ec);
  }
  connections_.clear();
}

void QmiProxyServer::accept() {
  std::weak_ptr<bool> alive = alive_;
  acceptor_.async_accept([this, alive](const boost::system::error_code& ec, stream_protocol::socket socket) {
    auto guard = alive.lock();
    if (!guard || !*guard || ec == asio::error::operation_aborted) return;
    if (!ec) {
      static int next = 1;
      connections_.push_back(std::make_unique<Connection>(std::move(socket), next++));
      read(*connections_.back());
    }
    accept();
  });
}

void QmiProxyServer::read(Connection& c) {
  std::weak_ptr<bool> alive = alive_;
  Connection* target = &c;
  c.socket.async_read_some(asio::buffer(c.buffer), [this, alive, target](const boost::system::error_code& ec, std::size_t n) {
    auto guard = alive.lock();
    if (!guard || !*guard || ec == asio::error::operation_aborted) return;
    if (!known(target)) return;
    if (ec) {
      close(*target, "client closed the connection");
      return;
    }
    protocols::ByteView bytes(target->buffer.data(), n);
    if (target->session) {
      target->session->receive(bytes);
    } else {
      target->pending.insert(target->pending.end(), bytes.begin(), bytes.end());
      target->framer.push(bytes);
      auto r = target->framer.next();
      if (r.outcome == qmi::Framer::Outcome::kNeedMore) {
        read(*target);
        return;
      }
      auto decoded = r.outcome == qmi::Framer::Outcome::kFrame ? qmi::decode(r.frame) : qmi::Decoded{};
      if (!decoded.message || !decoded.message->is_ctl() || decoded.message->message_id != 0xff00 ||
          decoded.message->find(0x01) == nullptr) {
        close(*target, "the first message was not Internal Proxy Open");
        return;
      }
      const auto& path_bytes = decoded.message->find(0x01)->value;
      bind_session(*target, std::string(path_bytes.begin(), path_bytes.end()));
      if (!target->session) {
        close(*target, "no QMI device at that path");
        return;
      }
      std::vector<std::uint8_t> all = std::move(target->pending);
      target->session->receive(all);
    }
    if (known(target)) read(*target);
  });
}

void QmiProxyServer::bind_session(Connection& c, const std::string& path) {
  std::error_code ec;
  fs::path wanted = fs::weakly_canonical(path, ec);
  std::vector<std::pair<emulator::Modem*, emulator::QmiFunction*>> all;
  for (auto& t : targets_) {
    for (const auto& port : t.modem->ports()) {
      auto* qmi_port = dynamic_cast<emulator::QmiPort*>(port.get());
      if (qmi_port == nullptr) continue;
      all.emplace_back(t.modem, &qmi_port->function());
      fs::path node = t.dev_dir / port->info().node_name;
      if (node == path || (!ec && fs::weakly_canonical(node, ec) == wanted)) {
        c.modem = t.modem;
        c.function = &qmi_port->function();
      }
    }
  }
  if (c.function == nullptr && all.size() == 1) std::tie(c.modem, c.function) = all.front();
  if (c.function == nullptr) return;
  Connection* target = &c;
  c.session = std::make_unique<emulator::QmiSession>(
      *c.function, fmt::format("qmi-proxy#{}", c.number), [this, target](protocols::ByteView bytes) {
        target->out.emplace_back(bytes.begin(), bytes.end());
        flush(*target);
      });
  c.modem->event("qmi.proxy", fmt::format("qmi-proxy#{} connected to {}", c.number, c.function->name()));
}

bool QmiProxyServer::known(const Connection* c) const {
  for (const auto& p : connections_) {
    if (p.get() == c) return true;
  }
  return false;
}

void QmiProxyServer::flush(Connection& c) {
  if (c.writing || c.out.empty()) return;
  c.writing = true;
  std::weak_ptr<bool> alive = alive_;
  Connection* target = &c;
  asio::async_write(c.socket, asio::buffer(c.out.front()), [this, alive, target](const boost::system::error_code& ec, std::size_t) {
    auto guard = alive.lock();
    if (!guard || !*guard || ec || !known(target)) return;
    target->out.pop_front();
    target->writing = false;
    flush(*target);
  });
}

void QmiProxyServer::close(Connection& c, const std::string& why) {
  if (c.modem != nullptr) c.modem->event("qmi.proxy", fmt::format("qmi-proxy#{} closed: {}", c.number, why));
  c.session.reset();
  boost::system::error_code ec;
  c.socket.close(ec);
  connections_.remove_if([&](const auto& p) { return p.get() == &c; });
}

void QmiProxyServer::on_plug(emulator::Modem&) {}

void QmiProxyServer::on_unplug(emulator::Modem& modem) {
  // The device is gone: its proxy clients see the connection close, as libqmi's proxy closes
  // its clients when the device node goes away.
  std::vector<Connection*> doomed;
  for (auto& c : connections_) {
    if (c->modem == &modem) doomed.push_back(c.get());
  }
  for (Connection* c : doomed) close(*c, "the modem left the bus");
}

}  // namespace modemu::gadget

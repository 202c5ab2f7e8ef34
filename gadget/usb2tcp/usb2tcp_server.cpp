#include "gadget/usb2tcp/usb2tcp_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "protocols/common/bytes.hpp"

namespace modemu::gadget {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t kDeviceHeader = 20;  // tag, length 12, idVendor, idProduct, bNumInterfaces

// The client sends a frame as two writes on a socket without TCP_NODELAY; with delayed ACKs the
// second write waits ~40 ms for our ACK. TCP_QUICKACK is not sticky (the kernel clears it), so
// it is set again after every receive (reference: "QFirehose over TCP").
void quick_ack(tcp::socket& socket) {
  int one = 1;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

std::string hex4(std::uint32_t v) { return fmt::format("{:04x}", v); }

std::string describe(const emulator::Port& port) {
  const auto& info = port.info();
  return fmt::format("{} interface {}{}", emulator::function_name(info.function), info.interface_number,
                     info.node_name.empty() ? "" : fmt::format(" ({})", info.node_name));
}

}  // namespace

struct Usb2TcpServer::Connection : std::enable_shared_from_this<Connection> {
  enum class State {
    kWaiting,   // no header yet: the module is off the bus or another client holds the port
    kActive,    // header sent, port claimed
    kDetached,  // the module left the bus after the header: silent until the client closes
  };
  struct Out {
    std::array<std::uint8_t, kDeviceHeader> head{};
    std::size_t head_size = 0;
    std::string payload;
  };

  Connection(tcp::socket s, int n, std::string from)
      : socket(std::move(s)), number(n), peer(std::move(from)) {}
  std::string name() const { return fmt::format("usb2tcp#{}", number); }

  tcp::socket socket;
  int number;
  std::string peer;
  bool open = true;
  State state = State::kWaiting;
  emulator::Port* port = nullptr;  // while kActive
  bool port_spoke = false;         // the port produced output since it was claimed
  // Received bytes; frames are handed to the port as views into its buffer, never copied.
  Usb2TcpFrameReader rx;
  // Frames waiting for the socket, and the batch being written (one gathered async_write).
  std::vector<Out> queued;
  std::vector<Out> sending;
  bool writing = false;
  std::uint64_t frames_in = 0, bytes_in = 0, frames_out = 0, bytes_out = 0, dropped = 0;
  bool reported_drop = false;
};

Usb2TcpServer::Usb2TcpServer(asio::io_context& io, emulator::Modem& modem, const std::string& address)
    : modem_(modem), acceptor_(io), alive_(std::make_shared<bool>(true)) {
  auto bad = [&address] {
    return std::invalid_argument(fmt::format(
        "usb2tcp: \"{}\" is not IPV4:PORT (QFirehose -p takes a numeric IPv4 address on port 9008, "
        "e.g. 127.0.0.1:9008)",
        address));
  };
  auto colon = address.rfind(':');
  if (colon == std::string::npos) throw bad();
  std::string_view port_text = std::string_view(address).substr(colon + 1);
  unsigned port = 0;
  auto [end, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc() || end != port_text.data() + port_text.size() || port_text.empty() || port > 65535) throw bad();
  boost::system::error_code ec;
  auto ip = asio::ip::make_address_v4(address.substr(0, colon), ec);
  if (ec) throw bad();
  tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("usb2tcp: cannot listen on {}: {}", address, ec.message()));
  auto bound = acceptor_.local_endpoint(ec);
  address_ = ec ? address : fmt::format("{}:{}", bound.address().to_string(), bound.port());
  modem_.add_observer(this);
  accept();
}

Usb2TcpServer::~Usb2TcpServer() {
  *alive_ = false;
  modem_.remove_observer(this);
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& c : connections_) {
    if (c->state == Connection::State::kActive && c->port != nullptr) c->port->release();
    c->open = false;
    c->socket.close(ec);
  }
  connections_.clear();
}

void Usb2TcpServer::accept() {
  std::weak_ptr<bool> alive = alive_;
  acceptor_.async_accept([this, alive](const boost::system::error_code& ec, tcp::socket socket) {
    auto guard = alive.lock();
    if (!guard || !*guard || ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto from = socket.remote_endpoint(ignored);
      auto c = std::make_shared<Connection>(std::move(socket), next_number_++,
                                            fmt::format("{}:{}", from.address().to_string(), from.port()));
      connections_.push_back(c);
      std::string waits;
      if (modem_.composition() == nullptr) {
        waits = "; the module is off the bus: the header follows when it enumerates";
      } else {
        for (const auto& other : connections_) {
          if (other->state == Connection::State::kActive) {
            waits = fmt::format("; {} holds the interface: this one waits until it closes", other->name());
          }
        }
      }
      modem_.event("usb2tcp", fmt::format("{}: connected from {}{}", c->name(), c->peer, waits),
                   {{"connection", std::to_string(c->number)}, {"peer", c->peer}});
      read(c);
      serve_next(false);
    }
    accept();
  });
}

void Usb2TcpServer::read(const std::shared_ptr<Connection>& c) {
  std::weak_ptr<bool> alive = alive_;
  std::span<char> space = c->rx.space();
  c->socket.async_read_some(asio::buffer(space.data(), space.size()),
                            [this, alive, c](const boost::system::error_code& ec, std::size_t n) {
                              auto guard = alive.lock();
                              if (!guard || !*guard || !c->open) return;
                              if (ec) {
                                close(*c, ec == asio::error::eof ? "the client closed the connection" : ec.message());
                                return;
                              }
                              quick_ack(c->socket);
                              c->rx.commit(n);
                              process(*c);
                              if (c->open) read(c);
                            });
}

void Usb2TcpServer::process(Connection& c) {
  std::string_view payload;
  std::string error;
  while (c.open) {
    switch (c.rx.next(payload, error)) {
      case Usb2TcpFrameReader::Result::kNeedMore:
        return;
      case Usb2TcpFrameReader::Result::kError:
        close(c, error);
        return;
      case Usb2TcpFrameReader::Result::kFrame:
        ++c.frames_in;
        c.bytes_in += payload.size();
        deliver(c, payload);
        break;
    }
  }
}

void Usb2TcpServer::deliver(Connection& c, std::string_view payload) {
  if (c.state == Connection::State::kActive && c.port != nullptr) {
    c.port->from_host(payload);
    return;
  }
  ++c.dropped;
  if (!c.reported_drop) {
    c.reported_drop = true;
    modem_.event("usb2tcp", fmt::format("{}: dropping frames: the connection holds no interface ({})", c.name(),
                                        c.state == Connection::State::kWaiting ? "no header sent yet"
                                                                               : "the module left the bus"));
  }
}

void Usb2TcpServer::send(Connection& c, std::span<const std::uint8_t> head, std::string_view payload) {
  if (!c.open || head.size() > kDeviceHeader) return;
  Connection::Out out;
  std::memcpy(out.head.data(), head.data(), head.size());
  out.head_size = head.size();
  out.payload.assign(payload);
  c.queued.push_back(std::move(out));
  flush(c.shared_from_this());
}

void Usb2TcpServer::flush(const std::shared_ptr<Connection>& c) {
  if (c->writing || c->queued.empty() || !c->open) return;
  c->writing = true;
  std::swap(c->sending, c->queued);
  // One gathered write for the whole batch: the device header or each frame's header and its
  // payload go out together, without copying the payloads into one buffer.
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(c->sending.size() * 2);
  for (const auto& out : c->sending) {
    buffers.emplace_back(out.head.data(), out.head_size);
    if (!out.payload.empty()) buffers.emplace_back(out.payload.data(), out.payload.size());
  }
  std::weak_ptr<bool> alive = alive_;
  asio::async_write(c->socket, buffers, [this, alive, c](const boost::system::error_code& ec, std::size_t) {
    auto guard = alive.lock();
    if (!guard || !*guard) return;
    c->writing = false;
    c->sending.clear();
    if (ec) {
      if (c->open) close(*c, fmt::format("cannot write: {}", ec.message()));
      return;
    }
    flush(c);
  });
}

void Usb2TcpServer::close(Connection& c, const std::string& why) {
  if (!c.open) return;
  c.open = false;
  bool was_active = c.state == Connection::State::kActive;
  if (was_active && c.port != nullptr) c.port->release();
  c.port = nullptr;
  c.state = Connection::State::kDetached;
  boost::system::error_code ec;
  c.socket.close(ec);
  std::string dropped = c.dropped == 0 ? "" : fmt::format(", {} dropped", c.dropped);
  modem_.event("usb2tcp",
               fmt::format("{}: closed: {} ({} frame(s) / {} bytes in{}, {} frame(s) / {} bytes out)", c.name(), why,
                           c.frames_in, c.bytes_in, dropped, c.frames_out, c.bytes_out),
               {{"connection", std::to_string(c.number)}});
  connections_.remove_if([&](const auto& p) { return p.get() == &c; });
  if (was_active) serve_next(false);
}

emulator::Port* Usb2TcpServer::served_port() const {
  emulator::Port* diag = nullptr;
  for (const auto& p : modem_.ports()) {
    if (p->info().function == profile::SAHARA) return p.get();
    if (p->info().function == profile::DIAG && diag == nullptr) diag = p.get();
  }
  return diag;
}

bool Usb2TcpServer::has_active() const {
  for (const auto& c : connections_) {
    if (c->state == Connection::State::kActive) return true;
  }
  return false;
}

void Usb2TcpServer::serve_next(bool just_plugged) {
  if (modem_.composition() == nullptr || has_active()) return;
  std::shared_ptr<Connection> next;
  for (const auto& c : connections_) {
    if (c->state == Connection::State::kWaiting) {
      next = c;
      break;
    }
  }
  if (!next) return;
  emulator::Port* port = served_port();
  if (port == nullptr) {
    if (!reported_no_port_) {
      reported_no_port_ = true;
      modem_.event("usb2tcp", fmt::format("{}: no header: composition \"{}\" has no DM or Sahara interface to serve",
                                          next->name(), modem_.composition()->composition()));
    }
    return;
  }
  activate(next, *port, just_plugged);
}

void Usb2TcpServer::activate(const std::shared_ptr<Connection>& c, emulator::Port& port, bool just_plugged) {
  const auto& composition = *modem_.composition();
  protocols::Writer w;
  w.le32(kUsb2TcpTag)
      .le32(12)
      .le32(composition.idvendor())
      .le32(composition.idproduct())
      .le32(static_cast<std::uint32_t>(composition.interfaces_size()));
  send(*c, w.data(), {});
  c->state = Connection::State::kActive;
  c->port = &port;
  c->port_spoke = false;
  modem_.event("usb2tcp",
               fmt::format("{}: sent header {}:{}, {} interface(s); serving the {}", c->name(),
                           hex4(composition.idvendor()), hex4(composition.idproduct()), composition.interfaces_size(),
                           describe(port)),
               {{"connection", std::to_string(c->number)},
                {"vid", hex4(composition.idvendor())},
                {"pid", hex4(composition.idproduct())},
                {"interfaces", std::to_string(composition.interfaces_size())}});
  std::weak_ptr<Connection> weak = c;
  port.claim([this, weak](std::string_view bytes) {
    auto conn = weak.lock();
    if (!conn || !conn->open || conn->state != Connection::State::kActive) return;
    conn->port_spoke = true;
    if (bytes.empty()) return;  // never a zero-length frame: the client takes it for an error
    ++conn->frames_out;
    conn->bytes_out += bytes.size();
    protocols::Writer head;
    head.le32(kUsb2TcpTag).le32(static_cast<std::uint32_t>(bytes.size()));
    send(*conn, head.data(), bytes);
  });
  if (!just_plugged) {
    port.host_opened();
    return;
  }
  // The module just enumerated and Modem::plug calls Port::started() after the observers: a
  // port that speaks first (Sahara HELLO) does so then, into this claim. Open it as a host would
  // only if it said nothing, so that the client never gets two HELLOs.
  std::weak_ptr<bool> alive = alive_;
  asio::post(acceptor_.get_executor(), [this, alive, weak, generation = plug_generation_] {
    auto guard = alive.lock();
    auto conn = weak.lock();
    if (!guard || !*guard || !conn || !conn->open || generation != plug_generation_) return;
    if (conn->state != Connection::State::kActive || conn->port == nullptr || conn->port_spoke) return;
    conn->port->host_opened();
  });
}

void Usb2TcpServer::on_plug(emulator::Modem&) {
  ++plug_generation_;
  reported_no_port_ = false;
  serve_next(true);
}

void Usb2TcpServer::on_unplug(emulator::Modem&) {
  ++plug_generation_;
  for (auto& c : connections_) {
    if (c->state != Connection::State::kActive) continue;
    if (c->port != nullptr) c->port->release();
    c->port = nullptr;
    c->state = Connection::State::kDetached;
    modem_.event("usb2tcp",
                 fmt::format("{}: the module left the bus: interface released; the connection stays open, silent, "
                             "until the client closes it",
                             c->name()),
                 {{"connection", std::to_string(c->number)}});
  }
}

}  // namespace modemu::gadget

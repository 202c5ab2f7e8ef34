#include "gadget/usbip/usbip_server.hpp"

#include <array>
#include <list>
#include <set>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "gadget/common/host_port.hpp"

namespace modemu::gadget {
namespace asio = boost::asio;
namespace usbip = protocols::usbip;
using asio::ip::tcp;
using protocols::Bytes;
using protocols::ByteView;

namespace {
// IN transfers one endpoint may hold before the client is taken for broken.
constexpr std::size_t kMaxHeld = 1024;
}  // namespace

// --- exports ---

UsbipExports::UsbipExports(std::vector<emulator::UsbDevice*> devices) {
  for (std::size_t i = 0; i < devices.size(); ++i) {
    entries_.push_back(Entry{fmt::format("1-{}", i + 1), devices[i], nullptr});
    devices[i]->set_listener(this);
  }
}

UsbipExports::~UsbipExports() {
  for (auto& e : entries_) e.device->set_listener(nullptr);
}

UsbipExports::Entry* UsbipExports::find(const std::string& busid) {
  for (auto& e : entries_) {
    if (e.busid == busid) return &e;
  }
  return nullptr;
}

UsbipExports::Entry* UsbipExports::find(const emulator::UsbDevice& device) {
  for (auto& e : entries_) {
    if (e.device == &device) return &e;
  }
  return nullptr;
}

usbip::DeviceRecord UsbipExports::record(const Entry& e) const {
  const auto& d = e.device->device_descriptor();
  usbip::DeviceRecord r;
  r.busid = e.busid;
  r.path = "/sys/devices/platform/modemu/usb1/" + e.busid;
  r.busnum = 1;
  r.devnum = static_cast<std::uint32_t>(&e - entries_.data()) + 2;  // 1 is the root hub's
  r.speed = usbip::kSpeedHigh;
  r.idVendor = d.idVendor;
  r.idProduct = d.idProduct;
  r.bcdDevice = d.bcdDevice;
  r.bDeviceClass = d.bDeviceClass;
  r.bDeviceSubClass = d.bDeviceSubClass;
  r.bDeviceProtocol = d.bDeviceProtocol;
  r.bConfigurationValue = e.device->configuration().bConfigurationValue;
  r.bNumConfigurations = d.bNumConfigurations;
  std::set<std::uint8_t> seen;
  for (const auto& i : e.device->configuration().interfaces) {
    if (!seen.insert(i.bInterfaceNumber).second) continue;
    r.interfaces.push_back({i.bInterfaceClass, i.bInterfaceSubClass, i.bInterfaceProtocol});
  }
  return r;
}

void UsbipExports::on_connect(emulator::UsbDevice& device) {
  if (Entry* e = find(device)) {
    const auto& d = device.device_descriptor();
    device.modem().event("usb.usbip", fmt::format("{:04x}:{:04x} exported as bus id {}", d.idVendor, d.idProduct, e->busid),
                         {{"busid", e->busid}});
  }
}

void UsbipExports::on_disconnect(emulator::UsbDevice& device) {
  Entry* e = find(device);
  if (e != nullptr && e->holder != nullptr) e->holder->device_gone();
}

void UsbipExports::on_data_ready(emulator::UsbDevice& device, std::uint8_t endpoint) {
  Entry* e = find(device);
  if (e != nullptr && e->holder != nullptr) e->holder->data_ready(endpoint);
}

// --- one connection's state machine ---

UsbipSession::UsbipSession(UsbipExports& exports, Sink sink, Closer closer)
    : exports_(exports), sink_(std::move(sink)), closer_(std::move(closer)) {}

UsbipSession::~UsbipSession() {
  if (entry_ != nullptr && entry_->holder == this) entry_->holder = nullptr;
}

void UsbipSession::event(const std::string& message) {
  if (entry_ != nullptr) {
    entry_->device->modem().event("usb.usbip", message, {{"busid", entry_->busid}});
  } else if (!exports_.entries().empty()) {
    exports_.entries().front().device->modem().event("usb.usbip", message);
  }
}

void UsbipSession::close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  pending_.clear();
  if (entry_ != nullptr && entry_->holder == this) entry_->holder = nullptr;
  in_.clear();
  if (closer_) closer_(why);
}

void UsbipSession::receive(ByteView bytes) {
  if (closed_) return;
  in_.insert(in_.end(), bytes.begin(), bytes.end());
  std::size_t used = 0;
  while (!closed_) {
    auto d = usbip::decode(ByteView(in_).subspan(used), phase_);
    if (d.kind == usbip::Decoded::Kind::kNeedMore) break;
    if (d.kind == usbip::Decoded::Kind::kMalformed) {
      event("malformed traffic from the client: " + d.error + "; closing the connection");
      close("malformed traffic: " + d.error);
      return;
    }
    used += d.consumed;
    if (!handle(d.message)) break;
  }
  if (!closed_) in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(used));
}

bool UsbipSession::handle(usbip::Message& m) {
  if (auto* op = std::get_if<usbip::OpRequest>(&m)) {
    operation(*op);
  } else if (auto* c = std::get_if<usbip::CmdSubmit>(&m)) {
    submit(*c);
  } else if (auto* u = std::get_if<usbip::CmdUnlink>(&m)) {
    unlink(*u);
  }
  return !closed_;
}

void UsbipSession::operation(const usbip::OpRequest& op) {
  if (op.code == usbip::kOpReqDevlist) {
    std::vector<usbip::DeviceRecord> records;
    for (const auto& e : exports_.entries()) {
      if (e.device->connected()) records.push_back(exports_.record(e));
    }
    sink_(usbip::encode_devlist_reply(records));
    close("device list sent");
    return;
  }
  UsbipExports::Entry* e = exports_.find(op.busid);
  std::uint32_t status = usbip::kStOk;
  if (e == nullptr) {
    status = usbip::kStNoDev;
  } else if (!e->device->connected()) {
    status = usbip::kStNotAvailable;  // off the bus: booting, resetting, powered off
  }
  if (status != usbip::kStOk) {
    if (e != nullptr) {
      e->device->modem().event("usb.usbip", fmt::format("import of bus id {} refused: the module is off the bus", op.busid),
                               {{"busid", op.busid}});
    } else {
      event(fmt::format("import of unknown bus id \"{}\" refused", op.busid));
    }
    sink_(usbip::encode_import_reply(status, nullptr));
    close("import refused");
    return;
  }
  if (e->holder != nullptr && e->holder != this) e->holder->taken_over();
  entry_ = e;
  e->holder = this;
  phase_ = usbip::Phase::kUrb;
  auto record = exports_.record(*e);
  for (const auto& [address, ep] : e->device->endpoints()) {
    if ((ep.descriptor.bmAttributes & 3) == 3 && (address & 0x80) != 0) rearm_.insert(address);
  }
  sink_(usbip::encode_import_reply(usbip::kStOk, &record));
  event(fmt::format("bus id {} ({:04x}:{:04x}) imported by the client", e->busid, record.idVendor, record.idProduct));
}

void UsbipSession::submit(usbip::CmdSubmit& c) {
  emulator::UsbDevice& device = *entry_->device;
  if (!device.connected()) {
    sink_(usbip::encode_ret_submit(c.seqnum, usbip::kStatusStall, 0));
    return;
  }
  if (c.ep == 0) {
    // vhci_hcd handles SET_ADDRESS itself and forwards SET_CONFIGURATION / SET_INTERFACE as
    // ordinary control transfers (transports.md): all of them go to the device.
    auto r = device.control(c.setup, c.setup.device_to_host() ? ByteView{} : ByteView(c.data));
    if (r.stall) {
      sink_(usbip::encode_ret_submit(c.seqnum, usbip::kStatusStall, 0));
    } else if (c.in()) {
      // actual_length beyond transfer_buffer_length makes vhci_hcd drop the device.
      if (r.data.size() > c.transfer_buffer_length) r.data.resize(c.transfer_buffer_length);
      sink_(usbip::encode_ret_submit(c.seqnum, usbip::kStatusOk, static_cast<std::uint32_t>(r.data.size()), r.data));
    } else {
      sink_(usbip::encode_ret_submit(c.seqnum, usbip::kStatusOk, static_cast<std::uint32_t>(c.data.size())));
    }
    return;
  }
  std::uint8_t address = c.address();
  if (!c.in()) {
    bool ok = device.write(address, c.data);
    sink_(usbip::encode_ret_submit(c.seqnum, ok ? usbip::kStatusOk : usbip::kStatusStall,
                                   ok ? static_cast<std::uint32_t>(c.data.size()) : 0));
    return;
  }
  if (!device.is_in_endpoint(address)) {
    sink_(usbip::encode_ret_submit(c.seqnum, usbip::kStatusStall, 0));
    return;
  }
  // Interrupt IN is an ordinary held transfer, like bulk IN (not pushed as in usbredir).
  auto ep = device.endpoints().find(address);
  if (ep != device.endpoints().end() && (ep->second.descriptor.bmAttributes & 3) == 3) last_interrupt_[address] = c.seqnum;
  if (rearm_.erase(address) != 0) device.rearm_interrupt(address);
  auto& queue = pending_[address];
  if (queue.size() >= kMaxHeld) {
    // usbnet keeps about 60 in flight, usb_wwan 4 per port: this is a client gone wrong.
    event(fmt::format("more than {} IN transfers held on endpoint {:02x}; closing the connection", kMaxHeld, address));
    close("too many held transfers");
    return;
  }
  queue.push_back({c.seqnum, c.transfer_buffer_length});
  complete_pending(address);
}

void UsbipSession::unlink(const usbip::CmdUnlink& u) {
  // An unlinked interrupt URB means the host stopped polling (cdc-wdm closes when the last
  // program closes /dev/cdc-wdm0), whether the URB was still held or had just completed: a
  // notification it took may never have been acted on, and the response it announced would
  // then sit in front of the next one, which would be fetched in its place. The next URB
  // re-announces every response still waiting (measured: qmicli after a qmicli that exited
  // right after its answer, with an indication following it, timed out one time in 13).
  for (const auto& [address, seqnum] : last_interrupt_) {
    if (seqnum == u.unlink_seqnum) rearm_.insert(address);
  }
  for (auto& [address, queue] : pending_) {
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (it->seqnum != u.unlink_seqnum) continue;
      queue.erase(it);
      // Still pending: -ECONNRESET, and no RET_SUBMIT may follow for it.
      sink_(usbip::encode_ret_unlink(u.seqnum, usbip::kStatusUnlinked));
      return;
    }
  }
  // Already completed (or never seen): status 0, the unlink's own seqnum.
  sink_(usbip::encode_ret_unlink(u.seqnum, usbip::kStatusOk));
}

void UsbipSession::complete_pending(std::uint8_t endpoint) {
  auto it = pending_.find(endpoint);
  if (it == pending_.end() || entry_ == nullptr) return;
  emulator::UsbDevice& device = *entry_->device;
  while (!it->second.empty() && device.has_data(endpoint)) {
    Pending p = it->second.front();
    it->second.pop_front();
    Bytes data = device.read(endpoint, p.length);
    sink_(usbip::encode_ret_submit(p.seqnum, usbip::kStatusOk, static_cast<std::uint32_t>(data.size()), data));
  }
}

void UsbipSession::data_ready(std::uint8_t endpoint) {
  if (!closed_) complete_pending(endpoint);
}

void UsbipSession::device_gone() {
  // USB/IP cannot re-plug: the host sees the connection close as a disconnect and attaches
  // again (transports.md section 2).
  event(fmt::format("bus id {} left the bus: closing the connection (the client attaches again)", entry_->busid));
  close("the module left the bus");
}

void UsbipSession::taken_over() {
  event(fmt::format("bus id {} imported by a new connection: closing the earlier one", entry_->busid));
  entry_->holder = nullptr;
  entry_ = nullptr;
  close("taken over by a new import");
}

// --- the TCP server ---

namespace {
constexpr std::size_t kReadBuffer = 64 * 1024;
}

struct UsbipServer::Impl {
  struct Connection {
    tcp::socket socket;
    std::string peer;
    std::unique_ptr<UsbipSession> session;
    std::array<std::uint8_t, kReadBuffer> buffer{};
    std::deque<Bytes> writes;
    bool writing = false;
    bool closing = false;  // close once the writes are out
  };

  asio::io_context& io;
  UsbipExports exports;
  tcp::acceptor acceptor;
  std::list<std::shared_ptr<Connection>> connections;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(asio::io_context& context, std::vector<emulator::UsbDevice*> devices)
      : io(context), exports(std::move(devices)), acceptor(context) {}

  emulator::Modem& first_modem() { return exports.entries().front().device->modem(); }

  void accept() {
    std::weak_ptr<bool> guard = alive;
    acceptor.async_accept([this, guard](const boost::system::error_code& ec, tcp::socket s) {
      auto g = guard.lock();
      if (!g || !*g || ec == asio::error::operation_aborted) return;
      if (!ec) start(std::move(s));
      accept();
    });
  }

  void start(tcp::socket s) {
    auto c = std::make_shared<Connection>(Connection{std::move(s), {}, nullptr, {}, {}, false, false});
    boost::system::error_code ec;
    auto from = c->socket.remote_endpoint(ec);
    c->peer = ec ? std::string("?") : fmt::format("{}:{}", from.address().to_string(), from.port());
    c->socket.set_option(tcp::no_delay(true), ec);  // AT round trips are single small URBs
    std::weak_ptr<Connection> weak = c;
    c->session = std::make_unique<UsbipSession>(
        exports, [this, weak](Bytes bytes) { if (auto conn = weak.lock()) send(conn, std::move(bytes)); },
        [this, weak](const std::string& why) { if (auto conn = weak.lock()) finish(conn, why); });
    connections.push_back(c);
    read(c);
  }

  void read(const std::shared_ptr<Connection>& c) {
    std::weak_ptr<bool> guard = alive;
    c->socket.async_read_some(asio::buffer(c->buffer), [this, guard, c](const boost::system::error_code& ec, std::size_t n) {
      auto g = guard.lock();
      if (!g || !*g || !c->socket.is_open()) return;
      if (ec) {
        drop(c, ec == asio::error::eof ? "the client closed the connection" : ec.message());
        return;
      }
      c->session->receive(ByteView(c->buffer.data(), n));
      if (!c->closing && c->socket.is_open()) read(c);
    });
  }

  void send(const std::shared_ptr<Connection>& c, Bytes bytes) {
    if (!c->socket.is_open()) return;
    c->writes.push_back(std::move(bytes));
    pump(c);
  }

  void pump(const std::shared_ptr<Connection>& c) {
    if (c->writing) return;
    if (c->writes.empty()) {
      if (c->closing) drop(c, {});
      return;
    }
    c->writing = true;
    std::weak_ptr<bool> guard = alive;
    asio::async_write(c->socket, asio::buffer(c->writes.front()), [this, guard, c](const boost::system::error_code& ec, std::size_t) {
      auto g = guard.lock();
      if (!g || !*g || !c->socket.is_open()) return;
      c->writing = false;
      if (ec) {
        drop(c, ec.message());
        return;
      }
      c->writes.pop_front();
      pump(c);
    });
  }

  // The session ended: write what it said, then close.
  void finish(const std::shared_ptr<Connection>& c, const std::string& why) {
    if (why != "device list sent") {
      first_modem().event("usb.usbip", fmt::format("closing the connection from {} ({})", c->peer, why));
    }
    c->closing = true;
    // Posted: the session may be in the middle of a call when it closes itself.
    std::weak_ptr<bool> guard = alive;
    asio::post(io, [this, guard, c] {
      auto g = guard.lock();
      if (g && *g) pump(c);
    });
  }

  void drop(const std::shared_ptr<Connection>& c, const std::string& why) {
    if (!c->socket.is_open()) return;
    boost::system::error_code ec;
    c->socket.shutdown(tcp::socket::shutdown_both, ec);
    c->socket.close(ec);
    if (!why.empty() && c->session->imported() != nullptr) {
      first_modem().event("usb.usbip", fmt::format("connection from {} gone ({})", c->peer, why));
    }
    // The session goes with the connection; a handler still queued holds the connection only.
    std::weak_ptr<bool> guard = alive;
    asio::post(io, [this, guard, c] {
      auto g = guard.lock();
      if (!g || !*g) return;
      c->session.reset();
      connections.remove(c);
    });
  }
};

UsbipServer::UsbipServer(asio::io_context& io, std::vector<emulator::UsbDevice*> devices, const std::string& listen) {
  if (devices.empty()) throw std::invalid_argument("usbip: no modem to export");
  std::string_view text = listen;
  if (text.rfind("tcp:", 0) == 0) text.remove_prefix(4);
  auto endpoint = parse_host_port(text);
  if (!endpoint) {
    throw std::invalid_argument(
        fmt::format("usbip: --listen \"{}\" is not HOST:PORT with a numeric address (e.g. 127.0.0.1:3240)", listen));
  }
  impl_ = std::make_unique<Impl>(io, std::move(devices));
  boost::system::error_code ec;
  impl_->acceptor.open(endpoint->protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(*endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("usbip: cannot listen on {}: {}", listen, ec.message()));
  auto bound = impl_->acceptor.local_endpoint(ec);
  address_ = ec ? std::string(text) : fmt::format("{}:{}", bound.address().to_string(), bound.port());
  impl_->accept();
}

UsbipServer::~UsbipServer() {
  *impl_->alive = false;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  for (auto& c : impl_->connections) {
    c->session.reset();
    c->socket.close(ec);
  }
  impl_->connections.clear();
}

const std::string& UsbipServer::busid(std::size_t index) const { return impl_->exports.entries().at(index).busid; }

}  // namespace modemu::gadget
